"""Runs of `python train.py` the way a user starts them, in a child process of this one,
against a simulated server that this process hosts, and what each run measured.

The child's peak memory comes from the kernel (``wait4``), its LLM calls both from its own
usage report and from the server's count, its time both as the whole process and as the
run itself (usage.json's ``elapsed_s``, without the interpreter's start-up).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drpo.methods.tasks import DEMO_TASK, load_task
from drpo.sim import ServerSettings, SimServer, SimulatedLLM

ROOT = Path(__file__).resolve().parent.parent
#: The key the child runs send to the simulated server: a marker, never a real key.
BENCH_KEY = "sk-bench-not-a-real-key"
#: Roles each method uses; every one is pointed at the simulated server.
ROLES = {
    "drpo": ("base", "eval", "metrics", "optimize"),
    "promptagent": ("base", "optimize"),
    "gpo": ("base", "optimize"),
}
#: Small runs of a few seconds on the demo data: the quick benchmark's and the reliability
#: campaign's.
SMALL = {
    "drpo": ["--depth", "3"],
    "promptagent": ["--n_iters", "2", "--depth", "2", "--min_depth", "1",
                    "--eval_size", "10", "--test_size", "10"],
    "gpo": ["--depth", "2", "--eval_size", "10", "--test_size", "10"],
}  # fmt: skip
#: The file each method writes its final prompt to.
FINAL_PROMPT = {
    "drpo": "best_system_prompt.txt",
    "promptagent": "best_prompt.txt",
    "gpo": "best_prompt.txt",
    "ape": "best_prompt.txt",
    "opro": "best_prompt.txt",
    "protegi": "best_prompt.txt",
}


@dataclass(frozen=True)
class ProcessRun:
    """A finished child process."""

    argv: tuple[str, ...]
    returncode: int
    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str


@dataclass(frozen=True)
class MethodRun:
    """One method run on the simulated server: the process, and what the run reported."""

    process: ProcessRun
    log_dir: Path
    server_requests: int  # chat requests the server received during the run
    requests: int  # requests the run itself counted
    rounds: int  # stretches with calls in flight: the run's critical path in calls
    widest_round: int  # the most calls in one round
    cache_hits: int
    run_s: float  # the run itself, from usage.json
    final_prompt: str


def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 900.0,
    kill_after_s: float | None = None,
) -> ProcessRun:
    """Run `argv` from the repository root; SIGKILL it after `kill_after_s` (a crash test)
    or `timeout_s` (a hang)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=dict(env) if env is not None else None,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        limit = timeout_s if kill_after_s is None else min(timeout_s, kill_after_s)
        timer = threading.Timer(limit, _kill, (proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return ProcessRun(
            tuple(argv), proc.returncode, wall, usage.ru_maxrss / 1024, out.read(), err.read()
        )


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update({"OPENAI_API_KEY": BENCH_KEY, "PYTHONUNBUFFERED": "1"}, **extra)
    return env


def train_argv(
    method: str,
    url: str | None,
    *,
    log_dir: Path,
    concurrency: int = 8,
    options: Sequence[str] = (),
) -> list[str]:
    """`python train.py` for `method` with every role on the server at `url` (None: on the
    simulated LLM in process)."""
    argv = [
        sys.executable,
        "train.py",
        "--method",
        method,
        "--log_dir",
        str(log_dir),
        "--disable_tqdm",
        "--concurrency",
        str(concurrency),
    ]
    for role in ROLES[method] if url is not None else ():
        argv += [f"--{role}_base_url", url]
    return argv + list(options)


def run_train(
    method: str,
    url: str | None,
    *,
    log_dir: Path,
    concurrency: int = 8,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout_s: float = 900.0,
    kill_after_s: float | None = None,
) -> ProcessRun:
    """`train_argv`'s command, run with `env` (default `child_env()`)."""
    argv = train_argv(method, url, log_dir=log_dir, concurrency=concurrency, options=options)
    return run_process(argv, env=env or child_env(), timeout_s=timeout_s, kill_after_s=kill_after_s)


def demo_knowledge() -> dict[str, str]:
    """The demo task's answers, for the simulated model (so that task prompts matter)."""
    return {e.question: e.gold for e in load_task(DEMO_TASK).all_examples()}


def demo_server(
    settings: ServerSettings, *, model: SimulatedLLM | None = None, record_answers: bool = False
) -> SimServer:
    """The simulated server (its faults drawn with `settings.seed`), answering as `model`:
    by default the simulated LLM with seed 0 that knows the demo task."""
    model = model or SimulatedLLM(seed=0, knowledge=demo_knowledge())
    return SimServer(settings, model, record_answers=record_answers)


def read_report(log_dir: Path) -> dict[str, Any]:
    return json.loads((Path(log_dir) / "usage.json").read_text(encoding="utf-8"))


def final_prompt(method: str, log_dir: Path) -> str:
    path = Path(log_dir) / FINAL_PROMPT[method]
    return path.read_text(encoding="utf-8") if path.exists() else ""


def run_method(
    server: SimServer,
    method: str,
    *,
    log_dir: Path,
    concurrency: int,
    options: Sequence[str] = (),
    timeout_s: float = 900.0,
) -> MethodRun:
    """One run of `method` against `server`; raises RuntimeError when it does not finish."""
    before = server.stats().get("requests", 0)
    process = run_train(
        method,
        server.url,
        log_dir=log_dir,
        concurrency=concurrency,
        options=options,
        timeout_s=timeout_s,
    )
    if process.returncode != 0:
        tail = (process.stderr or process.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{method} exited with {process.returncode}: {' | '.join(tail)}")
    report = read_report(log_dir)
    total = report["total"]
    return MethodRun(
        process=process,
        log_dir=Path(log_dir),
        server_requests=server.stats().get("requests", 0) - before,
        requests=total["requests"],
        rounds=report["rounds"],
        widest_round=report["widest_round"],
        cache_hits=total["cache_hits"],
        run_s=report["elapsed_s"],
        final_prompt=final_prompt(method, log_dir),
    )


_scratch_root: Path | None = None


def scratch_dir(prefix: str) -> Path:
    """A new folder for one run's files, inside this command's scratch folder."""
    global _scratch_root
    if _scratch_root is None:
        _scratch_root = Path(tempfile.mkdtemp(prefix="prompt-search-bench-"))
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=_scratch_root))


@contextlib.contextmanager
def scratch(*, keep: bool) -> Iterator[None]:
    """Remove every scratch folder at the end (or say where they are, with `keep`)."""
    global _scratch_root
    try:
        yield
    finally:
        root, _scratch_root = _scratch_root, None
        if root is not None and keep:
            print(f"the runs' folders are kept in {root}")
        elif root is not None:
            shutil.rmtree(root, ignore_errors=True)
