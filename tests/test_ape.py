"""APE on the simulated LLM: forward generation from demonstrations, scoring on a fresh
training subset per round, the top k kept and resampled, the final choice on eval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from prerequisites import BIGBENCH, needs_data
from run_helpers import kill_after_frontiers, train, tree_without_meta

from drpo.llm import Backend, BackendCall, RoleSettings, make_llms
from drpo.llm._loop import run_sync
from drpo.methods.ape import sim as ape_sim
from drpo.methods.ape.choice import choose, kept_nodes
from drpo.methods.ape.world import ApeConfig, ApeState, ApeWorld
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.tasks import DEMO_TASK, answer_key, load_task
from search import BeamSearch
from world_model import Reasoner, check_world_model

REPO = Path(__file__).resolve().parents[1]
INITIAL = "Answer the question."


class Recording(Backend):
    """Passes calls on to `inner`, keeping every call it saw."""

    kind = "sim"

    def __init__(self, inner: Backend) -> None:
        super().__init__("recording")
        self.inner = inner
        self.calls: list[BackendCall] = []

    async def agenerate(self, calls: Sequence[BackendCall], on_result: Any = None) -> list:
        self.calls.extend(calls)
        return await self.inner.agenerate(calls, on_result)


def pieces(task, **options):
    llms = make_llms({"base": RoleSettings(knowledge=answer_key(task)), "optimize": RoleSettings()})
    optimizer = Recording(llms["optimize"].backend)
    llms["optimize"].backend = optimizer
    scorer = TaskScorer(llms["base"])
    world = ApeWorld(task, scorer, initial_prompt=INITIAL,
                     score_size=options.pop("score_size", 20))  # fmt: skip
    return world, ApeConfig(task, scorer, llms["optimize"], **options), optimizer


def search(task, rounds: int = 3, beam_size: int = 3, **options):
    world, config, optimizer = pieces(task, **options)
    beam = BeamSearch(beam_size=beam_size, max_depth=rounds, action_dedup=lambda c: c.prompt)
    return Reasoner(world, config, beam)(None), world, optimizer


def test_the_world_keeps_the_contract() -> None:
    task = load_task(DEMO_TASK, eval_size=10, test_size=10)
    world, config, _ = pieces(task, demo_sets=2, proposals_per_set=2, n_variations=2)
    check_world_model(world, config, n_paths=2, max_depth=2)


def test_forward_generation_shows_training_demonstrations_and_samples_each_set() -> None:
    task = load_task(DEMO_TASK)
    world, config, optimizer = pieces(task, demo_sets=3, n_demos=5, proposals_per_set=4)
    actions = config.get_actions(world.init_state())
    train = {e.question: e.gold for e in task.train}
    held_out = {e.question for e in task.eval + task.test}
    assert len(optimizer.calls) == 3 and {c.count for c in optimizer.calls} == {4}
    demo_sets = []
    for call in optimizer.calls:
        text = call.request.messages[-1][1]
        assert "induced_instruction" in text and INITIAL not in text  # demos only, no prompt
        shown = [q for q in train if f"Input: {q}\nOutput: {train[q]}" in text]
        assert len(shown) == 5 and not any(q in text for q in held_out)
        demo_sets.append(frozenset(shown))
    assert len(set(demo_sets)) == 3  # each query its own random set
    assert {a.origin for a in actions} == {"induced"}
    assert {a.demo_set for a in actions} <= {0, 1, 2} and len(actions) >= 3


def test_a_kept_instruction_is_resampled_into_variations() -> None:
    task = load_task(DEMO_TASK)
    world, config, optimizer = pieces(task, n_variations=5)
    kept = ApeState("Answer the question given in the input. Count the relevant items one at "
                    "a time.", round=1, origin="induced", subset_accuracy=0.5)  # fmt: skip
    actions = config.get_actions(kept)
    [call] = optimizer.calls
    assert call.count == 5 and kept.prompt in call.request.messages[-1][1]
    assert "instruction_variation" in call.request.messages[-1][1]
    assert actions and {a.origin for a in actions} == {"variation"}
    child, _ = world.step(kept, actions[0])
    assert child.parent == kept.prompt and child.round == 2


def test_each_round_scores_its_candidates_on_one_fresh_training_subset() -> None:
    task = load_task(DEMO_TASK)
    result, world, _ = search(task, rounds=3, score_size=12)
    subsets = [world.subset(r) for r in (1, 2, 3)]
    train = set(task.train)
    for subset in subsets:
        assert len(subset) == 12 and set(subset) <= train
    assert len({frozenset(s) for s in subsets}) == 3
    for node in result.nodes()[1:]:
        (score,) = run_sync(world.scorer.score_many([(node.state.prompt, subsets[node.depth - 1])]))
        assert node.reward == score.accuracy == node.state.subset_accuracy


def test_the_top_k_of_each_round_are_kept_and_only_they_are_resampled() -> None:
    task = load_task(DEMO_TASK)
    result, _, _ = search(task, rounds=3, beam_size=2)
    for depth in (1, 2):
        level = [n for n in result.nodes() if n.depth == depth]
        kept = [n for n in level if n.children]
        dropped = [n for n in level if not n.children]
        assert len(kept) == 2 and len(level) > 2
        assert min(n.reward for n in kept) >= max(n.reward for n in dropped)
        for node in kept:
            assert {c.state.origin for c in node.children} == {"variation"}
    assert len(result.beam) == 2 and all(n.depth == 3 for n in result.beam)


def test_resampling_rounds_find_better_instructions_than_proposals_alone() -> None:
    task = load_task(DEMO_TASK)
    one, *_ = search(task, rounds=1)
    three, *_ = search(task, rounds=3)
    best_of_one, best_of_three = (max(n.reward for n in r.nodes()[1:]) for r in (one, three))
    assert best_of_three > best_of_one


def test_the_final_choice_is_the_kept_instruction_best_on_eval() -> None:
    task = load_task(DEMO_TASK)
    result, world, _ = search(task, rounds=2, beam_size=3)
    kept = kept_nodes(result)
    assert len(kept) == 6 and [n.depth for n in kept] == [1, 1, 1, 2, 2, 2]
    choice = choose(result, world.scorer, task.eval, initial_prompt=INITIAL,
                    initial_eval=result.tree.reward)  # fmt: skip
    scores = run_sync(world.scorer.score_many([(n.state.prompt, task.eval) for n in kept]))
    assert choice.eval_accuracy == max(s.accuracy for s in scores) > result.tree.reward
    assert choice.prompt in {n.state.prompt for n in kept} and not choice.is_initial
    assert [f.eval_accuracy for f in choice.finalists] == sorted(
        (s.accuracy for s in scores), reverse=True
    )
    # no kept instruction beats a perfect initial prompt: it stays
    stays = choose(result, world.scorer, task.eval, initial_prompt=INITIAL, initial_eval=1.0)
    assert stays.is_initial and stays.prompt == INITIAL


def test_the_command_runs_on_the_demo_task_and_writes_every_artefact(tmp_path: Path) -> None:
    log_dir = tmp_path / "run"
    out = train("--method", "ape", "--log_dir", str(log_dir), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "APE on task demo_task ran on the simulated LLM (results are simulated)" in out.stdout
    for name in ("args.txt", "log.txt", "summary.json", "usage.json", "best_prompt.txt",
                 "test_answers.json", "algo_output/output.pkl", "algo_output/output.json",
                 "algo_output/trace.txt"):  # fmt: skip
        assert (log_dir / name).is_file(), name
    summary = json.loads((log_dir / "summary.json").read_text())
    assert summary["method"] == "ape" and summary["simulated"] is True
    assert summary["final_eval_accuracy"] > summary["initial_eval_accuracy"] + 0.3
    assert summary["final_test_accuracy"] > summary["initial_test_accuracy"]
    assert summary["test_difference"]["ci_low"] > 0
    assert (log_dir / "best_prompt.txt").read_text().strip() == summary["final_prompt"]
    assert summary["settings"]["depth"] == 3 and summary["settings"]["beam_size"] == 3
    assert len(summary["finalists"]) == 9  # 3 kept in each of 3 rounds
    trace = (log_dir / "algo_output/trace.txt").read_text()
    for field in ("induced", "variation", "subset_accuracy", "eval_accuracy"):
        assert field in trace


def test_settings_are_honoured(tmp_path: Path) -> None:
    log_dir = tmp_path / "run"
    out = train("--method", "ape", "--depth", "2", "--beam_size", "2", "--demo_sets", "2",
                "--proposals_per_set", "3", "--n_variations", "2", "--score_size", "7",
                "--log_dir", str(log_dir), cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    tree = json.loads((log_dir / "algo_output/output.json").read_text())
    summary = json.loads((log_dir / "summary.json").read_text())
    assert tree["settings"]["beam_size"] == 2 and tree["settings"]["max_depth"] == 2
    assert len(summary["finalists"]) == 4
    usage = json.loads((log_dir / "usage.json").read_text())
    optimize = next(r for r in usage["roles"] if r["role"] == "optimize")
    assert optimize["requests"] == 2 + 2  # two demo sets, then one request per kept node


@needs_data("bigbench")
def test_the_command_runs_on_a_bigbench_task(tmp_path: Path) -> None:
    out = train("--method", "ape", "--task", "object_counting", "--data_dir", str(BIGBENCH),
                "--log_dir", str(tmp_path / "r"), cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "r/summary.json").read_text())
    assert summary["task"] == "object_counting"
    assert summary["final_eval_accuracy"] > summary["initial_eval_accuracy"]
    assert summary["final_test_accuracy"] > summary["initial_test_accuracy"]


def test_kill_9_and_resume_ends_the_same_without_paying_twice(sim_server, tmp_path: Path) -> None:
    task = load_task(DEMO_TASK)
    servers = [sim_server(latency_ms=20, knowledge=answer_key(task)) for _ in range(2)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def args(url: str, log_dir: Path) -> list[str]:
        return [sys.executable, str(REPO / "train.py"), "--method", "ape", "--base_base_url",
                url, "--optimize_base_url", url, "--disable_tqdm",
                "--log_dir", str(log_dir)]  # fmt: skip

    crashed = tmp_path / "crashed"
    proc = subprocess.Popen(args(servers[0].url, crashed), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    kill_after_frontiers(proc, crashed, 1, timeout_s=120)
    resumed = subprocess.run([*args(servers[0].url, crashed), "--resume"], env=env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    clean = subprocess.run(args(servers[1].url, tmp_path / "clean"), env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    assert tree_without_meta(crashed) == tree_without_meta(tmp_path / "clean")
    assert servers[0].stats()["completions"] <= servers[1].stats()["completions"] + 8


def test_an_optimiser_that_only_writes_worse_instructions_leaves_the_initial_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drpo.cli import main
    from drpo.sim.catalogue import HINT_SENTENCES

    worse = "Answer at once, without thinking."
    monkeypatch.setattr(ape_sim, "induce_instruction", lambda request:
                        json.dumps({"induced_instruction": worse}))  # fmt: skip
    monkeypatch.setattr(ape_sim, "vary_instruction", lambda request:
                        json.dumps({"instruction_variation": worse + " Be quick."}))  # fmt: skip
    initial = "Solve the task. " + " ".join(list(HINT_SENTENCES.values())[3:])
    log_dir = tmp_path / "run"
    code = main(["--method", "ape", "--initial_prompt", initial, "--log_dir", str(log_dir),
                 "--depth", "2", "--disable_tqdm"])  # fmt: skip
    assert code == 0
    summary = json.loads((log_dir / "summary.json").read_text())
    assert summary["best_prompt_is_initial"] and summary["final_prompt"] == initial.strip()
    assert summary["final_eval_accuracy"] == summary["initial_eval_accuracy"]
    assert all(f["eval_accuracy"] < summary["initial_eval_accuracy"]
               for f in summary["finalists"])  # fmt: skip
    assert summary["test_difference"]["mean"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--search", "mcts"], "APE keeps the top --beam_size"),
        (["--depth", "0"], "depth (rounds) must be >= 1"),
        (["--demo_sets", "0"], "demo_sets must be >= 1"),
        (["--n_variations", "0"], "n_variations must be >= 1"),
        (["--score_size", "0"], "score_size must be >= 1"),
        (["--beam_size", "0"], "beam_size must be >= 1"),
        (["--task", "no_such_task"], "no task file 'no_such_task'"),
    ],
)
def test_bad_input_gets_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    out = train("--method", "ape", *args, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()
