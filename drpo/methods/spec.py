"""What a method declares for `train.py`: its name, its settings and its runner.

`drpo.methods.registry.METHODS` lists one `MethodSpec` per method; the command line
(`drpo.cli`) is built from that list alone.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

#: A method's runner: the parsed arguments (the method's defaults already filled in) and the
#: log dir the run is to use (not made yet: the runner checks its settings first, then calls
#: `drpo.methods.runner.start`); it returns the exit code.
Runner = Callable[[argparse.Namespace, Path], int]


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


@dataclass(frozen=True)
class Option:
    """One flag, `--name`. With `type=parse_bool` it is a switch: `--name`, `--name=true`
    and `--name false` all work (as with the original's fire)."""

    name: str
    _: KW_ONLY
    default: Any = None
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    help: str | None = None


@dataclass(frozen=True, kw_only=True)
class MethodSpec:
    """A method of `train.py --method NAME`.

    `title` heads the group of its own `options` in `--help`; `summary` describes it in the
    help of `--method`; `defaults` are its values for the shared settings whose default
    depends on the method (`--search`, `--depth`, ...: those it leaves out stay None).
    `task_prompt`: it optimises a task prompt on a task's splits (a `TaskPromptWorld`), so it
    takes a search budget (`--budget_calls`, ...) and `python -m bench.arena` compares it."""

    name: str
    title: str
    summary: str
    run: Runner
    defaults: Mapping[str, Any] = field(default_factory=dict)
    options: tuple[Option, ...] = ()
    task_prompt: bool = False
