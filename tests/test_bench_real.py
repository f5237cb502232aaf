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
