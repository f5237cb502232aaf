"""The arena's grid on a real Ray head started on 127.0.0.1 (the same fixture as bench.jobs'
own Ray tests): every run a Ray task, its log_dir back on the driver, the report written.

Skipped only when Ray (the extra `ray`) is not installed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from test_arena import _main
from test_jobs_ray import ray_head  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="Ray is an optional extra (pip install .[ray])"
)


def test_the_grid_runs_on_a_local_ray_head(ray_head: str, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "grid"
    args = ["--out", str(out), "--methods", "promptagent", "gpo", "--seeds", "0",
            "--budget_calls", "150", "--test_size", "10", "--eval_size", "10"]  # fmt: skip
    code, text = _main([*args, "--ray", ray_head])
    assert code == 0, text
    data = json.loads((out / "arena_results.json").read_text())
    assert [r["ok"] for r in data["runs"]] == [True, True]
    for run in data["runs"]:
        log_dir = Path(run["log_dir"])
        assert json.loads((log_dir / "job.json").read_text())["node"] == "127.0.0.1"
        assert (log_dir / "progress.jsonl").read_text() and (log_dir / "summary.json").exists()
    assert (out / "report.html").exists()
    # The same grid again, now in the local pool: nothing is redone.
    code, text = _main(args)
    assert code == 0 and text.count("done before") == 2
