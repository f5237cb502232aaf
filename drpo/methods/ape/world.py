"""APE on our interface, searched by beam search.

State: an instruction (the task prompt), with the round that produced it, how it was made
and its score in that round. The root holds the initial prompt (round 0).

Actions: at the root, instructions *induced* from demonstrations ("forward generation"):
`demo_sets` subsets of `n_demos` training input/output pairs, each shown to the optimiser,
which samples `proposals_per_set` instructions that would have produced those outputs. At a
deeper node, `n_variations` *variations* of its instruction that keep its meaning (the
paper's resampling step of iterative Monte Carlo search).

Reward: execution accuracy of the task model under the instruction on a random subset of
`score_size` training examples, drawn afresh for each round and shared by every candidate
of that round (Algorithm 1: a new random training subset per iteration). Beam search with
beam `k` then does APE's loop: score a round's candidates, keep the top k, resample around
them, for `--depth` rounds in all. The final choice, on the eval split, is made by
`drpo.methods.ape.choice` after the search.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drpo.llm import LLM, ChatRequest
from drpo.llm._loop import run_sync
from drpo.llm.json_schema import object_schema, text_schema, tokens_for
from drpo.methods.ape.settings import ApeSettings
from drpo.methods.meta_prompts import MetaPrompts
from drpo.methods.prompt_checks import WRITING_PENALTY, check_prompt
from drpo.methods.task_config import TaskPromptConfig
from drpo.methods.task_scoring import Score, TaskPromptWorld, TaskScorer
from drpo.methods.tasks import Example, Task

log = logging.getLogger("drpo")
#: The settings' declared defaults (drpo.methods.ape.settings): the config's own.
_DEFAULTS = ApeSettings()

PROMPTS = MetaPrompts(Path(__file__).with_name("prompts"))
SCORE_KEY = "ape_subset_score"
INDUCE_KEY, VARY_KEY = "induced_instruction", "instruction_variation"
#: The longest instruction the optimiser may write (the paper's proposals are short: 50
#: tokens at most in the reference code).
MAX_PROMPT_CHARS = 1000


@dataclass(frozen=True)
class Candidate:
    """An action: an instruction, induced from demo set `demo_set` or a variation of its
    parent's instruction."""

    prompt: str
    origin: str  # "induced" or "variation"
    demo_set: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "origin": self.origin, "demo_set": self.demo_set}


@dataclass(frozen=True)
class ApeState:
    prompt: str
    round: int = 0
    origin: str = "initial"
    demo_set: int | None = None
    subset_accuracy: float | None = None
    parent: str | None = None  # the instruction a variation was made from

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "round": self.round,
            "origin": self.origin,
            "demo_set": self.demo_set,
            "subset_accuracy": self.subset_accuracy,
            "parent": self.parent,
        }


def scoring_subset(train: Sequence[Example], *, size: int, round: int, seed: int) -> list[Example]:
    """The random training subset every candidate of `round` is scored on."""
    rng = random.Random(f"{seed}:ape-subset:{round}")
    return rng.sample(list(train), min(size, len(train)))


def sample_demo_sets(
    train: Sequence[Example], *, count: int, size: int, seed: int
) -> list[list[Example]]:
    """`count` random sets of `size` training examples, each the demonstrations of one
    forward-generation query."""
    rng = random.Random(f"{seed}:ape-demos")
    return [rng.sample(list(train), min(size, len(train))) for _ in range(count)]


def demos_text(examples: Sequence[Example]) -> str:
    return "\n\n".join(f"Input: {e.question}\nOutput: {e.gold}" for e in examples)


class ApeWorld(TaskPromptWorld):
    """Stepping to a candidate scores it on its round's training subset (a whole frontier in
    one batch)."""

    def __init__(self, task: Task, scorer: TaskScorer, *, initial_prompt: str,
                 score_size: int = _DEFAULTS.score_size, seed: int = 0,
                 on_frontier: Callable[[int], None] | None = None) -> None:  # fmt: skip
        super().__init__(task, scorer, initial_prompt=initial_prompt, on_frontier=on_frontier)
        if score_size < 1:
            raise ValueError(f"score_size must be >= 1, got {score_size}")
        if not task.train:
            raise ValueError("the training split is empty")
        self.score_size = score_size
        self.seed = seed
        self._round_best: float | None = None

    def best_eval(self) -> float | None:
        """APE's own figure for the anytime trace: the best accuracy of the last scored round
        on that round's training subset (APE scores on the eval split only at the end)."""
        return self._round_best

    def subset(self, round: int) -> list[Example]:
        return scoring_subset(self.task.train, size=self.score_size, round=round, seed=self.seed)

    def init_state(self) -> ApeState:
        return ApeState(self.initial_prompt)

    def step(self, state: ApeState, action: Candidate) -> tuple[ApeState, dict[str, Any]]:
        return self.step_many([(state, action)])[0]

    def step_many(
        self, pairs: Sequence[tuple[ApeState, Candidate]]
    ) -> list[tuple[ApeState, dict[str, Any]]]:
        jobs = [(action.prompt, self.subset(state.round + 1)) for state, action in pairs]
        scores = run_sync(self.scorer.score_many(jobs))
        out = []
        for (state, action), score in zip(pairs, scores):
            parent = state.prompt if action.origin == "variation" else None
            new = ApeState(action.prompt, state.round + 1, action.origin, action.demo_set,
                           score.accuracy, parent)  # fmt: skip
            log.info("round %d, %s instruction, subset accuracy %.3f:\n%s", new.round,
                     action.origin, score.accuracy, action.prompt)  # fmt: skip
            out.append((new, {SCORE_KEY: score}))
        if out:
            self._round_best = max(s.subset_accuracy or 0.0 for s, _ in out)
        if out:
            self.on_frontier(max(s.round for s, _ in out))
        return out


