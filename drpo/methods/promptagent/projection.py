"""PromptAgent's projection for `drpo.plan`: its search's calls per role, at most."""

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


def expansions_of(search: str, *, depth: int, n_iters: int, width: int, beam_size: int) -> int:
    """The states whose actions a search of `depth` levels asks for, at most, with `width`
    children per state."""
    if search == "mcts":  # one per iteration's leaf and per rollout step, within the tree
        above_limit = sum(width**d for d in range(depth))
        return min(n_iters * depth, above_limit)
    beam = 1 if search == "greedy" else beam_size
    return 1 + sum(min(beam, width**d) for d in range(1, depth))


def project(args: Any) -> Projection:
    from drpo.methods.promptagent.world import FEEDBACK_CHARS, MAX_PROMPT_CHARS, PROMPTS

    task, longest_q, longest_gold = data_sizes(args)
    eval_size, train = len(task.eval), len(task.train)
    width = args.expand_width * args.num_new_prompts
    expansions = expansions_of(args.search, depth=args.depth, n_iters=args.n_iters,
                               width=width, beam_size=args.beam_size)  # fmt: skip
    prompt_chars = max(initial_prompt_chars(args, task), MAX_PROMPT_CHARS)
    batch = min(args.batch_size, train)
    errors = batch * (longest_q + 2 * answer_chars(args.max_tokens) + longest_gold + 120)
    feedback = len(PROMPTS.text("feedback")) + prompt_chars + errors + 40
    chain = (args.depth + 1) * (prompt_chars + 8)
    writer = len(PROMPTS.text("writer")) + prompt_chars + chain + errors + FEEDBACK_CHARS + 80

    def initial(book: CallBook) -> None:
        score_calls(book, eval_size, prompt_chars=prompt_chars, longest_q=longest_q,
                    max_tokens=args.max_tokens)  # fmt: skip

    def expansion(book: CallBook, count: int) -> None:
        # error batches: up to 3 draws per wanted batch; a feedback and a writer per batch
        score_calls(book, count * 3 * args.expand_width * batch, prompt_chars=prompt_chars,
                    longest_q=longest_q, max_tokens=args.max_tokens)  # fmt: skip
        book.add("optimize", count * args.expand_width, prompt_chars=feedback,
                 max_tokens=FEEDBACK_CHARS // 3 + 40, json=True)  # fmt: skip
        book.add("optimize", count * args.expand_width, prompt_chars=writer,
                 max_tokens=args.num_new_prompts * MAX_PROMPT_CHARS // 3 + 40,
                 json=True)  # fmt: skip
        score_calls(book, count * frontier_scoring(args, width, eval_size),
                    prompt_chars=prompt_chars, longest_q=longest_q,
                    max_tokens=args.max_tokens)  # fmt: skip

    search = {
        "mcts": f"MCTS, {args.n_iters} iterations, depth {args.depth}",
        "beam": f"beam search, beam {args.beam_size}, depth {args.depth}",
        "greedy": f"greedy search, depth {args.depth}",
    }.get(args.search, args.search)
    after = 2 * len(task.test) + (eval_size if args.selection not in (None, "full") else 0)
    return task_projection(
        args, search=f"{search}, {width} children per expansion", expansions=expansions,
        evaluated_prompts=expansions * width, initial=initial, expansion=expansion,
        after=after, prompt_chars=prompt_chars, longest_q=longest_q, test=len(task.test),
    )  # fmt: skip
