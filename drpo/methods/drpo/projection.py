"""DRPO's projection for `drpo.plan`: its search's calls per role (base, metrics, eval,
optimize), at most. DRPO takes no search budget; the projection says what a run costs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drpo.planning import CallBook, Projection, book_total

#: Characters of a rendered aspect list, names and descriptions of every aspect.
_SLACK = 200


def _initial(text: str) -> str:
    from drpo.methods.drpo.method import _initial_prompt

    return _initial_prompt(text)


def project(args: Any) -> Projection:
    from drpo.methods.drpo.aspects import ASPECTS, ICL_MAX_ASPECTS, MAX_ASPECTS
    from drpo.methods.drpo.data import (
        DEMO_DATA_DIR,
        ICL_EXAMPLES,
        ICL_SEED_ANSWERS,
        load_examples,
        load_training_queries,
    )
    from drpo.methods.drpo.prompts import fixed_examples, template
    from drpo.methods.drpo.schemas import (
        ICL_MAX_TOKENS,
        MAX_ANSWER_CHARS,
        MAX_PROMPT_CHARS,
        METRICS_MAX_TOKENS,
        OPTIMIZER_MAX_TOKENS,
        RATIONALE_CHARS,
        REASONING_CHARS,
        judge_max_tokens,
    )
    from drpo.methods.drpo.world import DRPOSearchConfig

    data_dir = Path(args.data_dir) if args.data_dir else DEMO_DATA_DIR
    wanted = args.num_training_examples + args.test_size
    queries = load_training_queries(data_dir, num_examples=wanted, seed=args.seed)
    train = max(0, len(queries) - args.test_size)
    longest_q = max((len(q) for q in queries), default=0)
    examples = load_examples(data_dir / ICL_EXAMPLES) if args.ret_icl else fixed_examples()
    blocks = sorted((len(q) + len(a) + 40 for q, a in examples.items()), reverse=True)
    icl = sum(blocks[: args.k] if args.ret_icl else blocks) + 40
    initial = _initial(args.initial_system_prompt)
    prompt = max(len(initial), MAX_PROMPT_CHARS)
    output = args.max_tokens * 4
    aspects = sum(len(n) + len(d) + 4 for n, d in ASPECTS.items())
    judge_tokens = judge_max_tokens(list(ASPECTS)[:MAX_ASPECTS])
    evaluation = MAX_ASPECTS * (RATIONALE_CHARS + 60) + 40
    former = DRPOSearchConfig(None).former_prompts  # type: ignore[arg-type]
    n = args.n_actions

    def evaluate(book: CallBook, items: int) -> None:
        """`items` (system prompt, query) pairs answered, their aspects picked, judged."""
        book.add("base", items, prompt_chars=prompt + icl + longest_q + 40,
                 max_tokens=args.max_tokens)  # fmt: skip
        book.add("metrics", items, prompt_chars=len(template("metrics")) + aspects + longest_q,
                 max_tokens=METRICS_MAX_TOKENS, json=True)  # fmt: skip
        judged = len(template("judge")) + longest_q + output + aspects + REASONING_CHARS + _SLACK
        book.add("eval", items, prompt_chars=judged, max_tokens=judge_tokens, json=True)

    def expansion(book: CallBook, count: int) -> None:
        asked = (len(template("optimizer")) + former * (prompt + 20) + longest_q + output
                 + evaluation + _SLACK)  # fmt: skip
        book.add("optimize", count, prompt_chars=asked, max_tokens=OPTIMIZER_MAX_TOKENS,
                 samples=n, json=True)  # fmt: skip
        evaluate(book, count * n)

    if args.search == "mcts":
        depth = min(args.depth, max(0, train - 1))
        expansions = min(args.n_iters * depth, sum(n**d for d in range(depth)))
        levels, search = depth, f"MCTS, {args.n_iters} iterations, depth {args.depth}"
    else:
        levels = min(args.depth + args.max_depth_increase, max(0, train - 1))
        expansions = 1 + max(0, levels - 1) * args.beam_size if levels else 0
        search = (f"beam search, beam {args.beam_size}, depth {args.depth} (+ up to "
                  f"{args.max_depth_increase} for queries already handled)")  # fmt: skip
    book = CallBook()
    notes = []
    if args.optimize_icl:
        # The stage's critic: each example's 3-6 aspects picked once (metrics), its answer
        # critiqued (eval) before the first round and after each rewrite (optimize); the base
        # model is not asked.
        seeds = load_examples(data_dir / ICL_SEED_ANSWERS)
        rounds = args.icl_num_iters
        seed_q = max((len(q) for q in seeds), default=0)
        seed_a = max([MAX_ANSWER_CHARS, *(len(a) for a in seeds.values())])
        book.add("metrics", len(seeds), prompt_chars=len(template("icl_metrics")) + aspects
                 + seed_q, max_tokens=METRICS_MAX_TOKENS + 20, json=True)  # fmt: skip
        icl_evaluation = ICL_MAX_ASPECTS * (RATIONALE_CHARS + 60) + 40
        critic = len(template("critic")) + seed_q + seed_a + aspects + REASONING_CHARS + _SLACK
        critic_tokens = judge_max_tokens(list(ASPECTS)[:ICL_MAX_ASPECTS])
        book.add("eval", len(seeds) * (1 + rounds), prompt_chars=critic,
                 max_tokens=critic_tokens, json=True)  # fmt: skip
        icl_request = len(template("icl_optimizer")) + seed_q + seed_a + icl_evaluation
        book.add("optimize", len(seeds) * rounds, prompt_chars=icl_request,
                 max_tokens=ICL_MAX_TOKENS, json=True)  # fmt: skip
        notes.append(f"with the in-context examples' optimisation first ({len(seeds)} "
                     f"examples, {rounds} rounds)")  # fmt: skip
    evaluate(book, 1)  # the initial prompt on the first query
    expansion(book, expansions)
    evaluate(book, levels + 2 * args.test_size)  # the path's queries again, the held-out ones
    one = CallBook()
    expansion(one, 1)
    first = CallBook()
    evaluate(first, 1)
    per_calls, per_tokens = book_total(one)
    fixed_calls, fixed_tokens = book_total(first)
    return Projection(
        search=search,
        expansions=expansions,
        evaluated_prompts=expansions * n,
        roles=book.roles(),
        per_expansion_calls=per_calls,
        per_expansion_tokens=per_tokens,
        fixed_calls=fixed_calls,
        fixed_tokens=fixed_tokens,
        after_search="the roles' figures include the initial prompt judged on the best path's "
        f"queries and {args.test_size} held-out queries judged for both prompts",
        notes=tuple(notes),
    )
