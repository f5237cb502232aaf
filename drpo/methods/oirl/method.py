"""Prompt-OIRL in `train.py --method oirl` and the Python API: its settings, run and closing
lines."""

from __future__ import annotations

from typing import Any

from drpo.methods.oirl.settings import OIRLSettings
from drpo.methods.runner import stop_line
from drpo.methods.spec import MethodSpec, Preset
from drpo.run_context import RunError


def check(settings: OIRLSettings) -> None:
    """Bad settings: RunError or ValueError, before anything is written."""
    from drpo.methods.oirl.run import check as check_settings
    from drpo.methods.oirl.run import load_data

    if settings.search != "best_of_n":
        raise RunError("Prompt-OIRL picks a prompt per query by best-of-N (give no --search)")
    check_settings(settings)
    load_data(settings)


def run(settings: OIRLSettings) -> Any:
    """The run (in settings.log_dir, made by then); its summary."""
    from drpo.methods.oirl.run import run_oirl

    return run_oirl(settings)


def report(summary: Any) -> None:
    """The run\'s closing lines on stdout."""
    leak = " (LEAKY: every test question also occurs in train)" if summary.split == "paper" else ""
    print(f"Prompt-OIRL on {summary.dataset}, split {summary.split}{leak}: offline, no LLM "
          f"call; reward model {summary.primary}, chosen on a validation split")  # fmt: skip
    print(summary.table)
    print(f"results: {summary.log_dir / 'results.json'}")
    line = stop_line(summary.log_dir)
    if line:
        print(line)
    print(f"artefacts: {summary.log_dir}")


PAPER = Preset(
    description="Prompt-OIRL's paper (Sun et al., ICLR 2024): its released split",
    values={"split": "paper"},
    sources={"split": "the released logs' own split (LEAKY on SVAMP: every test question "
                      "also occurs in train)"},
)  # fmt: skip

METHOD = MethodSpec(
    name="oirl",
    title="Prompt-OIRL (offline: no LLM call; best-of-N per query)",
    summary="Prompt-OIRL, a prompt per query by best-of-N on a reward model learned from "
    "offline logs (Sun et al., 2024)",
    settings=OIRLSettings,
    check=check,
    run=run,
    report=report,
    presets={"paper": PAPER},
)
