"""GPO's projection for `drpo.plan`: its greedy steps' calls per role, at most."""

from __future__ import annotations

from typing import Any

from drpo.methods.task_projection import (
    answer_chars,
    frontier_scoring,
    initial_prompt_chars,
    score_calls,
    task_projection,
)
from drpo.planning import CallBook, Projection, data_sizes


def project(args: Any) -> Projection:
    from drpo.methods.gpo.world import MAX_PROMPT_CHARS, PROMPTS

    task, longest_q, longest_gold = data_sizes(args)
    eval_size, train = len(task.eval), len(task.train)
    steps, width = args.depth, args.n_candidates
    prompt_chars = max(initial_prompt_chars(args, task), MAX_PROMPT_CHARS)
    shown = min(args.n_examples, train) * (longest_q + longest_gold + 20)
    mistakes = 3 * (longest_q + answer_chars(args.max_tokens) + longest_gold + 60) + 80
    retrieved = args.k * (prompt_chars + 20)
    request = len(PROMPTS.text("optimizer")) + prompt_chars + retrieved + shown + mistakes + 200

    def initial(book: CallBook) -> None:
        score_calls(book, eval_size, prompt_chars=prompt_chars, longest_q=longest_q,
                    max_tokens=args.max_tokens)  # fmt: skip

    def expansion(book: CallBook, count: int) -> None:
        if args.feedback:  # a training batch of up to 5 examples shows the errors
            score_calls(book, count * min(5, train), prompt_chars=prompt_chars,
                        longest_q=longest_q, max_tokens=args.max_tokens)  # fmt: skip
        book.add("optimize", count, prompt_chars=request, max_tokens=MAX_PROMPT_CHARS // 3 + 40,
                 samples=width, json=True)  # fmt: skip
        score_calls(book, count * frontier_scoring(args, width, eval_size),
                    prompt_chars=prompt_chars, longest_q=longest_q,
                    max_tokens=args.max_tokens)  # fmt: skip

    after = 2 * len(task.test) + (eval_size if args.selection not in (None, "full") else 0)
    return task_projection(
        args, search=f"greedy steps, {steps} steps, up to {width} candidates a step",
        expansions=steps, evaluated_prompts=steps * width, initial=initial,
        expansion=expansion, after=after, prompt_chars=prompt_chars, longest_q=longest_q,
        test=len(task.test),
    )  # fmt: skip
