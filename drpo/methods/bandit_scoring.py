"""Scoring a set of task prompts with a bandit over minibatches of the eval split
(search.bandit), instead of scoring each prompt on the whole split.

ProTeGi selects its beam this way; PromptAgent and GPO do with `--selection ucb|sr`. Round
`r` of a selection scores its prompts on the `r`-th minibatch of a seeded shuffle of the
split, taken in turn (so that a prompt pulled often sees every example before any twice:
answers are cached, so it never pays more than scoring it on the whole split).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from drpo.llm._loop import run_sync
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.tasks import Example
from search.bandit import STRATEGIES, BanditResult, select

#: `--selection`: every candidate on the whole eval split, or a bandit over its minibatches.
SELECTIONS = ("full", *STRATEGIES)


@dataclass(frozen=True, kw_only=True)
class BanditSettings:
    """`strategy`: ucb or sr; a selection's budget is `rounds * arms_per_round` pulls, a pull
    being one prompt scored on `samples` eval examples; `c`: UCB's exploration weight."""

    strategy: str = "ucb"
    rounds: int = 8
    arms_per_round: int = 8
    samples: int = 5
    c: float = 1.0

    def check(self) -> None:
        """ValueError naming the first bad setting."""
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"unknown bandit {self.strategy!r}; choose from {', '.join(STRATEGIES)}"
            )
        for name in ("rounds", "arms_per_round", "samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"bandit_{name} must be >= 1, got {getattr(self, name)}")
        if self.c < 0:
            raise ValueError(f"ucb_c must be >= 0, got {self.c}")


def bandit_scores(
    scorer: TaskScorer,
    prompts: Sequence[str],
    examples: Sequence[Example],
    *,
    keep: int,
    settings: BanditSettings,
    seed: int,
) -> BanditResult:
    """The bandit's selection of the best `keep` of `prompts`, from minibatches of
    `examples`; the minibatches and UCB's tie order follow from `seed` and the prompts."""
    if not examples:
        raise ValueError("the eval split is empty")
    rng = random.Random(f"{seed}|" + "\n".join(prompts))
    order = rng.sample(list(examples), len(examples))
    size = min(settings.samples, len(order))

    def evaluate(batch: Sequence[str], round: int) -> list[float]:
        minibatch = [order[(round * size + j) % len(order)] for j in range(size)]
        scores = run_sync(scorer.score_many([(prompt, minibatch) for prompt in batch]))
        return [score.accuracy for score in scores]

    return select(
        list(prompts),
        evaluate,
        keep=keep,
        strategy=settings.strategy,
        rounds=settings.rounds,
        arms_per_round=settings.arms_per_round,
        c=settings.c,
        seed=rng.getrandbits(32),
    )
