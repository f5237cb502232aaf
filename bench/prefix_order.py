"""What sending a frontier's evaluation requests grouped by task prompt saves on a local
llama.cpp server (REAL: a pinned model on this machine's CPU).

    python -m bench.prefix_order [--model qwen0.5b] [--task object_counting]
        [--prompts 3] [--questions 12] [--rounds 2] [--out bench/prefix_order_results.json]

One frontier: `--prompts` task prompts, each on the same `--questions` questions, as
`TaskScorer` asks them (the prompt first, then the question). It is sent three times per round, to
a fresh server each time (an empty prompt cache, the same slots and threads):
- interleaved: question by question, every prompt in turn;
- grouped: all of a prompt's requests together (`prefix_order` with one lane), which hands
  every prompt to every slot;
- lanes: `prefix_order` with one lane per slot, what the task-prompt methods send: the
  grouped requests cut into one run per slot, sent in turn.
The order of the arms is reversed every other round. It reports, per arm, the prompt
tokens the server processed and those it reused from its prompt cache, the wall time, and
whether the answers are the same; then the ratios to interleaved.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from drpo.llm import LLM, ChatRequest
from drpo.llm.llamacpp_backend import LlamaCppBackend
from drpo.methods.task_scoring import TaskScorer, prefix_order
from drpo.methods.tasks import load_task
from drpo.models import FetchError, fetch
from drpo.sim.backend import SimBackend

ROOT = Path(__file__).resolve().parents[1]
BIGBENCH = ROOT.parent / "shared" / "data" / "bigbench"

#: Task prompts of the length an optimiser writes (ours, for counting tasks).
PROMPTS = (
    "You count objects described in a sentence. Read the whole list first. Each item is "
    "preceded by a number word or an article: 'a' and 'an' mean one, 'two' means two, and "
    "so on. Only count the kind of thing the question asks about; for example, when it asks "
    "for vegetables, a fruit or an instrument does not count. Add the quantities up slowly, "
    "one item at a time, and check the total before you answer.",
    "Solve the counting question step by step. First write every item that belongs to the "
    "category in the question, with its quantity, one per line. Ignore every item of another "
    "category, even when it sounds similar. Then add the quantities one line at a time and "
    "say the running total after each line. The final number is the answer; write it as "
    "digits, never as a word.",
    "You are a meticulous inventory clerk. A customer lists what they own and asks how many "
    "things of one kind they have. Decide for each listed item whether it is of that kind; "
    "plural nouns with a number word count as that many, and a collective noun counts as "
    "one. Keep a tally, double-check it, and report only the final count as a number.",
)


def _arm(
    name: str,
    model: Path,
    requests: list[ChatRequest],
    order: list[int],
    *,
    slots: int,
    threads: int,
) -> dict[str, Any]:
    """Send `requests` in `order` to a fresh server; the answers in the requests' own order."""
    backend = LlamaCppBackend(model, slots=slots, threads=threads)
    try:
        llm = LLM(backend, role="base", cache=None)
        started = time.perf_counter()
        answers = llm.generate([requests[i] for i in order])
        wall = time.perf_counter() - started
        tally = backend.throughput.report()
    finally:
        backend.server.stop()
    texts = [""] * len(requests)
    for position, i in enumerate(order):
        texts[i] = answers[position].text
    return {
        "arm": name,
        "wall_s": round(wall, 2),
        "prompt_tokens": tally["prompt_tokens"],
        "prompt_tokens_processed": tally["prompt_tokens_processed"],
        "prompt_tokens_reused": tally["prompt_tokens_reused"],
        "completion_tokens": tally["completion_tokens"],
        "server_prompt_s": tally["server_prompt_s"],
        "peak": tally["peak"],
        "texts": texts,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen0.5b", help="a pinned model or a GGUF path")
    parser.add_argument("--task", default="object_counting")
    parser.add_argument("--data_dir", default=str(BIGBENCH))
    parser.add_argument("--prompts", type=int, default=3, choices=range(1, len(PROMPTS) + 1))
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max_tokens", type=int, default=48)
    parser.add_argument("--out", default=str(ROOT / "bench" / "prefix_order_results.json"))
    args = parser.parse_args(argv)
    if args.questions < 1 or args.rounds < 1:
        print("prefix_order: --questions and --rounds must be >= 1", file=sys.stderr)
        return 2
    try:
        model = Path(args.model) if args.model.endswith(".gguf") else fetch(args.model)
        task = load_task(args.task, data_dir=args.data_dir, eval_size=args.questions,
                         test_size=1)  # fmt: skip
    except (FetchError, ValueError) as exc:
        print(f"prefix_order: {exc}", file=sys.stderr)
        return 2
    prompts, questions = PROMPTS[: args.prompts], task.eval
    # only the scorer's requests are used here: each arm sends them to its own server
    scorer = TaskScorer(LLM(SimBackend("sim"), role="base"), max_tokens=args.max_tokens)
    pairs = [(p, q) for q in questions for p in prompts]  # interleaved: question by question
    requests = [scorer.request(p, q) for p, q in pairs]
    orders = {
        "interleaved": list(range(len(pairs))),
        "grouped": prefix_order([p for p, _ in pairs]),
        "lanes": prefix_order([p for p, _ in pairs], lanes=args.slots),
    }
    print(f"REAL: {model.name}, {len(prompts)} prompts x {len(questions)} {task.name} "
          f"questions, {args.slots} slots, {args.threads} threads, max {args.max_tokens} "
          f"tokens, {args.rounds} round(s), a fresh server per arm")  # fmt: skip
    runs: list[dict[str, Any]] = []
    arms = ["interleaved", "grouped", "lanes"]
    for round_ in range(args.rounds):
        names = arms if round_ % 2 == 0 else arms[::-1]
        for name in names:
            run = _arm(name, model, requests, orders[name], slots=args.slots,
                       threads=args.threads)  # fmt: skip
            run["round"] = round_
            runs.append(run)
            print(f"  round {round_} {name:<12} wall {run['wall_s']:7.1f} s   prompt tokens "
                  f"processed {run['prompt_tokens_processed']:6d}, reused "
                  f"{run['prompt_tokens_reused']:6d}, generated "
                  f"{run['completion_tokens']:5d}")  # fmt: skip

    def mean(name: str, key: str) -> float:
        return statistics.mean(r[key] for r in runs if r["arm"] == name)

    reference = next(r["texts"] for r in runs if r["arm"] == "interleaved")
    same = {
        r["arm"] + f"_round{r['round']}": sum(a == b for a, b in zip(r["texts"], reference))
        / len(reference)
        for r in runs
    }
    keys = ("prompt_tokens_processed", "server_prompt_s", "wall_s")
    ratios = {
        arm: {key: mean(arm, key) / mean("interleaved", key) for key in keys}
        for arm in ("grouped", "lanes")
    }
    for arm, ratio in ratios.items():
        print(f"{arm} / interleaved: prompt tokens processed "
              f"{ratio['prompt_tokens_processed']:.3f}, server prompt time "
              f"{ratio['server_prompt_s']:.3f}, wall time {ratio['wall_s']:.3f}")  # fmt: skip
    print("answers identical to the first interleaved arm's: "
          + ", ".join(f"{k} {v:.0%}" for k, v in same.items()))  # fmt: skip
    result = {
        "label": "REAL",
        "model": model.name,
        "task": task.name,
        "prompts": len(prompts),
        "questions": len(questions),
        "requests_per_arm": len(pairs),
        "slots": args.slots,
        "threads": args.threads,
        "max_tokens": args.max_tokens,
        "machine": f"{platform.machine()}, {platform.system()}",
        "ratios_over_interleaved": {
            arm: {k: round(v, 4) for k, v in ratio.items()} for arm, ratio in ratios.items()
        },
        "identical_answers_share": {k: round(v, 4) for k, v in same.items()},
        "runs": [{k: v for k, v in r.items() if k != "texts"} for r in runs],
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
