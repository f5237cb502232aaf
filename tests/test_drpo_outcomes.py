"""DRPO tells the truth about what a run achieved (simulated LLM, in process): errors earn no
extra level, a mostly failed run ends with exit code 1 and can be resumed once the cause is
fixed, the search's final prompt is the result and held-out queries judge it, and a
proposal that is not a system prompt is not used."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from drpo_helpers import Rewriting, drpo_pieces

from drpo.cli import main
from drpo.llm import Backend, BackendResult, RoleSettings
from drpo.methods.drpo import sim as drpo_sim
from drpo.methods.drpo.data import DEMO_DATA_DIR
from drpo.methods.drpo.run import run_drpo
from drpo.methods.drpo.settings import DRPOSettings
from drpo.methods.drpo.world import check_system_prompt
from drpo.run_context import MostlyFailedError
from search import BeamSearch

QUERIES = [
    "What is the capital of Australia?",
    "How do I apologise to a colleague I snapped at?",
    "Write a haiku about autumn rain.",
    "Explain how vaccines train the immune system.",
]


def settings(log_dir: Path, **changes) -> DRPOSettings:
    roles = {r: RoleSettings() for r in ("base", "metrics", "eval", "optimize")}
    return DRPOSettings(roles=roles, log_dir=log_dir, data_dir=DEMO_DATA_DIR, depth=3,
                        disable_tqdm=True, **changes)  # fmt: skip


def test_a_step_that_was_not_evaluated_earns_no_extra_level() -> None:
    judge = Rewriting(lambda text: "It is fine, I suppose.")
    world, config, _ = drpo_pieces(judge=judge)
    world.update_example(QUERIES)
    result = BeamSearch(beam_size=1, max_depth=2, max_depth_increase=5)(world, config)
    assert all(s.error and s.error_role == "eval" for s in result.terminal_state.steps)
    assert result.depth_increase == 0 and len(result.terminal_state.steps) == 3


def test_a_mostly_failed_run_exits_1_and_resumes_once_fixed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(drpo_sim, "judge", lambda request: "Looks good to me!")
    failed = (r"of \d+ evaluations failed; the commonest error \(\d+ times\), role 'eval' "
              r"\(model sim\): the judge gave no")  # fmt: skip
    with pytest.raises(MostlyFailedError, match=failed):
        run_drpo(settings(tmp_path / "run"))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["evaluations"]["errored"] == summary["evaluations"]["total"]
    assert summary["final_beats_initial_on_held_out"] is False
    assert (tmp_path / "run/algo_output/output.json").exists()
    monkeypatch.undo()  # the cause is fixed: the judge answers in JSON again
    fixed = run_drpo(replace(settings(tmp_path / "run"), resume=True))
    assert fixed.errored == 0 and fixed.path_reward > 0
    assert fixed.path_reward == run_drpo(settings(tmp_path / "clean")).path_reward


def test_the_cli_says_it_in_one_line_with_exit_1(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(drpo_sim, "judge", lambda request: "Looks good to me!")
    code = main(["--log_dir", str(tmp_path / "run"), "--depth", "2", "--disable_tqdm"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "role 'eval'" in err and "--resume" in err
    assert "the run finished, but" in (tmp_path / "run" / "log.txt").read_text()
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["status"] == "done"


def test_the_final_prompt_is_the_result_and_held_out_queries_judge_it(tmp_path: Path, monkeypatch):
    """As in the reference, best_system_prompt.txt is the search's final prompt; whether it
    beats the initial prompt is decided on held-out queries, and said so."""
    initial = "You are a helpful assistant. Be accurate: check names, numbers and dates."
    good = run_drpo(settings(tmp_path / "good", initial_system_prompt=initial, test_size=8,
                             num_training_examples=12))  # fmt: skip
    data = json.loads((tmp_path / "good" / "summary.json").read_text())
    final = (tmp_path / "good" / "best_system_prompt.txt").read_text().strip()
    assert final == good.best_prompt != initial and final.startswith(initial)
    assert data["final_beats_initial_on_held_out"] is True
    assert "; the final prompt beats the initial one" in data["held_out_outcome"]
    assert data["test_difference"]["ci_low"] > 0

    worse = '{"analysis": "shorter is better", "new_system_prompt": "Reply with one word only."}'
    monkeypatch.setattr(drpo_sim, "optimise_prompt", lambda request: worse)
    run_drpo(settings(tmp_path / "worse", initial_system_prompt=initial, test_size=8,
                      num_training_examples=12))  # fmt: skip
    data = json.loads((tmp_path / "worse" / "summary.json").read_text())
    best = (tmp_path / "worse" / "best_system_prompt.txt").read_text().strip()
    assert best == "Reply with one word only."  # the search's result, not a silent fallback
    assert data["final_beats_initial_on_held_out"] is False
    assert "; the final prompt does not beat the initial one" in data["held_out_outcome"]
    assert not (tmp_path / "worse" / "candidate_system_prompt.txt").exists()


class CopiesTheAnswer(Backend):
    """An optimiser that answers with the base model's answer it was shown."""

    kind = "sim"

    async def agenerate(self, calls, on_result=None) -> list[BackendResult]:
        out = []
        for call in calls:
            text = next(c for r, c in call.request.messages if "<response>" in c)
            shown = text[text.index("<response>") + 10 : text.index("</response>")].strip()
            answer = json.dumps({"analysis": "copy", "new_system_prompt": f"Say: {shown}"})
            out.append(BackendResult((answer,) * call.count, ("stop",) * call.count, 1, 1))
        return out


