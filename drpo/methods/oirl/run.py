"""`python train.py --method oirl`: load offline logs, embed, fit reward models (chosen on a
validation split of training queries), pick a prompt per test query by best-of-N on the
search interface, score every strategy offline with paired group-bootstrap CIs, and write
the artefacts: output.pkl / output.json / trace.txt (the searches of the first test queries
under one root), results.json, choices.jsonl, the reward models and summary.json."""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drpo.methods.oirl.data import OfflineData
from drpo.methods.oirl.embed import CachedEmbedder, EmbeddingCache, make_embedder
from drpo.methods.oirl.layout import is_collected_layout, load_collected
from drpo.methods.oirl.logs import LogError
from drpo.methods.oirl.released import load_gsm8k_like, load_svamp_like
from drpo.methods.oirl.reward import FIT_NEEDS, KINDS
from drpo.methods.oirl.settings import OIRLSettings
from drpo.methods.oirl.stats import auc, group_resamples, paired_difference, within_query_auc
from drpo.methods.oirl.strategies import (
    Picks,
    evaluate,
    preference,
    training_accuracy,
)
from drpo.methods.oirl.training import fit_models
from drpo.methods.oirl.world import (
    Candidate,
    PromptChoiceWorld,
    PromptScorer,
    RewardModelConfig,
    choose_one,
)
from drpo.run_context import RunError, Session
from search import SearchNode, SearchResult, save_artifacts
from search.artifacts import write_atomic

log = logging.getLogger("drpo.oirl")

#: What the paper reports for its own reward model (best-of-6 over the training prompts).
PAPER_BEST_OF_6 = {"gsm8k": 0.258, "svamp": 0.672}


def check(settings: OIRLSettings) -> None:
    """RunError naming the first bad setting (before anything is written)."""
    if settings.oirl_logs is None:
        raise RunError("--method oirl needs --oirl_logs (a folder of released or collected logs)")
    models = settings.reward_models
    problems = [
        (not models, "give at least one reward model"),
        (
            any(m not in KINDS for m in models),
            f"unknown reward model in {', '.join(models)}; choose from {', '.join(KINDS)}",
        ),
        (not 0 < settings.validation_fraction < 1, "validation_fraction must be in (0, 1)"),
        (settings.oirl_n_boot < 100, f"n_boot must be >= 100, got {settings.oirl_n_boot}"),
        (
            settings.oirl_trace_queries < 1,
            f"trace_queries must be >= 1, got {settings.oirl_trace_queries}",
        ),
    ]
    for bad, message in problems:
        if bad:
            raise RunError(message)
    for model in models:  # what fitting each needs beyond numpy (scoring: numpy)
        needs = FIT_NEEDS.get(model)
        if needs is not None and importlib.util.find_spec(needs) is None:
            raise RunError(
                f"the {model} reward model needs {needs} to fit, an optional extra: "
                "pip install -e '.[oirl]' (or fit the others: --oirl_models kernel)"
            )


@dataclass(frozen=True)
class OIRLSummary:
    log_dir: Path
    dataset: str
    split: str
    primary: str
    results: dict[str, Any]
    table: str
    simulated: bool = False
    resumed_from: int = 0


def load_data(settings: OIRLSettings) -> OfflineData:
    """The logs in whichever layout `settings.oirl_logs` holds (bad input: one RunError line)."""
    folder = Path(settings.oirl_logs)
    try:
        if not folder.is_dir():
            raise LogError(f"no logs folder at {folder}")
        if is_collected_layout(folder):
            return load_collected(folder, split=settings.split or "default")
        if (folder / "questions.jsonl").is_file():
            return load_svamp_like(folder, split=settings.split or "dedup")
        if settings.questions is None:
            raise LogError(f"{folder} holds no questions.jsonl; give the dataset with --questions")
        if settings.split not in (None, "released"):
            raise LogError(f"{folder} has one split (released), not {settings.split!r}")
        return load_gsm8k_like(folder, questions=settings.questions)
    except LogError as exc:
        raise RunError(str(exc)) from None


