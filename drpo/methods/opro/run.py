"""An OPRO run: a chain of optimisation steps, then the best instruction of the history
(by training accuracy) scored on eval and, with the initial one, on test."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from drpo.llm._loop import run_sync
from drpo.methods.opro.settings import OPROSettings
from drpo.methods.opro.world import OPROConfig, OPROWorld, scoring_set
from drpo.methods.task_run import finish_task_run
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.task_settings import TaskRunSummary
from drpo.methods.tasks import Task, answer_key
from drpo.run_context import RunError, Session, with_knowledge
from search import Greedy
from world_model import Reasoner

log = logging.getLogger("drpo")




@dataclass(frozen=True, kw_only=True)
class OPROSummary(TaskRunSummary):
    initial_train: float  # accuracy on the scoring set (training examples)
    final_train: float


def prepare(settings: OPROSettings) -> Task:
    """Load the task and check the settings, before anything is written."""
    if settings.depth < 1:
        raise RunError(f"steps (--depth) must be >= 1, got {settings.depth}")
    if settings.score_size < 1:
        raise RunError(f"score_size must be >= 1, got {settings.score_size}")
    task = settings.load_task()
    if not task.train:
        raise RunError(f"task {task.name} has no training examples left to score instructions on")
    try:
        _config(settings, task, None)
    except ValueError as exc:
        raise RunError(str(exc)) from None
    return task


def _config(settings: OPROSettings, task: Task, optimizer: Any) -> OPROConfig:
    return OPROConfig(
        task,
        optimizer,
        scoring=scoring_set(task, settings.score_size),
        per_step=settings.instructions_per_step,
        n_exemplars=settings.exemplars_per_step,
        max_shown=settings.max_history,
        threshold=settings.history_threshold,
        temperature=settings.temperature,
        seed=settings.seed,
    )


def run_opro(settings: OPROSettings) -> OPROSummary:
    task = prepare(settings)
    with Session(settings, desc="OPRO steps", total=settings.depth) as session:
        scoring = scoring_set(task, settings.score_size)
        log.info("task %s: instructions scored on %d training examples; %d eval, %d test",
                 task.name, len(scoring), len(task.eval), len(task.test))  # fmt: skip
        llms = session.llms(with_knowledge(settings.roles, answer_key(task)))
        scorer = TaskScorer(llms["base"], max_tokens=settings.max_tokens)
        initial = settings.start_prompt(task)
        world = OPROWorld(task, scorer, initial_prompt=initial, scoring=scoring,
                          on_frontier=session.on_frontier)  # fmt: skip
        config = _config(settings, task, llms["optimize"])
        result = Reasoner(world, config, Greedy(max_depth=settings.depth))(task.name)
        history = result.terminal_state.history
        best = result.terminal_state.best
        initial_eval, best_eval = run_sync(
            scorer.score_many([(initial, task.eval), (best.instruction, task.eval)])
        )
        # Never a final instruction that does worse on eval than the one the run started from.
        keep_initial = best_eval.accuracy < initial_eval.accuracy
        final = initial if keep_initial else best.instruction
        final_eval = initial_eval if keep_initial else best_eval
        final_train = history[0].score if keep_initial else best.score
        if keep_initial:
            log.info("the best instruction scores %.3f on eval, below the initial one's %.3f: "
                     "keeping the initial instruction", best_eval.accuracy,
                     initial_eval.accuracy)  # fmt: skip
        return finish_task_run(
            session, settings, result, method="opro", task=task, scorer=scorer,
            initial=initial, final=final, initial_eval=initial_eval.accuracy,
            final_eval=final_eval.accuracy, is_initial=final == initial,
            meta_before={"initial_train_accuracy": history[0].score,
                         "final_train_accuracy": final_train},
            meta_after={"search_answer": {"prompt": best.instruction,
                                          "train_accuracy": best.score,
                                          "eval_accuracy": best_eval.accuracy,
                                          "step": best.step},
                        "instructions_scored": len(history)},
            record={"history": [s.to_json() for s in history]},
            summary=OPROSummary, initial_train=history[0].score, final_train=final_train,
        )  # fmt: skip
