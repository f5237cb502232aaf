"""A GPO run: greedy steps along the trajectory, the best prompt on eval scored on test."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drpo.llm._loop import run_sync
from drpo.methods.gpo.settings import GPOSettings
from drpo.methods.gpo.world import GPOConfig, GPOWorld
from drpo.methods.task_scoring import TaskScorer, write_test_answers
from drpo.methods.tasks import Task, answer_key
from drpo.run_context import RunError, Session, with_knowledge
from drpo.stats import PairedDifference, paired_difference
from search import Greedy, save_artifacts
from search.artifacts import write_atomic
from world_model import Reasoner

log = logging.getLogger("drpo")




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
    if settings.depth < 1:
        raise RunError(f"steps must be >= 1, got {settings.depth}")
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
        total_steps=settings.depth,
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
    with Session(settings, desc="GPO steps", total=settings.depth) as session:
        llms = session.llms(with_knowledge(settings.roles, answer_key(task)))
        scorer = TaskScorer(llms["base"], max_tokens=settings.max_tokens)
        initial = settings.start_prompt(task)
        world = GPOWorld(task, scorer, initial_prompt=initial, on_frontier=session.on_frontier,
                         selection=settings.bandit(), seed=settings.seed)  # fmt: skip
        config = _config(settings, task, scorer, llms["optimize"])
        search = Greedy(max_depth=settings.depth, action_dedup=lambda c: c.prompt)
        result = Reasoner(world, config, search)(task.name)
        session.search_finished()  # what follows (test scoring) is counted apart
        session.record_search(result)
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
        simulated=settings.simulated,
        usage_table=session.usage.table(),
        resumed_from=session.checkpoint.resumed_from,
    )
