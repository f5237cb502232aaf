"""Best-arm selection over minibatch evaluations: UCB and successive rejects.

A candidate (an "arm") is scored on a minibatch at a time instead of on a whole evaluation
set, and the evaluations go to the candidates that still look worth it, as ProTeGi
(Pryzant et al., EMNLP 2023) selects its beam. One *pull* is one candidate scored on one
minibatch; the budget is ``rounds * arms_per_round`` pulls.

- ``"ucb"``: each round scores the ``arms_per_round`` candidates with the highest upper
  confidence bound ``mean + c * sqrt(ln t / pulls)`` (``t``: pulls so far; never-pulled
  candidates first, in a seeded random order) on that round's minibatch.
- ``"sr"``: successive rejects (Audibert and Bubeck, 2010): every candidate is pulled once,
  then the rest of the budget goes out in phases, each giving every surviving candidate the
  same number of extra pulls (the classic schedule, for ``keep`` survivors) and rejecting the
  one with the lowest mean, until ``keep`` remain.

`select` knows nothing of what a candidate is: the caller's ``evaluate_minibatch(batch,
round)`` scores a list of candidates on round ``round``'s minibatch (the same minibatch for
all of them), one number each (e.g. the accuracy on it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from search._settings import require, require_choice

T = TypeVar("T")
STRATEGIES = ("ucb", "sr")

#: Scores a batch of candidates on the minibatch of a round (0, 1, ...): one number each.
Evaluate = Callable[[Sequence[T], int], Sequence[float]]


@dataclass(frozen=True)
class ArmStats:
    """One candidate: how often it was pulled, its mean score over those pulls (0.0 if
    never), and `value`: the mean, lowered where needed so that sorting by value (ties by
    position) gives the bandit's ranking (a candidate rejected early never outranks one
    that outlived it)."""

    pulls: int
    mean: float
    value: float


@dataclass(frozen=True)
class BanditResult:
    strategy: str
    arms: tuple[ArmStats, ...]
    ranking: tuple[int, ...]  # every candidate's position, best first
    chosen: tuple[int, ...]  # the best `keep`, best first
    budget: int  # the pulls allowed
    rounds: int  # the calls of evaluate_minibatch made

    @property
    def pulls(self) -> int:
        return sum(a.pulls for a in self.arms)

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "pulls": [a.pulls for a in self.arms],
            "means": [a.mean for a in self.arms],
            "chosen": list(self.chosen),
            "budget": self.budget,
        }


def select(
    candidates: Sequence[T],
    evaluate_minibatch: Evaluate,
    *,
    keep: int,
    strategy: str = "ucb",
    rounds: int = 8,
    arms_per_round: int = 8,
    c: float = 1.0,
    seed: int = 0,
) -> BanditResult:
    """The best `keep` of `candidates` after at most ``rounds * arms_per_round`` pulls."""
    require_choice(strategy, "strategy", STRATEGIES, allow_callable=False)
    require(len(candidates) >= 1, "select needs at least one candidate")
    require(keep >= 1, f"keep must be >= 1, got {keep}")
    require(rounds >= 1, f"rounds must be >= 1, got {rounds}")
    require(arms_per_round >= 1, f"arms_per_round must be >= 1, got {arms_per_round}")
    require(c >= 0, f"c must be >= 0, got {c}")
    run = _Pulls(candidates, evaluate_minibatch, rounds * arms_per_round)
    if strategy == "ucb":
        _ucb(run, rounds, min(arms_per_round, len(candidates)), c, seed)
        rejected: list[int] = []
    else:
        rejected = _successive_rejects(run, keep)
    survivors = [i for i in range(run.k) if i not in rejected]
    ranking = sorted(survivors, key=lambda i: (-run.mean(i), i)) + rejected[::-1]
    values: list[float] = [0.0] * run.k
    previous: int | None = None
    for i in ranking:
        value = run.mean(i)
        if previous is not None:
            above = values[previous]
            if value > above or (value == above and i < previous):
                value = math.nextafter(above, -math.inf)
        values[i], previous = value, i
    arms = tuple(ArmStats(int(run.pulls[i]), run.mean(i), values[i]) for i in range(run.k))
    return BanditResult(strategy, arms, tuple(ranking), tuple(ranking[:keep]), run.budget,
                        run.round)  # fmt: skip


class _Pulls:
    """The running totals of one selection, and the budget it must stay within."""

    def __init__(self, candidates: Sequence[Any], evaluate: Evaluate, budget: int) -> None:
        self.candidates, self.evaluate, self.budget = candidates, evaluate, budget
        self.k = len(candidates)
        self.pulls = np.zeros(self.k, dtype=int)
        self.totals = np.zeros(self.k)
        self.round = 0

    def mean(self, i: int) -> float:
        return float(self.totals[i] / self.pulls[i]) if self.pulls[i] else 0.0

    def pull(self, arms: Sequence[int]) -> None:
        if int(self.pulls.sum()) + len(arms) > self.budget:
            raise AssertionError("a bandit would pull beyond its budget")  # a bug, not input
        scores = list(self.evaluate([self.candidates[i] for i in arms], self.round))
        if len(scores) != len(arms):
            raise ValueError(f"evaluate_minibatch returned {len(scores)} scores for "
                             f"{len(arms)} candidates")  # fmt: skip
        for i, score in zip(arms, scores):
            if not math.isfinite(score):
                raise ValueError(f"evaluate_minibatch returned a score that is not finite: {score}")
            self.pulls[i] += 1
            self.totals[i] += float(score)
        self.round += 1


def _ucb(run: _Pulls, rounds: int, per_round: int, c: float, seed: int) -> None:
    order = np.random.default_rng(seed).permutation(run.k)  # among equal bounds
    for _ in range(rounds):
        t = max(1, int(run.pulls.sum()))
        pulled = run.pulls > 0
        safe = np.maximum(run.pulls, 1)
        bound = np.where(pulled, run.totals / safe + c * np.sqrt(math.log(t) / safe), np.inf)
        picked = np.lexsort((order, -bound))[:per_round]
        run.pull([int(i) for i in picked])


def _successive_rejects(run: _Pulls, keep: int) -> list[int]:
    """The rejected arms, first rejected first."""
    alive = list(range(run.k))
    if run.k <= keep:  # nothing to reject: the budget goes evenly to every arm
        for _ in range(run.budget // run.k):
            run.pull(alive)
        return []
    if run.budget < run.k:
        raise ValueError(f"successive rejects needs a budget of at least one pull per "
                         f"candidate ({run.k}); got {run.budget}")  # fmt: skip
    run.pull(alive)
    spare = run.budget - run.k
    share = 1 + sum(1 / i for i in range(keep + 2, run.k + 1))
    rejected, before = [], 0
    for phase in range(1, run.k - keep + 1):
        target = math.floor(spare / (share * (run.k + 1 - phase)))
        for _ in range(target - before):
            run.pull(alive)
        before = target
        worst = max(alive, key=lambda i: (-run.mean(i), i))
        alive.remove(worst)
        rejected.append(worst)
    return rejected
