"""bench.jobs on a real Ray head started on 127.0.0.1: the runs' folders come back to the
driver, a failing job and a job whose worker dies are reported, a re-run skips what finished.

Skipped only when Ray (the extra `ray`) is not installed."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_helpers import ends

from bench.jobs import MARKER, GridError, Job, run_jobs

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is an optional extra (pip install .[ray])"
)

#: Ray on loopback only (by default it swaps 127.0.0.1 for the machine's network address),
#: no usage reports, and no 30 s drain when the head is stopped.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
}
HEAD_START_S = 120


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A Ray head on 127.0.0.1 with 2 CPUs, a small object store and no dashboard, in its own
    process group (stopped whole afterwards; `ray stop` would stop every Ray on the machine).
    The driver (this process) gets the same loopback setting before it first imports Ray."""
    temp = Path(tempfile.mkdtemp(prefix="rayt"))  # short: Ray's socket paths have a limit
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    argv = [ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", "0",
            "--num-cpus", "2", "--object-store-memory", str(80 * 2**20),
            "--include-dashboard", "false", "--disable-usage-stats",
            "--temp-dir", str(temp), "--block"]  # fmt: skip
    saved = {key: os.environ.get(key) for key in RAY_ENV}
    os.environ.update(RAY_ENV)
    with open(temp / "head.log", "wb") as log:
        head = subprocess.Popen(
            argv, env={**os.environ}, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    try:
        address_file = temp / "ray_current_cluster"
        deadline = time.monotonic() + HEAD_START_S
        while not (address_file.exists() and address_file.read_text().strip()):
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Ray head did not start: {(temp / 'head.log').read_text()}")
            time.sleep(0.2)
        address = address_file.read_text().strip()
        assert address.startswith("127.0.0.1:")
        yield address
    finally:
        _stop_group(head)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(temp, ignore_errors=True)


def _stop_group(head: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the head's process group (`ray start --block` stops its processes), then
    SIGKILL to whatever of the group is left."""
    with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGKILL)
    head.wait(timeout=30)


def train(name: str, *options: str) -> Job:
    return Job(
        name=name,
        argv=(sys.executable, "train.py", "--log_dir", "{log_dir}", "--disable_tqdm", *options),
    )


def test_a_grid_runs_on_a_local_ray_head_and_resumes(ray_head: str, tmp_path: Path) -> None:
    toy = train("toy", "--method", "toy")
    agent = train("promptagent", "--method", "promptagent", "--depth", "1", "--n_iters", "1",
                  "--eval_size", "10", "--test_size", "10")  # fmt: skip
    fails = Job(
        name="fails",
        argv=(sys.executable, "-c", "import sys; sys.exit('no model at that address')"),
    )
    grid = [toy, agent, fails]
    seen: list[str] = []
    results = run_jobs(
        grid, root=tmp_path, ray_address=ray_head, max_retries=1,
        on_result=lambda r: seen.append(r.name),
    )  # fmt: skip
    assert [r.name for r in results] == ["toy", "promptagent", "fails"]
    assert sorted(seen) == sorted(r.name for r in results)
    done, failed = results[:2], results[2]
    for result in done:
        assert result.ok and result.attempts == 1 and result.node == "127.0.0.1", result
        folder = tmp_path / result.name
        assert (folder / "algo_output" / "output.json").exists()
        assert (folder / "args.txt").exists()
        assert json.loads((folder / MARKER).read_text())["ok"] is True
    assert "test accuracy" in (tmp_path / "promptagent" / "job_stdout.txt").read_text().lower()
    assert not failed.ok and failed.returncode == 1 and failed.attempts == 2
    assert failed.error == "exit 1: no model at that address"
    assert (tmp_path / "fails" / "job_stderr.txt").read_text().strip() == (
        "no model at that address"
    )

    again = run_jobs(grid, root=tmp_path, ray_address=ray_head, max_retries=0)
    assert [(r.name, r.ok, r.attempts) for r in again] == [
        ("toy", True, 0), ("promptagent", True, 0), ("fails", False, 1),
    ]  # fmt: skip


def test_a_job_whose_worker_dies_is_retried_or_reported(ray_head: str, tmp_path: Path) -> None:
    """The command kills the Ray worker running it (as a lost node would end it): once, and
    Ray's own retry finishes the job; every time, and the job is reported, not dropped."""
    kill_worker = "import os, signal; os.kill(os.getppid(), signal.SIGKILL)"
    flag = tmp_path / "died_once"
    once = (
        f"import os, pathlib, signal\nflag = pathlib.Path({str(flag)!r})\n"
        "if not flag.exists():\n    flag.touch()\n    os.kill(os.getppid(), signal.SIGKILL)"
    )
    grid = [
        Job(name="dies_once", argv=(sys.executable, "-c", once)),
        Job(name="always_dies", argv=(sys.executable, "-c", kill_worker)),
    ]
    once_result, lost = run_jobs(grid, root=tmp_path / "grid", ray_address=ray_head,
                                 max_retries=0)  # fmt: skip
    assert once_result.ok and flag.exists()
    assert not lost.ok and lost.returncode is None and lost.attempts == 1
    assert lost.error is not None and lost.error.startswith("node or worker lost")


def test_an_unreachable_cluster_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GridError, match=r"cannot reach the Ray cluster at '127\.0\.0\.1:1'"):
        run_jobs([Job(name="a", argv=("true",))], root=tmp_path, ray_address="127.0.0.1:1")


def test_ctrl_c_on_the_driver_stops_the_jobs_on_the_nodes(ray_head: str, tmp_path: Path) -> None:
    """SIGINT to a driver running a grid on Ray: the task is cancelled, and the command and
    the process it started are killed on the node."""
    pids = tmp_path / "pids"
    sleeper = (
        "import pathlib, subprocess, sys, time, os\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"pathlib.Path({str(pids)!r}).write_text(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(600)"
    )
    driver = (
        "import sys, pathlib\nfrom bench.jobs import Job, run_jobs\ntry:\n"
        f"    run_jobs([Job(name='sleeps', argv=(sys.executable, '-c', {sleeper!r}))],\n"
        f"             root=pathlib.Path({str(tmp_path / 'grid')!r}), ray_address={ray_head!r})\n"
        "except KeyboardInterrupt:\n    sys.exit(130)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", driver], cwd=Path(__file__).parents[1])
    try:
        deadline = time.monotonic() + HEAD_START_S
        while not (pids.exists() and pids.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, "the job never started"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        proc.kill()
    command, grandchild = map(int, pids.read_text().split())
    assert ends(command) and ends(grandchild)
