"""`python -m bench.real`, the real-model benchmark, run end to end on the simulated LLM (its
`--simulated` mode): every run's figures, their labels, and a re-scoring from the caches with
no model at all that gives the same figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import real
from drpo.methods.tasks import load_task

pytestmark = pytest.mark.skipif(
    not (real.SHARED / "bigbench").is_dir(),
    reason=f"needs the project's data: {real.SHARED / 'bigbench'} is absent (bench.real reads "
    "../shared/data beside the checkout)",
)


@pytest.fixture(scope="module")
def quick_sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("bench-sim")
    assert real.main(["--quick", "--simulated", "--work", str(work)]) == 0
    return work


def test_every_run_reports_initial_final_and_a_paired_ci_labelled_simulated(quick_sim: Path):
    report = json.loads((quick_sim / "results.json").read_text())
    assert report["simulated"] is True and report["real"] is False and report["model"] == "sim"
    runs, _ = real.plan(quick=True)
    assert [r["run"] for r in report["runs"]] == [r.name for r in runs]
    for row in report["runs"]:
        assert "error" not in row, row
        d = row["diff"]
        assert d["ci_low"] <= d["mean"] <= d["ci_high"]
        assert d["mean"] == pytest.approx(row["final"] - row["initial"], abs=1e-6)
        assert row["n"] >= 1 and row["final_prompt"]
        assert row["calls"] + row["cache_hits"] > 0 and 0 <= row["cache_share"] <= 1
        if row["method"] in ("promptagent", "gpo"):  # what each prompt answered, counted
            counts = row["answer_counts"]
            for side in ("gold", "initial", "final"):
                assert sum(counts[side].values()) == row["n"]
            answers = json.loads((quick_sim / row["run"] / "test_answers.json").read_text())
            assert len(answers["answers"]) == row["n"]
            majority = row["majority_answer"]
            assert majority["accuracy"] == max(counts["gold"].values()) / row["n"]
    timing = report["timing"]
    assert timing["default"]["calls"] > 0 and timing["one_at_a_time"]["calls"] > 0
    assert timing["same_final_prompt"] is True  # the order of the calls changes no answer


def test_reuse_rescores_every_run_offline_with_the_same_figures(quick_sim: Path, tmp_path):
    again = tmp_path / "again"
    assert real.main(["--quick", "--reuse", str(quick_sim), "--work", str(again)]) == 0
    before = json.loads((quick_sim / "results.json").read_text())
    after = json.loads((again / "results.json").read_text())
    assert after["simulated"] is True and after["rescoring_differs"] == []
    for old, new in zip(before["runs"], after["runs"], strict=True):
        assert (new["initial"], new["final"], new["diff"]) == (old["initial"], old["final"],
                                                               old["diff"])  # fmt: skip
        if new["method"] != "oirl":
            assert new["calls"] == 0 and new["cache_share"] == 1.0  # no model was asked


def test_a_rescoring_that_differs_is_reported():
    old = {"runs": [{"run": "gpo-x", "initial": 0.3, "final": 0.5, "n": 60, "diff": {},
                     "final_prompt": "p"}]}  # fmt: skip
    new = [{**old["runs"][0], "final": 0.4}]
    assert real.compare(old, new) == ["gpo-x: final 0.5 re-scored as 0.4"]


def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path, capsys):
    assert real.main(["--reuse", str(tmp_path / "nowhere")]) == 2
    assert real.main(["--simulated", "--runs", "no-such-run", "--work", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("bench.real: ") for line in err)


@pytest.mark.parametrize("quick", [True, False])
def test_the_planned_splits_fit_the_real_task_files(quick: bool):
    runs, timed = real.plan(quick)
    for run in [*runs, timed]:
        if run is None or run.task is None:
            continue
        options = dict(zip(run.options[::2], run.options[1::2]))
        task = load_task(run.task, data_dir=real.SHARED / "bigbench",
                         eval_size=int(options["--eval_size"]),
                         test_size=int(options["--test_size"]), seed=real.SEED)  # fmt: skip
        assert len(task.train) >= 1


needs_bbh = pytest.mark.skipif(
    not (real.SHARED / "bbh").is_dir(), reason="needs ../shared/data/bbh"
)


@needs_bbh
def test_round2_plans_every_method_on_three_tasks_with_big_enough_splits():
    """The committed probe picked at least three tasks; each gets PromptAgent, APE and OPRO
    with eval >= 50 and test >= 150 questions, and their splits fit the BBH files."""
    tasks = real.round2_tasks(None)
    assert len(tasks) >= 3
    first, *later = real.round2_phases(tasks)
    runs = first[1]
    assert {(r.method, r.task) for r in runs} == {
        (m, t) for m in ("promptagent", "ape", "opro") for t in tasks
    }
    for run in runs:
        options = dict(zip(run.options[::2], run.options[1::2]))
        assert int(options["--eval_size"]) >= 50 and int(options["--test_size"]) >= 150
        task = load_task(run.task, data_dir=real.SHARED / "bbh", seed=run.seed,
                         eval_size=int(options["--eval_size"]),
                         test_size=int(options["--test_size"]))  # fmt: skip
        assert len(task.train) >= 30  # OPRO scores its instructions on 30 training questions
    # the later seeds go to the task whose seed 0 gained most
    rows = [
        {"task": t, "seed": 0, "diff": {"mean": gain}} for t, gain in zip(tasks, (0.0, 0.1, -0.1))
    ]
    seed1 = later[0][1](rows)
    assert {r.task for r in seed1} == {tasks[1]} and {r.seed for r in seed1} == {1}
    assert {r.method for r in seed1} == {"promptagent", "ape", "opro"}


@needs_bbh
def test_round2_on_the_simulated_llm_reports_format_shares_and_rescores(tmp_path: Path):
    """Seed 0 runs on one of the two tasks only, so that seed 1 goes to that task."""
    work, again = tmp_path / "r2", tmp_path / "r2-again"
    chosen = ["promptagent-sports_understanding-s0", "opro-sports_understanding-s0",
              "ape-sports_understanding-s0", "promptagent-sports_understanding-s1"]  # fmt: skip
    argv = ["--plan", "round2", "--simulated", "--tasks", "sports_understanding,hyperbaton",
            "--runs", ",".join(chosen)]  # fmt: skip
    assert real.main([*argv, "--work", str(work), "--jobs", "2"]) == 0
    report = json.loads((work / "results.json").read_text())
    assert str(real.ROOT.parent) not in (work / "results.json").read_text()
    assert report["mode"] == "round2" and report["simulated"] is True
    rows = {r["run"]: r for r in report["runs"]}
    assert set(rows) == set(chosen)
    for row in rows.values():
        answers = json.loads((work / row["run"] / "test_answers.json").read_text())["answers"]
        assert row["n"] == len(answers) == 150
        share = sum(a["final"]["in_format"] for a in answers) / len(answers)
        assert row["final_format_share"] == pytest.approx(share, abs=1e-4)
        assert 0 < row["majority_answer"]["accuracy"] < 1
        assert {k.split(" ")[0] for k in row["per_role"]} == {"base", "optimize"}
    pooled = {(g["method"], g["task"]): g for g in report["by_method_task"]}
    assert pooled["promptagent", "sports_understanding"]["seeds"] == [0, 1]
    assert pooled["opro", "sports_understanding"]["seeds"] == [0]
    # the Markdown tables of the README and the docs, labelled with the figures' kind
    from bench import real_report

    tables = real_report.markdown(report)
    assert tables.startswith("SIMULATED:") and "REAL" not in tables
    assert all(f"| {name.split('-')[0]} · sports_understanding | {name[-1]} | 150 |" in tables
               for name in chosen)  # fmt: skip
    assert "| promptagent | sports_understanding | 0, 1 |" in tables
    # a second start finds every run finished and asks nothing
    assert real.main([*argv, "--work", str(work)]) == 0
    assert all(r.get("finished_before") for r in json.loads(
        (work / "results.json").read_text())["runs"])  # fmt: skip
    # --reuse re-scores from the caches alone, with the same figures
    assert real.main(["--plan", "round2", "--reuse", str(work), "--work", str(again)]) == 0
    rescored = json.loads((again / "results.json").read_text())
    assert rescored["rescoring_differs"] == [] and len(rescored["runs"]) == len(chosen)


def test_parallel_runs_never_share_a_cache_at_once_and_keep_the_plans_order(monkeypatch):
    """--jobs N: runs of different caches run at once, those of one cache one after another
    in the plan's order, and every run is reported once."""
    import threading
    import time

    both_first = threading.Barrier(2, timeout=60)  # broken unless both tasks run at once
    lock = threading.Lock()
    active: set[str] = set()
    started: list[str] = []

    def fake_run(bench, run):
        with lock:
            assert run.cache not in active, "two runs of one cache at once"
            active.add(run.cache)
            started.append(run.name)
        if run.method == "promptagent":  # the first run of each task
            both_first.wait()
        time.sleep(0.05)
        with lock:
            active.discard(run.cache)
        return {"run": run.name}

    monkeypatch.setattr(real, "one_run", fake_run)
    runs = [real.round2_run(m, t, 0) for t in ("a", "b") for m in ("promptagent", "ape", "opro")]
    reported: list[str] = []
    real.run_phase(None, runs, jobs=2, started=time.perf_counter(),
                   done=lambda run, row: reported.append(row["run"]))  # fmt: skip
    assert sorted(reported) == sorted(r.name for r in runs)
    for task in ("a", "b"):
        mine = [r.name for r in runs if r.task == task]
        assert [name for name in started if name in mine] == mine  # the plan's order


def test_parallel_runs_split_the_cores_between_their_servers():
    assert real.server_threads(1, servers=2, cpus=2) is None  # one run splits its own
    assert real.server_threads(2, servers=2, cpus=2) == 1
    assert real.server_threads(2, servers=2, cpus=16) == 4
    assert real.server_threads(3, servers=1, cpus=2) == 1  # never fewer than one


def test_no_committed_benchmark_result_holds_a_machines_path():
    """The results under bench/ name data and folders relative to the repository."""

    def strings(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)
        elif isinstance(value, str):
            yield value

    for path in sorted((real.ROOT / "bench").rglob("*.json")):
        absolute = [s for s in strings(json.loads(path.read_text())) if s.startswith("/")]
        assert not absolute, f"{path.name}: {absolute[:3]}"


def test_the_report_of_a_file_that_is_no_benchmark_is_one_line_and_exit_2(tmp_path, capsys):
    from bench import real_report

    bad = tmp_path / "x.json"
    bad.write_text("[1, 2]")
    assert real_report.main([str(bad)]) == 2
    assert real_report.main([str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("bench.real_report: ") for line in err)
