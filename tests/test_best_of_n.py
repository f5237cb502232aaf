"""Best-of-N: the shape Prompt-OIRL's query-dependent prompt selection needs."""

from __future__ import annotations

from typing import Any

import pytest

from search import BestOfN
from search.testing import CountingConfig, CountingWorld, SearchAlgorithmTests
from world_model import SearchConfig, WorldModel
from world_model.toy import prompt_building


class TestBestOfNContract(SearchAlgorithmTests):
    optimum_depth = 1

    def make(self, *, depth: int, seed: int = 0) -> BestOfN:
        return BestOfN(score="reward", seed=seed)


class PromptChoice(WorldModel):
    """A query and a list of candidate prompts; the state after an action is the pair."""

    def __init__(self, query: str) -> None:
        super().__init__()
        self.query = query

    def init_state(self) -> str:
        return self.query

    def step(self, state: str, action: str) -> tuple[tuple[str, str], dict[str, Any]]:
        return (state, action), {}

    def is_terminal(self, state: Any) -> bool:
        return isinstance(state, tuple)


class LearnedScores(SearchConfig):
    """A stand-in for a learned reward model: fast_reward scores a prompt for the query."""

    def __init__(self, prompts: list[str], scores: dict[str, float]) -> None:
        super().__init__()
        self.prompts, self.scores = prompts, scores

    def get_actions(self, state: str) -> list[str]:
        return list(self.prompts)

    def fast_reward(self, state: str, action: str) -> tuple[float, dict[str, Any]]:
        return self.scores[action], {"model": "stand-in"}

    def reward(self, state: Any, action: str, **kwargs: Any) -> tuple[float, dict[str, Any]]:
        raise AssertionError("best-of-N by fast reward must not call reward (an LLM call)")


PROMPTS = ["Let's think step by step.", "Answer directly.", "Break it into parts."]
SCORES = {PROMPTS[0]: 0.4, PROMPTS[1]: 0.1, PROMPTS[2]: 0.7}


def test_fast_reward_picks_the_best_candidate_without_reward_calls() -> None:
    world = CountingWorld(PromptChoice("What is 3 + 4?"))
    result = BestOfN()(world, LearnedScores(PROMPTS, SCORES))
    assert result.terminal_state == ("What is 3 + 4?", PROMPTS[2])
    assert result.cum_reward == 0.7
    assert [c.fast_reward for c in result.tree.children] == [0.4, 0.1, 0.7]
    assert world.batch_sizes == [1], "only the winner is stepped"


def test_reward_scoring_steps_every_candidate_in_one_frontier() -> None:
    world, config = prompt_building(depth=1)
    cworld, cconfig = CountingWorld(world), CountingConfig(config)
    result = BestOfN(score="reward")(cworld, cconfig)
    assert cworld.batch_sizes == [5] and cconfig.calls["reward_many"] == 1
    assert result.terminal_state == ("State the answer first, then the reasoning.",)


def test_n_draws_a_seeded_subset() -> None:
    world = PromptChoice("q")
    config = LearnedScores(PROMPTS, SCORES)
    picks = {
        tuple(c.action for c in BestOfN(n=2, seed=s)(world, config).tree.children)
        for s in range(10)
    }
    assert all(len(p) == 2 for p in picks) and len(picks) > 1
    assert BestOfN(n=2, seed=3)(world, config).tree.children[0].action == (
        BestOfN(n=2, seed=3)(world, config).tree.children[0].action
    )


def test_no_candidates_returns_the_root() -> None:
    result = BestOfN()(PromptChoice("q"), LearnedScores([], {}))
    assert result.terminal_node is result.tree and result.cum_reward == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n": 0}, "n must be >= 1"), ({"score": "judge"}, "unknown score")],
)
def test_bad_settings_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BestOfN(**kwargs)
