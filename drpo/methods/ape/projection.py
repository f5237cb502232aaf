"""APE's projection for `drpo.plan`: its rounds' calls per role, at most."""

from __future__ import annotations

from typing import Any

from drpo.methods.task_projection import initial_prompt_chars, score_calls, task_projection
from drpo.planning import CallBook, Projection, data_sizes


def project(args: Any) -> Projection:
    from drpo.methods.ape.world import MAX_PROMPT_CHARS, PROMPTS

    task, longest_q, longest_gold = data_sizes(args)
    eval_size, train = len(task.eval), len(task.train)
    rounds, beam = args.depth, args.beam_size
    prompt_chars = max(initial_prompt_chars(args, task), MAX_PROMPT_CHARS)
    subset = min(args.score_size, train)
    demos = min(args.n_demos, train) * (longest_q + longest_gold + 20)
    induce = len(PROMPTS.text("induce")) + demos + 40
    vary = len(PROMPTS.text("vary")) + prompt_chars + 40
    completion = MAX_PROMPT_CHARS // 3 + 40
    first_children = args.demo_sets * args.proposals_per_set
    # the root's expansion (forward generation), then up to `beam` kept instructions a round
    later = (rounds - 1) * beam
    expansions = 1 + later
    evaluated = first_children + later * args.n_variations

    def initial(book: CallBook) -> None:
        score_calls(book, eval_size, prompt_chars=prompt_chars, longest_q=longest_q,
                    max_tokens=args.max_tokens)  # fmt: skip

    def expansion(book: CallBook, count: int) -> None:
        # priced as the dearer of the two kinds of expansion, forward generation first
        if count >= 1:
            book.add("optimize", args.demo_sets, prompt_chars=induce, max_tokens=completion,
                     samples=args.proposals_per_set, json=True)  # fmt: skip
            score_calls(book, first_children * subset, prompt_chars=prompt_chars,
                        longest_q=longest_q, max_tokens=args.max_tokens)  # fmt: skip
        book.add("optimize", count - 1, prompt_chars=vary, max_tokens=completion,
                 samples=args.n_variations, json=True)  # fmt: skip
        score_calls(book, (count - 1) * args.n_variations * subset, prompt_chars=prompt_chars,
                    longest_q=longest_q, max_tokens=args.max_tokens)  # fmt: skip

    # at the end every kept instruction is scored on the eval split
    after = 2 * len(task.test) + min(rounds * beam, evaluated) * eval_size
    return task_projection(
        args, search=f"beam search, {rounds} rounds, {beam} instructions kept a round",
        expansions=expansions, evaluated_prompts=evaluated, initial=initial,
        expansion=expansion, after=after, prompt_chars=prompt_chars, longest_q=longest_q,
        test=len(task.test),
    )  # fmt: skip
