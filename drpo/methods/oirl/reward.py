"""Reward models r(query, prompt): the probability that the prompt makes the LLM answer the
query correctly, learned from logged outcomes and the texts' embeddings alone.

- `LinearRewardModel`: one L2-regularised logistic regression per training prompt on the
  query embedding (scikit-learn), the baseline.
- `KernelRewardModel`: similarity-weighted votes of the training queries (a soft nearest-
  neighbour rule), shrunk towards the prompt's training accuracy.
- `MLPRewardModel`: a torch classifier on (query, prompt) embeddings: a query tower, a
  prompt projection and a small head; the only one that reads the prompt's text, so the only
  one that can tell unseen prompts apart.

All three score with numpy alone once fitted (torch and scikit-learn are needed to fit), are
seeded, and pickle to a few plain arrays. The linear and kernel models score a prompt they
were not trained on as the training prompt whose embedding is nearest.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

KINDS = ("linear", "kernel", "mlp")
#: The package each kind needs to fit beyond numpy (the kernel model: none).
FIT_NEEDS = {"linear": "scipy", "mlp": "torch"}


class RewardModel(Protocol):
    kind: str
    params: dict[str, Any]

    def fit(self, q: np.ndarray, p: np.ndarray, y: np.ndarray, *, seed: int) -> RewardModel:
        """`q`: training query embeddings, `p`: the training prompts' embeddings, `y`:
        outcomes (queries x prompts, 0/1)."""
        ...

    def score(self, q: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Scores in [0, 1], queries x prompts."""
        ...


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def _nearest(known: np.ndarray, asked: np.ndarray) -> np.ndarray:
    """For each asked prompt embedding, the index of the nearest known one (cosine)."""
    return np.argmax(asked @ known.T, axis=1)


class LinearRewardModel:
    """Per prompt: sigmoid(w_p . q + b_p), minimising C * (sum of log losses) + |w_p|^2 / 2
    (scikit-learn's LogisticRegression convention, intercept unpenalised), all prompts in
    one L-BFGS run (scipy)."""

    kind = "linear"

    def __init__(self, *, c: float = 0.3, max_iter: int = 200) -> None:
        self.c, self.max_iter = c, max_iter
        self.params: dict[str, Any] = {"c": c}

    def fit(self, q: np.ndarray, p: np.ndarray, y: np.ndarray, *, seed: int) -> LinearRewardModel:
        from scipy.optimize import minimize

        x = q.astype(np.float32)
        t = y.astype(np.float32)
        d, k = x.shape[1], t.shape[1]

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w = theta[: d * k].reshape(d, k).astype(np.float32)
            z = (x @ w + theta[d * k :].astype(np.float32)).astype(np.float64)
            # log(1 + e^z) - t z, stably
            value = self.c * float(np.sum(np.logaddexp(0.0, z) - t * z)) + 0.5 * float(
                np.sum(w * w)
            )
            g = self.c * (_sigmoid(z) - t)
            grad_w = (x.T @ g.astype(np.float32)).astype(np.float64) + theta[: d * k].reshape(d, k)
            return value, np.concatenate([grad_w.ravel(), g.sum(axis=0)])

        start = np.zeros(d * k + k)
        start[d * k :] = np.log(
            np.clip(t.mean(0), 1e-3, 1 - 1e-3) / np.clip(1 - t.mean(0), 1e-3, 1)
        )
        found = minimize(
            loss, start, jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter}
        )
        w, b = found.x[: d * k].reshape(d, k), found.x[d * k :]
        self.params.update(w=w.T.astype(np.float32), b=b, p=p.copy())
        return self

    def score(self, q: np.ndarray, p: np.ndarray) -> np.ndarray:
        pick = _nearest(self.params["p"], p)
        logits = q @ self.params["w"].T + self.params["b"]
        return _sigmoid(logits)[:, pick]