def test_a_proposal_that_is_no_system_prompt_is_not_used() -> None:
    answer = ("Paris is the capital of France. It lies on the Seine and has been the "
              "capital since the tenth century, with about two million people.")  # fmt: skip
    with pytest.raises(ValueError, match="repeats the assistant's answer"):
        check_system_prompt(f"You are helpful. {answer}", answer=answer, query="Capital?")
    with pytest.raises(ValueError, match="at most"):
        check_system_prompt("Be kind. " * 500, answer=answer, query="Capital?")
    from drpo.methods.drpo.prompts import template

    with pytest.raises(ValueError, match="repeats the instructions you were given"):
        check_system_prompt(
            ", the system prompt let that happen",
            answer=answer,
            query="Q?",
            instructions=template("optimizer"),
        )  # seen from the real 0.5B model
    with pytest.raises(ValueError, match="at least a sentence"):
        check_system_prompt("Be good.", answer=answer, query="Capital?")
    check_system_prompt("You are a helpful assistant. State facts with their sources.",
                        answer=answer, query="What is the capital of France?",
                        instructions=template("optimizer"))  # fmt: skip

    world, config, _ = drpo_pieces(optimizer=CopiesTheAnswer("sim"))
    world.update_example(QUERIES)
    result = BeamSearch(beam_size=1, max_depth=2)(world, config)
    assert {s.system_prompt for s in result.terminal_state.steps} == {world.initial_system_prompt}


def test_a_gain_whose_interval_holds_zero_is_not_called_an_improvement() -> None:
    from drpo.methods.drpo.run import Outcome
    from drpo.stats import PairedDifference

    noisy = Outcome(3.58, 3.27, 1, PairedDifference(3, 0.32, -0.25, 1.2))
    assert noisy.verdict().startswith("on the searched queries, better on average, but not a")
    clear = Outcome(4.47, 2.28, 29, PairedDifference(30, 2.19, 1.86, 2.5))
    assert clear.verdict().startswith("on the searched queries, improved: mean reward 4.470")
    worse = Outcome(3.0, 3.27, 0, PairedDifference(3, -0.27, -0.5, 0.0))
    assert worse.verdict().startswith("on the searched queries, no improvement")


def test_held_out_queries_are_never_searched_on_and_both_prompts_are_judged_on_them(
    tmp_path: Path,
) -> None:
    run_drpo(settings(tmp_path / "run", test_size=6, num_training_examples=10))
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    held_out = json.loads((tmp_path / "run" / "held_out.json").read_text())
    tree = json.loads((tmp_path / "run" / "algo_output" / "output.json").read_text())
    searched = {n["state"]["query"] for n in tree["nodes"] if n["state"].get("query")}
    tested = {row["query"] for row in held_out}
    assert len(tested) == 6 and searched and not tested & searched
    final = summary["final_test_reward"]
    assert summary["test_queries"] == summary["test_queries_evaluated"] == 6
    assert summary["test_difference"]["n"] == 6
    mean = sum(r["final"]["reward"] - r["initial"]["reward"] for r in held_out) / 6
    assert summary["test_difference"]["mean"] == pytest.approx(mean)
    assert final == pytest.approx(sum(r["final"]["reward"] for r in held_out) / 6)
    assert {r["initial"]["system_prompt"] for r in held_out} == {"You are a helpful assistant."}
    # Without test queries, the run reports none.
    run_drpo(settings(tmp_path / "plain", num_training_examples=16, test_size=0))
    plain = json.loads((tmp_path / "plain" / "summary.json").read_text())
    assert "test_difference" not in plain and not (tmp_path / "plain" / "held_out.json").exists()
