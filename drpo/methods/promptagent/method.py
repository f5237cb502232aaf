"""PromptAgent in `train.py --method promptagent`: its settings and its runner."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from drpo.methods.bandit_scoring import selection_options
from drpo.methods.runner import run_task_method
from drpo.methods.spec import MethodSpec, Option


def run(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.bandit_scoring import selection_args
    from drpo.methods.promptagent.run import PromptAgentSettings, algorithm, run_promptagent

    def settings(shared: dict[str, Any]) -> PromptAgentSettings:
        return PromptAgentSettings(
            **shared,
            batch_size=args.batch_size,
            expand_width=args.expand_width,
            num_new_prompts=args.num_new_prompts,
            temperature=args.temperature,
            search=args.search,
            n_iters=args.n_iters,
            depth=args.depth,
            min_depth=args.min_depth,
            w_exp=args.w_exp,
            beam_size=args.beam_size,
            **selection_args(args),
        )

    def prepare(made: PromptAgentSettings) -> None:
        algorithm(made)
        made.load_task()

    return run_task_method(args, log_dir, title="PromptAgent", settings=settings,
                           prepare=prepare, execute=run_promptagent)  # fmt: skip


METHOD = MethodSpec(
    name="promptagent",
    title="PromptAgent",
    summary="PromptAgent, a task prompt by MCTS on error feedback (Wang et al., 2024)",
    run=run,
    task_prompt=True,
    defaults={
        "search": "mcts",
        "depth": 5,
        "n_iters": 12,
        "w_exp": 2.5,
        "temperature": 0.7,
        "beam_size": 3,
        "test_size": 60,
    },
    options=(
        *selection_options(selection="full", rounds=4, arms=2),
        Option("batch_size", default=5, type=int),
        Option("expand_width", default=3, type=int),
        Option("num_new_prompts", default=1, type=int),
        Option("min_depth", default=2, type=int),
    ),
)
