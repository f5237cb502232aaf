"""`train.py --plan` and `drpo.planning.plan`: each role's projected calls and tokens, an upper
bound of what a run really uses (on the simulated LLM), and what a budget buys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drpo.cli import main
from drpo.planning import Plan, plan


def _used(log_dir: Path) -> dict[str, tuple[int, int]]:
    roles = json.loads((log_dir / "usage.json").read_text())["roles"]
    return {r["role"]: (r["requests"], r["prompt_tokens"] + r["completion_tokens"] +
                        r["estimated_tokens"]) for r in roles}  # fmt: skip


SMALL = ["--eval_size", "10", "--test_size", "10"]
RUNS = {
    "promptagent-mcts": ["--method", "promptagent", *SMALL, "--depth", "3", "--n_iters", "4"],
    "promptagent-beam": ["--method", "promptagent", *SMALL, "--search", "beam", "--depth", "3",
                         "--beam_size", "2"],
    "promptagent-greedy-ucb": ["--method", "promptagent", *SMALL, "--search", "greedy",
                               "--depth", "3", "--selection", "ucb"],
    "gpo": ["--method", "gpo", *SMALL, "--depth", "3", "--feedback", "true"],
    "gpo-ucb": ["--method", "gpo", *SMALL, "--depth", "2", "--selection", "ucb"],
    "ape": ["--method", "ape", *SMALL, "--depth", "2"],
    "opro": ["--method", "opro", *SMALL, "--depth", "3"],
    "protegi": ["--method", "protegi", *SMALL, "--depth", "2"],
    "drpo": ["--method", "drpo", "--depth", "3", "--max_depth_increase", "2",
             "--test_size", "3", "--num_training_examples", "20"],
    "drpo-mcts": ["--method", "drpo", "--search", "mcts", "--depth", "3", "--n_iters", "3",
                  "--num_training_examples", "20"],
    "drpo-icl": ["--method", "drpo", "--depth", "2", "--max_depth_increase", "1",
                 "--test_size", "2", "--num_training_examples", "10", "--optimize_icl", "true"],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_projection_bounds_what_a_run_uses_per_role(
    tmp_path: Path, capsys: Any, name: str
) -> None:
    args = RUNS[name]
    method, options = args[1], _as_options(args[2:])
    projected = plan(method, None, **options)
    assert main(["--disable_tqdm", "--log_dir", str(tmp_path / "run"), *args]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    used = _used(tmp_path / "run")
    assert set(used) == {r.role for r in projected.roles}
    for role, (calls, tokens) in used.items():
        assert 0 < calls <= projected.role(role).calls, role
        assert tokens <= projected.role(role).tokens, role
    bought = summary["search_bought"]
    assert bought["expansions"] <= projected.expansions
    assert bought["evaluated_prompts"] <= projected.evaluated_prompts


def test_a_method_without_a_model_projects_no_call() -> None:
    for method in ("oirl", "toy"):
        projected = plan(method)
        assert projected.roles == () and projected.calls == 0 and projected.notes


def _as_options(extra: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for flag, value in zip(extra[::2], extra[1::2]):
        out[flag[2:]] = int(value) if value.isdigit() else {"true": True}.get(value, value)
    return out


def test_train_py_plan_calls_no_model_and_warns_on_a_small_budget(
    tmp_path: Path, capsys: Any
) -> None:
    log_dir = tmp_path / "never"
    code = main(["--method", "promptagent", "--plan", "--budget_calls", "40",
                 "--log_dir", str(log_dir)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and not log_dir.exists()
    assert "base" in out and "optimize" in out and "calls" in out
    assert "warning: the budget buys fewer than two expansions" in out
    roomy = plan("promptagent", None, budget_calls=100_000)
    assert roomy.budget_expansions == roomy.expansions and not roomy.warnings


def test_plan_takes_the_runners_settings_and_is_frozen() -> None:
    import argparse
    import dataclasses

    from drpo.cli import build_parser

    args = build_parser().parse_args(["--method", "promptagent", "--depth", "2"])
    projected = plan("promptagent", args)
    assert isinstance(projected, Plan) and "depth 2" in projected.search
    assert plan("promptagent", {"depth": 2}) == projected
    with pytest.raises(dataclasses.FrozenInstanceError):
        projected.expansions = 0  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        plan("nope", argparse.Namespace())
    with pytest.raises(ValueError, match=r"unknown setting.*: depht"):
        plan("promptagent", depht=3)


def test_plan_takes_a_runners_settings_object() -> None:
    from drpo.methods.gpo.run import GPOSettings
    from drpo.methods.promptagent.run import PromptAgentSettings

    settings = PromptAgentSettings(roles={}, depth=2, n_iters=3, eval_size=12)
    assert plan("promptagent", settings) == plan("promptagent", depth=2, n_iters=3, eval_size=12)
    assert "2 steps" in plan("gpo", GPOSettings(roles={}, depth=2)).search
