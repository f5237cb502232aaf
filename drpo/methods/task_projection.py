"""What the task-prompt methods' projections (`drpo.plan`) share: the task model's scoring
calls, the initial prompt's, the test split's and a frontier's selection."""

from __future__ import annotations

from typing import Any

from drpo.methods.task_scoring import ANSWER_FORMAT
from drpo.planning import CallBook

#: Characters an answer-extraction wrapper adds around a prompt and a question.
SCORING_OVERHEAD = len(ANSWER_FORMAT) + 8


def score_calls(
    book: CallBook, count: int, *, prompt_chars: int, longest_q: int, max_tokens: int
) -> None:
    """`count` answers of the task model ("base") to one question each."""
    book.add("base", count, prompt_chars=prompt_chars + longest_q + SCORING_OVERHEAD,
             max_tokens=max_tokens)  # fmt: skip


def frontier_scoring(args: Any, children: int, eval_size: int) -> int:
    """The task model's answers to score `children` new prompts on the eval split: in full,
    or a bandit's pulls of minibatches (--selection ucb/sr)."""
    if getattr(args, "selection", "full") in (None, "full"):
        return children * eval_size
    return args.bandit_rounds * args.bandit_arms * min(args.bandit_samples, eval_size)


def initial_prompt_chars(args: Any, task: Any) -> int:
    return len((args.initial_prompt or task.description or "Answer the question.").strip())


def answer_chars(max_tokens: int) -> int:
    """The longest answer of the task model, in characters."""
    return max_tokens * 4
