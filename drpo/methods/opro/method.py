"""OPRO in `train.py --method opro` and the Python API: its settings, presets, run and
closing lines."""

from __future__ import annotations

from typing import Any

from drpo.methods.opro.settings import OPROSettings
from drpo.methods.runner import task_report
from drpo.methods.spec import MethodSpec
from drpo.run_context import RunError


def check(settings: OPROSettings) -> None:
    from drpo.methods.opro.run import prepare

    if settings.search != "greedy":
        raise RunError("OPRO runs one chain of optimisation steps (--search greedy)")
    prepare(settings)


def run(settings: OPROSettings) -> Any:
    from drpo.methods.opro.run import run_opro

    return run_opro(settings)


def _training(summary: Any) -> list[str]:
    return [f"training accuracy: initial instruction {summary.initial_train:.3f}, "
            f"final {summary.final_train:.3f}"]  # fmt: skip


METHOD = MethodSpec(
    name="opro",
    title="OPRO (steps: --depth; the paper ran up to 200)",
    summary="OPRO, a task instruction from a meta-prompt of scored instructions "
    "(Yang et al., ICLR 2024)",
    settings=OPROSettings,
    check=check,
    run=run,
    report=task_report("OPRO", noun="instruction", lines=_training),
    roles=("base", "optimize"),
    task_prompt=True,
)
