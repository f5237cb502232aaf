"""``python -m drpo.methods.oirl``: choose prompts with a trained reward model, collect logs,
and check a run's results against gates. Bad input: one line and exit 2; a failed gate:
exit 1.

    python -m drpo.methods.oirl choose --model LOG_DIR/reward_model.pkl \\
        --prompts prompts.json --queries questions.jsonl
    python -m drpo.methods.oirl collect --questions ../shared/data/gsm8k/test.jsonl \\
        --prompts prompts.json --out logs/collected --limit 5 --backend sim
    python -m drpo.methods.oirl gate LOG_DIR/results.json --min_auc 0.67 --max_drop 1.0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from drpo.llm import (
    BackendPool,
    LLMCache,
    LLMConfigError,
    LLMError,
    RoleSettings,
    UsageTracker,
    make_llms,
)
from drpo.methods.oirl.choose import choose_prompts, embedder_for, read_candidates, read_queries
from drpo.methods.oirl.collect import collect, read_questions
from drpo.methods.oirl.embed import CachedEmbedder, Embedder, EmbeddingCache, EmbeddingError
from drpo.methods.oirl.layout import read_prompts
from drpo.methods.oirl.logs import LogError
from drpo.methods.oirl.reward import TrainedRewardModel
from drpo.run_context import with_knowledge
from search.artifacts import write_atomic

PROG = "python -m drpo.methods.oirl"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Prompt-OIRL: choose, collect, gate")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    c = sub.add_parser("choose", help="choose a prompt per query (no LLM call)")
    c.add_argument("--model", required=True, help="a run's reward_model.pkl (trusted files only)")
    c.add_argument("--prompts", required=True, help="prompts.json or a text file, one a line")
    given = c.add_mutually_exclusive_group(required=True)
    given.add_argument("--query", help="one query")
    given.add_argument("--queries", help="a .jsonl of {'question'} or a text file, one a line")
    c.add_argument("--fallback", default=None, help="alias used when every score is below 0.5")
    c.add_argument("--embedding_cache", default=None, help="an embedding cache (sqlite) to use")
    c.add_argument("--embedding_base_url", default=None, help="for openai-compatible embeddings")

    k = sub.add_parser("collect", help="run an LLM on every (query, prompt) pair; our layout")
    k.add_argument("--questions", required=True, help="JSONL of {'question', 'answer'}")
    k.add_argument("--prompts", required=True, help="prompts.json: alias, text, role")
    k.add_argument("--out", required=True, help="the folder to write (resumes if it exists)")
    k.add_argument("--limit", type=int, default=None, help="only the first N questions")
    k.add_argument("--backend", choices=("sim", "openai", "llamacpp", "vllm"), default="sim")
    k.add_argument("--model", default="sim", help="llamacpp: a GGUF file")
    k.add_argument("--base_url", default=None)
    k.add_argument("--api_key_env", default="OPENAI_API_KEY")
    k.add_argument("--max_tokens", type=int, default=512)
    k.add_argument("--temperature", type=float, default=0.0)
    k.add_argument("--test_fraction", type=float, default=0.25)
    k.add_argument("--seed", type=int, default=0)

    g = sub.add_parser("gate", help="check a run's results.json; exit 1 on a failed gate")
    g.add_argument("results", help="a run's results.json")
    g.add_argument("--min_auc", type=float, default=None, help="pooled pair AUC at least this")
    g.add_argument(
        "--max_drop",
        type=float,
        default=None,
        help="best-of-K at most this many points below the best single prompt",
    )
    g.add_argument("--min_accuracy", type=float, default=None, help="best-of-K at least this")
    return p


def _choose(args: argparse.Namespace) -> int:
    path = Path(args.model)
    if not path.is_file():
        raise ValueError(f"no reward model at {path}")
    try:
        model = TrainedRewardModel.load(path)
    except (OSError, TypeError, EOFError, AttributeError, ImportError, ValueError) as exc:
        raise ValueError(f"cannot load the reward model {path}: {exc}") from None
    candidates = read_candidates(Path(args.prompts))
    queries = [args.query] if args.query is not None else read_queries(Path(args.queries))
    embedder: Embedder = embedder_for(model.embedder_key, base_url=args.embedding_base_url)
    if args.embedding_cache:
        embedder = CachedEmbedder(embedder, EmbeddingCache(args.embedding_cache))
    choices = choose_prompts(model, queries, candidates, embedder=embedder, fallback=args.fallback)
    for choice in choices:
        print(
            json.dumps(
                {
                    "query": choice.query,
                    "chosen": choice.alias,
                    "prompt": choice.prompt,
                    "scores": {a: round(v, 6) for a, v in choice.scores.items()},
                    "fell_back": choice.fell_back,
                },
                ensure_ascii=False,
            )
        )
    return 0


def _collect(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    prompts = read_prompts(Path(args.prompts))
    rows = read_questions(Path(args.questions), limit=args.limit)
    role = RoleSettings(
        backend=args.backend,
        model=args.model,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        seed=args.seed,
    )
    # the simulated LLM answers a question right only if it is told the gold answer
    roles = with_knowledge({"base": role}, {q: f"{g:g}" for q, g in rows})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pool = BackendPool()  # closed at the end: a local server stops with the collection
    usage, started = UsageTracker(), time.perf_counter()
    try:
        cache = LLMCache(out / "llm_cache.sqlite")
        llm = make_llms(roles, cache=cache, usage=usage, pool=pool)["base"]
        summary = collect(
            llm,
            questions=Path(args.questions),
            prompts=prompts,
            out=out,
            limit=args.limit,
            test_fraction=args.test_fraction,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            seed=args.seed,
        )
    finally:
        pool.close()
        # this attempt's calls, tokens and time (a resumed collection counts only its own)
        report = {**usage.summary(), "elapsed_s": round(time.perf_counter() - started, 4)}
        write_atomic(out / "usage.json", json.dumps(report, indent=2).encode("utf-8"))
    where = "the simulated LLM (simulated outcomes)" if args.backend == "sim" else args.model
    print(
        f"collected {summary.collected_now} new pairs ({summary.pairs} in all, {summary.rows} "
        f"questions) on {where} into {summary.folder}"
    )
    for alias, value in summary.accuracy.items():
        print(f"  {alias}: accuracy {value:.3f}")
    return 0


def _gate(args: argparse.Namespace) -> int:
    path = Path(args.results)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
        strategies, aucs = results["strategies"], results["auc"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read the results {path}: {exc}") from None
    k = next(name for name in strategies if name.startswith("best_of_") and name[8:].isdigit())
    best = strategies[k]
    diff = best["diff_vs_best_single"]
    label = f"{results.get('dataset')} / {results.get('split')}"
    checks = []
    if args.min_auc is not None:
        checks.append(
            (
                aucs["pooled"] >= args.min_auc,
                f"pooled pair AUC {aucs['pooled']:.4f} >= {args.min_auc}",
            )
        )
    if args.max_drop is not None:
        checks.append(
            (
                diff["mean"] >= -args.max_drop / 100,
                f"{k} - best single {100 * diff['mean']:+.2f} pt >= -{args.max_drop} pt "
                f"(95% CI [{100 * diff['ci_low']:+.2f}, {100 * diff['ci_high']:+.2f}])",
            )
        )
    if args.min_accuracy is not None:
        checks.append(
            (
                best["accuracy"] >= args.min_accuracy,
                f"{k} accuracy {best['accuracy']:.4f} >= {args.min_accuracy}",
            )
        )
    if not checks:
        raise ValueError("give at least one of --min_auc, --max_drop, --min_accuracy")
    for ok, text in checks:
        print(f"{'PASS' if ok else 'FAIL'} {label}: {text}")
    return 0 if all(ok for ok, _ in checks) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run = {"choose": _choose, "collect": _collect, "gate": _gate}[args.command]
    try:
        return run(args)
    except (ValueError, LogError, EmbeddingError, LLMConfigError, LLMError, OSError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
