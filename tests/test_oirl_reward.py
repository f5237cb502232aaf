"""Reward models: the linear one is scikit-learn's logistic regression, the kernel one
remembers duplicates, the torch one learns a query-dependent rule and scores unseen prompts
by their text; all are seeded and save and load with the same scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from drpo.methods.oirl.embed import HashingEmbedder
from drpo.methods.oirl.reward import (
    KernelRewardModel,
    LinearRewardModel,
    MLPRewardModel,
    TrainedRewardModel,
)
from drpo.methods.oirl.stats import auc


def _task(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Queries about apples suit prompt 0, queries about trains prompt 1."""
    rng = np.random.default_rng(seed)
    topics = rng.integers(0, 2, size=n)
    names = ["ann", "bob", "cy", "dee", "eve", "fay", "gus", "hal", "ivy", "jo"]
    texts = [
        f"{names[rng.integers(10)]} asks about "
        f"{'apples and pears' if t == 0 else 'trains and cars'} {rng.integers(5)}"
        for t in topics
    ]
    q = HashingEmbedder(dim=256).embed(texts)
    noise = rng.random((n, 2)) < 0.1
    y = np.stack([topics == 0, topics == 1], axis=1) ^ noise
    return q, HashingEmbedder(dim=256).embed(["Count carefully.", "Think about motion."]), y


def test_the_linear_model_is_scikit_learns_logistic_regression() -> None:
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    q, p, y = _task()
    ours = LinearRewardModel(c=0.5).fit(q, p, y, seed=0).score(q, p)
    for j in range(2):
        theirs = sklearn_lm.LogisticRegression(C=0.5, max_iter=5000, tol=1e-8).fit(q, y[:, j])
        assert np.abs(ours[:, j] - theirs.predict_proba(q)[:, 1]).max() < 2e-3


@pytest.mark.parametrize("model", [LinearRewardModel(), KernelRewardModel(), MLPRewardModel()])
def test_every_model_learns_which_prompt_suits_which_query(model, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    q, p, y = _task(seed=0)
    q_test, _, y_test = _task(seed=1)
    model.fit(q, p, y, seed=0)
    scores = model.score(q_test, p)
    assert scores.shape == (len(q_test), 2) and ((scores >= 0) & (scores <= 1)).all()
    assert auc(scores, y_test) > 0.85
    picked = y_test[np.arange(len(y_test)), scores.argmax(axis=1)].mean()
    assert picked > 0.8  # either prompt alone solves about half
    trained = TrainedRewardModel(model, "hash-v1-256", ("a", "b"), ("A", "B"), p, "a", {}, {})
    trained.save(tmp_path / "m.pkl")
    again = TrainedRewardModel.load(tmp_path / "m.pkl")
    assert np.array_equal(again.score(q_test, p), scores)


def test_fitting_is_seeded() -> None:
    pytest.importorskip("torch")
    q, p, y = _task()
    a = MLPRewardModel(epochs=5).fit(q, p, y, seed=3).score(q, p)
    b = MLPRewardModel(epochs=5).fit(q, p, y, seed=3).score(q, p)
    c = MLPRewardModel(epochs=5).fit(q, p, y, seed=4).score(q, p)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_the_kernel_model_votes_with_a_duplicates_outcomes() -> None:
    q = HashingEmbedder(dim=64).embed(["alpha beta", "gamma delta", "alpha beta"])
    p = HashingEmbedder(dim=64).embed(["x", "y"])
    y = np.array([[1, 0], [0, 1], [1, 0]])
    model = KernelRewardModel(tau=0.05, strength=0.1).fit(q, p, y, seed=0)
    scores = model.score(q[:2], p)
    assert scores[0, 0] > 0.9 and scores[0, 1] < 0.1
    assert scores[1, 1] > 0.9 and scores[1, 0] < 0.1


def test_linear_and_kernel_score_an_unseen_prompt_as_its_nearest_training_prompt() -> None:
    q, p, y = _task()
    e = HashingEmbedder(dim=256)
    unseen = e.embed(["Count carefully, please."])  # closest to prompt 0
    model = LinearRewardModel().fit(q, p, y, seed=0)
    assert np.array_equal(model.score(q, unseen)[:, 0], model.score(q, p)[:, 0])
