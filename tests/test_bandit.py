"""The bandit selection (search/bandit.py) on toy arms: Bernoulli candidates scored on
minibatches of draws."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from search.bandit import STRATEGIES, select

SAMPLES = 10  # draws per minibatch
FULL_SET = 100  # draws per candidate when every candidate is scored on the "full set"


class Arms:
    """Candidate i answers right with probability p[i]; records every evaluation."""

    def __init__(self, p: Sequence[float], seed: int = 0) -> None:
        self.p, self.seed = list(p), seed
        self.pulls: list[int] = []
        self.calls: list[tuple[list[int], int]] = []

    def __call__(self, batch: Sequence[int], round: int) -> list[float]:
        self.calls.append((list(batch), round))
        self.pulls.extend(batch)
        out = []
        for arm in batch:
            rng = random.Random(f"{self.seed}:{arm}:{round}")
            out.append(sum(rng.random() < self.p[arm] for _ in range(SAMPLES)) / SAMPLES)
        return out


def one_best(k: int, best: int) -> list[float]:
    return [0.9 if i == best else 0.3 + 0.01 * i for i in range(k)]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_clearly_best_arm_is_found_for_less_than_scoring_all(strategy: str, seed: int) -> None:
    k, best = 20, 13
    arms = Arms(one_best(k, best), seed=seed)
    result = select(list(range(k)), arms, keep=1, strategy=strategy, rounds=10,
                    arms_per_round=4, seed=seed)  # fmt: skip
    assert result.chosen == (best,)
    assert result.ranking[0] == best and sorted(result.ranking) == list(range(k))
    # 40 minibatches of 10 draws, against 20 candidates x 100 draws for full scoring
    assert len(arms.pulls) * SAMPLES < k * FULL_SET / 4


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(
    ("k", "rounds", "per_round"), [(5, 3, 2), (9, 4, 8), (30, 8, 8), (3, 5, 8)]
)
def test_the_budget_is_respected_and_accounted(strategy, k, rounds, per_round) -> None:
    arms = Arms([random.Random(k).random() for _ in range(k)])
    budget = rounds * per_round
    if strategy == "sr" and budget < k:
        with pytest.raises(ValueError, match=f"at least one pull per candidate \\({k}\\)"):
            select(list(range(k)), arms, keep=2, strategy=strategy, rounds=rounds,
                   arms_per_round=per_round)  # fmt: skip
        return
    result = select(list(range(k)), arms, keep=2, strategy=strategy, rounds=rounds,
                    arms_per_round=per_round)  # fmt: skip
    assert result.budget == budget
    assert result.pulls == len(arms.pulls) <= budget
    assert [a.pulls for a in result.arms] == [arms.pulls.count(i) for i in range(k)]
    assert result.rounds == len(arms.calls)
    assert [r for _, r in arms.calls] == list(range(len(arms.calls)))  # one minibatch a call
    assert len(result.chosen) == min(2, k)


def test_ucb_pulls_the_most_promising_arms_and_every_arm_once_first() -> None:
    arms = Arms(one_best(8, 5))
    result = select(list(range(8)), arms, keep=1, rounds=12, arms_per_round=2, c=0.5)
    first = [i for batch, _ in arms.calls[:4] for i in batch]
    assert sorted(first) == list(range(8))  # never-pulled arms have an infinite bound
    assert max(range(8), key=lambda i: result.arms[i].pulls) == 5
    assert result.arms[5].pulls >= 2 * min(a.pulls for a in result.arms)
    assert all(len(batch) == 2 for batch, _ in arms.calls) and len(arms.calls) == 12


def test_ucb_with_fewer_arms_than_a_round_scores_all_of_them_every_round() -> None:
    arms = Arms([0.2, 0.8, 0.5])
    result = select([0, 1, 2], arms, keep=2, rounds=4, arms_per_round=8)
    assert [a.pulls for a in result.arms] == [4, 4, 4]
    assert result.chosen == (1, 2)


def test_successive_rejects_keeps_the_top_k_and_gives_survivors_more_pulls() -> None:
    p = [0.1, 0.85, 0.2, 0.9, 0.15, 0.8, 0.3, 0.25]
    arms = Arms(p)
    result = select(list(range(8)), arms, keep=3, strategy="sr", rounds=10, arms_per_round=8)
    assert set(result.chosen) == {1, 3, 5}
    survivors = min(result.arms[i].pulls for i in result.chosen)
    rejected = [result.arms[i].pulls for i in result.ranking[3:]]  # last rejected last
    assert rejected == sorted(rejected, reverse=True) and survivors == rejected[0]
    assert survivors >= 2 * rejected[-1]  # the first rejected stopped early
    assert arms.calls[0][0] == list(range(8))  # every arm once, first


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_values_sort_into_the_ranking(strategy: str) -> None:
    """A search that keeps the best candidates by value (ties by position) keeps the chosen."""
    for seed in range(6):
        p = [random.Random(seed * 10 + i).random() for i in range(12)]
        result = select(list(range(12)), Arms(p, seed), keep=4, strategy=strategy, rounds=6,
                        arms_per_round=5, seed=seed)  # fmt: skip
        by_value = sorted(range(12), key=lambda i: -result.arms[i].value)
        assert tuple(by_value) == result.ranking
        assert all(a.value <= a.mean for a in result.arms)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_same_seed_gives_the_same_selection(strategy: str) -> None:
    def run(seed: int):
        return select(list(range(10)), Arms([0.5] * 10, 3), keep=2, strategy=strategy,
                      rounds=5, arms_per_round=3, seed=seed)  # fmt: skip

    assert run(4) == run(4)
    if strategy == "ucb":  # the seed orders arms of equal bound
        assert any(run(4).arms != run(s).arms for s in range(5, 10))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"keep": 0}, "keep must be >= 1"),
        ({"rounds": 0}, "rounds must be >= 1"),
        ({"arms_per_round": 0}, "arms_per_round must be >= 1"),
        ({"strategy": "thompson"}, "unknown strategy 'thompson'"),
        ({"c": -1.0}, "c must be >= 0"),
    ],
)
def test_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select([0, 1], Arms([0.5, 0.5]), **{"keep": 1, **kwargs})


def test_an_evaluator_that_returns_the_wrong_number_of_scores_is_an_error() -> None:
    with pytest.raises(ValueError, match="returned 1 scores for 2 candidates"):
        select([0, 1], lambda batch, r: [0.5], keep=1)
    with pytest.raises(ValueError, match="not finite"):
        select([0, 1], lambda batch, r: [float("nan")] * len(batch), keep=1)
