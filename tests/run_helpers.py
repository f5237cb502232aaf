"""Helpers for tests that run `python train.py` in a child process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 180):
    """`python train.py --disable_tqdm ARGS` as a user runs it, in `cwd`."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, str(REPO / "train.py"), "--disable_tqdm", *args],
        capture_output=True, text=True, cwd=cwd, env=full_env, timeout=timeout,
    )  # fmt: skip


def over_http(url: str) -> list[str]:
    """Every DRPO role on the server at `url`."""
    return [f"--{role}_base_url={url}" for role in ("base", "eval", "metrics", "optimize")]


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
