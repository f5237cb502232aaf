"""Why a search stopped, and what its calls bought: every algorithm's result says it, a world
ends a search by asking (a spent budget), and a run's summary.json and stdout say it too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tree_worlds import TreeConfig, TreeWorld

from drpo.cli import main
from search import MCTS, BeamSearch, BestOfN, Greedy, promptagent_mcts
from world_model import STOP_REASONS, ContractError


class BudgetWorld(TreeWorld):
    """A tree world whose budget is spent after `frontiers` evaluated frontiers (step_many
    calls): from then on it asks the search to stop with `reason`."""

    def __init__(self, *, frontiers: int, reason: str = "budget", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.left, self.reason, self.stepped = frontiers, reason, 0

    def step_many(self, pairs: Any) -> list:
        self.left -= 1
        self.stepped += len(pairs)
        return super().step_many(pairs)

    def stop_requested(self) -> str | None:
        return self.reason if self.left <= 0 else None


class NoActions(TreeConfig):
    def get_actions(self, state: tuple[int, ...]) -> list[int]:
        return [] if len(state) >= 1 else super().get_actions(state)


ALGORITHMS = {
    "beam": lambda: BeamSearch(beam_size=2, max_depth=4),
    "greedy": lambda: Greedy(max_depth=4),
    "mcts": lambda: MCTS(n_iters=30, depth_limit=4),
    "promptagent_mcts": lambda: promptagent_mcts(n_iters=30, depth_limit=4, min_depth=4),
}


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_full_search_stops_at_its_depth(name: str) -> None:
    result = ALGORITHMS[name]()(TreeWorld(branching=2, depth=9), TreeConfig(branching=2))
    assert result.stop_reason == "depth" and result.stop_reason in STOP_REASONS
    assert result.expansions >= 1 and result.evaluated >= result.expansions


@pytest.mark.parametrize("name", ["beam", "greedy"])
def test_terminal_states_and_dead_ends_are_told_apart(name: str) -> None:
    shallow = ALGORITHMS[name]()(TreeWorld(branching=2, depth=2), TreeConfig(branching=2))
    assert shallow.stop_reason == "terminal"
    stuck = ALGORITHMS[name]()(TreeWorld(branching=2, depth=9), NoActions(branching=2))
    assert stuck.stop_reason == "no_actions"


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
@pytest.mark.parametrize("reason", ["budget", "interrupted"])
def test_a_world_that_asks_ends_the_search_at_that_frontier(name: str, reason: str) -> None:
    world = BudgetWorld(frontiers=2, reason=reason, branching=2, depth=9)
    result = ALGORITHMS[name]()(world, TreeConfig(branching=2))
    assert result.stop_reason == reason
    assert world.left == 0, "not one frontier after the one that spent the budget"
    assert result.evaluated == world.stepped == len([n for n in result.nodes()[1:] if n.expanded])
    # The states stay what they are: the budget ends the search, not the paths.
    assert not any(n.is_terminal for n in result.nodes())
    assert result.terminal_node in result.nodes()


class StopAwareWorld(BudgetWorld):
    """Reports its stop in `is_terminal` too (for algorithms that never ask), and its states'
    own terminality in `is_terminal_state`."""

    def is_terminal_state(self, state: tuple[int, ...]) -> bool:
        return super().is_terminal(state)

    def is_terminal(self, state: tuple[int, ...]) -> bool:
        return self.is_terminal_state(state) or self.stop_requested() is not None


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_stop_reported_as_terminality_too_keeps_its_reason(name: str) -> None:
    world = StopAwareWorld(frontiers=2, branching=2, depth=9)
    result = ALGORITHMS[name]()(world, TreeConfig(branching=2))
    assert result.stop_reason == "budget" and world.left == 0
    assert world.is_terminal(result.terminal_state)  # what an algorithm that never asks sees
    assert not any(n.is_terminal for n in result.nodes())  # what ours record


def test_a_budgeted_mcts_answer_may_be_any_node_it_paid_for() -> None:
    world = BudgetWorld(frontiers=2, branching=3, depth=9)
    algo = promptagent_mcts(n_iters=30, depth_limit=5, min_depth=5)
    result = algo(world, TreeConfig(branching=3))
    # Two frontiers: the root's three children, then one child's three; the rollout still
    # walks into the second frontier's best child (already paid for), so the answer can be it.
    assert result.evaluated == 6 and result.expansions == 2
    assert len(result.iterations) == 1 and len(result.iterations[0].path) == 3


def test_best_of_n_reasons() -> None:
    assert BestOfN()(TreeWorld(branching=3, depth=1), TreeConfig(branching=3)).stop_reason == (
        "depth"
    )
    assert BestOfN()(TreeWorld(branching=3, depth=0), TreeConfig(branching=3)).stop_reason == (
        "terminal"
    )
    empty = BestOfN()(TreeWorld(branching=3, depth=2), NoActions(branching=0))
    assert empty.stop_reason == "no_actions" and empty.evaluated == 0


def test_a_bad_stop_request_is_a_contract_error() -> None:
    world = BudgetWorld(frontiers=0, reason="tired", branching=2, depth=3)
    with pytest.raises(ContractError, match="stop_requested must return None or one of budget"):
        BeamSearch(beam_size=1, max_depth=2)(world, TreeConfig(branching=2))


# ---- a run's summary.json and stdout -------------------------------------------------------
def _run(tmp_path: Path, capsys: Any, *args: str) -> tuple[dict, str]:
    log_dir = tmp_path / "run"
    assert main(["--disable_tqdm", "--log_dir", str(log_dir), *args]) == 0
    out = capsys.readouterr().out
    return json.loads((log_dir / "summary.json").read_text()), out


@pytest.mark.parametrize("search", ["mcts", "beam"])
def test_a_run_stopped_by_its_budget_says_so(tmp_path: Path, capsys: Any, search: str) -> None:
    summary, out = _run(tmp_path, capsys, "--method", "promptagent", "--search", search,
                        "--budget_calls", "200")  # fmt: skip
    assert summary["stop_reason"] == "budget"
    bought = summary["search_budget"]["bought"]
    assert bought == summary["search_bought"] and bought["expansions"] >= 1
    assert bought["evaluated_prompts"] >= bought["expansions"]
    assert f"stop_reason: budget ({bought['expansions']} expansions, " in out
    assert f"which bought {bought['expansions']} expansions and" in out


def test_a_run_within_its_budget_stops_at_its_depth(tmp_path: Path, capsys: Any) -> None:
    summary, out = _run(tmp_path, capsys, "--method", "gpo", "--budget_calls", "100000")
    assert summary["stop_reason"] == "depth" and "stop_reason: depth (" in out
    assert "bought" in summary["search_budget"]
