"""OPRO on our interface.

State: the scored history, every instruction written so far with its training accuracy
(the state's prompt is the best of them), plus what the step that made the state showed
and scored. Action: one step's batch of new instructions, written by the optimiser from a
meta-prompt that holds the best `max_shown` instructions of the history sorted ascending by
score (those below `threshold` left out) and `n_exemplars` training questions with their
answers, drawn afresh each step. Stepping scores every new instruction on the scoring set
(a fixed part of the training split) and adds it to the history; an instruction scored
before is not scored again. Each state has one action, so a greedy search (a beam of one)
to depth = the number of steps drives the chain. Reward: the best training accuracy in the
history.
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
from drpo.methods.meta_prompts import MetaPrompts
from drpo.methods.opro.settings import OPROSettings
from drpo.methods.prompt_checks import WRITING_PENALTY, check_prompt
from drpo.methods.task_config import TaskPromptConfig
from drpo.methods.task_scoring import TaskPromptWorld, TaskScorer
from drpo.methods.tasks import Example, Task

log = logging.getLogger("drpo")
#: The settings' declared defaults (drpo.methods.opro.settings): the config's own.
_DEFAULTS = OPROSettings()

PROMPTS = MetaPrompts(Path(__file__).with_name("prompts"))
#: The key the optimiser answers in (the simulated LLM recognises its OPRO role by it).
ANSWER_KEY = "higher_scoring_instruction"
#: The longest instruction kept (the reference implementation skips longer ones).
MAX_INSTRUCTION_CHARS = 500
BEST_KEY = "opro_best_train_accuracy"


@dataclass(frozen=True)
class Scored:
    """An instruction, its accuracy on the scoring set, and the step that wrote it (0: the
    initial instruction)."""

    instruction: str
    score: float
    step: int

    def to_json(self) -> dict[str, Any]:
        return {"instruction": self.instruction, "train_accuracy": self.score, "step": self.step}


@dataclass(frozen=True)
class InstructionBatch:
    """An action: one step's new instructions (none scored before), with what the
    meta-prompt that produced them showed."""

    instructions: tuple[str, ...]
    shown: tuple[Scored, ...]
    exemplars: tuple[str, ...]  # the questions of the exemplars shown

    def to_json(self) -> dict[str, Any]:
        return {"instructions": list(self.instructions)}


@dataclass(frozen=True)
class OPROState:
    history: tuple[Scored, ...]  # every scored instruction, in the order found
    step: int = 0
    new: tuple[Scored, ...] = ()  # what the step that made this state scored
    shown: tuple[Scored, ...] = ()  # the history its meta-prompt showed
    exemplars: tuple[str, ...] = ()

    @property
    def best(self) -> Scored:
        """The best instruction so far (the earliest of equals)."""
        return max(self.history, key=lambda s: s.score)

    @property
    def prompt(self) -> str:
        return self.best.instruction

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "train_accuracy": self.best.score,
            "step": self.step,
            "new_instructions": [s.to_json() for s in self.new],
            "meta_prompt_history": [s.to_json() for s in self.shown],
            "exemplars": list(self.exemplars),
            "instructions_scored": len(self.history),
        }


def scoring_set(task: Task, size: int) -> tuple[Example, ...]:
    """The training examples every instruction is scored on (the split is already
    shuffled with the run's seed)."""
    return task.train[:size]


def shown_history(history: Sequence[Scored], *, max_shown: int, threshold: float) -> list[Scored]:
    """What a meta-prompt shows of the history: the `max_shown` best instructions, sorted
    ascending by score (equals in the order found), less those scoring below `threshold`."""
    ranked = sorted(history, key=lambda s: s.score)[-max_shown:]
    return [s for s in ranked if s.score >= threshold]


def _key(text: str) -> str:
    return " ".join(text.split()).lower()


class OPROWorld(TaskPromptWorld):
    """Scores each step's new instructions on the scoring set, all of a frontier at once."""

    def __init__(
        self,
        task: Task,
        scorer: TaskScorer,
        *,
        initial_prompt: str,
        scoring: Sequence[Example],
        on_frontier: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(task, scorer, initial_prompt=initial_prompt, on_frontier=on_frontier)
        if not scoring:
            raise ValueError("the training split is empty: OPRO scores instructions on it")
        self.scoring = tuple(scoring)

    def best_eval(self) -> float | None:
        """OPRO's own figure for the anytime trace: the best accuracy on the scoring set
        (training examples; OPRO does not score on the eval split while it searches)."""
        return self.scorer.best_on(self.scoring)

    def init_state(self) -> OPROState:
        (score,) = run_sync(self.scorer.score_many([(self.initial_prompt, self.scoring)]))
        log.info("initial instruction: training accuracy %.3f", score.accuracy)
        return OPROState((Scored(self.initial_prompt, score.accuracy, 0),))

    def step(self, state: OPROState, action: InstructionBatch) -> tuple[OPROState, dict[str, Any]]:
        return self.step_many([(state, action)])[0]

    def step_many(
        self, pairs: Sequence[tuple[OPROState, InstructionBatch]]
    ) -> list[tuple[OPROState, dict[str, Any]]]:
        jobs = [(text, self.scoring) for _, action in pairs for text in action.instructions]
        scores = iter(run_sync(self.scorer.score_many(jobs)) if jobs else [])
        out = []
        for state, action in pairs:
            step = state.step + 1
            new = tuple(Scored(text, next(scores).accuracy, step) for text in action.instructions)
            for scored in new:
                log.info("step %d: training accuracy %.3f for instruction:\n%s", step,
                         scored.score, scored.instruction)  # fmt: skip
            after = OPROState((*state.history, *new), step, new, action.shown, action.exemplars)
            out.append((after, {BEST_KEY: after.best.score}))
        self.on_frontier(max(s.step for s, _ in out))
        return out


class OPROConfig(TaskPromptConfig):
    """One action per state: the batch of `per_step` instructions the optimiser writes
    from the meta-prompt (one request with `per_step` samples)."""

    def __init__(
        self,
        task: Task,
        optimizer: LLM,
        *,
        scoring: Sequence[Example],
        per_step: int = _DEFAULTS.instructions_per_step,
        n_exemplars: int = _DEFAULTS.exemplars_per_step,
        max_shown: int = _DEFAULTS.max_history,
        threshold: float = _DEFAULTS.history_threshold,
        temperature: float = _DEFAULTS.temperature,
        seed: int = 0,
    ) -> None:
        super().__init__(task, None, optimizer)
        if per_step < 1 or max_shown < 1 or n_exemplars < 0:
            raise ValueError(
                "instructions_per_step and max_history must be >= 1, exemplars_per_step >= 0"
            )
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"history_threshold must be within 0 and 1, got {threshold}")
        self.scoring = tuple(scoring)
        self.per_step, self.n_exemplars = per_step, n_exemplars
        self.max_shown, self.threshold = max_shown, threshold
        self.temperature, self.seed = temperature, seed

    def exemplars_for(self, step: int) -> list[Example]:
        """The exemplars of a step: drawn at random from the scoring set, anew each step."""
        rng = random.Random(f"{self.seed}:{step}")
        count = min(self.n_exemplars, len(self.scoring))
        return [self.scoring[i] for i in sorted(rng.sample(range(len(self.scoring)), count))]

    def meta_prompt(self, state: OPROState) -> tuple[str, list[Scored], list[Example]]:
        """The meta-prompt of the step after `state`, with the history and exemplars it shows."""
        shown = shown_history(state.history, max_shown=self.max_shown, threshold=self.threshold)
        exemplars = self.exemplars_for(state.step)
        text = PROMPTS.render("optimizer", history=_history_text(shown),
                              exemplars=_exemplars_text(exemplars),
                              max_chars=str(MAX_INSTRUCTION_CHARS))  # fmt: skip
        return text, shown, exemplars

    def get_actions_many(self, states: Sequence[OPROState]) -> list[list[InstructionBatch]]:
        prompts = [self.meta_prompt(s) for s in states]
        requests = [
            ChatRequest.of(
                text,
                temperature=self.temperature,
                max_tokens=tokens_for(MAX_INSTRUCTION_CHARS),
                n=self.per_step,
                json_schema=SCHEMA,
                frequency_penalty=WRITING_PENALTY,
            )
            for text, _, _ in prompts
        ]
        parsers = [_parser({"the instructions you were given": PROMPTS.text("optimizer"),
                            "the exemplars": _exemplars_text(ex)})
                   for _, _, ex in prompts]  # fmt: skip
        answers = self.optimizer.generate_json(requests, parse=parsers)
        out = []
        for state, (_, shown, exemplars), samples in zip(states, prompts, answers):
            seen = {_key(s.instruction) for s in state.history}
            fresh = []
            for answer in samples:
                if not answer.ok:
                    log.warning("an optimiser sample was unusable: %s", answer.error)
                elif _key(answer.value) in seen:
                    log.info("already scored, not scored again: %s", answer.value)
                else:
                    seen.add(_key(answer.value))
                    fresh.append(answer.value)
            batch = InstructionBatch(tuple(fresh), tuple(shown),
                                     tuple(e.question for e in exemplars))  # fmt: skip
            out.append([batch])
        return out

    def root_reward(self, state: OPROState) -> tuple[float, dict[str, Any]]:
        return state.best.score, {"train_accuracy": state.best.score}

    def reward(
        self, state: OPROState, action: InstructionBatch, **kwargs: Any
    ) -> tuple[float, dict[str, Any]]:
        best = float(kwargs[BEST_KEY])
        return best, {"train_accuracy": best, "new_instructions": len(action.instructions)}


def _history_text(shown: Sequence[Scored]) -> str:
    """Each instruction and its score as a whole number from 0 to 100."""
    return "\n\n".join(f"Instruction: {s.instruction}\nScore: {round(100 * s.score)}"
                       for s in shown)  # fmt: skip


def _exemplars_text(exemplars: Sequence[Example]) -> str:
    return "\n\n".join(f"Question: {e.question}\nCorrect answer: {e.gold}" for e in exemplars)


SCHEMA = object_schema({ANSWER_KEY: text_schema(MAX_INSTRUCTION_CHARS, min_chars=10)})


def _parser(shown: dict[str, str]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = value.get(ANSWER_KEY) if isinstance(value, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"the JSON needs a non-empty string {ANSWER_KEY!r}")
        text = text.strip()
        check_prompt(text, max_chars=MAX_INSTRUCTION_CHARS, shown=shown,
                     what="the new instruction")  # fmt: skip
        return text

    return parse
