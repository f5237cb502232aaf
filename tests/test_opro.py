"""OPRO on the simulated LLM: the meta-prompt (scored history sorted ascending, capped,
thresholded; exemplars drawn each step), the batch of new instructions each step, the
history they all join, and the final choice."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from prerequisites import BIGBENCH, needs_data
from run_helpers import REPO, kill_after_frontiers, train, tree_without_meta

from drpo.llm import Backend, BackendCall, RoleSettings, make_llms
from drpo.llm._loop import run_sync
from drpo.methods.opro import sim as opro_sim
from drpo.methods.opro.world import (
    OPROConfig,
    OPROState,
    OPROWorld,
    Scored,
    scoring_set,
    shown_history,
)
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.tasks import DEMO_TASK, answer_key, load_task
from search import Greedy
from world_model import Reasoner


class Recording(Backend):
    """Passes calls on to another backend and keeps them."""

    kind = "sim"

    def __init__(self, inner: Backend) -> None:
        super().__init__("recording")
        self.inner = inner
        self.calls: list[BackendCall] = []

    async def agenerate(self, calls: Sequence[BackendCall], on_result: Any = None) -> list:
        self.calls.extend(calls)
        return await self.inner.agenerate(calls, on_result)


def pieces(task, *, score_size: int = 20, initial: str = "Answer the question.", **options: Any):
    llms = make_llms({"base": RoleSettings(knowledge=answer_key(task)), "optimize": RoleSettings()})
    for role in ("base", "optimize"):
        llms[role].backend = Recording(llms[role].backend)
    scorer = TaskScorer(llms["base"])
    scoring = scoring_set(task, score_size)
    world = OPROWorld(task, scorer, initial_prompt=initial, scoring=scoring)
    config = OPROConfig(task, llms["optimize"], scoring=scoring, **options)
    return world, config, llms


def test_the_meta_prompt_shows_the_best_instructions_sorted_ascending() -> None:
    history = [Scored(f"Instruction number {i} for the task.", (i * 7 % 25) / 25, i)
               for i in range(25)]  # fmt: skip
    shown = shown_history(history, max_shown=20, threshold=0.0)
    assert len(shown) == 20
    assert [s.score for s in shown] == sorted(s.score for s in history)[-20:]  # best last
    assert min(s.score for s in shown) > 0.16  # the five worst (0, .04, ... .16) left out
    kept = shown_history(history, max_shown=20, threshold=0.5)
    assert kept == [s for s in shown if s.score >= 0.5] and len(kept) == 12

    task = load_task(DEMO_TASK)
    _, config, _ = pieces(task, max_shown=3, n_exemplars=3)
    state = OPROState(tuple(history[:6]), step=4)
    text, shown, exemplars = config.meta_prompt(state)
    listed = re.findall(r"Instruction: (.*)\nScore: (\d+)", text)
    assert listed == [(s.instruction, str(round(100 * s.score))) for s in shown]
    assert [int(score) for _, score in listed] == [40, 56, 84]  # the three best, ascending
    assert len(exemplars) == 3 and all(e in config.scoring for e in exemplars)
    for example in exemplars:
        assert f"Question: {example.question}\nCorrect answer: {example.gold}" in text
    assert "higher_scoring_instruction" in text
    # Exemplars are drawn anew each step, the same way for the same step and seed.
    assert config.meta_prompt(state)[2] == exemplars
    assert config.meta_prompt(OPROState(state.history, step=5))[2] != exemplars


def test_each_step_scores_a_batch_that_joins_the_history() -> None:
    task = load_task(DEMO_TASK)
    world, config, llms = pieces(task, per_step=8, temperature=1.0)
    result = Reasoner(world, config, Greedy(max_depth=3))(None)
    path = result.trace_of_nodes
    assert len(path) == 4
    requests = [c for c in llms["optimize"].backend.calls]
    assert len(requests) == 3  # one request per step, asking for 8 samples at temperature 1
    assert all(c.count == 8 and c.request.temperature == 1.0 for c in requests)
    for before, after in zip(path, path[1:]):
        new = after.state.new
        assert after.state.history == (*before.state.history, *new)  # every new one is kept
        assert new, "the simulated optimiser wrote new instructions"
        # what the step's meta-prompt showed: the best of the history so far, ascending
        assert list(after.state.shown) == shown_history(
            before.state.history, max_shown=20, threshold=0.0
        )
        # each new instruction is scored on the scoring set
        scores = run_sync(world.scorer.score_many([(s.instruction, world.scoring) for s in new]))
        assert [s.score for s in new] == [x.accuracy for x in scores]
        assert after.reward == max(s.score for s in after.state.history)
        assert after.state.prompt == after.state.best.instruction
    texts = [s.instruction for s in path[-1].state.history]
    assert len(set(texts)) == len(texts)  # no instruction scored twice
    assert path[-1].reward > path[0].reward + 0.2
    # the best instruction of one step is the last one the next meta-prompt shows
    best = path[1].state.best
    shown_next = path[2].state.shown
    assert shown_next[-1].score == best.score


def test_an_instruction_scored_before_is_not_scored_again(monkeypatch) -> None:

    initial = "Answer the question as well as you can."
    again = " answer the question  as well as you can. "  # the same instruction, spaced out
    monkeypatch.setattr(opro_sim, "opro_instruction", lambda request:
                        json.dumps({"higher_scoring_instruction": again}))  # fmt: skip
    task = load_task(DEMO_TASK)
    world, config, llms = pieces(task, score_size=10, initial=initial)
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logger, level = logging.getLogger("drpo"), logging.getLogger("drpo").level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        result = Reasoner(world, config, Greedy(max_depth=2))(None)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    final = result.terminal_state
    assert final.step == 2 and final.new == () and len(final.history) == 1
    assert len(llms["base"].backend.calls) == 10  # the initial instruction's scoring only
    assert sum("already scored, not scored again" in line for line in lines) == 2 * 8


def test_bad_settings_are_refused() -> None:
    task = load_task(DEMO_TASK)
    for options, message in [({"per_step": 0}, "must be >= 1"), ({"threshold": 1.5}, "within")]:
        with pytest.raises(ValueError, match=message):
            pieces(task, **options)


def test_the_command_writes_every_artefact_and_improves(tmp_path: Path) -> None:
    out = train("--method", "opro", "--log_dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "simulated" in out.stdout and "test accuracy: initial instruction" in out.stdout
    run = tmp_path / "r"
    for name in ("args.txt", "log.txt", "summary.json", "usage.json", "best_prompt.txt",
                 "test_answers.json", "algo_output/output.pkl", "algo_output/output.json",
                 "algo_output/trace.txt"):  # fmt: skip
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["method"] == "opro" and summary["simulated"] is True
    assert summary["final_train_accuracy"] > summary["initial_train_accuracy"] + 0.2
    assert summary["final_eval_accuracy"] > summary["initial_eval_accuracy"] + 0.2
    assert summary["test_difference"]["ci_low"] > 0
    assert summary["settings"]["depth"] == 8 and summary["settings"]["instructions_per_step"] == 8
    assert (run / "best_prompt.txt").read_text().strip() == summary["final_prompt"]
    assert len(summary["history"]) == summary["instructions_scored"] > 8
    data = json.loads((run / "algo_output/output.json").read_text())
    assert data["algorithm"] == "Greedy"
    trace = (run / "algo_output/trace.txt").read_text()
    for field in ("meta_prompt_history", "new_instructions", "exemplars", "train_accuracy"):
        assert field in trace


def test_a_best_instruction_that_does_worse_on_eval_is_not_reported(
    tmp_path: Path, monkeypatch
) -> None:
    """An instruction that fits the training questions and fails the others: it is the best
    of the history, but the run keeps the initial instruction."""
    from drpo.cli import main
    from drpo.sim.model import SimulatedLLM

    task = load_task(DEMO_TASK)
    training = {e.question for e in task.train}
    trick = "Answer the question. Recall the training answers."
    monkeypatch.setattr(opro_sim, "opro_instruction", lambda request:
                        json.dumps({"higher_scoring_instruction": trick}))  # fmt: skip
    honest = SimulatedLLM._answer_task

    def answer(self, messages, question, draw):
        if "training answers" not in messages[-1][1]:
            return honest(self, messages, question, draw)
        right = any(question == " ".join(q.lower().split()) for q in training)
        return f"the answer is {self.knowledge[question] if right else 'I am not sure'}"

    monkeypatch.setattr(SimulatedLLM, "_answer_task", answer)
    log_dir = tmp_path / "run"
    code = main(["--method", "opro", "--log_dir", str(log_dir), "--depth", "2",
                 "--disable_tqdm"])  # fmt: skip
    assert code == 0
    summary = json.loads((log_dir / "summary.json").read_text())
    assert summary["search_answer"]["prompt"] == trick
    assert summary["search_answer"]["train_accuracy"] == 1.0
    assert summary["search_answer"]["eval_accuracy"] < summary["initial_eval_accuracy"]
    assert summary["best_prompt_is_initial"] and summary["final_prompt"] == "Answer the question."
    assert summary["final_eval_accuracy"] == summary["initial_eval_accuracy"]


def test_kill_9_and_resume_ends_the_same(sim_server, tmp_path: Path) -> None:
    task = load_task(DEMO_TASK)
    servers = [sim_server(latency_ms=10, knowledge=answer_key(task)) for _ in range(2)]

    def args(url: str, log_dir: Path) -> list[str]:
        return [sys.executable, str(REPO / "train.py"), "--method", "opro", "--depth", "4",
                "--score_size", "20", "--base_base_url", url, "--optimize_base_url", url,
                "--disable_tqdm", "--log_dir", str(log_dir)]  # fmt: skip

    env = {**os.environ, "PYTHONPATH": str(REPO)}
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
    # calls answered before the crash are not paid again (a few in flight may be)
    assert servers[0].stats()["completions"] <= servers[1].stats()["completions"] + 8


@needs_data("bigbench")
def test_the_command_runs_on_a_bigbench_task(tmp_path: Path) -> None:
    out = train("--method", "opro", "--task", "object_counting", "--data_dir", str(BIGBENCH),
                "--depth", "4", "--log_dir", str(tmp_path / "r"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "r/summary.json").read_text())
    assert summary["task"] == "object_counting"
    assert summary["final_eval_accuracy"] > summary["initial_eval_accuracy"]
    assert summary["settings"]["score_size"] == 50
    steps = json.loads((tmp_path / "r/algo_output/output.json").read_text())
    assert steps["algorithm"] == "Greedy"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--search", "mcts"], "OPRO runs one chain"),
        (["--depth", "0"], "steps (--depth) must be >= 1"),
        (["--instructions_per_step", "0"], "instructions_per_step and max_history must be >= 1"),
        (["--history_threshold", "1.5"], "history_threshold must be within 0 and 1"),
        (["--score_size", "0"], "score_size must be >= 1"),
        (["--task", "no_such_task"], "no task file 'no_such_task'"),
    ],
)
def test_bad_input_gets_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    out = train("--method", "opro", *args, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()
