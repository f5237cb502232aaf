"""Monte Carlo tree search, in llm-reasoners' form and with PromptAgent's rules."""

from __future__ import annotations

from typing import Any

import pytest
from tree_worlds import TreeConfig, TreeWorld

from search import MCTS, PromptAgentRules, promptagent_mcts
from search.testing import CountingConfig, CountingWorld, SearchAlgorithmTests
from world_model.toy import DEFAULT_GUIDANCE, optimal_value, prompt_building


class TestMCTSContract(SearchAlgorithmTests):
    def make(self, *, depth: int, seed: int = 0) -> MCTS:
        return MCTS(n_iters=40, depth_limit=depth, w_exp=1.0, seed=seed)


class TestSampledMCTSContract(SearchAlgorithmTests):
    def make(self, *, depth: int, seed: int = 0) -> MCTS:
        return MCTS(n_iters=60, depth_limit=depth, w_exp=2.0, simulate_strategy="sample", seed=seed)


class TestPromptAgentMCTSContract(SearchAlgorithmTests):
    def make(self, *, depth: int, seed: int = 0) -> MCTS:
        return MCTS.for_promptagent(n_iters=12, depth_limit=depth, min_depth=1, seed=seed)


def test_finds_the_closed_form_optimum() -> None:
    world, config = prompt_building(depth=3)
    result = MCTS(n_iters=50, depth_limit=3, w_exp=1.0)(world, config)
    assert result.cum_reward == pytest.approx(optimal_value(DEFAULT_GUIDANCE, 3, "sum"))


def test_every_iteration_is_recorded() -> None:
    world, config = prompt_building(depth=3)
    result = MCTS(n_iters=7, depth_limit=3)(world, config)
    assert len(result.iterations) == 7 == len(result.trace_in_each_iter)
    assert [it.cum_reward for it in result.iterations] == result.tree.cum_rewards
    for it in result.iterations:
        assert it.path[0] is result.tree
        assert all(b.parent is a for a, b in zip(it.path, it.path[1:]))
    assert result.tree.visits == 7


def test_no_actions_are_asked_for_at_the_depth_limit() -> None:
    world, config = prompt_building(depth=5)
    counting = CountingConfig(config)
    result = MCTS(n_iters=10, depth_limit=2)(world, counting)
    assert max(n.depth for n in result.nodes()) == 2
    assert all(not n.children for n in result.nodes() if n.depth == 2)


# A hand-made tree: root -> a (0.5) | b (0.2); a -> aa (0.1) | ab (0.3); b -> ba (0.9) | bb (0.0)
REWARDS = {(0,): 0.5, (1,): 0.2, (0, 0): 0.1, (0, 1): 0.3, (1, 0): 0.9, (1, 1): 0.0}


def run(**kwargs: Any) -> Any:
    world = TreeWorld(branching=2, depth=2)
    return MCTS(depth_limit=2, **kwargs)(world, TreeConfig(branching=2, rewards=REWARDS))


def test_output_strategies() -> None:
    explored = {"n_iters": 40, "w_exp": 3.0}
    assert run(output_strategy="max_reward", **explored).terminal_state == (1, 0)  # 0.2 + 0.9
    assert run(output_strategy="follow_max", **explored).terminal_state == (0, 1)  # 0.5, then 0.3
    assert run(output_strategy="max_iter", **explored).terminal_state == (1, 0)
    last = run(output_strategy="last_iter", **explored)
    assert last.terminal_node is last.iterations[-1].path[-1]
    visits = run(output_strategy="max_visit", **explored)
    root_children = visits.tree.children
    assert visits.trace_of_nodes[1] is max(root_children, key=lambda c: c.visits)
    assert run(output_strategy="last_terminal_iter", **explored).terminal_node.depth == 2


def test_cum_reward_of_the_answer() -> None:
    result = run(n_iters=40, w_exp=3.0)
    assert result.cum_reward == pytest.approx(1.1)
    mean = run(n_iters=40, w_exp=3.0, cum_reward="mean")
    assert mean.cum_reward == pytest.approx(0.55)


def test_exploitation_without_exploration() -> None:
    # w_exp = 0 and informative fast rewards: MCTS follows the best-looking first step forever
    result = run(n_iters=20, w_exp=0.0, output_strategy="max_reward")
    assert result.terminal_state[0] == 0
    assert not any(c.expanded for c in result.tree.children[1].children)


