"""How a search algorithm calls a world: a whole frontier at a time, with the return shapes checked.

Each function uses the world's ``*_many`` method where it has one (a world built on our base
classes always has) and falls back to one call per item for duck-typed worlds, such as those
written for llm-reasoners. Every return value is checked, so that a world breaking the contract
fails at once with a message naming the method, instead of deep inside an algorithm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from typing import Any

from world_model.base import STOP_REQUESTS, RewardRequest, Scored, WorldModel


class ContractError(TypeError):
    """A world model or search config returned something of the wrong shape."""


_ADAPTER_HINT = (
    " (a world written for llm-reasoners runs here through world_model.adapters.from_reasoners)"
)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _checked_length(name: str, out: Any, expected: int) -> list[Any]:
    if not isinstance(out, (list, tuple)) or len(out) != expected:
        got = f"{len(out)} items" if isinstance(out, (list, tuple)) else type(out).__name__
        raise ContractError(f"{name} must return a list of {expected} items; got {got}")
    return list(out)


def check_step(owner: Any, method: str, out: Any) -> tuple[Any, dict[str, Any]]:
    """Validate one `step` result: a (state, dict) pair."""
    if not (type(out) is tuple and len(out) == 2 and isinstance(out[1], dict)):
        raise ContractError(
            f"{type(owner).__name__}.{method} must return (state, aux: dict); got {_short(out)}"
            + _ADAPTER_HINT
        )
    return out


def check_scored(owner: Any, method: str, out: Any) -> Scored:
    """Validate one `reward` or `fast_reward` result: a (number, dict) pair."""
    if type(out) is tuple and len(out) == 2 and type(out[1]) is dict:  # the common case, fast
        value = out[0]
        if type(value) is float and value == value:
            return out
        if type(value) is int:
            return float(value), out[1]
    if (
        isinstance(out, (tuple, list))
        and len(out) == 2
        and isinstance(out[0], Real)
        and not isinstance(out[0], bool)
        and isinstance(out[1], dict)
        and not math.isnan(out[0])
    ):
        return float(out[0]), out[1]
    raise ContractError(
        f"{type(owner).__name__}.{method} must return (float, details: dict) with a number "
        f"that is not NaN; got {_short(out)}" + _ADAPTER_HINT
    )


def check_actions(owner: Any, method: str, out: Any) -> list[Any]:
    """Validate one `get_actions` result: a list (or tuple) of actions."""
    if not isinstance(out, (list, tuple)):
        raise ContractError(
            f"{type(owner).__name__}.{method} must return a list of actions; got {_short(out)}"
        )
    return list(out)


def is_terminal(world: Any, state: Any) -> bool:
    """Whether `state` itself ends a path: the world's `is_terminal_state` where it has one
    (a world that also reports its stop request in `is_terminal`, for the algorithms that
    never ask `stop_requested`), else its `is_terminal`."""
    own = getattr(type(world), "is_terminal_state", WorldModel.is_terminal_state)
    method = "is_terminal" if own is WorldModel.is_terminal_state else "is_terminal_state"
    out = getattr(world, method)(state)
    if type(out) is bool:
        return out
    if not isinstance(out, (bool, int)) and type(out).__name__ != "bool_":
        raise ContractError(
            f"{type(world).__name__}.{method} must return a bool; got {_short(out)}"
        )
    return bool(out)


def _frontier(
    owner: Any,
    method: str,
    items: Sequence[Any],
    one: Callable[[Any], Any],
    check: Callable[[Any, str, Any], Any],
) -> list[Any]:
    """`owner.<method>_many(items)` where it exists, else `one(item)` per item; each checked."""
    if not items:
        return []
    many = getattr(owner, f"{method}_many", None)
    if many is None:
        out = [one(item) for item in items]
    else:
        out = _checked_length(f"{type(owner).__name__}.{method}_many", many(items), len(items))
    return [check(owner, method, item) for item in out]


def step_many(world: Any, pairs: Sequence[tuple[Any, Any]]) -> list[tuple[Any, dict[str, Any]]]:
    return _frontier(world, "step", pairs, lambda p: world.step(*p), check_step)


def get_actions_many(config: Any, states: Sequence[Any]) -> list[list[Any]]:
    return _frontier(config, "get_actions", states, config.get_actions, check_actions)


def fast_reward_many(config: Any, pairs: Sequence[tuple[Any, Any]]) -> list[Scored]:
    return _frontier(config, "fast_reward", pairs, lambda p: config.fast_reward(*p), check_scored)


def reward_many(config: Any, requests: Sequence[RewardRequest]) -> list[Scored]:
    def one(request: RewardRequest) -> Any:
        state, action, kwargs = request
        return config.reward(state, action, **kwargs)

    return _frontier(config, "reward", requests, one, check_scored)


def reward_kwargs(aux: Mapping[str, Any], fast_details: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of `reward`: the step's aux and the fast-reward details.

    llm-reasoners passes both as ``**aux, **details``; a key in both would be a TypeError deep in
    the call, so it is reported here with its name.
    """
    if not fast_details:
        return aux
    clash = aux.keys() & fast_details.keys()
    if clash:
        raise ContractError(
            "step's aux and fast_reward's details both define "
            + ", ".join(sorted(map(str, clash)))
            + "; reward receives both as keyword arguments, so their keys must differ"
        )
    return {**aux, **fast_details}


def root_reward(config: Any, state: Any) -> Scored:
    method = getattr(config, "root_reward", None)
    if method is None:
        return 0.0, {}
    return check_scored(config, "root_reward", method(state))


def extends_depth(config: Any, state: Any) -> bool:
    method = getattr(config, "extends_depth", None)
    return bool(method(state)) if method is not None else False


def stop_requested(world: Any) -> str | None:
    """The world's request to end the search now (``"budget"``, ``"interrupted"``) or None; a
    world without `stop_requested` (one written for llm-reasoners) never asks."""
    method = getattr(world, "stop_requested", None)
    if method is None:
        return None
    out = method()
    if out is not None and out not in STOP_REQUESTS:
        raise ContractError(
            f"{type(world).__name__}.stop_requested must return None or one of "
            f"{', '.join(STOP_REQUESTS)}; got {_short(out)}"
        )
    return out
