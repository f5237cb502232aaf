"""APE in `train.py --method ape`: its settings and its runner."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from drpo.methods.runner import fail, run_task_method
from drpo.methods.spec import MethodSpec, Option


def run(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.ape.run import ApeSettings, prepare, run_ape

    if args.search != "beam":
        return fail("APE keeps the top --beam_size instructions of each round (--search beam)")

    def settings(shared: dict[str, Any]) -> ApeSettings:
        return ApeSettings(
            **shared,
            rounds=args.depth,
            beam_size=args.beam_size,
            demo_sets=args.demo_sets,
            n_demos=args.n_demos,
            proposals_per_set=args.proposals_per_set,
            n_variations=args.n_variations,
            score_size=args.score_size,
            temperature=args.temperature,
        )

    return run_task_method(args, log_dir, title="APE", settings=settings, prepare=prepare,
                           execute=run_ape)  # fmt: skip


METHOD = MethodSpec(
    task_prompt=True,
    name="ape",
    title="APE (rounds: --depth, the first of them forward generation; kept: --beam_size)",
    summary="APE, instructions induced from demonstrations, kept by score and resampled "
    "(Zhou et al., 2023)",
    run=run,
    defaults={
        "search": "beam",
        "depth": 3,
        "temperature": 0.9,
        "beam_size": 3,
        "test_size": 60,
    },
    options=(
        Option("demo_sets", default=3, type=int,
               help="demonstration sets shown for forward generation (paper's code: 3-5)"),
        Option("n_demos", default=5, type=int, help="input/output pairs in a set (paper: 5)"),
        Option("proposals_per_set", default=4, type=int,
               help="instructions sampled per set (paper's code: 30-50; sized down)"),
        Option("n_variations", default=4, type=int,
               help="variations sampled per kept instruction in each resampling round"),
        Option("score_size", default=20, type=int,
               help="training examples a round scores each candidate on (paper's code: 20-50)"),
    ),
)  # fmt: skip
