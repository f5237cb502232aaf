"""The local pool: attempts in threads, each waiting on one child process."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from bench.jobs.job import ROOT, Attempt, Job, Runner, kill_group, run_command


class _CancelledError(Exception):
    """The pool was stopped while this attempt ran."""


class LocalPool(Runner):
    """Attempts in a pool of threads, each waiting on one child process."""

    def __init__(self, jobs: Sequence[Job], root: Path, *, workers: int, timeout_s: float | None):
        self.root = root
        self.timeout_s = timeout_s
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self.futures: dict[Future[Attempt], Job] = {}
        self.children: set[subprocess.Popen[bytes]] = set()
        self.lock = threading.Lock()
        self.stopping = False
        for job in jobs:
            self.submit(job)

    def submit(self, job: Job) -> None:
        self.futures[self.pool.submit(self._attempt, job)] = job

    def pending(self) -> int:
        return len(self.futures)

    def next_done(self) -> tuple[Job, Attempt]:
        done, _ = wait(self.futures, return_when=FIRST_COMPLETED)
        future = min(done, key=lambda f: list(self.futures).index(f))  # the oldest first
        job = self.futures.pop(future)
        return job, future.result()

    def _attempt(self, job: Job) -> Attempt:
        if self.stopping:
            raise _CancelledError(job.name)
        code, wall, error = run_command(
            job, self.root / job.name, cwd=ROOT, timeout_s=self.timeout_s, started=self._started
        )
        return Attempt(code, wall, error, "local")

    def _started(self, proc: subprocess.Popen[bytes]) -> None:
        with self.lock:
            self.children.add(proc)
            if self.stopping:  # stop() ran while this one was starting
                kill_group(proc)

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            children = list(self.children)
        for proc in children:
            if proc.poll() is None:
                kill_group(proc)
        for future in self.futures:
            future.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)
