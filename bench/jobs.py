"""Independent jobs (commands), run in a local pool of processes or as tasks on a Ray cluster.

A job is a command run from the checkout root with its own folder, root/<name>; the text
"{log_dir}" in its arguments (and in its extra environment values) becomes that folder on the
machine that runs it. When a job ends, its folder receives `job.json` (the JobResult and the
command) and the command's `job_stdout.txt` / `job_stderr.txt`. A job whose `job.json` says ok
is finished: a later `run_jobs` over the same root skips it (attempts 0). A failed attempt
(non-zero exit, timeout, lost node) is retried, in the folder as that attempt left it (so a
command given `--resume` continues from its checkpoint), up to `max_retries` times; then the
job is reported with ok False. Nothing is dropped: every job gets a JobResult, in job order.

On Ray (`ray_address`: "auto" or an address; the optional extra `ray`), each attempt is a Ray
task asking for `job.cpus` CPUs. The task runs the command in a temporary folder on its node
(first filled with what root/<name> already holds, as a tar archive), and sends the folder back
to the driver as a tar archive, unpacked into root/<name>. The command's working directory on
the node is the driver's checkout path (ROOT): every node of a real cluster must hold the same
checkout, with the same Python environment, at the same path (no runtime_env working_dir: the
commands also need the virtualenv and the data beside the checkout, which a working_dir upload
would not carry). The command's environment there is the node's plus job.env (the driver's
variables do not travel), and "{log_dir}" is the node's temporary folder. Ray itself retries a
task whose worker or node dies (bench.jobs_ray.RAY_TASK_RETRIES times); our own retries then
cover failed exits and tasks Ray gave up on. Ctrl-C on the driver cancels the tasks, which
kill their commands' process groups.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

#: The checkout root: every job's working directory.
ROOT = Path(__file__).resolve().parents[1]
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


def run_jobs(
    jobs: Sequence[Job],
    *,
    root: Path,
    workers: int = 1,
    ray_address: str | None = None,
    max_retries: int = 1,
    timeout_s: float | None = None,
    on_result: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Runs every job once, in a local pool of `workers` processes, or (ray_address: an
    address or "auto") each as a Ray task with its CPU request. Resumable: a job whose folder
    root/<name> holds a finished marker (job.json with ok true) is not run again (attempts 0).
    A failed job (non-zero exit, lost node, timeout) is retried up to max_retries times, then
    reported with ok False: never silently dropped. On Ray the command runs in a temporary
    folder on the node and the folder's files come back to the driver (as a tar archive) into
    root/<name>. Results in the order of `jobs`; on_result is called (in the calling thread)
    as each one ends. Ctrl-C kills the running commands (with their process groups) and
    re-raises. Raises GridError (a ValueError, one line) when the grid cannot run: duplicate
    or unsafe names, bad options, Ray not installed or not reachable."""
    _check(jobs, workers=workers, max_retries=max_retries, timeout_s=timeout_s)
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, JobResult] = {}
    todo = []
    for job in jobs:
        done = finished(root / job.name)
        if done is None:
            todo.append(job)
            continue
        results[job.name] = done
        if on_result is not None:
            on_result(done)
    if todo:
        if ray_address is None:
            run: _Runner = _LocalPool(todo, root, workers=workers, timeout_s=timeout_s)
        else:
            from bench.jobs_ray import RayPool  # Ray only on this path

            run = RayPool(todo, root, address=ray_address, timeout_s=timeout_s)
        try:
            for result in _with_retries(run, max_retries=max_retries):
                _write_marker(root / result.name, result, _job(jobs, result.name))
                results[result.name] = result
                if on_result is not None:
                    on_result(result)
        finally:
            run.stop()  # Ctrl-C or an error in on_result: nothing keeps running
    return [results[job.name] for job in jobs]


def finished(folder: Path) -> JobResult | None:
    """The recorded result of a finished job (its marker says ok), else None."""
    try:
        record = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("ok") is not True:
        return None
    return JobResult(
        name=folder.name,
        ok=True,
        returncode=record.get("returncode"),
        attempts=0,
        wall_s=float(record.get("wall_s") or 0.0),
        error=None,
        node=str(record.get("node", "local")),
    )


def _check(jobs: Sequence[Job], *, workers: int, max_retries: int, timeout_s: float | None) -> None:
    names = [job.name for job in jobs]
    for name in names:
        if not name or name in {".", ".."} or "/" in name or "\\" in name or "\0" in name:
            raise GridError(f"job name {name!r} cannot be a folder name")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise GridError(f"job names must be unique; repeated: {', '.join(dupes)}")
    if any(not job.argv for job in jobs):
        raise GridError("every job needs a command (argv is empty)")
    if workers < 1:
        raise GridError(f"workers must be at least 1, not {workers}")
    if max_retries < 0:
        raise GridError(f"max_retries must be 0 or more, not {max_retries}")
    if timeout_s is not None and timeout_s <= 0:
        raise GridError(f"timeout_s must be positive, not {timeout_s}")


def _job(jobs: Sequence[Job], name: str) -> Job:
    return next(job for job in jobs if job.name == name)


class _Runner(Protocol):
    """Runs attempts: local processes or Ray tasks."""

    def submit(self, job: Job) -> None:
        """Start one attempt of `job`."""

    def pending(self) -> int:
        """How many started attempts have not been returned by next_done."""

    def next_done(self) -> tuple[Job, Attempt]:
        """Wait for any started attempt to end (its folder in place under root)."""

    def stop(self) -> None:
        """Kill what still runs (idempotent)."""


def _with_retries(runner: _Runner, *, max_retries: int) -> Iterator[JobResult]:
    """Yields each job's final JobResult as it ends, resubmitting failed attempts (the
    runner's constructor submitted every job once)."""
    tries: dict[str, int] = {}
    while runner.pending():
        job, attempt = runner.next_done()
        tries[job.name] = tries.get(job.name, 0) + 1
        ok = attempt.returncode == 0
        if not ok and tries[job.name] <= max_retries:
            runner.submit(job)
            continue
        yield JobResult(
            name=job.name,
            ok=ok,
            returncode=attempt.returncode,
            attempts=tries[job.name],
            wall_s=attempt.wall_s,
            error=None if ok else attempt.error,
            node=attempt.node,
        )


def _write_marker(folder: Path, result: JobResult, job: Job) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    record = {**asdict(result), "argv": list(job.argv), "cpus": job.cpus}
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, folder / MARKER)


def substitute(job: Job, log_dir: Path) -> tuple[list[str], dict[str, str]]:
    """The job's command and extra environment with "{log_dir}" replaced by `log_dir`."""
    argv = [arg.replace(LOG_DIR, str(log_dir)) for arg in job.argv]
    env = {key: value.replace(LOG_DIR, str(log_dir)) for key, value in job.env.items()}
    return argv, env


class _CancelledError(Exception):
    """The pool was stopped while this attempt ran."""


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


class _LocalPool(_Runner):
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
