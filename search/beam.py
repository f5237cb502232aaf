"""Beam search and greedy search."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from search._settings import require, require_choice, settings_of
from search.node import SearchNode
from search.reducers import ReducerSpec, resolve
from search.result import BeamSearchResult
from world_model import SearchAlgorithm, frontier

DedupSpec = Union[bool, Callable[[Any], Hashable]]

SAMPLING_STRATEGIES = ("argmax", "stochastic")
AGGREGATORS = ("last", "mean", "sum")


def _dedup_key(action: Any) -> Hashable:
    try:
        hash(action)
    except TypeError:
        return repr(action)
    return action


@dataclass(frozen=True, kw_only=True)
class BeamSearch(SearchAlgorithm):
    """Level-by-level search that keeps the `beam_size` best paths.

    Each level hands its whole frontier to the world at once: one `get_actions_many`, one
    `fast_reward_many`, one `step_many` and one `reward_many` call per level.

    - ``sampling_strategy``: ``"argmax"`` keeps the best paths; ``"stochastic"`` samples them
      without replacement with probabilities softmax(value / T), where T is ``temperature``
      times ``temperature_decay`` to the power of the level.
    - ``reward_aggregator``: a path's value from its step rewards: ``"last"``, ``"mean"``,
      ``"sum"`` or a callable on the list of rewards.
    - ``action_dedup``: drop an action already proposed at the same level (True: by equality,
      or by ``repr`` for unhashable actions; a callable: by the key it returns).
    - ``reject_min_reward``: drop paths whose value is below it.
    - ``early_terminate``: a terminal state ends its path instead of being expanded further.
    - ``max_depth_increase``: how many extra levels the search may grant in total when the
      config's `extends_depth` says a state earned one (at most one per level); the grant is
      local to the call and never changes these settings.

    The search stops at the depth limit (stop reason ``"depth"``), when every path has ended
    in a terminal state (``"terminal"``) or no state has an action left (``"no_actions"``), or
    after the level at which the world asks it to (`stop_requested`: ``"budget"``,
    ``"interrupted"``); that level's beam then ends its paths.
    """

    beam_size: int
    max_depth: int
    sampling_strategy: str = "argmax"
    temperature: float = 1.0
    temperature_decay: float = 1.0
    reject_min_reward: float | None = None
    reward_aggregator: ReducerSpec = "last"
    action_dedup: DedupSpec = False
    early_terminate: bool = True
    max_depth_increase: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.beam_size >= 1, f"beam_size must be >= 1, got {self.beam_size}")
        require(self.max_depth >= 0, f"max_depth must be >= 0, got {self.max_depth}")
        require(
            self.max_depth_increase >= 0,
            f"max_depth_increase must be >= 0, got {self.max_depth_increase}",
        )
        require(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        require(
            self.temperature_decay > 0,
            f"temperature_decay must be > 0, got {self.temperature_decay}",
        )
        require_choice(
            self.sampling_strategy, "sampling_strategy", SAMPLING_STRATEGIES, allow_callable=False
        )
        resolve(self.reward_aggregator, option="reward_aggregator", allowed=AGGREGATORS)

    def __call__(
        self, world_model: Any, search_config: Any, *, seed: int | None = None
    ) -> BeamSearchResult:
        run = _BeamRun(self, world_model, search_config, self.seed if seed is None else seed)
        return run.search()


@dataclass(frozen=True, kw_only=True)
class Greedy(BeamSearch):
    """Beam search with a beam of one: take the best-scoring action at every level."""

    beam_size: int = field(default=1, init=False)
    sampling_strategy: str = field(default="argmax", init=False)


class _BeamRun:
    """The state of one beam search call."""

    def __init__(self, algo: BeamSearch, world: Any, config: Any, seed: int) -> None:
        self.algo = algo
        self.world = world
        self.config = config
        self.rng = np.random.default_rng(seed)
        self.aggregate = resolve(
            algo.reward_aggregator, option="reward_aggregator", allowed=AGGREGATORS
        )
        self.ids = itertools.count()
        self.expansions = 0  # states whose actions were asked for
        self.evaluated = 0  # states stepped and scored
        # A path's value, kept per node id: a running sum for the named aggregators, the list
        # of rewards from the root for a callable one.
        spec = algo.reward_aggregator
        self.mode = spec if isinstance(spec, str) else None
        self.path_rewards: dict[int, list[float]] = {}
        self.path_sums: dict[int, float] = {}
        dedup = algo.action_dedup
        self.dedup_key: Callable[[Any], Hashable] | None = (
            dedup if callable(dedup) else (_dedup_key if dedup else None)
        )

    def search(self) -> BeamSearchResult:
        algo = self.algo
        root = SearchNode(next(self.ids), state=self.world.init_state())
        root.reward, root.reward_details = frontier.root_reward(self.config, root.state)
        root.is_terminal = frontier.is_terminal(self.world, root.state)
        root.cum_reward = 0.0
        self.path_rewards[root.id], self.path_sums[root.id] = [], 0.0
        limit, increase, level = algo.max_depth, 0, 0
        beam, finished = [root], []
        reason = "depth"
        while beam:
            open_nodes = []
            for node in beam:
                (finished if algo.early_terminate and node.is_terminal else open_nodes).append(node)
            if increase < algo.max_depth_increase and any(
                frontier.extends_depth(self.config, n.state) for n in open_nodes
            ):
                limit, increase = limit + 1, increase + 1
            active = [n for n in open_nodes if n.depth < limit]
            at_limit = [n for n in open_nodes if n.depth >= limit]
            finished.extend(at_limit)
            if not active:
                reason = "depth" if at_limit else "terminal"
                break
            children = self._expand(active, finished)
            if algo.reject_min_reward is not None:
                children = [c for c in children if c.cum_reward >= algo.reject_min_reward]
            if not children:
                finished.extend(active)
                reason = "no_actions"
                break
            beam = self._select(children, level)
            for node in beam:
                node.is_terminal = frontier.is_terminal(self.world, node.state)
            level += 1
            stop = frontier.stop_requested(self.world)
            if stop is not None:  # the search ends with the level it has just evaluated
                finished.extend(beam)
                reason = stop
                break
        finished.sort(key=lambda n: -n.cum_reward)
        best = finished[0]
        return BeamSearchResult(
            algorithm=type(algo).__name__,
            settings=settings_of(algo),
            tree=root,
            terminal_node=best,
            cum_reward=float(best.cum_reward),
            beam=tuple(finished),
            depth_increase=increase,
            stop_reason=reason,
            expansions=self.expansions,
            evaluated=self.evaluated,
        )

    def _expand(self, active: list[SearchNode], finished: list[SearchNode]) -> list[SearchNode]:
        """Expand a whole level in one call per method; return the new children.

        Terminality is asked only of the children that `search` keeps in the beam.
        """
        action_lists = frontier.get_actions_many(self.config, [n.state for n in active])
        self.expansions += len(active)
        parents: list[SearchNode] = []
        pairs: list[tuple[Any, Any]] = []
        key, seen = self.dedup_key, set()
        for node, actions in zip(active, action_lists):
            if not actions:
                finished.append(node)  # a dead end still ends a path
                continue
            for action in actions:
                if key is not None:
                    if key(action) in seen:
                        continue
                    seen.add(key(action))
                parents.append(node)
                pairs.append((node.state, action))
        fast = frontier.fast_reward_many(self.config, pairs)
        steps = frontier.step_many(self.world, pairs)
        self.evaluated += len(pairs)
        kwargs = frontier.reward_kwargs
        scored = frontier.reward_many(
            self.config,
            [
                (s, a, kwargs(aux, fd) if fd else aux)
                for (s, a), (_, aux), (_, fd) in zip(pairs, steps, fast)
            ],
        )
        ids, mode = self.ids, self.mode
        children = []
        for parent, (_, action), (next_state, _), (f, fd), (r, rd) in zip(
            parents, pairs, steps, fast, scored
        ):
            child = SearchNode(next(ids), parent, action, next_state, r, rd, f, fd)
            child.is_terminal = None  # not asked yet: only kept nodes are
            if mode == "last":
                child.cum_reward = r
            elif mode is None:
                rewards = self.path_rewards[parent.id] + [r]
                self.path_rewards[child.id] = rewards
                child.cum_reward = float(self.aggregate(rewards))
            else:
                total = self.path_sums[parent.id] + r
                self.path_sums[child.id] = total
                child.cum_reward = total if mode == "sum" else total / child.depth
            children.append(child)
        return children

    def _select(self, candidates: Sequence[SearchNode], level: int) -> list[SearchNode]:
        algo = self.algo
        k = min(algo.beam_size, len(candidates))
        if algo.sampling_strategy == "argmax":
            return sorted(candidates, key=lambda n: -n.cum_reward)[:k]
        # Sampling k without replacement from softmax(value / T), by the Gumbel-top-k trick:
        # exact, and free of the underflow that a cold temperature causes in explicit weights.
        temperature = algo.temperature * algo.temperature_decay**level
        logits = np.array([n.cum_reward for n in candidates], dtype=float) / temperature
        keys = logits + self.rng.gumbel(size=len(candidates))
        picked = np.argsort(-keys, kind="stable")[:k]
        return sorted((candidates[i] for i in picked), key=lambda n: -n.cum_reward)
