"""ProTeGi in `train.py --method protegi` and the Python API: its settings, presets, run and
closing lines."""

from __future__ import annotations

from typing import Any

from drpo.methods.protegi.settings import ProTeGiSettings
from drpo.methods.runner import task_report
from drpo.methods.spec import MethodSpec
from drpo.run_context import RunError


def check(settings: ProTeGiSettings) -> None:
    from drpo.methods.protegi.run import prepare

    if settings.search != "beam":
        raise RunError("ProTeGi keeps a beam of prompts (--search beam)")
    prepare(settings)


def run(settings: ProTeGiSettings) -> Any:
    from drpo.methods.protegi.run import run_protegi

    return run_protegi(settings)


METHOD = MethodSpec(
    name="protegi",
    title="ProTeGi (rounds: --depth; bandit: --selection and --bandit_*)",
    summary="ProTeGi, a task prompt by textual gradients and beam search with bandit "
    "selection (Pryzant et al., 2023)",
    settings=ProTeGiSettings,
    check=check,
    run=run,
    report=task_report("ProTeGi"),
    roles=("base", "optimize"),
    task_prompt=True,
)
