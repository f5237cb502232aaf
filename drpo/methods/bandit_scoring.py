"""Scoring a set of task prompts with a bandit over minibatches of the eval split
(search.bandit), instead of scoring each prompt on the whole split.

ProTeGi selects its beam this way; PromptAgent and GPO do with `--selection ucb|sr`. Round
`r` of a selection scores its prompts on the `r`-th minibatch of a seeded shuffle of the
split, taken in turn (so that a prompt pulled often sees every example before any twice:
answers are cached, so it never pays more than scoring it on the whole split, and a prompt
proposed again pays nothing for the minibatches it was scored on before).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drpo.llm._loop import run_sync
from drpo.methods.declare import setting
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.tasks import Example
from search.bandit import STRATEGIES, ArmStats, BanditResult, select

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
        flags = {"rounds": "bandit_rounds", "arms_per_round": "bandit_arms",
                 "samples": "bandit_samples"}  # fmt: skip
        for name, flag in flags.items():
            if getattr(self, name) < 1:
                raise ValueError(f"{flag} must be >= 1, got {getattr(self, name)}")
        if self.c < 0:
            raise ValueError(f"ucb_c must be >= 0, got {self.c}")


@dataclass(frozen=True, kw_only=True)
class SelectionSettings:
    """A run's `--selection` and bandit settings (a part of its settings). Each method that
    has them declares their defaults with `selection_setting`, `rounds_setting`, ...: the
    fields here have none."""

    selection: str
    bandit_rounds: int
    bandit_arms: int
    bandit_samples: int
    ucb_c: float

    def bandit(self) -> BanditSettings | None:
        """The bandit's settings, None for full scoring; ValueError for bad ones."""
        if self.selection not in SELECTIONS:
            raise ValueError(f"unknown selection {self.selection!r}; choose from "
                             f"{', '.join(SELECTIONS)}")  # fmt: skip
        if self.selection == "full":
            return None
        settings = BanditSettings(strategy=self.selection, rounds=self.bandit_rounds,
                                  arms_per_round=self.bandit_arms, samples=self.bandit_samples,
                                  c=self.ucb_c)  # fmt: skip
        settings.check()
        return settings


def selection_setting(default: str) -> Any:
    """`--selection`, with a method's default."""
    return setting(
        default,
        choices=SELECTIONS,
        per_method=True,
        help="how a search level's candidates are scored: each on the whole eval split, or "
        "a bandit over eval minibatches (UCB or successive rejects)",
    )


def rounds_setting(default: int) -> Any:
    """`--bandit_rounds`, with a method's default."""
    return setting(default, help="bandit rounds per selection", per_method=True)


def arms_setting(default: int) -> Any:
    """`--bandit_arms`, with a method's default."""
    return setting(default, help="prompts a bandit round scores", per_method=True)


def samples_setting(default: int = 5) -> Any:
    """`--bandit_samples`, with a method's default."""
    return setting(default, help="eval examples per pull", per_method=True)


def ucb_c_setting(default: float = 1.0) -> Any:
    """`--ucb_c`, with a method's default."""
    return setting(default, help="UCB's exploration weight", per_method=True)


@dataclass(frozen=True)
class Selection:
    """A bandit's verdict on a list of prompts: an arm per prompt given (a prompt given twice
    is one arm), whether it is among the `keep` chosen, and the bandit's own result (over
    the distinct prompts)."""

    arms: tuple[ArmStats, ...]
    kept: tuple[bool, ...]
    result: BanditResult


def eval_estimates(
    scorer: TaskScorer,
    prompts: Sequence[str],
    examples: Sequence[Example],
    *,
    selection: BanditSettings | None,
    seed: int,
) -> tuple[list[float], list[int | None]]:
    """Each prompt's accuracy on `examples`, all scored in full (`selection` None), or a
    bandit's estimate from minibatches; and each one's pulls (None when scored in full)."""
    if selection is None:
        scores = run_sync(scorer.score_many([(p, examples) for p in prompts]))
        return [score.accuracy for score in scores], [None] * len(prompts)
    arms = bandit_scores(scorer, prompts, examples, keep=1, settings=selection, seed=seed).arms
    return [a.value for a in arms], [a.pulls for a in arms]


def bandit_scores(
    scorer: TaskScorer,
    prompts: Sequence[str],
    examples: Sequence[Example],
    *,
    keep: int,
    settings: BanditSettings,
    seed: int,
) -> Selection:
    """The bandit's selection of the best `keep` of `prompts`, from minibatches of
    `examples`: round r scores on the r-th minibatch of a shuffle by `seed`; UCB's order
    among equal bounds follows from `seed` and the prompts."""
    if not examples:
        raise ValueError("the eval split is empty")
    distinct = list(dict.fromkeys(prompts))
    # the same minibatches in every selection of a run, so that a prompt proposed again
    # finds its answers in the cache
    order = random.Random(seed).sample(list(examples), len(examples))
    size = min(settings.samples, len(order))

    def evaluate(batch: Sequence[str], round: int) -> list[float]:
        minibatch = [order[(round * size + j) % len(order)] for j in range(size)]
        scores = run_sync(scorer.score_many([(prompt, minibatch) for prompt in batch]))
        return [score.accuracy for score in scores]

    result = select(
        distinct,
        evaluate,
        keep=keep,
        strategy=settings.strategy,
        rounds=settings.rounds,
        arms_per_round=settings.arms_per_round,
        c=settings.c,
        seed=random.Random(f"{seed}|" + "\n".join(distinct)).getrandbits(32),
    )
    position = {prompt: i for i, prompt in enumerate(distinct)}
    first = {prompt: prompts.index(prompt) for prompt in distinct}
    chosen = {distinct[i] for i in result.chosen}
    return Selection(
        tuple(result.arms[position[p]] for p in prompts),
        tuple(p in chosen and first[p] == i for i, p in enumerate(prompts)),
        result,
    )
