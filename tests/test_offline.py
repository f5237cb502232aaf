"""`--offline`: a run re-scored from a cache, without a model (simulated LLM, and a local
GGUF that is not on this machine)."""

from __future__ import annotations

import json
from pathlib import Path

from run_helpers import train

SMALL = ["--method", "gpo", "--depth", "2", "--eval_size", "10", "--test_size", "10"]


def summary_of(log_dir: Path) -> dict:
    summary = json.loads((log_dir / "summary.json").read_text())
    # The search's spend differs by design: an offline run pays for nothing.
    return {k: v for k, v in summary.items() if k not in ("settings", "search_budget")}


def test_an_offline_run_reproduces_the_run_from_its_cache_without_a_call(tmp_path: Path) -> None:
    first = train(*SMALL, "--log_dir", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    cache = tmp_path / "a" / "llm_cache.sqlite"
    again = train(*SMALL, "--log_dir", str(tmp_path / "b"), "--offline", "--cache_path", str(cache))
    assert again.returncode == 0, again.stderr
    assert summary_of(tmp_path / "b") == summary_of(tmp_path / "a")
    total = json.loads((tmp_path / "b" / "usage.json").read_text())["total"]
    assert total["requests"] == 0 and total["cache_hits"] > 0
    assert (tmp_path / "b" / "best_prompt.txt").read_text() == (
        tmp_path / "a" / "best_prompt.txt"
    ).read_text()


def test_an_offline_call_the_cache_lacks_is_one_clear_error(tmp_path: Path) -> None:
    first = train(*SMALL, "--log_dir", str(tmp_path / "a"))
    assert first.returncode == 0, first.stderr
    cache = tmp_path / "a" / "llm_cache.sqlite"
    other = train(*SMALL, "--seed", "3", "--log_dir", str(tmp_path / "b"), "--offline",
                  "--cache_path", str(cache))  # fmt: skip
    assert other.returncode != 0 and "Traceback" not in other.stderr
    assert "not in the cache" in other.stderr and len(other.stderr.strip().splitlines()) == 1


def test_offline_needs_no_model_file(tmp_path: Path) -> None:
    # A GGUF that is not here: offline, its (empty) cache is the only source of answers.
    missing = tmp_path / "gone.gguf"
    done = train(*SMALL, "--model_path", str(missing), "--offline", "--log_dir",
                 str(tmp_path / "run"))  # fmt: skip
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "not in the cache" in done.stderr and "gone.gguf" in done.stderr
    online = train(*SMALL, "--model_path", str(missing), "--log_dir", str(tmp_path / "online"))
    assert online.returncode != 0 and "gone.gguf" in online.stderr
