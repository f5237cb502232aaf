"""OPRO in `train.py --method opro`: its settings and its runner."""

from __future__ import annotations

import argparse
from pathlib import Path

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
from drpo.methods.spec import MethodSpec, Option


def run(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.opro.run import OPROSettings, prepare, run_opro

    if args.search != "greedy":
        return fail("OPRO runs one chain of optimisation steps (--search greedy)")
    try:
        roles = role_settings(args)
        settings = OPROSettings(
            roles={"base": roles["base"], "optimize": roles["optimize"]},
            **task_args(args),
            steps=args.depth,
            instructions_per_step=args.instructions_per_step,
            exemplars_per_step=args.exemplars_per_step,
            max_history=args.max_history,
            history_threshold=args.history_threshold,
            score_size=args.score_size,
            temperature=args.temperature,
            log_dir=log_dir,
            **common_settings(args),
        )
        prepare(settings)
        log_dir = start(args, log_dir)
        summary = run_opro(settings)
    except (Exception, KeyboardInterrupt) as exc:  # one line and an exit code; bugs re-raised
        return failure(exc)
    where, resumed = provenance(summary)
    print(f"OPRO on task {summary.task} ran on {where}{resumed}")
    print(f"training accuracy: initial instruction {summary.initial_train:.3f}, "
          f"final {summary.final_train:.3f}")  # fmt: skip
    print(f"eval accuracy: initial instruction {summary.initial_eval:.3f}, "
          f"final {summary.final_eval:.3f}")  # fmt: skip
    print(f"test accuracy: initial instruction {summary.initial_test:.3f}, "
          f"final {summary.final_test:.3f}; difference {summary.test_difference}")  # fmt: skip
    print_ending(summary, "final instruction", "best_prompt.txt", summary.final_prompt)
    return 0


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
