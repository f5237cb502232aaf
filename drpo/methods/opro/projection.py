"""OPRO's projection for `drpo.plan`: its steps' calls per role, at most."""

from __future__ import annotations

from typing import Any

from drpo.methods.task_projection import initial_prompt_chars, score_calls, task_projection
from drpo.planning import CallBook, Projection, data_sizes


def project(args: Any) -> Projection:
    from drpo.methods.opro.world import MAX_INSTRUCTION_CHARS, PROMPTS

    task, longest_q, longest_gold = data_sizes(args)
    scoring = min(args.score_size, len(task.train))
    steps, per_step = args.depth, args.instructions_per_step
    prompt_chars = max(initial_prompt_chars(args, task), MAX_INSTRUCTION_CHARS)
    history = args.max_history * (prompt_chars + 30)
    exemplars = min(args.exemplars_per_step, scoring) * (longest_q + longest_gold + 40)
    meta = len(PROMPTS.text("optimizer")) + history + exemplars + 40

    def initial(book: CallBook) -> None:
        score_calls(book, scoring, prompt_chars=prompt_chars, longest_q=longest_q,
                    max_tokens=args.max_tokens)  # fmt: skip

    def expansion(book: CallBook, count: int) -> None:
        book.add("optimize", count, prompt_chars=meta,
                 max_tokens=MAX_INSTRUCTION_CHARS // 3 + 40, samples=per_step,
                 json=True)  # fmt: skip
        score_calls(book, count * per_step * scoring, prompt_chars=prompt_chars,
                    longest_q=longest_q, max_tokens=args.max_tokens)  # fmt: skip

    # the initial and the best instruction on the eval split, both on the test split
    after = 2 * len(task.eval) + 2 * len(task.test)
    return task_projection(
        args, search=f"greedy steps, {steps} steps of {per_step} instructions",
        expansions=steps, evaluated_prompts=steps * per_step, initial=initial,
        expansion=expansion, after=after, prompt_chars=prompt_chars, longest_q=longest_q,
        test=len(task.test),
    )  # fmt: skip
