"""What a method declares: its name, its settings dataclass, its presets, its run and the
closing lines of a run, and the module that teaches the simulated LLM its part.

`drpo.methods.registry` lists one `MethodSpec` per method; the command line (`drpo.cli`),
the Python API (`drpo.methods.registry.settings_for`) and the simulated LLM are built from
that list alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from drpo.methods.declare import parse_bool

__all__ = ["MethodSpec", "Preset", "parse_bool"]


def _nothing(settings: Any) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class Preset:
    """Named settings of a method (`--preset NAME`, `preset="NAME"`): each value with where
    it comes from (`sources`: setting -> a paper's section or table, or a reference file)."""

    description: str
    values: Mapping[str, Any]
    sources: Mapping[str, str]

    def __post_init__(self) -> None:
        missing = sorted(set(self.values) - set(self.sources))
        if missing:
            raise TypeError(f"preset values without a source: {', '.join(missing)}")


@dataclass(frozen=True, kw_only=True)
class MethodSpec:
    """A method of `train.py --method NAME` and of the Python API.

    `settings`: its frozen settings dataclass (drpo.methods.declare); `title` heads the group
    of its own flags in `--help`; `summary` describes it in the help of `--method`.
    `check(settings)` raises (RunError, ValueError) on bad settings before anything is
    written; `run(settings)` runs it in `settings.log_dir` (made and holding args.txt by
    then) and returns its summary; `report(summary)` prints the run's closing lines.
    `roles`: the LLM roles it uses. `task_prompt`: it optimises a task prompt on a task's
    splits (a `TaskPromptWorld`), so it takes a search budget (`--budget_calls`, ...) and
    `python -m bench.arena` compares it. `sim`: the module whose `BEHAVIOURS` teach the
    simulated LLM the method's part (None: it needs none)."""

    name: str
    title: str
    summary: str
    settings: type
    run: Callable[[Any], Any]
    report: Callable[[Any], None]
    check: Callable[[Any], None] = _nothing
    roles: tuple[str, ...] = ()
    presets: Mapping[str, Preset] = field(default_factory=dict)
    task_prompt: bool = False
    sim: str | None = None
