"""Named MCTS variants: rules handed to `search.MCTS` (`MCTSRules`), and their constructors.

PromptAgent's rules (Wang et al., ICLR 2024) read only the rewards on the tree, so they are
generic: any world whose rewards are scores of whole states (a prompt's accuracy) can use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from search._settings import require
from search.mcts import MCTS, MCTSContext, MCTSRules, uct_child
from search.node import SearchNode
from search.result import MCTSIteration
from world_model import Scored


@dataclass(frozen=True, kw_only=True)
class PromptAgentRules(MCTSRules):
    """PromptAgent's MCTS rules.

    - Selection: UCT over log(N_parent + 1).
    - Expansion: every child is stepped and scored when its parent is expanded (one frontier
      for all of them; the root is scored by the config's `root_reward`), and a rollout
      follows the children's rewards.
    - Terminal: a node deeper than `min_depth` whose reward falls below the mean of the root's
      reward and its parent's reward ends its path (and is marked terminal, as is every node
      that ends a path); a rollout stops early at a node deeper than `min_depth` whose reward
      beats the best reward seen so far.
    - Output: the best node on the iteration path with the highest mean reward.
    """

    name: str = field(default="promptagent", init=False)
    min_depth: int = 2
    output_name: ClassVar[str | None] = "max_mean_path"

    def __post_init__(self) -> None:
        require(self.min_depth >= 0, f"min_depth must be >= 0, got {self.min_depth}")

    def select(self, ctx: MCTSContext, node: SearchNode) -> SearchNode:
        return uct_child(node, w_exp=ctx.algo.w_exp,
                         unvisited_first=not ctx.algo.uct_with_fast_reward,
                         visit_offset=1.0)  # fmt: skip

    def expand(
        self, ctx: MCTSContext, node: SearchNode, actions: Sequence[Any], fast: Sequence[Scored]
    ) -> None:
        for child in ctx.step_and_score(node, actions, fast):
            child.is_terminal = child.is_terminal or ctx.finished(child)

    def ends_path(self, ctx: MCTSContext, node: SearchNode) -> bool:
        if node.depth <= self.min_depth:
            return False
        parent_reward = node.parent.reward if node.parent is not None else ctx.root_reward
        return node.reward < (ctx.root_reward + parent_reward) / 2

    def on_finished(self, ctx: MCTSContext, node: SearchNode) -> None:
        node.is_terminal = True

    def stops_rollout(self, ctx: MCTSContext, node: SearchNode) -> bool:
        if node.depth > self.min_depth and node.reward > ctx.best_reward:
            ctx.best_reward = node.reward  # a new best ends the rollout
            node.is_terminal = node.is_terminal or ctx.finished(node)
            return True
        ctx.best_reward = max(ctx.best_reward, node.reward)
        return False

    def rollout_values(self, children: Sequence[SearchNode]) -> list[float]:
        return [c.reward for c in children]

    def output(
        self, ctx: MCTSContext, root: SearchNode, iterations: Sequence[MCTSIteration]
    ) -> tuple[SearchNode, ...]:
        best_iter = max(iterations, key=lambda it: it.mean_reward)
        return max(best_iter.path, key=lambda n: n.reward).path()


def promptagent_mcts(
    *,
    n_iters: int = 12,
    depth_limit: int = 5,
    w_exp: float = 2.5,
    min_depth: int = 2,
    seed: int = 0,
) -> MCTS:
    """MCTS with PromptAgent's rules and the settings PromptAgent runs with."""
    return MCTS(n_iters=n_iters, depth_limit=depth_limit, w_exp=w_exp,
                rules=PromptAgentRules(min_depth=min_depth), seed=seed)  # fmt: skip
