"""ProTeGi on the simulated LLM: textual gradients from minibatch errors, edits along them,
paraphrases, and a beam selected by a bandit over eval minibatches."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from prerequisites import BIGBENCH, needs_data
from run_helpers import kill_after_frontiers, train, tree_without_meta

from drpo.cli import main
from drpo.llm import Backend, BackendCall, BackendResult, RoleSettings, make_llms
from drpo.methods.bandit_scoring import BanditSettings
from drpo.methods.protegi import sim as protegi_sim
from drpo.methods.protegi.world import ProTeGiConfig, ProTeGiState, ProTeGiWorld, Successor
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.tasks import DEMO_TASK, answer_key, load_task
from drpo.sim.catalogue import HINT_SENTENCES, REASONING_HINTS
from search import BeamSearch
from world_model import Reasoner, check_world_model

REPO = Path(__file__).resolve().parents[1]
HINTS = list(HINT_SENTENCES.values())


class Recording(Backend):
    """Passes calls on to the simulated backend and keeps them."""

    kind = "sim"

    def __init__(self, inner: Backend) -> None:
        super().__init__("recording")
        self.inner = inner
        self.calls: list[BackendCall] = []
        self.batches: list[int] = []

    async def agenerate(self, calls: Sequence[BackendCall], on_result: Any = None) -> list:
        self.calls.extend(calls)
        self.batches.append(len(calls))
        return await self.inner.agenerate(calls, on_result)

    def texts(self, key: str) -> list[str]:
        return [c.request.messages[-1][1] for c in self.calls if key in c.request.messages[-1][1]]


def pieces(*, beam_size: int = 2, bandit: BanditSettings | None = None, **options: Any):
    task = load_task(DEMO_TASK, eval_size=30, test_size=10)
    llms = make_llms({"base": RoleSettings(knowledge=answer_key(task)),
                      "optimize": RoleSettings()})  # fmt: skip
    base, optimizer = Recording(llms["base"].backend), Recording(llms["optimize"].backend)
    llms["base"].backend, llms["optimize"].backend = base, optimizer
    scorer = TaskScorer(llms["base"])
    world = ProTeGiWorld(task, scorer, initial_prompt="Answer the question.",
                         beam_size=beam_size, bandit=bandit or BanditSettings())  # fmt: skip
    config = ProTeGiConfig(task, scorer, llms["optimize"], **options)
    return task, world, config, base, optimizer


def hints_in(prompt: str) -> int:
    low = " ".join(prompt.lower().split())
    return sum(h in low for h in REASONING_HINTS)


def test_the_world_keeps_the_contract() -> None:
    _, world, config, _, _ = pieces(minibatch_size=8, n_gradients=1, mc_samples_per_step=1)
    check_world_model(world, config, n_paths=1, max_depth=1)


def test_an_expansion_follows_the_papers_steps() -> None:
    """Minibatch -> error groups -> reasons -> edits along each reason -> paraphrases of each
    edit and of the parent -> the successors, plus the parent."""
    _, _, config, base, optimizer = pieces(
        minibatch_size=20, n_gradients=3, errors_per_gradient=2, gradients_per_error=2,
        steps_per_gradient=1, mc_samples_per_step=2, max_expansion_factor=100,
    )  # fmt: skip
    parent = ProTeGiState("Answer the question.")
    (actions,) = config.get_actions_many([parent])
    assert base.batches[0] == 20  # the parent answers one minibatch of training examples
    gradients = optimizer.texts("failure_reasons")
    assert len(gradients) == 3  # n_gradients groups of errors
    for text in gradients:
        assert "<prompt>\nAnswer the question.\n</prompt>" in text
        assert len(re.findall(r"^## Example \d+$", text, re.M)) == 2  # errors_per_gradient
        assert "<count>2</count>" in text  # gradients_per_error reasons asked for
    edits = optimizer.texts("improved_prompts")
    assert len(edits) == 3 * 2  # one edit request per reason
    reasons = {re.search(r"<reason>\n(.*)\n</reason>", t).group(1) for t in edits}
    assert all(r.startswith("(simulated) The prompt never says") for r in reasons)
    *successors, keep = actions
    assert keep == Successor("Answer the question.", "keep")
    edited = {s.prompt for s in successors if s.kind == "edit"}
    assert edited and all(hints_in(p) == 1 for p in edited)  # the hint its reason named
    for edit in (s for s in successors if s.kind == "edit"):
        assert edit.gradient in reasons and len(edit.errors) == 2
    paraphrase_calls = [c for c in optimizer.calls
                        if "paraphrased_prompt" in c.request.messages[-1][1]]  # fmt: skip
    assert all(c.count == 2 for c in paraphrase_calls)  # mc_samples_per_step
    sources = {re.search(r"<prompt>\n(.*)\n</prompt>", c.request.messages[-1][1], re.S)
               .group(1) for c in paraphrase_calls}  # fmt: skip
    assert sources == edited | {parent.prompt}  # every edit and the parent itself
    paraphrases = [s for s in successors if s.kind == "paraphrase"]
    assert paraphrases and all(hints_in(p.prompt) <= 1 for p in paraphrases)
    assert len({s.prompt for s in successors}) == len(successors)
    assert all(s.prompt != parent.prompt for s in successors)


def test_the_successors_are_capped_by_a_seeded_sample() -> None:
    def successors(seed: int) -> list[str]:
        *_, config, _, _ = pieces(minibatch_size=20, max_expansion_factor=3, seed=seed)
        (actions,) = config.get_actions_many([ProTeGiState("Answer the question.")])
        assert len(actions) == 4 and actions[-1].kind == "keep"
        return [a.prompt for a in actions[:-1]]

    assert successors(0) == successors(0)
    assert any(successors(0) != successors(s) for s in (1, 2, 3))


class Oracle(Backend):
    """A task model that is always right: no minibatch has an error."""

    kind = "sim"

    def __init__(self, task: Any) -> None:
        super().__init__("oracle")
        self.key = answer_key(task)

    async def agenerate(self, calls: Sequence[BackendCall], on_result: Any = None) -> list:
        out = []
        for call in calls:
            text = call.request.messages[-1][1]
            gold = next(g for q, g in self.key.items() if q in text)
            out.append(BackendResult((f"the answer is {gold}",) * call.count,
                                     ("stop",) * call.count, 1, 1))  # fmt: skip
        return out


def test_a_prompt_without_errors_gets_only_paraphrases() -> None:
    task, world, config, _, optimizer = pieces(minibatch_size=10)
    world.scorer.llm.backend = Oracle(task)
    (actions,) = config.get_actions_many([ProTeGiState("Answer the question, please.")])
    assert not optimizer.texts("failure_reasons") and not optimizer.texts("improved_prompts")
    assert [a.kind for a in actions] == ["paraphrase", "paraphrase", "keep"]


def test_the_bandit_keeps_the_best_of_a_frontier_for_fewer_calls_than_full_scoring() -> None:
    """Candidates with 0..5 reasoning hints: the beam keeps the ones with most hints, having
    answered far fewer eval questions than scoring each on the whole split."""
    task, world, config, base, _ = pieces(
        beam_size=2, bandit=BanditSettings(rounds=8, arms_per_round=4, samples=5)
    )
    parent = ProTeGiState("Answer the question.")
    prompts = ["Answer the question. " + " ".join(HINTS[:n]) for n in range(6)]
    prompts += [f"Reply to the question. {' '.join(HINTS[:n])}" for n in range(6)]
    pairs = [(parent, Successor(p.strip(), "edit")) for p in prompts]
    out = world.step_many(pairs)
    scored = [config.reward(s, a, **aux) for (s, a), (_, aux) in zip(pairs, out)]
    kept = [p for p, (_, d) in zip(prompts, scored) if d["kept_in_beam"]]
    assert len(kept) == 2 and all(hints_in(p) >= 4 for p in kept)
    assert len(base.calls) <= 8 * 4 * 5 < len(prompts) * len(task.eval)
    pulls = [d["pulls"] for _, d in scored]
    assert sum(pulls) <= 8 * 4
    assert max(pulls) > min(pulls)  # the evaluations went to the promising ones
    best_rewards = sorted((r for r, _ in scored), reverse=True)[:2]
    assert sorted(r for r, d in scored if d["kept_in_beam"]) == sorted(best_rewards)


def test_the_beam_search_keeps_exactly_the_bandits_choice() -> None:
    _, world, config, _, _ = pieces(beam_size=3, minibatch_size=16)
    result = Reasoner(world, config, BeamSearch(beam_size=3, max_depth=2,
                                                action_dedup=lambda s: s.prompt))(None)  # fmt: skip
    levels = [result.tree.children, [c for n in result.tree.children for c in n.children]]
    for level in levels:
        kept = {n.id for n in level if n.reward_details["kept_in_beam"]}
        expanded = {n.id for n in level if n.children}
        assert len(kept) == 3
        assert expanded <= kept
    assert {n.id for n in result.beam} == {
        n.id for n in levels[1] if n.reward_details["kept_in_beam"]
    }
    # the parents compete: every level holds each parent's "keep" action
    assert sum(n.action.kind == "keep" for n in levels[1]) == 3


def test_the_sim_plays_the_optimiser() -> None:
    from drpo.sim.model import SimulatedLLM

    sim = SimulatedLLM()

    def ask(text: str, temperature: float = 0.0) -> Any:
        return json.loads(sim.complete([("user", text)], temperature=temperature).text)

    gradient = ask("<prompt>\nThink step by step before answering.\n</prompt> <count>2</count> "
                   '"failure_reasons"')  # fmt: skip
    assert len(gradient["failure_reasons"]) == 2
    assert all("step by step" not in r for r in gradient["failure_reasons"])
    edit = ask("<prompt>\nSolve it.\n</prompt><reason>\nThe prompt never says: double-check the "
               'final answer.\n</reason><count>2</count> "improved_prompts"')  # fmt: skip
    assert edit["improved_prompts"] == ["Solve it. Double-check the final answer."] * 2
    source = "Solve it. Think step by step before answering. Double-check the final answer."
    version = ask(f'<prompt>\n{source}\n</prompt> "paraphrased_prompt"', 0.7)
    reworded = version["paraphrased_prompt"]
    assert reworded != source and sorted(reworded.split()) == sorted(source.split())
    single = ask('<prompt>\nSolve it carefully.\n</prompt> "paraphrased_prompt"')
    assert single["paraphrased_prompt"].endswith(": Solve it carefully.")


def test_the_command_improves_the_demo_task_and_writes_every_artefact(tmp_path: Path) -> None:
    out = train("--method", "protegi", "--log_dir", str(tmp_path / "r"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    run = tmp_path / "r"
    for name in ("algo_output/output.pkl", "algo_output/output.json", "algo_output/trace.txt",
                 "best_prompt.txt", "test_answers.json", "summary.json", "usage.json",
                 "args.txt", "log.txt"):  # fmt: skip
        assert (run / name).is_file(), name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["method"] == "protegi" and summary["simulated"] is True
    assert summary["final_eval_accuracy"] > summary["initial_eval_accuracy"] + 0.2
    assert summary["final_test_accuracy"] > summary["initial_test_accuracy"]
    assert summary["test_difference"]["n"] == 60
    assert len(summary["final_beam"]) == 4 and summary["settings"]["selection"] == "ucb"
    assert (run / "best_prompt.txt").read_text().strip() == summary["final_prompt"]
    assert "ProTeGi on task demo_task ran on the simulated LLM" in out.stdout
    trace = (run / "algo_output/trace.txt").read_text()
    assert "gradient" in trace and "pulls" in trace and "kept_in_beam" in trace


def test_successive_rejects_runs_too(tmp_path: Path) -> None:
    code = main(["--method", "protegi", "--selection", "sr", "--bandit_rounds", "12",
                 "--depth", "2", "--log_dir", str(tmp_path / "sr"), "--disable_tqdm"])  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "sr/summary.json").read_text())
    assert summary["selection"] == "sr"
    assert summary["final_eval_accuracy"] > summary["initial_eval_accuracy"]


@needs_data("bigbench")
def test_the_command_runs_on_a_bigbench_task(tmp_path: Path) -> None:
    out = train("--method", "protegi", "--task", "object_counting", "--data_dir", str(BIGBENCH),
                "--log_dir", str(tmp_path / "bb"), cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "bb/summary.json").read_text())
    assert summary["task"] == "object_counting"
    assert summary["final_eval_accuracy"] > summary["initial_eval_accuracy"]


def test_kill_9_and_resume_ends_the_same(sim_server, tmp_path: Path) -> None:
    task = load_task(DEMO_TASK)
    servers = [sim_server(latency_ms=20, knowledge=answer_key(task)) for _ in range(2)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def args(url: str, log_dir: Path) -> list[str]:
        return [sys.executable, str(REPO / "train.py"), "--method", "protegi", "--depth", "3",
                "--base_base_url", url, "--optimize_base_url", url, "--disable_tqdm",
                "--log_dir", str(log_dir)]  # fmt: skip

    crashed = tmp_path / "crashed"
    proc = subprocess.Popen(args(servers[0].url, crashed), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    kill_after_frontiers(proc, crashed, 2, timeout_s=120)
    paid_before = servers[0].stats()["completions"]
    resumed = subprocess.run([*args(servers[0].url, crashed), "--resume"], env=env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after" in resumed.stdout
    clean = subprocess.run(args(servers[1].url, tmp_path / "clean"), env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    assert tree_without_meta(crashed) == tree_without_meta(tmp_path / "clean")
    assert paid_before > 0
    # only requests in flight when it was killed are paid twice (8 at a time; once, on a
    # loaded machine, a few more): a frontier re-paid would be hundreds
    paid, clean_paid = servers[0].stats()["completions"], servers[1].stats()["completions"]
    assert paid <= clean_paid + 16, (paid_before, paid, clean_paid)


def test_an_answer_worse_than_the_initial_prompt_is_never_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    worse = "Answer at once, without thinking."
    monkeypatch.setattr(protegi_sim, "revise_prompt", lambda request:
                        json.dumps({"improved_prompts": [worse]}))  # fmt: skip
    monkeypatch.setattr(protegi_sim, "paraphrase", lambda request:
                        json.dumps({"paraphrased_prompt": worse}))  # fmt: skip
    initial = "Solve the task. " + " ".join(HINTS[3:])
    code = main(["--method", "protegi", "--initial_prompt", initial, "--depth", "2",
                 "--log_dir", str(tmp_path / "w"), "--disable_tqdm"])  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "w/summary.json").read_text())
    assert summary["final_eval_accuracy"] >= summary["initial_eval_accuracy"]
    assert summary["best_prompt_is_initial"]
    assert (tmp_path / "w/best_prompt.txt").read_text().strip() == initial.strip()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--selection", "full"], "ProTeGi selects its beam with a bandit"),
        (["--search", "mcts"], "--search beam"),
        (["--n_gradients", "-1"], "n_gradients must be >= 0"),
        (["--max_expansion_factor", "0"], "max_expansion_factor must be >= 1"),
        (["--bandit_samples", "0"], "bandit_samples must be >= 1"),
        (["--selection", "sr", "--bandit_rounds", "2"], "successive rejects needs a pull"),
        (["--depth", "0"], "depth (ProTeGi's rounds) must be >= 1"),
    ],
)
def test_bad_settings_get_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    out = train("--method", "protegi", *args, cwd=tmp_path)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()
