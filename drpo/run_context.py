"""What every method's run shares: its log file, its checkpoint, its cache and usage, and the
one-line errors of a run that cannot start."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from drpo.llm import LLMCache, PriceTable, RoleSettings, UsageTracker
from search.artifacts import write_atomic

log = logging.getLogger("drpo")

CHECKPOINT = "checkpoint.json"
CHECKPOINT_VERSION = 1


class RunError(Exception):
    """The run cannot start as asked (exit code 2); the message says why."""


def setup_logging(log_dir: Path, *, level: str, disable: bool) -> logging.Handler | None:
    """Send the "drpo" loggers to log_dir/log.txt (none with `disable`)."""
    logger = logging.getLogger("drpo")
    logger.setLevel(getattr(logging, level))
    logger.propagate = False
    if disable:
        return None
    handler = logging.FileHandler(Path(log_dir) / "log.txt", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    return handler


def close_logging(handler: logging.Handler | None) -> None:
    if handler is not None:
        logging.getLogger("drpo").removeHandler(handler)
        handler.close()


class Checkpoint:
    """checkpoint.json: progress, the fingerprint of the settings, and what was spent."""

    def __init__(self, log_dir: Path, fingerprint: str) -> None:
        self.path = Path(log_dir) / CHECKPOINT
        self.fingerprint = fingerprint
        self.previous: dict[str, Any] | None = None

    def load_for(self, resume: bool) -> None:
        if not self.path.exists():
            if resume:
                log.info("--resume: no checkpoint in the log_dir, starting from the beginning")
            return
        if not resume:
            raise RunError(
                f"{self.path.parent} already holds a run ({CHECKPOINT}); pass --resume to "
                "continue it, or choose another log_dir"
            )
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunError(f"{self.path} is damaged ({exc}); remove it to start over") from None
        if data.get("fingerprint") != self.fingerprint:
            raise RunError(
                f"the run in {self.path.parent} was started with other settings; resume it "
                "with the same arguments (see its args.txt), or choose another log_dir"
            )
        self.previous = data

    @property
    def resumed_from(self) -> int:
        return self.previous["frontiers_done"] if self.previous else 0

    def write(self, status: str, frontiers: int, usage: UsageTracker) -> None:
        data = {
            "version": CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint,
            "status": status,
            "frontiers_done": frontiers,
            "usage": usage.summary(),
            "earlier_attempts": self.earlier_usage(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_atomic(self.path, json.dumps(data, indent=2).encode("utf-8"))

    def earlier_usage(self) -> list[dict[str, Any]]:
        if self.previous is None:
            return []
        return [*self.previous.get("earlier_attempts", []), self.previous["usage"]]


def usage_and_cache(
    log_dir: Path, *, prices: Path | None, budget_usd: float | None, cache_path: Path | None
) -> tuple[UsageTracker, LLMCache]:
    """The run's usage tally (with its price table and budget) and its answer cache."""
    try:
        table = PriceTable.from_file(prices) if prices else PriceTable()
    except ValueError as exc:
        raise RunError(str(exc)) from None
    usage = UsageTracker(prices=table, budget_usd=budget_usd)
    return usage, LLMCache(cache_path or Path(log_dir) / "llm_cache.sqlite")


def write_reports(log_dir: Path, usage: UsageTracker, checkpoint: Checkpoint, summary: Any) -> None:
    """usage.json (with earlier attempts of a resumed run) and summary.json."""
    report = {**usage.summary(), "earlier_attempts": checkpoint.earlier_usage()}
    write_atomic(Path(log_dir) / "usage.json", json.dumps(report, indent=2).encode("utf-8"))
    text = json.dumps(summary, indent=2, default=str, ensure_ascii=False)
    write_atomic(Path(log_dir) / "summary.json", text.encode("utf-8"))


def with_knowledge(
    roles: Mapping[str, RoleSettings], knowledge: Mapping[str, str], *, role: str = "base"
) -> dict[str, RoleSettings]:
    """The roles, with `knowledge` given to `role` where it runs on the simulated LLM."""
    return {
        name: replace(s, knowledge=dict(knowledge)) if name == role and s.backend == "sim" else s
        for name, s in roles.items()
    }
