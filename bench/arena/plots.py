"""The arena's pictures as data, computed apart from drawing them: anytime curves (best eval
accuracy so far against what the search spent, in the budget's unit: calls, tokens or
dollars; mean over seeds, from the runs' progress.jsonl) and bars of test accuracy with
their CIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from bench.arena.collect import RunRecord
from bench.arena.results import MethodResult


@dataclass(frozen=True)
class Curve:
    """One method's anytime curve on one task: (spent, mean best eval accuracy)."""

    method: str
    points: tuple[tuple[float, float], ...]
    runs: int

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "runs": self.runs, "points": [list(p) for p in self.points]}


@dataclass(frozen=True)
class Bar:
    method: str
    mean: float
    ci_low: float
    ci_high: float


def value_at(trace: Sequence[tuple[float, float]], spent: float) -> float | None:
    """A run's best eval accuracy once it had spent `spent` (its last figure after it
    stopped; None before its first frontier)."""
    value = None
    for cost, best in trace:
        if cost > spent:
            break
        value = best
    return value


def anytime_curve(method: str, records: Sequence[RunRecord], *, unit: str = "calls") -> Curve:
    """The mean over the runs of their best eval accuracy so far, at every spend (`unit`:
    calls, tokens or usd) where one of them finished a frontier and all have a figure."""
    traces = [
        [(getattr(p, unit), p.best_eval) for p in r.trace if p.best_eval is not None]
        for r in records
        if r.ok
    ]
    traces = [t for t in traces if t]
    xs = sorted({cost for t in traces for cost, _ in t})
    points = []
    for x in xs:
        values = [value_at(t, x) for t in traces]
        if all(v is not None for v in values):
            points.append((float(x), fmean(v for v in values if v is not None)))
    return Curve(method, tuple(points), len(traces))


def curves_by_task(
    records: Sequence[RunRecord],
    *,
    methods: Sequence[str],
    tasks: Sequence[str],
    unit: str = "calls",
) -> dict[str, list[Curve]]:
    def runs(task: str, method: str) -> list[RunRecord]:
        return [r for r in records if r.cell.task == task and r.cell.method == method]

    return {task: [anytime_curve(m, runs(task, m), unit=unit) for m in methods] for task in tasks}


def bars_by_task(results: Sequence[MethodResult]) -> dict[str, list[Bar]]:
    out: dict[str, list[Bar]] = {}
    for r in results:
        if r.runs > r.failed:
            a = r.accuracy
            out.setdefault(r.task, []).append(Bar(r.method, a.mean, a.ci_low, a.ci_high))
    return out
