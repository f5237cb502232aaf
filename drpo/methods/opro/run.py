"""An OPRO run on the task-prompt template (drpo.methods.task_run): a chain of optimisation
steps, then the best instruction of the history (by training accuracy) scored on eval and,
with the initial one, on test."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drpo.llm._loop import run_sync
from drpo.methods.opro.settings import OPROSettings
from drpo.methods.opro.world import OPROConfig, OPROWorld, scoring_set
from drpo.methods.task_run import Answer, Parts, Record, TaskPromptRun
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.task_settings import TaskRunSummary
from drpo.methods.tasks import Task
from drpo.run_context import RunError, Session
from search import Greedy, SearchResult


@dataclass(frozen=True, kw_only=True)
class OPROSummary(TaskRunSummary):
    initial_train: float  # accuracy on the scoring set (training examples)
    final_train: float


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


class OPRORun(TaskPromptRun[OPROSettings]):
    name, label = "opro", "OPRO steps"

    def check(self, settings: OPROSettings) -> Task:
        if settings.depth < 1:
            raise RunError(f"steps (--depth) must be >= 1, got {settings.depth}")
        if settings.score_size < 1:
            raise RunError(f"score_size must be >= 1, got {settings.score_size}")
        task = settings.load_task()
        if not task.train:
            raise RunError(
                f"task {task.name} has no training examples left to score instructions on"
            )
        try:
            _config(settings, task, None)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        return task

    def parts(self, settings: OPROSettings, task: Task, scorer: Any, optimizer: Any, *,
              initial: str, session: Session) -> Parts:  # fmt: skip
        world = OPROWorld(task, scorer, initial_prompt=initial,
                          scoring=scoring_set(task, settings.score_size),
                          on_frontier=session.on_frontier)  # fmt: skip
        return Parts(world, _config(settings, task, optimizer), Greedy(max_depth=settings.depth))

    def answer(self, settings: OPROSettings, result: SearchResult, task: Task,
               scorer: TaskScorer, initial: str) -> Answer:  # fmt: skip
        best = result.terminal_state.best
        initial_eval, best_eval = run_sync(
            scorer.score_many([(initial, task.eval), (best.instruction, task.eval)])
        )
        return Answer(prompt=best.instruction, eval_accuracy=best_eval.accuracy,
                      initial_eval=initial_eval.accuracy, extra=best)  # fmt: skip

    def record(self, settings: OPROSettings, result: SearchResult, answer: Answer,
               kept: bool) -> Record:  # fmt: skip
        history, best = result.terminal_state.history, answer.extra
        final_train = history[0].score if kept else best.score
        return Record(
            meta_before={"initial_train_accuracy": history[0].score,
                         "final_train_accuracy": final_train},
            meta_after={"search_answer": {"prompt": best.instruction,
                                          "train_accuracy": best.score,
                                          "eval_accuracy": answer.eval_accuracy,
                                          "step": best.step},
                        "instructions_scored": len(history)},
            record={"history": [s.to_json() for s in history]},
            summary=OPROSummary,
            fields={"initial_train": history[0].score, "final_train": final_train},
        )  # fmt: skip


def prepare(settings: OPROSettings) -> Task:
    """Load the task and check the settings, before anything is written."""
    return OPRORun().check(settings)


def run_opro(settings: OPROSettings) -> OPROSummary:
    """An OPRO run (see the module)."""
    summary = OPRORun().run(settings)
    assert isinstance(summary, OPROSummary)
    return summary
