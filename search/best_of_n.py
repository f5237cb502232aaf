"""Best-of-N: score N candidate actions from the root and keep the best (Prompt-OIRL's shape)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from search._settings import require, require_choice, settings_of
from search.node import SearchNode
from search.result import SearchResult
from world_model import SearchAlgorithm, frontier

SCORES = ("fast_reward", "reward")


@dataclass(frozen=True, kw_only=True)
class BestOfN(SearchAlgorithm):
    """One level of search: the root's candidate actions, scored, the best one taken.

    - ``n``: how many candidates to score; when the config proposes more, ``n`` of them are
      drawn without replacement with ``seed`` (None: all of them).
    - ``score``: ``"fast_reward"`` ranks the candidates by `fast_reward` alone and steps only
      the winner (a learned reward model, no LLM call per candidate); ``"reward"`` steps every
      candidate and ranks them by `reward`, as one frontier.
    """

    n: int | None = None
    score: str = "fast_reward"
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.n is None or self.n >= 1, f"n must be >= 1 or None, got {self.n}")
        require_choice(self.score, "score", SCORES, allow_callable=False)

    def __call__(
        self, world_model: Any, search_config: Any, *, seed: int | None = None
    ) -> SearchResult:
        ids = itertools.count()
        root = SearchNode(next(ids), state=world_model.init_state())
        root.cum_reward = 0.0
        root.is_terminal = frontier.is_terminal(world_model, root.state)
        actions = []
        if not root.is_terminal:
            (actions,) = frontier.get_actions_many(search_config, [root.state])
        if self.n is not None and len(actions) > self.n:
            rng = np.random.default_rng(self.seed if seed is None else seed)
            keep = sorted(rng.choice(len(actions), size=self.n, replace=False))
            actions = [actions[i] for i in keep]
        best = root
        if actions:
            best = self._score(world_model, search_config, root, actions, ids)
        reason = "terminal" if root.is_terminal else "depth" if actions else "no_actions"
        evaluated = sum(c.expanded for c in root.children)
        return SearchResult(
            algorithm=type(self).__name__,
            settings=settings_of(self),
            tree=root,
            terminal_node=best,
            cum_reward=float(best.cum_reward),
            stop_reason=reason,
            expansions=0 if root.is_terminal else 1,
            evaluated=evaluated,
        )

    def _score(
        self, world: Any, config: Any, root: SearchNode, actions: list[Any], ids: Any
    ) -> SearchNode:
        pairs = [(root.state, action) for action in actions]
        fast = frontier.fast_reward_many(config, pairs)
        children = []
        for action, (f, fd) in zip(actions, fast):
            child = SearchNode(next(ids), parent=root, action=action, expanded=False)
            child.fast_reward, child.fast_reward_details = f, fd
            children.append(child)
        if self.score == "fast_reward":
            for child in children:
                child.reward = child.cum_reward = child.fast_reward
            best = max(children, key=lambda c: c.fast_reward)
            ((best.state, _),) = frontier.step_many(world, [(root.state, best.action)])
            best.expanded = True
        else:
            steps = frontier.step_many(world, pairs)
            requests = [
                (root.state, c.action, frontier.reward_kwargs(aux, c.fast_reward_details))
                for c, (_, aux) in zip(children, steps)
            ]
            for child, (state, _), (r, rd) in zip(
                children, steps, frontier.reward_many(config, requests)
            ):
                child.state, child.expanded = state, True
                child.reward, child.reward_details, child.cum_reward = r, rd, r
            best = max(children, key=lambda c: c.reward)
        best.is_terminal = frontier.is_terminal(world, best.state)
        return best
