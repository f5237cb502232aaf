"""Monte Carlo tree search with UCT, in llm-reasoners' form; its variants (PromptAgent's) are
rules handed to it (`MCTSRules`), not branches inside it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Union

import numpy as np

from search._settings import require, require_choice, settings_of
from search.node import SearchNode
from search.reducers import ReducerSpec, resolve
from search.result import MCTSIteration, MCTSResult
from world_model import Scored, SearchAlgorithm, frontier

SimulateSpec = Union[str, Callable[[Sequence[float]], int]]

SIMULATE_STRATEGIES = ("max", "sample", "random")
OUTPUT_STRATEGIES = (
    "max_reward",
    "follow_max",
    "max_visit",
    "max_iter",
    "last_iter",
    "last_terminal_iter",
)
CUM_REWARDS = ("sum", "mean", "last", "max")
Q_ESTIMATES = ("mean", "max")


class MCTSContext(Protocol):
    """What a variant's rules may read and use during one MCTS call (the call's own state)."""

    algo: MCTS
    world: Any
    config: Any
    root_reward: float  # the root's reward
    best_reward: float  # the best reward a rollout has passed so far (rules may raise it)

    def finished(self, node: SearchNode) -> bool:
        """Whether `node` ends a path: terminal, at the depth limit, or ended by the rules."""

    def new_child(self, parent: SearchNode, action: Any, fast: Scored) -> SearchNode:
        """A child of `parent` proposed with its fast reward, not stepped yet."""

    def step_and_score(
        self, parent: SearchNode, actions: Sequence[Any], fast: Sequence[Scored]
    ) -> list[SearchNode]:
        """Children of `parent`, each stepped and scored, as one frontier."""

    def path_by_strategy(
        self, root: SearchNode, iterations: Sequence[MCTSIteration]
    ) -> tuple[SearchNode, ...]:
        """The answer's path by the algorithm's `output_strategy`."""


@dataclass(frozen=True, kw_only=True)
class MCTSRules:
    """The rules of an MCTS variant, handed to `MCTS` as ``rules``: how it selects a child,
    expands a node, ends a path, runs a rollout and picks its answer. These are llm-reasoners'
    UCT rules; a variant (``search.mcts_variants.PromptAgentRules``) overrides some of them,
    the search loop stays the same for every variant.
    """

    name: str = field(default="uct", init=False)

    def select(self, ctx: MCTSContext, node: SearchNode) -> SearchNode:
        """Selection: the child of `node` to descend to (UCT over log N_parent)."""
        return uct_child(node, w_exp=ctx.algo.w_exp,
                         unvisited_first=not ctx.algo.uct_with_fast_reward)  # fmt: skip

    def expand(
        self, ctx: MCTSContext, node: SearchNode, actions: Sequence[Any], fast: Sequence[Scored]
    ) -> None:
        """Expansion: give `node` its children (proposed with their fast rewards; each is
        stepped and scored when a search first reaches it)."""
        for action, scored in zip(actions, fast):
            ctx.new_child(node, action, scored)

    def ends_path(self, ctx: MCTSContext, node: SearchNode) -> bool:
        """Terminal rule: whether `node` ends its path although the world does not say so and
        it is above the depth limit (never, here)."""
        return False

    def on_finished(self, ctx: MCTSContext, node: SearchNode) -> None:
        """Called when a search reaches a finished `node` (nothing, here)."""

    def stops_rollout(self, ctx: MCTSContext, node: SearchNode) -> bool:
        """Whether a rollout that reached `node` stops there (never, here: it runs on to a
        finished node)."""
        return False

    def rollout_values(self, children: Sequence[SearchNode]) -> list[float]:
        """What a rollout's `simulate_strategy` picks a child by: their fast rewards."""
        return [c.fast_reward for c in children]

    def output(
        self, ctx: MCTSContext, root: SearchNode, iterations: Sequence[MCTSIteration]
    ) -> tuple[SearchNode, ...]:
        """Output: the path of the answer (by the algorithm's `output_strategy`)."""
        return ctx.path_by_strategy(root, iterations)

    #: None: `output` follows the algorithm's `output_strategy`; else the name of the rules'
    #: own pick, the one `output_strategy` they accept (and set when it is left unset).
    output_name: ClassVar[str | None] = None


UCT = MCTSRules()


def uct_child(
    node: SearchNode, *, w_exp: float, unvisited_first: bool, visit_offset: float = 0.0
) -> SearchNode:
    """UCT selection among `node`'s children: Q + w_exp * sqrt(ln(N_parent + visit_offset) /
    N_child). With `unvisited_first`, a child never expanded goes first, best fast reward
    first."""
    children = node.children
    unvisited = [c for c in children if not c.expanded] if unvisited_first else ()
    if unvisited:
        return max(unvisited, key=lambda c: c.fast_reward)
    parent_visits = node.visits + visit_offset
    log_parent = math.log(parent_visits) if parent_visits > 0 else 0.0
    return max(children, key=lambda c: c.Q + w_exp * math.sqrt(log_parent / max(1, c.visits)))


