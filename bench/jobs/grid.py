"""`run_jobs`: a grid of jobs through a local pool or Ray, resumable, retried, in job order."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

from bench.jobs.job import MARKER, GridError, Job, JobResult, Runner
from bench.jobs.local import LocalPool


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
            run: Runner = LocalPool(todo, root, workers=workers, timeout_s=timeout_s)
        else:
            from bench.jobs.ray_pool import RayPool  # Ray only on this path

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


def _with_retries(runner: Runner, *, max_retries: int) -> Iterator[JobResult]:
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
