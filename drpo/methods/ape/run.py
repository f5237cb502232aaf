"""An APE run on the task-prompt template (drpo.methods.task_run): induce instructions,
keep and resample the best by beam search; the answer is the kept instruction best on eval
(the initial prompt stays unless one beats it). Resumable like every run."""

from __future__ import annotations

from typing import Any

from drpo.methods.ape.choice import choose
from drpo.methods.ape.settings import ApeSettings
from drpo.methods.ape.world import ApeConfig, ApeWorld
from drpo.methods.task_run import Answer, Parts, Record, TaskPromptRun
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.task_settings import TaskRunSummary
from drpo.methods.tasks import Task
from drpo.run_context import RunError, Session
from search import BeamSearch, SearchResult

ROLES = ("base", "optimize")


def _config(settings: ApeSettings, task: Task, scorer: Any, optimizer: Any) -> ApeConfig:
    return ApeConfig(
        task,
        scorer,
        optimizer,
        demo_sets=settings.demo_sets,
        n_demos=settings.n_demos,
        proposals_per_set=settings.proposals_per_set,
        n_variations=settings.n_variations,
        temperature=settings.temperature,
        seed=settings.seed,
    )


def _search(settings: ApeSettings) -> BeamSearch:
    return BeamSearch(beam_size=settings.beam_size, max_depth=settings.depth,
                      action_dedup=lambda c: c.prompt, seed=settings.seed)  # fmt: skip


class ApeRun(TaskPromptRun[ApeSettings]):
    name, label = "ape", "APE rounds"

    def check(self, settings: ApeSettings) -> Task:
        checks = [
            (settings.depth >= 1, f"depth (rounds) must be >= 1, got {settings.depth}"),
            (settings.score_size >= 1, f"score_size must be >= 1, got {settings.score_size}"),
            (set(settings.role_map) == set(ROLES), f"roles must be {', '.join(ROLES)}"),
        ]
        for ok, message in checks:
            if not ok:
                raise RunError(message)
        task = settings.load_task()
        try:
            _config(settings, task, None, None)
            _search(settings)
        except ValueError as exc:
            raise RunError(str(exc)) from None
        return task

    def parts(self, settings: ApeSettings, task: Task, scorer: Any, optimizer: Any, *,
              initial: str, session: Session) -> Parts:  # fmt: skip
        world = ApeWorld(task, scorer, initial_prompt=initial, score_size=settings.score_size,
                         seed=settings.seed, on_frontier=session.on_frontier)  # fmt: skip
        return Parts(world, _config(settings, task, scorer, optimizer), _search(settings))

    def answer(self, settings: ApeSettings, result: SearchResult, task: Task,
               scorer: TaskScorer, initial: str) -> Answer:  # fmt: skip
        initial_eval = result.tree.reward
        choice = choose(result, scorer, task.eval, initial_prompt=initial,
                        initial_eval=initial_eval)  # fmt: skip
        best = choice.finalists[0] if choice.finalists else None
        return Answer(prompt=best.prompt if best else None,
                      eval_accuracy=best.eval_accuracy if best else initial_eval,
                      initial_eval=initial_eval, keep_ties=True, extra=choice)  # fmt: skip

    def record(self, settings: ApeSettings, result: SearchResult, answer: Answer,
               kept: bool) -> Record:  # fmt: skip
        return Record(meta_before={"search": "beam"},
                      record={"finalists": [f.to_json() for f in answer.extra.finalists],
                              "nodes": len(result.nodes())})  # fmt: skip


def prepare(settings: ApeSettings) -> Task:
    """Load the task and check the settings, before anything is written."""
    return ApeRun().check(settings)


def run_ape(settings: ApeSettings) -> TaskRunSummary:
    """An APE run (see the module)."""
    return ApeRun().run(settings)
