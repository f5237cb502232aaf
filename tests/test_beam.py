"""Beam search and greedy search."""

from __future__ import annotations

from typing import Any

import pytest
from tree_worlds import TreeConfig, TreeWorld

from search import BeamSearch, Greedy
from search.testing import CountingConfig, CountingWorld, SearchAlgorithmTests
from world_model.toy import DEFAULT_GUIDANCE, optimal_value, prompt_building, random_guidance


class TestBeamSearchContract(SearchAlgorithmTests):
    def make(self, *, depth: int, seed: int = 0) -> BeamSearch:
        return BeamSearch(beam_size=2, max_depth=depth, seed=seed)


class TestStochasticBeamSearchContract(SearchAlgorithmTests):
    optimum_depth = 1  # sampling may drop the best path at deeper levels

    def make(self, *, depth: int, seed: int = 0) -> BeamSearch:
        return BeamSearch(
            beam_size=3,
            max_depth=depth,
            sampling_strategy="stochastic",
            temperature=0.01,
            seed=seed,
        )


class TestGreedyContract(SearchAlgorithmTests):
    def make(self, *, depth: int, seed: int = 0) -> Greedy:
        return Greedy(max_depth=depth, seed=seed)


def test_finds_the_closed_form_optimum() -> None:
    world, config = prompt_building(depth=3)
    result = BeamSearch(beam_size=2, max_depth=3)(world, config)
    assert result.cum_reward == pytest.approx(optimal_value(DEFAULT_GUIDANCE, 3, "last"))
    assert len(result.terminal_state) == 3


def test_one_frontier_call_per_level() -> None:
    world, config = prompt_building(random_guidance(6, seed=1), depth=4)
    cworld, cconfig = CountingWorld(world), CountingConfig(config)
    BeamSearch(beam_size=3, max_depth=4)(cworld, cconfig)
    assert cworld.calls["step_many"] == 4
    assert cconfig.calls["get_actions_many"] == 4
    assert cconfig.calls["reward_many"] == 4
    # level 1: 6 children of the root; then 3 beams with 5, 4, 3 unused phrases each
    assert cworld.batch_sizes == [6, 15, 12, 9]


@pytest.mark.parametrize(
    ("aggregator", "best", "value"),
    [("last", (1, 0), 0.9), ("sum", (0, 0), 1.1), ("mean", (0, 0), 0.55)],
)
def test_reward_aggregators_rank_paths(aggregator: str, best: tuple, value: float) -> None:
    rewards = {(0,): 0.8, (0, 0): 0.3, (0, 1): 0.0, (1,): 0.0, (1, 0): 0.9, (1, 1): 0.2}
    world = TreeWorld(branching=2, depth=2)
    config = TreeConfig(branching=2, rewards=rewards)
    result = BeamSearch(beam_size=4, max_depth=2, reward_aggregator=aggregator)(world, config)
    assert result.terminal_state == best
    assert result.cum_reward == pytest.approx(value)


def test_callable_aggregator() -> None:
    world = TreeWorld(branching=2, depth=2)
    rewards = {(0,): 0.9, (0, 0): 0.1, (0, 1): 0.0, (1,): 0.25, (1, 0): 0.2, (1, 1): 0.3}
    config = TreeConfig(branching=2, rewards=rewards)
    result = BeamSearch(beam_size=4, max_depth=2, reward_aggregator=min)(world, config)
    assert result.terminal_state == (1, 1)  # the path whose worst step is best
    assert result.cum_reward == pytest.approx(0.25)


class _DuplicateActions(TreeConfig):
    """Every state proposes the same two actions twice (an optimiser repeating itself)."""

    def get_actions(self, state: Any) -> list[int]:
        return [0, 1, 0, 1]


def test_action_dedup_drops_repeated_proposals() -> None:
    world = TreeWorld(branching=2, depth=2)
    plain = BeamSearch(beam_size=1, max_depth=2)(world, _DuplicateActions(branching=2))
    dedup = BeamSearch(beam_size=1, max_depth=2, action_dedup=True)(
        world, _DuplicateActions(branching=2)
    )
    assert len(plain.tree.children) == 4
    assert [c.action for c in dedup.tree.children] == [0, 1]
    assert plain.terminal_state == dedup.terminal_state


