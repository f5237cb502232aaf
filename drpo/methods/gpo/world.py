"""GPO on our interface.

State: the current prompt with the trajectory so far (every step's chosen prompt and eval
score). Actions: `n_candidates` prompts sampled from the optimiser, which is shown `k`
prompts retrieved from the trajectory (the update direction) and told how many words it may
change (the step size). Stepping scores every candidate on the eval split at once; greedy
search moves to the best one.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drpo.llm import LLM, ChatRequest
from drpo.llm._loop import run_sync
from drpo.llm.json_schema import object_schema, text_schema, tokens_for
from drpo.methods.bandit_scoring import BanditSettings, eval_estimates
from drpo.methods.gpo.settings import GPOSettings
from drpo.methods.meta_prompts import MetaPrompts
from drpo.methods.prompt_checks import WRITING_PENALTY, check_prompt
from drpo.methods.task_config import TaskPromptConfig
from drpo.methods.task_scoring import Score, TaskPromptWorld, TaskScorer
from drpo.methods.tasks import Task
from drpo.retrieval import Embedder, HashingEmbedder

log = logging.getLogger("drpo")
#: The settings' declared defaults (drpo.methods.gpo.settings): the config's own.
_DEFAULTS = GPOSettings()

PROMPTS = MetaPrompts(Path(__file__).with_name("prompts"))
RETRIEVALS = ("recency", "importance", "relevance")
UPDATES = ("generation", "edit")
SCHEDULES = ("fixed", "linear", "cosine")
SCORE_KEY = "gpo_score"
PULLS_KEY = "gpo_pulls"


def step_size(
    step: int, total: int, *, initial: int, final: int, schedule: str, warmup: int = 0
) -> int:
    """The word budget at `step` (0-based) of `total`: during `warmup` steps it rises
    linearly to `initial`, then goes from `initial` to `final` (fixed, linear or cosine)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")
    if step < warmup:
        return max(1, round(initial * (step + 1) / warmup))
    if schedule == "fixed":
        return initial
    span = max(1, total - warmup - 1)
    t = min(1.0, (step - warmup) / span)
    if schedule == "linear":
        value = initial + (final - initial) * t
    else:
        value = final + (initial - final) * (1 + math.cos(math.pi * t)) / 2
    return max(1, round(value))


@dataclass(frozen=True)
class Candidate:
    """An action: a proposed prompt, with the step size and direction it was written with."""

    prompt: str
    budget: int
    retrieved: tuple[tuple[str, float], ...]

    def to_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "budget_words": self.budget}


@dataclass(frozen=True)
class GPOState:
    prompt: str
    score: float | None = None
    trajectory: tuple[tuple[str, float], ...] = ()  # every chosen prompt and its eval score
    budget: int | None = None  # the word budget the step that made this prompt was given
    retrieved: tuple[tuple[str, float], ...] = ()  # what that step was shown
    candidates: tuple[tuple[str, float], ...] = ()  # that step's candidates and their scores

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "eval_accuracy": self.score,
            "budget_words": self.budget,
            "retrieved": [list(x) for x in self.retrieved],
            "candidates": [list(x) for x in self.candidates],
        }


def retrieve(
    trajectory: Sequence[tuple[str, float]],
    current: str,
    *,
    k: int,
    how: str,
    embedder: Embedder,
) -> list[tuple[str, float]]:
    """`k` (prompt, score) pairs of the trajectory: the last k (recency), the best k
    (importance), or the current prompt and the k - 1 most similar to it (relevance)."""
    if how == "recency":
        return list(trajectory[-k:])
    if how == "importance":
        return sorted(trajectory, key=lambda x: -x[1])[:k]
    if how == "relevance":
        here = [x for x in trajectory if x[0] == current][-1:]
        others = [x for x in trajectory if x[0] != current]
        if not others or k <= 1:
            return here or list(trajectory[-1:])
        vectors = embedder.embed([current] + [p for p, _ in others])
        similarity = vectors[1:] @ vectors[0]
        order = np.argsort(-similarity, kind="stable")[: k - 1]
        return here + [others[i] for i in sorted(order)]
    raise ValueError(f"unknown retrieval {how!r}; choose from {', '.join(RETRIEVALS)}")


