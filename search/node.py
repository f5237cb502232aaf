"""The one node type of every search tree."""

from __future__ import annotations

from typing import Any

from world_model import Trace


class SearchNode:
    """A node of a search tree: the state reached by taking `action` from the parent's state.

    The algorithms fill in what they know: every node has its `reward` (the score of the step
    that created it; the root's is the config's `root_reward`, never part of a path's value
    in beam search), beam search, greedy and
    best-of-N set `cum_reward` (the aggregated reward of the path from the root), MCTS sets
    `cum_rewards` (the returns backed up through the node) and `q`. An MCTS child that was
    proposed but never stepped has ``expanded == False`` and no state yet. `is_terminal` is
    None where the algorithm never needed to ask (beam search asks only of the nodes it keeps).
    """

    __slots__ = (
        "id",
        "depth",
        "parent",
        "children",
        "action",
        "state",
        "expanded",
        "reward",
        "reward_details",
        "fast_reward",
        "fast_reward_details",
        "is_terminal",
        "cum_reward",
        "cum_rewards",
        "q",
    )

    def __init__(
        self,
        node_id: int,
        parent: SearchNode | None = None,
        action: Any = None,
        state: Any = None,
        reward: float = 0.0,
        reward_details: dict[str, Any] | None = None,
        fast_reward: float = 0.0,
        fast_reward_details: dict[str, Any] | None = None,
        expanded: bool = True,
    ) -> None:
        # Positional parameters: the algorithms create nodes in their hot loops.
        self.id = node_id
        self.parent = parent
        self.children: list[SearchNode] = []
        self.action = action
        self.state = state
        self.expanded = expanded
        self.reward = reward
        self.reward_details = {} if reward_details is None else reward_details
        self.fast_reward = fast_reward
        self.fast_reward_details = {} if fast_reward_details is None else fast_reward_details
        self.is_terminal: bool | None = False
        self.cum_reward: float | None = None
        self.cum_rewards: list[float] | tuple[()] = ()  # a list from the first backup on
        self.q: float | None = None
        if parent is None:
            self.depth = 0
        else:
            self.depth = parent.depth + 1
            parent.children.append(self)

    @property
    def visits(self) -> int:
        """How many MCTS iterations passed through this node."""
        return len(self.cum_rewards)

    @property
    def Q(self) -> float:  # noqa: N802 - llm-reasoners' name
        """The value estimate: MCTS's Q once visited, else the best reward known so far."""
        if self.q is not None:
            return self.q
        return self.reward if self.expanded else self.fast_reward

    def path(self) -> tuple[SearchNode, ...]:
        """The nodes from the root to this node."""
        nodes = []
        node: SearchNode | None = self
        while node is not None:
            nodes.append(node)
            node = node.parent
        return tuple(reversed(nodes))

    def trace(self) -> Trace:
        """llm-reasoners' trace of the path to this node: (states, actions)."""
        nodes = self.path()
        return [n.state for n in nodes], [n.action for n in nodes[1:]]

    def iter_subtree(self) -> list[SearchNode]:
        """This node and all its descendants, parents before children, in id order per level."""
        out, stack = [], [self]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out

    def __repr__(self) -> str:
        return (
            f"SearchNode(id={self.id}, depth={self.depth}, reward={self.reward:.4g}, "
            f"visits={self.visits}, children={len(self.children)})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # Children are rebuilt from parent links on load, so that pickling a deep tree
        # recurses through parents only (see search.result.SearchResult.__reduce__).
        return {name: getattr(self, name) for name in self.__slots__ if name != "children"}

    def __setstate__(self, data: dict[str, Any]) -> None:
        for name, value in data.items():
            setattr(self, name, value)
        self.children = []
