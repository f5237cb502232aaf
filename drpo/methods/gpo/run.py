"""A GPO run: greedy steps along the trajectory, the best prompt on eval scored on test."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drpo.llm._loop import run_sync
from drpo.methods.bandit_scoring import SelectionSettings
from drpo.methods.gpo.world import GPOConfig, GPOWorld
from drpo.methods.task_scoring import TaskScorer, majority_baseline, write_test_answers
from drpo.methods.task_settings import TaskRunSettings
from drpo.methods.tasks import Task, answer_key
from drpo.run_context import RunError, Session, with_knowledge
from drpo.stats import PairedDifference, paired_difference
from search import Greedy, save_artifacts
from search.artifacts import write_atomic
from world_model import Reasoner

log = logging.getLogger("drpo")


@dataclass(frozen=True, kw_only=True)
class GPOSettings(TaskRunSettings, SelectionSettings):
    steps: int = 12
    n_candidates: int = 8
    retrieval: str = "relevance"
    k: int = 3
    update: str = "edit"
    schedule: str = "cosine"
    initial_budget: int = 50
    final_budget: int = 10
    warmup: int = 0
    feedback: bool = False
    n_examples: int = 3
    temperature: float = 1.0


@dataclass(frozen=True)
class GPOSummary:
    log_dir: Path
    task: str
    initial_prompt: str
    best_prompt: str
    initial_eval: float
    best_eval: float
    initial_test: float
    best_test: float
    simulated: bool
    usage_table: str
    resumed_from: int
    test_difference: PairedDifference | None = None
    initial_test_format: float = 1.0  # the share of test answers in the task's format
    final_test_format: float = 1.0
    test_majority: float | None = None  # always the commonest test answer: its accuracy

    @property
    def final_eval(self) -> float:
        return self.best_eval

    @property
    def final_test(self) -> float:
        return self.best_test

    @property
    def final_prompt(self) -> str:
        return self.best_prompt


def prepare(settings: GPOSettings) -> Task:
    """Load the task and check the settings, before anything is written."""
    if settings.steps < 1:
        raise RunError(f"steps must be >= 1, got {settings.steps}")
    task = settings.load_task()
    try:
        _config(settings, task, None, None)
        settings.bandit()
    except ValueError as exc:
        raise RunError(str(exc)) from None
    return task


def _config(settings: GPOSettings, task: Task, scorer: Any, optimizer: Any) -> GPOConfig:
    return GPOConfig(
        task,
        scorer,
        optimizer,
        total_steps=settings.steps,
        n_candidates=settings.n_candidates,
        retrieval=settings.retrieval,
        k=settings.k,
        update=settings.update,
        schedule=settings.schedule,
        initial_budget=settings.initial_budget,
        final_budget=settings.final_budget,
        warmup=settings.warmup,
        feedback=settings.feedback,
        n_examples=settings.n_examples,
        temperature=settings.temperature,
        seed=settings.seed,
    )


def run_gpo(settings: GPOSettings) -> GPOSummary:
    task = prepare(settings)
    with Session(settings, desc="GPO steps", total=settings.steps) as session:
        llms = session.llms(with_knowledge(settings.roles, answer_key(task)))
        scorer = TaskScorer(llms["base"], max_tokens=settings.max_tokens)
        initial = settings.start_prompt(task)
        world = GPOWorld(task, scorer, initial_prompt=initial, on_frontier=session.on_frontier,
                         selection=settings.bandit(), seed=settings.seed)  # fmt: skip
        config = _config(settings, task, scorer, llms["optimize"])
        search = Greedy(max_depth=settings.steps, action_dedup=lambda c: c.prompt)
        result = Reasoner(world, config, search)(task.name)
        session.search_finished()  # what follows (test scoring) is counted apart
        path = result.trace_of_nodes
        best = max(path, key=lambda n: n.reward)  # the best prompt on eval along the trajectory
        best_eval = best.reward
        if settings.bandit() is not None and best.depth > 0:  # an estimate: score it in full
            (score,) = run_sync(scorer.score_many([(best.state.prompt, task.eval)]))
            best_eval = score.accuracy
            if best_eval < result.tree.reward:  # never worse on eval than the initial prompt
                best, best_eval = path[0], result.tree.reward
        initial_test, best_test = run_sync(
            scorer.score_many([(initial, task.test), (best.state.prompt, task.test)])
        )
        difference = paired_difference(initial_test.correct, best_test.correct,
                                       seed=settings.seed)  # fmt: skip
        meta = {
            "method": "gpo",
            "simulated": settings.simulated,
            "task": task.name,
            "initial_eval_accuracy": result.tree.reward,
            "best_eval_accuracy": best_eval,
            "best_step": best.depth,
            "initial_test_accuracy": initial_test.accuracy,
            "best_test_accuracy": best_test.accuracy,
            "test_difference": difference.to_json(),
            "initial_test_format_share": round(initial_test.format_share, 4),
            "final_test_format_share": round(best_test.format_share, 4),
            "test_majority_answer": majority_baseline(task.test),
            "best_prompt_is_initial": best.state.prompt == initial,
        }
        log_dir = session.log_dir
        save_artifacts(result, log_dir / "algo_output", meta=meta)
        write_atomic(log_dir / "best_prompt.txt", (best.state.prompt + "\n").encode("utf-8"))
        counts = write_test_answers(log_dir / "test_answers.json", initial_test, best_test)
        trajectory = [
            {"step": n.depth, "prompt": n.state.prompt, "eval_accuracy": n.reward,
             "budget_words": n.state.budget}
            for n in path
        ]  # fmt: skip
        session.finish(
            {
                **meta,
                "test_answer_counts": counts,
                "trajectory": trajectory,
                "settings": settings.public(),
            }
        )
    return GPOSummary(
        log_dir=log_dir,
        task=task.name,
        initial_prompt=initial,
        best_prompt=best.state.prompt,
        initial_eval=result.tree.reward,
        best_eval=best_eval,
        initial_test=initial_test.accuracy,
        best_test=best_test.accuracy,
        test_difference=difference,
        initial_test_format=initial_test.format_share,
        final_test_format=best_test.format_share,
        test_majority=majority_baseline(task.test)["accuracy"],
        simulated=settings.simulated,
        usage_table=session.usage.table(),
        resumed_from=session.checkpoint.resumed_from,
    )
