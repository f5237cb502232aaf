"""The arena's results per method x task: test accuracy with a two-level bootstrap CI over
seeds and test examples, the initial prompt's, the paired gain, the cost; a ranking per task."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from bench.arena.collect import RunRecord
from drpo.stats import Estimate, two_level_bootstrap


@dataclass(frozen=True)
class MethodResult:
    task: str
    method: str
    runs: int
    failed: int
    simulated: bool
    accuracy: Estimate  # the final prompt's test accuracy
    initial: Estimate  # the initial prompt's, on the same examples
    gain: Estimate  # final - initial, paired per example
    calls: float  # the search's, mean over runs (test scoring apart)
    tokens: float
    usd: float
    wall_s: float
    stopped_on_budget: int
    initial_format: float | None = None  # share of test answers in the task's format
    final_format: float | None = None
    majority: float | None = None  # always the commonest test answer: its accuracy

    @property
    def accuracy_per_1k_calls(self) -> float:
        return self.accuracy.mean / (self.calls / 1000) if self.calls else float("nan")

    @property
    def gain_per_1k_calls(self) -> float:
        return self.gain.mean / (self.calls / 1000) if self.calls else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task, "method": self.method, "runs": self.runs, "failed": self.failed,
            "simulated": self.simulated, "test_accuracy": self.accuracy.to_json(),
            "initial_test_accuracy": self.initial.to_json(), "gain": self.gain.to_json(),
            "search_calls": self.calls, "search_tokens": self.tokens, "search_usd": self.usd,
            "wall_s": self.wall_s, "stopped_on_budget": self.stopped_on_budget,
            "accuracy_per_1k_calls": self.accuracy_per_1k_calls,
            "gain_per_1k_calls": self.gain_per_1k_calls,
            "initial_format_share": self.initial_format, "final_format_share": self.final_format,
            "majority_baseline": self.majority,
        }  # fmt: skip


def summarise(
    records: Sequence[RunRecord], *, methods: Sequence[str], tasks: Sequence[str], seed: int = 0
) -> list[MethodResult]:
    """One result per task and method (in the grid's order), from the runs that finished."""
    out = []
    for task in tasks:
        for method in methods:
            mine = [r for r in records if r.cell.task == task and r.cell.method == method]
            ok = [r for r in mine if r.ok]

            def mean(values: list[float]) -> float:
                return fmean(values) if values else float("nan")

            out.append(
                MethodResult(
                    task=task,
                    method=method,
                    runs=len(mine),
                    failed=len(mine) - len(ok),
                    simulated=any(r.simulated for r in ok),
                    accuracy=two_level_bootstrap([r.final_correct for r in ok], seed=seed),
                    initial=two_level_bootstrap([r.initial_correct for r in ok], seed=seed),
                    gain=two_level_bootstrap(
                        [[b - a for a, b in zip(r.initial_correct, r.final_correct)] for r in ok],
                        seed=seed,
                    ),
                    calls=mean([r.search_calls for r in ok]),
                    tokens=mean([r.search_tokens for r in ok]),
                    usd=mean([r.search_usd for r in ok]),
                    wall_s=mean([r.wall_s for r in ok]),
                    stopped_on_budget=sum(r.stopped_on_budget for r in ok),
                    initial_format=_mean_known([r.initial_format for r in ok]),
                    final_format=_mean_known([r.final_format for r in ok]),
                    majority=_mean_known([r.majority for r in ok]),
                )
            )
    return out


def _mean_known(values: Sequence[float | None]) -> float | None:
    """The mean of the values a run reported (None where none did)."""
    known = [v for v in values if v is not None]
    return fmean(known) if known else None


def ranking(results: Sequence[MethodResult]) -> dict[str, list[str]]:
    """Per task, the methods with results from best to worst test accuracy (ties: fewer
    search calls first)."""
    out: dict[str, list[str]] = {}
    for r in results:
        out.setdefault(r.task, [])
    for task in out:
        rows = [r for r in results if r.task == task and r.runs > r.failed]
        rows.sort(key=lambda r: (-r.accuracy.mean, r.calls))
        out[task] = [r.method for r in rows]
    return out


HEADER = ("task", "method", "runs", "test acc [95% CI]", "initial", "gain [95% CI]",
          "in format", "majority", "calls", "tokens", "wall s", "acc/1k calls",
          "gain/1k calls", "stopped")  # fmt: skip


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table_rows(results: Sequence[MethodResult]) -> list[tuple[str, ...]]:
    rows = []
    for r in results:
        done = r.runs - r.failed
        if done == 0:
            rows.append((r.task, r.method, f"0/{r.runs}", *["-"] * (len(HEADER) - 3)))
            continue
        rows.append((
            r.task, r.method, f"{done}/{r.runs}", str(r.accuracy), f"{r.initial.mean:.3f}",
            f"{r.gain.mean:+.3f} [{r.gain.ci_low:+.3f}, {r.gain.ci_high:+.3f}]",
            f"{_share(r.initial_format)} -> {_share(r.final_format)}", _share(r.majority),
            f"{r.calls:,.0f}", f"{r.tokens:,.0f}", f"{r.wall_s:.1f}",
            f"{r.accuracy_per_1k_calls:.2f}", f"{r.gain_per_1k_calls:+.2f}",
            f"{r.stopped_on_budget}/{done}",
        ))  # fmt: skip
    return rows


def text_table(results: Sequence[MethodResult]) -> str:
    rows = [HEADER, *table_rows(results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(results: Sequence[MethodResult]) -> str:
    rows = [HEADER, tuple("---" for _ in HEADER), *table_rows(results)]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)
