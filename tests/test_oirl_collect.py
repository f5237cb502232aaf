"""Collecting logs in our layout: every (query, prompt) pair answered by a backend of the
LLM layer (here the simulated LLM), judged by the last number, written as it arrives and
resumed after a stop; the result trains like the released logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from oirl_helpers import DATA, needs_data

from drpo.cli import main as train_main
from drpo.methods.oirl.collect import gold_number, is_correct
from drpo.methods.oirl.commands import main
from drpo.methods.oirl.layout import load_collected
from drpo.methods.oirl.logs import LogError

PROMPTS = {
    "prompts": [
        {"alias": "plain", "text": "The answer is:", "role": "training"},
        {"alias": "cot", "text": "Let's think step by step.", "role": "training"},
        {"alias": "check", "text": "Think step by step and check each step.", "role": "held_out"},
    ]
}


def test_the_judge_reads_the_last_number() -> None:
    assert gold_number("She makes 9 * 2 = $18.\n#### 18") == 18.0
    assert gold_number(2.5) == 2.5
    assert is_correct("first 3 apples, then 1,250 in all.", 1250.0)
    assert not is_correct("the answer is 18, no wait, 19", 18.0)
    assert not is_correct("no number here", 1.0)
    with pytest.raises(ValueError, match="no gold number"):
        gold_number("no number")


def _questions(tmp_path: Path, n: int = 12) -> Path:
    path = tmp_path / "q.jsonl"
    path.write_text(
        "".join(
            json.dumps({"question": f"What is {i} plus {i}?", "answer": f"#### {2 * i}"}) + "\n"
            for i in range(n)
        )
    )
    return path


def _collect(tmp_path: Path, *extra: str) -> int:
    (tmp_path / "p.json").write_text(json.dumps(PROMPTS))
    return main(
        [
            "collect",
            "--questions",
            str(_questions(tmp_path)),
            "--prompts",
            str(tmp_path / "p.json"),
            "--out",
            str(tmp_path / "logs"),
            *extra,
        ]
    )


def test_collection_writes_our_layout_and_resumes(tmp_path: Path, capsys) -> None:
    assert _collect(tmp_path) == 0
    data = load_collected(tmp_path / "logs")
    n_test = len(data.test_rows)
    outcomes = (tmp_path / "logs" / "outcomes.jsonl").read_text().splitlines()
    assert len(outcomes) == 2 * 12 + n_test  # held-out prompts run on test rows only
    assert {json.loads(x)["output"].startswith("(simulated") for x in outcomes} == {True}
    # a stop mid-way: the last lines lost, the final one cut off half way
    (tmp_path / "logs" / "outcomes.jsonl").write_text(
        "\n".join(outcomes[:10]) + "\n" + outcomes[10][:15]
    )
    capsys.readouterr()
    assert _collect(tmp_path) == 0
    assert f"collected {len(outcomes) - 10} new pairs" in capsys.readouterr().out
    again = load_collected(tmp_path / "logs")
    assert (again.labels == data.labels)[~(again.labels != again.labels)].all()


def test_collected_logs_train_and_write_results(tmp_path: Path, capsys) -> None:
    assert _collect(tmp_path) == 0
    code = train_main(
        [
            "--method",
            "oirl",
            "--oirl_logs",
            str(tmp_path / "logs"),
            "--oirl_models",
            "linear,kernel",
            "--log_dir",
            str(tmp_path / "run"),
            "--oirl_n_boot",
            "200",
            "--disable_tqdm",
        ]
    )
    assert code == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert {"best_single_train", "best_of_2", "oracle_2", "best_of_all", "oracle_all"} <= set(
        results["strategies"]
    )


@pytest.mark.parametrize(
    ("prompts", "message"),
    [
        ({"prompts": []}, "lists no prompts"),
        ({"prompts": [{"alias": "h", "text": "x", "role": "held_out"}]}, "no training prompt"),
    ],
)
def test_bad_prompt_lists_are_refused(tmp_path: Path, capsys, prompts, message) -> None:
    (tmp_path / "p.json").write_text(json.dumps(prompts))
    code = main(
        [
            "collect",
            "--questions",
            str(_questions(tmp_path)),
            "--prompts",
            str(tmp_path / "p.json"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2 and message in capsys.readouterr().err


def test_an_outcome_outside_the_questions_is_refused(tmp_path: Path) -> None:
    assert _collect(tmp_path) == 0
    with open(tmp_path / "logs" / "outcomes.jsonl", "a") as handle:
        handle.write(json.dumps({"row": 99, "alias": "cot", "correct": True, "output": ""}) + "\n")
    with pytest.raises(LogError, match="row 99 is outside the 12 questions"):
        load_collected(tmp_path / "logs")


@needs_data
def test_a_few_gsm8k_questions_collect_on_the_simulated_llm(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps(PROMPTS))
    code = main(
        [
            "collect",
            "--questions",
            str(DATA / "gsm8k" / "test.jsonl"),
            "--prompts",
            str(tmp_path / "p.json"),
            "--out",
            str(tmp_path / "g"),
            "--limit",
            "8",
        ]
    )
    assert code == 0
    data = load_collected(tmp_path / "g")
    assert len(data.questions) == 8 and data.questions[0].startswith("Janet")
