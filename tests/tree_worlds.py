"""Small worlds the tests build on top of the toy worlds shipped in `world_model.toy`."""

from __future__ import annotations

import hashlib
from typing import Any

from world_model import SearchConfig, WorldModel


def node_value(seed: int, path: tuple[int, ...]) -> float:
    """A reproducible pseudo-random reward in [0, 1) for a path of a random tree."""
    digest = hashlib.blake2b(repr((seed, path)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class TreeWorld(WorldModel):
    """A complete tree: `branching` actions per node, `depth` levels; a state is the path."""

    def __init__(self, *, branching: int, depth: int) -> None:
        super().__init__()
        self.branching, self.depth = branching, depth

    def init_state(self) -> tuple[int, ...]:
        return ()

    def step(self, state: tuple[int, ...], action: int) -> tuple[tuple[int, ...], dict[str, Any]]:
        return state + (action,), {}

    def is_terminal(self, state: tuple[int, ...]) -> bool:
        return len(state) >= self.depth


class TreeConfig(SearchConfig):
    """Rewards drawn per node from `seed`, or given explicitly by `rewards` (path -> reward)."""

    def __init__(
        self,
        *,
        branching: int,
        seed: int = 0,
        rewards: dict[tuple[int, ...], float] | None = None,
        informative_fast_reward: bool = True,
    ) -> None:
        super().__init__()
        self.branching, self.seed, self.rewards = branching, seed, rewards
        self.informative = informative_fast_reward

    def value(self, path: tuple[int, ...]) -> float:
        if self.rewards is not None:
            return self.rewards.get(path, 0.0)
        return node_value(self.seed, path)

    def get_actions(self, state: tuple[int, ...]) -> list[int]:
        return list(range(self.branching))

    def fast_reward(self, state: tuple[int, ...], action: int) -> tuple[float, dict[str, Any]]:
        return (self.value(state + (action,)) if self.informative else 0.0), {}

    def reward(self, state: tuple[int, ...], action: int, **kwargs: Any) -> tuple[float, dict]:
        return self.value(state + (action,)), {"path": list(state + (action,))}


def all_paths(branching: int, depth: int) -> list[tuple[int, ...]]:
    paths: list[tuple[int, ...]] = [()]
    for _ in range(depth):
        paths = [p + (a,) for p in paths for a in range(branching)]
    return paths
