"""ProTeGi in `train.py --method protegi` and the Python API: its settings, presets, run and
closing lines."""

from __future__ import annotations

from typing import Any

from drpo.methods.protegi.settings import ProTeGiSettings
from drpo.methods.runner import task_report
from drpo.methods.spec import MethodSpec, Preset
from drpo.run_context import RunError


def check(settings: ProTeGiSettings) -> None:
    """Bad settings: RunError or ValueError, before anything is written."""
    from drpo.methods.protegi.run import prepare

    if settings.search != "beam":
        raise RunError("ProTeGi keeps a beam of prompts (--search beam)")
    prepare(settings)


def run(settings: ProTeGiSettings) -> Any:
    """The run (in settings.log_dir, made by then); its summary."""
    from drpo.methods.protegi.run import run_protegi

    return run_protegi(settings)


PAPER = Preset(
    description="ProTeGi's paper (Pryzant et al., EMNLP 2023) and its reference code "
    "(microsoft/LMOps, prompt_optimization/)",
    values={"depth": 6, "beam_size": 4, "minibatch_size": 64, "n_gradients": 4,
            "errors_per_gradient": 4, "gradients_per_error": 1, "steps_per_gradient": 1,
            "mc_samples_per_step": 2, "max_expansion_factor": 8, "selection": "ucb",
            "ucb_c": 1.0, "bandit_rounds": 8, "bandit_arms": 8, "bandit_samples": 32},
    sources={
        "depth": "reference code prompt_optimization/main.py: --rounds 6",
        "beam_size": "reference code main.py: --beam_size 4",
        "minibatch_size": "reference code main.py: --minibatch_size 64",
        "n_gradients": "reference code main.py: --n_gradients 4",
        "errors_per_gradient": "reference code main.py: --errors_per_gradient 4",
        "gradients_per_error": "reference code main.py: --gradients_per_error 1",
        "steps_per_gradient": "reference code main.py: --steps_per_gradient 1",
        "mc_samples_per_step": "reference code main.py: --mc_samples_per_step 2",
        "max_expansion_factor": "reference code main.py: --max_expansion_factor 8",
        "selection": "paper §3.2: UCB selection (the code's default evaluator is brute force)",
        "ucb_c": "reference code main.py: --c 1.0",
        "bandit_rounds": "reference code main.py: --eval_rounds 8",
        "bandit_arms": "reference code main.py: --eval_prompts_per_round 8",
        "bandit_samples": "reference code main.py: --samples_per_eval 32",
    },
)  # fmt: skip

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
    presets={"paper": PAPER},
    task_prompt=True,
    sim="drpo.methods.protegi.sim",
)
