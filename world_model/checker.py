"""`check_world_model`: does a world model and search config keep the interface's contract?

In the spirit of Gymnasium's `check_env`: it walks a few seeded random paths through the world,
calls every method the search algorithms call, and raises `ContractError` with the method's name
at the first broken promise. Run it on a new world before running a search on it.
"""

from __future__ import annotations

import inspect
import random
from typing import Any

from world_model import frontier
from world_model.frontier import ContractError


def _check_update_example(obj: Any) -> None:
    try:
        params = inspect.signature(obj.update_example).parameters
    except (TypeError, ValueError):  # builtins or C callables: nothing to inspect
        return
    if "prompt" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        raise ContractError(
            f"{type(obj).__name__}.update_example must accept (example, prompt=None)"
        )


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and other values without a plain truth value
        return repr(a) == repr(b)


def check_world_model(
    world_model: Any,
    search_config: Any,
    *,
    n_paths: int = 3,
    max_depth: int = 5,
    deterministic: bool = True,
    seed: int = 0,
) -> None:
    """Raise `ContractError` if the pair breaks the interface; return None when it keeps it.

    With ``deterministic=True`` it also checks that stepping or scoring the same (state, action)
    twice gives the same result, and that the ``*_many`` frontier methods agree with the
    single-item ones.
    """
    if n_paths < 1 or max_depth < 0:
        raise ValueError("n_paths must be >= 1 and max_depth >= 0")
    for obj, methods in (
        (world_model, ("init_state", "step", "is_terminal", "update_example")),
        (search_config, ("get_actions", "fast_reward", "reward", "update_example")),
    ):
        for name in methods:
            if not callable(getattr(obj, name, None)):
                raise ContractError(f"{type(obj).__name__} has no method {name}()")
        _check_update_example(obj)

    rng = random.Random(seed)
    root = world_model.init_state()
    frontier.root_reward(search_config, root)
    for _ in range(n_paths):
        state = root
        for _depth in range(max_depth):
            if frontier.is_terminal(world_model, state):
                break
            actions = frontier.check_actions(
                search_config, "get_actions", search_config.get_actions(state)
            )
            if not actions:
                break
            action = rng.choice(actions)
            fast = frontier.check_scored(
                search_config, "fast_reward", search_config.fast_reward(state, action)
            )
            next_state, aux = frontier.check_step(
                world_model, "step", world_model.step(state, action)
            )
            kwargs = frontier.reward_kwargs(aux, fast[1])
            scored = frontier.check_scored(
                search_config, "reward", search_config.reward(state, action, **kwargs)
            )
            if deterministic:
                _check_repeatable(world_model, search_config, state, action, next_state, scored)
            state = next_state


def _check_repeatable(
    world_model: Any, search_config: Any, state: Any, action: Any, next_state: Any, scored: Any
) -> None:
    name_w, name_c = type(world_model).__name__, type(search_config).__name__
    again = frontier.step_many(world_model, [(state, action)])[0]
    if not _same(again[0], next_state):
        raise ContractError(
            f"{name_w}.step_many gave another state than step for the same (state, action); "
            "pass deterministic=False for a stochastic world"
        )
    fast = frontier.fast_reward_many(search_config, [(state, action)])[0]
    kwargs = frontier.reward_kwargs(again[1], fast[1])
    rescored = frontier.reward_many(search_config, [(state, action, kwargs)])[0]
    if not _same(rescored[0], scored[0]):
        raise ContractError(
            f"{name_c}.reward_many gave {rescored[0]!r} where reward gave {scored[0]!r} for the "
            "same (state, action); pass deterministic=False for a stochastic world"
        )
    actions = frontier.get_actions_many(search_config, [state])[0]
    if not _same(
        actions,
        frontier.check_actions(search_config, "get_actions", search_config.get_actions(state)),
    ):
        raise ContractError(f"{name_c}.get_actions_many disagrees with get_actions")
