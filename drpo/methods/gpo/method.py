"""GPO in `train.py --method gpo`: its settings and its runner."""

from __future__ import annotations

import argparse
from pathlib import Path

from drpo.methods.bandit_scoring import selection_options
from drpo.methods.runner import (
    common_settings,
    fail,
    failure,
    print_ending,
    provenance,
    role_settings,
    start,
    task_args,
)
from drpo.methods.spec import MethodSpec, Option, parse_bool


def run(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.bandit_scoring import selection_args
    from drpo.methods.gpo.run import GPOSettings, prepare, run_gpo

    if args.search != "greedy":
        return fail("GPO moves greedily to the best candidate of each step (--search greedy)")
    try:
        roles = role_settings(args)
        settings = GPOSettings(
            roles={"base": roles["base"], "optimize": roles["optimize"]},
            **task_args(args),
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
            log_dir=log_dir,
            **common_settings(args),
        )
        prepare(settings)
        log_dir = start(args, log_dir)
        summary = run_gpo(settings)
    except (Exception, KeyboardInterrupt) as exc:  # one line and an exit code; bugs re-raised
        return failure(exc)
    where, _ = provenance(summary)
    print(f"GPO on task {summary.task} ran on {where}")
    print(f"eval accuracy: initial prompt {summary.initial_eval:.3f}, best {summary.best_eval:.3f}")
    print(f"test accuracy: initial prompt {summary.initial_test:.3f}, best {summary.best_test:.3f}"
          f"; difference {summary.test_difference}")  # fmt: skip
    print_ending(summary, "best prompt", "best_prompt.txt", summary.best_prompt)
    return 0


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