def _merged_tree(results: list[SearchResult], queries: int) -> SearchResult:
    """The searches of the first test queries, each a subtree of one root."""
    root = SearchNode(0, state=f"the first {len(results)} of {queries} test queries")
    root.cum_reward, ids = 0.0, 1
    for result in results:
        for node in result.nodes():
            node.id, ids = ids, ids + 1
            node.depth += 1
        top = result.tree
        top.parent = root
        root.children.append(top)
    chosen = [r.terminal_node for r in results]
    return SearchResult(
        algorithm=results[0].algorithm,
        settings=results[0].settings,
        tree=root,
        terminal_node=chosen[0],
        cum_reward=float(np.mean([c.cum_reward for c in chosen])),
    )


def _strategy_rows(
    data: OfflineData, picks: dict[str, Picks], n_boot: int, seed: int
) -> dict[str, Any]:
    base = picks["best_single_train"].correct.astype(float)
    groups = data.groups[data.test_rows]
    draws: dict[int, Any] = {}
    out = {}
    for name, pick in picks.items():
        key = hash(pick.rows.tobytes())
        if key not in draws:
            draws[key] = group_resamples(groups[pick.rows], n_boot=n_boot, seed=seed)
        diff = paired_difference(pick.correct, base[pick.rows], draws[key])
        out[name] = {
            "accuracy": round(float(pick.correct.mean()), 6),
            "diff_vs_best_single": {
                "mean": round(diff.mean, 6),
                "ci_low": round(diff.ci_low, 6),
                "ci_high": round(diff.ci_high, 6),
            },
            "n_test": len(pick.rows),
            "best_single_on_these_rows": round(float(base[pick.rows].mean()), 6),
            "note": pick.note,
        }
    return out


def results_table(results: dict[str, Any]) -> str:
    lines = [
        f"{'strategy':<24} {'accuracy':>8} {'n':>5}  {'vs best single, 95% CI (points)':<32} note"
    ]
    for name, row in results["strategies"].items():
        d = row["diff_vs_best_single"]
        ci = f"{100 * d['mean']:+6.2f} [{100 * d['ci_low']:+6.2f}, {100 * d['ci_high']:+6.2f}]"
        lines.append(
            f"{name:<24} {row['accuracy']:>8.4f} {row['n_test']:>5}  {ci:<32} {row['note']}"
        )
    a = results["auc"]
    lines.append(
        f"pooled pair AUC {a['pooled']:.4f} (prior only {a['prior_only_pooled']:.4f}); "
        f"within-query AUC {a['within_query']:.4f} "
        f"(prior only {a['prior_only_within_query']:.4f}); model {results['primary_model']}"
    )
    t = results["timings_s"]
    lines.append("wall time (s): " + ", ".join(f"{k} {v:.2f}" for k, v in t.items()))
    return "\n".join(lines)


