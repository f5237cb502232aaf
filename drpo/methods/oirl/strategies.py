"""Prompt-selection strategies, scored offline as the paper scores them: a strategy picks one
prompt per test query, and scores the logged outcome of that prompt on that query."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drpo.methods.oirl.data import OfflineData

#: The paper's fallback: when the reward model expects every candidate to fail (no score
#: reaches this), use the best prompt on the training logs instead.
FALLBACK_THRESHOLD = 0.5


@dataclass(frozen=True)
class Picks:
    """One strategy's outcome: the rows it was scored on (indices into the test rows) and
    whether its chosen prompt solved each."""

    rows: np.ndarray
    correct: np.ndarray
    note: str = ""


def preference(prior: np.ndarray) -> np.ndarray:
    """Columns from the highest training accuracy down (ties: the earlier column first): the
    order candidates are offered in, so that equal scores go to the better prompt."""
    return np.argsort(-np.asarray(prior), kind="stable")


def best_of(scores: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """The column of the highest score per row; among equal scores, the first in
    `preference(prior)` order (exactly what best-of-N over candidates in that order takes)."""
    order = preference(prior)
    return order[np.argmax(scores[:, order], axis=1)]


def with_fallback(scores: np.ndarray, prior: np.ndarray, *, threshold: float) -> np.ndarray:
    picks = best_of(scores, prior)
    fallback = scores.max(axis=1) < threshold
    return np.where(fallback, int(np.argmax(prior)), picks)


def training_accuracy(data: OfflineData) -> np.ndarray:
    """Each training prompt's accuracy on the training rows (the prior)."""
    return np.nanmean(data.labels[np.ix_(data.train_rows, data.training)], axis=0)


def duplicate_lookup(data: OfflineData, prior: np.ndarray) -> tuple[np.ndarray, int]:
    """Per test row, the training prompt that did best on the training rows of the same
    question group (ties and rows without a duplicate: the best prompt on train). Returns the
    picks (columns of `data.training`) and how many test rows had a duplicate in train."""
    train_labels = data.labels[np.ix_(data.train_rows, data.training)]
    by_group: dict[int, list[int]] = {}
    for i, g in enumerate(data.groups[data.train_rows]):
        by_group.setdefault(int(g), []).append(i)
    picks = np.full(len(data.test_rows), int(np.argmax(prior)))
    found = 0
    for k, g in enumerate(data.groups[data.test_rows]):
        rows = by_group.get(int(g))
        if rows:
            found += 1
            picks[k] = best_of(train_labels[rows].mean(axis=0)[None, :], prior)[0]
    return picks, found


def _outcome(labels: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    return labels[rows, columns].astype(bool)


def evaluate(
    data: OfflineData,
    scores: dict[str, np.ndarray],
    *,
    primary: str,
    threshold: float = FALLBACK_THRESHOLD,
) -> dict[str, Picks]:
    """Every strategy on the test rows. `scores[kind]` holds a model's scores for the test
    rows x every prompt (training then held-out, in `data.prompts` order); `primary` is the
    model behind the unsuffixed names (best_of_6, best_of_all, fallback_6)."""
    test = data.labels[data.test_rows]
    train_cols = np.array(data.training)
    prior = training_accuracy(data)
    k = len(train_cols)
    every = np.arange(len(data.test_rows))
    logged_all = np.flatnonzero(~np.isnan(test).any(axis=1))
    best = int(np.argmax(prior))
    out: dict[str, Picks] = {}
    for j, prompt in enumerate(data.prompts):
        rows = np.flatnonzero(~np.isnan(test[:, j]))
        out[f"single_{prompt.alias}"] = Picks(rows, test[rows, j].astype(bool))
    out["best_single_train"] = Picks(
        every,
        test[:, train_cols[best]].astype(bool),
        f"{data.prompts[train_cols[best]].alias}, chosen on train",
    )
    out[f"oracle_{k}"] = Picks(every, test[:, train_cols].max(axis=1).astype(bool))
    if len(data.held_out) and logged_all.size:
        out["oracle_all"] = Picks(logged_all, test[logged_all].max(axis=1).astype(bool))
    # the whole prompt list's prior: held-out prompts have none, so they rank below
    prior_all = np.full(len(data.prompts), -1.0)
    prior_all[train_cols] = prior
    for kind, s in scores.items():
        names = [f"best_of_{k}_{kind}", f"best_of_all_{kind}", f"fallback_{k}_{kind}"]
        if kind == primary:
            names = [f"best_of_{k}", "best_of_all", f"fallback_{k}"] + names
        picks6 = train_cols[best_of(s[:, train_cols], prior)]
        fall6 = train_cols[with_fallback(s[:, train_cols], prior, threshold=threshold)]
        for name in names:
            if name.startswith("best_of_all"):
                if not len(data.held_out) or not logged_all.size:
                    continue
                rows = logged_all
                chosen = best_of(s[rows], prior_all)
                out[name] = Picks(
                    rows,
                    _outcome(test, rows, chosen),
                    f"{kind}; {int(np.isin(chosen, data.held_out).sum())} held-out picks",
                )
            elif name.startswith("fallback"):
                used = int((s[:, train_cols].max(axis=1) < threshold).sum())
                out[name] = Picks(
                    every, _outcome(test, every, fall6), f"{kind}; fell back on {used} queries"
                )
            else:
                out[name] = Picks(every, _outcome(test, every, picks6), kind)
    if len(np.unique(data.groups)) < len(data.groups):
        picks, found = duplicate_lookup(data, prior)
        out["duplicate_lookup"] = Picks(
            every,
            _outcome(test, every, train_cols[picks]),
            f"{found} of {len(every)} test queries have a duplicate in train",
        )
    return out
