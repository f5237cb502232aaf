"""Immutable search results, one shape for every algorithm (plus each algorithm's extras)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from search.node import SearchNode
from world_model import Trace


@dataclass(frozen=True)
class SearchResult:
    """What a search returns.

    `terminal_node` ends the chosen path (for a search that found no terminal state it is the
    best node reached, never None); the llm-reasoners names `terminal_state`, `trace`,
    `trace_of_nodes` and `tree_state` are derived from it and from `tree`.

    `stop_reason` says why the search stopped (one of `world_model.STOP_REASONS`: ``"depth"``,
    ``"budget"``, ``"terminal"``, ``"no_actions"``, ``"interrupted"``); `expansions` counts the
    nodes whose actions the search asked for and `evaluated` the states it stepped and scored
    (the root not counted): what the search's calls bought.
    """

    algorithm: str
    settings: Mapping[str, Any]
    tree: SearchNode
    terminal_node: SearchNode
    cum_reward: float
    stop_reason: str = "depth"
    expansions: int = 0
    evaluated: int = 0

    @property
    def terminal_state(self) -> Any:
        return self.terminal_node.state

    @property
    def trace_of_nodes(self) -> list[SearchNode]:
        return list(self.terminal_node.path())

    @property
    def trace(self) -> Trace:
        return self.terminal_node.trace()

    @property
    def tree_state(self) -> SearchNode:
        """The root (llm-reasoners' name in MCTS results)."""
        return self.tree

    def nodes(self) -> list[SearchNode]:
        """Every node of the tree, parents before children."""
        return self.tree.iter_subtree()

    # Pickling: the nodes go first as one flat list, so that loading a deep tree never
    # recurses deeper than one node (see SearchNode.__getstate__).
    def __getstate__(self) -> dict[str, Any]:
        return {"_nodes": self.nodes(), **self.__dict__}

    def __setstate__(self, data: dict[str, Any]) -> None:
        data = dict(data)
        for node in data.pop("_nodes")[1:]:
            node.parent.children.append(node)
        for key, value in data.items():
            object.__setattr__(self, key, value)


@dataclass(frozen=True)
class BeamSearchResult(SearchResult):
    """Beam search's result: the best path, plus every finished path best first."""

    beam: tuple[SearchNode, ...] = ()
    depth_increase: int = 0

    @property
    def beam_results(self) -> list[SearchResult]:
        """Each finished path as a result of its own (llm-reasoners' ``return_beam``)."""
        return [
            SearchResult(self.algorithm, self.settings, self.tree, node, float(node.cum_reward),
                         self.stop_reason, self.expansions, self.evaluated)
            for node in self.beam
        ]


@dataclass(frozen=True)
class MCTSIteration:
    """One MCTS iteration: the path it selected and simulated, and the return it backed up."""

    path: tuple[SearchNode, ...]
    cum_reward: float

    @property
    def mean_reward(self) -> float:
        return sum(n.reward for n in self.path) / len(self.path)


@dataclass(frozen=True)
class MCTSResult(SearchResult):
    """MCTS's result, with the path of every iteration."""

    iterations: tuple[MCTSIteration, ...] = field(default=())

    @property
    def trace_in_each_iter(self) -> list[list[SearchNode]]:
        return [list(it.path) for it in self.iterations]
