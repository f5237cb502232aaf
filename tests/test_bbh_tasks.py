"""BIG-Bench Hard as task data: each task's answer format told from its gold answers and
scored right, and the share of answers in that format reported apart from accuracy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from drpo.llm import LLM, Backend, BackendCall, BackendResult
from drpo.llm._loop import run_sync
from drpo.methods.bbh import DESCRIPTIONS
from drpo.methods.task_scoring import TaskScorer, majority_baseline
from drpo.methods.tasks import extract_answer, in_format, is_correct, load_task

REPO = Path(__file__).resolve().parents[1]
BBH = REPO.parent / "shared" / "data" / "bbh"
needs_bbh = pytest.mark.skipif(
    not BBH.is_dir(), reason=f"the BBH data is not here ({BBH}); see ../shared/data/README.md"
)


def _task(name: str, **sizes: int):
    return load_task(name, data_dir=BBH, eval_size=sizes.get("eval", 10),
                     test_size=sizes.get("test", 20))  # fmt: skip


@needs_bbh
@pytest.mark.parametrize(
    ("name", "kind", "labels"),
    [
        ("logical_deduction_three_objects", "choice", None),
        ("sports_understanding", "label", ("no", "yes")),
        ("causal_judgement", "label", ("No", "Yes")),
        ("boolean_expressions", "label", ("False", "True")),
        ("formal_fallacies", "label", ("invalid", "valid")),
        ("object_counting", "number", None),
        ("multistep_arithmetic_two", "number", None),
        ("dyck_languages", "symbols", None),
        ("word_sorting", "exact", None),
    ],
)
def test_each_task_format_is_told_from_its_answers(name: str, kind: str, labels) -> None:
    task = _task(name)
    assert {e.kind for e in task.all_examples()} == {kind}
    if labels is not None:
        assert task.test[0].options == labels
    assert task.description == DESCRIPTIONS[name]  # BBH has none: ours is the initial prompt
    for example in task.all_examples():
        for text in (example.gold, f"Step by step... So the answer is {example.gold}."):
            assert is_correct(text, example), (name, text)
            assert in_format(extract_answer(text, example), example)


@needs_bbh
def test_letters_are_scored_as_letters_and_options_are_known() -> None:
    task = _task("logical_deduction_three_objects")
    example = task.test[0]
    assert len(example.options) == 3 and example.gold in ("(A)", "(B)", "(C)")
    wrong = next(f"({c})" for c in "ABC" if f"({c})" != example.gold)
    assert not is_correct(f"the answer is {wrong}", example)
    assert in_format(extract_answer(f"the answer is {wrong}", example), example)
    # a letter that is no option, or no letter at all, is out of the task's format
    assert not in_format(extract_answer("the answer is (F)", example), example)
    assert not in_format(extract_answer("I cannot tell.", example), example)


@needs_bbh
def test_a_label_in_another_task_format_is_a_format_error() -> None:
    """The 0.5B answers True/False where sports_understanding wants yes/no: wrong, and out
    of format; "Yes." is right when the gold is "yes"."""
    example = next(e for e in _task("sports_understanding").test if e.gold == "yes")
    assert not is_correct("The answer is True.", example)
    assert not in_format(extract_answer("The answer is True.", example), example)
    assert is_correct("Yes. The answer is: Yes.", example)
    assert not is_correct("the answer is no", example)
    logic = next(e for e in _task("formal_fallacies").test if e.gold == "invalid")
    assert is_correct("The argument is invalid.", logic)  # "invalid" is not read as "valid"
    assert not is_correct("So the answer is valid.", logic)


@needs_bbh
def test_numbers_and_words_and_brackets() -> None:
    arithmetic = next(e for e in _task("multistep_arithmetic_two").test if e.gold.startswith("-"))
    assert is_correct(f"= {arithmetic.gold[1:]} * -1, so the answer is {arithmetic.gold}.",
                      arithmetic)  # fmt: skip
    assert not is_correct(f"the answer is {arithmetic.gold[1:]}", arithmetic)
    dyck = _task("dyck_languages").test[0]
    assert is_correct(f"the answer is {dyck.gold.replace(' ', '')}", dyck)
    assert not is_correct("the answer is ( (", dyck)
    words = _task("word_sorting").test[0]
    assert not is_correct("the answer is " + " ".join(reversed(words.gold.split())), words)


@needs_bbh
def test_examples_whose_options_were_lost_are_left_out() -> None:
    raw = json.loads((BBH / "movie_recommendation.json").read_text())["examples"]
    task = load_task("movie_recommendation", data_dir=BBH, eval_size=10, test_size=10)
    assert len(task.all_examples()) == len(raw) - 1
    assert {e.kind for e in task.all_examples()} == {"choice"}


def test_label_format_is_detected_in_any_bbh_layout_file(tmp_path: Path) -> None:
    """Without the shared data: a BBH-layout file of yes/no answers is a label task."""
    rows = [{"input": f"Is {i} even?", "target": "yes" if i % 2 == 0 else "no"}
            for i in range(40)]  # fmt: skip
    path = tmp_path / "parity.json"
    path.write_text(json.dumps({"examples": rows}))
    task = load_task(path, eval_size=5, test_size=10)
    example = task.test[0]
    assert example.kind == "label" and example.options == ("no", "yes")
    assert task.description == ""  # not a BBH task we describe
    assert not in_format(extract_answer("False", example), example)
    two = tmp_path / "capitals.json"  # two free answers are no label set
    two.write_text(json.dumps({"examples": [{"input": "France?", "target": "Paris"},
                                            {"input": "Germany?", "target": "Berlin"},
                                            {"input": "Spain?", "target": "Madrid"}]}))  # fmt: skip
    assert load_task(two, eval_size=1, test_size=1).test[0].kind == "exact"


class Constant(Backend):
    """A task model that answers every question with the same text."""

    kind = "sim"

    def __init__(self, text: str) -> None:
        super().__init__("constant")
        self.text = text

    async def agenerate(self, calls: Sequence[BackendCall], on_result: Any = None) -> list:
        return [BackendResult((self.text,) * c.count, ("stop",) * c.count, 1, 1) for c in calls]


@needs_bbh
def test_format_share_is_apart_from_accuracy() -> None:
    task = _task("sports_understanding", test=40)
    yes = sum(e.gold == "yes" for e in task.test) / len(task.test)
    scores = {}
    for text in ("The answer is True.", "The answer is yes."):
        scorer = TaskScorer(LLM(Constant(text), role="base"))
        (scores[text],) = run_sync(scorer.score_many([("Decide.", task.test)]))
    assert scores["The answer is True."].accuracy == 0.0
    assert scores["The answer is True."].format_share == 0.0
    assert scores["The answer is yes."].format_share == 1.0
    assert scores["The answer is yes."].accuracy == pytest.approx(yes)
    baseline = majority_baseline(task.test)
    assert baseline["accuracy"] == pytest.approx(max(yes, 1 - yes), abs=1e-4)


@needs_bbh
def test_a_run_on_a_bbh_task_reports_format_shares(tmp_path: Path) -> None:
    """train.py on a BBH task (simulated LLM): summary.json and the closing lines carry the
    format shares of the initial and the final prompt and the majority baseline, and they
    agree with the answers in test_answers.json."""
    log_dir = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "train.py", "--method", "ape", "--task", "sports_understanding",
         "--data_dir", str(BBH), "--eval_size", "10", "--test_size", "20",
         "--log_dir", str(log_dir), "--disable_tqdm"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads((log_dir / "summary.json").read_text())
    answers = json.loads((log_dir / "test_answers.json").read_text())["answers"]
    for side in ("initial", "final"):
        share = sum(a[side]["in_format"] for a in answers) / len(answers)
        assert summary[f"{side}_test_format_share"] == pytest.approx(share, abs=1e-4)
    gold = [a["gold"] for a in answers]
    commonest = max(set(gold), key=gold.count)
    assert summary["test_majority_answer"] == {
        "answer": commonest,
        "accuracy": round(gold.count(commonest) / len(gold), 4),
    }
    assert "test answers in the task's format: initial prompt" in out.stdout