def run_oirl(settings: OIRLSettings) -> OIRLSummary:
    check(settings)
    timings: dict[str, float] = {}
    started = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    data = load_data(settings)
    lap("load")
    with Session(settings, desc="Prompt-OIRL", total=1) as session:
        log_dir = session.log_dir
        log.info(
            "%s, split %s: %d training rows, %d test rows, %d prompts (%d training)",
            data.name,
            data.split,
            len(data.train_rows),
            len(data.test_rows),
            len(data.prompts),
            len(data.training),
        )
        try:
            base = make_embedder(
                settings.oirl_embedder,
                dim=settings.oirl_embedding_dim,
                base_url=settings.embedding_base_url,
                model=settings.embedding_model,
            )
        except ValueError as exc:
            raise RunError(str(exc)) from None
        cache = EmbeddingCache(settings.oirl_embedding_cache or log_dir / "embeddings.sqlite")
        embedder = CachedEmbedder(base, cache)
        queries = embedder.embed(list(data.questions))
        prompts = embedder.embed([p.text for p in data.prompts])
        lap("embed")
        log.info(
            "embedded with %s: %d texts computed, the rest from the cache",
            embedder.key,
            embedder.computed,
        )
        models, primary = fit_models(
            data,
            queries,
            prompts,
            kinds=settings.reward_models,
            embedder_key=embedder.key,
            seed=settings.seed,
            validation_fraction=settings.validation_fraction,
        )
        lap("fit")
        test_q = queries[data.test_rows]
        scores = {kind: m.score(test_q, prompts) for kind, m in models.items()}
        lap("score")
        # best-of-N on the search interface, with the primary model as fast_reward; the
        # candidates in training-accuracy order, so that ties go to the better prompt
        prior = training_accuracy(data)
        order = [data.training[j] for j in preference(prior)]
        candidates = [Candidate(data.aliases[j], data.prompts[j].text) for j in order]
        texts = [data.questions[r] for r in data.test_rows]
        scorer = PromptScorer(models[primary], embedder, candidates, known=dict(zip(texts, test_q)))
        world, config = PromptChoiceWorld(candidates), RewardModelConfig(scorer)
        config.prefetch(texts, scores[primary][:, order])
        column = {a: j for j, a in enumerate(data.aliases)}
        searched, traced = [], []
        for k, text in enumerate(texts):
            result = choose_one(world, config, text)
            session.record_search(result)
            searched.append(column[result.terminal_state["alias"]])
            if k < settings.oirl_trace_queries:
                traced.append(result)
        lap("search")
        session.on_frontier(1)
        picks = evaluate(data, scores, primary=primary, threshold=settings.fallback_threshold)
        k = len(data.training)
        test_labels = data.labels[data.test_rows]
        by_search = test_labels[np.arange(len(texts)), searched].astype(bool)
        if not np.array_equal(by_search, picks[f"best_of_{k}"].correct):
            raise AssertionError("the search's choices differ from the offline best-of-K picks")
        picks[f"best_of_{k}"] = Picks(
            picks[f"best_of_{k}"].rows,
            by_search,
            f"{primary}; chosen by BestOfN on the search interface",
        )
        strategies = _strategy_rows(data, picks, settings.oirl_n_boot, settings.seed)
        cols = data.training
        y = test_labels[:, cols]
        s = scores[primary][:, cols]
        prior_scores = np.tile(prior, (len(y), 1))
        aucs = {
            "pooled": auc(s, y),
            "within_query": within_query_auc(s, y),
            "prior_only_pooled": auc(prior_scores, y),
            "prior_only_within_query": within_query_auc(prior_scores, y),
        }
        per_model = {
            kind: {
                "hyper": m.hyper,
                "validation": m.validation,
                "pooled_auc": auc(scores[kind][:, cols], y),
                "within_query_auc": within_query_auc(scores[kind][:, cols], y),
            }
            for kind, m in models.items()
        }
        lap("evaluate")
        dataset = (
            "svamp" if "svamp" in data.name else "gsm8k" if "gsm8k" in data.name else data.name
        )
        results: dict[str, Any] = {
            "dataset": data.name,
            "split": data.split,
            "leaky": data.split == "paper",
            "n_train": len(data.train_rows),
            "n_test": len(data.test_rows),
            "embedder": embedder.key,
            "primary_model": primary,
            "strategies": strategies,
            "auc": {k2: round(v, 6) for k2, v in aucs.items()},
            "models": per_model,
            "paper_best_of_6": PAPER_BEST_OF_6.get(dataset),
            "bootstrap": {
                "resamples": settings.oirl_n_boot,
                "unit": "question group",
                "groups": len(np.unique(data.groups[data.test_rows])),
            },
            "timings_s": timings,
        }
        models[primary].save(log_dir / "reward_model.pkl")
        for kind, m in models.items():
            m.save(log_dir / f"reward_model_{kind}.pkl")
        choice_lines = [
            json.dumps(
                {
                    "row": int(r),
                    "chosen": data.aliases[j],
                    "correct": bool(test_labels[i, j]),
                    "scores": {
                        data.aliases[c]: round(float(scores[primary][i, c]), 6) for c in cols
                    },
                }
            )
            for i, (r, j) in enumerate(zip(data.test_rows, searched))
        ]
        write_atomic(log_dir / "choices.jsonl", ("\n".join(choice_lines) + "\n").encode("utf-8"))
        meta = {
            "method": "oirl",
            "simulated": False,
            "dataset": data.name,
            "split": data.split,
            "primary_model": primary,
            "traced_queries": len(traced),
            "test_queries": len(texts),
        }
        save_artifacts(_merged_tree(traced, len(texts)), log_dir / "algo_output", meta=meta)
        timings["total"] = round(time.perf_counter() - started, 3)
        text = json.dumps(results, indent=2, default=float)
        write_atomic(log_dir / "results.json", text.encode("utf-8"))
        session.finish({**meta, "settings": settings.public()})
        table = results_table(results)
        log.info("results:\n%s", table)
    return OIRLSummary(
        log_dir=log_dir,
        dataset=data.name,
        split=data.split,
        primary=primary,
        results=results,
        table=table,
    )
