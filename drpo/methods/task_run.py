"""How every task-prompt run ends: the initial and the final prompt scored on the test split,
their paired difference, the artefacts (output.pkl / output.json / trace.txt,
best_prompt.txt, test_answers.json, summary.json) and the run's summary."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypeVar

from drpo.llm._loop import run_sync
from drpo.methods.task_scoring import TaskScorer, majority_baseline, write_test_answers
from drpo.methods.task_settings import TaskRunSettings, TaskRunSummary
from drpo.methods.tasks import Task
from drpo.run_context import Session
from drpo.stats import paired_difference
from search import SearchResult, save_artifacts
from search.artifacts import write_atomic

log = logging.getLogger("drpo")
S = TypeVar("S", bound=TaskRunSummary)


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
    **summary_fields: Any,
) -> S:
    """Scores `initial` and `final` on the test split and writes the run's artefacts. The
    meta (in output.json, trace.txt and summary.json) holds the method's `meta_before`, the
    shared figures, then its `meta_after`; summary.json adds `record` and the settings.
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
        "final_eval_accuracy": final_eval,
        "initial_test_accuracy": initial_test.accuracy,
        "final_test_accuracy": final_test.accuracy,
        "test_difference": difference.to_json(),
        "initial_test_format_share": round(initial_test.format_share, 4),
        "final_test_format_share": round(final_test.format_share, 4),
        "test_majority_answer": majority_baseline(task.test),
        "best_prompt_is_initial": is_initial,
        **(meta_after or {}),
    }
    log_dir = session.log_dir
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
