"""A reusable test suite for any search algorithm, and instrumented worlds to run it on.

Subclass `SearchAlgorithmTests` in a pytest module and define ``make(self, *, depth, seed)``
returning the algorithm under test, configured to search `depth` levels::

    from search.testing import SearchAlgorithmTests

    class TestMySearch(SearchAlgorithmTests):
        def make(self, *, depth, seed=0):
            return MySearch(max_depth=depth, seed=seed)

Every test uses plain asserts (pytest is needed only to collect them).
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Sequence
from typing import Any

from search.result import SearchResult
from search.tree_json import TreeRecord, dumps, loads
from world_model import ContractError, SearchAlgorithm, SearchConfig, WorldModel
from world_model.toy import optimal_actions, prompt_building, random_guidance


class CountingWorld(WorldModel):
    """Wraps a world model and counts how the algorithm calls it."""

    def __init__(self, inner: WorldModel) -> None:
        super().__init__()
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.batch_sizes: list[int] = []

    def init_state(self) -> Any:
        self.calls["init_state"] += 1
        return self.inner.init_state()

    def step(self, state: Any, action: Any) -> tuple[Any, dict[str, Any]]:
        self.calls["step"] += 1
        return self.inner.step(state, action)

    def step_many(self, pairs: Sequence[tuple[Any, Any]]) -> list[tuple[Any, dict[str, Any]]]:
        self.calls["step_many"] += 1
        self.batch_sizes.append(len(pairs))
        return [self.inner.step(state, action) for state, action in pairs]

    def is_terminal(self, state: Any) -> bool:
        return self.inner.is_terminal(state)


class CountingConfig(SearchConfig):
    """Wraps a search config and counts how the algorithm calls it."""

    def __init__(self, inner: SearchConfig) -> None:
        super().__init__()
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def get_actions(self, state: Any) -> list[Any]:
        self.calls["get_actions"] += 1
        return self.inner.get_actions(state)

    def get_actions_many(self, states: Sequence[Any]) -> list[list[Any]]:
        self.calls["get_actions_many"] += 1
        return [self.inner.get_actions(s) for s in states]

    def fast_reward(self, state: Any, action: Any) -> tuple[float, dict[str, Any]]:
        self.calls["fast_reward"] += 1
        return self.inner.fast_reward(state, action)

    def fast_reward_many(self, pairs: Sequence[tuple[Any, Any]]) -> list[tuple[float, dict]]:
        self.calls["fast_reward_many"] += 1
        return [self.inner.fast_reward(s, a) for s, a in pairs]

    def reward(self, state: Any, action: Any, **kwargs: Any) -> tuple[float, dict[str, Any]]:
        self.calls["reward"] += 1
        return self.inner.reward(state, action, **kwargs)

    def reward_many(self, requests: Sequence[tuple[Any, Any, Any]]) -> list[tuple[float, dict]]:
        self.calls["reward_many"] += 1
        return [self.inner.reward(s, a, **kw) for s, a, kw in requests]

    def root_reward(self, state: Any) -> tuple[float, dict[str, Any]]:
        return self.inner.root_reward(state)

    def extends_depth(self, state: Any) -> bool:
        return self.inner.extends_depth(state)


class _BareStepWorld(WorldModel):
    """Breaks the contract: `step` returns the state alone."""

    def __init__(self, inner: WorldModel) -> None:
        super().__init__()
        self.inner = inner

    def init_state(self) -> Any:
        return self.inner.init_state()

    def step(self, state: Any, action: Any) -> Any:
        return self.inner.step(state, action)[0]

    def is_terminal(self, state: Any) -> bool:
        return self.inner.is_terminal(state)


def tree_json(result: SearchResult) -> str:
    return dumps(TreeRecord.from_result(result))


class SearchAlgorithmTests:
    """Behaviour every search algorithm owes its users. Define `make(*, depth, seed)`."""

    #: The depth at which `make` is expected to find the optimum of a small toy world.
    optimum_depth: int = 2

    def make(self, *, depth: int, seed: int = 0) -> SearchAlgorithm:  # pragma: no cover
        raise AssertionError("define make(*, depth, seed) in the test class")

    # ---- the result ----------------------------------------------------------------------
    def test_result_is_consistent_with_the_tree(self) -> None:
        world, config = prompt_building(depth=3)
        result = self.make(depth=3)(world, config)
        assert isinstance(result, SearchResult)
        nodes = result.trace_of_nodes
        assert nodes[0] is result.tree and nodes[-1] is result.terminal_node
        for parent, child in zip(nodes, nodes[1:]):
            assert child.parent is parent and child in parent.children
        states, actions = result.trace
        assert len(states) == len(actions) + 1
        assert states[-1] == result.terminal_state
        for state, action, next_state in zip(states, actions, states[1:]):
            assert world.step(state, action)[0] == next_state
        assert {n.id for n in result.nodes()} == set(range(len(result.nodes())))

    def test_finds_the_optimum_of_a_small_deterministic_world(self) -> None:
        guidance = {"brief": 0.2, "cite sources": 0.9, "admit doubt": 0.5, "shout": -0.4}
        world, config = prompt_building(guidance, depth=self.optimum_depth)
        result = self.make(depth=self.optimum_depth)(world, config)
        best = optimal_actions(guidance, self.optimum_depth)
        assert set(result.terminal_state) == set(best)

    # ---- reproducibility -----------------------------------------------------------------
    def test_same_seed_same_tree(self) -> None:
        world, config = prompt_building(depth=3, noise_std=0.5, seed=3)
        first = tree_json(self.make(depth=3, seed=11)(world, config))
        second = tree_json(self.make(depth=3, seed=11)(world, config))
        assert first == second

    def test_reentrant_settings_untouched(self) -> None:
        algorithm = self.make(depth=3, seed=5)
        before = repr(algorithm)
        world_a, config_a = prompt_building(depth=3, noise_std=0.3, seed=1)
        world_b, config_b = prompt_building(random_guidance(6, seed=2), depth=2)
        a1 = tree_json(algorithm(world_a, config_a))
        tree_json(algorithm(world_b, config_b))
        a2 = tree_json(algorithm(world_a, config_a))
        assert a1 == a2, "a call must not depend on the calls before it"
        assert repr(algorithm) == before, "a call must not change the algorithm's settings"

    # ---- how the world is called ---------------------------------------------------------
    def test_world_is_called_by_frontier(self) -> None:
        world, config = prompt_building(depth=3)
        cworld, cconfig = CountingWorld(world), CountingConfig(config)
        self.make(depth=3)(cworld, cconfig)
        assert cworld.calls["step"] == 0, "steps must go through step_many"
        assert cconfig.calls["get_actions"] == 0, "actions must go through get_actions_many"
        assert cconfig.calls["reward"] == 0, "rewards must go through reward_many"
        assert cconfig.calls["fast_reward"] == 0, "fast rewards must go through fast_reward_many"
        assert cworld.calls["step_many"] >= 1

    def test_terminal_root_takes_no_step(self) -> None:
        world, config = prompt_building(depth=0)
        cworld = CountingWorld(world)
        result = self.make(depth=3)(cworld, CountingConfig(config))
        assert result.terminal_node is result.tree
        assert cworld.calls["step_many"] == 0

    def test_step_of_the_wrong_shape_is_a_clear_error(self) -> None:
        world, config = prompt_building(depth=2)
        try:
            self.make(depth=2)(_BareStepWorld(world), config)
        except ContractError as exc:
            assert "step must return (state, aux: dict)" in str(exc)
        else:
            raise AssertionError("a step returning a bare state must raise ContractError")

    # ---- artefacts -----------------------------------------------------------------------
    def test_json_and_pickle_round_trip(self) -> None:
        world, config = prompt_building(depth=3, noise_std=0.2)
        result = self.make(depth=3)(world, config)
        text = tree_json(result)
        assert loads(text) == TreeRecord.from_result(result)
        assert dumps(loads(text)) == text
        again = pickle.loads(pickle.dumps(result))
        assert tree_json(again) == text
        assert again.terminal_state == result.terminal_state
