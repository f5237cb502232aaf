"""Paired differences with a bootstrap CI (drpo.stats), the figures every run reports."""

from __future__ import annotations

import math

import pytest

from drpo.stats import paired_difference


def test_no_difference_and_a_constant_one() -> None:
    same = paired_difference([1, 0, 1, 1], [1, 0, 1, 1])
    assert (same.mean, same.ci_low, same.ci_high, same.n) == (0, 0, 0, 4)
    better = paired_difference([0, 0, 0], [1, 1, 1])
    assert better.mean == better.ci_low == better.ci_high == 1
    assert str(better) == "+1.000 [95% CI +1.000, +1.000] (n=3)"


def test_the_interval_holds_the_mean_and_grouped_rows_widen_it() -> None:
    a = [0.0] * 40
    b = [1.0 if (i // 10) % 2 == 0 else 0.0 for i in range(40)]  # 4 blocks of 10 equal rows
    alone = paired_difference(a, b, seed=1)
    assert alone.ci_low < alone.mean < alone.ci_high
    # the blocks as groups (10 copies of one question each): 4 units, a much wider CI
    grouped = paired_difference(a, b, seed=1, groups=[i // 10 for i in range(40)])
    assert grouped.mean == pytest.approx(alone.mean) == 0.5
    assert grouped.ci_high - grouped.ci_low > 2 * (alone.ci_high - alone.ci_low)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        paired_difference([1, 0], [1])
    assert math.isnan(paired_difference([], []).mean)
