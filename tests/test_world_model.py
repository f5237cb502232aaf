"""The interface, its checker, the llm-reasoners adapter and the toy worlds."""

from __future__ import annotations

from typing import Any

import pytest

from search import MCTS, BeamSearch
from world_model import (
    ContractError,
    Reasoner,
    SearchConfig,
    WorldModel,
    check_world_model,
    from_reasoners,
)
from world_model.toy import (
    DEFAULT_GUIDANCE,
    optimal_actions,
    optimal_value,
    prompt_building,
    random_guidance,
)


def test_toy_worlds_keep_the_contract() -> None:
    check_world_model(*prompt_building(depth=3))
    check_world_model(*prompt_building(random_guidance(7, seed=3), depth=5, noise_std=0.5))


def test_toy_optimum_in_closed_form() -> None:
    assert optimal_actions(DEFAULT_GUIDANCE, 2) == [
        "State the answer first, then the reasoning.",
        "Cite a source for every factual claim.",
    ]
    assert optimal_value(DEFAULT_GUIDANCE, 2, "last") == pytest.approx(1.6)
    assert optimal_value(DEFAULT_GUIDANCE, 2, "sum") == pytest.approx(0.9 + 1.6)
    assert optimal_value(DEFAULT_GUIDANCE, 2, "mean") == pytest.approx(1.25)
    with pytest.raises(ValueError, match="unknown aggregator"):
        optimal_value(DEFAULT_GUIDANCE, 2, "median")


def test_stochastic_toy_world_is_reproducible_noise() -> None:
    _, noisy = prompt_building(depth=2, noise_std=0.5, seed=1)
    _, other_seed = prompt_building(depth=2, noise_std=0.5, seed=2)
    action = next(iter(DEFAULT_GUIDANCE))
    first = noisy.reward((), action)
    assert first == noisy.reward((), action)
    assert first != other_seed.reward((), action)
    assert first[1]["score"] == pytest.approx(0.9) and first[0] != pytest.approx(0.9)


def test_toy_world_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="depth must be >= 0"):
        prompt_building(depth=-1)
    with pytest.raises(ValueError, match="noise_std must be >= 0"):
        prompt_building(noise_std=-0.1)
    world, _ = prompt_building()
    with pytest.raises(ValueError, match="unknown guidance phrase"):
        world.step((), "no such phrase")


def test_default_frontier_methods_are_sequential() -> None:
    world, config = prompt_building(depth=2)
    pairs = [((), a) for a in config.get_actions(())]
    assert world.step_many(pairs) == [world.step(s, a) for s, a in pairs]
    assert config.fast_reward_many(pairs) == [config.fast_reward(s, a) for s, a in pairs]
    assert config.reward_many([(s, a, {}) for s, a in pairs]) == [
        config.reward(s, a) for s, a in pairs
    ]
    assert config.get_actions_many([(), pairs[0][1:]]) == [
        config.get_actions(()),
        config.get_actions(pairs[0][1:]),
    ]


# ---- worlds that break the contract --------------------------------------------------------
class _World(WorldModel):
    def init_state(self) -> int:
        return 0

    def step(self, state: int, action: int) -> Any:
        return state + action, {}

    def is_terminal(self, state: int) -> bool:
        return state >= 3


class _Config(SearchConfig):
    def get_actions(self, state: int) -> Any:
        return [1, 2]

    def reward(self, state: int, action: int, **kwargs: Any) -> Any:
        return float(action), {}


class _BareState(_World):
    def step(self, state: int, action: int) -> Any:
        return state + action


class _FloatReward(_Config):
    def reward(self, state: int, action: int, **kwargs: Any) -> Any:
        return float(action)


class _TupleActions(_Config):
    def get_actions(self, state: int) -> Any:
        return "12"


class _StringTerminal(_World):
    def is_terminal(self, state: int) -> Any:
        return "no"


class _NanReward(_Config):
    def reward(self, state: int, action: int, **kwargs: Any) -> Any:
        return float("nan"), {}


