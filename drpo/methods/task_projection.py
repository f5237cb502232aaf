"""What the task-prompt methods' projections (`drpo.plan`) share: the task model's scoring
calls, the initial prompt's, the test split's and a frontier's selection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drpo.methods.task_scoring import ANSWER_FORMAT
from drpo.planning import CallBook, Projection, book_total

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


def task_projection(
    args: Any,
    *,
    search: str,
    expansions: int,
    evaluated_prompts: int,
    initial: Callable[[CallBook], None],
    expansion: Callable[[CallBook, int], None],
    after: int,
    prompt_chars: int,
    longest_q: int,
    test: int,
    notes: tuple[str, ...] = (),
) -> Projection:
    """A task-prompt method's projection: the initial prompt's scoring (`initial`), up to
    `expansions` expansions with their children's scoring (`expansion(book, count)`), then
    `after` answers of the task model (the test split, re-scoring)."""
    one, first, book = CallBook(), CallBook(), CallBook()
    expansion(one, 1)
    initial(first)
    initial(book)
    expansion(book, expansions)
    score_calls(book, after, prompt_chars=prompt_chars, longest_q=longest_q,
                max_tokens=args.max_tokens)  # fmt: skip
    per_calls, per_tokens = book_total(one)
    fixed_calls, fixed_tokens = book_total(first)
    return Projection(
        search=search,
        expansions=expansions,
        evaluated_prompts=evaluated_prompts,
        roles=book.roles(),
        per_expansion_calls=per_calls,
        per_expansion_tokens=per_tokens,
        fixed_calls=fixed_calls,
        fixed_tokens=fixed_tokens,
        after_search=f"the roles' figures include the test scoring after the search "
        f"({2 * test} answers)",
        notes=notes,
    )
