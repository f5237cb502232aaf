"""trace.txt: the best path, step by step with rewards, for a person to read."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from search.tree_json import NodeRecord, TreeRecord


def _block(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)
    return textwrap.indent(text if text else "(empty)", "    ")


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else str(value)


def _step(index: int, node: NodeRecord) -> list[str]:
    head = f"Step {index} (node {node.id}, depth {node.depth})"
    if node.parent is None:
        head += f"  root reward {_number(node.reward)}"
    else:
        head += f"  reward {_number(node.reward)}"
    if node.cum_reward is not None:
        head += f"  path value {_number(node.cum_reward)}"
    if node.visits:
        head += f"  visits {node.visits}  Q {_number(node.q)}"
    lines = [head]
    if node.parent is not None:
        lines += ["  action:", _block(node.action)]
    lines += ["  state:", _block(node.state)]
    if node.reward_details:
        lines += ["  reward details:", _block(node.reward_details)]
    return lines


def render_trace(record: TreeRecord) -> str:
    """The best path of a search as plain text."""
    nodes = record.best_nodes()
    settings = ", ".join(f"{k}={v}" for k, v in dict(record.settings).items())
    lines = [
        f"{record.algorithm}: best path of {len(nodes) - 1} step(s), "
        f"value {_number(record.cum_reward)}, {len(record.nodes)} node(s) in the tree",
        f"settings: {settings}",
    ]
    lines += [f"{key}: {value}" for key, value in dict(record.meta).items()]
    rewards = " -> ".join(_number(n.reward) for n in nodes[1:]) or "(no steps)"
    lines += [f"rewards along the path: {rewards}", ""]
    for index, node in enumerate(nodes):
        lines += _step(index, node) + [""]
    return "\n".join(lines)
