"""Tokens and money, per role and model; the budget that stops a run before it overspends, and
the search budget (calls, tokens or dollars) that ends a search at a frontier's boundary."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drpo.llm.types import BudgetExceeded


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


#: OpenAI list prices (USD per million tokens, input / output) as published in 2025. Override
#: or extend them with a JSON file: {"model": {"input": 2.5, "output": 10.0}, ...}.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-4": Price(30.00, 60.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o3-mini": Price(1.10, 4.40),
}


class PriceTable:
    """Prices by model name: an exact match, else the longest known prefix
    (``gpt-4o-2024-08-06`` is priced as ``gpt-4o``). Simulated models (``sim...``) are free;
    other unknown models are *unpriced*: their cost counts as 0 and the summary says so."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self.prices = dict(DEFAULT_PRICES if prices is None else prices)

    @classmethod
    def from_file(cls, path: str | Path) -> PriceTable:
        """The default table updated with the prices in a JSON file."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            extra = {name: Price(float(p["input"]), float(p["output"])) for name, p in data.items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(
                f"cannot read prices from {path}: {exc} "
                '(expected {"model": {"input": USD per 1M tokens, "output": ...}})'
            ) from None
        return cls({**DEFAULT_PRICES, **extra})

    def price(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        if model.startswith("sim"):
            return Price(0.0, 0.0)
        matches = [name for name in self.prices if model.startswith(name)]
        return self.prices[max(matches, key=len)] if matches else None


@dataclass(frozen=True)
class Spend:
    """What was paid for: calls answered by a backend, tokens (prompt, output, and the
    worst case of attempts never reported) and US dollars."""

    calls: int = 0
    tokens: int = 0
    usd: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.calls + other.calls, self.tokens + other.tokens, self.usd + other.usd)

    def __sub__(self, other: Spend) -> Spend:
        return Spend(self.calls - other.calls, self.tokens - other.tokens, self.usd - other.usd)

    def to_json(self) -> dict[str, float | int]:
        return {"calls": self.calls, "tokens": self.tokens, "usd": self.usd}

    @classmethod
    def of_summary(cls, summary: Mapping[str, Any]) -> Spend:
        """The spend in a `UsageTracker.summary()` (as in usage.json or a checkpoint)."""
        total = summary.get("total", {})
        tokens = sum(int(total.get(k, 0)) for k in
                     ("prompt_tokens", "completion_tokens", "estimated_tokens"))  # fmt: skip
        return cls(int(total.get("requests", 0)), tokens, float(total.get("cost_usd", 0.0)))


@dataclass(frozen=True, kw_only=True)
class SearchBudget:
    """A search's budget in calls, tokens or dollars (any of them; None: no limit). It is
    checked at a frontier's boundary, so a search ends within it plus one frontier."""

    calls: int | None = None
    tokens: int | None = None
    usd: float | None = None

    def __post_init__(self) -> None:
        for name in ("calls", "tokens", "usd"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"the search budget in {name} must be > 0, got {value}")

    @property
    def limited(self) -> bool:
        return any(v is not None for v in (self.calls, self.tokens, self.usd))

    def spent_by(self, spend: Spend) -> bool:
        """Whether `spend` has used up any of the limits."""
        return any(limit is not None and getattr(spend, name) >= limit
                   for name, limit in self.limits().items())  # fmt: skip

    def limits(self) -> dict[str, float | int | None]:
        return {"calls": self.calls, "tokens": self.tokens, "usd": self.usd}

    def overshoot(self, spend: Spend) -> dict[str, float | int]:
        """By how much `spend` went past each limit set (0 where it stayed within)."""
        return {name: max(0, getattr(spend, name) - limit)
                for name, limit in self.limits().items() if limit is not None}  # fmt: skip


def _shape(reason: str) -> str:
    """A reason without its numbers: 'has 2400 characters' and 'has 2517 characters' are
    the same reason."""
    return re.sub(r"\d+", "#", reason)


