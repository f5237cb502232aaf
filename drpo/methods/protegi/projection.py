"""ProTeGi's projection for `drpo.plan`: its rounds' calls per role, at most."""

from __future__ import annotations

from typing import Any

from drpo.methods.task_projection import (
    answer_chars,
    initial_prompt_chars,
    score_calls,
    task_projection,
)
from drpo.planning import CallBook, Projection, data_sizes


def project(args: Any) -> Projection:
    from drpo.methods.protegi.world import MAX_PROMPT_CHARS, PROMPTS, REASON_CHARS

    task, longest_q, longest_gold = data_sizes(args)
    eval_size, train = len(task.eval), len(task.train)
    rounds, beam = args.depth, args.beam_size
    prompt_chars = max(initial_prompt_chars(args, task), MAX_PROMPT_CHARS)
    minibatch = min(args.minibatch_size, train)
    errors = args.errors_per_gradient * (
        longest_q + 2 * answer_chars(args.max_tokens) + longest_gold + 120
    )
    gradients = args.n_gradients
    edits = gradients * args.gradients_per_error
    sources = edits * args.steps_per_gradient + 1
    children = min(args.max_expansion_factor, sources * max(1, args.mc_samples_per_step)) + 1
    expansions = 1 + (rounds - 1) * beam
    pulls = args.bandit_rounds * args.bandit_arms * min(args.bandit_samples, eval_size)

    def initial(book: CallBook) -> None:
        score_calls(book, eval_size, prompt_chars=prompt_chars, longest_q=longest_q,
                    max_tokens=args.max_tokens)  # fmt: skip

    def expansion(book: CallBook, count: int) -> None:
        score_calls(book, count * minibatch, prompt_chars=prompt_chars, longest_q=longest_q,
                    max_tokens=args.max_tokens)  # fmt: skip
        book.add("optimize", count * gradients,
                 prompt_chars=len(PROMPTS.text("gradient")) + prompt_chars + errors + 40,
                 max_tokens=args.gradients_per_error * REASON_CHARS // 3 + 40,
                 json=True)  # fmt: skip
        edit = len(PROMPTS.text("edit")) + prompt_chars + errors + REASON_CHARS + 60
        book.add("optimize", count * edits, prompt_chars=edit,
                 max_tokens=args.steps_per_gradient * MAX_PROMPT_CHARS // 3 + 40,
                 json=True)  # fmt: skip
        if args.mc_samples_per_step:
            book.add("optimize", count * sources,
                     prompt_chars=len(PROMPTS.text("paraphrase")) + prompt_chars + 20,
                     max_tokens=MAX_PROMPT_CHARS // 3 + 40, samples=args.mc_samples_per_step,
                     json=True)  # fmt: skip
        # the bandit of the level the expansion belongs to (a level has one at least)
        score_calls(book, count * pulls, prompt_chars=prompt_chars, longest_q=longest_q,
                    max_tokens=args.max_tokens)  # fmt: skip

    after = 2 * len(task.test) + eval_size  # the answer scored on the whole eval split
    return task_projection(
        args, search=f"beam search with a bandit, {rounds} rounds, beam {beam}",
        expansions=expansions, evaluated_prompts=expansions * children, initial=initial,
        expansion=expansion, after=after, prompt_chars=prompt_chars, longest_q=longest_q,
        test=len(task.test),
    )  # fmt: skip
