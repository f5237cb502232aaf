"""PromptAgent on our interface.

State: a task prompt, with the feedback and errors that led to it and its eval accuracy.
Action: a proposal (new prompt + the feedback behind it), made from a batch of training
errors. Reward: the new prompt's accuracy on the eval split, computed when the child is made.
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
from drpo.methods.bandit_scoring import BanditSettings, eval_estimates
from drpo.methods.meta_prompts import MetaPrompts
from drpo.methods.prompt_checks import WRITING_PENALTY, check_prompt
from drpo.methods.promptagent.settings import PromptAgentSettings
from drpo.methods.task_config import TaskPromptConfig
from drpo.methods.task_scoring import Attempt, Score, TaskPromptWorld, TaskScorer
from drpo.methods.tasks import Example, Task

log = logging.getLogger("drpo")
#: The settings' declared defaults (drpo.methods.promptagent.settings): the config's own.
_DEFAULTS = PromptAgentSettings()

PROMPTS = MetaPrompts(Path(__file__).with_name("prompts"))
EVAL_KEY = "promptagent_eval"
PULLS_KEY = "promptagent_pulls"


def _errors_text(errors: Sequence[Attempt]) -> str:
    blocks = [
        f"## Example {i + 1}\nInput: {a.example.question}\nModel's response: {a.response}\n"
        f"Correct answer: {a.example.gold}\nModel's answer: {a.prediction or '(none found)'}"
        for i, a in enumerate(errors)
    ]
    return "\n\n".join(blocks)


@dataclass(frozen=True)
class Proposal:
    """An action: a new prompt, and the errors and feedback it was written from."""

    prompt: str
    feedback: str
    batch_accuracy: float
    errors: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "feedback": self.feedback,
                "batch_accuracy": self.batch_accuracy}  # fmt: skip


@dataclass(frozen=True)
class PromptState:
    prompt: str
    ancestors: tuple[str, ...] = ()  # earlier prompts on the path, oldest first
    feedback: str = ""
    batch_accuracy: float | None = None
    errors: tuple[dict[str, Any], ...] = ()
    eval_accuracy: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "feedback": self.feedback,
            "batch_accuracy": self.batch_accuracy,
            "eval_accuracy": self.eval_accuracy,
            "errors": list(self.errors),
        }


class BatchLoader:
    """Batches of training examples from a shuffled list that cycles (reshuffled each pass)."""

    def __init__(self, examples: Sequence[Example], *, batch_size: int, seed: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not examples:
            raise ValueError("the training split is empty")
        self.examples = list(examples)
        self.batch_size = min(batch_size, len(self.examples))
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        self._rng = random.Random(self.seed)
        self._order: list[int] = []

    def next(self) -> list[Example]:
        batch = []
        while len(batch) < self.batch_size:
            if not self._order:
                self._order = list(range(len(self.examples)))
                self._rng.shuffle(self._order)
            batch.append(self.examples[self._order.pop()])
        return batch


class PromptAgentWorld(TaskPromptWorld):
    """Stepping to a proposal scores its prompt on the eval split (all children at once), or,
    with a `selection` bandit, estimates the children's accuracy from eval minibatches."""

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

    def init_state(self) -> PromptState:
        return PromptState(self.initial_prompt)

    def step(self, state: PromptState, action: Proposal) -> tuple[PromptState, dict[str, Any]]:
        return self.step_many([(state, action)])[0]

    def step_many(
        self, pairs: Sequence[tuple[PromptState, Proposal]]
    ) -> list[tuple[PromptState, dict[str, Any]]]:
        prompts = [action.prompt for _, action in pairs]
        accuracies, pulls = eval_estimates(self.scorer, prompts, self.task.eval,
                                           selection=self.selection, seed=self.seed)  # fmt: skip
        out = []
        for (state, action), accuracy, n in zip(pairs, accuracies, pulls):
            new = PromptState(
                action.prompt,
                (*state.ancestors, state.prompt),
                action.feedback,
                action.batch_accuracy,
                action.errors,
                accuracy,
            )
            log.info("eval accuracy %.3f for prompt:\n%s", accuracy, action.prompt)
            out.append((new, {EVAL_KEY: accuracy, PULLS_KEY: n}))
        self.on_frontier(max(len(s.ancestors) for s, _ in out))
        return out