class GPOWorld(TaskPromptWorld):
    """Stepping scores every candidate on the eval split, or, with a `selection` bandit,
    estimates their accuracy from eval minibatches."""

    def __init__(
        self,
        task: Task,
        scorer: TaskScorer,
        *,
        initial_prompt: str,
        on_frontier: Callable[[int], None] | None = None,
        selection: BanditSettings | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(task, scorer, initial_prompt=initial_prompt, on_frontier=on_frontier)
        self.selection, self.seed = selection, seed

    def init_state(self) -> GPOState:
        (score,) = run_sync(self.scorer.score_many([(self.initial_prompt, self.task.eval)]))
        log.info("initial prompt: eval accuracy %.3f", score.accuracy)
        return GPOState(
            self.initial_prompt, score.accuracy, ((self.initial_prompt, score.accuracy),)
        )

    def step(self, state: GPOState, action: Candidate) -> tuple[GPOState, dict[str, Any]]:
        return self.step_many([(state, action)])[0]

    def step_many(
        self, pairs: Sequence[tuple[GPOState, Candidate]]
    ) -> list[tuple[GPOState, dict[str, Any]]]:
        prompts = [c.prompt for _, c in pairs]
        accuracies, pulls = eval_estimates(self.scorer, prompts, self.task.eval,
                                           selection=self.selection, seed=self.seed)  # fmt: skip
        siblings: dict[int, list[tuple[str, float]]] = {}
        for (state, candidate), accuracy in zip(pairs, accuracies):
            siblings.setdefault(id(state), []).append((candidate.prompt, accuracy))
        out = []
        for (state, candidate), accuracy, n in zip(pairs, accuracies, pulls):
            new = GPOState(
                candidate.prompt,
                accuracy,
                (*state.trajectory, (candidate.prompt, accuracy)),
                candidate.budget,
                candidate.retrieved,
                tuple(siblings[id(state)]),
            )
            out.append((new, {SCORE_KEY: accuracy, PULLS_KEY: n}))
        self.on_frontier(max(len(s.trajectory) - 1 for s, _ in out))
        return out


class GPOConfig(TaskPromptConfig):
    def __init__(
        self,
        task: Task,
        scorer: TaskScorer,
        optimizer: LLM,
        *,
        total_steps: int,
        n_candidates: int = _DEFAULTS.n_candidates,
        retrieval: str = _DEFAULTS.retrieval,
        k: int = _DEFAULTS.k,
        update: str = _DEFAULTS.update,
        schedule: str = _DEFAULTS.schedule,
        initial_budget: int = _DEFAULTS.initial_budget,
        final_budget: int = _DEFAULTS.final_budget,
        warmup: int = _DEFAULTS.warmup,
        feedback: bool = _DEFAULTS.feedback,
        n_examples: int = _DEFAULTS.n_examples,
        temperature: float = _DEFAULTS.temperature,
        max_tokens: int | None = None,
        embedder: Embedder | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(task, scorer, optimizer)
        choices = (
            (retrieval, RETRIEVALS, "retrieval"),
            (update, UPDATES, "update"),
            (schedule, SCHEDULES, "schedule"),
        )
        for value, allowed, name in choices:
            if value not in allowed:
                raise ValueError(f"unknown {name} {value!r}; choose from {', '.join(allowed)}")
        if min(total_steps, n_candidates, k, initial_budget, final_budget) < 1 or warmup < 0:
            raise ValueError("steps, candidates, k and budgets must be >= 1 (warmup >= 0)")
        self.total_steps = total_steps
        self.n_candidates, self.retrieval, self.k = n_candidates, retrieval, k
        self.update, self.schedule = update, schedule
        self.initial_budget, self.final_budget, self.warmup = initial_budget, final_budget, warmup
        self.feedback, self.n_examples = feedback, n_examples
        self.temperature = temperature
        self.max_tokens = max_tokens or tokens_for(MAX_PROMPT_CHARS)
        self.embedder = embedder or HashingEmbedder()
        self.seed = seed

    def budget_for(self, state: GPOState) -> int:
        return step_size(
            len(state.trajectory) - 1,
            self.total_steps,
            initial=self.initial_budget,
            final=self.final_budget,
            schedule=self.schedule,
            warmup=self.warmup,
        )

    def retrieved_for(self, state: GPOState) -> list[tuple[str, float]]:
        return retrieve(
            state.trajectory, state.prompt, k=self.k, how=self.retrieval, embedder=self.embedder
        )

    def _examples(self, state: GPOState) -> str:
        rng = random.Random(f"{self.seed}:{len(state.trajectory)}")
        shown = rng.sample(list(self.task.train), min(self.n_examples, len(self.task.train)))
        return "\n\n".join(f"Input: {e.question}\nAnswer: {e.gold}" for e in shown)

    def _request(self, state: GPOState, errors: Score | None, examples: str) -> ChatRequest:
        trajectory = "\n".join(
            f"Prompt: {p}\nScore: {round(100 * s)}" for p, s in self.retrieved_for(state)
        )
        feedback = ""
        if errors is not None and errors.errors:
            cases = "\n\n".join(
                f"Input: {a.example.question}\nModel's answer: {a.response}\n"
                f"Correct answer: {a.example.gold}"
                for a in errors.errors[:3]
            )
            feedback = (
                f"\nExamples the current prompt gets wrong:\n<mistakes>\n{cases}\n</mistakes>\n"
            )
        instruction = (
            "Write a new prompt, refining the current one."
            if self.update == "generation"
            else "Edit the current prompt."
        )
        text = PROMPTS.render(
            "optimizer",
            trajectory=trajectory,
            examples=examples,
            feedback=feedback,
            prompt=state.prompt,
            instruction=instruction,
            budget=str(self.budget_for(state)),
            max_chars=str(MAX_PROMPT_CHARS),
        )
        return ChatRequest.of(
            text,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            n=self.n_candidates,
            json_schema=PROMPT_SCHEMA,
            frequency_penalty=WRITING_PENALTY,
        )

    def get_actions_many(self, states: Sequence[GPOState]) -> list[list[Candidate]]:
        errors: list[Score | None] = [None] * len(states)
        if self.feedback:
            rng = random.Random(self.seed)
            batch = rng.sample(list(self.task.train), min(5, len(self.task.train)))
            errors = run_sync(self.scorer.score_many([(s.prompt, batch) for s in states]))
        examples = [self._examples(s) for s in states]
        meta = PROMPTS.text("optimizer")
        shown = [{"the instructions you were given": meta, "the examples": text}
                 for text in examples]  # fmt: skip
        answers = self.optimizer.generate_json(
            [self._request(s, e, x) for s, e, x in zip(states, errors, examples)],
            parse=[_prompt_parser(x) for x in shown],
        )
        out = []
        for state, samples in zip(states, answers):
            prompts = list(dict.fromkeys(a.value for a in samples if a.ok))
            for answer in samples:
                if not answer.ok:
                    log.warning("an optimiser sample was unusable: %s", answer.error)
            budget, retrieved = self.budget_for(state), tuple(self.retrieved_for(state))
            out.append([Candidate(p, budget, retrieved) for p in prompts or [state.prompt]])
        return out

    def root_reward(self, state: GPOState) -> tuple[float, dict[str, Any]]:
        return float(state.score or 0.0), {"eval_accuracy": state.score}

    def reward(
        self, state: GPOState, action: Candidate, **kwargs: Any
    ) -> tuple[float, dict[str, Any]]:
        accuracy, pulls = kwargs[SCORE_KEY], kwargs.get(PULLS_KEY)
        details = {"eval_accuracy": accuracy}
        return accuracy, details if pulls is None else {**details, "bandit_pulls": pulls}


#: The longest prompt the optimiser may write.
MAX_PROMPT_CHARS = 2000
PROMPT_SCHEMA = object_schema({"new_prompt": text_schema(MAX_PROMPT_CHARS, min_chars=10)})


def _prompt_parser(shown: dict[str, str]) -> Any:
    def parse(value: Any) -> str:
        prompt = _new_prompt(value)
        check_prompt(prompt, max_chars=MAX_PROMPT_CHARS, shown=shown)
        return prompt

    return parse


def _new_prompt(value: Any) -> str:
    prompt = value.get("new_prompt") if isinstance(value, dict) else None
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("the JSON needs a non-empty string 'new_prompt'")
    return prompt.strip()
