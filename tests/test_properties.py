"""Properties that hold for every world hypothesis can draw."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tree_worlds import TreeConfig, TreeWorld, all_paths, node_value

from search import MCTS, BeamSearch, Greedy, TreeRecord, tree_json
from world_model.toy import optimal_value, prompt_building

trees = st.builds(
    dict,
    branching=st.integers(1, 3),
    depth=st.integers(1, 3),
    seed=st.integers(0, 10_000),
)
guidances = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.floats(-1, 1, allow_nan=False).map(lambda x: round(x, 3)),
    min_size=1,
    max_size=6,
)


def brute_force(branching: int, depth: int, seed: int, aggregator: str) -> float:
    def value(path: tuple[int, ...]) -> float:
        rewards = [node_value(seed, path[: i + 1]) for i in range(len(path))]
        return {"last": rewards[-1], "sum": sum(rewards), "mean": sum(rewards) / len(rewards)}[
            aggregator
        ]

    return max(value(p) for p in all_paths(branching, depth))


@settings(max_examples=60, deadline=None)
@given(tree=trees, aggregator=st.sampled_from(["last", "sum", "mean"]))
def test_a_beam_as_wide_as_the_tree_is_exhaustive(tree: dict[str, int], aggregator: str) -> None:
    world = TreeWorld(branching=tree["branching"], depth=tree["depth"])
    config = TreeConfig(branching=tree["branching"], seed=tree["seed"])
    width = tree["branching"] ** tree["depth"]
    result = BeamSearch(beam_size=width, max_depth=tree["depth"], reward_aggregator=aggregator)(
        world, config
    )
    assert result.cum_reward == pytest.approx(brute_force(**tree, aggregator=aggregator))


@settings(max_examples=60, deadline=None)
@given(tree=trees)
def test_a_beam_of_one_is_greedy(tree: dict[str, int]) -> None:
    world = TreeWorld(branching=tree["branching"], depth=tree["depth"])
    config = TreeConfig(branching=tree["branching"], seed=tree["seed"])
    beam = BeamSearch(beam_size=1, max_depth=tree["depth"])(world, config)
    greedy = Greedy(max_depth=tree["depth"])(world, config)
    assert beam.terminal_state == greedy.terminal_state


@settings(max_examples=60, deadline=None)
@given(guidance=guidances, depth=st.integers(0, 4), beam_size=st.integers(1, 4))
def test_argmax_beam_never_loses_to_greedy_on_the_prompt_world(
    guidance: dict[str, float], depth: int, beam_size: int
) -> None:
    world, config = prompt_building(guidance, depth=depth)
    beam = BeamSearch(beam_size=beam_size, max_depth=depth)(world, config)
    greedy = Greedy(max_depth=depth)(world, config)
    assert beam.cum_reward >= greedy.cum_reward - 1e-9
    assert beam.cum_reward == pytest.approx(optimal_value(guidance, world.depth, "last"))


def test_beam_search_is_not_monotone_in_general() -> None:
    """Why the property above is stated on the prompt world: on an arbitrary tree a wider
    beam can lose to greedy, because it may drop greedy's path for paths that look better
    for a level and then lead nowhere."""
    rewards = {
        (0,): 1.0,
        (1,): 0.9,
        (0, 0): 0.5,
        (1, 0): 0.6,
        (1, 1): 0.7,
        (0, 0, 0): 10.0,
        (1, 0, 0): 0.0,
        (1, 1, 0): 0.0,
    }

    class Sparse(TreeConfig):
        def get_actions(self, state: tuple[int, ...]) -> list[int]:
            return [a for a in (0, 1) if state + (a,) in self.rewards]

    world = TreeWorld(branching=2, depth=3)
    greedy = Greedy(max_depth=3)(world, Sparse(branching=2, rewards=rewards))
    beam = BeamSearch(beam_size=2, max_depth=3)(world, Sparse(branching=2, rewards=rewards))
    assert greedy.cum_reward == 10.0 and beam.cum_reward == 0.0


@settings(max_examples=40, deadline=None)
@given(
    tree=st.builds(
        dict, branching=st.integers(1, 3), depth=st.integers(1, 2), seed=st.integers(0, 10_000)
    ),
    informative=st.booleans(),
)
def test_mcts_with_enough_iterations_finds_the_optimum(
    tree: dict[str, int], informative: bool
) -> None:
    world = TreeWorld(branching=tree["branching"], depth=tree["depth"])
    config = TreeConfig(
        branching=tree["branching"], seed=tree["seed"], informative_fast_reward=informative
    )
    result = MCTS(n_iters=150, depth_limit=tree["depth"], w_exp=2.0)(world, config)
    assert result.cum_reward == pytest.approx(brute_force(**tree, aggregator="sum"))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


class _DetailsConfig(TreeConfig):
    def __init__(self, details: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.details = details

    def reward(self, state: tuple[int, ...], action: int, **kwargs: Any) -> tuple[float, dict]:
        path = state + (action,)
        return node_value(self.seed, path), {"value": self.details[hash(path) % len(self.details)]}


@settings(max_examples=50, deadline=None)
@given(
    details=st.lists(json_values, min_size=1, max_size=4),
    tree=trees,
    algorithm=st.sampled_from(["beam", "mcts"]),
)
def test_json_round_trip_is_lossless(
    details: list[Any], tree: dict[str, int], algorithm: str
) -> None:
    world = TreeWorld(branching=tree["branching"], depth=tree["depth"])
    config = _DetailsConfig(details, branching=tree["branching"], seed=tree["seed"])
    algo = (
        BeamSearch(beam_size=2, max_depth=tree["depth"])
        if algorithm == "beam"
        else MCTS(n_iters=5, depth_limit=tree["depth"])
    )
    result = algo(world, config)
    record = TreeRecord.from_result(result)
    text = tree_json.dumps(record)
    assert tree_json.loads(text) == record
    assert tree_json.dumps(tree_json.loads(text)) == text
    assert tree_json.dumps(TreeRecord.from_result(pickle.loads(pickle.dumps(result)))) == text
