"""The run of every task-prompt method (PromptAgent, GPO, APE, OPRO, ProTeGi): one template,
`TaskPromptRun`, owns its skeleton (the task, the Session, the scorer, the world and config,
the Reasoner, keeping the initial prompt when the search's answer does worse on eval, and
the ending); a method's run fills in only what is its own. The ending, `finish_task_run`:
the initial and the final prompt scored on the test split, their paired difference, the
artefacts (output.pkl / output.json / trace.txt, best_prompt.txt, test_answers.json,
summary.json) and the run's summary."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from drpo.llm._loop import run_sync
from drpo.methods.task_scoring import TaskScorer, majority_baseline, write_test_answers
from drpo.methods.task_settings import TaskRunSettings, TaskRunSummary
from drpo.methods.tasks import Task, answer_key
from drpo.run_context import Session, with_knowledge
from drpo.stats import paired_difference
from search import SearchResult, save_artifacts
from search.artifacts import write_atomic
from world_model import Reasoner, SearchAlgorithm, SearchConfig, WorldModel

log = logging.getLogger("drpo")
S = TypeVar("S", bound=TaskRunSummary)
T = TypeVar("T", bound=TaskRunSettings)


def finish_task_run(
    session: Session,
    settings: TaskRunSettings,
    result: SearchResult,
    *,
    method: str,
    task: Task,
    scorer: TaskScorer,
    initial: str,
    final: str,
    initial_eval: float,
    final_eval: float,
    is_initial: bool,
    meta_before: Mapping[str, Any] | None = None,
    meta_after: Mapping[str, Any] | None = None,
    record: Mapping[str, Any] | None = None,
    summary: type[S] = TaskRunSummary,  # type: ignore[assignment]
    label: str = "final",
    **summary_fields: Any,
) -> S:
    """Scores `initial` and `final` on the test split and writes the run's artefacts. The
    meta (in output.json, trace.txt and summary.json) holds the method's `meta_before`, the
    shared figures (the final prompt's under `label`: final_eval_accuracy, or GPO's
    best_eval_accuracy), then its `meta_after`; summary.json adds `record` and the settings.
    Returns `summary` (TaskRunSummary or a subclass, with `summary_fields`)."""
    initial_test, final_test = run_sync(
        scorer.score_many([(initial, task.test), (final, task.test)])
    )
    difference = paired_difference(initial_test.correct, final_test.correct, seed=settings.seed)
    meta = {
        "method": method,
        "simulated": settings.simulated,
        "task": task.name,
        **(meta_before or {}),
        "initial_eval_accuracy": initial_eval,
        f"{label}_eval_accuracy": final_eval,
        "initial_test_accuracy": initial_test.accuracy,
        f"{label}_test_accuracy": final_test.accuracy,
        "test_difference": difference.to_json(),
        "initial_test_format_share": round(initial_test.format_share, 4),
        "final_test_format_share": round(final_test.format_share, 4),
        "test_majority_answer": majority_baseline(task.test),
        "best_prompt_is_initial": is_initial,
        **(meta_after or {}),
    }
    log_dir = session.log_dir
    session.record_search(result)
    save_artifacts(result, log_dir / "algo_output", meta=meta)
    write_atomic(log_dir / "best_prompt.txt", (final + "\n").encode("utf-8"))
    counts = write_test_answers(log_dir / "test_answers.json", initial_test, final_test)
    session.finish({**meta, "test_answer_counts": counts, "initial_prompt": initial,
                    "final_prompt": final, **(record or {}),
                    "settings": settings.public()})  # fmt: skip
    log.info("final prompt (test accuracy %.3f, initial %.3f):\n%s", final_test.accuracy,
             initial_test.accuracy, final)  # fmt: skip
    return summary(
        log_dir=log_dir,
        task=task.name,
        initial_prompt=initial,
        final_prompt=final,
        initial_eval=initial_eval,
        final_eval=final_eval,
        initial_test=initial_test.accuracy,
        final_test=final_test.accuracy,
        test_difference=difference,
        initial_test_format=initial_test.format_share,
        final_test_format=final_test.format_share,
        test_majority=majority_baseline(task.test)["accuracy"],
        simulated=settings.simulated,
        usage_table=session.usage.table(),
        resumed_from=session.checkpoint.resumed_from,
        **summary_fields,
    )


@dataclass(frozen=True, kw_only=True)
class Answer:
    """What a search found, as the template needs it: the prompt it answers (None: none),
    that prompt's accuracy on the whole eval split and the initial prompt's. `keep_ties`: the
    initial prompt stays when they are equal (else only when the answer does worse)."""

    prompt: str | None
    eval_accuracy: float
    initial_eval: float
    keep_ties: bool = False
    extra: Any = None  # what the method's `record` needs of it

    def keeps_initial(self) -> bool:
        """Whether the initial prompt stays: never a final prompt worse on eval."""
        if self.prompt is None or self.eval_accuracy < self.initial_eval:
            return True
        return self.keep_ties and self.eval_accuracy == self.initial_eval


@dataclass(frozen=True, kw_only=True)
class Record:
    """What a method adds to its run's artefacts (finish_task_run's arguments)."""

    meta_before: Mapping[str, Any] = field(default_factory=dict)
    meta_after: Mapping[str, Any] = field(default_factory=dict)
    record: Mapping[str, Any] = field(default_factory=dict)
    summary: type[TaskRunSummary] = TaskRunSummary
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Parts:
    """The world, config and search of a run, made by the method."""

    world: WorldModel
    config: SearchConfig
    search: SearchAlgorithm


class TaskPromptRun(ABC, Generic[T]):
    """The template of a task-prompt method's run. A method sets `name`, `label` (its
    progress bar) and writes `parts` (its world, config and search), `answer` (what its
    search found) and `record` (what it adds to the artefacts); it may extend `check` (bad
    settings, before anything is written: RunError) and `total` (its progress bar's
    length). `run(settings)` does the rest."""

    name: str = ""
    label: str = ""
    summary_label: str = "final"  # GPO reports its answer as the "best" prompt

    def check(self, settings: T) -> Task:
        """The task, loaded and split (RunError when it cannot be, or a setting is bad)."""
        return settings.load_task()

    def total(self, settings: T) -> int | None:
        return getattr(settings, "depth", None)

    @abstractmethod
    def parts(self, settings: T, task: Task, scorer: Any, optimizer: Any, *, initial: str,
              session: Session) -> Parts:  # fmt: skip
        """The run's world, config and search."""

    @abstractmethod
    def answer(self, settings: T, result: SearchResult, task: Task, scorer: TaskScorer,
               initial: str) -> Answer:  # fmt: skip
        """What the search found: the final prompt and how it was scored."""

    def record(self, settings: T, result: SearchResult, answer: Answer, kept: bool) -> Record:
        return Record()

    def run(self, settings: T) -> TaskRunSummary:
        """Check, search, keep the initial prompt unless the answer does at least as well on
        eval, score both on test and write the artefacts."""
        task = self.check(settings)
        with Session(settings, desc=self.label, total=self.total(settings)) as session:
            log.info("task %s: %d train, %d eval, %d test examples", task.name, len(task.train),
                     len(task.eval), len(task.test))  # fmt: skip
            llms = session.llms(with_knowledge(settings.role_map, answer_key(task)))
            scorer = TaskScorer(llms["base"], max_tokens=settings.max_tokens)
            initial = settings.start_prompt(task)
            parts = self.parts(settings, task, scorer, llms["optimize"], initial=initial,
                               session=session)  # fmt: skip
            result = Reasoner(parts.world, parts.config, parts.search)(task.name)
            session.search_finished()  # what follows (test scoring) is counted apart
            answer = self.answer(settings, result, task, scorer, initial)
            kept = answer.keeps_initial()
            final = initial if kept else str(answer.prompt)
            final_eval = answer.initial_eval if kept else answer.eval_accuracy
            if kept and answer.prompt not in (None, initial):
                log.info("the search's answer scores %.3f on eval, not above the initial "
                         "prompt's %.3f: keeping the initial prompt", answer.eval_accuracy,
                         answer.initial_eval)  # fmt: skip
            extra = self.record(settings, result, answer, kept)
            return finish_task_run(
                session, settings, result, method=self.name, task=task, scorer=scorer,
                initial=initial, final=final, initial_eval=answer.initial_eval,
                final_eval=final_eval, is_initial=final == initial,
                meta_before=extra.meta_before, meta_after=extra.meta_after,
                record=extra.record, summary=extra.summary, label=self.summary_label,
                **extra.fields,
            )  # fmt: skip
