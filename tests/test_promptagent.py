"""PromptAgent on the simulated LLM, and the task loading and scoring it shares with GPO."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from prerequisites import BIGBENCH, needs_data
from run_helpers import kill_after_frontiers, tree_without_meta

from drpo.llm import LLM, Backend, BackendCall, BackendResult, RoleSettings, make_llms
from drpo.methods.gpo import sim as gpo_sim
from drpo.methods.promptagent import sim as promptagent_sim
from drpo.methods.promptagent.world import BatchLoader, PromptAgentConfig, PromptAgentWorld
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.tasks import DEMO_TASK, TaskError, extract_answer, is_correct, load_task
from search import MCTS, BeamSearch
from world_model import Reasoner, check_world_model

REPO = Path(__file__).resolve().parents[1]
#: The BIG-bench tasks of the data (one name, to be skipped with the reason, without it).
TASKS = sorted(p.stem for p in BIGBENCH.glob("*.json")) or ["penguins_in_a_table"]


@needs_data("bigbench")
@pytest.mark.parametrize("name", TASKS)
def test_every_bigbench_task_loads_and_splits(name: str) -> None:
    task = load_task(name, data_dir=BIGBENCH, eval_size=30, test_size=60, seed=1)
    raw = json.loads((BIGBENCH / f"{name}.json").read_text())
    assert len(task.test) == 60 and len(task.eval) == 30
    assert len(task.train) == len(raw["examples"]) - 90
    questions = [e.question for e in task.all_examples()]
    assert len(set(questions)) >= len(questions) * 0.95
    assert task.train != load_task(name, data_dir=BIGBENCH, seed=2).train


@needs_data("bigbench")
@pytest.mark.parametrize("name", TASKS)
def test_the_gold_answers_score_as_correct(name: str) -> None:
    task = load_task(name, data_dir=BIGBENCH)
    for example in task.all_examples():
        for text in (example.gold, f"Let me see. So the answer is {example.gold}."):
            assert is_correct(text, example), (example.question[-80:], text)


def test_answer_extraction_per_kind() -> None:
    task = load_task(DEMO_TASK, eval_size=10, test_size=10)
    by_kind = {e.kind: e for e in task.all_examples()}
    choice, number = by_kind["choice"], by_kind["number"]
    wrong = "(A)" if choice.answers[0] != "A" else "(B)"
    assert not is_correct(f"the answer is {wrong}", choice)
    assert (
        extract_answer(f"I think (A) first, but the answer is {choice.gold}", choice)
        == choice.answers[0]
    )
    option_text = choice.options[ord(choice.answers[0]) - 65]
    assert is_correct(f"The answer is {option_text}.", choice)
    assert extract_answer("there are twenty-one of them", number) == "21"
    assert not is_correct("no idea", number)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ('{"question": "q", "answer": "1"}\n{"question":', "line 2 is not JSON"),
        ('{"question": "q"}', r"needs 'question' \(text\) and 'answer'"),
        ('{"question": "q", "options": ["a", "b"], "answer": "c"}', "not one of the options"),
        ('{"examples": []}', "has no 'examples' list"),
    ],
)
def test_bad_task_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / ("task.json" if content.startswith('{"examples"') else "task.jsonl")
    path.write_text(content)
    with pytest.raises(TaskError, match=message):
        load_task(path, eval_size=1, test_size=1)


def test_too_small_and_unknown_tasks() -> None:
    with pytest.raises(TaskError, match="too few"):
        load_task(DEMO_TASK, eval_size=100, test_size=50)
    with pytest.raises(TaskError, match="no task file 'nope' or in"):
        load_task("nope", data_dir=DEMO_TASK.parent)


def test_the_loader_cycles_through_every_example() -> None:
    task = load_task(DEMO_TASK, eval_size=10, test_size=10, train_size=40)
    loader = BatchLoader(task.train, batch_size=5, seed=0)
    seen = [e.question for _ in range(8) for e in loader.next()]
    assert set(seen) == {e.question for e in task.train}  # 40 examples, 8 batches of 5
    loader.reset()
    assert [e.question for e in loader.next()] == seen[:5]


def pieces(task, *, base_backend: Backend | None = None):
    knowledge = {e.question: e.gold for e in task.all_examples()}
    llms = make_llms({"base": RoleSettings(knowledge=knowledge), "optimize": RoleSettings()})
    if base_backend is not None:
        llms["base"] = LLM(base_backend, role="base")
    scorer = TaskScorer(llms["base"])
    world = PromptAgentWorld(task, scorer, initial_prompt="Answer the question.")
    return world, PromptAgentConfig(task, scorer, llms["optimize"])


def test_the_world_keeps_the_contract() -> None:
    task = load_task(DEMO_TASK, eval_size=10, test_size=10)
    # the batch loader moves on with every expansion, so asking twice gives other actions
    check_world_model(*pieces(task), n_paths=1, max_depth=2, deterministic=False)


@needs_data("bigbench")
def test_mcts_raises_eval_accuracy_and_reports_test_accuracy(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "--method", "promptagent", "--task",
         "penguins_in_a_table", "--data_dir", str(BIGBENCH), "--n_iters", "6",
         "--log_dir", str(tmp_path / "r"), "--disable_tqdm"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "r/summary.json").read_text())
    assert summary["final_eval_accuracy"] > summary["initial_eval_accuracy"] + 0.2
    assert summary["final_test_accuracy"] > summary["initial_test_accuracy"]
    assert "test accuracy: initial prompt" in out.stdout and "simulated" in out.stdout
    trace = (tmp_path / "r/algo_output/trace.txt").read_text()
    assert "feedback" in trace and "eval_accuracy" in trace
    assert (tmp_path / "r/best_prompt.txt").read_text().strip() == summary["final_prompt"]


def test_calls_of_an_expansion_go_out_together() -> None:
    task = load_task(DEMO_TASK, eval_size=10, test_size=10)
    world, config = pieces(task)
    batches: list[int] = []
    inner = world.scorer.llm.backend

    class Recording(Backend):
        kind = "sim"

        async def agenerate(self, calls: Sequence[BackendCall], on_result: Any = None) -> list:
            batches.append(len(calls))
            return await inner.agenerate(calls, on_result)

    world.scorer.llm.backend = Recording("sim")
    result = Reasoner(world, config, MCTS.for_promptagent(n_iters=1, depth_limit=1))(None)
    children = {child.state.prompt for child in result.tree.children}
    # root eval (10), three training batches (15), the children's eval (10 per distinct
    # prompt: a prompt proposed twice is sent once)
    assert batches[0] == 10 and 15 in batches and 10 * len(children) in batches
    assert len(result.tree.children) == 3


class Oracle(Backend):
    """A task model that is always right: no batch ever has an error."""

    kind = "sim"

    def __init__(self, task) -> None:
        super().__init__("oracle")
        self.key = {e.question: e.gold for e in task.all_examples()}

    async def agenerate(self, calls: Sequence[BackendCall], on_result: Any = None) -> list:
        out = []
        for call in calls:
            text = call.request.messages[-1][1]
            gold = next(g for q, g in self.key.items() if q in text)
            out.append(
                BackendResult((f"the answer is {gold}",) * call.count, ("stop",) * call.count, 1, 1)
            )
        return out


def test_a_prompt_without_errors_does_not_hang() -> None:
    task = load_task(DEMO_TASK, eval_size=10, test_size=10)
    world, config = pieces(task, base_backend=Oracle(task))
    start = time.perf_counter()
    result = Reasoner(world, config, MCTS.for_promptagent(n_iters=3, depth_limit=3))(None)
    assert time.perf_counter() - start < 30
    assert result.tree.reward == 1.0 and result.tree.children == []


def test_beam_and_greedy_ablations() -> None:
    task = load_task(DEMO_TASK, eval_size=10, test_size=10)
    result = Reasoner(*pieces(task), BeamSearch(beam_size=2, max_depth=2))(None)
    assert result.terminal_node.depth == 2 and result.cum_reward >= result.tree.reward


@needs_data("bigbench")
def test_kill_9_and_resume_ends_the_same(sim_server, tmp_path: Path) -> None:
    task = load_task("penguins_in_a_table", data_dir=BIGBENCH)
    knowledge = {e.question: e.gold for e in task.all_examples()}
    servers = [sim_server(latency_ms=20, knowledge=knowledge) for _ in range(2)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def args(url: str, log_dir: Path) -> list[str]:
        return [sys.executable, str(REPO / "train.py"), "--method", "promptagent", "--task",
                "penguins_in_a_table", "--data_dir", str(BIGBENCH), "--n_iters", "4",
                "--base_base_url", url, "--optimize_base_url", url, "--disable_tqdm",
                "--log_dir", str(log_dir)]  # fmt: skip

    crashed = tmp_path / "crashed"
    proc = subprocess.Popen(args(servers[0].url, crashed), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    kill_after_frontiers(proc, crashed, 2, timeout_s=120)
    resumed = subprocess.run([*args(servers[0].url, crashed), "--resume"], env=env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    clean = subprocess.run(args(servers[1].url, tmp_path / "clean"), env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    assert tree_without_meta(crashed) == tree_without_meta(tmp_path / "clean")
    assert servers[0].stats()["completions"] <= servers[1].stats()["completions"] + 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "no_such_task"], "no task file 'no_such_task'"),
        pytest.param(
            ["--task", "penguins_in_a_table", "--data_dir", str(BIGBENCH), "--test_size", "200"],
            "too few",
            marks=needs_data("bigbench"),
        ),
        (["--expand_width", "0"], "expand_width must be >= 1"),
        (["--search", "mcts", "--n_iters", "0"], "n_iters must be >= 1"),
    ],
)
def test_bad_input_gets_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "--method", "promptagent", *args],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 2 and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("method", ["promptagent", "gpo"])
def test_a_search_that_only_found_worse_prompts_reports_the_initial_one(
    method: str, tmp_path: Path, monkeypatch
) -> None:
    """An optimiser that always writes an unhelpful prompt: the prompt reported as best is
    never one that scores below the initial prompt on eval."""
    from drpo.cli import main
    from drpo.sim.catalogue import HINT_SENTENCES

    worse = "Answer at once, without thinking."
    monkeypatch.setattr(promptagent_sim, "write_prompts", lambda request:
                        json.dumps({"new_prompts": [worse]}))  # fmt: skip
    monkeypatch.setattr(gpo_sim, "edit_prompt", lambda request:
                        json.dumps({"new_prompt": worse}))  # fmt: skip
    initial = "Solve the task. " + " ".join(list(HINT_SENTENCES.values())[3:])
    log_dir = tmp_path / "run"
    code = main(["--method", method, "--search", "greedy", "--initial_prompt", initial,
                 "--log_dir", str(log_dir), "--depth", "2", "--disable_tqdm"])  # fmt: skip
    assert code == 0
    summary = json.loads((log_dir / "summary.json").read_text())
    final = "final" if method == "promptagent" else "best"
    assert summary[f"{final}_eval_accuracy"] >= summary["initial_eval_accuracy"]
    assert summary["best_prompt_is_initial"]
    assert (log_dir / "best_prompt.txt").read_text().strip() == initial.strip()
    assert summary["test_difference"]["n"] == 60 and summary["test_difference"]["mean"] == 0
    if method == "promptagent":  # the rule was needed: greedy search itself answered worse
        assert summary["search_answer"]["eval_accuracy"] < summary["initial_eval_accuracy"]


@needs_data("bigbench")
def test_an_option_order_that_gives_the_answer_away_is_shuffled() -> None:
    # temporal_sequences lists its correct option first in every example.
    raw = json.loads((BIGBENCH / "temporal_sequences.json").read_text())
    assert {list(e["target_scores"].values()).index(1) for e in raw["examples"]} == {0}
    task = load_task("temporal_sequences", data_dir=BIGBENCH, seed=1)
    golds = collections.Counter(e.answers[0] for e in task.all_examples())
    assert set(golds) == {"A", "B", "C", "D"} and max(golds.values()) < 0.35 * len(raw["examples"])
    again = load_task("temporal_sequences", data_dir=BIGBENCH, seed=2)
    assert {e.question: e.answers for e in again.all_examples()} == {
        e.question: e.answers for e in task.all_examples()
    }
    # A file whose order varies keeps it.
    penguins = load_task("penguins_in_a_table", data_dir=BIGBENCH, seed=1)
    raw = json.loads((BIGBENCH / "penguins_in_a_table.json").read_text())
    first = {e["input"].strip(): list(e["target_scores"]) for e in raw["examples"]}
    for example in penguins.all_examples():
        question = example.question.split("\nOptions:")[0]
        if question in first:
            assert list(example.options) == first[question]
