"""What the reliability campaign records of each case, and how it reads a finished run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import final_prompt


@dataclass(frozen=True)
class Outcome:
    row: str
    name: str
    survived: bool
    detail: str = ""


def tree_of(log_dir: Path) -> dict[str, Any] | None:
    path = Path(log_dir) / "algo_output" / "output.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def checkpoint_status(log_dir: Path) -> str:
    """The checkpoint's status; 'missing' or 'damaged' when there is none to read."""
    path = Path(log_dir) / "checkpoint.json"
    if not path.exists():
        return "missing"
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["status"])
    except (ValueError, KeyError, UnicodeDecodeError):
        return "damaged"


def has_traceback(*texts: str) -> bool:
    return any("Traceback (most recent call last)" in t for t in texts)


def run_fingerprint(method: str, log_dir: Path) -> tuple[Any, str]:
    return tree_of(log_dir), final_prompt(method, log_dir)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""
