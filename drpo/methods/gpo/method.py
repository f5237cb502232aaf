"""GPO in `train.py --method gpo`: its settings and its runner."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from drpo.methods.bandit_scoring import selection_options
from drpo.methods.runner import fail, run_task_method
from drpo.methods.spec import MethodSpec, Option, parse_bool


def run(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.bandit_scoring import selection_args
    from drpo.methods.gpo.run import GPOSettings, prepare, run_gpo

    if args.search != "greedy":
        return fail("GPO moves greedily to the best candidate of each step (--search greedy)")

    def settings(shared: dict[str, Any]) -> GPOSettings:
        return GPOSettings(
            **shared,
            steps=args.depth,
            n_candidates=args.n_candidates,
            retrieval=args.retrieval,
            k=args.k,
            update=args.update,
            schedule=args.schedule,
            initial_budget=args.initial_budget,
            final_budget=args.final_budget,
            warmup=args.warmup,
            feedback=args.feedback,
            n_examples=args.n_examples,
            temperature=args.temperature,
            **selection_args(args),
        )

    return run_task_method(args, log_dir, title="GPO", settings=settings, prepare=prepare,
                           execute=run_gpo)  # fmt: skip


METHOD = MethodSpec(
    name="gpo",
    title="GPO (steps: --depth; --k: prompts retrieved)",
    summary="GPO, a task prompt by greedy steps within a decaying edit budget (Tang et al., 2024)",
    run=run,
    task_prompt=True,
    defaults={
        "search": "greedy",
        "depth": 12,
        "n_iters": 0,
        "w_exp": 0.0,
        "temperature": 1.0,
        "beam_size": 1,
        "k": 3,
        "test_size": 60,
    },
    options=(
        *selection_options(selection="full", rounds=8, arms=4),
        Option("n_candidates", default=8, type=int),
        Option("retrieval", default="relevance", choices=("recency", "importance", "relevance")),
        Option("update", default="edit", choices=("generation", "edit")),
        Option("schedule", default="cosine", choices=("fixed", "linear", "cosine")),
        Option("initial_budget", default=50, type=int, help="words the first step may change"),
        Option("final_budget", default=10, type=int),
        Option("warmup", default=0, type=int, help="steps of linear warm-up"),
        Option(
            "feedback",
            default=False,
            type=parse_bool,
            help="show the optimiser the errors of a training batch",
        ),
        Option("n_examples", default=3, type=int, help="task examples shown"),
    ),
)
