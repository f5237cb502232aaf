"""APE in `train.py --method ape` and the Python API: its settings, presets, run and closing
lines."""

from __future__ import annotations

from typing import Any

from drpo.methods.ape.settings import ApeSettings
from drpo.methods.runner import task_report
from drpo.methods.spec import MethodSpec
from drpo.run_context import RunError


def check(settings: ApeSettings) -> None:
    from drpo.methods.ape.run import prepare

    if settings.search != "beam":
        raise RunError("APE keeps the top --beam_size instructions of each round (--search beam)")
    prepare(settings)


def run(settings: ApeSettings) -> Any:
    from drpo.methods.ape.run import run_ape

    return run_ape(settings)


METHOD = MethodSpec(
    name="ape",
    title="APE (rounds: --depth, the first of them forward generation; kept: --beam_size)",
    summary="APE, instructions induced from demonstrations, kept by score and resampled "
    "(Zhou et al., 2023)",
    settings=ApeSettings,
    check=check,
    run=run,
    report=task_report("APE"),
    roles=("base", "optimize"),
    task_prompt=True,
)
