"""The tree as llm-reasoners' TreeLog JSON, so that it also opens in their visualiser."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from search.tree_json import TreeRecord


def _node_data(state: Any) -> dict[str, Any]:
    if isinstance(state, Mapping):
        return dict(state)
    if isinstance(state, list):
        return {str(i): v for i, v in enumerate(state)}
    return {} if state is None else {"state": state}


def tree_log(record: TreeRecord) -> dict[str, Any]:
    """``{"logs": [snapshot]}``: one snapshot of the final tree, the best path's edges
    selected (elsewhere the edge with the highest Q, else reward, as their viewer does)."""
    best = list(record.best_path)
    on_best = {best[i]: best[i + 1] for i in range(len(best) - 1)}
    nodes: dict[str, Any] = {}
    edges: dict[str, Any] = {}
    out_edges: dict[int, list[tuple[int, int]]] = {}
    for node in record.nodes:
        nodes[str(node.id)] = {"id": node.id, "data": _node_data(node.state), "selected_edge": None}
        if node.parent is None:
            continue
        details = node.reward_details if isinstance(node.reward_details, Mapping) else {}
        data = {"reward": node.reward, "action": node.action, **details}
        if node.q is not None:
            data["Q"] = node.q
        edge_id = len(edges)
        edges[str(edge_id)] = {
            "id": edge_id,
            "source": node.parent,
            "target": node.id,
            "data": data,
        }
        out_edges.setdefault(node.parent, []).append((edge_id, node.id))
    for parent, outs in out_edges.items():
        chosen = [e for e, target in outs if on_best.get(parent) == target]
        if not chosen:

            def score(edge: tuple[int, int]) -> float:
                data = edges[str(edge[0])]["data"]
                value = data.get("Q", data.get("reward"))
                return value if isinstance(value, (int, float)) else float("-inf")

            chosen = [max(outs, key=score)[0]]
        nodes[str(parent)]["selected_edge"] = chosen[0]
    return {"logs": [{"nodes": nodes, "edges": edges}]}
