"""Prompt-OIRL's offline data: both released layouts load aligned with their questions, the
splits are what they claim (the dedup split has no question on both sides; the paper split
leaks every test question), and bad input gets one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from oirl_helpers import DATA, GSM8K_LOGS, SVAMP_LOGS, needs_data, tiny_svamp

from drpo.methods.oirl.logs import LogError
from drpo.methods.oirl.released import load_gsm8k_like, load_svamp_like
from drpo.methods.oirl.strategies import evaluate


@needs_data
def test_gsm8k_logs_become_training_then_test_rows() -> None:
    data = load_gsm8k_like(GSM8K_LOGS, questions=DATA / "gsm8k")
    assert data.labels.shape == (7473 + 1000, 16)
    assert len(data.training) == 6 and len(data.held_out) == 10
    # held-out prompts were only run on the test questions
    assert np.isnan(data.labels[data.train_rows][:, data.held_out]).all()
    assert not np.isnan(data.labels[data.test_rows]).any()
    first_test = json.loads((DATA / "gsm8k" / "test.jsonl").read_text().splitlines()[0])
    assert data.questions[data.test_rows[0]] == first_test["question"]


@needs_data
@pytest.mark.parametrize(
    ("split", "best_single", "oracle_6", "oracle_all"),
    [("paper", 0.637, 0.837, 0.907), ("dedup", 0.627, 0.824, 0.897)],
)
def test_svamp_splits_give_the_reference_figures(
    split: str, best_single: float, oracle_6: float, oracle_all: float
) -> None:
    data = load_svamp_like(SVAMP_LOGS, split=split)
    picks = evaluate(data, {}, primary="none")
    assert round(picks["best_single_train"].correct.mean(), 3) == best_single
    assert round(picks["oracle_6"].correct.mean(), 3) == oracle_6
    assert round(picks["oracle_all"].correct.mean(), 3) == oracle_all


@needs_data
def test_the_dedup_split_keeps_groups_apart_and_the_paper_split_leaks() -> None:
    dedup = load_svamp_like(SVAMP_LOGS, split="dedup")
    paper = load_svamp_like(SVAMP_LOGS, split="paper")
    assert not set(dedup.groups[dedup.train_rows]) & set(dedup.groups[dedup.test_rows])
    leaked = np.isin(paper.groups[paper.test_rows], paper.groups[paper.train_rows])
    assert leaked.all()  # every paper-split test question also occurs in train
    assert (len(dedup.train_rows), len(dedup.test_rows)) == (14849, 4841)


def test_a_tiny_svamp_like_folder_loads(tmp_path: Path) -> None:
    data = load_svamp_like(tiny_svamp(tmp_path / "s"), split="dedup")
    assert data.labels.shape == (6, 3)
    assert np.isnan(data.labels[:4, 2]).all() and not np.isnan(data.labels[4:, 2]).any()


def _edit(folder: Path, name: str, change) -> None:
    path = folder / name
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "logs" / "x_corr_b.txt").unlink(), "missing log file"),
        (
            lambda f: (f / "logs" / "x_corr_h.txt").write_text("(0, True)\n(1, True)\n(2, True)\n"),
            "run past the 6 questions",
        ),
        (
            lambda f: _edit(f, "splits/dedup.json", lambda s: {**s, "test": [4, 5, 99]}),
            "test names row 99, outside the 6 rows",
        ),
        (
            lambda f: _edit(f, "splits/dedup.json", lambda s: {**s, "test": [3, 4]}),
            "row 3 is on both sides",
        ),
        (lambda f: _edit(f, "prompts.json", lambda p: {**p, "prompts": []}), "lists no prompts"),
        (lambda f: (f / "questions.jsonl").write_text(""), "holds no questions"),
        (
            lambda f: (f / "logs" / "x_corr_a.txt").write_text("(0, True)\n(2, False)\n"),
            "has index 2, expected 1",
        ),
    ],
)
def test_bad_svamp_like_input_gets_one_clear_error(tmp_path: Path, damage, message: str) -> None:
    folder = tiny_svamp(tmp_path / "s")
    damage(folder)
    with pytest.raises(LogError, match=message):
        load_svamp_like(folder, split="dedup")


def test_an_unknown_split_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(LogError, match=r"no split 'nope'.*known: dedup"):
        load_svamp_like(tiny_svamp(tmp_path / "s"), split="nope")
