"""DRPO in `train.py` (the default method) and the Python API: its settings, presets, run and
closing lines."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from drpo.methods.drpo.settings import DRPOSettings
from drpo.methods.runner import print_ending, provenance
from drpo.methods.spec import MethodSpec, Preset
from drpo.run_context import RunError


def _initial_prompt(text: str) -> str:
    path = Path(text)
    if len(text) < 4096 and "\n" not in text and path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the initial system prompt from {path}: {exc}") from None
    return text


def _read(settings: DRPOSettings) -> DRPOSettings:
    """The settings with the initial system prompt read from its file, if it names one."""
    return replace(settings, initial_system_prompt=_initial_prompt(settings.initial_system_prompt))


def check(settings: DRPOSettings) -> None:
    """Bad settings: RunError or ValueError, before anything is written."""
    from drpo.methods.drpo.run import validate

    if settings.search == "greedy":
        raise RunError("DRPO searches with beam or mcts (greedy is beam search with --beam_size 1)")
    validate(_read(settings))


def run(settings: DRPOSettings) -> Any:
    """The run (in settings.log_dir, made by then); its summary."""
    from drpo.methods.drpo.run import run_drpo

    return run_drpo(_read(settings))


def report(summary: Any) -> None:
    """The run\'s closing lines on stdout."""
    where, resumed = provenance(summary)
    print(f"DRPO ran on {where}{resumed}: {summary.steps} steps on the best path: "
          f"{summary.handled} already handled, {summary.improved} better than the initial "
          f"prompt on their query, {summary.errored} not evaluated "
          f"({summary.depth_increase} extra level(s) for queries already handled)")  # fmt: skip
    print(f"base model prompt format: {summary.base_prompt_format}")
    print(summary.verdict)
    if summary.held_out:
        print(summary.held_out)
    unchanged = summary.best_prompt.strip() == summary.initial_prompt.strip()
    print_ending(summary, "the search's final system prompt", "best_system_prompt.txt",
                 summary.best_prompt,
                 unchanged="the best path's queries" if unchanged else None)  # fmt: skip
    print(f"aligned model: {summary.log_dir / 'aligned_model.json'} (use it: python -m "
          f"drpo.methods.drpo answer --run {summary.log_dir} --query \"...\")")  # fmt: skip


#: Where the DRPO preset's values come from.
_ORIGINAL = "the original code's train.py default, kept by this port (not re-verified)"

PAPER = Preset(
    description="DRPO's paper (Singla et al., EMNLP 2024) and its released code: the "
    "defaults of this port",
    values={"search": "beam", "beam_size": 2, "n_actions": 3, "depth": 20,
            "max_depth_increase": 10, "k": 2, "num_training_examples": 180},
    sources={
        "search": "paper: beam search over system prompts",
        "beam_size": f"{_ORIGINAL}: beam_size 2",
        "n_actions": f"{_ORIGINAL}: 3 actions a state",
        "depth": f"{_ORIGINAL}: depth 20",
        "max_depth_increase": f"{_ORIGINAL}: +10 levels for queries already handled",
        "k": f"{_ORIGINAL}: 2 in-context examples",
        "num_training_examples": f"{_ORIGINAL}: 180 training queries",
    },
)  # fmt: skip

METHOD = MethodSpec(
    name="drpo",
    title="DRPO (--k: in-context examples; --test_size: held-out queries)",
    summary="DRPO, the system prompt by beam search on dynamic rewards (Singla et al., 2024)",
    settings=DRPOSettings,
    check=check,
    run=run,
    report=report,
    roles=("base", "metrics", "eval", "optimize"),
    presets={"paper": PAPER},
    sim="drpo.methods.drpo.sim",
)
