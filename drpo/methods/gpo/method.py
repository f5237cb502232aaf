"""GPO in `train.py --method gpo` and the Python API: its settings, presets, run and closing
lines."""

from __future__ import annotations

from typing import Any

from drpo.methods.gpo.settings import GPOSettings
from drpo.methods.runner import task_report
from drpo.methods.spec import MethodSpec, Preset
from drpo.run_context import RunError


def check(settings: GPOSettings) -> None:
    """Bad settings: RunError or ValueError, before anything is written."""
    from drpo.methods.gpo.run import prepare

    if settings.search != "greedy":
        raise RunError("GPO moves greedily to the best candidate of each step (--search greedy)")
    prepare(settings)


def run(settings: GPOSettings) -> Any:
    """The run (in settings.log_dir, made by then); its summary."""
    from drpo.methods.gpo.run import run_gpo

    return run_gpo(settings)


PAPER = Preset(
    description="GPO's paper (Tang et al., 2024), its best configuration as this project "
    "reads it",
    values={"update": "edit", "schedule": "cosine", "retrieval": "relevance",
            "initial_budget": 50, "final_budget": 10, "n_candidates": 8, "k": 3},
    sources={
        "update": "paper: edit-based update, its best variant",
        "schedule": "paper: cosine decay of the edit budget, its best variant",
        "retrieval": "paper: relevance-based retrieval of trajectory prompts",
        "initial_budget": "this project's reading of the paper's edit budget (words)",
        "final_budget": "this project's reading of the paper's edit budget (words)",
        "n_candidates": "this project's reading of the paper (candidates a step)",
        "k": "this project's reading of the paper (prompts retrieved)",
    },
)  # fmt: skip

METHOD = MethodSpec(
    name="gpo",
    title="GPO (steps: --depth; --k: prompts retrieved)",
    summary="GPO, a task prompt by greedy steps within a decaying edit budget (Tang et al., 2024)",
    settings=GPOSettings,
    check=check,
    run=run,
    report=task_report("GPO"),
    roles=("base", "optimize"),
    presets={"paper": PAPER},
    task_prompt=True,
    sim="drpo.methods.gpo.sim",
)
