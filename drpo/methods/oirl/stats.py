"""What a reviewer asks of the figures: paired bootstrap CIs that resample question groups,
and ROC AUCs (pooled over pairs, and within each query), all in numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drpo.stats import group_resamples, resampled_mean

__all__ = ["Interval", "auc", "group_resamples", "paired_difference", "within_query_auc"]


@dataclass(frozen=True)
class Interval:
    mean: float
    ci_low: float
    ci_high: float


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC (ties count one half); NaN when only one class is present."""
    scores, labels = np.asarray(scores, float).ravel(), np.asarray(labels, bool).ravel()
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    return float((ranks[labels].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def within_query_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The mean, over queries with both a success and a failure among their prompts, of the
    AUC of the scores across that query's prompts: how well prompts are ranked per query."""
    values = []
    for s, y in zip(np.asarray(scores), np.asarray(labels, bool)):
        if 0 < y.sum() < len(y):
            values.append(auc(s, y))
    return float(np.mean(values)) if values else float("nan")


def paired_difference(
    correct: np.ndarray, baseline: np.ndarray, resamples: tuple[np.ndarray, np.ndarray]
) -> Interval:
    """The accuracy difference `correct - baseline` (one 0/1 per row) with its 95% percentile
    interval, resampling the rows' groups (whole groups in or out)."""
    return Interval(*resampled_mean(np.asarray(correct, float) - baseline, resamples))
