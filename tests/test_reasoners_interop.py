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


# ---- a world that asks the search to stop ---------------------------------------------------
def _promptagent_pieces(stop_after: int, reason: str) -> tuple[Any, Any, dict[str, int]]:
    """PromptAgent's world and config on the simulated LLM, whose search is asked to stop
    after `stop_after` evaluated frontiers: its budget spent ("budget"), or a Ctrl-C
    ("interrupted"); `seen` counts the frontiers and the states expanded after the stop."""
    from drpo.interrupts import request_interrupt
    from drpo.llm import RoleSettings, make_llms
    from drpo.methods.promptagent.world import PromptAgentConfig, PromptAgentWorld
    from drpo.methods.task_scoring import TaskScorer
    from drpo.methods.tasks import DEMO_TASK, answer_key, load_task

    task = load_task(DEMO_TASK, eval_size=10, test_size=10)
    llms = make_llms({"base": RoleSettings(knowledge=answer_key(task)),
                      "optimize": RoleSettings()})  # fmt: skip
    scorer = TaskScorer(llms["base"])
    seen = {"frontiers": 0, "expanded_after_stop": 0}

    def on_frontier(depth: int, *, best_eval: float | None = None) -> bool:
        seen["frontiers"] += 1
        if seen["frontiers"] >= stop_after and reason == "interrupted":
            request_interrupt()
        return seen["frontiers"] >= stop_after and reason == "budget"

    class Config(PromptAgentConfig):
        def get_actions_many(self, states: Any) -> list[list[Any]]:
            if seen["frontiers"] >= stop_after:
                seen["expanded_after_stop"] += len(states)
            return super().get_actions_many(states)

    world = PromptAgentWorld(task, scorer, initial_prompt="Answer the question.",
                             on_frontier=on_frontier)  # fmt: skip
    return world, Config(task, scorer, llms["optimize"], expand_width=2), seen


THEIR_ALGORITHMS = {
    "beam": lambda: algorithms.BeamSearch(beam_size=2, max_depth=4),
    "mcts": lambda: algorithms.MCTS(n_iters=8, depth_limit=4, w_exp=2.5, disable_tqdm=True),
}


@pytest.mark.parametrize("reason", ["budget", "interrupted"])
@pytest.mark.parametrize("name", sorted(THEIR_ALGORITHMS))
def test_their_algorithms_stop_when_our_world_asks(name: str, reason: str) -> None:
    """Their algorithms never ask `stop_requested`: once our world asks, every state is
    terminal to them, so they expand nothing more (a spent budget buys no further step)."""
    from drpo.interrupts import graceful_interrupts

    with graceful_interrupts():
        world, config, seen = _promptagent_pieces(2, reason)
        theirs = reasoners.Reasoner(world, config, THEIR_ALGORITHMS[name]())("task")
        assert world.stop_requested() == reason
    assert seen["expanded_after_stop"] == 0
    # the frontier under way when the stop came is finished (beam: the rest of its
    # parent's children, one step each), none after it
    assert 2 <= seen["frontiers"] <= 4
    assert theirs.terminal_state is not None
    # unasked, the same world searches on: two frontiers were far from the end
    with graceful_interrupts():
        world, config, seen = _promptagent_pieces(10**6, reason)
        reasoners.Reasoner(world, config, THEIR_ALGORITHMS[name]())("task")
    assert seen["frontiers"] > 6


@pytest.mark.parametrize("reason", ["budget", "interrupted"])
@pytest.mark.parametrize("algorithm", [BeamSearch(beam_size=2, max_depth=4),
                                       MCTS(n_iters=8, depth_limit=4, w_exp=2.5)],
                         ids=["beam", "mcts"])  # fmt: skip
def test_our_algorithms_on_the_same_world_say_why_and_keep_the_states(
    algorithm: Any, reason: str
) -> None:
    from drpo.interrupts import graceful_interrupts

    with graceful_interrupts():
        world, config, seen = _promptagent_pieces(2, reason)
        result = Reasoner(world, config, algorithm)("task")
        assert world.is_terminal(result.terminal_state)  # what their algorithms see
    assert result.stop_reason == reason and seen["frontiers"] == 2
    assert seen["expanded_after_stop"] == 0
    assert not any(n.is_terminal for n in result.nodes())  # the states' own terminality
