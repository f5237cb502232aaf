"""The data of the tree page, computed from a run's output.json with no browser involved:
node positions, what each node's details panel shows, prompt diffs, and the chart series."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from drpo.text_diff import word_diff
from search.tree_json import NodeRecord, TreeRecord

PROMPT_KEYS = ("system_prompt", "prompt", "task_prompt")
#: State fields that get their own place in the details panel (the rest are listed as is).
KNOWN_FIELDS = ("query", "output", "aspects", "scores", "rationales", "error", "reward")


def prompt_of(state: Any) -> str:
    """The prompt a state stands for: a known key of a dict, a string, or words joined."""
    if isinstance(state, Mapping):
        for key in PROMPT_KEYS:
            if isinstance(state.get(key), str):
                return state[key]
    if isinstance(state, str):
        return state
    if isinstance(state, list) and all(isinstance(x, str) for x in state):
        return " ".join(state)
    return json.dumps(state, ensure_ascii=False)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def layout(record: TreeRecord) -> dict[int, tuple[float, int]]:
    """(x, depth) per node, a tidy tree: children in order, a parent above its children's
    middle, each subtree as close to its left siblings' as the nodes it has at each depth
    allow (at least 1 apart), so that a deep path with short side branches stays narrow.
    Computed without recursion, so deep trees are fine."""
    children: dict[int, list[int]] = {n.id: [] for n in record.nodes}
    for node in record.nodes:
        if node.parent is not None:
            children[node.parent].append(node.id)
    depth = {n.id: n.depth for n in record.nodes}
    root = next(n.id for n in record.nodes if n.parent is None)
    order, stack = [], [root]
    while stack:  # parents before children, children in order
        node = stack.pop()
        order.append(node)
        stack.extend(reversed(children[node]))
    # A subtree's contour: per depth, its leftmost and rightmost x, relative to its root,
    # stored as (table, offset) with the true values table[d] + offset, so that moving a
    # whole contour is one addition.
    contour: dict[int, tuple[dict[int, list[float]], float]] = {}
    rel: dict[int, float] = {}  # x relative to the parent
    for node in reversed(order):  # children first
        kids = children[node]
        if not kids:
            contour[node] = ({depth[node]: [0.0, 0.0]}, 0.0)
            continue
        table, off = contour.pop(kids[0])
        places = [0.0]
        for kid in kids[1:]:
            other, other_off = contour.pop(kid)
            shift = max(table[d][1] + off - (lo + other_off) + 1.0
                        for d, (lo, _) in other.items() if d in table)  # fmt: skip
            places.append(shift)
            for d, (lo, hi) in other.items():
                lo, hi = lo + other_off + shift - off, hi + other_off + shift - off
                if d in table:
                    table[d] = [min(table[d][0], lo), max(table[d][1], hi)]
                else:
                    table[d] = [lo, hi]
        middle = (places[0] + places[-1]) / 2
        for kid, place in zip(kids, places):
            rel[kid] = place - middle
        off -= middle
        table[depth[node]] = [-off, -off]
        contour[node] = (table, off)
    parent = {n.id: n.parent for n in record.nodes}
    x = {root: 0.0}
    for node in order[1:]:  # parents before children
        x[node] = x[parent[node]] + rel[node]
    left = min(x.values())
    return {node: (x[node] - left, depth[node]) for node in order}


def _detail(details: Any, key: str) -> Any:
    return details.get(key) if isinstance(details, Mapping) else None


def _details(node: NodeRecord, parent: NodeRecord | None) -> dict[str, Any]:
    state = node.state if isinstance(node.state, Mapping) else {}
    prompt = prompt_of(node.state)
    details: dict[str, Any] = {
        "id": node.id,
        "depth": node.depth,
        "reward": node.reward,
        "q": node.q,
        "visits": node.visits,
        "path_value": node.cum_reward,
        "terminal": node.is_terminal,
        "prompt": prompt,
        "action": node.action if isinstance(node.action, str) else json.dumps(node.action),
        "query": state.get("query"),
        "output": state.get("output"),
        "aspects": state.get("aspects") or [],
        "scores": state.get("scores") or {},
        "rationales": state.get("rationales") or {},
        "error": state.get("error") or _detail(node.reward_details, "error"),
        "other": {
            str(k): v
            for k, v in (state.items() if state else [])
            if k not in KNOWN_FIELDS and k not in PROMPT_KEYS
        },
        "reward_details": node.reward_details,
        "diff": word_diff(prompt_of(parent.state), prompt) if parent is not None else [],
    }
    if details["diff"] and all(op == "same" for op, _ in details["diff"]):
        details["diff"], details["unchanged"] = [], True  # the same prompt as the parent's
    if not node.expanded:
        details["prompt"] = ""
        details["unexpanded"] = True
    return details


def page_data(record: TreeRecord) -> dict[str, Any]:
    """Everything the page shows, as JSON-friendly data."""
    by_id = {n.id: n for n in record.nodes}
    positions = layout(record)
    best = set(record.best_path)
    nodes = []
    for node in record.nodes:
        x, depth = positions[node.id]
        parent = by_id.get(node.parent) if node.parent is not None else None
        prompt = prompt_of(node.state) if node.expanded else ""
        nodes.append(
            {
                "id": node.id,
                "parent": node.parent,
                "x": x,
                "depth": depth,
                "best": node.id in best,
                "reward": _number(node.reward),
                "label": (prompt[:60] + "...") if len(prompt) > 60 else prompt,
                "details": _details(node, parent),
            }
        )
    return {
        "title": f"{record.algorithm} search tree",
        "algorithm": record.algorithm,
        "meta": record.meta,
        "settings": record.settings,
        "cum_reward": record.cum_reward,
        "value_note": value_note(record),
        "best_path": list(record.best_path),
        "nodes": nodes,
        "width": max((n["x"] for n in nodes), default=0) + 1,
        "height": max((n["depth"] for n in nodes), default=0) + 1,
        "series": series(record),
    }


#: What a node's reward is, by method (meta "method"), for the note on the path value.
REWARD_MEANING = {
    "drpo": "a judge score from 1 to 5",
    **dict.fromkeys(("promptagent", "gpo", "ape", "opro", "protegi"), "an eval accuracy"),
}
#: How a search makes a path's value from its nodes' rewards.
AGGREGATION = {
    "sum": "the sum of the rewards along the path",
    "mean": "the mean of the rewards along the path",
    "last": "the reward of the path's last node",
}


def value_note(record: TreeRecord) -> str:
    """What the best path's value is: how the search aggregates the rewards along a path
    (its settings say), and what one reward is (the run's method says); "" when unknown."""
    settings = record.settings or {}
    how = settings.get("cum_reward") if record.algorithm == "MCTS" else None
    how = how or settings.get("reward_aggregator")
    if how not in AGGREGATION:
        return ""
    meaning = REWARD_MEANING.get(str((record.meta or {}).get("method")))
    note = AGGREGATION[how] + (f", each {meaning}" if meaning else "")
    if how == "sum" and meaning == "an eval accuracy":
        note += ", so not itself an accuracy"
    return note


def series(record: TreeRecord) -> dict[str, Any]:
    """The chart series: reward per step along the best path, per-aspect scores over the
    steps (when states carry scores), and per-iteration returns (MCTS)."""
    best = record.best_nodes()
    steps = best[1:] if len(best) > 1 else best
    rewards = [[i + (len(best) > 1), _number(n.reward)] for i, n in enumerate(steps)]
    per_step = []
    for node in best:
        scores = node.state.get("scores") if isinstance(node.state, Mapping) else None
        per_step.append(scores if isinstance(scores, Mapping) else {})
    names = list(dict.fromkeys(str(a) for scores in per_step for a in scores))
    # a step that did not judge an aspect is a gap in that aspect's line
    aspects = {
        name: [[i, _number(scores.get(name))] for i, scores in enumerate(per_step)]
        for name in names
    }
    iterations: dict[str, list[list[Any]]] = {}
    if record.iterations:
        by_id = {n.id: n for n in record.nodes}
        best_so_far = float("-inf")
        returns, best_reward = [], []
        for i, it in enumerate(record.iterations):
            value = _number(it.cum_reward)
            returns.append([i + 1, value])
            path_best = max(
                (_number(by_id[n].reward) or float("-inf") for n in it.path), default=float("-inf")
            )
            best_so_far = max(best_so_far, path_best)
            best_reward.append([i + 1, best_so_far])
        iterations = {"return of the iteration": returns, "best node reward so far": best_reward}
    return {"rewards": rewards, "aspects": aspects, "iterations": iterations}