@dataclass
class RoleUsage:
    role: str
    model: str
    requests: int = 0  # calls answered by the backend (retries not counted)
    samples: int = 0  # completions received
    cache_hits: int = 0  # samples served from the cache, free
    prompt_tokens: int = 0  # of every attempt the server reported, failed ones too
    completion_tokens: int = 0
    attempts: int = 0  # HTTP requests (or engine calls) made, retries included
    failed: int = 0  # calls that failed after every attempt
    estimated_tokens: int = 0  # output of attempts the server never reported (timeouts),
    # counted at their worst case (max_tokens) in the cost and against the budget
    json_answers: int = 0  # samples read as JSON
    json_first_try: int = 0  # of them, usable at the first try (no re-ask)
    json_well_formed: int = 0  # of them, JSON within its schema at the first try (whether
    # or not the method then used it: a proposal can be well-formed and still no prompt)
    json_unusable: int = 0  # of them, unusable after every re-ask
    unusable_reasons: dict[str, int] = field(default_factory=dict)  # why, commonest first
    cost_usd: float = 0.0
    priced: bool = True


class UsageTracker:
    """Thread-safe tally of every role's usage, and the run's budget.

    `reserve` is called before a batch is sent with its worst-case cost; it raises
    `BudgetExceeded` (and nothing is sent) when that could take the spend past the budget.
    `settle` then replaces the reservation by the real cost.

    It also counts the run's *rounds*: stretches of time in which at least one batch is at a
    backend. Batches sent together (gathered) share a round; a batch that waits for another's
    answers starts a new one. With unlimited concurrency a round takes one call's latency, so
    rounds x latency is the critical path of the run's calls.
    """

    def __init__(
        self,
        *,
        prices: PriceTable | None = None,
        budget_usd: float | None = None,
        search_budget: SearchBudget | None = None,
        carried: Spend | None = None,
    ) -> None:
        if budget_usd is not None and budget_usd < 0:
            raise ValueError(f"budget_usd must be >= 0, got {budget_usd}")
        self.prices = prices or PriceTable()
        self.budget_usd = budget_usd
        #: The search budget, and what earlier attempts of a resumed run spent (counted in it).
        self.search_budget = search_budget or SearchBudget()
        self.carried = carried or Spend()
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], RoleUsage] = {}
        self._reserved = 0.0
        self._batches_out = 0
        self._round_calls = 0
        self.rounds = 0
        self.widest_round = 0  # the most calls sent in one round
        self.in_flight = 0  # calls sent and not answered yet (for progress bars)
        self.answered = 0  # calls answered so far

    def batch_sent(self, calls: int) -> None:
        """A batch of `calls` went to a backend (call `batch_done` when it is answered)."""
        with self._lock:
            if self._batches_out == 0:
                self.rounds += 1
                self._round_calls = 0
            self._batches_out += 1
            self._round_calls += calls
            self.in_flight += calls
            self.widest_round = max(self.widest_round, self._round_calls)

    def call_answered(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self.answered += 1

    def batch_done(self, *, unanswered: int = 0) -> None:
        """The batch is over; `unanswered` of its calls never reported an answer (failed)."""
        with self._lock:
            self._batches_out -= 1
            self.in_flight -= unanswered

    def _row(self, role: str, model: str) -> RoleUsage:
        key = (role, model)
        if key not in self._rows:
            self._rows[key] = RoleUsage(role, model, priced=self.prices.price(model) is not None)
        return self._rows[key]

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = self.prices.price(model)
        return price.cost(prompt_tokens, completion_tokens) if price else 0.0

    @property
    def spent_usd(self) -> float:
        with self._lock:
            return sum(row.cost_usd for row in self._rows.values())

    def spend(self) -> Spend:
        """What this attempt has paid for so far."""
        with self._lock:
            rows = list(self._rows.values())
        tokens = sum(r.prompt_tokens + r.completion_tokens + r.estimated_tokens for r in rows)
        return Spend(sum(r.requests for r in rows), tokens, sum(r.cost_usd for r in rows))

    def run_spend(self) -> Spend:
        """What the run has paid for, earlier attempts included."""
        return self.carried + self.spend()

    def search_budget_spent(self) -> bool:
        """Whether the run has used up its search budget (never, without one)."""
        return self.search_budget.limited and self.search_budget.spent_by(self.run_spend())

    def reserve(self, role: str, model: str, estimate_usd: float) -> None:
        with self._lock:
            self._row(role, model)
            if self.budget_usd is None:
                return
            spent = sum(row.cost_usd for row in self._rows.values())
            if spent + self._reserved + estimate_usd > self.budget_usd:
                raise BudgetExceeded(
                    f"role {role!r} ({model}): the next calls could cost up to "
                    f"${estimate_usd:.4f}, and ${spent:.4f} of the ${self.budget_usd:.4f} budget "
                    "is spent; stopping before sending them"
                )
            self._reserved += estimate_usd

    def settle(
        self,
        role: str,
        model: str,
        *,
        reserved_usd: float,
        requests: int,
        samples: int,
        prompt_tokens: int,
        completion_tokens: int,
        attempts: int | None = None,
        failed: int = 0,
        estimated_tokens: int = 0,
    ) -> None:
        with self._lock:
            if self.budget_usd is not None:
                self._reserved = max(0.0, self._reserved - reserved_usd)
            row = self._row(role, model)
            row.requests += requests
            row.samples += samples
            row.prompt_tokens += prompt_tokens
            row.completion_tokens += completion_tokens
            row.attempts += requests if attempts is None else attempts
            row.failed += failed
            row.estimated_tokens += estimated_tokens
            row.cost_usd += self.cost(model, prompt_tokens, completion_tokens + estimated_tokens)

    def record_json(
        self,
        role: str,
        model: str,
        *,
        answers: int,
        first_try: int,
        well_formed: int,
        unusable: int,
        reasons: Sequence[str] = (),
    ) -> None:
        """JSON samples read: how many, usable at the first try, within their schema at the
        first try, and unusable after every re-ask (`reasons`: why, one per unusable sample;
        reasons that differ only in their numbers count as one, under the first seen)."""
        with self._lock:
            row = self._row(role, model)
            row.json_answers += answers
            row.json_first_try += first_try
            row.json_well_formed += well_formed
            row.json_unusable += unusable
            for reason in reasons:
                shape = _shape(reason)
                seen = next((r for r in row.unusable_reasons if _shape(r) == shape), reason)
                row.unusable_reasons[seen] = row.unusable_reasons.get(seen, 0) + 1
            row.unusable_reasons = dict(sorted(row.unusable_reasons.items(), key=lambda kv: -kv[1]))

    def record_hits(self, role: str, model: str, hits: int) -> None:
        with self._lock:
            self._row(role, model).cache_hits += hits

    def rows(self) -> list[RoleUsage]:
        with self._lock:
            return [
                RoleUsage(**{**vars(row), "unusable_reasons": dict(row.unusable_reasons)})
                for row in self._rows.values()
            ]

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly summary: per role and model, and totals."""
        rows = self.rows()
        return {
            "roles": [vars(row) for row in rows],
            "total": {
                "requests": sum(r.requests for r in rows),
                "samples": sum(r.samples for r in rows),
                "cache_hits": sum(r.cache_hits for r in rows),
                "prompt_tokens": sum(r.prompt_tokens for r in rows),
                "completion_tokens": sum(r.completion_tokens for r in rows),
                "attempts": sum(r.attempts for r in rows),
                "failed": sum(r.failed for r in rows),
                "estimated_tokens": sum(r.estimated_tokens for r in rows),
                "json_answers": sum(r.json_answers for r in rows),
                "json_first_try": sum(r.json_first_try for r in rows),
                "json_well_formed": sum(r.json_well_formed for r in rows),
                "json_unusable": sum(r.json_unusable for r in rows),
                "cost_usd": sum(r.cost_usd for r in rows),
                "unpriced_models": sorted({r.model for r in rows if not r.priced}),
            },
            "rounds": self.rounds,
            "widest_round": self.widest_round,
            "budget_usd": self.budget_usd,
        }

    def table(self) -> str:
        """The summary as a text table for the terminal and the run's log."""
        head = f"{'role':<10}{'model':<28}{'requests':>9}{'cached':>8}{'prompt tok':>12}"
        lines = [head + f"{'output tok':>12}{'cost USD':>11}"]
        for r in self.rows():
            cost = f"{r.cost_usd:.4f}" if r.priced else "unpriced"
            lines.append(
                f"{r.role:<10}{r.model[:27]:<28}{r.requests:>9}{r.cache_hits:>8}"
                f"{r.prompt_tokens:>12}{r.completion_tokens:>12}{cost:>11}"
            )
        total = self.summary()["total"]
        lines.append(
            f"{'total':<38}{total['requests']:>9}{total['cache_hits']:>8}"
            f"{total['prompt_tokens']:>12}{total['completion_tokens']:>12}"
            f"{total['cost_usd']:>11.4f}"
        )
        return "\n".join(lines)