@dataclass(frozen=True, kw_only=True)
class MCTS(SearchAlgorithm):
    """MCTS: select by UCT, expand, simulate to the depth limit, back up the return.

    - ``w_exp``: exploration weight of UCT = Q + w_exp * sqrt(ln N_parent / N).
    - ``cum_reward``: the return of a path suffix from its step rewards (``"sum"``, ``"mean"``,
      ``"last"``, ``"max"`` or a callable); ``calc_q``: Q from a node's returns (``"mean"``,
      ``"max"`` or a callable).
    - ``simulate_strategy``: how a rollout picks among a node's children by their fast rewards
      (by what the rules' `rollout_values` give): ``"max"``, ``"sample"`` (softmax),
      ``"random"``, or a callable returning an index.
    - ``output_strategy``: ``"max_reward"`` (the finished path with the best return),
      ``"follow_max"`` (best reward child from the root down), ``"max_visit"`` (most visited
      child from the root down), ``"max_iter"`` / ``"last_iter"`` / ``"last_terminal_iter"``
      (an iteration's path); rules that pick the answer themselves name their own pick here
      (PromptAgent's ``"max_mean_path"``), and it is the only one they take.
    - ``uct_with_fast_reward``: score unvisited children by their fast reward inside UCT; if
      False, unvisited children are tried first, best fast reward first.
    - ``rules``: the variant's selection, expansion, terminal, rollout and output rules
      (`MCTSRules`: llm-reasoners' UCT; ``search.mcts_variants.PromptAgentRules``: PromptAgent's).

    The search stops after ``n_iters`` iterations (stop reason ``"depth"``), when the root
    ends every path (``"terminal"``, ``"no_actions"``), or as soon as the world asks it to
    (`stop_requested`: ``"budget"``, ``"interrupted"``) after a frontier; the iteration under
    way is then backed up as far as it got.

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
    rules: MCTSRules = UCT
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
        require(isinstance(self.rules, MCTSRules),
                f"rules must be an MCTSRules, got {type(self.rules).__name__}")  # fmt: skip
        own = self.rules.output_name
        if own is not None and self.output_strategy == "max_reward":  # the default: theirs
            object.__setattr__(self, "output_strategy", own)
        choices = OUTPUT_STRATEGIES if own is None else (own,)
        require_choice(self.output_strategy, "output_strategy", choices, allow_callable=False)

    @classmethod
    def for_promptagent(cls, **options: Any) -> MCTS:
        """MCTS with PromptAgent's rules (`search.mcts_variants.promptagent_mcts`)."""
        from search.mcts_variants import promptagent_mcts

        return promptagent_mcts(**options)

    def __call__(
        self, world_model: Any, search_config: Any, *, seed: int | None = None
    ) -> MCTSResult:
        run = _MCTSRun(self, world_model, search_config, self.seed if seed is None else seed)
        return run.search()