class KernelRewardModel:
    """r(q, p) = (sum_i w_i y_ip + a * prior_p) / (sum_i w_i + a), w_i = exp((cos(q, q_i) - 1)
    / tau) over the distinct training queries q_i (duplicates pooled)."""

    kind = "kernel"

    def __init__(self, *, tau: float = 0.05, strength: float = 2.0) -> None:
        self.tau, self.strength = tau, strength
        self.params: dict[str, Any] = {"tau": tau, "strength": strength}

    def fit(self, q: np.ndarray, p: np.ndarray, y: np.ndarray, *, seed: int) -> KernelRewardModel:
        distinct, inverse = np.unique(q, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        counts = np.bincount(inverse, minlength=len(distinct)).astype(np.float32)
        wins = np.zeros((len(distinct), y.shape[1]), np.float32)
        np.add.at(wins, inverse, y.astype(np.float32))
        self.params.update(
            q=distinct.astype(np.float16),
            counts=counts,
            wins=wins,
            prior=y.mean(axis=0),
            p=p.copy(),
        )
        return self

    def score(self, q: np.ndarray, p: np.ndarray) -> np.ndarray:
        par = self.params
        out = np.empty((len(q), par["wins"].shape[1]))
        for start in range(0, len(q), 1024):
            sims = q[start : start + 1024] @ par["q"].astype(np.float32).T
            w = np.exp((sims - 1.0) / self.tau)
            num = w @ par["wins"] + self.strength * par["prior"]
            den = (w @ par["counts"])[:, None] + self.strength
            out[start : start + 1024] = num / den
        return out[:, _nearest(par["p"], p)]


class MLPRewardModel:
    """logit(q, p) = head([relu(A q), B p]); trained with Adam on the binary cross-entropy of
    every logged (query, prompt) pair, stopped early on a validation loss."""

    kind = "mlp"

    def __init__(
        self,
        *,
        hidden: int = 128,
        prompt_dim: int = 32,
        epochs: int = 30,
        patience: int = 3,
        lr: float = 2e-3,
        weight_decay: float = 1e-5,
        dropout: float = 0.2,
    ) -> None:
        self.hidden, self.prompt_dim, self.epochs, self.patience = (
            hidden,
            prompt_dim,
            epochs,
            patience,
        )
        self.lr, self.weight_decay, self.dropout = lr, weight_decay, dropout
        self.params: dict[str, Any] = {"hidden": hidden, "prompt_dim": prompt_dim}
        self.validation: tuple[np.ndarray, np.ndarray] | None = None

    def fit(self, q: np.ndarray, p: np.ndarray, y: np.ndarray, *, seed: int) -> MLPRewardModel:
        import torch

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        d = q.shape[1]
        query = torch.nn.Sequential(
            torch.nn.Linear(d, self.hidden), torch.nn.ReLU(), torch.nn.Dropout(self.dropout)
        )
        prompt = torch.nn.Linear(p.shape[1], self.prompt_dim)
        head = torch.nn.Sequential(
            torch.nn.Linear(self.hidden + self.prompt_dim, 64),
            torch.nn.ReLU(),
            torch.nn.Linear(64, 1),
        )
        modules = torch.nn.ModuleList([query, prompt, head])
        opt = torch.optim.Adam(modules.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        pt = torch.tensor(p, dtype=torch.float32)

        def logits(xq: torch.Tensor) -> torch.Tensor:
            hq = query(xq)
            hp = prompt(pt)
            pairs = torch.cat(
                [hq[:, None, :].expand(-1, len(pt), -1), hp[None, :, :].expand(len(hq), -1, -1)],
                dim=2,
            )
            return head(pairs).squeeze(-1)

        xt, yt = torch.tensor(q, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
        if self.validation is not None:
            xv = torch.tensor(self.validation[0], dtype=torch.float32)
            yv = torch.tensor(self.validation[1], dtype=torch.float32)
        else:  # no validation split given: hold out a random tenth for early stopping
            order = rng.permutation(len(q))
            cut = max(1, len(q) // 10)
            xv, yv, xt, yt = xt[order[:cut]], yt[order[:cut]], xt[order[cut:]], yt[order[cut:]]
        loss_fn = torch.nn.functional.binary_cross_entropy_with_logits
        best_loss, best_state, bad = float("inf"), None, 0
        for epoch in range(self.epochs):
            modules.train()
            order = rng.permutation(len(xt))
            for start in range(0, len(order), 512):
                batch = torch.as_tensor(order[start : start + 512])
                loss = loss_fn(logits(xt[batch]), yt[batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
            modules.eval()
            with torch.no_grad():
                val = float(loss_fn(logits(xv), yv))
            if val < best_loss - 1e-5:
                best_loss, bad = val, 0
                best_state = {k: v.detach().clone() for k, v in modules.state_dict().items()}
                self.params["epochs"] = epoch + 1
            else:
                bad += 1
                if bad >= self.patience:
                    break
        modules.load_state_dict(best_state)
        state = {k: v.numpy().astype(np.float32) for k, v in modules.state_dict().items()}
        self.params.update(state=state, validation_loss=best_loss)
        self.validation = None  # the validation rows are not part of the model
        return self

    def score(self, q: np.ndarray, p: np.ndarray) -> np.ndarray:
        s = self.params["state"]
        hq = np.maximum(q @ s["0.0.weight"].T + s["0.0.bias"], 0.0)
        hp = p @ s["1.weight"].T + s["1.bias"]
        w1, b1 = s["2.0.weight"], s["2.0.bias"]
        # head's first layer on [hq, hp] = hq @ Wq^T + hp @ Wp^T + b, without the pair tensor
        part_q = hq @ w1[:, : self.hidden].T
        part_p = hp @ w1[:, self.hidden :].T + b1
        out = np.empty((len(q), len(p)))
        for j in range(len(p)):
            h = np.maximum(part_q + part_p[j], 0.0)
            out[:, j] = (h @ s["2.2.weight"].T + s["2.2.bias"])[:, 0]
        return _sigmoid(out)


def make_model(kind: str, **hyper: Any) -> RewardModel:
    classes = {"linear": LinearRewardModel, "kernel": KernelRewardModel, "mlp": MLPRewardModel}
    if kind not in classes:
        raise ValueError(f"unknown reward model {kind!r}; choose from {', '.join(KINDS)}")
    return classes[kind](**hyper)


@dataclass(frozen=True)
class TrainedRewardModel:
    """A fitted model with what scoring it needs: the embedder's key (queries must be embedded
    with the same embedder), the training prompts (aliases, texts, embeddings) and how it was
    chosen."""

    model: Any
    embedder_key: str
    prompt_aliases: tuple[str, ...]
    prompt_texts: tuple[str, ...]
    prompt_embeddings: np.ndarray
    best_single: str
    hyper: dict[str, Any]
    validation: dict[str, float]

    def score(self, q: np.ndarray, p: np.ndarray) -> np.ndarray:
        return self.model.score(q, p)

    def save(self, path: str | Path) -> None:
        from search.artifacts import write_atomic

        write_atomic(Path(path), pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL))

    @staticmethod
    def load(path: str | Path) -> TrainedRewardModel:
        """Unpickle a saved model. Only load files you trust: unpickling runs code."""
        from search.artifacts import load_pickle

        return load_pickle(path, TrainedRewardModel, "a reward model")
