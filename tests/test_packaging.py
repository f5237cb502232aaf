"""What a user gets from the package: light imports, a working CLI, clean code."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "vllm", "faiss", "openai", "transformers", "reasoners")


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def test_core_packages_import_nothing_heavy() -> None:
    code = (
        "import sys, world_model, search, search.testing, world_model.toy;"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = run("-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_train_runs_the_toy_search_and_writes_every_artefact(tmp_path: Path) -> None:
    log_dir = tmp_path / "run"
    out = run("train.py", "--method", "toy", "--log_dir", str(log_dir), "--search", "mcts",
              "--depth=3")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "no LLM" in out.stdout
    for name in (
        "args.txt",
        "algo_output/output.pkl",
        "algo_output/output.json",
        "algo_output/trace.txt",
    ):
        assert (log_dir / name).is_file(), name
    data = json.loads((log_dir / "algo_output/output.json").read_text())
    assert data["algorithm"] == "MCTS" and data["meta"]["method"] == "toy"


@pytest.mark.parametrize("style", [["--beam_size=3"], ["--beam_size", "3"]])
def test_both_option_styles(tmp_path: Path, style: list[str]) -> None:
    out = run("train.py", "--method=toy", "--log_dir", str(tmp_path), *style)
    assert out.returncode == 0, out.stderr
    assert "beam_size: 3" in (tmp_path / "args.txt").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "toy", "--beam_size", "0"], "beam_size must be >= 1"),
        (["--method", "toy", "--depth", "-1"], "--depth must be >= 1"),
        (["--method", "toy", "--depth", "0"], "--depth must be >= 1"),
        (["--search", "dfs"], "invalid choice: 'dfs'"),
        (["--n_iters", "x"], "invalid int value"),
        (["--method", "toy", "--search", "mcts", "--n_iters", "0"], "n_iters must be >= 1"),
        (["--method", "toy", "--noise_std", "-1"], "noise_std must be >= 0"),
        (["--method", "toy", "--log_dir", "/proc/cannot/write/here"], "cannot write to log_dir"),
        (["--beam_size", "0"], "beam_size must be >= 1"),
        (["--depth", "0"], "depth must be >= 1"),
        (["--search", "mcts", "--n_iters", "0"], "n_iters must be >= 1"),
        (["--log_dir", "/proc/cannot/write/here"], "cannot write to log_dir"),
        (["--ret_icl", "maybe"], "expected true or false"),
        (["--eval_backend", "openai", "--eval_base_url", "localhost:1"], "malformed base URL"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str, tmp_path: Path) -> None:
    out = run(str(REPO / "train.py"), *args, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "logs").exists(), "a rejected run must not leave a log_dir"


def test_secrets_never_reach_args_txt(tmp_path: Path) -> None:
    from drpo.run_dir import write_args

    os.environ["OPENAI_API_KEY"] = "sk-test-marker-123456"
    try:
        path = write_args(
            tmp_path, {"api_key": "abc", "base_url": "sk-test-marker-123456/v1", "depth": 3}
        )
    finally:
        del os.environ["OPENAI_API_KEY"]
    text = path.read_text()
    assert "abc" not in text and "sk-test-marker" not in text and "depth: 3" in text


@pytest.mark.skipif(importlib.util.find_spec("ruff") is None, reason="ruff is not installed")
def test_ruff_is_clean() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_llm_layer_imports_its_heavy_clients_lazily() -> None:
    code = f"import sys, drpo.llm, drpo.sim;print([m for m in {HEAVY!r} if m in sys.modules])"
    out = run("-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
