"""Scoring task prompts: the task model answers examples under a prompt, and the answers are
checked against the gold ones. A whole set of (prompt, example) pairs goes out as one batch;
every answer is cached, so the same prompt is never paid twice on the same example."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drpo.interrupts import interrupt_requested
from drpo.llm import LLM, ChatRequest
from drpo.methods.tasks import Example, Task, extract_answer, is_correct
from search.artifacts import write_atomic
from world_model import WorldModel

ANSWER_FORMAT = "Finish with: the answer is <your answer>."


@dataclass(frozen=True)
class Attempt:
    """One example answered under one prompt."""

    example: Example
    response: str
    prediction: str | None
    correct: bool

    def to_json(self) -> dict[str, object]:
        return {
            "question": self.example.question,
            "gold": self.example.gold,
            "response": self.response,
            "prediction": self.prediction,
            "correct": self.correct,
        }


@dataclass(frozen=True)
class Score:
    accuracy: float
    attempts: tuple[Attempt, ...]

    @property
    def errors(self) -> tuple[Attempt, ...]:
        return tuple(a for a in self.attempts if not a.correct)

    @property
    def correct(self) -> list[float]:
        """1.0 or 0.0 per example, in order (for paired comparisons)."""
        return [1.0 if a.correct else 0.0 for a in self.attempts]


def write_test_answers(path: Path, initial: Score, final: Score) -> dict[str, Any]:
    """Every held-out answer under the initial and the final prompt, side by side, for a person
    to read (`test_answers.json`); returns how often each gold answer and each prediction
    occurs, which shows a gain that comes from a shifted answer bias."""
    rows = [{"question": a.example.question, "gold": a.example.gold,
             "initial": {k: v for k, v in a.to_json().items() if k not in ("question", "gold")},
             "final": {k: v for k, v in b.to_json().items() if k not in ("question", "gold")}}
            for a, b in zip(initial.attempts, final.attempts, strict=True)]  # fmt: skip
    counts = {
        "gold": _counts(a.example.gold for a in initial.attempts),
        "initial": _counts(a.prediction for a in initial.attempts),
        "final": _counts(a.prediction for a in final.attempts),
    }
    text = json.dumps({"counts": counts, "answers": rows}, indent=1, ensure_ascii=False)
    write_atomic(path, (text + "\n").encode("utf-8"))
    return counts


def _counts(values: Any) -> dict[str, int]:
    """Occurrences, commonest first; no answer found counts as "(none)"."""
    return dict(Counter("(none)" if v is None else str(v) for v in values).most_common())


def prefix_order(prompts: Sequence[str], *, lanes: int = 1) -> list[int]:
    """The order in which to send requests whose texts start with `prompts`, so that a local
    server's slot reuses the prompt it has just processed from its prompt cache instead of
    processing it again (bench/prefix_order.py measures it).

    The requests are grouped by prompt (prompts in the order they first occur, each one's
    requests in their own order), then cut into `lanes` consecutive runs of equal length,
    one per slot the server answers at once, and sent lane by lane in turn: while slots
    finish in turn, each works through its own run and meets a new prompt only where its
    run does. Grouping alone (one lane) would hand every prompt to every slot."""
    first: dict[str, int] = {}
    for i, prompt in enumerate(prompts):
        first.setdefault(prompt, i)
    grouped = sorted(range(len(prompts)), key=lambda i: (first[prompts[i]], i))
    if lanes <= 1 or len(grouped) <= lanes:
        return grouped
    size = -(-len(grouped) // lanes)
    runs = [grouped[start : start + size] for start in range(0, len(grouped), size)]
    return [run[j] for j in range(size) for run in runs if j < len(run)]


class TaskScorer:
    """Answers examples with the task model (the "base" role) and scores the answers."""

    def __init__(self, llm: LLM, *, max_tokens: int = 512) -> None:
        self.llm = llm
        self.max_tokens = max_tokens
        self._best: dict[tuple[Example, ...], float] = {}  # best accuracy per example set

    def best_on(self, examples: Sequence[Example]) -> float | None:
        """The best accuracy any prompt scored so far on exactly these examples."""
        return self._best.get(tuple(examples))

    def request(self, prompt: str, example: Example) -> ChatRequest:
        text = f"{prompt.strip()}\n\n{example.question}\n\n{ANSWER_FORMAT}"
        return ChatRequest.of(text, temperature=0.0, max_tokens=self.max_tokens)

    async def score_many(self, jobs: Sequence[tuple[str, Sequence[Example]]]) -> list[Score]:
        """A `Score` per (prompt, examples) job, all answered in one batch, sent in
        `prefix_order`."""
        pairs = [(p, ex) for p, examples in jobs for ex in examples]
        lanes = getattr(self.llm.backend, "concurrency", 1)  # requests a server takes at once
        order = prefix_order([p for p, _ in pairs], lanes=lanes)
        sent = await self.llm.agenerate([self.request(*pairs[i]) for i in order])
        completions = [sent[0]] * len(pairs) if pairs else []
        for position, i in enumerate(order):
            completions[i] = sent[position]
        scores, position = [], 0
        for _, examples in jobs:
            attempts = []
            for example in examples:
                text = completions[position].text
                position += 1
                attempts.append(Attempt(example, text, extract_answer(text, example),
                                        is_correct(text, example)))  # fmt: skip
            accuracy = sum(a.correct for a in attempts) / max(1, len(attempts))
            scores.append(Score(accuracy, tuple(attempts)))
            key = tuple(examples)
            self._best[key] = max(accuracy, self._best.get(key, accuracy))
        return scores


#: The run's hook after each evaluated frontier: the depth reached and the best eval accuracy
#: seen so far; it returns whether the search budget is spent (`Session.on_frontier`).
FrontierHook = Callable[..., "bool | None"]


class TaskPromptWorld(WorldModel):
    """The shared part of the task-prompt worlds (PromptAgent, GPO, ...): a task, a scorer,
    the initial prompt, and `on_frontier`, which a subclass calls with the depth reached
    after each evaluated frontier. It passes the run's hook the best eval accuracy so far
    (for the anytime trace) and learns whether the search budget is spent: from then on it
    asks the search to stop (`stop_requested` says ``"budget"``; after a Ctrl-C
    ``"interrupted"``), so the search ends at that frontier's boundary and its result says
    so. Paths end at the search's depth limit, never in the world (`is_terminal_state`); for
    an algorithm that never asks (llm-reasoners' own), `is_terminal` is True once the world
    asks to stop."""

    def __init__(
        self,
        task: Task,
        scorer: TaskScorer,
        *,
        initial_prompt: str,
        on_frontier: FrontierHook | None = None,
    ) -> None:
        super().__init__()
        if not initial_prompt.strip():
            raise ValueError("the initial prompt is empty")
        self.task = task
        self.scorer = scorer
        self.initial_prompt = initial_prompt
        self.budget_spent = False
        self._hook = on_frontier

    def on_frontier(self, depth: int) -> None:
        """Called by the subclass after each evaluated frontier."""
        if self._hook is not None:
            spent = self._hook(depth, best_eval=self.best_eval())
            self.budget_spent = self.budget_spent or bool(spent)

    def best_eval(self) -> float | None:
        """The search's own figure of its best prompt so far, for the anytime trace: by
        default the best accuracy any prompt scored on the eval split (None before any)."""
        return self.scorer.best_on(self.task.eval)

    def is_terminal_state(self, state: Any) -> bool:
        return False  # paths end at the search's depth limit

    def is_terminal(self, state: Any) -> bool:
        """True once the world asks the search to stop: an algorithm that never asks
        (llm-reasoners' own) then ends every path."""
        return self.stop_requested() is not None

    def stop_requested(self) -> str | None:
        """``"budget"`` once the search budget is spent, ``"interrupted"`` after a Ctrl-C."""
        if self.budget_spent:
            return "budget"
        return "interrupted" if interrupt_requested() else None
