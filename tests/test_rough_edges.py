"""What a new user meets at the edges of a run: why a run ended on its initial prompt, the
note beside simulated figures, the console's last lines, and the command line's answers to
a mistake (one line, exit 2, a suggestion where one helps)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from oirl_helpers import tiny_svamp

from drpo.cli import main
from drpo.methods.drpo import sim as drpo_sim
from drpo.methods.runner import unchanged_reason
from drpo.sim import SimulatedLLM

REPO = Path(__file__).resolve().parents[1]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["--disable_tqdm", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---- why nothing changed ------------------------------------------------------------------
def test_a_drpo_run_whose_proposals_are_all_refused_says_why_on_stdout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The optimiser loops, as a small real model does.
    looping = {"analysis": "The answer could be kinder.",
               "new_system_prompt": "Be helpful and kind. " * 12}  # fmt: skip
    monkeypatch.setattr(drpo_sim, "optimise_prompt", lambda request: json.dumps(looping))
    code, out, _ = _run(capsys, "--depth", "1", "--log_dir", str(tmp_path / "run"))
    assert code == 0
    [line] = [x for x in out.splitlines() if x.startswith("why the prompt is unchanged")]
    assert "the optimiser's 3 answer(s) were all refused" in line
    assert "commonest reason (3 of 3): 'new_system_prompt' repeats the same words over" in line


def test_a_task_run_where_nothing_scores_better_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A task model that never answers right: no prompt can score better than the initial one.
    monkeypatch.setattr(SimulatedLLM, "_answer_task",
                        lambda self, messages, question, draw: "I cannot tell.")  # fmt: skip
    code, out, _ = _run(capsys, "--method", "promptagent", "--n_iters", "1",
                        "--log_dir", str(tmp_path / "run"))  # fmt: skip
    assert code == 0
    [line] = [x for x in out.splitlines() if x.startswith("why the prompt is unchanged")]
    assert line == ("why the prompt is unchanged: no prompt the search tried scored better than "
                    "the initial one on the eval split")  # fmt: skip


def test_a_run_that_found_a_better_prompt_prints_no_why_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = _run(capsys, "--depth", "2", "--log_dir", str(tmp_path / "run"))
    assert code == 0
    best = (tmp_path / "run" / "best_system_prompt.txt").read_text()
    assert best.strip() != "You are a helpful assistant."
    assert "why the prompt is unchanged" not in out


def _optimiser(answers: int, refused: int, reasons: dict[str, int]) -> dict:
    row = {"role": "optimize", "json_answers": answers, "json_unusable": refused,
           "unusable_reasons": reasons}  # fmt: skip
    return {"roles": [{"role": "base", "json_answers": 9, "json_unusable": 9}, row]}


def test_the_reason_names_nothing_better_and_counts_some_refusals() -> None:
    usage = _optimiser(12, 2, {"too long": 1, "a copy of the query": 1})
    reason = unchanged_reason(usage, {}, judged_on="the eval split")
    assert reason == ("no prompt the search tried scored better than the initial one on the "
                      "eval split (2 of 12 optimiser answer(s) refused; commonest reason (1 of "
                      "2): too long)")  # fmt: skip
    assert "refused" not in unchanged_reason(_optimiser(4, 0, {}), {}, judged_on="eval")


def test_a_budget_stop_is_named_with_its_limits() -> None:
    budget = {"search_budget": {"stopped_on_budget": True, "limits": {"calls": 40, "usd": None}}}
    reason = unchanged_reason(_optimiser(3, 0, {}), budget, judged_on="the eval split")
    assert reason == ("the search stopped on its budget (40 calls) before any prompt scored "
                      "better on the eval split")  # fmt: skip


def test_every_answer_refused_wins_over_a_budget_stop() -> None:
    budget = {"search_budget": {"stopped_on_budget": True, "limits": {"calls": 5}}}
    reason = unchanged_reason(_optimiser(2, 2, {"x": 2}), budget, judged_on="eval")
    assert reason.startswith("the optimiser's 2 answer(s) were all refused")


def test_a_simulated_task_run_says_its_figures_cannot_compare_methods(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = _run(capsys, "--method", "ape", "--log_dir", str(tmp_path / "run"))
    assert code == 0
    lines = out.splitlines()
    test_line = next(i for i, x in enumerate(lines) if x.startswith("test accuracy:"))
    assert lines[test_line + 1].startswith("test answers in the task's format:")
    assert lines[test_line + 2].startswith("simulated figures: the simulated task model rewards")
    assert "not which method is better" in lines[test_line + 2]


# ---- the console --------------------------------------------------------------------------
def test_the_calls_bar_ends_with_the_calls_answered_and_a_plural(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--depth", "2", "--log_dir", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err.replace("\r", "\n")
    usage = json.loads((tmp_path / "run" / "usage.json").read_text())
    last = [x for x in err.splitlines() if x.startswith("LLM calls")][-1]
    assert last.startswith(f"LLM calls answered: {usage['total']['requests']} calls ["), last
    assert "0call" not in err and "call/s" not in err


def test_an_offline_prompt_oirl_run_shows_no_calls_bar(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    logs = tiny_svamp(tmp_path / "svamp", n=12, held_out_n=4)
    argv = ["--method", "oirl", "--oirl_logs", str(logs), "--oirl_models", "linear"]
    assert main([*argv, "--log_dir", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "Prompt-OIRL" in err  # the run's own bar is there
    assert "LLM calls" not in err


def test_a_connection_error_ends_its_sentence_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    nowhere = [f"--{role}_base_url=http://127.0.0.1:9/v1"
               for role in ("base", "eval", "metrics", "optimize")]  # fmt: skip
    code, _, err = _run(capsys, *nowhere, "--max_retries", "0", "--depth", "1",
                        "--log_dir", str(tmp_path / "run"))  # fmt: skip
    assert code == 1
    assert "APIConnectionError: Connection error. Everything answered so far" in err
    assert ".." not in err


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (None, "train.py: error: --resume needs --log_dir, the folder of the run to continue"),
        ("missing", "does not exist, so there is no run to continue"),
    ],
)
def test_resume_with_no_run_to_continue_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str | None, message: str
) -> None:
    monkey_dir = ["--log_dir", str(tmp_path / where)] if where else []
    code, out, err = _run(capsys, "--resume", *monkey_dir)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert out == "" and not (tmp_path / "missing").exists()


def test_resume_in_a_folder_without_a_checkpoint_says_a_new_run_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "run").mkdir()
    code, _, err = _run(capsys, "--resume", "--depth", "1", "--log_dir", str(tmp_path / "run"))
    assert code == 0
    assert "holds no checkpoint.json, so there is nothing to continue: a new run starts" in err


# ---- the command line ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--depht", "3"], "unrecognized arguments: --depht 3 (--depht: did you mean --depth?)"),
        (["--beamsize=3"], "(--beamsize: did you mean --beam_size?)"),
        (["--method", "toy", "--depth", "0"], "--depth must be >= 1"),
        (["--model_path", "qwen7b"],
         "the known names: gemma3-270m, qwen0.5b, qwen1.5b, smollm2 "
         "(fetch one with: python -m drpo.models fetch NAME)"),
        (["--model_path", "qwen0.5"], "did you mean qwen0.5b?"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_exit_2_with_what_would_be_right(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], message: str
) -> None:
    with_dir = [*argv, "--log_dir", str(tmp_path / "run")]
    try:
        code, out, err = _run(capsys, *with_dir)
    except SystemExit as stop:  # argparse's own errors
        code, (out, err) = stop.code, capsys.readouterr()
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and out == ""
    assert not (tmp_path / "run").exists()


def test_a_task_that_is_a_folder_says_so_and_what_it_holds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "counting.json").write_text("[]")
    code, _, err = _run(capsys, "--method", "ape", "--task", str(folder),
                        "--log_dir", str(tmp_path / "run"))  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"--task {str(folder)!r} is a directory; --task takes a task file" in err
    assert f"e.g. --data_dir {folder} --task counting (it holds counting)" in err
    code, _, err = _run(capsys, "--method", "ape", "--task", "tasks", "--data_dir", str(tmp_path),
                        "--log_dir", str(tmp_path / "run"))  # fmt: skip
    assert code == 2 and f"is a directory in --data_dir ({folder})" in err


# ---- the test suite on a fresh clone ------------------------------------------------------
def test_without_chromium_and_the_data_the_tests_skip_and_say_why(tmp_path: Path) -> None:
    """A clone without ../shared/data and without chromium: the tests that need them skip,
    each with the reason and how to get what is missing; none fails."""
    python = Path(sys.executable)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env |= {"PATH": str(python.parent), "PROMPT_SEARCH_DATA": str(tmp_path / "no-data"),
            "PYTHONPATH": str(REPO)}  # fmt: skip
    tests = [
        "tests/test_visualizer_browser.py",
        "tests/test_arena_browser.py",
        "tests/test_drpo.py::test_training_mix_is_proportional_and_seeded",
        "tests/test_oirl_logs.py",
        "tests/test_promptagent.py::test_every_bigbench_task_loads_and_splits",
    ]
    done = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *tests],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert "failed" not in done.stdout and "error" not in done.stdout.lower()
    assert (
        "chromium and chromedriver are not on PATH (Debian: sudo apt-get install chromium "
        "chromium-driver)" in done.stdout
    )
    assert f"needs the project's data: {tmp_path / 'no-data' / 'drpo'} is absent" in done.stdout
    assert "or set PROMPT_SEARCH_DATA to it" in done.stdout
    for part in ("bigbench", "prompt_oirl/gsm8k_llama2"):
        assert f"{tmp_path / 'no-data' / part} is absent" in done.stdout
