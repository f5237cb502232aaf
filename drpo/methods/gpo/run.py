"""A GPO run on the task-prompt template (drpo.methods.task_run): greedy steps along the
trajectory; the answer, the best prompt on eval along it (re-scored on the whole eval split
when a bandit only estimated it), is reported as the "best" prompt and scored on test."""

from __future__ import annotations

from typing import Any

from drpo.llm._loop import run_sync
from drpo.methods.gpo.settings import GPOSettings
from drpo.methods.gpo.world import GPOConfig, GPOWorld
from drpo.methods.task_run import Answer, Parts, Record, TaskPromptRun
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.task_settings import TaskRunSummary
from drpo.methods.tasks import Task
from drpo.run_context import RunError, Session
from search import Greedy, SearchResult


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


class GPORun(TaskPromptRun[GPOSettings]):
    name, label, summary_label = "gpo", "GPO steps", "best"

    def check(self, settings: GPOSettings) -> Task:
        return prepare(settings)

    def parts(self, settings: GPOSettings, task: Task, scorer: Any, optimizer: Any, *,
              initial: str, session: Session) -> Parts:  # fmt: skip
        world = GPOWorld(task, scorer, initial_prompt=initial, on_frontier=session.on_frontier,
                         selection=settings.bandit(), seed=settings.seed)  # fmt: skip
        search = Greedy(max_depth=settings.depth, action_dedup=lambda c: c.prompt)
        return Parts(world, _config(settings, task, scorer, optimizer), search)

    def answer(self, settings: GPOSettings, result: SearchResult, task: Task,
               scorer: TaskScorer, initial: str) -> Answer:  # fmt: skip
        path = result.trace_of_nodes
        best = max(path, key=lambda n: n.reward)  # the best prompt on eval along the trajectory
        best_eval = best.reward
        if settings.bandit() is not None and best.depth > 0:  # an estimate: score it in full
            (score,) = run_sync(scorer.score_many([(best.state.prompt, task.eval)]))
            best_eval = score.accuracy
        return Answer(prompt=best.state.prompt, eval_accuracy=best_eval,
                      initial_eval=result.tree.reward, extra=best)  # fmt: skip

    def record(self, settings: GPOSettings, result: SearchResult, answer: Answer,
               kept: bool) -> Record:  # fmt: skip
        path = result.trace_of_nodes
        trajectory = [
            {"step": n.depth, "prompt": n.state.prompt, "eval_accuracy": n.reward,
             "budget_words": n.state.budget}
            for n in path
        ]  # fmt: skip
        return Record(meta_after={"best_step": 0 if kept else answer.extra.depth},
                      record={"trajectory": trajectory})  # fmt: skip


def run_gpo(settings: GPOSettings) -> TaskRunSummary:
    """A GPO run (see the module)."""
    return GPORun().run(settings)
