"""Monte Carlo tree search with UCT, in llm-reasoners' form, plus PromptAgent's rules."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from search._settings import require, require_choice, settings_of
from search.node import SearchNode
from search.reducers import ReducerSpec, resolve
from search.result import MCTSIteration, MCTSResult
from world_model import SearchAlgorithm, frontier

SimulateSpec = Union[str, Callable[[Sequence[float]], int]]

SIMULATE_STRATEGIES = ("max", "sample", "random")
OUTPUT_STRATEGIES = (
    "max_reward",
    "follow_max",
    "max_visit",
    "max_iter",
    "last_iter",
    "last_terminal_iter",
    "max_mean_path",
)
CUM_REWARDS = ("sum", "mean", "last", "max")
Q_ESTIMATES = ("mean", "max")


@dataclass(frozen=True, kw_only=True)
class PromptAgentRules:
    """PromptAgent's changes to MCTS (Wang et al., ICLR 2024).

    - The root is scored (`root_reward`) and every child is stepped and scored when its parent
      is expanded (one frontier call for all of them); simulation follows the best reward.
    - A simulation stops early at a node deeper than `min_depth` whose reward beats the best
      reward seen so far; a node deeper than `min_depth` whose reward falls below the mean of
      the root's reward and its parent's reward is terminal.
    - UCT uses log(N_parent + 1).
    - With ``output_strategy="max_mean_path"``, the answer is the best node on the iteration
      path with the highest mean reward.
    """

    min_depth: int = 2

    def __post_init__(self) -> None:
        require(self.min_depth >= 0, f"min_depth must be >= 0, got {self.min_depth}")


@dataclass(frozen=True, kw_only=True)
class MCTS(SearchAlgorithm):
    """MCTS: select by UCT, expand, simulate to the depth limit, back up the return.

    - ``w_exp``: exploration weight of UCT = Q + w_exp * sqrt(ln N_parent / N).
    - ``cum_reward``: the return of a path suffix from its step rewards (``"sum"``, ``"mean"``,
      ``"last"``, ``"max"`` or a callable); ``calc_q``: Q from a node's returns (``"mean"``,
      ``"max"`` or a callable).
    - ``simulate_strategy``: how a rollout picks among a node's children by their fast rewards
      (by their rewards under PromptAgent rules): ``"max"``, ``"sample"`` (softmax),
      ``"random"``, or a callable returning an index.
    - ``output_strategy``: ``"max_reward"`` (the finished path with the best return),
      ``"follow_max"`` (best reward child from the root down), ``"max_visit"`` (most visited
      child from the root down), ``"max_iter"`` / ``"last_iter"`` / ``"last_terminal_iter"``
      (an iteration's path), ``"max_mean_path"`` (PromptAgent's pick).
    - ``uct_with_fast_reward``: score unvisited children by their fast reward inside UCT; if
      False, unvisited children are tried first, best fast reward first.

    Two departures from llm-reasoners 1.0.2, both to spend LLM calls only where they count:
    a node at ``depth_limit`` is never given children (its actions are never asked for) and
    counts as finished for the output strategies whether or not the world calls it terminal;
    and a leaf that selection reaches at the depth limit is stepped and scored by `reward`
    (llm-reasoners backs up its fast reward instead and never steps it).
    """

    n_iters: int = 10
    depth_limit: int = 5
    w_exp: float = 1.0
    cum_reward: ReducerSpec = "sum"
    calc_q: ReducerSpec = "mean"
    simulate_strategy: SimulateSpec = "max"
    output_strategy: str = "max_reward"
    uct_with_fast_reward: bool = True
    promptagent: PromptAgentRules | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.n_iters >= 1, f"n_iters must be >= 1, got {self.n_iters}")
        require(self.depth_limit >= 0, f"depth_limit must be >= 0, got {self.depth_limit}")
        require(self.w_exp >= 0, f"w_exp must be >= 0, got {self.w_exp}")
        resolve(self.cum_reward, option="cum_reward", allowed=CUM_REWARDS)
        resolve(self.calc_q, option="calc_q", allowed=Q_ESTIMATES)
        require_choice(
            self.simulate_strategy, "simulate_strategy", SIMULATE_STRATEGIES, allow_callable=True
        )
        require_choice(
            self.output_strategy, "output_strategy", OUTPUT_STRATEGIES, allow_callable=False
        )

    @classmethod
    def for_promptagent(
        cls,
        *,
        n_iters: int = 12,
        depth_limit: int = 8,
        w_exp: float = 2.5,
        min_depth: int = 2,
        seed: int = 0,
    ) -> MCTS:
        """MCTS with PromptAgent's rules and the paper's defaults."""
        return cls(
            n_iters=n_iters,
            depth_limit=depth_limit,
            w_exp=w_exp,
            output_strategy="max_mean_path",
            promptagent=PromptAgentRules(min_depth=min_depth),
            seed=seed,
        )

    def __call__(
        self, world_model: Any, search_config: Any, *, seed: int | None = None
    ) -> MCTSResult:
        run = _MCTSRun(self, world_model, search_config, self.seed if seed is None else seed)
        return run.search()


class _MCTSRun:
    """The state of one MCTS call."""

    def __init__(self, algo: MCTS, world: Any, config: Any, seed: int) -> None:
        self.algo = algo
        self.world = world
        self.config = config
        self.rules = algo.promptagent
        self.rng = np.random.default_rng(seed)
        self.ids = itertools.count()
        self.cum = resolve(algo.cum_reward, option="cum_reward", allowed=CUM_REWARDS)
        self.q_mode = algo.calc_q if isinstance(algo.calc_q, str) else None
        self.calc_q = resolve(algo.calc_q, option="calc_q", allowed=Q_ESTIMATES)
        self.uct_offset = 1.0 if self.rules else 0.0
        self.best_reward = -math.inf  # PromptAgent: the best reward seen so far
        self.root_reward = 0.0  # PromptAgent: the root's reward, the base of the min threshold

    # ---- the search ----------------------------------------------------------------------
    def search(self) -> MCTSResult:
        state = self.world.init_state()
        reward, details = frontier.root_reward(self.config, state)
        root = SearchNode(next(self.ids), state=state, reward=reward, reward_details=details)
        root.is_terminal = frontier.is_terminal(self.world, state)
        self.root_reward = self.best_reward = reward
        iterations = []
        for _ in range(self.algo.n_iters):
            path = self._select(root)
            leaf = path[-1]
            if not leaf.expanded or not self._at_limit(leaf):
                self._expand(leaf)  # a leaf at the depth limit is still stepped and scored
                self._simulate(path)
            iterations.append(MCTSIteration(path=tuple(path), cum_reward=self._backup(path)))
        path = self._output_path(root, iterations)
        return MCTSResult(
            algorithm=type(self.algo).__name__,
            settings=settings_of(self.algo),
            tree=root,
            terminal_node=path[-1],
            cum_reward=self._path_value(path),
            iterations=tuple(iterations),
        )

    def _at_limit(self, node: SearchNode) -> bool:
        return node.is_terminal or node.depth >= self.algo.depth_limit

    def _below_threshold(self, node: SearchNode) -> bool:
        """PromptAgent: a deep node scoring below mean(root reward, parent reward) ends a path."""
        if node.depth <= self.rules.min_depth:
            return False
        parent_reward = node.parent.reward if node.parent is not None else self.root_reward
        return node.reward < (self.root_reward + parent_reward) / 2

    def _finished(self, node: SearchNode) -> bool:
        if self._at_limit(node):
            return True
        return self.rules is not None and self._below_threshold(node)

    def _uct(self, node: SearchNode, log_parent: float) -> float:
        return node.Q + self.algo.w_exp * math.sqrt(log_parent / max(1, node.visits))

    def _select(self, node: SearchNode) -> list[SearchNode]:
        path = [node]
        while node.children and not self._finished(node):
            children = node.children
            unvisited = (
                () if self.algo.uct_with_fast_reward else [c for c in children if not c.expanded]
            )
            if unvisited:
                node = max(unvisited, key=lambda c: c.fast_reward)
            else:
                parent_visits = node.visits + self.uct_offset
                log_parent = math.log(parent_visits) if parent_visits > 0 else 0.0
                node = max(children, key=lambda c: self._uct(c, log_parent))
            path.append(node)
        return path

    def _expand(self, node: SearchNode) -> None:
        """Give `node` its state (if it has none yet) and, unless it is finished, its children."""
        if not node.expanded:
            parent = node.parent
            ((state, aux),) = frontier.step_many(self.world, [(parent.state, node.action)])
            kwargs = frontier.reward_kwargs(aux, node.fast_reward_details)
            ((reward, details),) = frontier.reward_many(
                self.config, [(parent.state, node.action, kwargs)]
            )
            node.state, node.expanded = state, True
            node.reward, node.reward_details = reward, details
            node.is_terminal = frontier.is_terminal(self.world, state)
        if self._finished(node):
            if self.rules is not None:
                node.is_terminal = True
            return
        if node.children:
            return
        # Asked again before new work: a world may end every path once a budget is spent.
        if frontier.is_terminal(self.world, node.state):
            node.is_terminal = True
            return
        (actions,) = frontier.get_actions_many(self.config, [node.state])
        if not actions:
            node.is_terminal = True  # a dead end: never ask for its actions again
            return
        pairs = [(node.state, action) for action in actions]
        fast = frontier.fast_reward_many(self.config, pairs)
        if self.rules is None:
            for action, (f, fd) in zip(actions, fast):
                SearchNode(next(self.ids), node, action, None, 0.0, None, f, fd, False)
            return
        # PromptAgent: step and score every child now, as one frontier.
        steps = frontier.step_many(self.world, pairs)
        requests = [
            (node.state, action, frontier.reward_kwargs(aux, fd))
            for action, (_, aux), (_, fd) in zip(actions, steps, fast)
        ]
        scored = frontier.reward_many(self.config, requests)
        for action, (state, _), (f, fd), (r, rd) in zip(actions, steps, fast, scored):
            child = SearchNode(next(self.ids), node, action, state, r, rd, f, fd)
            child.is_terminal = frontier.is_terminal(self.world, state) or self._finished(child)

    def _simulate(self, path: list[SearchNode]) -> None:
        node = path[-1]
        while True:
            if self.rules is not None:
                if node.depth > self.rules.min_depth and node.reward > self.best_reward:
                    self.best_reward = node.reward  # early stop: a new best ends the rollout
                    node.is_terminal = node.is_terminal or self._finished(node)
                    return
                self.best_reward = max(self.best_reward, node.reward)
            self._expand(node)
            if self._finished(node) or not node.children:
                return
            values = [c.reward if self.rules else c.fast_reward for c in node.children]
            node = node.children[self._choose(values)]
            path.append(node)

    def _choose(self, values: list[float]) -> int:
        strategy = self.algo.simulate_strategy
        if strategy == "max":
            return max(range(len(values)), key=values.__getitem__)
        if strategy == "random":
            return int(self.rng.integers(len(values)))
        if strategy == "sample":
            logits = np.asarray(values, dtype=float)
            weights = np.exp(logits - logits.max())
            return int(self.rng.choice(len(values), p=weights / weights.sum()))
        index = strategy(values)
        if not (isinstance(index, (int, np.integer)) and 0 <= index < len(values)):
            raise ValueError(
                f"simulate_strategy returned {index!r}; it must return an index below {len(values)}"
            )
        return int(index)

    def _backup(self, path: list[SearchNode]) -> float:
        rewards: list[float] = []
        value = -math.inf
        for node in reversed(path):
            rewards.append(node.reward)
            value = float(self.cum(rewards[::-1]))
            if node.cum_rewards:
                node.cum_rewards.append(value)
            else:
                node.cum_rewards = [value]
            n = len(node.cum_rewards)
            if self.q_mode == "mean":
                node.q = value if n == 1 else node.q + (value - node.q) / n
            elif self.q_mode == "max":
                node.q = value if n == 1 else max(node.q, value)
            else:
                node.q = float(self.calc_q(node.cum_rewards))
        return value

    # ---- the answer ----------------------------------------------------------------------
    def _path_value(self, path: Sequence[SearchNode]) -> float:
        if len(path) == 1:
            return float(path[0].reward)
        return float(self.cum([n.reward for n in path[1:]]))

    def _output_path(
        self, root: SearchNode, iterations: list[MCTSIteration]
    ) -> tuple[SearchNode, ...]:
        strategy = self.algo.output_strategy
        if strategy == "max_mean_path":
            best_iter = max(iterations, key=lambda it: it.mean_reward)
            best_node = max(best_iter.path, key=lambda n: n.reward)
            return best_node.path()
        if strategy in ("follow_max", "max_visit"):
            node = root
            while True:
                children = [c for c in node.children if c.expanded]
                if node.is_terminal or not children:
                    return node.path()
                if strategy == "follow_max":
                    node = max(children, key=lambda c: c.reward)
                else:
                    node = max(children, key=lambda c: (c.visits, c.Q))
        finished_iters = [it for it in iterations if self._finished(it.path[-1])]
        if strategy == "last_iter":
            return iterations[-1].path
        if strategy == "last_terminal_iter":
            return (finished_iters or iterations)[-1].path
        if strategy == "max_iter":
            candidates = finished_iters or iterations
            return max(candidates, key=lambda it: it.cum_reward).path
        # max_reward: the finished path with the best return (any path if none finished).
        nodes = [n for n in root.iter_subtree() if n.expanded]
        finished = [n for n in nodes if self._finished(n)] or nodes
        best_path, best_value = None, -math.inf
        for node in finished:
            path = node.path()
            value = self._path_value(path)
            if best_path is None or value > best_value:
                best_path, best_value = path, value
        return best_path
