"""OPRO in `train.py --method opro`: its settings and its runner."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from drpo.methods.runner import fail, run_task_method
from drpo.methods.spec import MethodSpec, Option


def run(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.opro.run import OPROSettings, OPROSummary, prepare, run_opro

    if args.search != "greedy":
        return fail("OPRO runs one chain of optimisation steps (--search greedy)")

    def settings(shared: dict[str, Any]) -> OPROSettings:
        return OPROSettings(
            **shared,
            steps=args.depth,
            instructions_per_step=args.instructions_per_step,
            exemplars_per_step=args.exemplars_per_step,
            max_history=args.max_history,
            history_threshold=args.history_threshold,
            score_size=args.score_size,
            temperature=args.temperature,
        )

    def training(summary: OPROSummary) -> list[str]:
        return [f"training accuracy: initial instruction {summary.initial_train:.3f}, "
                f"final {summary.final_train:.3f}"]  # fmt: skip

    return run_task_method(args, log_dir, title="OPRO", settings=settings, prepare=prepare,
                           execute=run_opro, noun="instruction", lines=training)  # fmt: skip


METHOD = MethodSpec(
    task_prompt=True,
    name="opro",
    title="OPRO (steps: --depth; the paper ran up to 200)",
    summary="OPRO, a task instruction from a meta-prompt of scored instructions "
    "(Yang et al., ICLR 2024)",
    run=run,
    defaults={
        "search": "greedy",
        "depth": 8,
        "n_iters": 0,
        "w_exp": 0.0,
        "temperature": 1.0,
        "beam_size": 1,
        "test_size": 60,
    },
    options=(
        Option(
            "instructions_per_step",
            default=8,
            type=int,
            help="new instructions the optimiser writes each step",
        ),
        Option(
            "exemplars_per_step",
            default=3,
            type=int,
            help="training questions with answers in each meta-prompt, drawn anew each step",
        ),
        Option(
            "max_history",
            default=20,
            type=int,
            help="the most scored instructions a meta-prompt shows (the best ones)",
        ),
        Option(
            "history_threshold",
            default=0.0,
            type=float,
            help="instructions scoring below it are left out of the meta-prompt "
            "(the reference code: 0 with a PaLM scorer, 0.3 with GPT ones)",
        ),
        Option(
            "score_size",
            default=50,
            type=int,
            help="training examples each instruction is scored on (the paper: 20%% of a "
            "BBH task, about 50)",
        ),
    ),
)
