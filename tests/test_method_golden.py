"""Each method's `train.py --method M --help` and its summary.json on the simulated LLM
(small, fast settings) match the golden files in tests/golden/methods/: a refactor of how
methods declare their settings must change nothing a user sees, apart from the changes listed
in the changelog. Only what is truly volatile is normalised: the run's paths and times.

`UPDATE_GOLDEN=1 python -m pytest tests/test_method_golden.py` rewrites the files."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from oirl_helpers import tiny_svamp

from drpo.cli import main

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "methods"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
SMALL_TASK = ("--eval_size", "10", "--test_size", "10")
#: Small, fast settings of each method (SIMULATED: every role on the simulated LLM).
RUNS: dict[str, tuple[str, ...]] = {
    # retrieval pinned to word hashing: the same on a machine without the MiniLM weights
    "drpo": ("--depth", "2", "--test_size", "2", "--embedding_backend", "hash"),
    "promptagent": (*SMALL_TASK, "--n_iters", "2", "--depth", "2"),
    "gpo": (*SMALL_TASK, "--depth", "2"),
    "ape": (*SMALL_TASK, "--depth", "2"),
    "opro": (*SMALL_TASK, "--depth", "2", "--score_size", "10"),
    "protegi": (*SMALL_TASK, "--depth", "2"),
    "oirl": ("--oirl_models", "linear", "--oirl_n_boot", "100"),
    "toy": ("--depth", "2"),
}
#: Keys whose values are times: they differ from run to run.
TIMES = re.compile(r"(elapsed_s|_s$|timings)")


def _check(path: Path, text: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"no golden file {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"differs from {path}"


def _normalise(value: Any, where: dict[str, str]) -> Any:
    """The value with the run's own paths named, and its times removed."""
    if isinstance(value, dict):
        return {k: "<time>" if TIMES.search(k) else _normalise(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, where) for v in value]
    if isinstance(value, str):
        for path, name in where.items():
            value = value.replace(path, name)
    return value


@pytest.mark.parametrize("method", sorted(RUNS))
def test_help_matches_its_golden_file(method: str, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as stop:
        main(["--method", method, "--help"])
    assert stop.value.code == 0
    # argparse wraps lines by the terminal and its version: compare the words in order
    text = " ".join(capsys.readouterr().out.split()) + "\n"
    _check(GOLDEN / f"{method}.help.txt", text.replace(" ", "\n"))


@pytest.mark.parametrize("method", sorted(RUNS))
def test_summary_on_the_simulated_llm_matches_its_golden_file(
    method: str, tmp_path: Path, capsys
) -> None:
    log_dir = tmp_path / "run"
    extra: tuple[str, ...] = ()
    if method == "oirl":
        extra = ("--oirl_logs", str(tiny_svamp(tmp_path / "svamp", n=12, held_out_n=4)))
    code = main(["--method", method, "--log_dir", str(log_dir), "--disable_tqdm",
                 *RUNS[method], *extra])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    where = {str(log_dir): "<log_dir>", str(tmp_path): "<tmp>", str(REPO): "<repo>"}
    if method == "toy":  # the toy method writes no summary.json: its tree's is pinned
        data = json.loads((log_dir / "algo_output" / "output.json").read_text(encoding="utf-8"))
    else:
        data = json.loads((log_dir / "summary.json").read_text(encoding="utf-8"))
    text = json.dumps(_normalise(data, where), indent=1, sort_keys=True, ensure_ascii=False)
    _check(GOLDEN / f"{method}.summary.json", text + "\n")
