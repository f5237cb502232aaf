"""output.pkl, output.json, trace.txt, and the networkx export."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tree_worlds import TreeConfig, TreeWorld

from search import (
    MCTS,
    BeamSearch,
    TreeFormatError,
    TreeRecord,
    load_result,
    render_trace,
    save_artifacts,
    to_networkx,
    tree_json,
)
from world_model.toy import prompt_building

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def saved(tmp_path: Path) -> Any:
    world, config = prompt_building(depth=3, noise_std=0.1)
    result = MCTS(n_iters=15, depth_limit=3)(world, config)
    return result, save_artifacts(result, tmp_path / "algo_output", meta={"simulated": True})


def test_three_files_are_written(saved: Any) -> None:
    _, paths = saved
    assert paths.pickle.name == "output.pkl" and paths.json.name == "output.json"
    assert paths.trace.name == "trace.txt"
    assert sorted(p.name for p in paths.json.parent.iterdir()) == [
        "output.json",
        "output.pkl",
        "trace.txt",
    ]


def test_json_holds_every_node_and_the_best_path(saved: Any) -> None:
    result, paths = saved
    data = json.loads(paths.json.read_text())
    assert data["format"] == "prompt-search.tree" and data["version"] == 1
    assert data["algorithm"] == "MCTS" and data["meta"] == {"simulated": True}
    assert len(data["nodes"]) == len(result.nodes())
    assert data["best_path"] == [n.id for n in result.trace_of_nodes]
    assert len(data["iterations"]) == 15
    node = data["nodes"][data["best_path"][-1]]
    for key in (
        "id",
        "parent",
        "depth",
        "state",
        "action",
        "reward",
        "reward_details",
        "visits",
        "q",
    ):
        assert key in node
    assert node["state"] == list(result.terminal_state)
    assert node["visits"] == result.terminal_node.visits


def test_trace_tells_the_best_path_step_by_step(saved: Any) -> None:
    result, paths = saved
    text = paths.trace.read_text()
    assert text.startswith("MCTS: best path of 3 step(s)")
    assert "simulated: True" in text
    for index, node in enumerate(result.trace_of_nodes):
        assert f"Step {index} (node {node.id}, depth {node.depth})" in text
        if node.action is not None:
            assert node.action in text
    assert text == render_trace(tree_json.load(paths.json))


def test_pickle_loads_in_a_fresh_interpreter_with_only_the_package(saved: Any) -> None:
    result, paths = saved
    code = (
        "import pickle, sys; r = pickle.load(open(sys.argv[1], 'rb'));"
        "print(type(r).__name__, len(r.nodes()), r.terminal_state[-1])"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(paths.pickle)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd="/",
    ).stdout.split()
    assert out[:2] == ["MCTSResult", str(len(result.nodes()))]
    assert load_result(paths.pickle).terminal_state == result.terminal_state


class _Counter(TreeWorld):
    """A chain whose state is its depth."""

    def init_state(self) -> Any:
        return 0

    def step(self, state: Any, action: int) -> tuple[Any, dict]:
        return state + 1, {}

    def is_terminal(self, state: Any) -> bool:
        return state >= self.depth


class _Flat(TreeConfig):
    def fast_reward(self, state: Any, action: Any) -> tuple[float, dict]:
        return 0.0, {}

    def reward(self, state: Any, action: Any, **kwargs: Any) -> tuple[float, dict]:
        return 1.0, {}


def test_deep_trees_pickle_without_recursion_trouble(tmp_path: Path) -> None:
    world = _Counter(branching=1, depth=3000)
    result = BeamSearch(beam_size=1, max_depth=3000)(world, _Flat(branching=1))
    paths = save_artifacts(result, tmp_path)
    again = load_result(paths.pickle)
    assert again.terminal_node.depth == 3000 and len(again.nodes()) == 3001


def test_networkx_export(saved: Any) -> None:
    result, paths = saved
    graph = to_networkx(tree_json.load(paths.json))
    assert graph.number_of_nodes() == len(result.nodes())
    assert graph.number_of_edges() == len(result.nodes()) - 1
    best = [n for n, attrs in graph.nodes(data=True) if attrs["best"]]
    assert best == [n.id for n in result.trace_of_nodes]
    leaf = result.terminal_node
    assert graph.edges[leaf.parent.id, leaf.id]["reward"] == leaf.reward
    assert graph.graph["algorithm"] == "MCTS"
    assert to_networkx(result).number_of_nodes() == graph.number_of_nodes()


class _Odd:
    def __repr__(self) -> str:
        return "<odd>"


class _WeirdDetails(TreeConfig):
    """Reward details of every kind a real world returns."""

    def reward(self, state: Any, action: Any, **kwargs: Any) -> tuple[float, dict]:
        import numpy as np

        return 0.5, {
            "np": np.float32(0.25),
            "arr": np.arange(3),
            "inf": math.inf,
            "set": {3, 1},
            "tuple": (1, "x"),
            "odd": _Odd(),
            "text": "<script>alert(1)</script> é",
            "nested": {"k": [None, True]},
        }


def test_any_details_become_strict_json(tmp_path: Path) -> None:
    result = BeamSearch(beam_size=1, max_depth=1)(
        TreeWorld(branching=1, depth=1), _WeirdDetails(branching=1)
    )
    paths = save_artifacts(result, tmp_path)
    text = paths.json.read_text(encoding="utf-8")
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    details = json.loads(text)["nodes"][1]["reward_details"]
    assert details == {
        "np": 0.25,
        "arr": [0, 1, 2],
        "inf": "inf",
        "set": [1, 3],
        "tuple": [1, "x"],
        "odd": "<odd>",
        "text": "<script>alert(1)</script> é",
        "nested": {"k": [None, True]},
    }
    assert tree_json.dumps(tree_json.loads(text)) == text


def test_states_choose_their_own_summary(tmp_path: Path) -> None:
    class Summarised(TreeWorld):
        def init_state(self) -> Any:
            return _History(())

        def step(self, state: Any, action: int) -> tuple[Any, dict]:
            return _History(state.steps + (action,)), {}

        def is_terminal(self, state: Any) -> bool:
            return len(state.steps) >= 2

    class _Cfg(TreeConfig):
        def fast_reward(self, state: Any, action: Any) -> tuple[float, dict]:
            return 0.0, {}

        def reward(self, state: Any, action: Any, **kwargs: Any) -> tuple[float, dict]:
            return float(action), {}

    result = BeamSearch(beam_size=1, max_depth=2)(
        Summarised(branching=2, depth=2), _Cfg(branching=2)
    )
    record = TreeRecord.from_result(result)
    assert record.best_nodes()[-1].state == {"last": 1, "length": 2}


class _History:
    def __init__(self, steps: tuple[int, ...]) -> None:
        self.steps = steps

    def to_json(self) -> dict[str, Any]:
        return {"last": self.steps[-1] if self.steps else None, "length": len(self.steps)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "prompt-search.tree", "version": 1, "nodes": [', "not valid JSON"),
        ('{"format": "prompt-search.tree", "version": 99}', "unsupported tree file version 99"),
        ('{"format": "something-else"}', "not a search tree file"),
        ("[1, 2]", "not a search tree file"),
        ('{"format": "prompt-search.tree", "version": 1}', "malformed search tree file"),
    ],
)
def test_bad_tree_files_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(TreeFormatError, match=message):
        tree_json.loads(text)


def test_dangling_ids_are_reported(saved: Any) -> None:
    _, paths = saved
    data = json.loads(paths.json.read_text())
    data["best_path"].append(9999)
    with pytest.raises(TreeFormatError, match="9999"):
        TreeRecord.from_dict(data)


def test_non_utf8_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "output.json"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(TreeFormatError, match="not UTF-8"):
        tree_json.load(path)