def test_unvisited_children_first_without_fast_reward_in_uct() -> None:
    world = TreeWorld(branching=3, depth=2)
    config = TreeConfig(branching=3, seed=1)
    result = MCTS(n_iters=3, depth_limit=2, w_exp=0.0, uct_with_fast_reward=False)(world, config)
    # each of the first three iterations tries a root child nobody visited before
    assert [c.visits for c in result.tree.children] == [1, 1, 1]


@pytest.mark.parametrize("strategy", ["random", "sample"])
def test_random_rollouts_follow_the_seed(strategy: str) -> None:
    world = TreeWorld(branching=4, depth=4)
    config = TreeConfig(branching=4, seed=2)

    def paths(seed: int) -> list[tuple]:
        result = MCTS(n_iters=6, depth_limit=4, simulate_strategy=strategy, seed=seed)(
            world, config
        )
        return [it.path[-1].state for it in result.iterations]

    assert paths(1) == paths(1)
    assert len({tuple(paths(seed)) for seed in range(6)}) > 1


def test_callable_simulate_strategy() -> None:
    picks_last = run(n_iters=1, simulate_strategy=lambda values: len(values) - 1, w_exp=0.0)
    assert picks_last.iterations[0].path[-1].state[-1] == 1
    with pytest.raises(ValueError, match="must return an index below 2"):
        run(n_iters=1, simulate_strategy=lambda values: 7)


def test_q_aggregation() -> None:
    by_mean = run(n_iters=30, w_exp=2.0, calc_q="mean")
    by_max = run(n_iters=30, w_exp=2.0, calc_q="max")
    by_callable = run(n_iters=30, w_exp=2.0, calc_q=lambda returns: min(returns))
    for node in by_mean.nodes():
        if node.visits:
            assert node.q == pytest.approx(sum(node.cum_rewards) / node.visits)
    for node in by_max.nodes():
        if node.visits:
            assert node.q == pytest.approx(max(node.cum_rewards))
    for node in by_callable.nodes():
        if node.visits:
            assert node.q == pytest.approx(min(node.cum_rewards))


