"""`python -m bench.arena`: every task-prompt method x task x seed under one search budget per
run, each a normal `python train.py` run with its own log_dir (local pool or Ray); then the
results table, the rankings, the pictures and the HTML report.

Bad input ends with one line and exit 2; a grid with failed runs writes everything it has,
names the failures and exits 1."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from bench.arena import collect, grid
from bench.arena.outputs import write_outputs
from bench.jobs import GridError, JobResult, run_jobs
from drpo.methods.registry import METHODS
from drpo.methods.tasks import DEMO_TASK, TaskError, load_task
from search.artifacts import write_atomic

DEFAULT_BUDGET_CALLS = 400
SETTINGS = "arena.json"  # the grid's shared settings, in its folder

#: train.py flags passed through to every run as they are: (flag, type).
PASSED: tuple[tuple[str, type], ...] = (
    ("model_path", str),
    ("models_dir", str),
    ("base_model_name", str),
    ("optimize_model_name", str),
    ("base_backend", str),
    ("optimize_backend", str),
    ("base_base_url", str),
    ("optimize_base_url", str),
    ("api_key_env", str),
    ("concurrency", int),
    ("timeout", float),
    ("threads", int),
    ("max_retries", int),
    ("prices", str),
    ("data_dir", str),
    ("train_size", int),
    ("eval_size", int),
    ("test_size", int),
    ("max_tokens", int),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def task_prompt_methods() -> list[str]:
    return [m.name for m in METHODS if m.task_prompt]


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m bench.arena",
        description="Compare the task-prompt methods on equal search budgets: a grid of "
        "methods x tasks x seeds, each a train.py run. Default: the demo task on the "
        "simulated LLM.",
    )
    p.add_argument(
        "--methods",
        nargs="+",
        default=None,
        help="default: every task-prompt method: " + ", ".join(task_prompt_methods()),
    )
    p.add_argument(
        "--tasks",
        nargs="+",
        default=[grid.DEMO],
        help="task files, or names in --data_dir ('demo', the default: the demo task)",
    )
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    b = p.add_argument_group(
        f"the search budget of every run (default: --budget_calls {DEFAULT_BUDGET_CALLS})"
    )
    b.add_argument("--budget_calls", type=int, default=None, help="LLM calls")
    b.add_argument("--budget_tokens", type=int, default=None, help="tokens")
    b.add_argument("--budget_usd", type=float, default=None, help="US dollars")
    p.add_argument("--out", default="logs/arena", help="the grid's folder (default: %(default)s)")
    j = p.add_argument_group("where the runs go")
    j.add_argument(
        "--workers",
        type=int,
        default=max(1, min(4, os.cpu_count() or 1)),
        help="runs at once in the local pool (default: %(default)s)",
    )
    j.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="each run a Ray task on this cluster ('auto': the local one)",
    )
    j.add_argument("--cpus", type=float, default=1.0, help="CPUs a run asks of Ray")
    j.add_argument("--run_timeout", type=float, default=None, help="seconds per run")
    j.add_argument("--job_retries", type=int, default=1, help="retries of a failed run")
    m = p.add_argument_group("models and data, passed to every train.py run")
    m.add_argument("--base_url", default=None, help="every role's server (OpenAI-compatible)")
    m.add_argument("--model_name", default=None, help="every role's model name")
    for name, kind in PASSED:
        m.add_argument(f"--{name}", type=kind, default=None)
    return p


def train_args(args: argparse.Namespace) -> tuple[str, ...]:
    out: list[str] = []
    for role in ("base", "optimize"):
        if args.base_url is not None and getattr(args, f"{role}_base_url") is None:
            out += [f"--{role}_base_url", args.base_url]
        if args.model_name is not None and getattr(args, f"{role}_model_name") is None:
            out += [f"--{role}_model_name", args.model_name]
    for name, _ in PASSED:
        value = getattr(args, name)
        if value is not None:
            out += [f"--{name}", str(value)]
    return tuple(out)


def check(args: argparse.Namespace) -> grid.Grid:
    """The grid the arguments ask for; ValueError (one line) when they make no sense."""
    known = task_prompt_methods()
    methods = tuple(args.methods or known)
    for name in methods:
        if name not in known:
            raise ValueError(
                f"unknown method {name!r}; the task-prompt methods are {', '.join(known)}"
            )
    seeds = tuple(args.seeds)
    for what, values in (("methods", methods), ("tasks", args.tasks), ("seeds", seeds)):
        if len(set(values)) != len(values):
            raise ValueError(f"--{what} lists the same value twice")
    if not grid.unique_labels(args.tasks):
        raise ValueError("two --tasks have the same name; give them distinct file names")
    budget: dict[str, float | int] = {}
    for flag, value in (
        ("budget_calls", args.budget_calls),
        ("budget_tokens", args.budget_tokens),
        ("budget_search_usd", args.budget_usd),
    ):
        if value is not None:
            if not value > 0:
                raise ValueError(f"--{flag.replace('search_', '')} must be > 0, got {value}")
            budget[flag] = value
    budget = budget or {"budget_calls": DEFAULT_BUDGET_CALLS}
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    for task in args.tasks:  # each task loads and splits, before any run starts
        try:
            load_task(
                DEMO_TASK if task == grid.DEMO else task,
                data_dir=args.data_dir,
                train_size=args.train_size,
                eval_size=args.eval_size or 30,
                test_size=args.test_size or 60,
                seed=seeds[0],
            )
        except TaskError as exc:
            raise ValueError(str(exc)) from None
    return grid.Grid(
        methods=methods,
        tasks=tuple(args.tasks),
        seeds=seeds,
        budget=budget,
        train_args=train_args(args),
        cpus=args.cpus,
    )


def claim(out: Path, spec: grid.Grid) -> bool:
    """Record the grid's shared settings in `out`; a folder holding a grid with other ones
    is refused (its finished runs would be reused under another budget). Returns whether
    the folder is new."""
    path = out / SETTINGS
    settings = spec.settings()
    if path.exists():
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            before = None
        if before != settings:
            raise ValueError(
                f"{out} holds a grid with other settings (see its {SETTINGS}); use another --out"
            )
        return False
    new = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(settings, indent=2) + "\n").encode("utf-8"))
    return new


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    try:
        spec = check(args)
        new = claim(out, spec)
    except (ValueError, OSError) as exc:
        print(f"python -m bench.arena: error: {exc}", file=sys.stderr)
        return 2
    jobs = grid.jobs(spec)
    done = 0

    def progress(result: JobResult) -> None:
        nonlocal done
        done += 1
        how = (
            ("done before" if result.attempts == 0 else f"{result.wall_s:.1f} s")
            if (result.ok)
            else f"FAILED: {result.error}"
        )
        print(f"[{done}/{len(jobs)}] {result.name}: {how}", flush=True)

    try:
        finished = run_jobs(
            jobs,
            root=out,
            workers=args.workers,
            ray_address=args.ray,
            max_retries=args.job_retries,
            timeout_s=args.run_timeout,
            on_result=progress,
        )
    except GridError as exc:  # before any run started: a new folder is left as it was
        if new and [p.name for p in out.iterdir()] == [SETTINGS]:
            (out / SETTINGS).unlink()
            out.rmdir()
        print(f"python -m bench.arena: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("python -m bench.arena: interrupted; run it again to continue", file=sys.stderr)
        return 130
    cells = grid.cells(spec)
    records = [collect.read_run(c, out.resolve() / c.name, r) for c, r in zip(cells, finished)]
    write_outputs(out, spec, records)
    failed = [r for r in records if not r.ok]
    for r in failed:
        print(f"failed: {r.cell.name}: {r.error} (its log_dir: {r.log_dir})", file=sys.stderr)
    return 1 if failed else 0