def test_action_dedup_with_a_key_and_unhashable_actions() -> None:
    class ListActions(TreeConfig):
        def get_actions(self, state: Any) -> list[Any]:
            return [[0, "a"], [0, "b"], [1, "a"]]

    class ListWorld(TreeWorld):
        def step(self, state: Any, action: Any) -> tuple[Any, dict]:
            return state + (action[0],), {}

    world = ListWorld(branching=2, depth=1)
    by_repr = BeamSearch(beam_size=3, max_depth=1, action_dedup=True)(
        world, ListActions(branching=2)
    )
    assert len(by_repr.tree.children) == 3  # unhashable lists compared by repr: all distinct
    by_key = BeamSearch(beam_size=3, max_depth=1, action_dedup=lambda a: a[0])(
        world, ListActions(branching=2)
    )
    assert [c.action for c in by_key.tree.children] == [[0, "a"], [1, "a"]]


def test_early_termination_keeps_terminal_states_out_of_the_frontier() -> None:
    class ShortBranch(TreeWorld):
        def is_terminal(self, state: tuple[int, ...]) -> bool:
            return state[:1] == (0,) or len(state) >= self.depth

    rewards = {(0,): 1.0, (1,): 0.5, (1, 0): 0.6, (1, 1): 0.4}
    world = ShortBranch(branching=2, depth=2)
    stop = BeamSearch(beam_size=2, max_depth=2)(world, TreeConfig(branching=2, rewards=rewards))
    assert stop.terminal_state == (0,)  # ended early with the best value, never expanded
    assert stop.tree.children[0].children == []
    go_on = BeamSearch(beam_size=2, max_depth=2, early_terminate=False)(
        world, TreeConfig(branching=2, rewards=rewards)
    )
    assert len(go_on.tree.children[0].children) == 2


def test_whole_beam_is_returned_best_first() -> None:
    world, config = prompt_building(depth=2)
    result = BeamSearch(beam_size=3, max_depth=2)(world, config)
    values = [n.cum_reward for n in result.beam]
    assert len(result.beam) == 3 and values == sorted(values, reverse=True)
    assert result.beam[0] is result.terminal_node
    assert [r.cum_reward for r in result.beam_results] == values


def test_reject_min_reward_prunes_paths() -> None:
    world, config = prompt_building(depth=2)
    result = BeamSearch(beam_size=5, max_depth=2, reject_min_reward=0.5)(world, config)
    assert all(n.cum_reward >= 0.5 for n in result.beam)
    level_one = result.tree.children
    assert [c for c in level_one if c.cum_reward < 0.5 and c.children] == []
    assert len([c for c in level_one if c.children]) == 3  # 0.9, 0.7 and 0.6 survive
    everything_rejected = BeamSearch(beam_size=5, max_depth=2, reject_min_reward=99.0)(
        world, config
    )
    assert everything_rejected.terminal_node is everything_rejected.tree


def test_stochastic_sampling_depends_on_seed_and_temperature() -> None:
    guidance = random_guidance(8, seed=4)
    world, config = prompt_building(guidance, depth=4)

    def beams(seed: int, temperature: float, decay: float = 1.0) -> list[Any]:
        algo = BeamSearch(
            beam_size=2,
            max_depth=4,
            sampling_strategy="stochastic",
            temperature=temperature,
            temperature_decay=decay,
            seed=seed,
        )
        return algo(world, config).beam

    def states(beam: list[Any]) -> tuple:
        return tuple(n.state for n in beam)

    hot = {states(beams(seed, 100.0)) for seed in range(8)}
    assert len(hot) > 1, "a high temperature must sample different beams for different seeds"
    argmax = BeamSearch(beam_size=2, max_depth=4)(world, config).beam
    for seed in range(8):  # a cold softmax is argmax (up to the order of equal values)
        cold = beams(seed, 1e-4)
        assert [n.cum_reward for n in cold] == pytest.approx([n.cum_reward for n in argmax])
    # a fast decay turns a random start into argmax choices on the later levels
    hot_best = [beams(seed, 100.0)[0].cum_reward for seed in range(8)]
    decayed_best = [beams(seed, 100.0, decay=1e-6)[0].cum_reward for seed in range(8)]
    assert sum(decayed_best) > sum(hot_best)
    assert states(beams(3, 100.0)) == states(beams(3, 100.0))


