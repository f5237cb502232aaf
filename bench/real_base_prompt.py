"""``python -m bench.real_base_prompt``: a REAL base model's answers, asked as DRPO asked it
before the completion path and as it asks it now.

The model is the pinned Gemma 3 270M pretrained model (no chat template) on llama.cpp. Each
query (the first of DRPO's demo training queries) is asked twice under the same system prompt
and the same two retrieved in-context examples:

- ``before``: chat messages, which llama.cpp formats with a default template the model never
  saw; the examples in the system message with ``## Query:``/``## Answer:`` headings and
  ``<END>`` after each; the user turn ending in ``## Answer:``; stop ``<END>`` only (DRPO's
  former layout);
- ``after``: the plain-text completion DRPO now sends a model without a chat template
  (`drpo.methods.drpo.base_prompt`), with its stops, answers cleaned of the markers.

Both get the same answer limit (``--max_tokens``, small so that it runs in minutes on a CPU).
It prints and writes (bench/real_base_prompt.json) each answer, why it stopped (``length``:
the limit; ``stop``: a stop string or the model's end) and its tokens. REAL figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from drpo.llm import ChatRequest, RoleSettings, UsageTracker, make_llms
from drpo.llm._loop import run_sync
from drpo.methods.drpo.base_prompt import BasePrompt
from drpo.methods.drpo.data import DEMO_DATA_DIR, ICL_EXAMPLES, load_examples, load_training_queries
from drpo.models import FetchError, fetch
from drpo.retrieval import HashingEmbedder, Retriever

ROOT = Path(__file__).resolve().parent.parent
SYSTEM = "You are a helpful assistant."


def former_request(query: str, examples: list[tuple[str, str]], max_tokens: int) -> ChatRequest:
    """The chat request DRPO sent every base model before the completion path."""
    blocks = [f"## Query:\n{q}\n\n## Answer:\n{a}\n<END>" for q, a in examples]
    system = SYSTEM + "\n\n# Examples of good answers\n\n" + "\n\n".join(blocks)
    user = f"## Query:\n{query}\n\n## Answer:\n"
    return ChatRequest.of(user, system=system, temperature=0.0, max_tokens=max_tokens,
                          stop=["<END>"])  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.real_base_prompt", description=__doc__)
    parser.add_argument("--model", choices=("gemma3-270m",), default="gemma3-270m")
    parser.add_argument("--models_dir", default=None)
    parser.add_argument("--queries", type=int, default=3)
    parser.add_argument("--max_tokens", type=int, default=160)
    parser.add_argument("--out", default=str(ROOT / "bench" / "real_base_prompt.json"))
    args = parser.parse_args(argv)
    try:
        gguf = fetch(args.model, models_dir=Path(args.models_dir) if args.models_dir else None)
    except FetchError as exc:
        print(f"bench.real_base_prompt: {exc}", file=sys.stderr)
        return 1
    queries = load_training_queries(DEMO_DATA_DIR, num_examples=36, seed=0)[: args.queries]
    pool = load_examples(DEMO_DATA_DIR / ICL_EXAMPLES)
    retriever = Retriever(list(pool), HashingEmbedder())
    shown = [[(q, pool[q]) for q, _ in retriever.top_k(query, 2)] for query in queries]
    after = BasePrompt.for_model("completion", gguf.name, max_tokens=args.max_tokens)
    requests = [former_request(q, s, args.max_tokens) for q, s in zip(queries, shown)]
    requests += [after.request(SYSTEM, s, q) for q, s in zip(queries, shown)]
    usage = UsageTracker()
    role = RoleSettings(backend="llamacpp", model=str(gguf), concurrency=len(requests))
    llm = make_llms({"base": role}, usage=usage)["base"]
    started = time.perf_counter()
    try:
        answers = llm.generate(requests)
    finally:
        run_sync(llm.backend.aclose())
    rows = []
    for i, query in enumerate(queries):
        before, now = answers[i], answers[len(queries) + i]
        rows.append({
            "query": query,
            "before": {"answer": before.text.strip(), "finish": before.finish_reasons[0]},
            "after": {"answer": after.clean(now.text), "raw": now.text,
                      "finish": now.finish_reasons[0]},
        })  # fmt: skip
    report = {"model": args.model, "file": gguf.name, "real": True,
              "max_tokens": args.max_tokens, "system_prompt": SYSTEM,
              "wall_s": round(time.perf_counter() - started, 1),
              "completion_tokens": usage.summary()["total"]["completion_tokens"],
              "answers": rows}  # fmt: skip
    Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", "utf-8")
    for row in rows:
        print(f"# {row['query']}")
        for when in ("before", "after"):
            print(f"## {when} ({row[when]['finish']}):\n{row[when]['answer']}\n")
    print(f"REAL answers of {gguf.name} written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
