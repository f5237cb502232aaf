"""``python -m bench.bbh_probe``: which BIG-Bench Hard tasks can show an optimiser's gain on
the real task model? A short probe before the round-2 benchmark picks them.

The task model (qwen0.5b on llama.cpp, as the benchmark runs it) answers `--questions`
questions of each candidate task under the task's description, the prompt every search
starts from, exactly as a task-prompt run asks them. The questions come from the seed-0
training split (never from the eval or test questions the benchmark scores). A task is
kept when the model is

- above the floor and below the ceiling: accuracy in [`--floor`, `--ceiling`];
- not one constant answer: its commonest answer is at most `--max_constant` of its answers;
- away from the constant-answer baseline: accuracy at least `--margin` from the share of
  the commonest gold answer (always giving it would score that).

Kept tasks are ranked by their distance to the nearest of those bounds. Every answer is
cached (`--cache`), so a rerun costs nothing. The figures are REAL (a real model); they go to
`--out` (default bench/bbh_probe.json).

    python -m bench.bbh_probe [--tasks a,b] [--questions 24] [--cache FILE] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import ROOT
from drpo.llm import LLMCache, RoleSettings, make_llms
from drpo.llm._loop import run_sync
from drpo.llm.roles import BackendPool
from drpo.methods.task_scoring import TaskScorer, majority_baseline
from drpo.methods.tasks import load_task

BBH = ROOT.parent / "shared" / "data" / "bbh"
#: BBH tasks worth probing: those where a 0.5B model is not certain to sit at chance
#: (seven-object tracking and deduction, arithmetic, word sorting, brackets and shapes are
#: near the floor for it, from their formats and published small-model results), and with
#: enough questions for the benchmark's splits (causal_judgement and penguins_in_a_table
#: have fewer than 50 + 150).
CANDIDATES = (
    "boolean_expressions", "disambiguation_qa", "formal_fallacies", "hyperbaton",
    "logical_deduction_three_objects", "movie_recommendation", "object_counting",
    "reasoning_about_colored_objects", "ruin_names", "sports_understanding",
    "temporal_sequences", "tracking_shuffled_objects_three_objects",
)  # fmt: skip
#: The benchmark's splits, from which the probe's questions stay out (seed 0).
EVAL_SIZE, TEST_SIZE = 50, 150


def probe(tasks: Sequence[str], *, model: Path, questions: int, max_tokens: int,
          cache: Path, threads: int | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Each task's figures under its description on `questions` training questions."""
    loaded = {}
    for name in tasks:
        task = load_task(name, data_dir=BBH, eval_size=EVAL_SIZE, test_size=TEST_SIZE, seed=0)
        loaded[name] = (task, task.train[:questions])
    pool = BackendPool()
    try:
        llm = make_llms({"base": RoleSettings(backend="llamacpp", model=str(model),
                                              concurrency=4, threads=threads)},
                        cache=LLMCache(cache), pool=pool)["base"]  # fmt: skip
        scorer = TaskScorer(llm, max_tokens=max_tokens)
        started = time.perf_counter()
        scores = run_sync(scorer.score_many([(t.description, ex) for t, ex in loaded.values()]))
        wall = time.perf_counter() - started
    finally:
        pool.close()
    rows = []
    for (name, (task, examples)), score in zip(loaded.items(), scores, strict=True):
        predictions = Counter(a.prediction for a in score.attempts)
        said, said_n = predictions.most_common(1)[0]
        rows.append({
            "task": name, "kind": examples[0].kind, "n": len(examples),
            "accuracy": round(score.accuracy, 4), "format_share": round(score.format_share, 4),
            "majority_answer": majority_baseline(examples),
            "commonest_prediction": {"answer": said, "share": round(said_n / len(examples), 4)},
            "description": task.description,
        })  # fmt: skip
    print(f"probed {len(rows)} tasks x {questions} questions in {wall:.0f} s", flush=True)
    return rows


def pick(rows: Sequence[dict[str, Any]], *, floor: float, ceiling: float, max_constant: float,
         margin: float) -> list[dict[str, Any]]:  # fmt: skip
    """The rows that pass every test, each with `room` (its distance to the nearest bound),
    most room first; a row that fails says why in `why_not`."""
    kept = []
    for row in rows:
        acc, base = row["accuracy"], row["majority_answer"]["accuracy"]
        reasons = []
        if acc < floor:
            reasons.append(f"accuracy {acc:.2f} < floor {floor}")
        if acc > ceiling:
            reasons.append(f"accuracy {acc:.2f} > ceiling {ceiling}")
        said = row["commonest_prediction"]
        if said["share"] > max_constant:
            reasons.append(f"gives {said['answer']!r} to {said['share']:.0%} of the questions")
        if abs(acc - base) < margin:
            reasons.append(f"accuracy {acc:.2f} within {margin} of the constant answer's {base}")
        row["why_not"] = reasons
        row["room"] = round(min(acc - floor, ceiling - acc, abs(acc - base) - margin), 4)
        if not reasons:
            kept.append(row)
    return sorted(kept, key=lambda r: -r["room"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bbh_probe",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tasks", default=",".join(CANDIDATES))
    parser.add_argument("--questions", type=int, default=24)
    parser.add_argument("--max_tokens", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None,
                        help="the server's CPU threads (default: every core)")  # fmt: skip
    parser.add_argument("--floor", type=float, default=0.15)
    parser.add_argument("--ceiling", type=float, default=0.85)
    parser.add_argument("--max_constant", type=float, default=0.8)
    parser.add_argument("--margin", type=float, default=0.05)
    parser.add_argument("--cache", default=str(ROOT / "logs" / "bbh-probe-cache.sqlite"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "bbh_probe.json"))
    args = parser.parse_args(argv)
    if not BBH.is_dir():
        print(f"bench.bbh_probe: no BBH data at {BBH}", file=sys.stderr)
        return 2
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [t for t in tasks if not (BBH / f"{t}.json").is_file()]
    if unknown:
        print(f"bench.bbh_probe: no such BBH task(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    from drpo.models import FetchError, fetch

    try:
        model = fetch("qwen0.5b")
    except FetchError as exc:
        print(f"bench.bbh_probe: {exc}", file=sys.stderr)
        return 1
    rows = probe(tasks, model=model, questions=args.questions, max_tokens=args.max_tokens,
                 cache=Path(args.cache), threads=args.threads)  # fmt: skip
    kept = pick(rows, floor=args.floor, ceiling=args.ceiling, max_constant=args.max_constant,
                margin=args.margin)  # fmt: skip
    print(f"{'task':<42} {'acc':>5} {'format':>6} {'const':>6} {'top pred':>9}  verdict")
    for r in rows:
        verdict = "KEEP" if not r["why_not"] else "; ".join(r["why_not"])
        print(f"{r['task']:<42} {r['accuracy']:>5.2f} {r['format_share']:>6.2f} "
              f"{r['majority_answer']['accuracy']:>6.2f} "
              f"{r['commonest_prediction']['share']:>9.2f}  {verdict}")  # fmt: skip
    print("picked, most room first: " + ", ".join(r["task"] for r in kept))
    report = {"real": True, "model": "qwen0.5b", "cpus": os.cpu_count(),
              "date": time.strftime("%Y-%m-%d"), "settings": {k: v for k, v in vars(args).items()
                           if k not in ("cache", "out")},  # no machine's paths
              "picked": [r["task"] for r in kept], "rows": rows}  # fmt: skip
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
