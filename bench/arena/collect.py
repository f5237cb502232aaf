"""What one arena run left in its log_dir, read back: its test answers under the initial and
the final prompt, the search's spend beside the test scoring's, its anytime trace."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.arena.grid import Cell
from bench.jobs import JobResult


@dataclass(frozen=True)
class TracePoint:
    """A line of progress.jsonl: the spend after a frontier and the best eval accuracy."""

    calls: int
    tokens: int
    usd: float
    best_eval: float | None


@dataclass(frozen=True)
class RunRecord:
    """One run of the grid; `error` says why it has no results (failed or unreadable)."""

    cell: Cell
    log_dir: Path
    ok: bool
    error: str | None = None
    simulated: bool = True
    initial_correct: tuple[float, ...] = ()  # per test example, under the initial prompt
    final_correct: tuple[float, ...] = ()  # and under the final prompt
    search_calls: int = 0
    search_tokens: int = 0
    search_usd: float = 0.0
    test_calls: int = 0
    stopped_on_budget: bool = False
    wall_s: float = 0.0
    final_prompt: str = ""
    trace: tuple[TracePoint, ...] = ()
    initial_format: float | None = None  # share of test answers in the task's format
    final_format: float | None = None
    majority: float | None = None  # always the commonest test answer: its accuracy

    @property
    def final_accuracy(self) -> float:
        return sum(self.final_correct) / max(1, len(self.final_correct))

    @property
    def initial_accuracy(self) -> float:
        return sum(self.initial_correct) / max(1, len(self.initial_correct))

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.cell.method, "task": self.cell.task, "seed": self.cell.seed,
            "log_dir": str(self.log_dir), "ok": self.ok, "error": self.error,
            "simulated": self.simulated,
            "test_accuracy": self.final_accuracy if self.ok else None,
            "initial_test_accuracy": self.initial_accuracy if self.ok else None,
            "test_examples": len(self.final_correct),
            "search": {"calls": self.search_calls, "tokens": self.search_tokens,
                       "usd": self.search_usd},
            "test_calls": self.test_calls, "stopped_on_budget": self.stopped_on_budget,
            "wall_s": self.wall_s, "final_prompt": self.final_prompt,
            "initial_format_share": self.initial_format if self.ok else None,
            "final_format_share": self.final_format if self.ok else None,
            "majority_baseline": self.majority if self.ok else None,
        }  # fmt: skip


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_run(cell: Cell, log_dir: Path, job: JobResult) -> RunRecord:
    """The run's record from its files; a failed or unreadable run is a record with ok False
    and the reason, never dropped."""
    if not job.ok:
        return RunRecord(cell, log_dir, False, job.error or "failed", wall_s=job.wall_s)
    try:
        summary = _read_json(log_dir / "summary.json")
        answers = _read_json(log_dir / "test_answers.json")["answers"]
        budget = summary["search_budget"]
        trace = []
        for line in (log_dir / "progress.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            trace.append(TracePoint(int(row["calls"]), int(row["tokens"]), float(row["usd"]),
                                    row.get("best_eval_accuracy")))  # fmt: skip
        return RunRecord(
            cell,
            log_dir,
            True,
            simulated=bool(summary.get("simulated", False)),
            initial_correct=tuple(float(a["initial"]["correct"]) for a in answers),
            final_correct=tuple(float(a["final"]["correct"]) for a in answers),
            search_calls=int(budget["search"]["calls"]),
            search_tokens=int(budget["search"]["tokens"]),
            search_usd=float(budget["search"]["usd"]),
            test_calls=int(budget["test"]["calls"]),
            stopped_on_budget=bool(budget["stopped_on_budget"]),
            wall_s=job.wall_s,
            final_prompt=(log_dir / "best_prompt.txt").read_text(encoding="utf-8").strip(),
            trace=tuple(trace),
            initial_format=summary.get("initial_test_format_share"),
            final_format=summary.get("final_test_format_share"),
            majority=(summary.get("test_majority_answer") or {}).get("accuracy"),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = f"its results cannot be read: {type(exc).__name__}: {exc}"
        return RunRecord(cell, log_dir, False, reason, wall_s=job.wall_s)