class _Handled(TreeConfig):
    """DRPO's rule on a tree: a state whose last action was 1 is already handled."""

    def get_actions(self, state: tuple[int, ...]) -> list[int]:
        if state and state[-1] == 1:
            return [1]  # keep the prompt
        return [0, 1]

    def extends_depth(self, state: tuple[int, ...]) -> bool:
        return bool(state) and state[-1] == 1


class _Unbounded(TreeWorld):
    def is_terminal(self, state: tuple[int, ...]) -> bool:
        return False


def test_depth_grows_at_run_time_by_a_bounded_amount() -> None:
    rewards = {p: 1.0 for p in [(1,), (1, 1), (1, 1, 1), (1, 1, 1, 1), (1, 1, 1, 1, 1)]}
    algo = BeamSearch(beam_size=1, max_depth=2, max_depth_increase=2)
    before = repr(algo)
    result = algo(_Unbounded(branching=2, depth=0), _Handled(branching=2, rewards=rewards))
    assert result.depth_increase == 2
    assert result.terminal_node.depth == 4  # 2 levels + 2 granted, and no more
    assert repr(algo) == before and algo.max_depth == 2
    plain = BeamSearch(beam_size=1, max_depth=2)(
        _Unbounded(branching=2, depth=0), _Handled(branching=2, rewards=rewards)
    )
    assert plain.terminal_node.depth == 2 and plain.depth_increase == 0


def test_greedy_is_a_beam_of_one() -> None:
    world = TreeWorld(branching=3, depth=3)
    config = TreeConfig(branching=3, seed=9)
    greedy = Greedy(max_depth=3)(world, config)
    beam1 = BeamSearch(beam_size=1, max_depth=3)(world, config)
    assert greedy.terminal_state == beam1.terminal_state
    assert greedy.algorithm == "Greedy" and greedy.settings["beam_size"] == 1


def test_a_dead_end_still_ends_a_path() -> None:
    class DeadEnd(TreeConfig):
        def get_actions(self, state: tuple[int, ...]) -> list[int]:
            return [] if state == (0,) else [0, 1]

    rewards = {(0,): 0.9, (1,): 0.1, (1, 0): 0.2, (1, 1): 0.3}
    result = BeamSearch(beam_size=2, max_depth=2)(
        TreeWorld(branching=2, depth=2), DeadEnd(branching=2, rewards=rewards)
    )
    assert result.terminal_state == (0,)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beam_size": 0, "max_depth": 1}, "beam_size must be >= 1"),
        ({"beam_size": 1, "max_depth": -1}, "max_depth must be >= 0"),
        (
            {"beam_size": 1, "max_depth": 1, "reward_aggregator": "median"},
            "unknown reward_aggregator",
        ),
        (
            {"beam_size": 1, "max_depth": 1, "sampling_strategy": "topp"},
            "unknown sampling_strategy",
        ),
        ({"beam_size": 1, "max_depth": 1, "temperature": 0}, "temperature must be > 0"),
        ({"beam_size": 1, "max_depth": 1, "max_depth_increase": -1}, "max_depth_increase"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BeamSearch(**kwargs)


def test_settings_are_keyword_only_and_frozen() -> None:
    with pytest.raises(TypeError):
        BeamSearch(2, 3)  # type: ignore[misc]
    algo = BeamSearch(beam_size=2, max_depth=3)
    with pytest.raises(AttributeError):
        algo.beam_size = 4  # type: ignore[misc]
