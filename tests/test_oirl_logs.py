"""Prompt-OIRL's released logs: read as released, and the selections they answer alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from prerequisites import DATA, needs_data

from drpo.methods.oirl.logs import LogError, load_released_logs, log_only_selections

LOGS = DATA / "prompt_oirl" / "gsm8k_llama2"
needs_logs = needs_data("prompt_oirl/gsm8k_llama2", "gsm8k")


@needs_logs
def test_the_released_logs_load_aligned_with_gsm8k() -> None:
    logs = load_released_logs(LOGS, questions=DATA / "gsm8k")
    assert len(logs.prompts) == 16 and len(logs.training) == 6
    assert {len(v) for v in logs.train.values()} == {7473}  # every GSM8K train question
    assert {len(v) for v in logs.test.values()} == {1000}  # test questions 0..999


@needs_logs
def test_the_log_only_selections_match_the_reference_figures() -> None:
    got = log_only_selections(load_released_logs(LOGS))
    assert round(got["best training prompt chosen on train (CoT)"], 3) == 0.240
    assert round(got["best training prompt in hindsight (nan)"], 3) == 0.248
    assert round(got["oracle over the 6 training prompts"], 3) == 0.501
    assert round(got["oracle over all 16 prompts"], 3) == 0.648


def _tiny(folder: Path, lines: dict[str, list[str]], prompts: list[dict] | None = None) -> Path:
    listed = prompts if prompts is not None else [
        {"alias": "a", "text": "A:", "role": "training"},
        {"alias": "h", "text": "H:", "role": "held_out"},
    ]  # fmt: skip
    (folder / "logs").mkdir(parents=True)
    (folder / "prompts.json").write_text(json.dumps({"prompts": listed}))
    for name, rows in lines.items():
        (folder / "logs" / f"llama_gsm8k_{name}.txt").write_text("\n".join(rows) + "\n")
    return folder


GOOD = {
    "corr_a": ["(0, True)", "(1, False)"],
    "test_corr_a": ["(0, False)"],
    "corr_h": ["(0, True)"],
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"corr_h": None}, "missing log file"),
        ({"corr_h": ["(0, True)", "(1, True)"]}, "disagree on the number of questions"),
        ({"corr_a": ["(0, True)", "(2, False)"]}, "has index 2, expected 1"),
        ({"corr_a": ["0 True"]}, r"is not '\(index, True/False\)'"),
    ],
)
def test_bad_logs_get_a_clear_error(tmp_path: Path, change: dict, message: str) -> None:
    lines = {**GOOD, **change}
    folder = _tiny(tmp_path / "logs", {k: v for k, v in lines.items() if v is not None})
    with pytest.raises(LogError, match=message):
        load_released_logs(folder)


def test_an_empty_prompt_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LogError, match="lists no prompts"):
        load_released_logs(_tiny(tmp_path / "logs", GOOD, prompts=[]))


@needs_logs
def test_logs_longer_than_the_dataset_are_refused(tmp_path: Path) -> None:
    questions = tmp_path / "gsm8k"
    questions.mkdir()
    shutil.copy(DATA / "gsm8k" / "train.jsonl", questions / "train.jsonl")
    (questions / "test.jsonl").write_text('{"question": "q", "answer": "1"}\n' * 10)
    with pytest.raises(LogError, match="the test logs cover 1000 questions"):
        load_released_logs(LOGS, questions=questions)
