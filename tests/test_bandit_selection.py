"""`--selection ucb|sr` for PromptAgent and GPO: their children are scored by a bandit over
eval minibatches instead of each on the whole eval split (simulated LLM)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from drpo.cli import main
from drpo.llm import Backend, BackendCall, RoleSettings, make_llms
from drpo.methods.bandit_scoring import BanditSettings, bandit_scores
from drpo.methods.gpo.world import Candidate, GPOConfig, GPOState, GPOWorld
from drpo.methods.promptagent.settings import PromptAgentSettings
from drpo.methods.promptagent.world import (
    PromptAgentConfig,
    PromptAgentWorld,
    PromptState,
    Proposal,
)
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.tasks import DEMO_TASK, answer_key, load_task
from drpo.sim.catalogue import HINT_SENTENCES

HINTS = list(HINT_SENTENCES.values())
#: Eight children with 0..4 hints (and rewordings): the sim's task model is right with
#: probability 0.35 + 0.15 per hint, so the one with four hints is best.
CHILDREN = ["Answer the question. " + " ".join(HINTS[:n]) for n in range(5)] + [
    "Reply to the question. " + " ".join(HINTS[:3]),
    "Reply to the question. " + " ".join(HINTS[:2]),
    "Reply to the question. " + " ".join(HINTS[:1]),
]


class Counting(Backend):
    kind = "sim"

    def __init__(self, inner: Backend) -> None:
        super().__init__("counting")
        self.inner, self.calls = inner, 0

    async def agenerate(self, calls: Sequence[BackendCall], on_result: Any = None) -> list:
        self.calls += len(calls)
        return await self.inner.agenerate(calls, on_result)


def scorer_and_task() -> tuple[TaskScorer, Any, Counting]:
    task = load_task(DEMO_TASK, eval_size=30, test_size=10)
    llms = make_llms({"base": RoleSettings(knowledge=answer_key(task)),
                      "optimize": RoleSettings()})  # fmt: skip
    counting = Counting(llms["base"].backend)
    llms["base"].backend = counting
    return TaskScorer(llms["base"]), task, counting


def rewards(method: str, selection: BanditSettings | None) -> tuple[list[float], int]:
    """The rewards the children get, and the base-model calls paid for them."""
    scorer, task, counting = scorer_and_task()
    if method == "promptagent":
        world = PromptAgentWorld(task, scorer, initial_prompt="Answer.", selection=selection)
        config: Any = PromptAgentConfig(task, scorer, scorer.llm)
        parent: Any = PromptState("Answer.")
        pairs = [(parent, Proposal(p.strip(), "feedback", 0.0)) for p in CHILDREN]
    else:
        world = GPOWorld(task, scorer, initial_prompt="Answer.", selection=selection)
        config = GPOConfig(task, scorer, scorer.llm, total_steps=3)
        parent = GPOState("Answer.", 0.2, (("Answer.", 0.2),))
        pairs = [(parent, Candidate(p.strip(), 10, ())) for p in CHILDREN]
    out = world.step_many(pairs)
    scored = [config.reward(s, a, **aux) for (s, a), (_, aux) in zip(pairs, out)]
    if selection is not None:
        assert all(d["bandit_pulls"] >= 0 for _, d in scored)
    return [r for r, _ in scored], counting.calls


@pytest.mark.parametrize("method", ["promptagent", "gpo"])
@pytest.mark.parametrize("strategy", ["ucb", "sr"])
def test_a_bandit_finds_the_best_child_for_fewer_base_calls(method: str, strategy: str) -> None:
    full, full_calls = rewards(method, None)
    bandit = BanditSettings(strategy=strategy, rounds=5, arms_per_round=4, samples=5)
    estimated, bandit_calls = rewards(method, bandit)
    assert full_calls == len(CHILDREN) * 30
    assert bandit_calls <= 5 * 4 * 5 < full_calls / 2
    best = max(range(len(CHILDREN)), key=lambda i: full[i])
    assert max(range(len(CHILDREN)), key=lambda i: estimated[i]) == best == 4


def test_a_prompt_given_twice_is_one_arm() -> None:
    scorer, task, counting = scorer_and_task()
    prompts = [CHILDREN[0], CHILDREN[5], CHILDREN[0]]
    selection = bandit_scores(scorer, prompts, task.eval, keep=1, seed=0,
                              settings=BanditSettings(rounds=4, arms_per_round=8))  # fmt: skip
    assert len(selection.result.arms) == 2
    assert selection.arms[0] == selection.arms[2] and selection.kept == (False, True, False)
    assert counting.calls == 2 * 4 * 5


def test_unknown_selection_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown selection 'greedy'"):
        PromptAgentSettings(selection="greedy").bandit()
    assert PromptAgentSettings().bandit() is None


@pytest.mark.parametrize("method", ["promptagent", "gpo"])
def test_the_command_with_a_bandit_reports_the_answer_scored_in_full(
    method: str, tmp_path: Path
) -> None:
    search = ["--search", "greedy"] if method == "gpo" else ["--n_iters", "4"]
    code = main(["--method", method, *search, "--depth", "3", "--selection", "ucb",
                 "--log_dir", str(tmp_path / "r"), "--disable_tqdm"])  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "r/summary.json").read_text())
    assert summary["settings"]["selection"] == "ucb"
    final = "final" if method == "promptagent" else "best"
    assert summary[f"{final}_eval_accuracy"] > summary["initial_eval_accuracy"]
    # the eval accuracy reported is a whole-split score: a multiple of 1/30
    assert round(summary[f"{final}_eval_accuracy"] * 30, 6) % 1 == 0
    trace = (tmp_path / "r/algo_output/trace.txt").read_text()
    assert "bandit_pulls" in trace


@pytest.mark.parametrize("method", ["promptagent", "gpo"])
def test_bad_bandit_settings_get_one_line(method: str, tmp_path: Path, capsys) -> None:
    code = main(["--method", method, "--selection", "ucb", "--bandit_arms", "0",
                 "--log_dir", str(tmp_path / "bad"), "--disable_tqdm"])  # fmt: skip
    assert code == 2
    assert "bandit_arms must be >= 1" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
