"""Interop with the real llm-reasoners (package llm-reasoners==1.0.2, import name reasoners).

Our worlds run under its BeamSearch and MCTS through its Reasoner, and worlds written against
its base classes run under our algorithms. In CI (CI=true) a missing package is a failure,
not a skip.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import pytest

from search import MCTS, BeamSearch
from world_model import Reasoner, from_reasoners
from world_model.toy import DEFAULT_GUIDANCE, optimal_value, prompt_building, random_guidance

try:
    reasoners = importlib.import_module("reasoners")
    algorithms = importlib.import_module("reasoners.algorithm")
except ImportError as exc:  # pragma: no cover - depends on the environment
    if os.environ.get("CI"):
        raise
    pytest.skip(f"llm-reasoners is not installed ({exc})", allow_module_level=True)


def test_the_real_package_is_tested() -> None:
    from importlib.metadata import version

    assert version("llm-reasoners") == "1.0.2"


def test_our_world_under_their_beam_search() -> None:
    world, config = prompt_building(random_guidance(6, seed=4), depth=3)
    theirs = reasoners.Reasoner(world, config, algorithms.BeamSearch(beam_size=2, max_depth=3))(
        "example"
    )
    ours = BeamSearch(beam_size=2, max_depth=3)(world, config)
    assert theirs.cum_reward == pytest.approx(ours.cum_reward)
    assert theirs.terminal_state == ours.terminal_state
    assert world.example == "example"


def test_our_world_under_their_mcts() -> None:
    world, config = prompt_building(depth=3)
    algo = algorithms.MCTS(n_iters=40, depth_limit=3, w_exp=1.0, output_trace_in_each_iter=True)
    theirs = reasoners.Reasoner(world, config, algo)("example")
    assert theirs.cum_reward == pytest.approx(optimal_value(DEFAULT_GUIDANCE, 3, "sum"))
    ours = MCTS(n_iters=40, depth_limit=3, w_exp=1.0)(world, config)
    assert ours.terminal_state == theirs.terminal_state
    # the first iterations are the same walk: same UCT, same expansion, same rollout rule
    first_actions = [[n.action for n in path[1:]] for path in theirs.trace_in_each_iter[:3]]
    assert first_actions == [[n.action for n in it.path[1:]] for it in ours.iterations[:3]]


class TheirWorld(reasoners.WorldModel):
    """Written against llm-reasoners' base class, with its loose return types."""

    def init_state(self) -> str:
        return ""

    def step(self, state: str, action: str) -> str:  # a bare state, as llm-reasoners allows
        return state + action

    def is_terminal(self, state: str) -> bool:
        return len(state) >= 3


class TheirConfig(reasoners.SearchConfig):
    def get_actions(self, state: str) -> list[str]:
        return ["x", "y", "z"]

    def reward(self, state: str, action: str, **kwargs: Any) -> float:  # a bare float
        return 1.0 if action == self.example else 0.1


@pytest.mark.parametrize(
    "algorithm",
    [BeamSearch(beam_size=2, max_depth=3), MCTS(n_iters=30, depth_limit=3, w_exp=2.0)],
    ids=["beam", "mcts"],
)
def test_their_world_under_our_algorithms(algorithm: Any) -> None:
    world, config = from_reasoners(TheirWorld(), TheirConfig())
    result = Reasoner(world, config, algorithm)("y")
    assert result.terminal_state == "yyy"
    # and through their Reasoner too
    again = reasoners.Reasoner(world, config, algorithm)("z")
    assert again.terminal_state == "zzz"


def test_their_world_without_the_adapter_is_a_clear_error() -> None:
    from world_model import ContractError

    with pytest.raises(ContractError, match="from_reasoners"):
        BeamSearch(beam_size=1, max_depth=2)(TheirWorld(), TheirConfig())
