"""The reward trace as a terminal table, for one run or two side by side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drpo.visualize.page_data import prompt_of, value_note
from search.tree_json import TreeRecord


def _is_task_prompt_run(record: TreeRecord) -> bool:
    return (record.meta or {}).get("method") in ("promptagent", "gpo")


def trace_rows(record: TreeRecord) -> list[dict[str, Any]]:
    """One row per node of the best path. DRPO: step, query start, aspects, scores (or the
    error of a step that could not be evaluated), reward, prompt length. PromptAgent and
    GPO: step, eval accuracy, the batch's accuracy, the number of errors shown, the error
    feedback, prompt length."""
    rows = []
    for step, node in enumerate(record.best_nodes()):
        state = node.state if isinstance(node.state, Mapping) else {}
        scores = state.get("scores") if isinstance(state.get("scores"), Mapping) else {}
        error = state.get("error")
        row = {"step": step, "reward": node.reward, "prompt_chars": len(prompt_of(node.state)),
               "error": str(error) if error else None}  # fmt: skip
        if _is_task_prompt_run(record):
            errors = state.get("errors")
            row |= {
                "batch_accuracy": state.get("batch_accuracy")
                if state.get("batch_accuracy") is not None
                else "-",
                "errors": len(errors) if isinstance(errors, list) else "-",
                "feedback": str(state.get("feedback") or "-"),
            }
        else:
            row |= {
                "query": str(state.get("query") or "-"),
                "aspects": ", ".join(map(str, state.get("aspects") or [])) or "-",
                "scores": " ".join(str(v) for v in scores.values()) or "-",
            }
        rows.append(row)
    return rows


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "~"


def _num(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else str(value)


def _reward(row: Mapping[str, Any]) -> str:
    return "error" if row.get("error") else _num(row["reward"])


def trace_table(record: TreeRecord) -> str:
    note = value_note(record)
    lines = [f"{record.algorithm}: best path, value {_num(record.cum_reward)}"
             + (f" ({note})" if note else "")]  # fmt: skip
    if _is_task_prompt_run(record):
        lines.append(f"{'step':>4}  {'eval acc':>8} {'batch acc':>9} {'errors':>6}  "
                     f"{'feedback':<52} {'prompt chars':>12}")  # fmt: skip
        for r in trace_rows(record):
            lines.append(
                f"{r['step']:>4}  {_num(r['reward']):>8} {_num(r['batch_accuracy']):>9} "
                f"{r['errors']!s:>6}  {_cut(r['feedback'], 52):<52} {r['prompt_chars']:>12}"
            )
        return "\n".join(lines)
    lines.append(f"{'step':>4}  {'query':<34} {'aspects':<34} {'scores':<12} {'reward':>7} "
                 f"{'prompt chars':>12}")  # fmt: skip
    for r in trace_rows(record):
        scores = f"error: {r['error']}" if r["error"] else r["scores"]
        lines.append(
            f"{r['step']:>4}  {_cut(r['query'], 34):<34} {_cut(r['aspects'], 34):<34} "
            f"{_cut(scores, 12):<12} {_reward(r):>7} {r['prompt_chars']:>12}"
        )
    errored = [r for r in trace_rows(record) if r["error"]]
    for r in errored:
        lines.append(f"step {r['step']} not evaluated: {_cut(r['error'], 200)}")
    return "\n".join(lines)


def compare_table(a: TreeRecord, b: TreeRecord, names: tuple[str, str]) -> str:
    rows_a, rows_b = trace_rows(a), trace_rows(b)
    head = (f"{'step':>4}  {'reward ' + names[0][:14]:>22} {'prompt chars':>12}   "
            f"{'reward ' + names[1][:14]:>22} {'prompt chars':>12}")  # fmt: skip
    lines = [head]
    for i in range(max(len(rows_a), len(rows_b))):
        left = rows_a[i] if i < len(rows_a) else None
        right = rows_b[i] if i < len(rows_b) else None
        lines.append(
            f"{i:>4}  {_reward(left) if left else '':>22} "
            f"{left['prompt_chars'] if left else '':>12}   "
            f"{_reward(right) if right else '':>22} "
            f"{right['prompt_chars'] if right else '':>12}"
        )

    def mean(rows: list[dict[str, Any]]) -> str:
        """The mean of the rewards the table shows (errored steps count as their 0)."""
        values = [r["reward"] for r in rows if isinstance(r["reward"], (int, float))]
        return _num(sum(values) / len(values)) if values else "-"

    lines.append(f"{'mean':>4}  {mean(rows_a):>22} {'':>12}   {mean(rows_b):>22}")
    lines.append(f"{'value':>5} {_num(a.cum_reward):>22} {'':>12}   {_num(b.cum_reward):>22}")
    return "\n".join(lines)
