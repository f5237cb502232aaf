"""Fitting reward models as a reviewer would accept: the training rows are split by question
group into fit and validation parts (no group on both sides), every hyper-parameter setting is
fitted on the first and judged on the second, the chosen one is refitted on every training
row, and the model kind behind the headline strategies is chosen on validation too. No test
label is read here."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from drpo.methods.oirl.data import OfflineData
from drpo.methods.oirl.reward import TrainedRewardModel, make_model
from drpo.methods.oirl.stats import auc, within_query_auc
from drpo.methods.oirl.strategies import best_of

log = logging.getLogger("drpo.oirl")

#: Hyper-parameter grids, judged on the validation split (the mlp stops early on it instead).
GRIDS: dict[str, list[dict[str, Any]]] = {
    "linear": [{"c": c} for c in (0.1, 0.3, 1.0)],
    "kernel": [{"tau": t, "strength": a} for t in (0.03, 0.05, 0.1) for a in (2.0, 10.0)],
    "mlp": [{}],
}


@dataclass(frozen=True)
class ValidationScore:
    best_of_k: float
    pooled_auc: float
    within_query_auc: float
    best_single: float
    log_loss: float

    def key(self) -> tuple[float, float]:
        return (round(self.best_of_k, 6), self.pooled_auc)


def validation_split(
    data: OfflineData, *, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (into data.train_rows) of the fit and validation parts, split by group."""
    groups = data.groups[data.train_rows]
    distinct = np.unique(groups)
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(distinct)[: max(1, round(fraction * len(distinct)))]
    val = np.isin(groups, chosen)
    return np.flatnonzero(~val), np.flatnonzero(val)


def judge(scores: np.ndarray, labels: np.ndarray, prior: np.ndarray) -> ValidationScore:
    picks = best_of(scores, prior)
    return ValidationScore(
        best_of_k=float(labels[np.arange(len(labels)), picks].mean()),
        pooled_auc=auc(scores, labels),
        within_query_auc=within_query_auc(scores, labels),
        best_single=float(labels[:, int(np.argmax(prior))].mean()),
        log_loss=float(
            -np.mean(
                labels * np.log(np.clip(scores, 1e-6, 1))
                + (1 - labels) * np.log(np.clip(1 - scores, 1e-6, 1))
            )
        ),
    )


def fit_models(
    data: OfflineData,
    queries: np.ndarray,
    prompts: np.ndarray,
    *,
    kinds: Sequence[str],
    embedder_key: str,
    seed: int,
    validation_fraction: float = 0.2,
) -> tuple[dict[str, TrainedRewardModel], str]:
    """Each kind fitted with its hyper-parameters chosen on the validation split; and the
    kind whose validation best-of-K (then pooled AUC) is highest. `queries`: embeddings of
    every row; `prompts`: of every prompt (data.prompts order)."""
    cols = data.training
    y = data.labels[np.ix_(data.train_rows, cols)]
    q = queries[data.train_rows]
    p = prompts[cols]
    fit, val = validation_split(data, fraction=validation_fraction, seed=seed)
    prior_fit = y[fit].mean(axis=0)
    prior = y.mean(axis=0)
    models: dict[str, TrainedRewardModel] = {}
    for kind in kinds:
        best: tuple[tuple[float, float], dict[str, Any], ValidationScore] | None = None
        for hyper in GRIDS[kind]:
            model = make_model(kind, **hyper)
            if kind == "mlp":
                model.validation = (q[val], y[val])
            model.fit(q[fit], p, y[fit], seed=seed)
            score = judge(model.score(q[val], p), y[val], prior_fit)
            log.info(
                "%s %s: validation best-of-%d %.4f (best single %.4f), AUC %.4f, "
                "within %.4f, log loss %.4f",
                kind,
                hyper,
                len(cols),
                score.best_of_k,
                score.best_single,
                score.pooled_auc,
                score.within_query_auc,
                score.log_loss,
            )
            if best is None or score.key() > best[0]:
                best, kept = (score.key(), hyper, score), model
        assert best is not None
        _, hyper, score = best
        if kind != "mlp":  # refit on every training row; the mlp keeps its early-stopped fit
            kept = make_model(kind, **hyper).fit(q, p, y, seed=seed)
        models[kind] = TrainedRewardModel(
            model=kept,
            embedder_key=embedder_key,
            prompt_aliases=tuple(data.aliases[j] for j in cols),
            prompt_texts=tuple(data.prompts[j].text for j in cols),
            prompt_embeddings=p,
            best_single=data.aliases[cols[int(np.argmax(prior))]],
            hyper=dict(hyper),
            validation={
                "best_of_k": score.best_of_k,
                "best_single": score.best_single,
                "pooled_auc": score.pooled_auc,
                "within_query_auc": score.within_query_auc,
                "rows": len(val),
                "fit_rows": len(fit),
            },
        )
    primary = max(
        models,
        key=lambda k: (
            round(models[k].validation["best_of_k"], 6),
            models[k].validation["pooled_auc"],
        ),
    )
    return models, primary
