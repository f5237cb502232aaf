"""`python train.py`: the command line of every method.

Bad input ends with one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from drpo.run_dir import RunDirError, prepare_log_dir, write_args
from drpo.toy_run import SEARCHES, make_algorithm, run_toy

METHODS = ("toy",)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="train.py",
        description="Prompt optimisation as search. Until the LLM methods land, the one method "
        "is 'toy': a search on the toy prompt-building world, which needs no LLM.",
    )
    parser.add_argument("--method", choices=METHODS, default="toy")
    parser.add_argument("--search", choices=SEARCHES, default="beam")
    parser.add_argument("--depth", type=int, default=3, help="search depth (levels)")
    parser.add_argument("--beam_size", type=int, default=2)
    parser.add_argument("--n_iters", type=int, default=20, help="MCTS iterations")
    parser.add_argument("--w_exp", type=float, default=1.0, help="MCTS exploration weight")
    parser.add_argument("--noise_std", type=float, default=0.0, help="toy reward noise")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log_dir", default=None, help="default: logs/<method>-<search>-<time>")
    return parser


def _fail(message: str) -> int:
    print(f"train.py: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = Path(args.log_dir or f"logs/{args.method}-{args.search}-{stamp}")
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
        log_dir = prepare_log_dir(log_dir)
        write_args(log_dir, vars(args) | {"log_dir": str(log_dir)})
        summary = run_toy(
            algorithm,
            search=args.search,
            log_dir=log_dir,
            depth=args.depth,
            noise_std=args.noise_std,
            seed=args.seed,
        )
    except (ValueError, RunDirError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write the run's files: {exc}")
    print(f"toy prompt-building world (no LLM), {summary.search} search, {summary.n_nodes} nodes")
    print(f"best prompt: {' '.join(summary.prompt)}")
    print(f"value {summary.value:.4g} (noise-free optimum {summary.optimum:.4g})")
    print(f"artefacts: {summary.paths.json.parent}")
    return 0
