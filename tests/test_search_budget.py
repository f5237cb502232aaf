"""The search budget (calls, tokens) of the task-prompt methods, and their anytime trace
(progress.jsonl), on the simulated LLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from run_helpers import train

from drpo.cli import main
from drpo.llm import SearchBudget, Spend


def run(tmp_path: Path, name: str, *args: str) -> tuple[dict, list[dict]]:
    log_dir = tmp_path / name
    code = main(["--disable_tqdm", "--log_dir", str(log_dir), *args])
    assert code == 0
    summary = json.loads((log_dir / "summary.json").read_text())
    trace = [json.loads(x) for x in (log_dir / "progress.jsonl").read_text().splitlines()]
    return summary, trace


def check_stopped(report: dict, trace: list[dict], unit: str, limit: int) -> None:
    """Stopped at the first frontier that spent the budget: before it the search was within
    the budget, and it spent no more after it."""
    assert report["stopped_on_budget"] is True
    assert [row[unit] for row in trace] == sorted(row[unit] for row in trace)
    assert trace[-1][unit] >= limit and all(row[unit] < limit for row in trace[:-1])
    assert report["search"][unit] == trace[-1][unit]
    assert report["over_budget"][unit] == trace[-1][unit] - limit


@pytest.mark.parametrize(
    "method, extra",
    [("promptagent", []), ("promptagent", ["--search", "beam"]), ("gpo", [])],
)
def test_a_call_budget_stops_the_search_early_with_its_best_prompt(
    tmp_path: Path, method: str, extra: list[str]
) -> None:
    full, full_trace = run(tmp_path, "full", "--method", method, *extra)
    budget = full_trace[1]["calls"] - 1  # spent during the second frontier
    small, trace = run(tmp_path, "small", "--method", method, *extra, "--budget_calls", str(budget))
    report = small["search_budget"]
    check_stopped(report, trace, "calls", budget)
    assert len(trace) == 2 < len(full_trace)
    assert full["search_budget"]["stopped_on_budget"] is False
    # The test scoring (initial and final prompt on 60 test examples) is counted apart.
    assert report["test"]["calls"] <= 120 and report["total"]["calls"] == (
        report["search"]["calls"] + report["test"]["calls"]
    )
    # The best prompt so far is kept, and the anytime trace reports its eval accuracy.
    best = (tmp_path / "small" / "best_prompt.txt").read_text().strip()
    assert best == small.get("final_prompt", best)
    eval_key = "final_eval_accuracy" if method == "promptagent" else "best_eval_accuracy"
    assert small[eval_key] <= trace[-1]["best_eval_accuracy"]
    assert [r["best_eval_accuracy"] for r in trace] == sorted(
        r["best_eval_accuracy"] for r in trace
    )
    usage = json.loads((tmp_path / "small" / "usage.json").read_text())
    assert usage["search_budget"] == report


def test_a_token_budget_stops_gpo(tmp_path: Path) -> None:
    _, full_trace = run(tmp_path, "full", "--method", "gpo", "--depth", "4")
    budget = full_trace[0]["tokens"] + 1
    small, trace = run(
        tmp_path, "small", "--method", "gpo", "--depth", "4", "--budget_tokens", str(budget)
    )
    check_stopped(small["search_budget"], trace, "tokens", budget)
    assert len(trace) == 2
    # A count of tokens is no secret: args.txt keeps it (an API token would be redacted).
    assert f"budget_tokens: {budget}\n" in (tmp_path / "small" / "args.txt").read_text()


def test_resuming_a_budget_run_ends_the_same(tmp_path: Path) -> None:
    args = ["--method", "promptagent", "--budget_calls", "300"]
    first, trace = run(tmp_path, "r", *args)
    again, trace_again = run(tmp_path, "r", *args, "--resume")
    assert trace_again == trace
    assert again["final_prompt"] == first["final_prompt"]
    assert again["search_budget"]["search"] == first["search_budget"]["search"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "drpo", "--budget_calls", "10"], "takes no search budget"),
        (["--method", "gpo", "--budget_calls", "0"], "must be > 0"),
        (["--method", "gpo", "--budget_tokens", "many"], "expected a number"),
    ],
)
def test_bad_budgets_get_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    out = train(*args, "--log_dir", str(tmp_path / "x"))
    err = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(err) == 1 and message in err[0], out.stderr
    assert not (tmp_path / "x").exists()


def test_the_budget_arithmetic() -> None:
    budget = SearchBudget(calls=100, tokens=None, usd=0.5)
    assert not budget.spent_by(Spend(99, 10**9, 0.49))
    assert budget.spent_by(Spend(100, 0, 0.0)) and budget.spent_by(Spend(0, 0, 0.5))
    assert budget.overshoot(Spend(130, 5, 0.25)) == {"calls": 30, "usd": 0}
    assert not SearchBudget().limited and not SearchBudget().spent_by(Spend(10**9, 10**9, 1e9))
    with pytest.raises(ValueError, match="calls must be > 0"):
        SearchBudget(calls=0)


def test_a_budget_run_killed_and_resumed_stops_on_the_same_frontier(
    sim_server, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    from run_helpers import REPO, kill_after_frontiers, tree_without_meta

    from drpo.methods.tasks import DEMO_TASK, answer_key, load_task

    # A budget half way through the fifth frontier (measured in process: the same calls).
    _, full = run(tmp_path, "in_process", "--method", "promptagent")
    budget = (full[3]["calls"] + full[4]["calls"]) // 2
    knowledge = answer_key(load_task(DEMO_TASK))
    servers = [sim_server(latency_ms=20, knowledge=knowledge) for _ in range(2)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def args(url: str, log_dir: Path) -> list[str]:
        return [sys.executable, str(REPO / "train.py"), "--method", "promptagent",
                "--budget_calls", str(budget), "--base_base_url", url, "--optimize_base_url", url,
                "--disable_tqdm", "--log_dir", str(log_dir)]  # fmt: skip

    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    proc = subprocess.Popen(args(servers[0].url, crashed), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    kill_after_frontiers(proc, crashed, 2, timeout_s=120)
    for log_dir, extra, server in ((crashed, ["--resume"], servers[0]), (clean, [], servers[1])):
        done = subprocess.run([*args(server.url, log_dir), *extra], env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
    # Answers that reach the killed run after its last checkpoint are in its cache, but not
    # in the spend it recorded: resumed, it counts them as free (fewer than the margin here).
    assert tree_without_meta(crashed) == tree_without_meta(clean)
    reports = [json.loads((d / "summary.json").read_text())["search_budget"]
               for d in (crashed, clean)]  # fmt: skip
    assert reports[0]["frontiers"] == reports[1]["frontiers"] == 5
    assert reports[0]["stopped_on_budget"] and reports[1]["stopped_on_budget"]
    assert reports[0]["search"]["calls"] <= reports[1]["search"]["calls"] == full[4]["calls"]


@pytest.mark.parametrize("method", ["ape", "opro", "protegi"])
def test_the_other_task_methods_stop_on_a_budget_and_trace_their_own_figure(
    tmp_path: Path, method: str
) -> None:
    _, full_trace = run(tmp_path, "full", "--method", method)
    budget = full_trace[0]["calls"] + 1  # spent during the second frontier
    small, trace = run(tmp_path, "small", "--method", method, "--budget_calls", str(budget))
    check_stopped(small["search_budget"], trace, "calls", budget)
    assert len(trace) == 2 < len(full_trace)
    # Each method's own estimate of its best prompt so far: a fraction, never missing.
    assert all(0.0 <= row["best_eval_accuracy"] <= 1.0 for row in full_trace)
