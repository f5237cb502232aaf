"""ProTeGi in `train.py --method protegi`: its settings and its runner.

The paper's settings (Pryzant et al., 2023, and its reference code) where they cost little:
beam 4, 4 gradients of 4 errors each, 1 reason per group, 1 edit per reason, 2 paraphrases
per edit, at most 8 successors per parent, UCB with c = 1, 8 bandit rounds of 8 prompts.
Sized down: 3 rounds (--depth; paper 6), minibatches of 32 training examples (paper 64) and
bandit pulls of 5 eval examples (paper 32, on an eval split of 30 here).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from drpo.methods.bandit_scoring import selection_options
from drpo.methods.runner import fail, run_task_method
from drpo.methods.spec import MethodSpec, Option


def run(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.bandit_scoring import selection_args
    from drpo.methods.protegi.run import ProTeGiSettings, prepare, run_protegi

    if args.search != "beam":
        return fail("ProTeGi keeps a beam of prompts (--search beam)")

    def settings(shared: dict[str, Any]) -> ProTeGiSettings:
        return ProTeGiSettings(
            **shared,
            rounds=args.depth,
            beam_size=args.beam_size,
            minibatch_size=args.minibatch_size,
            n_gradients=args.n_gradients,
            errors_per_gradient=args.errors_per_gradient,
            gradients_per_error=args.gradients_per_error,
            steps_per_gradient=args.steps_per_gradient,
            mc_samples_per_step=args.mc_samples_per_step,
            max_expansion_factor=args.max_expansion_factor,
            **selection_args(args),
            temperature=args.temperature,
        )

    return run_task_method(args, log_dir, title="ProTeGi", settings=settings, prepare=prepare,
                           execute=run_protegi)  # fmt: skip


METHOD = MethodSpec(
    task_prompt=True,
    name="protegi",
    title="ProTeGi (rounds: --depth; bandit: --selection and --bandit_*)",
    summary="ProTeGi, a task prompt by textual gradients and beam search with bandit "
    "selection (Pryzant et al., 2023)",
    run=run,
    defaults={
        "search": "beam",
        "depth": 3,
        "n_iters": 0,
        "w_exp": 0.0,
        "temperature": 0.7,
        "beam_size": 4,
        "test_size": 60,
    },
    options=(
        *selection_options(selection="ucb", rounds=8, arms=8),
        Option("minibatch_size", default=32, type=int,
               help="training examples each round's prompts run on (paper: 64)"),
        Option("n_gradients", default=4, type=int, help="error groups per prompt"),
        Option("errors_per_gradient", default=4, type=int),
        Option("gradients_per_error", default=1, type=int, help="reasons per error group"),
        Option("steps_per_gradient", default=1, type=int, help="edits per reason"),
        Option("mc_samples_per_step", default=2, type=int, help="paraphrases per edit"),
        Option("max_expansion_factor", default=8, type=int, help="successors per prompt"),
    ),
)  # fmt: skip
