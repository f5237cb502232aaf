"""Golden trees: the serialised tree of each algorithm on the toy worlds, compared with the
stored JSON under tests/golden/. After an intended change of behaviour, regenerate them with
``UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py`` and review the diff."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from search import MCTS, BeamSearch, BestOfN, Greedy, TreeRecord, tree_json
from world_model.toy import prompt_building, random_guidance

GOLDEN = Path(__file__).with_name("golden")

CASES: dict[str, Callable[[], Any]] = {
    "beam_default_world": lambda: BeamSearch(beam_size=2, max_depth=3)(*prompt_building(depth=3)),
    "beam_dedup_mean": lambda: BeamSearch(
        beam_size=3, max_depth=3, reward_aggregator="mean", action_dedup=True
    )(*prompt_building(random_guidance(5, seed=1), depth=3)),
    "greedy_default_world": lambda: Greedy(max_depth=3)(*prompt_building(depth=3)),
    "mcts_default_world": lambda: MCTS(n_iters=12, depth_limit=3, w_exp=1.0)(
        *prompt_building(depth=3)
    ),
    "mcts_follow_max": lambda: MCTS(
        n_iters=10,
        depth_limit=3,
        w_exp=2.5,
        output_strategy="follow_max",
        uct_with_fast_reward=False,
    )(*prompt_building(random_guidance(4, seed=2), depth=3)),
    "mcts_promptagent": lambda: MCTS.for_promptagent(n_iters=6, depth_limit=3, min_depth=1)(
        *prompt_building(random_guidance(4, seed=3), depth=3)
    ),
    "best_of_n_reward": lambda: BestOfN(score="reward")(*prompt_building(depth=1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_tree_matches_the_golden_file(name: str) -> None:
    text = tree_json.dumps(TreeRecord.from_result(CASES[name]()))
    path = GOLDEN / f"{name}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}; run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8")
