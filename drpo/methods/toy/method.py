"""The toy method in `train.py --method toy`: its settings and its runner."""

from __future__ import annotations

import argparse
from pathlib import Path

from drpo.methods.runner import fail, start
from drpo.methods.spec import MethodSpec, Option
from drpo.run_dir import RunDirError


def run(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.toy_run import make_algorithm, run_toy

    try:
        algorithm = make_algorithm(
            args.search,
            depth=args.depth,
            beam_size=args.beam_size,
            n_iters=args.n_iters,
            w_exp=args.w_exp,
            seed=args.seed,
        )
        if args.noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {args.noise_std}")
        log_dir = start(args, log_dir)
        summary = run_toy(
            algorithm,
            search=args.search,
            log_dir=log_dir,
            depth=args.depth,
            noise_std=args.noise_std,
            seed=args.seed,
        )
    except (ValueError, RunDirError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot write the run's files: {exc}")
    print(f"toy prompt-building world (no LLM), {summary.search} search, {summary.n_nodes} nodes")
    print(f"best prompt: {' '.join(summary.prompt)}")
    print(f"value {summary.value:.4g} (noise-free optimum {summary.optimum:.4g})")
    print(f"stop_reason: {summary.stop_reason} ({summary.expansions} expansions, "
          f"{summary.evaluated} evaluated prompts)")  # fmt: skip
    print(f"artefacts: {summary.paths.json.parent}")
    return 0


METHOD = MethodSpec(
    name="toy",
    title="toy method",
    summary="a search on the toy prompt-building world, no LLM",
    run=run,
    defaults={
        "search": "beam",
        "depth": 3,
        "n_iters": 20,
        "w_exp": 1.0,
        "temperature": 0.0,
        "beam_size": 2,
        "k": 2,
        "test_size": 60,
    },
    options=(Option("noise_std", default=0.0, type=float, help="toy reward noise"),),
)
