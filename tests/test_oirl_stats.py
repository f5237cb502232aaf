"""The statistics behind every figure: AUCs as scikit-learn computes them, and a paired
bootstrap that resamples question groups (duplicates are correlated, so treating them as
independent rows would make the interval too narrow)."""

from __future__ import annotations

import numpy as np
import pytest

from drpo.methods.oirl.stats import auc, group_resamples, paired_difference, within_query_auc


def test_auc_matches_scikit_learn_with_ties() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=300).astype(float)  # many ties
    labels = rng.random(300) < 0.3
    assert auc(scores, labels) == pytest.approx(sklearn_metrics.roc_auc_score(labels, scores))
    assert np.isnan(auc(scores, np.ones(300, bool)))


def test_within_query_auc_ranks_prompts_per_query() -> None:
    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 1]], bool)  # the last query has no contrast
    right = np.array([[0.9, 0.1, 0.2], [0.1, 0.8, 0.3], [0.5, 0.5, 0.5]])
    wrong = 1.0 - right
    assert within_query_auc(right, labels) == 1.0
    assert within_query_auc(wrong, labels) < 0.5


def test_a_strategy_equal_to_the_baseline_has_a_zero_interval() -> None:
    rng = np.random.default_rng(1)
    base = (rng.random(200) < 0.5).astype(float)
    draws = group_resamples(np.arange(200), n_boot=500, seed=0)
    d = paired_difference(base.astype(bool), base, draws)
    assert (d.mean, d.ci_low, d.ci_high) == (0.0, 0.0, 0.0)


def test_resampling_groups_widens_the_interval_of_duplicated_questions() -> None:
    rng = np.random.default_rng(2)
    # 100 questions, each asked 5 times with the same outcome difference
    per_question = rng.choice([-1.0, 0.0, 1.0], size=100, p=[0.2, 0.5, 0.3])
    diff = np.repeat(per_question, 5)
    groups = np.repeat(np.arange(100), 5)
    base = np.full(500, 0.5)
    correct = base + diff / 2  # 0, 0.5 or 1; the mean difference is diff.mean() / 2
    by_group = paired_difference(correct, base, group_resamples(groups, n_boot=2000, seed=0))
    by_row = paired_difference(correct, base, group_resamples(np.arange(500), n_boot=2000, seed=0))
    assert by_group.mean == pytest.approx(diff.mean() / 2)
    width_group = by_group.ci_high - by_group.ci_low
    width_row = by_row.ci_high - by_row.ci_low
    assert width_group > 1.8 * width_row  # about sqrt(5) wider
    assert by_group.ci_low < by_group.mean < by_group.ci_high
