"""ProTeGi (Pryzant et al., EMNLP 2023) on our interface.

State: a task prompt, with the prompts before it, how it was made (an edit along a textual
"gradient", a paraphrase, or the parent kept) and the bandit's estimate of its accuracy.

Actions (`get_actions_many`, the whole beam at once): a parent's successors. The beam runs
on one minibatch of training examples; for each parent, `n_gradients` groups of
`errors_per_gradient` of its errors go to the optimiser, which names
`gradients_per_error` reasons the prompt failed (the gradients); each gradient gives
`steps_per_gradient` edited prompts; each edit, and the parent itself, gives
`mc_samples_per_step` paraphrases (Monte Carlo samples around it). At most
`max_expansion_factor` of them (a seeded sample) are kept, and the parent itself is one more
action ("keep"), so that the parents compete with their successors as in the paper.

Selection (`step_many`, the whole frontier at once: the beam and all their successors): a
bandit (UCB or successive rejects, search.bandit) over minibatches of the eval split picks
the best `beam_size`, without scoring every candidate on the whole split. The reward of a
candidate is the bandit's estimate (ArmStats.value), so that the beam search, which keeps
the `beam_size` best rewards, keeps exactly the bandit's choice. The bandit runs in
`step_many` (as PromptAgent scores its children there), so that the `on_frontier` hook (the
checkpoint) follows it; `reward` reads its verdict from the step's aux.

Where the paper's reference code draws the bandit's minibatches from its training data, here
they come from the eval split, which PromptAgent and GPO score on too; the training split
feeds the gradients. Its UCB pulls never-pulled prompts first (the code starts at random).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drpo.llm import LLM, ChatRequest
from drpo.llm._loop import run_sync
from drpo.llm.json_schema import object_schema, text_schema, tokens_for
from drpo.methods.bandit_scoring import BanditSettings, bandit_scores
from drpo.methods.meta_prompts import MetaPrompts
from drpo.methods.prompt_checks import WRITING_PENALTY, check_prompt
from drpo.methods.protegi.settings import ProTeGiSettings
from drpo.methods.task_config import TaskPromptConfig
from drpo.methods.task_scoring import Attempt, TaskPromptWorld, TaskScorer
from drpo.methods.tasks import Task
from search.bandit import ArmStats

log = logging.getLogger("drpo")
#: The settings' declared defaults (drpo.methods.protegi.settings): the config's own.
_DEFAULTS = ProTeGiSettings()

PROMPTS = MetaPrompts(Path(__file__).with_name("prompts"))
SELECTION_KEY = "protegi_selection"
#: The longest reason, and the longest prompt the optimiser may write.
REASON_CHARS, MAX_PROMPT_CHARS = 600, 2000


def errors_text(errors: Sequence[Attempt]) -> str:
    return "\n\n".join(
        f"## Example {i + 1}\nInput: {a.example.question}\nModel's response: {a.response}\n"
        f"Correct answer: {a.example.gold}\nModel's answer: {a.prediction or '(none found)'}"
        for i, a in enumerate(errors)
    )


@dataclass(frozen=True)
class Successor:
    """An action: a candidate prompt and how it was made ("edit", "paraphrase", "keep")."""

    prompt: str
    kind: str
    gradient: str = ""  # the reason an edit (or the edit a paraphrase rewords) followed
    errors: tuple[dict[str, Any], ...] = ()  # the errors the gradient was found from

    def to_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "kind": self.kind, "gradient": self.gradient}


@dataclass(frozen=True)
class ProTeGiState:
    prompt: str
    ancestors: tuple[str, ...] = ()  # the beam prompts on the path, oldest first
    kind: str = "initial"
    gradient: str = ""
    errors: tuple[dict[str, Any], ...] = ()
    estimate: float | None = None  # the bandit's mean accuracy on eval minibatches
    pulls: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "kind": self.kind,
            "gradient": self.gradient,
            "estimated_accuracy": self.estimate,
            "pulls": self.pulls,
            "errors": list(self.errors),
        }


class ProTeGiWorld(TaskPromptWorld):
    """Stepping a frontier runs the bandit over all of its candidates at once."""

    def __init__(
        self,
        task: Task,
        scorer: TaskScorer,
        *,
        initial_prompt: str,
        beam_size: int,
        bandit: BanditSettings,
        seed: int = 0,
        on_frontier: Any = None,
    ) -> None:
        super().__init__(task, scorer, initial_prompt=initial_prompt, on_frontier=on_frontier)
        bandit.check()
        self.beam_size, self.bandit, self.seed = beam_size, bandit, seed
        self._beam_best: float | None = None

    def best_eval(self) -> float | None:
        """ProTeGi's own figure for the anytime trace: the bandit's estimate of the best prompt
        it kept (its mean over the eval minibatches it was pulled on)."""
        return self._beam_best

    def init_state(self) -> ProTeGiState:
        return ProTeGiState(self.initial_prompt)

    def step(self, state: ProTeGiState, action: Successor) -> tuple[ProTeGiState, dict[str, Any]]:
        return self.step_many([(state, action)])[0]

    def step_many(
        self, pairs: Sequence[tuple[ProTeGiState, Successor]]
    ) -> list[tuple[ProTeGiState, dict[str, Any]]]:
        selection = bandit_scores(self.scorer, [a.prompt for _, a in pairs], self.task.eval,
                                  keep=self.beam_size, settings=self.bandit,
                                  seed=self.seed)  # fmt: skip
        result = selection.result
        log.info("bandit (%s): %d candidates, %d pulls of %d eval examples",
                 result.strategy, len(result.arms), result.pulls, self.bandit.samples)  # fmt: skip
        out = []
        for (state, action), arm, kept in zip(pairs, selection.arms, selection.kept):
            new = ProTeGiState(
                action.prompt,
                (*state.ancestors, state.prompt),
                action.kind,
                action.gradient,
                action.errors,
                arm.mean,
                arm.pulls,
            )
            out.append((new, {SELECTION_KEY: (arm, kept)}))
        means = [arm.mean for arm, kept in zip(selection.arms, selection.kept) if kept]
        self._beam_best = max(means) if means else None
        self.on_frontier(max(len(s.ancestors) for s, _ in out))
        return out


class ProTeGiConfig(TaskPromptConfig):
    """Successors from textual gradients; the requests of a whole beam go out together, one
    stage (gradients, edits, paraphrases) after the other."""

    def __init__(
        self,
        task: Task,
        scorer: TaskScorer,
        optimizer: LLM,
        *,
        minibatch_size: int = _DEFAULTS.minibatch_size,
        n_gradients: int = _DEFAULTS.n_gradients,
        errors_per_gradient: int = _DEFAULTS.errors_per_gradient,
        gradients_per_error: int = _DEFAULTS.gradients_per_error,
        steps_per_gradient: int = _DEFAULTS.steps_per_gradient,
        mc_samples_per_step: int = _DEFAULTS.mc_samples_per_step,
        max_expansion_factor: int = _DEFAULTS.max_expansion_factor,
        temperature: float = _DEFAULTS.temperature,
        seed: int = 0,
    ) -> None:
        super().__init__(task, scorer, optimizer)
        counts = {
            "minibatch_size": minibatch_size,
            "errors_per_gradient": errors_per_gradient,
            "gradients_per_error": gradients_per_error,
            "steps_per_gradient": steps_per_gradient,
            "max_expansion_factor": max_expansion_factor,
        }
        for name, value in counts.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        at_least_0 = {"n_gradients": n_gradients, "mc_samples_per_step": mc_samples_per_step}
        for name, value in at_least_0.items():
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if not task.train:
            raise ValueError("the training split is empty")
        self.minibatch_size = min(minibatch_size, len(task.train))
        self.n_gradients, self.errors_per_gradient = n_gradients, errors_per_gradient
        self.gradients_per_error, self.steps_per_gradient = gradients_per_error, steps_per_gradient
        self.mc_samples_per_step = mc_samples_per_step
        self.max_expansion_factor = max_expansion_factor
        self.temperature = temperature
        self.seed = seed

    def get_actions_many(self, states: Sequence[ProTeGiState]) -> list[list[Successor]]:
        return run_sync(self._expand(list(states)))

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(":".join(str(p) for p in (self.seed, *parts)))

    def _request(self, name: str, chars: int, schema: dict[str, Any], n: int = 1,
                 **values: str) -> ChatRequest:  # fmt: skip
        return ChatRequest.of(PROMPTS.render(name, **values), temperature=self.temperature,
                              max_tokens=tokens_for(chars), json_schema=schema, n=n,
                              frequency_penalty=WRITING_PENALTY)  # fmt: skip

    async def _expand(self, states: list[ProTeGiState]) -> list[list[Successor]]:
        depth = max(len(s.ancestors) for s in states)
        # one minibatch of training examples for the whole beam, as in the paper
        minibatch = self._rng("minibatch", depth).sample(list(self.task.train), self.minibatch_size)
        scores = await self.scorer.score_many([(s.prompt, minibatch) for s in states])
        groups: list[tuple[int, tuple[Attempt, ...]]] = []
        for i, score in enumerate(scores):
            if not score.errors:
                log.info("no errors on the minibatch: no gradients for this prompt")
                continue
            for g in range(self.n_gradients):
                rng = self._rng("errors", depth, i, g)
                picked = rng.sample(score.errors, min(self.errors_per_gradient, len(score.errors)))
                groups.append((i, tuple(picked)))
        gradients = await self._gradients(states, groups)
        edits = await self._edits(states, gradients)
        sources = [(i, e.prompt, e.gradient) for i, e in edits]
        sources += [(i, s.prompt, "") for i, s in enumerate(states)]
        paraphrases = await self._paraphrases(sources)
        out: list[list[Successor]] = []
        for i, state in enumerate(states):
            found: dict[str, Successor] = {}
            for owner, successor in (*edits, *paraphrases):
                if owner == i and successor.prompt != state.prompt:
                    found.setdefault(successor.prompt, successor)
            successors = list(found.values())
            if len(successors) > self.max_expansion_factor:
                rng = self._rng("expansion", depth, i)
                successors = rng.sample(successors, self.max_expansion_factor)
            out.append([*successors, Successor(state.prompt, "keep", state.gradient)])
        return out

    async def _gradients(
        self, states: list[ProTeGiState], groups: list[tuple[int, tuple[Attempt, ...]]]
    ) -> list[tuple[int, str, tuple[Attempt, ...]]]:
        """(parent, reason, errors) for every reason the optimiser gave."""
        requests = [self._request("gradient", self.gradients_per_error * REASON_CHARS,
                                  reasons_schema(self.gradients_per_error),
                                  prompt=states[i].prompt, errors=errors_text(errors),
                                  count=str(self.gradients_per_error))
                    for i, errors in groups]  # fmt: skip
        answers = await self.optimizer.agenerate_json(requests, parse=_reasons)
        out = []
        for (i, errors), (answer,) in zip(groups, answers):
            if not answer.ok:
                log.warning("unusable gradient, error group skipped: %s", answer.error)
                continue
            for reason in answer.value[: self.gradients_per_error]:
                log.info("gradient:\n%s", reason)
                out.append((i, reason, errors))
        return out

    async def _edits(
        self, states: list[ProTeGiState], gradients: list[tuple[int, str, tuple[Attempt, ...]]]
    ) -> list[tuple[int, Successor]]:
        count = self.steps_per_gradient
        requests = [self._request("edit", count * MAX_PROMPT_CHARS, edits_schema(count),
                                  prompt=states[i].prompt, errors=errors_text(errors),
                                  reason=reason, count=str(count),
                                  max_chars=str(MAX_PROMPT_CHARS))
                    for i, reason, errors in gradients]  # fmt: skip
        parsers = [_edits_parser({"the instructions you were given": PROMPTS.text("edit"),
                                  "the examples": errors_text(errors)})
                   for _, _, errors in gradients]  # fmt: skip
        answers = await self.optimizer.agenerate_json(requests, parse=parsers)
        out = []
        for (i, reason, errors), (answer,) in zip(gradients, answers):
            if not answer.ok:
                log.warning("unusable edit, gradient skipped: %s", answer.error)
                continue
            shown = tuple(a.to_json() for a in errors)
            for prompt in answer.value[:count]:
                log.info("edit along the gradient:\n%s", prompt)
                out.append((i, Successor(prompt, "edit", reason, shown)))
        return out

    async def _paraphrases(
        self, sources: list[tuple[int, str, str]]
    ) -> list[tuple[int, Successor]]:
        if self.mc_samples_per_step == 0:
            return []
        requests = [self._request("paraphrase", MAX_PROMPT_CHARS, PARAPHRASE_SCHEMA,
                                  n=self.mc_samples_per_step, prompt=prompt)
                    for _, prompt, _ in sources]  # fmt: skip
        answers = await self.optimizer.agenerate_json(requests, parse=_paraphrase)
        out = []
        for (i, _, gradient), samples in zip(sources, answers):
            for answer in samples:
                if answer.ok:
                    out.append((i, Successor(answer.value, "paraphrase", gradient)))
                else:
                    log.warning("an unusable paraphrase was dropped: %s", answer.error)
        return out

    def reward(
        self, state: ProTeGiState, action: Successor, **kwargs: Any
    ) -> tuple[float, dict[str, Any]]:
        arm, kept = kwargs[SELECTION_KEY]
        assert isinstance(arm, ArmStats)
        return arm.value, {"estimated_accuracy": arm.mean, "pulls": arm.pulls,
                           "kept_in_beam": kept, "kind": action.kind}  # fmt: skip


def reasons_schema(count: int) -> dict[str, Any]:
    reasons = {"type": "array", "items": text_schema(REASON_CHARS, min_chars=5),
               "minItems": count, "maxItems": count}  # fmt: skip
    return object_schema({"failure_reasons": reasons})


def edits_schema(count: int) -> dict[str, Any]:
    prompts = {"type": "array", "items": text_schema(MAX_PROMPT_CHARS, min_chars=10),
               "minItems": count, "maxItems": count}  # fmt: skip
    return object_schema({"improved_prompts": prompts})


PARAPHRASE_SCHEMA = object_schema(
    {"paraphrased_prompt": text_schema(MAX_PROMPT_CHARS, min_chars=10)}
)


def _strings(value: Any, key: str) -> list[str]:
    items = value.get(key) if isinstance(value, dict) else None
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list) or not items:
        raise ValueError(f"the JSON needs {key!r}: a list of non-empty strings")
    out = [x.strip() for x in items if isinstance(x, str) and x.strip()]
    if len(out) != len(items):
        raise ValueError(f"the JSON needs {key!r}: a list of non-empty strings")
    return out


def _reasons(value: Any) -> list[str]:
    return _strings(value, "failure_reasons")


def _edits_parser(shown: dict[str, str]) -> Any:
    """The usable prompts of an edit answer (ValueError when none is)."""

    def parse(value: Any) -> list[str]:
        prompts, problems = [], []
        for prompt in _strings(value, "improved_prompts"):
            try:
                check_prompt(prompt, max_chars=MAX_PROMPT_CHARS, shown=shown)
                prompts.append(prompt)
            except ValueError as exc:
                problems.append(str(exc))
        if not prompts:
            raise ValueError("; ".join(problems))
        return prompts

    return parse


def _paraphrase(value: Any) -> str:
    text = value.get("paraphrased_prompt") if isinstance(value, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the JSON needs a non-empty string 'paraphrased_prompt'")
    shown = {"the instructions you were given": PROMPTS.text("paraphrase")}
    check_prompt(text.strip(), max_chars=MAX_PROMPT_CHARS, shown=shown)
    return text.strip()
