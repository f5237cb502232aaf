"""What a job is, what one attempt of it returns, and how an attempt runs its command (its own
process group, killed whole) and carries its folder (as a tar archive)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

#: The checkout root: every job's working directory.
ROOT = Path(__file__).resolve().parents[2]
#: The finished marker in a job's folder.
MARKER = "job.json"
STDOUT = "job_stdout.txt"
STDERR = "job_stderr.txt"
LOG_DIR = "{log_dir}"
#: How often a waiting attempt looks up from its wait.
WAIT_STEP_S = 0.5


class GridError(ValueError):
    """The grid cannot run: bad jobs or options, Ray missing or unreachable. One line."""


@dataclass(frozen=True, kw_only=True)
class Job:
    name: str  # unique in a grid; also its folder name under `root`
    argv: tuple[str, ...]  # run from the checkout root; "{log_dir}" becomes the job's folder
    cpus: float = 1.0  # the Ray task's CPU request (locally: informational)
    env: Mapping[str, str] = field(default_factory=dict)  # extra environment variables


@dataclass(frozen=True)
class JobResult:
    name: str
    ok: bool  # exit 0 (and the folder is in place under root)
    returncode: int | None  # None: it never ended (node lost, timeout)
    attempts: int  # 0: already finished before (skipped on resume)
    wall_s: float  # the last attempt's (for a skipped job: the recorded one)
    error: str | None  # one line: why it failed (last stderr line, node lost, ...)
    node: str  # where it ran ("local" or the Ray node's IP)


@dataclass(frozen=True)
class Attempt:
    """One run of a job's command, wherever it ran."""

    returncode: int | None
    wall_s: float
    error: str | None
    node: str


class Runner(Protocol):
    """Runs attempts: local processes or Ray tasks."""

    def submit(self, job: Job) -> None:
        """Start one attempt of `job`."""

    def pending(self) -> int:
        """How many started attempts have not been returned by next_done."""

    def next_done(self) -> tuple[Job, Attempt]:
        """Wait for any started attempt to end (its folder in place under root)."""

    def stop(self) -> None:
        """Kill what still runs (idempotent)."""


def substitute(job: Job, log_dir: Path) -> tuple[list[str], dict[str, str]]:
    """The job's command and extra environment with "{log_dir}" replaced by `log_dir`."""
    argv = [arg.replace(LOG_DIR, str(log_dir)) for arg in job.argv]
    env = {key: value.replace(LOG_DIR, str(log_dir)) for key, value in job.env.items()}
    return argv, env


def run_command(
    job: Job,
    folder: Path,
    *,
    cwd: Path,
    timeout_s: float | None,
    started: Callable[[subprocess.Popen[bytes]], None] = lambda proc: None,
) -> tuple[int | None, float, str | None]:
    """Runs `job` once with `folder` as its {log_dir}, in its own process group (killed whole
    on timeout); stdout and stderr go to files in `folder`. Returns (returncode or None on
    timeout, wall seconds, one line of error or None)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).unlink(missing_ok=True)  # a failed attempt's marker: not finished
    argv, extra = substitute(job, folder)
    env = {**os.environ, **extra}
    start = time.perf_counter()
    with open(folder / STDOUT, "wb") as out, open(folder / STDERR, "wb") as err:
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: killed whole
            )
        except OSError as exc:
            return 127, time.perf_counter() - start, f"cannot start {argv[0]}: {exc}"
        started(proc)
        try:
            code = _wait(proc, timeout_s)
        finally:  # also on KeyboardInterrupt (Ctrl-C, or a cancelled Ray task)
            kill_group(proc)  # the command, or whatever it left behind in its group
    wall = time.perf_counter() - start
    if code == 0:
        return 0, wall, None
    if code is None:
        return None, wall, f"timed out after {timeout_s:g} s"
    return code, wall, _error_line(folder / STDERR, code)


def _wait(proc: subprocess.Popen[bytes], timeout_s: float | None) -> int | None:
    """The exit status, or None once `timeout_s` has passed. Waits in short steps, so that
    an interrupt raised in this thread by Ray's cancel (no real signal, which a blocking
    wait would not notice) ends the wait."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        step = WAIT_STEP_S if deadline is None else min(WAIT_STEP_S, deadline - time.monotonic())
        try:
            return proc.wait(timeout=max(step, 0.0))
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() >= deadline:
                return None


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group that `proc` leads (started with start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _error_line(stderr: Path, code: int) -> str:
    how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
    try:
        lines = [line.strip() for line in stderr.read_text(errors="replace").splitlines()]
    except OSError:
        lines = []
    last = next((line for line in reversed(lines) if line), "")
    return f"{how}: {last[:300]}" if last else how


def pack(folder: Path) -> bytes:
    """The files under `folder` as an uncompressed tar archive (b"" for no folder)."""
    if not folder.is_dir():
        return b""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(folder, arcname=".")
    return buffer.getvalue()


def unpack(archive: bytes, folder: Path) -> None:
    """Replaces `folder`'s contents with the archive's (paths outside it are refused)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        if archive:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
                tar.extractall(staging, filter="data")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
