"""Our meta-prompts against a REAL model's answers: Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, on
llama.cpp), recorded by `python -m bench.real_templates` and replayed here through the same
code. A template that changes has no recorded answer any more, and this test says so until
its real answers are recorded again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from drpo.llm import RoleSettings, UsageTracker, make_llms
from drpo.llm.replay import Replay

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.real_templates import ROLES, check, run_templates  # noqa: E402

RECORDED = Path(__file__).with_name("data") / "real_answers_qwen0.5b.json"


@pytest.fixture(scope="module")
def replayed():
    replay = Replay(RECORDED)
    usage = UsageTracker()
    llms = make_llms({r: RoleSettings() for r in ROLES}, usage=usage)
    for llm in llms.values():
        llm.backend = replay
    return replay, run_templates(llms, usage)


def test_the_answers_are_a_real_models(replayed) -> None:
    replay, _ = replayed
    assert replay.about["real"] is True and replay.about["name"] == "qwen0.5b"
    assert replay.model == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


def test_the_judges_follow_their_templates(replayed) -> None:
    _, report = replayed
    assert not [s for s in report.selections if not isinstance(s, list)]
    assert not [e for e in report.evaluations if isinstance(e, str)]
    for role in ("metrics", "eval"):
        use = report.json[role]
        assert use["first_try"] >= 0.9 * use["answers"] and use["unusable"] == 0


def test_every_optimiser_template_gets_a_usable_prompt(replayed) -> None:
    _, report = replayed
    assert any(report.drpo_proposals) and report.promptagent_prompts and report.gpo_prompts


@pytest.mark.xfail(
    strict=True,
    reason="measured 2026-12-05 (REAL, Qwen2.5-Coder-0.5B): under DRPO's reference-structured "
    "optimiser meta-prompt the model looped past its token limit in 1 of its 9 optimiser "
    "answers (8 of 9 well formed, under the 90% bar); the run re-asks such an answer",
)
def test_a_small_real_model_follows_every_template(replayed) -> None:
    _, report = replayed
    assert check(report) == []
    assert all(use["well_formed"] >= 0.9 * use["answers"] for use in report.json.values())


def test_no_example_value_was_copied_as_an_answer(replayed) -> None:
    _, report = replayed
    assert all("Quality" not in chosen for chosen in report.selections)
    for prompts in (*report.drpo_proposals, report.promptagent_prompts, report.gpo_prompts):
        assert all(p.strip() not in ("...", "") for p in prompts)


def test_the_replay_gives_what_was_recorded(replayed) -> None:
    replay, report = replayed
    assert report.to_json() == replay.about["report"]
