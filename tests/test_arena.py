"""`python -m bench.arena` on the simulated LLM: a tiny grid end to end, resumed without
redoing a run; its statistics on hand-made cases; its report escaped and drawn; bad flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from run_helpers import REPO

from bench.arena import plots
from bench.arena.cli import main, task_prompt_methods
from bench.arena.collect import RunRecord, TracePoint
from bench.arena.grid import Cell
from bench.arena.report import render
from bench.arena.results import summarise
from drpo.methods.runner import SIMULATED_FIGURES
from drpo.stats import group_resamples, resampled_mean, two_level_bootstrap

TINY = ["--seeds", "0", "1", "--budget_calls", "200", "--test_size", "20", "--eval_size", "10",
        "--workers", "2"]  # fmt: skip


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("arena") / "grid"
    code, text = _main(["--out", str(out), *TINY])
    assert code == 0, text
    return out, text


def _main(args: list[str]) -> tuple[int, str]:
    from contextlib import redirect_stdout
    from io import StringIO

    buffer = StringIO()
    with redirect_stdout(buffer):
        code = main(args)
    return code, buffer.getvalue()


def test_a_tiny_grid_writes_its_table_json_report_and_figures(grid: tuple[Path, str]) -> None:
    out, text = grid
    methods = task_prompt_methods()
    assert {"promptagent", "gpo"} <= set(methods)
    assert "SIMULATED" in text and "test acc [95% CI]" in text
    assert text.splitlines()[-2] == SIMULATED_FIGURES  # under the ranking, before the files
    rows = [line.split() for line in text.splitlines() if line.startswith("demo ")]
    assert [row[1] for row in rows] == methods and all(row[2] == "2/2" for row in rows)
    data = json.loads((out / "arena_results.json").read_text())
    assert data["simulated"] is True and data["label"] == "SIMULATED LLM"
    assert [r["method"] for r in data["results"]] == methods
    assert len(data["runs"]) == 2 * len(methods) and all(r["ok"] for r in data["runs"])
    for result in data["results"]:
        acc = result["test_accuracy"]
        assert acc["ci_low"] <= acc["mean"] <= acc["ci_high"] and acc["groups"] == 2
        assert acc["n"] == 40  # 2 seeds x 20 test examples
        assert result["stopped_on_budget"] == 2 and result["search_calls"] >= 200
        assert result["accuracy_per_1k_calls"] == pytest.approx(
            acc["mean"] / result["search_calls"] * 1000
        )
    assert sorted(data["ranking"]["demo"]) == sorted(methods)
    # Every run is a normal train.py run in its own log_dir, stopped by its budget.
    for run in data["runs"]:
        summary = json.loads((Path(run["log_dir"]) / "summary.json").read_text())
        assert summary["search_budget"]["stopped_on_budget"] is True
        assert (Path(run["log_dir"]) / "algo_output" / "output.json").exists()
    # The pictures: standalone SVG files, labelled, also inlined in the report.
    html = (out / "report.html").read_text()
    assert "SIMULATED" in html and "http://" not in html.replace("http://www.w3.org", "")
    for name in data["figures"]:
        svg = (out / name).read_text()
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg") and "SIMULATED LLM" in svg
        assert svg.split("\n", 1)[1][:200] in html
    curves = data["plots"]["anytime"]["demo"]
    assert all(len(c["points"]) >= 1 for c in curves)


def test_a_rerun_redoes_nothing(grid: tuple[Path, str]) -> None:
    out, _ = grid
    before = json.loads((out / "arena_results.json").read_text())
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/summary.json")}
    code, text = _main(["--out", str(out), *TINY])
    assert code == 0
    assert text.count("done before") == len(before["runs"])
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/summary.json")} == stamps
    after = json.loads((out / "arena_results.json").read_text())
    assert after["results"] == before["results"]


def test_another_budget_in_the_same_folder_is_refused(grid: tuple[Path, str]) -> None:
    out, _ = grid
    args = [a if a != "200" else "300" for a in TINY]
    proc = _cli("--out", str(out), *args)
    assert proc.returncode == 2 and "other settings" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "bench.arena", *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=120)  # fmt: skip


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "drpo"], "unknown method 'drpo'"),
        (["--budget_calls", "0"], "must be > 0"),
        (["--seeds", "one"], "invalid int value"),
        (["--tasks", "no_such_task"], "no_such_task"),
        (["--workers", "0"], "--workers must be >= 1"),
        (["--seeds", "1", "1"], "the same value twice"),
        (["--no_such_flag"], "unrecognized arguments"),
        (["--ray", "127.0.0.1:1", "--seeds", "0"], "Ray"),  # unreachable, or not installed
    ],
)
def test_bad_flags_get_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    proc = _cli("--out", str(tmp_path / "out"), *args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


def test_the_two_level_bootstrap_on_hand_made_cases() -> None:
    # Two seeds, constant within each: only the draw of seeds varies. Drawn with replacement,
    # the mean is 0, 0.5 or 1 with chances 1/4, 1/2, 1/4: the 95% interval is [0, 1].
    est = two_level_bootstrap([[1, 1], [0, 0]], resamples=4000)
    assert (est.mean, est.ci_low, est.ci_high, est.groups, est.n) == (0.5, 0.0, 1.0, 2, 4)
    # One seed: only the examples vary; the same two-point case gives [0, 1] too.
    one = two_level_bootstrap([[1, 0]], resamples=4000)
    assert (one.mean, one.ci_low, one.ci_high) == (0.5, 0.0, 1.0)
    # Seeds weigh the same, whatever their number of examples.
    assert two_level_bootstrap([[1] * 10, [0, 0]]).mean == 0.5
    # Constant everywhere: no uncertainty.
    flat = two_level_bootstrap([[0.7] * 5] * 3)
    assert flat.ci_low == pytest.approx(0.7) and flat.ci_high == pytest.approx(0.7)


def test_the_two_level_interval_counts_the_spread_between_seeds() -> None:
    # Six seeds that disagree (three all right, three all wrong), 100 examples each: an
    # interval over the 600 examples alone would be narrow; the two-level one is not.
    groups = [[1.0] * 100] * 3 + [[0.0] * 100] * 3
    pooled = resampled_mean(np.concatenate(groups), group_resamples(np.arange(600), n_boot=2000,
                                                                   seed=0))  # fmt: skip
    two = two_level_bootstrap(groups)
    assert pooled[2] - pooled[1] < 0.1
    assert two.ci_high - two.ci_low > 0.5 and two.mean == 0.5


def test_the_anytime_curve_is_the_mean_of_step_functions() -> None:
    def record(seed: int, points: list[tuple[int, float]]) -> RunRecord:
        trace = tuple(TracePoint(c, 0, 0.0, b) for c, b in points)
        return RunRecord(Cell("m", "demo", seed), Path("."), True, trace=trace)

    a = record(0, [(100, 0.2), (200, 0.5)])
    b = record(1, [(150, 0.4), (300, 0.6)])
    curve = plots.anytime_curve("m", [a, b])
    # At 100 only run a has a figure; from 150 on, both: 0.3, then 0.45 at 200, 0.55 at 300.
    assert [x for point in curve.points for x in point] == pytest.approx(
        [150.0, 0.3, 200.0, 0.45, 300.0, 0.55]
    )
    assert plots.value_at([(100, 0.2)], 99) is None


def test_the_report_escapes_llm_text(tmp_path: Path) -> None:
    evil = '</pre><script>alert("x")</script><img src=x onerror=alert(1)>'
    record = RunRecord(Cell("m<i>", "demo", 0), tmp_path / "run", True,
                       initial_correct=(0.0, 1.0), final_correct=(1.0, 1.0), final_prompt=evil,
                       trace=(TracePoint(10, 5, 0.0, 0.5),))  # fmt: skip
    results = summarise([record], methods=["m<i>"], tasks=["demo"])
    page = render(title="t", settings_text="s", simulated=True, results=results,
                  rankings={"demo": ["m<i>"]}, figures={}, records=[record],
                  out=tmp_path)  # fmt: skip
    assert "<script" not in page and "<img" not in page and "<i>" not in page
    assert "&lt;script&gt;" in page and "m&lt;i&gt;" in page


def test_over_http_the_budget_counts_the_calls_the_server_answered(
    sim_server, tmp_path: Path
) -> None:
    from drpo.methods.tasks import DEMO_TASK, answer_key, load_task

    server = sim_server(knowledge=answer_key(load_task(DEMO_TASK)))
    out = tmp_path / "grid"
    code, text = _main(["--out", str(out), "--methods", "promptagent", "gpo", "--seeds", "0",
                        "--budget_calls", "150", "--test_size", "10", "--eval_size", "10",
                        "--base_url", server.url])  # fmt: skip
    assert code == 0, text
    data = json.loads((out / "arena_results.json").read_text())
    runs = data["runs"]
    assert all(r["ok"] and r["search"]["calls"] >= 150 for r in runs)
    paid = sum(r["search"]["calls"] + r["test_calls"] for r in runs)
    assert paid == server.stats()["requests"]
    assert data["label"] == "SIMULATED LLM"  # a simulated model, even over HTTP


def test_a_failed_run_is_reported_not_dropped(tmp_path: Path) -> None:
    out = tmp_path / "grid"
    proc = _cli("--out", str(out), "--methods", "gpo", "--seeds", "0", "--job_retries", "0",
                "--base_url", "http://127.0.0.1:9/v1", "--max_retries", "0",
                "--api_key_env", "ARENA_TEST_NO_KEY")  # fmt: skip
    assert proc.returncode == 1 and "failed: gpo__demo__s0" in proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads((out / "arena_results.json").read_text())
    (run,) = data["runs"]
    assert run["ok"] is False and "Connection" in run["error"]
    assert data["results"][0]["failed"] == 1
    assert "failed:" in (out / "report.html").read_text()
