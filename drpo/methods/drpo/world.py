"""DRPO on our interface: the world model (states, steps) and the search config (actions,
rewards). Both run under our algorithms and under llm-reasoners' own."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from drpo.interrupts import interrupt_requested
from drpo.llm import LLM, ChatRequest
from drpo.llm._loop import run_sync
from drpo.methods.drpo.dynamic_reward import DynamicReward
from drpo.methods.drpo.prompts import render, template
from drpo.methods.drpo.schemas import MAX_PROMPT_CHARS, OPTIMIZER_MAX_TOKENS, OPTIMIZER_SCHEMA
from drpo.methods.drpo.settings import DRPOSettings
from drpo.methods.drpo.state import DRPOState, Step
from drpo.methods.prompt_checks import WRITING_PENALTY, check_prompt
from world_model import SearchConfig, WorldModel

#: The settings' declared defaults (drpo.methods.drpo.settings): the config's own.
_DEFAULTS = DRPOSettings()

log = logging.getLogger("drpo")

#: The aux key through which a step hands its evaluation to `reward`.
STEP_KEY = "drpo_step"


class DRPOWorld(WorldModel):
    """The example is the list of training queries; the action is the next system prompt.

    The root answers query 0 under the initial prompt; taking an action answers the next
    query under the new prompt and evaluates it. A path ends when the queries run out (the
    search algorithm sets the depth). `on_frontier` is called after each evaluated frontier
    (the run writes its checkpoint there). After a Ctrl-C the world asks the search to stop
    (`stop_requested`: ``"interrupted"``).
    """

    def __init__(
        self,
        reward: DynamicReward,
        *,
        initial_system_prompt: str,
        on_frontier: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        if not initial_system_prompt.strip():
            raise ValueError("the initial system prompt is empty")
        self.reward = reward
        self.initial_system_prompt = initial_system_prompt
        self.on_frontier = on_frontier

    @property
    def queries(self) -> list[str]:
        if not self.example:
            raise ValueError("DRPOWorld needs the training queries as its example")
        return self.example

    def init_state(self) -> DRPOState:
        log.info("initial system prompt:\n%s", self.initial_system_prompt)
        (step,) = run_sync(self.reward.evaluate([(self.initial_system_prompt, self.queries[0])]))
        return DRPOState((step,))

    def step(self, state: DRPOState, action: str) -> tuple[DRPOState, dict[str, Any]]:
        return self.step_many([(state, action)])[0]

    def step_many(
        self, pairs: Sequence[tuple[DRPOState, str]]
    ) -> list[tuple[DRPOState, dict[str, Any]]]:
        items = [(action, self.queries[len(state.steps)]) for state, action in pairs]
        steps = run_sync(self.reward.evaluate(items))
        out = [
            (DRPOState((*state.steps, step)), {STEP_KEY: step})
            for (state, _), step in zip(pairs, steps)
        ]
        if self.on_frontier is not None:
            self.on_frontier(max(len(state.steps) for state, _ in out) - 1)
        return out

    def is_terminal_state(self, state: DRPOState) -> bool:
        return len(state.steps) >= len(self.queries)

    def is_terminal(self, state: DRPOState) -> bool:
        """The state's own end, or any state once the world asks the search to stop (for an
        algorithm that never asks: llm-reasoners' own)."""
        return self.is_terminal_state(state) or self.stop_requested() is not None

    def stop_requested(self) -> str | None:
        """``"interrupted"`` after a Ctrl-C (the search stops at that frontier's end)."""
        return "interrupted" if interrupt_requested() else None


