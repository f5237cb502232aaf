"""llm-reasoners interop.

Our worlds already run under llm-reasoners' algorithms as they are: they have its method names,
and their fixed return types are the tuple forms it accepts. The other direction needs one step:
llm-reasoners lets `step` return a bare state and `reward` a bare float, and our algorithms do
not guess, so `from_reasoners` wraps such a world in objects that always return the tuple forms.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

from world_model.base import Scored, SearchConfig, WorldModel


class ReasonersWorldModel(WorldModel):
    """An llm-reasoners-style world model with our fixed return types."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner

    def init_state(self) -> Any:
        return self.inner.init_state()

    def step(self, state: Any, action: Any) -> tuple[Any, dict[str, Any]]:
        out = self.inner.step(state, action)
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
            return out
        return out, {}

    def is_terminal(self, state: Any) -> bool:
        return bool(self.inner.is_terminal(state))

    def update_example(self, example: Any, prompt: Any = None) -> None:
        super().update_example(example, prompt=prompt)
        self.inner.update_example(example, prompt=prompt)


def _as_scored(out: Any) -> Scored:
    if isinstance(out, Real) and not isinstance(out, bool):
        return float(out), {}
    if isinstance(out, tuple) and len(out) == 2:
        value, details = out
        return float(value), dict(details) if details is not None else {}
    raise TypeError(f"an llm-reasoners reward must be a number or (number, dict); got {out!r}")


class ReasonersSearchConfig(SearchConfig):
    """An llm-reasoners-style search config with our fixed return types."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner

    def get_actions(self, state: Any) -> list[Any]:
        return list(self.inner.get_actions(state))

    def fast_reward(self, state: Any, action: Any) -> Scored:
        return _as_scored(self.inner.fast_reward(state, action))

    def reward(self, state: Any, action: Any, **kwargs: Any) -> Scored:
        return _as_scored(self.inner.reward(state, action, **kwargs))

    def update_example(self, example: Any, prompt: Any = None) -> None:
        super().update_example(example, prompt=prompt)
        self.inner.update_example(example, prompt=prompt)


def from_reasoners(world_model: Any, search_config: Any) -> tuple[WorldModel, SearchConfig]:
    """Wrap an llm-reasoners world model and search config for our algorithms."""
    return ReasonersWorldModel(world_model), ReasonersSearchConfig(search_config)
