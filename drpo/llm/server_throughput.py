"""A local llama.cpp server's throughput: its own peak, measured once when it starts, and
what a run got out of it.

On a small CPU the server is the bottleneck, so a prompt token processed twice is time lost.
llama.cpp reports, for every request, the prompt tokens it processed (``timings.prompt_n``)
and those it reused from the slot's prompt cache (``timings.cache_n``; also
``usage.prompt_tokens_details.cached_tokens``). `ThroughputTally` adds them up with the tokens
generated, and compares the run's tokens per second with `ServerPeak`: the prompt rate of
one request and the decode rate of every slot generating at once, measured at start-up.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

#: The start-up measurement: a prompt of about 130 tokens (processed once, no cache), then
#: `PEAK_DECODE_TOKENS` tokens generated in every slot at once; it gives up after
#: `PEAK_TIMEOUT_S` (a machine that busy has no peak worth the name).
PEAK_PROMPT = " ".join(
    f"Line {i}: the ledger lists {i * 7} crates of pears, {i * 3} of plums and {i} of figs."
    for i in range(1, 7)
)
PEAK_DECODE_TOKENS = 8
PEAK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ServerPeak:
    """What the server does at best: prompt tokens a second for one request, and generated
    tokens a second summed over `slots` requests decoded together."""

    prompt_tokens_per_s: float
    decode_tokens_per_s: float
    slots: int
    measured_in_s: float

    def to_json(self) -> dict[str, float | int]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def _complete(base_url: str, body: Mapping[str, Any], timeout_s: float) -> Mapping[str, Any]:
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/completions",
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        data = json.loads(response.read())
    timings = data.get("timings") if isinstance(data, dict) else None
    if not isinstance(timings, dict):
        raise ValueError("the server reports no timings")
    return timings


def measure_peak(
    base_url: str, *, slots: int, timeout_s: float = PEAK_TIMEOUT_S
) -> ServerPeak | None:
    """The server's peak rates, from a few plain completions that bypass its prompt cache
    (1-3 s on an idle 2-core CPU for a 0.5B model). None where the server reports no
    timings, fails or takes longer than `timeout_s`: the run then has no peak to compare
    with."""
    started = time.perf_counter()
    base = {"temperature": 0.0, "cache_prompt": False}
    try:
        prompt = _complete(base_url, {**base, "prompt": PEAK_PROMPT, "max_tokens": 1}, timeout_s)
        bodies = [
            {**base, "prompt": f"Count slowly, slot {i}:", "max_tokens": PEAK_DECODE_TOKENS,
             "ignore_eos": True}
            for i in range(slots)
        ]  # fmt: skip
        with ThreadPoolExecutor(max_workers=slots) as pool:
            decoded = list(pool.map(lambda b: _complete(base_url, b, timeout_s), bodies))
        tokens = sum(int(t["predicted_n"]) for t in decoded)
        span_s = max(float(t["predicted_ms"]) for t in decoded) / 1000.0
        prompt_rate = float(prompt["prompt_n"]) / (float(prompt["prompt_ms"]) / 1000.0)
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return None
    if span_s <= 0 or prompt_rate <= 0:
        return None
    return ServerPeak(prompt_rate, tokens / span_s, slots, time.perf_counter() - started)


def _number(mapping: Any, key: str) -> float:
    value = mapping.get(key) if isinstance(mapping, Mapping) else getattr(mapping, key, None)
    return float(value) if isinstance(value, (int, float)) else 0.0


class ThroughputTally:
    """The run's tally of one server: call `add` with each answered request's timings (or,
    where a server sends none, its usage); `report` is what usage.json and summary.json
    carry. Safe to call from several threads."""

    def __init__(self, peak: ServerPeak | None, *, started: float | None = None) -> None:
        self.peak = peak
        self.started = time.perf_counter() if started is None else started
        self.last = self.started
        self.requests = 0
        self.processed = self.reused = self.generated = 0
        self.prompt_s = self.decode_s = 0.0
        self._lock = threading.Lock()

    def add(self, timings: Mapping[str, Any] | None, usage: Any = None) -> None:
        """One answered request: llama.cpp's ``timings`` where given, else the OpenAI
        ``usage`` (prompt tokens, of which ``prompt_tokens_details.cached_tokens`` reused)."""
        if isinstance(timings, Mapping) and "prompt_n" in timings:
            processed, reused = _number(timings, "prompt_n"), _number(timings, "cache_n")
            generated = _number(timings, "predicted_n")
            prompt_s = _number(timings, "prompt_ms") / 1000.0
            decode_s = _number(timings, "predicted_ms") / 1000.0
        elif usage is not None:
            details = getattr(usage, "prompt_tokens_details", None)
            reused = _number(details, "cached_tokens") if details is not None else 0.0
            processed = max(0.0, _number(usage, "prompt_tokens") - reused)
            generated, prompt_s, decode_s = _number(usage, "completion_tokens"), 0.0, 0.0
        else:
            return
        with self._lock:
            self.requests += 1
            self.processed += int(processed)
            self.reused += int(reused)
            self.generated += int(generated)
            self.prompt_s += prompt_s
            self.decode_s += decode_s
            self.last = time.perf_counter()

    def report(self) -> dict[str, Any]:
        """The figures: tokens processed, reused and generated, the server's own seconds,
        the run's tokens per second (from start-up to the last answer) and, with a peak,
        `peak_time_share`: the share of that time the same work takes at the peak rates
        (1.0: the server never idled and never did worse than its best)."""
        with self._lock:
            wall = max(self.last - self.started, 1e-9)
            rate = 1.0 / wall if self.requests else 0.0  # no answer yet: no rate
            prompt_total = self.processed + self.reused
            report: dict[str, Any] = {
                "requests": self.requests,
                "prompt_tokens": prompt_total,
                "prompt_tokens_processed": self.processed,
                "prompt_tokens_reused": self.reused,
                "reused_share": round(self.reused / prompt_total, 4) if prompt_total else 0.0,
                "completion_tokens": self.generated,
                "server_prompt_s": round(self.prompt_s, 3),
                "server_decode_s": round(self.decode_s, 3),
                "wall_s": round(wall, 3) if self.requests else 0.0,
                "tokens_per_s": round((self.processed + self.generated) * rate, 2),
                "completion_tokens_per_s": round(self.generated * rate, 2),
                "peak": self.peak.to_json() if self.peak is not None else None,
            }
            if self.peak is not None and self.requests:
                at_peak = (
                    self.processed / self.peak.prompt_tokens_per_s
                    + self.generated / self.peak.decode_tokens_per_s
                )
                report["peak_time_share"] = round(at_peak / wall, 4)
        return report
