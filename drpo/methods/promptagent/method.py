"""PromptAgent in `train.py --method promptagent`: its settings and its runner."""

from __future__ import annotations

import argparse
from pathlib import Path

from drpo.methods.bandit_scoring import selection_options
from drpo.methods.runner import (
    common_settings,
    failure,
    print_ending,
    provenance,
    role_settings,
    start,
    task_args,
)
from drpo.methods.spec import MethodSpec, Option


def run(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.bandit_scoring import selection_args
    from drpo.methods.promptagent.run import PromptAgentSettings, algorithm, run_promptagent

    try:
        roles = role_settings(args)
        settings = PromptAgentSettings(
            roles={"base": roles["base"], "optimize": roles["optimize"]},
            **task_args(args),
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
            log_dir=log_dir,
            **common_settings(args),
        )
        algorithm(settings)
        settings.load_task()
        log_dir = start(args, log_dir)
        summary = run_promptagent(settings)
    except (Exception, KeyboardInterrupt) as exc:  # one line and an exit code; bugs re-raised
        return failure(exc)
    where, resumed = provenance(summary)
    print(f"PromptAgent on task {summary.task} ran on {where}{resumed}")
    print(
        f"eval accuracy: initial prompt {summary.initial_eval:.3f}, final {summary.final_eval:.3f}"
    )
    print(
        f"test accuracy: initial prompt {summary.initial_test:.3f}, final {summary.final_test:.3f}"
        f"; difference {summary.test_difference}"
    )
    print_ending(summary, "final prompt", "best_prompt.txt", summary.final_prompt)
    return 0


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
