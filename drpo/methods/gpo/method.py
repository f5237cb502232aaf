"""GPO in `train.py --method gpo` and the Python API: its settings, presets, run and closing
lines."""

from __future__ import annotations

from typing import Any

from drpo.methods.gpo.settings import GPOSettings
from drpo.methods.runner import task_report
from drpo.methods.spec import MethodSpec
from drpo.run_context import RunError


def check(settings: GPOSettings) -> None:
    from drpo.methods.gpo.run import prepare

    if settings.search != "greedy":
        raise RunError("GPO moves greedily to the best candidate of each step (--search greedy)")
    prepare(settings)


def run(settings: GPOSettings) -> Any:
    from drpo.methods.gpo.run import run_gpo

    return run_gpo(settings)


METHOD = MethodSpec(
    name="gpo",
    title="GPO (steps: --depth; --k: prompts retrieved)",
    summary="GPO, a task prompt by greedy steps within a decaying edit budget (Tang et al., 2024)",
    settings=GPOSettings,
    check=check,
    run=run,
    report=task_report("GPO"),
    roles=("base", "optimize"),
    task_prompt=True,
)
