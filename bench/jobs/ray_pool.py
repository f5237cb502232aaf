"""bench.jobs on a Ray cluster: each attempt of a job is one Ray task (the only module that
imports Ray, and only when a grid is given a Ray address).

The task receives the job, the job's folder as a tar archive (what earlier attempts left), and
the checkout path; it runs the command in a temporary folder on its node with that checkout
as the working directory, and returns the folder as a tar archive, unpacked by the driver
into root/<name>. The task's function is sent by value, so a node needs no import path to
this module; it does need the checkout and its Python environment at the driver's paths (no
runtime_env working_dir). The command's environment is the node's (the one `ray start` ran
in) plus job.env: the driver's own variables do not travel.

A head on this machine, on loopback only (Ray swaps 127.0.0.1 for the machine's network
address unless told otherwise; the driver needs the same variable):

    export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
    ray start --head --node-ip-address 127.0.0.1 --port 6379 --num-cpus 2 \
        --object-store-memory 100000000 --include-dashboard false --disable-usage-stats
    ... run_jobs(..., ray_address="127.0.0.1:6379") (or "auto") ...
    ray stop    # stops every Ray process of this machine; or kill the `ray start --block`
                # process group, as tests/test_jobs_ray.py does
"""

from __future__ import annotations

import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.jobs.job import ROOT, Attempt, GridError, Job, pack, run_command, unpack

#: How often Ray itself re-runs a task whose worker process or node died.
RAY_TASK_RETRIES = 2
#: Ray's messages on the driver: warnings and errors only.
RAY_LOGGING = "WARNING"
#: How long an explicit address may take to accept a connection.
CONNECT_TIMEOUT_S = 5.0


def node_attempt(job: Job, archive: bytes, cwd: str, timeout_s: float | None) -> dict[str, Any]:
    """One attempt of `job` on this node (the body of the Ray task)."""
    import ray  # on the node

    # Ray's cancel interrupts the task's thread as a SIGINT would, which Python ignores while
    # SIGINT is ignored (as in Ray's workers): let it through, so the command's group is killed.
    main = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGINT, signal.default_int_handler) if main else None
    scratch = Path(tempfile.mkdtemp(prefix="drpo-job-"))
    try:
        folder = scratch / job.name
        unpack(archive, folder)
        code, wall, error = run_command(job, folder, cwd=Path(cwd), timeout_s=timeout_s)
        return {
            "returncode": code,
            "wall_s": wall,
            "error": error,
            "node": ray.util.get_node_ip_address(),
            "archive": pack(folder),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if main:
            signal.signal(signal.SIGINT, before)


class RayPool:
    """Attempts as Ray tasks; the driver's side of bench.jobs' runner protocol."""

    def __init__(
        self, jobs: Sequence[Job], root: Path, *, address: str, timeout_s: float | None
    ) -> None:
        try:
            import ray
        except ImportError:
            raise GridError(
                "running jobs on Ray needs Ray, an optional extra: pip install 'prompt-search[ray]'"
            ) from None
        self.ray = ray
        self.root = root
        self.timeout_s = timeout_s
        self.owns = not ray.is_initialized()
        if self.owns:
            _check_reachable(address)
            try:
                ray.init(address=address, logging_level=RAY_LOGGING, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise GridError(
                    f"cannot reach the Ray cluster at {address!r}: {_first_line(exc)}"
                ) from None
        self.running: dict[Any, Job] = {}
        self._check_cpus(jobs)
        ray.cloudpickle.register_pickle_by_value(sys.modules["bench.jobs"])
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
        self.task = ray.remote(node_attempt)
        for job in jobs:
            self.submit(job)

    def _check_cpus(self, jobs: Sequence[Job]) -> None:
        largest = max(
            (n["Resources"].get("CPU", 0.0) for n in self.ray.nodes() if n.get("Alive")),
            default=0.0,
        )
        for job in jobs:
            if job.cpus > largest:
                self.stop()
                raise GridError(
                    f"job {job.name} asks for {job.cpus:g} CPUs; the Ray cluster's largest "
                    f"node has {largest:g}"
                )

    def submit(self, job: Job) -> None:
        archive = pack(self.root / job.name)
        ref = self.task.options(
            num_cpus=job.cpus, max_retries=RAY_TASK_RETRIES, name=f"job:{job.name}"
        ).remote(job, archive, str(ROOT), self.timeout_s)
        self.running[ref] = job

    def pending(self) -> int:
        return len(self.running)

    def next_done(self) -> tuple[Job, Attempt]:
        (ref,), _ = self.ray.wait(list(self.running), num_returns=1)
        job = self.running.pop(ref)
        try:
            out = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:  # the task itself raised
            return job, Attempt(None, 0.0, f"the Ray task failed: {_last_line(exc)}", "unknown")
        except self.ray.exceptions.RayError as exc:  # worker or node lost, beyond Ray's retries
            kind = type(exc).__name__
            return job, Attempt(None, 0.0, f"node or worker lost ({kind})", "unknown")
        unpack(out["archive"], self.root / job.name)
        return job, Attempt(out["returncode"], out["wall_s"], out["error"], out["node"])

    def stop(self) -> None:
        """Cancel what runs (the task's KeyboardInterrupt kills the command's process group),
        then disconnect if this pool connected."""
        refs = list(self.running)
        for ref in refs:
            self.ray.cancel(ref, force=False)
        if refs:
            self.ray.wait(refs, num_returns=len(refs), timeout=30)
        self.running.clear()
        if self.owns and self.ray.is_initialized():
            self.ray.shutdown()


def _check_reachable(address: str) -> None:
    """An explicit host:port must accept a connection (Ray itself would wait for it forever)."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise GridError(f"a Ray address is 'auto' or HOST:PORT, not {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise GridError(f"cannot reach the Ray cluster at {address!r}: {exc}") from None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(exc).__name__
