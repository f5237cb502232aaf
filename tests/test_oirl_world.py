"""Prompt-OIRL on the search interface: the world and config pass the contract check, and
best-of-N by fast reward picks the reward model's best prompt per query with no reward
(LLM) call; the Python call and the CLI choose prompts for a file of queries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from drpo.methods.oirl.choose import choose_prompts
from drpo.methods.oirl.commands import main
from drpo.methods.oirl.embed import HashingEmbedder
from drpo.methods.oirl.reward import LinearRewardModel, TrainedRewardModel
from drpo.methods.oirl.world import (
    Candidate,
    PromptChoiceWorld,
    PromptScorer,
    RewardModelConfig,
    choose_one,
)
from world_model import check_world_model

CANDIDATES = [
    Candidate("count", "Count the apples carefully."),
    Candidate("motion", "Think about speed and distance."),
]


def _model() -> TrainedRewardModel:
    e = HashingEmbedder(dim=128)
    texts = [f"how many apples does {n} have" for n in "abcdefgh"]
    texts += [f"how fast does train {n} go" for n in "abcdefgh"]
    y = np.array([[1, 0]] * 8 + [[0, 1]] * 8)
    p = e.embed([c.text for c in CANDIDATES])
    model = LinearRewardModel(c=10.0).fit(e.embed(texts), p, y, seed=0)
    return TrainedRewardModel(
        model,
        e.key,
        ("count", "motion"),
        tuple(c.text for c in CANDIDATES),
        p,
        "count",
        {"c": 10.0},
        {},
    )


class _NoReward(RewardModelConfig):
    def reward(self, state, action, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("best-of-N by fast reward must not call reward")


def test_best_of_n_picks_the_models_best_prompt_without_reward_calls() -> None:
    model = _model()
    scorer = PromptScorer(model, HashingEmbedder(dim=128), CANDIDATES)
    world, config = PromptChoiceWorld(CANDIDATES), _NoReward(scorer)
    world.update_example("how many apples does zed have")
    check_world_model(world, RewardModelConfig(scorer))
    for query, expected in [
        ("how many apples does zed have", "count"),
        ("how fast does train zed go", "motion"),
    ]:
        result = choose_one(world, config, query)
        assert result.terminal_state["alias"] == expected
        assert (
            result.terminal_state["prompt"] == dict((c.alias, c.text) for c in CANDIDATES)[expected]
        )
        assert len(result.tree.children) == 2


def test_the_python_call_returns_choices_and_scores() -> None:
    choices = choose_prompts(_model(), ["how fast does train q go"], CANDIDATES)
    assert choices[0].alias == "motion" and set(choices[0].scores) == {"count", "motion"}
    assert choices[0].scores["motion"] > choices[0].scores["count"]
    with pytest.raises(ValueError, match="candidate prompt list is empty"):
        choose_prompts(_model(), ["q"], [])


def test_the_cli_chooses_prompts_for_a_file_of_queries(tmp_path: Path, capsys) -> None:
    _model().save(tmp_path / "m.pkl")
    (tmp_path / "p.json").write_text(json.dumps({"prompts": [c.__dict__ for c in CANDIDATES]}))
    (tmp_path / "q.jsonl").write_text(
        '{"question": "how many apples does k have"}\n{"question": "how fast does train k go"}\n'
    )
    code = main(
        [
            "choose",
            "--model",
            str(tmp_path / "m.pkl"),
            "--prompts",
            str(tmp_path / "p.json"),
            "--queries",
            str(tmp_path / "q.jsonl"),
        ]
    )
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 0 and [x["chosen"] for x in lines] == ["count", "motion"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prompts", "{p}", "--query", "q", "--model", "{d}/none.pkl"], "no reward model at"),
        (["--prompts", "{d}/empty.txt", "--query", "q", "--model", "{m}"], "lists no prompts"),
        (["--prompts", "{p}", "--queries", "{d}/missing.txt", "--model", "{m}"], "cannot read"),
    ],
)
def test_bad_choose_input_is_one_line_and_exit_2(tmp_path: Path, capsys, args, message) -> None:
    _model().save(tmp_path / "m.pkl")
    (tmp_path / "p.json").write_text(json.dumps({"prompts": [c.__dict__ for c in CANDIDATES]}))
    (tmp_path / "empty.txt").write_text("\n")
    filled = [a.format(d=tmp_path, p=tmp_path / "p.json", m=tmp_path / "m.pkl") for a in args]
    assert main(["choose", *filled]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_importing_the_method_and_the_cli_loads_no_heavy_package() -> None:
    import subprocess
    import sys

    code = (
        "import sys, drpo.cli, drpo.methods.oirl.run, drpo.methods.oirl.commands;"
        "print([m for m in ('torch', 'sklearn', 'scipy', 'openai') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_ties_go_to_the_better_prompt_in_the_search_and_offline_alike() -> None:
    from drpo.methods.oirl.strategies import best_of, preference

    prior = np.array([0.2, 0.5, 0.5, 0.1])
    scores = np.array([[0.3, 0.3, 0.3, 0.3], [0.9, 0.1, 0.1, 0.9], [0.1, 0.2, 0.4, 0.4]])
    offline = best_of(scores, prior)
    assert offline.tolist() == [1, 0, 2]
    order = preference(prior)
    candidates = [Candidate(f"c{j}", f"prompt {j}") for j in order]
    scorer = PromptScorer(_model_for(candidates), HashingEmbedder(dim=128), candidates)
    world, config = PromptChoiceWorld(candidates), RewardModelConfig(scorer)
    queries = ["q0", "q1", "q2"]
    config.prefetch(queries, scores[:, order])
    picked = [int(choose_one(world, config, q).terminal_state["alias"][1:]) for q in queries]
    assert picked == offline.tolist()


def _model_for(candidates: list[Candidate]) -> TrainedRewardModel:
    base = _model()
    return TrainedRewardModel(
        base.model,
        base.embedder_key,
        tuple(c.alias for c in candidates),
        tuple(c.text for c in candidates),
        base.prompt_embeddings,
        "c1",
        {},
        {},
    )
