"""The job runner's local pool: every job runs once, in its own folder, resumably; failures are
retried then reported, never dropped; a stopped grid leaves no command running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from process_helpers import ends

from bench.jobs import MARKER, ROOT, GridError, Job, JobResult, run_jobs


def py(code: str, **env: str) -> Job:
    """A job running `code` in a fresh Python (name set by the caller with `named`)."""
    return Job(name="job", argv=(sys.executable, "-c", textwrap.dedent(code)), env=env)


def named(job: Job, name: str) -> Job:
    return Job(name=name, argv=job.argv, cpus=job.cpus, env=job.env)


def test_results_in_job_order_and_reported_as_each_ends(tmp_path: Path) -> None:
    """The first job waits until the second's result has been reported, so the second ends
    first however slow the machine: on_result sees them in ending order, the returned list is
    in job order."""
    flag = tmp_path / "flag"
    waits = py(f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.02)")
    sets = py("pass")
    seen: list[str] = []

    def on_result(result) -> None:
        seen.append(result.name)
        if result.name == "sets":
            flag.touch()  # only now may the first job end

    results = run_jobs(
        [named(waits, "waits"), named(sets, "sets")],
        root=tmp_path / "grid",
        workers=2,
        on_result=on_result,
    )
    assert seen == ["sets", "waits"]
    assert [r.name for r in results] == ["waits", "sets"]
    assert all(r.ok and r.returncode == 0 and r.attempts == 1 for r in results)
    assert all(r.node == "local" and r.error is None for r in results)
    for r in results:
        marker = json.loads((tmp_path / "grid" / r.name / MARKER).read_text())
        assert marker["ok"] is True and marker["argv"][0] == sys.executable


def test_log_dir_env_and_working_directory(tmp_path: Path) -> None:
    job = Job(
        name="one",
        argv=(
            sys.executable,
            "-c",
            "import os, sys, pathlib; d = pathlib.Path(sys.argv[1]); "
            "(d / 'seen.json').write_text(__import__('json').dumps("
            "[os.getcwd(), os.environ['GREETING'], os.environ['WHERE']]))",
            "{log_dir}",
        ),
        env={"GREETING": "hello", "WHERE": "{log_dir}/x"},
    )
    (result,) = run_jobs([job], root=tmp_path)
    assert result.ok
    folder = tmp_path / "one"
    cwd, greeting, where = json.loads((folder / "seen.json").read_text())
    assert Path(cwd) == ROOT
    assert greeting == "hello"
    assert where == f"{folder}/x"


def test_a_rerun_skips_finished_jobs_and_reruns_failed_ones(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    good = py(f"open({str(runs)!r}, 'a').write('good\\n')")
    bad = py(f"open({str(runs)!r}, 'a').write('bad\\n'); raise SystemExit(2)")
    grid = [named(good, "good"), named(bad, "bad")]
    first = run_jobs(grid, root=tmp_path / "grid", max_retries=0)
    assert [(r.ok, r.attempts) for r in first] == [(True, 1), (False, 1)]
    again = run_jobs(grid, root=tmp_path / "grid", max_retries=0)
    assert [(r.name, r.ok, r.attempts) for r in again] == [("good", True, 0), ("bad", False, 1)]
    assert runs.read_text().splitlines() == ["good", "bad", "bad"]


def test_a_failing_job_is_retried_then_reported(tmp_path: Path) -> None:
    job = py(
        """
        import pathlib, sys
        tries = pathlib.Path(sys.argv[1]) / "tries"
        tries.write_text(tries.read_text() + "x" if tries.exists() else "x")
        print("starting", file=sys.stderr)
        print("model server refused the connection", file=sys.stderr)
        raise SystemExit(3)
        """
    )
    job = Job(name="fails", argv=(*job.argv, "{log_dir}"))
    reported: list[JobResult] = []
    (result,) = run_jobs([job], root=tmp_path, max_retries=2, on_result=reported.append)
    assert reported == [result]
    assert not result.ok
    assert result.returncode == 3 and result.attempts == 3
    assert result.error == "exit 3: model server refused the connection"
    # every attempt ran in the same folder (a command with --resume continues there)
    assert (tmp_path / "fails" / "tries").read_text() == "xxx"
    assert json.loads((tmp_path / "fails" / MARKER).read_text())["ok"] is False


def test_a_flaky_job_succeeds_on_its_retry(tmp_path: Path) -> None:
    job = py(
        """
        import pathlib, sys
        mark = pathlib.Path(sys.argv[1]) / "first_try_done"
        if not mark.exists():
            mark.touch()
            raise SystemExit(1)
        """
    )
    (result,) = run_jobs([Job(name="flaky", argv=(*job.argv, "{log_dir}"))], root=tmp_path)
    assert result.ok and result.attempts == 2 and result.error is None


def test_a_timeout_kills_the_job_and_its_children(tmp_path: Path) -> None:
    """The command starts a grandchild; on timeout the whole process group dies."""
    job = py(
        """
        import pathlib, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        pathlib.Path(sys.argv[1], "pids").write_text(f"{child.pid}")
        time.sleep(600)
        """
    )
    job = Job(name="hangs", argv=(*job.argv, "{log_dir}"))
    (result,) = run_jobs([job], root=tmp_path, timeout_s=2, max_retries=0)
    assert not result.ok
    assert result.returncode is None and result.attempts == 1
    assert result.error == "timed out after 2 s"
    grandchild = int((tmp_path / "hangs" / "pids").read_text())
    assert ends(grandchild)


def test_a_failing_callback_stops_the_running_jobs(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    quick = py("pass")
    slow = py(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)"
    )

    def explode(result: JobResult) -> None:
        while not (pid_file.exists() and pid_file.read_text()):  # the slow one has started
            pass
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        run_jobs([named(slow, "slow"), named(quick, "quick")], root=tmp_path, workers=2,
                 on_result=explode)  # fmt: skip
    assert ends(int(pid_file.read_text()))


def test_ctrl_c_stops_the_children(tmp_path: Path) -> None:
    """SIGINT to a driver running a grid: it stops, and so do its jobs' processes."""
    pid_file = tmp_path / "pid"
    driver = textwrap.dedent(
        f"""
        import sys, pathlib
        from bench.jobs import Job, run_jobs
        code = ("import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
                "time.sleep(600)")
        try:
            run_jobs([Job(name="sleeps", argv=(sys.executable, "-c", code))],
                     root=pathlib.Path({str(tmp_path / "grid")!r}))
        except KeyboardInterrupt:
            sys.exit(130)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", driver], cwd=ROOT)
    try:
        while not (pid_file.exists() and pid_file.read_text()):
            assert proc.poll() is None, "the driver ended early"
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
    assert ends(int(pid_file.read_text()))


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ([Job(name="a", argv=("true",)), Job(name="a", argv=("true",))], "repeated: a"),
        ([Job(name="../up", argv=("true",))], "cannot be a folder name"),
        ([Job(name="empty", argv=())], "argv is empty"),
    ],
)
def test_a_bad_grid_is_one_clear_error(tmp_path: Path, jobs: list[Job], message: str) -> None:
    with pytest.raises(GridError, match=message):
        run_jobs(jobs, root=tmp_path)


def test_a_missing_command_is_reported(tmp_path: Path) -> None:
    (result,) = run_jobs(
        [Job(name="nothing", argv=("no-such-command-here",))], root=tmp_path, max_retries=0
    )
    assert not result.ok and result.returncode == 127
    assert result.error is not None and "cannot start no-such-command-here" in result.error


def test_ray_without_ray_installed_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as when not installed
    with pytest.raises(GridError, match=r"needs Ray.*pip install 'prompt-search\[ray\]'"):
        run_jobs([Job(name="a", argv=("true",))], root=tmp_path, ray_address="auto")
    assert not (tmp_path / "a").exists()
