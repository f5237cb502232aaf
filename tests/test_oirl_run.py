"""`python train.py --method oirl` on the released logs: the figures the issue gates on, the
artefacts and results.json, model selection that never reads a test label, and bad input as
one line with exit code 2."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from oirl_helpers import DATA, GSM8K_LOGS, SVAMP_LOGS, needs_data

from drpo.cli import main
from drpo.methods.oirl.commands import main as oirl_main
from drpo.methods.oirl.embed import HashingEmbedder
from drpo.methods.oirl.released import load_gsm8k_like
from drpo.methods.oirl.training import fit_models

pytestmark = needs_data


def _run(tmp_path: Path, name: str, *args: str) -> dict:
    log_dir = tmp_path / name
    code = main(
        [
            "--method",
            "oirl",
            "--log_dir",
            str(log_dir),
            "--disable_tqdm",
            "--oirl_n_boot",
            "500",
            *args,
        ]
    )
    assert code == 0
    return json.loads((log_dir / "results.json").read_text())


def test_gsm8k_reaches_its_gates_and_writes_the_artefacts(tmp_path: Path, capsys) -> None:
    r = _run(
        tmp_path,
        "gsm",
        "--oirl_logs",
        str(GSM8K_LOGS),
        "--questions",
        str(DATA / "gsm8k"),
        "--oirl_models",
        "linear",
    )
    out = capsys.readouterr().out
    assert "best_of_6" in out and "pooled pair AUC" in out
    assert "stop_reason: depth (" in out  # a best-of-N per test query, each run in full
    summary = json.loads((tmp_path / "gsm" / "summary.json").read_text())
    assert summary["stop_reason"] == "depth" and summary["search_bought"]["expansions"] == 1000
    assert r["auc"]["pooled"] >= 0.67 > r["auc"]["prior_only_pooled"]
    best = r["strategies"]["best_of_6"]
    assert best["n_test"] == 1000 and best["diff_vs_best_single"]["mean"] >= -0.01
    assert r["strategies"]["best_single_train"]["accuracy"] == 0.24
    assert r["strategies"]["oracle_6"]["accuracy"] == 0.501
    assert r["strategies"]["oracle_all"]["accuracy"] == 0.648
    for name in ("best_single_train", "best_of_6", "best_of_all", "oracle_6", "oracle_all"):
        row = r["strategies"][name]
        assert set(row["diff_vs_best_single"]) == {"mean", "ci_low", "ci_high"}
        assert row["diff_vs_best_single"]["ci_low"] <= row["diff_vs_best_single"]["mean"]
    assert set(r["auc"]) == {
        "pooled",
        "within_query",
        "prior_only_pooled",
        "prior_only_within_query",
    }
    assert {"load", "embed", "fit", "search", "evaluate", "total"} <= set(r["timings_s"])
    run = tmp_path / "gsm"
    for name in (
        "algo_output/output.pkl",
        "algo_output/output.json",
        "algo_output/trace.txt",
        "reward_model.pkl",
        "choices.jsonl",
        "summary.json",
    ):
        assert (run / name).is_file(), name
    tree = json.loads((run / "algo_output" / "output.json").read_text())
    assert tree["meta"]["method"] == "oirl" and len(tree["nodes"]) == 1 + 20 * 7
    # the saved model chooses prompts for a file of queries, without the logs
    queries = tmp_path / "q.txt"
    queries.write_text("Tom has 3 apples and buys 4 more. How many?\nA train goes 60 km/h.\n")
    capsys.readouterr()
    assert (
        oirl_main(
            [
                "choose",
                "--model",
                str(run / "reward_model.pkl"),
                "--prompts",
                str(GSM8K_LOGS / "prompts.json"),
                "--queries",
                str(queries),
            ]
        )
        == 0
    )
    chosen = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(chosen) == 2 and all(len(c["scores"]) == 16 for c in chosen)
    assert (
        oirl_main(["gate", str(run / "results.json"), "--min_auc", "0.67", "--max_drop", "1.0"])
        == 0
    )
    assert oirl_main(["gate", str(run / "results.json"), "--min_accuracy", "0.9"]) == 1


def test_svamp_dedup_reaches_its_gates(tmp_path: Path) -> None:
    r = _run(
        tmp_path,
        "dedup",
        "--oirl_logs",
        str(SVAMP_LOGS),
        "--split",
        "dedup",
        "--oirl_models",
        "kernel",
    )
    assert r["split"] == "dedup" and not r["leaky"] and r["n_test"] == 4841
    assert r["auc"]["pooled"] >= 0.72
    assert r["strategies"]["best_of_6"]["diff_vs_best_single"]["mean"] >= -0.005
    assert r["strategies"]["best_of_all"]["n_test"] == 1162  # rows with held-out logs
    assert r["strategies"]["duplicate_lookup"]["diff_vs_best_single"]["mean"] == 0.0


def test_svamp_paper_split_is_reported_as_leaky_beside_the_duplicate_lookup(tmp_path: Path) -> None:
    r = _run(
        tmp_path,
        "paper",
        "--oirl_logs",
        str(SVAMP_LOGS),
        "--split",
        "paper",
        "--oirl_models",
        "kernel",
    )
    assert r["leaky"] and r["strategies"]["best_of_6"]["accuracy"] >= 0.665
    lookup = r["strategies"]["duplicate_lookup"]
    assert round(lookup["accuracy"], 3) == 0.677 and lookup["note"].startswith("4690 of 4690")


def test_model_selection_never_reads_a_test_label() -> None:
    data = load_gsm8k_like(GSM8K_LOGS, questions=DATA / "gsm8k")
    e = HashingEmbedder(dim=256)
    q, p = e.embed(list(data.questions)), e.embed([x.text for x in data.prompts])
    labels = data.labels.copy()
    rng = np.random.default_rng(0)
    labels[data.test_rows] = rng.permutation(labels[data.test_rows])
    shuffled = replace(data, labels=labels)
    a, pa = fit_models(data, q, p, kinds=["kernel", "linear"], embedder_key=e.key, seed=0)
    b, pb = fit_models(shuffled, q, p, kinds=["kernel", "linear"], embedder_key=e.key, seed=0)
    assert pa == pb and all(a[k].hyper == b[k].hyper for k in a)
    test_q = q[data.test_rows]
    assert all(np.array_equal(a[k].score(test_q, p), b[k].score(test_q, p)) for k in a)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--oirl_logs", "{t}/missing"], "no logs folder at"),
        (["--oirl_logs", str(SVAMP_LOGS), "--split", "nope"], "no split 'nope'"),
        (["--oirl_logs", str(GSM8K_LOGS)], "give the dataset with --questions"),
        (["--oirl_logs", str(SVAMP_LOGS), "--oirl_models", "forest"], "unknown reward model"),
        ([], "needs --oirl_logs"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys, args, message) -> None:
    filled = [a.format(t=tmp_path) for a in args]
    code = main(["--method", "oirl", "--log_dir", str(tmp_path / "run"), *filled])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_a_reward_model_whose_package_is_missing_is_one_line_naming_the_extra(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "scipy" else real(name, *a))  # fmt: skip
    argv = ["--method", "oirl", "--log_dir", str(tmp_path / "run"), "--oirl_logs", str(SVAMP_LOGS)]
    assert main([*argv, "--oirl_models", "kernel,linear"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs scipy" in err[0] and ".[oirl]" in err[0]
    assert not (tmp_path / "run").exists()
