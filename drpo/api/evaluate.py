"""`drpo.evaluate`: a prompt's accuracy on a task's split, answered by a model exactly as a
run scores prompts (the same request, answer extraction and scoring)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drpo.api.data import Task
from drpo.api.models import ModelSpec, model_settings

if TYPE_CHECKING:
    from drpo.methods.task_scoring import Attempt


@dataclass(frozen=True)
class Evaluation:
    """A prompt scored on a task's split.

    Attributes:
        accuracy: the share of examples answered correctly.
        n: examples scored.
        correct: examples answered correctly.
        no_answer: answers from which no answer could be read (the model did not keep to
            the answer format: "Finish with: the answer is ...").
        split: the split scored ("train", "eval", "test" or "all").
        simulated: the model is the simulated LLM (the figure is simulated).
        answers: every example's question, gold answer, the model's text, the answer read
            from it and whether it is correct, in the split's order.
    """

    accuracy: float
    n: int
    correct: int
    no_answer: int
    split: str
    simulated: bool
    answers: tuple[Attempt, ...]

    def predictions(self) -> dict[str | None, int]:
        """How often each answer was given (None: no answer could be read), commonest
        first: a prompt that gains by always giving one answer shows here."""
        counts: dict[str | None, int] = {}
        for a in self.answers:
            counts[a.prediction] = counts.get(a.prediction, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def evaluate(
    prompt: str,
    task: Task,
    *,
    model: ModelSpec = "sim",
    split: str = "test",
    max_tokens: int = 512,
    cache_path: str | os.PathLike[str] | None = None,
    **connection: Any,
) -> Evaluation:
    """Score `prompt` on `task`'s `split` with `model` as the task model.

    Args:
        prompt: the task prompt (each example's question follows it).
        task: the task (`drpo.Task`).
        model: the task model: "sim", a fetched model's name, a GGUF path, an OpenAI model's
            name, or a `drpo.Model`.
        split: "test" (default), "eval", "train" or "all".
        max_tokens: the answer limit, as in a run.
        cache_path: an answer cache (sqlite) to reuse and fill, e.g. a run's
            `<log_dir>/llm_cache.sqlite` (with `offline=True` every answer must come from
            it: a run's prompts re-scored without calling a model); None: no cache.
        **connection: the connection settings of `train.py` (`concurrency`, `timeout`,
            `max_retries`, `threads`, `models_dir`, ...).

    Returns:
        An `Evaluation` with `.accuracy`, `.n` and every answer.

    Raises:
        ValueError: an unknown split, or a bad connection setting.
        drpo.llm.LLMError: a call failed (a failed call is an error, never a wrong answer),
            or, with `offline=True`, an answer is not in the cache.
    """
    from drpo.api.optimize import check_value, reworded
    from drpo.llm import LLMCache, LLMError, make_llms
    from drpo.llm._loop import run_sync
    from drpo.llm.roles import BackendPool
    from drpo.methods.runner import role_settings
    from drpo.methods.task_scoring import TaskScorer
    from drpo.run_context import RunSettings, with_knowledge

    if not isinstance(task, Task):
        raise TypeError(f"evaluate() scores a drpo.Task, got {type(task).__name__}")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("the prompt is empty")
    examples = task.examples(split)
    allowed = {"concurrency", "timeout", "max_wait", "max_retries", "retry_backoff", "threads",
               "num_gpus", "gpu_memory_utilization", "models_dir", "offline"}  # fmt: skip
    unknown = sorted(set(connection) - allowed)
    if unknown:
        raise TypeError(f"evaluate(): unknown setting(s) {', '.join(unknown)}; the connection "
                        f"settings are {', '.join(sorted(allowed))}")  # fmt: skip
    given = {k: v for k, v in connection.items() if v is not None}
    for name, value in given.items():
        check_value(RunSettings, name, value)
    run = RunSettings(**model_settings(model, None), seed=task.seed, **given)
    base = role_settings(run)["base"]
    roles = with_knowledge({"base": base}, task.answer_key())
    cache = LLMCache(Path(cache_path)) if cache_path is not None else None
    pool = BackendPool()
    try:
        llm = make_llms(roles, cache=cache, pool=pool)["base"]
        scorer = TaskScorer(llm, max_tokens=max_tokens)
        (score,) = run_sync(scorer.score_many([(prompt, examples)]))
    except LLMError as exc:
        raise reworded(exc) from None
    finally:
        pool.close()
        if cache is not None:
            cache.close()
    attempts = score.attempts
    return Evaluation(
        accuracy=score.accuracy,
        n=len(attempts),
        correct=sum(a.correct for a in attempts),
        no_answer=sum(a.prediction is None for a in attempts),
        split=split,
        simulated=base.backend == "sim",
        answers=attempts,
    )
