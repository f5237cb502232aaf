"""GPO on the simulated LLM: the trajectory, the retrieved direction and the word budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prerequisites import BIGBENCH, needs_data

from drpo.llm import RoleSettings, make_llms
from drpo.methods.gpo.world import GPOConfig, GPOWorld, retrieve, step_size
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.tasks import DEMO_TASK, answer_key, load_task
from drpo.retrieval import HashingEmbedder
from drpo.text_diff import changed_words
from search import Greedy
from world_model import Reasoner

REPO = Path(__file__).resolve().parents[1]


def test_cosine_schedule_from_50_to_10() -> None:
    sizes = [step_size(t, 12, initial=50, final=10, schedule="cosine") for t in range(12)]
    assert sizes[0] == 50 and sizes[-1] == 10
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[6] < 30 < sizes[5] + 1  # a cosine is still high near the start, low near the end


def test_linear_fixed_and_warmup() -> None:
    assert [step_size(t, 5, initial=40, final=0, schedule="linear") for t in range(5)] == [
        40, 30, 20, 10, 1  # never below one word
    ]  # fmt: skip
    assert {step_size(t, 5, initial=7, final=1, schedule="fixed") for t in range(5)} == {7}
    warm = [step_size(t, 10, initial=20, final=4, schedule="cosine", warmup=4) for t in range(10)]
    assert warm[:4] == [5, 10, 15, 20] and warm[4] == 20 and warm[-1] == 4
    with pytest.raises(ValueError, match="unknown schedule"):
        step_size(0, 5, initial=5, final=1, schedule="step")


def test_retrieval_modes() -> None:
    trajectory = [("Be brief.", 0.2), ("Think step by step.", 0.6), ("Be brief and kind.", 0.4),
                  ("Count the items.", 0.5)]  # fmt: skip
    embedder = HashingEmbedder()
    assert (
        retrieve(trajectory, "Count the items.", k=2, how="recency", embedder=embedder)
        == trajectory[-2:]
    )
    assert retrieve(trajectory, "x", k=2, how="importance", embedder=embedder) == [
        trajectory[1],
        trajectory[3],
    ]
    near = retrieve(trajectory, "Be brief and kind.", k=2, how="relevance", embedder=embedder)
    assert near == [("Be brief and kind.", 0.4), ("Be brief.", 0.2)]
    with pytest.raises(ValueError, match="unknown retrieval"):
        retrieve(trajectory, "x", k=2, how="random", embedder=embedder)


def gpo(task, **options):
    llms = make_llms({"base": RoleSettings(knowledge=answer_key(task)), "optimize": RoleSettings()})
    scorer = TaskScorer(llms["base"])
    world = GPOWorld(task, scorer, initial_prompt="Answer the question.")
    steps = options.pop("steps", 8)
    config = GPOConfig(task, scorer, llms["optimize"], total_steps=steps, **options)
    return Reasoner(world, config, Greedy(max_depth=steps, action_dedup=lambda c: c.prompt))(
        None
    ), config


def test_eval_accuracy_rises() -> None:
    task = load_task(DEMO_TASK)
    result, _ = gpo(task)
    rewards = [n.reward for n in result.trace_of_nodes]
    assert max(rewards) > rewards[0] + 0.3


@pytest.mark.parametrize("schedule", ["cosine", "linear", "fixed"])
def test_the_word_budget_is_honoured(schedule: str) -> None:
    task = load_task(DEMO_TASK)
    result, _ = gpo(task, initial_budget=6, final_budget=2, schedule=schedule, steps=6)
    path = result.trace_of_nodes
    for step, (before, after) in enumerate(zip(path, path[1:])):
        budget = step_size(step, 6, initial=6, final=2, schedule=schedule)
        assert after.state.budget == budget
        assert changed_words(before.state.prompt, after.state.prompt) <= budget
    grown = [changed_words(a.state.prompt, b.state.prompt) for a, b in zip(path, path[1:])]
    assert any(grown), "the prompt did change"


def test_each_step_records_its_direction_and_candidates() -> None:
    task = load_task(DEMO_TASK)
    result, _ = gpo(task, n_candidates=4, steps=3, retrieval="importance", k=2)
    for node in result.trace_of_nodes[1:]:
        state = node.state
        assert 1 <= len(state.retrieved) <= 2 and state.budget is not None
        assert (state.prompt, node.reward) in state.candidates
        assert max(score for _, score in state.candidates) == node.reward  # greedy: the best


@needs_data("bigbench")
def test_the_command_runs_on_a_bigbench_task(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "--method", "gpo", "--task",
         "penguins_in_a_table", "--data_dir", str(BIGBENCH), "--depth", "5",
         "--log_dir", str(tmp_path / "r"), "--disable_tqdm"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "r/summary.json").read_text())
    assert summary["best_eval_accuracy"] > summary["initial_eval_accuracy"]
    assert len(summary["trajectory"]) == 6
    trace = (tmp_path / "r/algo_output/trace.txt").read_text()
    for field in ("retrieved", "budget_words", "candidates", "eval_accuracy"):
        assert field in trace


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--initial_budget", "0"], "budgets must be >= 1"),
        (["--retrieval", "random"], "invalid choice: 'random'"),
        (["--search", "mcts"], "GPO moves greedily"),
        (["--depth", "0"], "steps must be >= 1"),
    ],
)
def test_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    out = subprocess.run([sys.executable, str(REPO / "train.py"), "--method", "gpo", *args],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert out.returncode == 2 and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