# ---- PromptAgent's rules -------------------------------------------------------------------
class _ScoredRoot(TreeConfig):
    def __init__(self, root: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = root

    def root_reward(self, state: Any) -> tuple[float, dict]:
        return self.root, {"root": True}


def test_promptagent_scores_the_root_and_every_child_on_creation() -> None:
    world = TreeWorld(branching=3, depth=4)
    config = CountingConfig(_ScoredRoot(0.4, branching=3, seed=5))
    cworld = CountingWorld(world)
    result = MCTS.for_promptagent(n_iters=3, depth_limit=4)(cworld, config)
    assert result.tree.reward == 0.4 and result.tree.reward_details == {"root": True}
    for node in result.nodes():
        assert node.expanded, "PromptAgent steps and scores every child when it is created"
    assert set(cworld.batch_sizes) == {3}, "each expansion is one frontier of width 3"


def test_promptagent_stops_a_rollout_at_a_new_best() -> None:
    # root 0.5; every depth-1 node 0.6, every depth-2 node 0.9 (a new best), deeper 0.1
    rewards = {p: {1: 0.6, 2: 0.9}.get(len(p), 0.1) for p in _paths(2, 4)}
    config = _ScoredRoot(0.5, branching=2, rewards=rewards)
    algo = MCTS(n_iters=1, depth_limit=4, rules=PromptAgentRules(min_depth=1))
    result = algo(TreeWorld(branching=2, depth=4), config)
    path = result.iterations[0].path
    assert [n.depth for n in path] == [0, 1, 2], "the rollout ends at the first new best"
    assert path[-1].children == []


def test_promptagent_threshold_makes_poor_nodes_terminal() -> None:
    # root 0.8, depth 1: 0.8, depth 2: 0.2 < (0.8 + 0.8) / 2 -> terminal, never expanded
    rewards = {p: {1: 0.8, 2: 0.2}.get(len(p), 0.9) for p in _paths(2, 4)}
    config = _ScoredRoot(0.8, branching=2, rewards=rewards)
    algo = MCTS(n_iters=5, depth_limit=4, rules=PromptAgentRules(min_depth=1))
    result = algo(TreeWorld(branching=2, depth=4), config)
    deep = [n for n in result.nodes() if n.depth == 2]
    assert deep and all(n.is_terminal and not n.children for n in deep)
    assert max(n.depth for n in result.nodes()) == 2


def test_promptagent_answer_is_the_best_node_on_the_best_mean_path() -> None:
    world = TreeWorld(branching=3, depth=4)
    config = _ScoredRoot(0.3, branching=3, seed=8)
    result = MCTS.for_promptagent(n_iters=6, depth_limit=4, min_depth=1)(world, config)
    best_iter = max(result.iterations, key=lambda it: it.mean_reward)
    assert result.terminal_node is max(best_iter.path, key=lambda n: n.reward)


def test_promptagent_uct_counts_the_parent_visit() -> None:
    # Iteration 3 (worked by hand): with log(N + 1) the exploration bonus of the unvisited
    # child outweighs the visited child's lead; with llm-reasoners' log(N) it would not.
    world = TreeWorld(branching=2, depth=3)
    config = _ScoredRoot(0.0, branching=2, rewards={(0,): 0.9, (1,): 0.1})
    rules = PromptAgentRules(min_depth=3)
    greedy = MCTS(n_iters=3, depth_limit=3, w_exp=0.0, rules=rules)(world, config)
    curious = MCTS(n_iters=3, depth_limit=3, w_exp=3.0, rules=rules)(world, config)
    assert [it.path[1].state for it in greedy.iterations] == [(0,), (0,), (0,)]
    assert [it.path[1].state for it in curious.iterations] == [(0,), (0,), (1,)]


def test_a_leaf_at_the_depth_limit_gets_its_real_reward() -> None:
    result = run(n_iters=30, w_exp=3.0)
    for node in result.nodes():
        if node.visits:
            assert node.expanded, "a node that was backed up must have been stepped and scored"
            assert node.reward == REWARDS.get(node.state, 0.0)


def _paths(branching: int, depth: int) -> list[tuple[int, ...]]:
    from tree_worlds import all_paths

    return [p for d in range(1, depth + 1) for p in all_paths(branching, d)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_iters": 0}, "n_iters must be >= 1"),
        ({"depth_limit": -1}, "depth_limit must be >= 0"),
        ({"w_exp": -1.0}, "w_exp must be >= 0"),
        ({"output_strategy": "best"}, "unknown output_strategy"),
        ({"simulate_strategy": "greedy"}, "unknown simulate_strategy"),
        ({"calc_q": "median"}, "unknown calc_q"),
        ({"cum_reward": "product"}, "unknown cum_reward"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MCTS(**kwargs)


def test_bad_promptagent_rules_are_rejected() -> None:
    with pytest.raises(ValueError, match="min_depth must be >= 0"):
        PromptAgentRules(min_depth=-1)


# ---- variants by composition ---------------------------------------------------------------
def test_a_variant_is_rules_handed_to_the_same_search() -> None:
    """A variant changes only what its rules say: here every depth-1 node ends its path."""
    from dataclasses import dataclass, field

    from search import MCTSRules

    @dataclass(frozen=True, kw_only=True)
    class Shallow(MCTSRules):
        name: str = field(default="shallow", init=False)

        def ends_path(self, ctx: Any, node: Any) -> bool:
            return node.depth >= 1

    world = TreeWorld(branching=2, depth=3)
    shallow = MCTS(n_iters=6, depth_limit=3, rules=Shallow())(world, TreeConfig(branching=2))
    assert max(n.depth for n in shallow.nodes()) == 1
    assert shallow.settings["rules"] == {"name": "shallow"}
    plain = MCTS(n_iters=6, depth_limit=3)(world, TreeConfig(branching=2))
    assert max(n.depth for n in plain.nodes()) == 3 and plain.settings["rules"] == {"name": "uct"}


def test_promptagent_rules_pick_their_own_answer() -> None:
    algo = MCTS(rules=PromptAgentRules(min_depth=1))
    assert algo.output_strategy == "max_mean_path"
    with pytest.raises(ValueError, match="unknown output_strategy 'follow_max'"):
        MCTS(rules=PromptAgentRules(), output_strategy="follow_max")
    with pytest.raises(ValueError, match="unknown output_strategy 'max_mean_path'"):
        MCTS(output_strategy="max_mean_path")
    assert MCTS.for_promptagent().depth_limit == 5 == promptagent_mcts().depth_limit