class PromptAgentConfig(TaskPromptConfig):
    """Actions from error feedback: `expand_width` batches, each with errors, give one new
    prompt each; feedback and writing requests of a whole frontier go out together."""

    def __init__(
        self,
        task: Task,
        scorer: TaskScorer,
        optimizer: LLM,
        *,
        batch_size: int = _DEFAULTS.batch_size,
        expand_width: int = _DEFAULTS.expand_width,
        num_new_prompts: int = _DEFAULTS.num_new_prompts,
        temperature: float = _DEFAULTS.temperature,
        max_draws: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(task, scorer, optimizer)
        if expand_width < 1 or num_new_prompts < 1:
            raise ValueError("expand_width and num_new_prompts must be >= 1")
        self.loader = BatchLoader(task.train, batch_size=batch_size, seed=seed)
        self.expand_width = expand_width
        self.num_new_prompts = num_new_prompts
        self.temperature = temperature
        self.max_draws = max_draws if max_draws is not None else 3 * expand_width

    def update_example(self, example: Any, prompt: Any = None) -> None:
        super().update_example(example, prompt)
        self.loader.reset()  # every search draws the same batches in the same order

    def get_actions_many(self, states: Sequence[PromptState]) -> list[list[Proposal]]:
        return run_sync(self._actions(list(states)))

    async def _error_batches(self, states: list[PromptState]) -> list[list[Score]]:
        """For each state, up to `expand_width` scored batches that hold errors; a batch
        without errors is replaced by a new draw, at most `max_draws` draws per state."""
        found: list[list[Score]] = [[] for _ in states]
        draws = [0] * len(states)
        while True:
            jobs, owners = [], []
            for i, state in enumerate(states):
                missing = self.expand_width - len(found[i])
                for _ in range(min(missing, self.max_draws - draws[i])):
                    jobs.append((state.prompt, self.loader.next()))
                    owners.append(i)
                    draws[i] += 1
            if not jobs:
                return found
            for i, score in zip(owners, await self.scorer.score_many(jobs)):
                if score.errors and len(found[i]) < self.expand_width:
                    found[i].append(score)
                elif not score.errors:
                    log.info("a training batch had no errors: drawing another")

    async def _actions(self, states: list[PromptState]) -> list[list[Proposal]]:
        batches = await self._error_batches(states)
        jobs = [(i, score) for i, scores in enumerate(batches) for score in scores]
        feedback_requests = [
            ChatRequest.of(
                PROMPTS.render("feedback", prompt=states[i].prompt, errors=_errors_text(s.errors)),
                temperature=self.temperature,
                max_tokens=tokens_for(FEEDBACK_CHARS),
                json_schema=FEEDBACK_SCHEMA,
                frequency_penalty=WRITING_PENALTY,
            )
            for i, s in jobs
        ]
        feedbacks = await self.optimizer.agenerate_json(feedback_requests, parse=_feedback)
        writer_jobs, writer_requests = [], []
        for (i, score), (answer,) in zip(jobs, feedbacks):
            if not answer.ok:
                log.warning("unusable error feedback, batch skipped: %s", answer.error)
                continue
            state = states[i]
            chain = "\n".join(
                f"{n}. {p}" for n, p in enumerate((*state.ancestors, state.prompt), 1)
            )
            writer_requests.append(
                ChatRequest.of(
                    PROMPTS.render(
                        "writer",
                        prompt=state.prompt,
                        ancestors=chain,
                        errors=_errors_text(score.errors),
                        feedback=answer.value,
                        count=str(self.num_new_prompts),
                        max_chars=str(MAX_PROMPT_CHARS),
                    ),
                    temperature=self.temperature,
                    max_tokens=tokens_for(self.num_new_prompts * MAX_PROMPT_CHARS),
                    json_schema=writer_schema(self.num_new_prompts),
                    frequency_penalty=WRITING_PENALTY,
                )
            )
            writer_jobs.append((i, score, answer.value))
        parsers = [_prompts_parser({"the instructions you were given": PROMPTS.text("writer"),
                                    "the examples": _errors_text(score.errors)})
                   for _, score, _ in writer_jobs]  # fmt: skip
        written = await self.optimizer.agenerate_json(writer_requests, parse=parsers)
        out: list[list[Proposal]] = [[] for _ in states]
        for (i, score, feedback), (answer,) in zip(writer_jobs, written):
            if not answer.ok:
                log.warning("unusable new prompts, batch skipped: %s", answer.error)
                continue
            errors = tuple(a.to_json() for a in score.errors)
            for prompt in answer.value[: self.num_new_prompts]:
                log.info("error feedback:\n%s\nnew prompt:\n%s", feedback, prompt)
                out[i].append(Proposal(prompt, feedback, score.accuracy, errors))
        return out

    def reward(self, state: PromptState, action: Proposal, **kwargs: Any) -> tuple[float, dict]:
        accuracy, pulls = kwargs[EVAL_KEY], kwargs.get(PULLS_KEY)
        details = {"eval_accuracy": accuracy, "batch_accuracy": action.batch_accuracy}
        return accuracy, details if pulls is None else {**details, "bandit_pulls": pulls}


#: The longest error feedback, and the longest prompt the writer may propose.
FEEDBACK_CHARS, MAX_PROMPT_CHARS = 1500, 2000
FEEDBACK_SCHEMA = object_schema({"error_feedback": text_schema(FEEDBACK_CHARS)})


def writer_schema(count: int) -> dict[str, Any]:
    """Exactly `count` new prompts."""
    prompts = {"type": "array", "items": text_schema(MAX_PROMPT_CHARS, min_chars=10),
               "minItems": count, "maxItems": count}  # fmt: skip
    return object_schema({"new_prompts": prompts})


def _feedback(value: Any) -> str:
    text = value.get("error_feedback") if isinstance(value, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the JSON needs a non-empty string 'error_feedback'")
    return text.strip()


def _prompts_parser(shown: dict[str, str]) -> Any:
    """The usable new prompts of a writer's answer (ValueError when none is)."""

    def parse(value: Any) -> list[str]:
        prompts, reasons = [], []
        for prompt in _new_prompts(value):
            try:
                check_prompt(prompt, max_chars=MAX_PROMPT_CHARS, shown=shown)
                prompts.append(prompt)
            except ValueError as exc:
                reasons.append(str(exc))
        if not prompts:
            raise ValueError("; ".join(reasons))
        return prompts

    return parse


def _new_prompts(value: Any) -> list[str]:
    prompts = value.get("new_prompts") if isinstance(value, dict) else None
    if isinstance(prompts, str):
        prompts = [prompts]
    if not isinstance(prompts, list) or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ValueError("the JSON needs 'new_prompts': a list of non-empty strings")
    if not prompts:
        raise ValueError("'new_prompts' is empty")
    return [p.strip() for p in prompts]
