"""`python train.py` for DRPO, end to end, as a user runs it (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prerequisites import DRPO_DATA, needs_data
from run_helpers import kill_after_frontiers, over_http, train, tree_without_meta

from drpo.methods.drpo.data import DEMO_DATA_DIR

REPO = Path(__file__).resolve().parents[1]
SHARED = DRPO_DATA
ARTEFACTS = (
    "args.txt", "log.txt", "algo_output/output.pkl", "algo_output/output.json",
    "algo_output/trace.txt", "best_system_prompt.txt", "usage.json", "summary.json",
    "checkpoint.json",
)  # fmt: skip


def test_the_default_run_writes_every_artefact(tmp_path: Path) -> None:
    out = train(cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "DRPO ran on the simulated LLM (results are simulated)" in out.stdout
    (log_dir,) = (tmp_path / "logs").iterdir()
    for name in ARTEFACTS:
        assert (log_dir / name).is_file(), name
    summary = json.loads((log_dir / "summary.json").read_text())
    assert summary["simulated"] is True
    assert (
        summary["best_path_mean_reward"] > summary["initial_prompt_mean_reward_on_the_same_queries"]
    )
    tree = json.loads((log_dir / "algo_output/output.json").read_text())
    assert tree["algorithm"] == "BeamSearch" and tree["meta"]["method"] == "drpo"
    best = tree["nodes"][tree["best_path"][-1]]["state"]["system_prompt"]
    assert best == (log_dir / "best_system_prompt.txt").read_text().strip()
    trace = (log_dir / "algo_output/trace.txt").read_text()
    assert "system_prompt" in trace and "scores" in trace and "query" in trace
    log = (log_dir / "log.txt").read_text()
    assert "evaluation of query" in log and "proposed system prompt" in log
    assert json.loads((log_dir / "checkpoint.json").read_text())["status"] == "done"


@pytest.mark.parametrize("style", [["--beam_size=3"], ["--beam_size", "3"]])
def test_both_option_styles(tmp_path: Path, style: list[str]) -> None:
    out = train("--depth=2", "--log_dir", str(tmp_path / "r"), *style)
    assert out.returncode == 0, out.stderr
    tree = json.loads((tmp_path / "r/algo_output/output.json").read_text())
    assert tree["settings"]["beam_size"] == 3


def test_mcts_writes_valid_artefacts(tmp_path: Path) -> None:
    out = train(
        "--search", "mcts", "--n_iters", "4", "--depth", "4", "--log_dir", str(tmp_path / "r")
    )
    assert out.returncode == 0, out.stderr
    tree = json.loads((tmp_path / "r/algo_output/output.json").read_text())
    assert tree["algorithm"] == "MCTS" and len(tree["iterations"]) == 4


def test_debug_logging_records_the_prompts(tmp_path: Path) -> None:
    out = train("--depth", "2", "--logging_level", "DEBUG", "--log_dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    log = (tmp_path / "r/log.txt").read_text()
    assert "optimize request" in log and "<system_prompt>" in log and "eval request" in log


def test_over_http_the_result_is_the_in_process_one(sim_server, tmp_path: Path) -> None:
    server = sim_server()
    local = train("--depth", "5", "--log_dir", str(tmp_path / "local"))
    remote = train("--depth", "5", "--log_dir", str(tmp_path / "http"), *over_http(server.url))
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr
    prompts = [(tmp_path / d / "best_system_prompt.txt").read_text() for d in ("local", "http")]
    assert prompts[0] == prompts[1]
    assert server.stats()["completions"] > 20


def test_kill_9_and_resume_pays_nothing_twice_and_ends_the_same(sim_server, tmp_path: Path) -> None:
    server = sim_server(latency_ms=25)
    args = ["--depth", "8", "--seed", "3", *over_http(server.url)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run_dir = tmp_path / "crashed"
    command = [sys.executable, str(REPO / "train.py"), "--disable_tqdm", "--log_dir", str(run_dir)]
    proc = subprocess.Popen(
        [*command, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    kill_after_frontiers(proc, run_dir, 3, timeout_s=60)
    assert json.loads((run_dir / "checkpoint.json").read_text())["status"] == "running"
    paid_before = server.stats()["completions"]

    resumed = train("--log_dir", str(run_dir), "--resume", *args)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after" in resumed.stdout
    paid = server.stats()["completions"]
    assert paid > paid_before

    clean_server = sim_server(latency_ms=25)
    clean_args = ["--depth", "8", "--seed", "3", *over_http(clean_server.url)]
    clean = train("--log_dir", str(tmp_path / "clean"), *clean_args)
    assert clean.returncode == 0, clean.stderr
    assert tree_without_meta(run_dir) == tree_without_meta(tmp_path / "clean")
    # Only answers in flight at the moment of the kill can have been paid twice.
    assert paid <= clean_server.stats()["completions"] + 8
    usage = json.loads((run_dir / "usage.json").read_text())
    assert len(usage["earlier_attempts"]) == 1


def test_resume_refuses_other_settings_and_a_used_log_dir(tmp_path: Path) -> None:
    run_dir = str(tmp_path / "r")
    assert train("--depth", "2", "--log_dir", run_dir).returncode == 0
    again = train("--depth", "2", "--log_dir", run_dir)
    assert again.returncode == 2 and "already holds a run" in again.stderr
    args_txt = (tmp_path / "r" / "args.txt").read_bytes()
    other = train("--depth", "3", "--log_dir", run_dir, "--resume")
    assert other.returncode == 2 and "other settings" in other.stderr
    assert (tmp_path / "r" / "args.txt").read_bytes() == args_txt  # the record it points to
    same = train("--depth", "2", "--log_dir", run_dir, "--resume")
    assert same.returncode == 0, same.stderr


@needs_data("drpo")
def test_the_real_drpo_data_and_gpt4_selections(tmp_path: Path) -> None:
    out = train(
        "--data_dir", str(SHARED), "--metrics_cache_path", str(SHARED / "metrics_cache.json"),
        "--depth", "3", "--num_training_examples", "20", "--log_dir", str(tmp_path / "r"),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    cache = json.loads((tmp_path / "r/metrics_cache.json").read_text())
    shared = json.loads((SHARED / "metrics_cache.json").read_text())
    assert set(shared) <= set(cache), "the given selections are reused (and never overwritten)"


def test_fixed_examples_and_the_icl_stage(tmp_path: Path) -> None:
    fixed = train("--ret_icl=False", "--depth", "2", "--log_dir", str(tmp_path / "fixed"))
    assert fixed.returncode == 0, fixed.stderr
    staged = train("--optimize_icl", "--icl_num_iters", "2", "--depth", "2",
                   "--log_dir", str(tmp_path / "icl"))  # fmt: skip
    assert staged.returncode == 0, staged.stderr
    examples = json.loads((tmp_path / "icl/icl_examples.json").read_text())
    assert len(examples) == 6
    # The aligned model carries the optimised examples, or the fixed set without retrieval.
    aligned = json.loads((tmp_path / "icl/aligned_model.json").read_text())
    assert aligned["examples"] == examples and aligned["retrieve"] and aligned["k"] == 2
    fixed_model = json.loads((tmp_path / "fixed/aligned_model.json").read_text())
    assert not fixed_model["retrieve"] and fixed_model["embedder"] is None
    assert fixed_model["k"] == len(fixed_model["examples"])


def test_the_budget_stops_cleanly_and_resume_continues(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"sim": {"input": 500.0, "output": 500.0}}))
    run_dir = str(tmp_path / "r")
    args = ["--depth", "4", "--prices", str(prices), "--log_dir", run_dir]
    stopped = train(*args, "--budget_usd", "3")
    assert stopped.returncode == 3, stopped.stderr
    assert "stopped before exceeding the budget" in stopped.stderr
    assert len(stopped.stderr.strip().splitlines()) == 1
    state = json.loads((tmp_path / "r/checkpoint.json").read_text())
    assert state["status"] == "interrupted" and state["usage"]["total"]["cost_usd"] <= 3
    finished = train(*args, "--budget_usd", "100000", "--resume")
    assert finished.returncode == 0, finished.stderr


def test_no_secret_reaches_a_file_or_the_terminal(sim_server, tmp_path: Path) -> None:
    marker = "sk-test-9f8e7d6c5b4a3210"
    server = sim_server(api_key=marker)
    out = train("--depth", "2", "--log_dir", str(tmp_path / "r"), *over_http(server.url),
                env={"OPENAI_API_KEY": marker})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert marker not in out.stdout + out.stderr
    for path in (tmp_path / "r").rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--data_dir", "/nonexistent/dir"], {}, "data_dir /nonexistent/dir is not a directory"),
        (["--eval_model_name", "gpt-4o"], {"OPENAI_API_KEY": ""}, "OPENAI_API_KEY is not set"),
        (["--base_backend", "vllm", "--base_model_name", "m", "--num_gpus", "0"], {}, "num_gpus"),
        (["--initial_system_prompt", ""], {}, "initial system prompt is empty"),
        (["--n_actions", "0"], {}, "n_actions must be >= 1"),
        (["--k", "0"], {}, "k must be >= 1"),
        (["--search", "greedy"], {}, "DRPO searches with beam or mcts"),
        (["--timeout", "0"], {}, "timeout must be > 0 seconds"),
        (["--method", "promptagent", "--concurrency", "0"], {}, "concurrency must be >= 1"),
        (["--method", "gpo", "--max_retries", "-1"], {}, "max_retries must be >= 0"),
        (["--retry_backoff", "-1"], {}, "retry_backoff must be >= 0"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(
    args: list[str], env: dict, message: str, tmp_path: Path
) -> None:
    out = train(*args, cwd=tmp_path, env=env)
    assert out.returncode == 2, out.stdout
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"alpaca_train.json": "[{"}, "alpaca_train.json is not valid JSON"),
        ({"mal_train.txt": ""}, "mal_train.txt holds no queries"),
        ({"ICL_optimization/out_16_5.json": "[]"}, "must be a JSON object of query -> answer"),
        ({"mal_train.txt": "q" * 200_001}, "the most a query may have is 200,000"),
    ],
)
def test_bad_data_files_get_one_line(files: dict, message: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for src in DEMO_DATA_DIR.glob("**/*"):  # the data the package ships, one file damaged
        if src.is_file() and src.suffix in (".json", ".txt"):
            dest = data / src.relative_to(DEMO_DATA_DIR)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(src.read_bytes())
    for name, content in files.items():
        (data / name).write_text(content)
    out = train("--data_dir", str(data), "--log_dir", str(tmp_path / "r"))
    assert out.returncode == 2 and message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