class ApeConfig(TaskPromptConfig):
    """Forward generation at the root, resampling below it; every request of a frontier goes
    out in one batch, each sampled `n` times."""

    def __init__(
        self,
        task: Task,
        scorer: TaskScorer,
        optimizer: LLM,
        *,
        demo_sets: int = _DEFAULTS.demo_sets,
        n_demos: int = _DEFAULTS.n_demos,
        proposals_per_set: int = _DEFAULTS.proposals_per_set,
        n_variations: int = _DEFAULTS.n_variations,
        temperature: float = _DEFAULTS.temperature,
        seed: int = 0,
    ) -> None:
        super().__init__(task, scorer, optimizer)
        counts = {"demo_sets": demo_sets, "n_demos": n_demos,
                  "proposals_per_set": proposals_per_set, "n_variations": n_variations}  # fmt: skip
        for name, value in counts.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not task.train:
            raise ValueError("the training split is empty")
        self.demo_sets = sample_demo_sets(task.train, count=demo_sets, size=n_demos, seed=seed)
        self.proposals_per_set = proposals_per_set
        self.n_variations = n_variations
        self.temperature = temperature

    def _request(self, template: str, values: dict[str, str], n: int) -> ChatRequest:
        text = PROMPTS.render(template, **values, max_chars=str(MAX_PROMPT_CHARS))
        return ChatRequest.of(text, temperature=self.temperature, n=n,
                              max_tokens=tokens_for(MAX_PROMPT_CHARS),
                              json_schema=SCHEMAS[template],
                              frequency_penalty=WRITING_PENALTY)  # fmt: skip

    def get_actions_many(self, states: Sequence[ApeState]) -> list[list[Candidate]]:
        requests, parsers, owners = [], [], []
        for i, state in enumerate(states):
            if state.round == 0:  # forward generation, one query per demo set
                for d, examples in enumerate(self.demo_sets):
                    shown = demos_text(examples)
                    requests.append(self._request("induce", {"demos": shown},
                                                  self.proposals_per_set))  # fmt: skip
                    parsers.append(_parser(INDUCE_KEY, {
                        "the instructions you were given": PROMPTS.text("induce"),
                        "the demonstrations": shown}))  # fmt: skip
                    owners.append((i, "induced", d))
            else:  # resampling around a kept instruction
                requests.append(self._request("vary", {"instruction": state.prompt},
                                              self.n_variations))  # fmt: skip
                # A variation is meant to be close to its instruction: only the meta-prompt
                # counts as a text it must not copy.
                parsers.append(
                    _parser(VARY_KEY, {"the instructions you were given": PROMPTS.text("vary")})
                )
                owners.append((i, "variation", None))
        answers = self.optimizer.generate_json(requests, parse=parsers)
        out: list[list[Candidate]] = [[] for _ in states]
        for (i, origin, demo_set), samples in zip(owners, answers):
            for answer in samples:
                if answer.ok:
                    out[i].append(Candidate(answer.value, origin, demo_set))
                else:
                    log.warning("an unusable %s instruction was skipped: %s", origin, answer.error)
        return out

    def reward(
        self, state: ApeState, action: Candidate, **kwargs: Any
    ) -> tuple[float, dict[str, Any]]:
        score: Score = kwargs[SCORE_KEY]
        return score.accuracy, {"subset_accuracy": score.accuracy, "round": state.round + 1}


SCHEMAS = {
    "induce": object_schema({INDUCE_KEY: text_schema(MAX_PROMPT_CHARS, min_chars=10)}),
    "vary": object_schema({VARY_KEY: text_schema(MAX_PROMPT_CHARS, min_chars=10)}),
}


def _parser(key: str, shown: dict[str, str]) -> Any:
    """The instruction under `key`, checked as a usable prompt (ValueError when it is not)."""

    def parse(value: Any) -> str:
        text = value.get(key) if isinstance(value, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"the JSON needs a non-empty string {key!r}")
        check_prompt(text.strip(), max_chars=MAX_PROMPT_CHARS, shown=shown)
        return text.strip()

    return parse