class DRPOSearchConfig(SearchConfig):
    """Actions: `n_actions` new system prompts from the optimiser, written from the last
    step's query, answer and evaluation and the last few former prompts. When the prompt
    already handles the last query (all 5s, or a mean above 4.5) it is kept and the search
    earns one more level (`extends_depth`). A step that could not be evaluated keeps the
    prompt too (there is nothing to learn from), but earns no level: only a query the prompt
    really handled does. A proposal that is not a usable system prompt (empty, too long, or
    a copy of the answer it was shown) counts as an unusable optimiser sample."""

    def __init__(
        self,
        optimizer: LLM,
        *,
        n_actions: int = _DEFAULTS.n_actions,
        temperature: float = _DEFAULTS.temperature,
        top_p: float = 0.95,
        max_tokens: int = OPTIMIZER_MAX_TOKENS,
        former_prompts: int = 5,
    ) -> None:
        super().__init__()
        if n_actions < 1:
            raise ValueError(f"n_actions must be >= 1, got {n_actions}")
        self.optimizer = optimizer
        self.n_actions = n_actions
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.former_prompts = former_prompts

    @staticmethod
    def keeps_prompt(state: DRPOState) -> bool:
        return state.last.handled() or state.last.error is not None

    def extends_depth(self, state: DRPOState) -> bool:
        return state.last.handled()

    def _request(self, state: DRPOState) -> ChatRequest:
        last = state.last
        history = [s.system_prompt for s in state.steps][-self.former_prompts :]
        former = "\n".join(f"--- version {i + 1} ---\n{p}" for i, p in enumerate(history[:-1]))
        evaluation = {
            a: {"score": last.scores[a], "rationale": last.rationales.get(a, "")}
            for a in last.scores
        }
        prompt = render(
            "optimizer",
            system_prompt=last.system_prompt,
            former_prompts=former or "(none)",
            query=last.query,
            output=last.output,
            evaluation=json.dumps({"evaluation": evaluation}, indent=2),
            max_chars=str(MAX_PROMPT_CHARS),
        )
        return ChatRequest.of(
            prompt,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            n=self.n_actions,
            json_schema=OPTIMIZER_SCHEMA,
            frequency_penalty=WRITING_PENALTY,
        )

    def get_actions(self, state: DRPOState) -> list[str]:
        return self.get_actions_many([state])[0]

    def get_actions_many(self, states: Sequence[DRPOState]) -> list[list[str]]:
        out: list[list[str]] = [[s.system_prompt] for s in states]
        todo = [i for i, s in enumerate(states) if not self.keeps_prompt(s)]
        for i in set(range(len(states))) - set(todo):
            reason = "could not be evaluated" if states[i].last.error else "is already handled"
            log.info("query %r %s: keeping the prompt", states[i].last.query[:80], reason)
        if not todo:
            return out
        answers = self.optimizer.generate_json(
            [self._request(states[i]) for i in todo],
            parse=[_prompt_parser(states[i].last) for i in todo],
        )
        for i, samples in zip(todo, answers):
            prompts = list(dict.fromkeys(a.value for a in samples if a.ok))
            for answer in samples:
                if not answer.ok:
                    log.warning("an optimiser sample was unusable: %s", answer.error)
            if prompts:
                out[i] = prompts
                for prompt in prompts:
                    log.info("proposed system prompt:\n%s", prompt)
            else:
                log.warning("no usable proposal from the optimiser: keeping the prompt")
        return out

    def fast_reward(self, state: DRPOState, action: str) -> tuple[float, dict[str, Any]]:
        return 0.0, {}

    def root_reward(self, state: DRPOState) -> tuple[float, dict[str, Any]]:
        """The initial prompt's reward on query 0 (already computed by `init_state`)."""
        step = state.last
        return step.reward, {"query": step.query, "scores": dict(step.scores), "error": step.error}

    def reward(self, state: DRPOState, action: str, **kwargs: Any) -> tuple[float, dict[str, Any]]:
        step = kwargs[STEP_KEY]
        details = {"query": step.query, "scores": dict(step.scores), "error": step.error}
        return step.reward, details


def _new_prompt(value: Any) -> str:
    prompt = value.get("new_system_prompt") if isinstance(value, dict) else None
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("the JSON needs a non-empty string 'new_system_prompt'")
    return prompt.replace("\\n", "\n").strip()


def _prompt_parser(shown: Step) -> Callable[[Any], str]:
    """The new system prompt of an optimiser answer, if it is a usable one for `shown`."""

    def parse(value: Any) -> str:
        prompt = _new_prompt(value)
        check_system_prompt(prompt, answer=shown.output, query=shown.query,
                            instructions=template("optimizer"),
                            current=shown.system_prompt)  # fmt: skip
        return prompt

    return parse


def check_system_prompt(
    prompt: str, *, answer: str, query: str, instructions: str = "", current: str = ""
) -> None:
    """ValueError (the reason, for the re-ask) when `prompt` is no usable system prompt: too
    short or too long, looping, or mostly a copy of the answer, the query or the
    instructions it was written from. Text of the `current` system prompt it rewrites
    never counts as copied (a base model often echoes its instructions in its answer)."""
    shown = {"the assistant's answer": answer, "the user's request": query,
             "the instructions you were given": instructions}  # fmt: skip
    check_prompt(prompt, max_chars=MAX_PROMPT_CHARS, shown=shown, what="'new_system_prompt'",
                 allowed=current)  # fmt: skip
