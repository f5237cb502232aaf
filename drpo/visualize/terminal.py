"""The reward trace as a terminal table, for one run or two side by side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drpo.visualize.page_data import prompt_of
from search.tree_json import TreeRecord


def trace_rows(record: TreeRecord) -> list[dict[str, Any]]:
    """One row per node of the best path: step, query start, aspects, scores, reward,
    prompt length."""
    rows = []
    for step, node in enumerate(record.best_nodes()):
        state = node.state if isinstance(node.state, Mapping) else {}
        scores = state.get("scores") if isinstance(state.get("scores"), Mapping) else {}
        rows.append(
            {
                "step": step,
                "query": str(state.get("query") or "-"),
                "aspects": ", ".join(map(str, state.get("aspects") or [])) or "-",
                "scores": " ".join(str(v) for v in scores.values()) or "-",
                "reward": node.reward,
                "prompt_chars": len(prompt_of(node.state)),
            }
        )
    return rows


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "~"


def _num(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else str(value)


def trace_table(record: TreeRecord) -> str:
    head = f"{'step':>4}  {'query':<34} {'aspects':<34} {'scores':<12} {'reward':>7} {'prompt':>7}"
    lines = [f"{record.algorithm}: best path, value {_num(record.cum_reward)}", head]
    for r in trace_rows(record):
        lines.append(
            f"{r['step']:>4}  {_cut(r['query'], 34):<34} {_cut(r['aspects'], 34):<34} "
            f"{_cut(r['scores'], 12):<12} {_num(r['reward']):>7} {r['prompt_chars']:>7}"
        )
    return "\n".join(lines)


def compare_table(a: TreeRecord, b: TreeRecord, names: tuple[str, str]) -> str:
    rows_a, rows_b = trace_rows(a), trace_rows(b)
    head = (f"{'step':>4}  {'reward ' + names[0][:14]:>22} {'prompt':>7}   "
            f"{'reward ' + names[1][:14]:>22} {'prompt':>7}")  # fmt: skip
    lines = [head]
    for i in range(max(len(rows_a), len(rows_b))):
        left = rows_a[i] if i < len(rows_a) else None
        right = rows_b[i] if i < len(rows_b) else None
        lines.append(
            f"{i:>4}  {_num(left['reward']) if left else '':>22} "
            f"{left['prompt_chars'] if left else '':>7}   "
            f"{_num(right['reward']) if right else '':>22} "
            f"{right['prompt_chars'] if right else '':>7}"
        )

    def mean(rows: list[dict[str, Any]]) -> str:
        values = [r["reward"] for r in rows[1:] if isinstance(r["reward"], (int, float))]
        return _num(sum(values) / len(values)) if values else "-"

    lines.append(f"{'mean':>4}  {mean(rows_a):>22} {'':>7}   {mean(rows_b):>22}")
    lines.append(f"{'value':>5} {_num(a.cum_reward):>22} {'':>7}   {_num(b.cum_reward):>22}")
    return "\n".join(lines)
