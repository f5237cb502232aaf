"""Statistics for claims about prompts: paired differences with a bootstrap CI that
resamples groups of rows (whole groups in or out), since rows of one group (duplicates of a
question, the queries of one template) are correlated. Every row alone is its own group.
Also a two-level bootstrap for means over seeds and test examples (the arena's CIs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedDifference:
    """mean(b - a) over `n` pairs, with its 95% percentile bootstrap CI."""

    n: int
    mean: float
    ci_low: float
    ci_high: float

    def to_json(self) -> dict[str, float | int]:
        return {"n": self.n, "mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high}

    def __str__(self) -> str:
        return f"{self.mean:+.3f} [95% CI {self.ci_low:+.3f}, {self.ci_high:+.3f}] (n={self.n})"


def group_resamples(groups: np.ndarray, *, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap weights: (n_boot x n_groups) counts of each group drawn, and each row's group
    index into them. The same draws serve every comparison made on these rows (paired)."""
    _, index = np.unique(np.asarray(groups), return_inverse=True)
    index = index.reshape(-1)
    n_groups = int(index.max()) + 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(n_boot, n_groups))
    weights = np.zeros((n_boot, n_groups))
    np.add.at(weights, (np.arange(n_boot)[:, None], draws), 1.0)
    return weights, index


def resampled_mean(
    values: np.ndarray, resamples: tuple[np.ndarray, np.ndarray]
) -> tuple[float, float, float]:
    """The mean of `values` (one per row) and its 95% percentile interval over `resamples`."""
    weights, index = resamples
    n_groups = weights.shape[1]
    sums = np.bincount(index, weights=np.asarray(values, float), minlength=n_groups)
    size = np.bincount(index, minlength=n_groups).astype(float)
    boot = (weights @ sums) / (weights @ size)
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(sums.sum() / size.sum()), float(low), float(high)


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    seed: int = 0,
    resamples: int = 2000,
    groups: Sequence[object] | None = None,
) -> PairedDifference:
    """How much `b` beats `a`, pair by pair (the same queries or examples under two prompts),
    resampling `groups` of pairs (default: each pair alone)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    if len(a) == 0:
        return PairedDifference(0, float("nan"), float("nan"), float("nan"))
    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    keys = np.arange(len(diffs)) if groups is None else np.asarray(groups)
    draws = group_resamples(keys, n_boot=resamples, seed=seed)
    mean, low, high = resampled_mean(diffs, draws)
    return PairedDifference(len(diffs), mean, low, high)


@dataclass(frozen=True)
class Estimate:
    """A mean with its 95% percentile bootstrap CI, over `groups` groups of `n` rows."""

    mean: float
    ci_low: float
    ci_high: float
    groups: int
    n: int

    def to_json(self) -> dict[str, float | int]:
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "groups": self.groups, "n": self.n}  # fmt: skip

    def __str__(self) -> str:
        return f"{self.mean:.3f} [{self.ci_low:.3f}, {self.ci_high:.3f}]"


def two_level_bootstrap(
    groups: Sequence[Sequence[float]], *, seed: int = 0, resamples: int = 2000
) -> Estimate:
    """The mean of the group means (every group weighs the same: e.g. the runs of one method
    with different seeds, each scored on its own test examples) with a 95% CI from a
    two-level bootstrap: draw groups with replacement, then rows within each drawn group
    (a group drawn twice gets two independent draws of its rows). It counts both sources of
    variation, between seeds and between test examples. Empty groups are left out."""
    arrays = [np.asarray(g, dtype=float) for g in groups if len(g)]
    n = sum(len(a) for a in arrays)
    if not arrays:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, 0)
    rng = np.random.default_rng(seed)
    k = len(arrays)
    picks = rng.integers(0, k, size=(resamples, k))
    inner = np.empty((resamples, k))
    for index, values in enumerate(arrays):
        chosen = picks == index
        count = int(chosen.sum())
        if count:
            draws = rng.integers(0, len(values), size=(count, len(values)))
            inner[chosen] = values[draws].mean(axis=1)
    low, high = np.percentile(inner.mean(axis=1), [2.5, 97.5])
    mean = float(np.mean([a.mean() for a in arrays]))
    return Estimate(mean, float(low), float(high), k, n)