class _OldUpdate(_Config):
    def update_example(self, example: Any) -> None:  # type: ignore[override]
        self.example = example


class _Clash(_Config):
    def fast_reward(self, state: int, action: int) -> Any:
        return 0.0, {"score": 1}

    def reward(self, state: int, action: int, **kwargs: Any) -> Any:
        return 0.0, {}


class _ClashWorld(_World):
    def step(self, state: int, action: int) -> Any:
        return state + action, {"score": 2}


@pytest.mark.parametrize(
    ("world", "config", "message"),
    [
        (_BareState(), _Config(), r"_BareState.step must return \(state, aux: dict\)"),
        (_World(), _FloatReward(), r"_FloatReward.reward must return \(float, details: dict\)"),
        (_World(), _TupleActions(), "get_actions must return a list of actions"),
        (_StringTerminal(), _Config(), "is_terminal must return a bool"),
        (_World(), _NanReward(), "not NaN"),
        (_World(), _OldUpdate(), r"update_example must accept \(example, prompt=None\)"),
        (_ClashWorld(), _Clash(), "both define score"),
    ],
)
def test_checker_names_the_broken_method(world: Any, config: Any, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        check_world_model(world, config)


def test_checker_notices_a_nondeterministic_frontier() -> None:
    class Drifting(_Config):
        calls = 0

        def reward(self, state: int, action: int, **kwargs: Any) -> Any:
            Drifting.calls += 1
            return float(Drifting.calls), {}

    with pytest.raises(ContractError, match="deterministic=False"):
        check_world_model(_World(), Drifting())
    check_world_model(_World(), Drifting(), deterministic=False)


def test_algorithms_report_a_broken_world_with_the_adapter_hint() -> None:
    for algo in (BeamSearch(beam_size=1, max_depth=2), MCTS(n_iters=2, depth_limit=2)):
        with pytest.raises(ContractError, match="from_reasoners"):
            algo(_World(), _FloatReward())


# ---- llm-reasoners-style worlds, duck-typed (the real package is tested in the interop file)
class ReasonersStyleWorld:
    """A world as llm-reasoners allows it: step returns a bare state, reward a bare float."""

    def __init__(self) -> None:
        self.example = None

    def init_state(self) -> str:
        return ""

    def step(self, state: str, action: str) -> str:
        return state + action

    def is_terminal(self, state: str) -> bool:
        return len(state) >= 3

    def update_example(self, example: Any, prompt: Any = None) -> None:
        self.example = example


class ReasonersStyleConfig:
    def __init__(self) -> None:
        self.example = None

    def get_actions(self, state: str) -> list[str]:
        return ["a", "b"]

    def fast_reward(self, state: str, action: str) -> tuple[float, dict]:
        return 0.0, {}

    def reward(self, state: str, action: str, **kwargs: Any) -> float:
        return 1.0 if action == (self.example or "b") else 0.0

    def update_example(self, example: Any, prompt: Any = None) -> None:
        self.example = example


def test_reasoners_style_world_runs_through_the_adapter() -> None:
    world, config = from_reasoners(ReasonersStyleWorld(), ReasonersStyleConfig())
    check_world_model(world, config)
    reasoner = Reasoner(world, config, BeamSearch(beam_size=2, max_depth=3))
    assert reasoner("a").terminal_state == "aaa"
    assert reasoner("b").terminal_state == "bbb"
    assert world.inner.example == "b" and config.inner.example == "b"
    mcts = Reasoner(world, config, MCTS(n_iters=20, depth_limit=3, w_exp=2.0))("a")
    assert mcts.terminal_state == "aaa"


def test_reasoner_passes_example_and_prompt() -> None:
    world, config = prompt_building(depth=1)
    Reasoner(world, config, BeamSearch(beam_size=1, max_depth=1))("example", prompt="few-shot")
    assert (world.example, world.prompt) == ("example", "few-shot")
    assert (config.example, config.prompt) == ("example", "few-shot")
