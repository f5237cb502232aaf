"""Ctrl-C during a run: the first stops the search at its next frontier and the run saves
everything (summary.json and stdout say `stop_reason: interrupted`, exit code 130), `--resume`
then continues the search to the uninterrupted run's result; a second Ctrl-C aborts at once.
Each run is `python train.py` in a child process on the simulated LLM's HTTP server, whose
latency makes it slow enough to interrupt half way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_helpers import REPO, over_http, tree_without_meta

from drpo.interrupts import NOTICE
from drpo.methods.tasks import DEMO_TASK, answer_key, load_task

#: Per method: its arguments, and the roles it sends to the server.
METHODS = {
    "promptagent": (["--method", "promptagent"], ("base", "optimize")),
    "drpo": (["--method", "drpo", "--depth", "8", "--seed", "3"], None),
}


def _args(method: str, url: str, log_dir: Path) -> list[str]:
    """The run's arguments, its roles on the server at `url`."""
    args, roles = METHODS[method]
    urls = over_http(url) if roles is None else [f"--{r}_base_url={url}" for r in roles]
    return [*args, *urls, "--disable_tqdm", "--log_dir", str(log_dir)]


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / "train.py"), *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _frontiers(log_dir: Path) -> int:
    try:
        return json.loads((log_dir / "checkpoint.json").read_text())["frontiers_done"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def _interrupt_after(proc: subprocess.Popen, log_dir: Path, frontiers: int) -> int:
    """SIGINT `proc` once its checkpoint counts `frontiers` frontiers; the count then."""
    deadline = time.time() + 120
    while _frontiers(log_dir) < frontiers and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    done = _frontiers(log_dir)
    proc.send_signal(signal.SIGINT)
    return done


def _server(sim_server, method: str, *, latency_ms: int = 30):
    knowledge = answer_key(load_task(DEMO_TASK)) if method != "drpo" else None
    return sim_server(latency_ms=latency_ms, knowledge=knowledge)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_ctrl_c_stops_the_search_saves_the_run_and_resume_continues_it(
    sim_server, tmp_path: Path, method: str
) -> None:
    # The uninterrupted run, on a server of its own without latency.
    clean = tmp_path / "clean"
    proc = _start(_args(method, _server(sim_server, method, latency_ms=0).url, clean))
    assert proc.communicate(timeout=300) and proc.returncode == 0
    full = json.loads((clean / "checkpoint.json").read_text())["frontiers_done"]
    assert full >= 6

    server, run = _server(sim_server, method), tmp_path / "run"
    proc = _start(_args(method, server.url, run))
    seen = _interrupt_after(proc, run, 2)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert NOTICE.strip() in err and "Traceback" not in err
    assert "stopped by Ctrl-C; everything is saved: continue the search with --resume" in err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["stop_reason"] == "interrupted"
    bought = summary["search_bought"]
    assert f"stop_reason: interrupted ({bought['expansions']} expansions, " in out
    # stopped at the frontier under way when Ctrl-C came: at most one after the one seen
    checkpoint = json.loads((run / "checkpoint.json").read_text())
    assert checkpoint["status"] == "interrupted"
    assert seen <= checkpoint["frontiers_done"] <= seen + 1 < full
    for name in ("output.pkl", "output.json", "trace.txt"):
        assert (run / "algo_output" / name).stat().st_size > 0
    assert (run / "llm_cache.sqlite").is_file() and (run / "usage.json").is_file()
    assert tree_without_meta(run) != tree_without_meta(clean)  # a smaller tree

    # --resume continues the search from the cache to the uninterrupted run's end
    calls = server.stats()["completions"]
    resumed = _start([*_args(method, server.url, run), "--resume"])
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "stop_reason: depth (" in out
    again, whole = (json.loads((d / "summary.json").read_text()) for d in (run, clean))
    assert again["stop_reason"] == "depth" and again["search_bought"] == whole["search_bought"]
    assert tree_without_meta(run) == tree_without_meta(clean)
    assert json.loads((run / "checkpoint.json").read_text())["status"] == "done"
    assert server.stats()["completions"] > calls  # it went on where the first attempt stopped


def test_a_second_ctrl_c_aborts_at_once_and_keeps_the_checkpoint(
    sim_server, tmp_path: Path
) -> None:
    server, run = _server(sim_server, "promptagent"), tmp_path / "run"
    proc = _start(_args("promptagent", server.url, run))
    _interrupt_after(proc, run, 1)
    assert proc.stderr is not None
    while NOTICE.strip() not in (line := proc.stderr.readline()):  # the first one was heard
        assert line, "the run ended without the notice"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted. Everything answered so far is saved; continue with --resume" in err
    assert "Traceback" not in err
    assert not (run / "summary.json").exists()  # aborted: no ending was written
    assert json.loads((run / "checkpoint.json").read_text())["status"] == "interrupted"


def test_ctrl_c_in_python_returns_the_interrupted_result(tmp_path: Path) -> None:
    import threading

    import drpo

    task = drpo.Task.from_jsonl(DEMO_TASK, eval_size=10, test_size=10, seed=0)
    run = tmp_path / "api"

    def press_ctrl_c() -> None:  # as a terminal (or Jupyter's interrupt) would, half way
        deadline = time.time() + 120
        while _frontiers(run) < 2 and time.time() < deadline:
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c, daemon=True).start()
    result = drpo.optimize("promptagent", task, model="sim", log_dir=str(run))
    assert result.stop_reason == "interrupted" and result.best_prompt
    checkpoint = json.loads((run / "checkpoint.json").read_text())
    assert checkpoint["status"] == "interrupted" and 2 <= checkpoint["frontiers_done"] < 6
    again = drpo.optimize("promptagent", task, model="sim", log_dir=str(run), resume=True)
    assert again.stop_reason == "depth"
