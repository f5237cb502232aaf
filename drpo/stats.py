"""Statistics for claims about prompts: paired differences with a bootstrap CI."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedDifference:
    """mean(b - a) over `n` pairs, with a 95% percentile bootstrap CI (resampling pairs)."""

    n: int
    mean: float
    ci_low: float
    ci_high: float

    def to_json(self) -> dict[str, float | int]:
        return {"n": self.n, "mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high}

    def __str__(self) -> str:
        return f"{self.mean:+.3f} [95% CI {self.ci_low:+.3f}, {self.ci_high:+.3f}] (n={self.n})"


def paired_difference(
    a: Sequence[float], b: Sequence[float], *, seed: int = 0, resamples: int = 2000
) -> PairedDifference:
    """How much `b` beats `a`, pair by pair (the same queries or examples under two prompts)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if len(diffs) == 0:
        return PairedDifference(0, float("nan"), float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
    means = diffs[picks].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return PairedDifference(len(diffs), float(diffs.mean()), float(low), float(high))
