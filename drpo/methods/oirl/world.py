"""Prompt-OIRL on the search interface: a world whose state is a query and whose actions are
the candidate prompts, and a search config whose `fast_reward` is the learned reward model.
Best-of-N by fast reward then picks a prompt per query without a single LLM call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from drpo.methods.oirl.embed import Embedder
from drpo.methods.oirl.reward import TrainedRewardModel
from search import BestOfN, SearchResult
from world_model import Reasoner, SearchConfig, WorldModel


@dataclass(frozen=True)
class Candidate:
    alias: str
    text: str


class PromptScorer:
    """Scores (query, candidate) pairs with a trained reward model. Query embeddings come from
    `known` (text -> vector) when there, else from the embedder, which must be the model's."""

    def __init__(
        self,
        model: TrainedRewardModel,
        embedder: Embedder,
        candidates: Sequence[Candidate],
        *,
        known: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        if not candidates:
            raise ValueError("the candidate prompt list is empty")
        if embedder.key != model.embedder_key:
            raise ValueError(
                f"the reward model was trained on {model.embedder_key} embeddings, "
                f"not {embedder.key}"
            )
        self.model, self.embedder = model, embedder
        self.candidates = tuple(candidates)
        self.aliases = [c.alias for c in self.candidates]
        self.prompt_vectors = embedder.embed([c.text for c in self.candidates])
        self.known = dict(known or {})

    def score(self, queries: Sequence[str]) -> np.ndarray:
        """Scores, queries x candidates."""
        missing = [q for q in dict.fromkeys(queries) if q not in self.known]
        if missing:
            self.known.update(zip(missing, self.embedder.embed(missing)))
        vectors = np.stack([self.known[q] for q in queries])
        return self.model.score(vectors, self.prompt_vectors)


class PromptChoiceWorld(WorldModel):
    """The example is a query; taking a candidate's alias ends the episode with that choice."""

    def __init__(self, candidates: Sequence[Candidate]) -> None:
        super().__init__()
        self.by_alias = {c.alias: c for c in candidates}

    def init_state(self) -> str:
        return str(self.example)

    def step(self, state: str, action: str) -> tuple[dict[str, str], dict[str, Any]]:
        return {"query": state, "alias": action, "prompt": self.by_alias[action].text}, {}

    def is_terminal(self, state: Any) -> bool:
        return isinstance(state, dict)


class RewardModelConfig(SearchConfig):
    """Actions: every candidate's alias. `fast_reward`: the reward model's score of the pair
    (one model call per query for all its candidates). `reward` is the same score: the
    offline method never asks the LLM."""

    def __init__(self, scorer: PromptScorer) -> None:
        super().__init__()
        self.scorer = scorer
        self._scores: dict[str, dict[str, float]] = {}

    def get_actions(self, state: str) -> list[str]:
        return list(self.scorer.aliases)

    def prefetch(self, queries: Sequence[str], scores: np.ndarray | None = None) -> None:
        """Score many queries in one batch (what a run over a test set does first); `scores`
        (queries x candidates), when given, are the model's scores computed already."""
        queries = list(queries)
        if scores is None:
            distinct = list(dict.fromkeys(queries))
            scores = self.scorer.score(distinct)
            queries = distinct
        for query, row in zip(queries, scores):
            self._scores[query] = dict(zip(self.scorer.aliases, map(float, row)))

    def _of(self, query: str) -> dict[str, float]:
        if query not in self._scores:
            self.prefetch([query])
        return self._scores[query]

    def fast_reward(self, state: str, action: str) -> tuple[float, dict[str, Any]]:
        return self._of(state)[action], {"model": self.scorer.model.model.kind}

    def reward(self, state: str, action: str, **kwargs: Any) -> tuple[float, dict[str, Any]]:
        return self.fast_reward(state, action)


def choose_one(world: PromptChoiceWorld, config: RewardModelConfig, query: str) -> SearchResult:
    """Best-of-N over the candidates for one query, by the reward model alone."""
    return Reasoner(world, config, BestOfN(score="fast_reward"))(query)