class _MCTSRun:
    """The state of one MCTS call (the `MCTSContext` its rules see)."""

    def __init__(self, algo: MCTS, world: Any, config: Any, seed: int) -> None:
        self.algo = algo
        self.world = world
        self.config = config
        self.rules = algo.rules
        self.rng = np.random.default_rng(seed)
        self.ids = itertools.count()
        self.cum = resolve(algo.cum_reward, option="cum_reward", allowed=CUM_REWARDS)
        self.q_mode = algo.calc_q if isinstance(algo.calc_q, str) else None
        self.calc_q = resolve(algo.calc_q, option="calc_q", allowed=Q_ESTIMATES)
        self.best_reward = -math.inf
        self.root_reward = 0.0
        self.stop: str | None = None  # the world's stop request, once made
        self.expansions = 0  # nodes whose actions were asked for
        self.evaluated = 0  # nodes stepped and scored (the root not counted)

    # ---- the search ----------------------------------------------------------------------
    def search(self) -> MCTSResult:
        state = self.world.init_state()
        reward, details = frontier.root_reward(self.config, state)
        root = SearchNode(next(self.ids), state=state, reward=reward, reward_details=details)
        root.is_terminal = frontier.is_terminal(self.world, state)
        self.root_reward = self.best_reward = reward
        iterations = []
        for _ in range(self.algo.n_iters):
            if self._stopped():
                break
            path = self._select(root)
            leaf = path[-1]
            if not leaf.expanded or not self._at_limit(leaf):
                self._expand(leaf)  # a leaf at the depth limit is still stepped and scored
                self._simulate(path)
            iterations.append(MCTSIteration(path=tuple(path), cum_reward=self._backup(path)))
        path = self.rules.output(self, root, iterations) if iterations else (root,)
        return MCTSResult(
            algorithm=type(self.algo).__name__,
            settings=settings_of(self.algo),
            tree=root,
            terminal_node=path[-1],
            cum_reward=self._path_value(path),
            iterations=tuple(iterations),
            stop_reason=self._stop_reason(root),
            expansions=self.expansions,
            evaluated=self.evaluated,
        )

    def _stopped(self) -> bool:
        if self.stop is None:
            self.stop = frontier.stop_requested(self.world)
        return self.stop is not None

    def _stop_reason(self, root: SearchNode) -> str:
        if self.stop is not None:
            return self.stop
        if root.is_terminal and not root.children:
            return "no_actions" if self.expansions else "terminal"
        return "depth"

    def _at_limit(self, node: SearchNode) -> bool:
        return node.is_terminal or node.depth >= self.algo.depth_limit

    def finished(self, node: SearchNode) -> bool:
        return self._at_limit(node) or self.rules.ends_path(self, node)

    def _select(self, node: SearchNode) -> list[SearchNode]:
        path = [node]
        while node.children and not self.finished(node):
            node = self.rules.select(self, node)
            path.append(node)
        return path

    def new_child(self, parent: SearchNode, action: Any, fast: Scored) -> SearchNode:
        f, fd = fast
        return SearchNode(next(self.ids), parent, action, None, 0.0, None, f, fd, False)

    def step_and_score(
        self, parent: SearchNode, actions: Sequence[Any], fast: Sequence[Scored]
    ) -> list[SearchNode]:
        pairs = [(parent.state, action) for action in actions]
        steps = frontier.step_many(self.world, pairs)
        requests = [
            (parent.state, action, frontier.reward_kwargs(aux, fd))
            for action, (_, aux), (_, fd) in zip(actions, steps, fast)
        ]
        scored = frontier.reward_many(self.config, requests)
        self.evaluated += len(actions)
        children = []
        for action, (state, _), (f, fd), (r, rd) in zip(actions, steps, fast, scored):
            child = SearchNode(next(self.ids), parent, action, state, r, rd, f, fd)
            child.is_terminal = frontier.is_terminal(self.world, state)
            children.append(child)
        return children

    def _expand(self, node: SearchNode) -> None:
        """Give `node` its state (if it has none yet) and, unless it is finished, its children."""
        if not node.expanded:
            parent = node.parent
            ((state, aux),) = frontier.step_many(self.world, [(parent.state, node.action)])
            kwargs = frontier.reward_kwargs(aux, node.fast_reward_details)
            ((reward, details),) = frontier.reward_many(
                self.config, [(parent.state, node.action, kwargs)]
            )
            self.evaluated += 1
            node.state, node.expanded = state, True
            node.reward, node.reward_details = reward, details
            node.is_terminal = frontier.is_terminal(self.world, state)
        if self.finished(node):
            self.rules.on_finished(self, node)
            return
        if node.children or self._stopped():
            return
        (actions,) = frontier.get_actions_many(self.config, [node.state])
        self.expansions += 1
        if not actions:
            node.is_terminal = True  # a dead end: never ask for its actions again
            return
        pairs = [(node.state, action) for action in actions]
        fast = frontier.fast_reward_many(self.config, pairs)
        self.rules.expand(self, node, actions, fast)

    def _simulate(self, path: list[SearchNode]) -> None:
        node = path[-1]
        while True:
            if self.rules.stops_rollout(self, node):
                return
            self._expand(node)
            if self.finished(node) or not node.children:
                return
            node = node.children[self._choose(self.rules.rollout_values(node.children))]
            if not node.expanded and self._stopped():
                return  # stepping it would be new work: the rollout ends with what is paid for
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

    def path_by_strategy(
        self, root: SearchNode, iterations: Sequence[MCTSIteration]
    ) -> tuple[SearchNode, ...]:
        strategy = self.algo.output_strategy
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
        finished_iters = [it for it in iterations if self.finished(it.path[-1])]
        if strategy == "last_iter":
            return iterations[-1].path
        if strategy == "last_terminal_iter":
            return (finished_iters or iterations)[-1].path
        if strategy == "max_iter":
            candidates = finished_iters or iterations
            return max(candidates, key=lambda it: it.cum_reward).path
        # max_reward: the finished path with the best return (any path if none finished).
        nodes = [n for n in root.iter_subtree() if n.expanded]
        finished = [n for n in nodes if self.finished(n)] or nodes
        best_path, best_value = None, -math.inf
        for node in finished:
            path = node.path()
            value = self._path_value(path)
            if best_path is None or value > best_value:
                best_path, best_value = path, value
        return best_path
