"""Toy worlds for tests, demos and benchmarks: prompt building with a known optimum.

A state is a prompt under construction: a tuple of guidance phrases. An action appends one phrase
not yet in the prompt; a path ends after `depth` phrases. Each phrase has a hidden weight, the
score of a prompt is the sum of its phrases' weights, and the reward of a step is the score of
the new prompt. So the best prompt, the best action order and the best value under each reward
aggregator are known in closed form (`optimal_actions`, `optimal_value`), and a search can be
checked against them.

The stochastic variant adds seeded Gaussian noise to every reward. The noise is a function of
(seed, state, action), so a run is reproducible whatever order or batching the algorithm uses.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from typing import Any

from world_model.base import Scored, SearchConfig, WorldModel

Prompt = tuple[str, ...]

DEFAULT_GUIDANCE: dict[str, float] = {
    "State the answer first, then the reasoning.": 0.9,
    "Cite a source for every factual claim.": 0.7,
    "Say so when you are unsure.": 0.6,
    "Use short paragraphs.": 0.3,
    "Repeat the question before answering.": -0.2,
}


def _stable_seed(*parts: Any) -> int:
    digest = hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class PromptBuildingWorld(WorldModel):
    """Prompt states: appending a guidance phrase is a step; `depth` phrases end a path."""

    def __init__(self, guidance: Mapping[str, float], *, depth: int) -> None:
        super().__init__()
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        if not guidance:
            raise ValueError("guidance must name at least one phrase")
        self.guidance = dict(guidance)
        self.depth = min(depth, len(self.guidance))

    def init_state(self) -> Prompt:
        return ()

    def step(self, state: Prompt, action: str) -> tuple[Prompt, dict[str, Any]]:
        if action not in self.guidance:
            raise ValueError(f"unknown guidance phrase {action!r}")
        return state + (action,), {}

    def is_terminal(self, state: Prompt) -> bool:
        return len(state) >= self.depth


class PromptBuildingConfig(SearchConfig):
    """Actions are the unused phrases; the reward is the new prompt's score (plus noise)."""

    def __init__(
        self, guidance: Mapping[str, float], *, noise_std: float = 0.0, seed: int = 0
    ) -> None:
        super().__init__()
        if noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {noise_std}")
        self.guidance = dict(guidance)
        self.noise_std = noise_std
        self.seed = seed

    def score(self, prompt: Sequence[str]) -> float:
        """The noise-free score of a prompt."""
        return sum(self.guidance[p] for p in dict.fromkeys(prompt))

    def get_actions(self, state: Prompt) -> list[str]:
        return [p for p in self.guidance if p not in state]

    def fast_reward(self, state: Prompt, action: str) -> Scored:
        return self.guidance[action], {}

    def reward(self, state: Prompt, action: str, **kwargs: Any) -> Scored:
        clean = self.score(state + (action,))
        if self.noise_std == 0:
            return clean, {"score": clean}
        noise = random.Random(_stable_seed(self.seed, state, action)).gauss(0.0, self.noise_std)
        return clean + noise, {"score": clean, "noise": noise}


def optimal_actions(guidance: Mapping[str, float], depth: int) -> list[str]:
    """The best phrases, best first: the optimal action sequence under every aggregator."""
    ranked = sorted(guidance, key=lambda p: (-guidance[p], list(guidance).index(p)))
    return ranked[: min(depth, len(guidance))]


def optimal_value(guidance: Mapping[str, float], depth: int, aggregator: str = "last") -> float:
    """The best noise-free path value under the 'last', 'sum' or 'mean' aggregator."""
    weights = [guidance[p] for p in optimal_actions(guidance, depth)]
    prefix_scores = [sum(weights[: i + 1]) for i in range(len(weights))]
    if not prefix_scores:
        return 0.0
    if aggregator == "last":
        return prefix_scores[-1]
    if aggregator == "sum":
        return sum(prefix_scores)
    if aggregator == "mean":
        return sum(prefix_scores) / len(prefix_scores)
    raise ValueError(f"unknown aggregator {aggregator!r}; choose from last, sum, mean")


def random_guidance(n_phrases: int, *, seed: int = 0) -> dict[str, float]:
    """`n_phrases` phrases with distinct weights drawn in [-1, 1] from `seed`."""
    rng = random.Random(seed)
    weights: dict[str, float] = {}
    while len(weights) < n_phrases:
        weights[f"guidance #{len(weights)}"] = round(rng.uniform(-1.0, 1.0), 6)
    return weights


def prompt_building(
    guidance: Mapping[str, float] | None = None,
    *,
    depth: int = 3,
    noise_std: float = 0.0,
    seed: int = 0,
) -> tuple[PromptBuildingWorld, PromptBuildingConfig]:
    """A ready pair: the deterministic world by default, the stochastic one with noise_std > 0."""
    guidance = dict(DEFAULT_GUIDANCE if guidance is None else guidance)
    return (
        PromptBuildingWorld(guidance, depth=depth),
        PromptBuildingConfig(guidance, noise_std=noise_std, seed=seed),
    )
