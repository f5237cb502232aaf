"""Helpers for tests that run `python train.py` in a child process."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path


def kill_after_frontiers(
    proc: subprocess.Popen, log_dir: Path, frontiers: int, *, timeout_s: float
) -> None:
    """SIGKILL `proc` once its checkpoint counts `frontiers` evaluated frontiers (or after
    `timeout_s`), and reap it."""
    checkpoint = Path(log_dir) / "checkpoint.json"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if json.loads(checkpoint.read_text())["frontiers_done"] >= frontiers:
                break
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def tree_without_meta(log_dir: Path) -> dict:
    """The run's output.json without its meta (which names the run's own settings)."""
    tree = json.loads((Path(log_dir) / "algo_output" / "output.json").read_text())
    return {k: v for k, v in tree.items() if k != "meta"}
