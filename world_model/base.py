"""The search interface, with llm-reasoners' method names and argument order.

A `WorldModel` owns the states and the transitions between them, a `SearchConfig` proposes
actions and scores them, a `SearchAlgorithm` explores the tree they span, and a `Reasoner` ties
the three together for one example.

Return types are fixed: `step` returns ``(state, aux)`` and both rewards return
``(float, details)``. Worlds written for llm-reasoners, whose `step` may return a bare state and
whose `reward` may return a bare float, run here through `world_model.adapters.from_reasoners`.

The ``*_many`` methods are the frontier hook: a search algorithm hands a whole search level to
them in one call, so that a world backed by an LLM can send those calls concurrently or as one
batch. Their defaults call the single-item methods one after the other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

State = TypeVar("State")
Action = TypeVar("Action")
Example = TypeVar("Example")

#: llm-reasoners' trace: the states along a path (root first) and the actions between them.
Trace = tuple[list[Any], list[Any]]
#: What `fast_reward` and `reward` return: a score and a JSON-friendly dict that explains it.
Scored = tuple[float, dict[str, Any]]
#: One `reward` request in a frontier: (state, action, keyword arguments for `reward`).
RewardRequest = tuple[Any, Any, Mapping[str, Any]]
#: Why a search stopped: it ran its full length (``"depth"``: every level, every iteration),
#: its budget was spent (``"budget"``), every path ended in a terminal state (``"terminal"``),
#: no state left had an action (``"no_actions"``), or the world asked it to stop for another
#: reason (``"interrupted"``).
STOP_REASONS = ("depth", "budget", "terminal", "no_actions", "interrupted")
#: The reasons a world may give in `WorldModel.stop_requested`.
STOP_REQUESTS = ("budget", "interrupted")


class WorldModel(ABC, Generic[State, Action, Example]):
    """States and transitions. Subclasses implement `init_state`, `step` and `is_terminal`."""

    def __init__(self) -> None:
        self.example: Any = None
        self.prompt: Any = None

    @abstractmethod
    def init_state(self) -> State:
        """The root state of a search."""

    @abstractmethod
    def step(self, state: State, action: Action) -> tuple[State, dict[str, Any]]:
        """Apply `action` to `state`; return the next state and an aux dict for `reward`."""

    @abstractmethod
    def is_terminal(self, state: State) -> bool:
        """Whether `state` ends a path (the search may also stop earlier at its depth limit).

        A world that asks searches to stop (`stop_requested`) answers True here too once it
        has asked, so that an algorithm that never asks (llm-reasoners' own) ends every path
        there; it then says the state's own terminality in `is_terminal_state`."""

    def is_terminal_state(self, state: State) -> bool:
        """Whether `state` itself ends a path, whatever the world's stop request: what our
        algorithms ask (they learn of a stop from `stop_requested`, so that their result
        says why they stopped and the tree keeps each state's own terminality). The default
        is `is_terminal`; a world whose `is_terminal` also reports its stop overrides it."""
        return self.is_terminal(state)

    def update_example(self, example: Example, prompt: Any = None) -> None:
        """Set the example (and optionally the prompt) the next search works on."""
        if prompt is not None:
            self.prompt = prompt
        self.example = example

    def step_many(
        self, pairs: Sequence[tuple[State, Action]]
    ) -> list[tuple[State, dict[str, Any]]]:
        """`step` for a whole frontier; override to batch the work behind it."""
        return [self.step(state, action) for state, action in pairs]

    def stop_requested(self) -> str | None:
        """Whether the search must stop now, and why: ``"budget"`` (what it may spend is
        spent) or ``"interrupted"``; None (the default) to go on. A search asks after each
        frontier it evaluates and then ends with the tree it has, its result saying why.
        States stay what they are: a spent budget ends the search, not the paths. For the
        algorithms that never ask, `is_terminal` says True once this says a reason."""
        return None


class SearchConfig(ABC, Generic[State, Action, Example]):
    """Action proposals and rewards. Subclasses implement `get_actions` and `reward`."""

    def __init__(self) -> None:
        self.example: Any = None
        self.prompt: Any = None

    @abstractmethod
    def get_actions(self, state: State) -> list[Action]:
        """The actions worth trying from `state` (may be empty)."""

    def fast_reward(self, state: State, action: Action) -> Scored:
        """A cheap estimate of `reward`, used before the action is taken (MCTS priors)."""
        return 0.0, {}

    @abstractmethod
    def reward(self, state: State, action: Action, **kwargs: Any) -> Scored:
        """The reward of taking `action` in `state`; kwargs are the step's aux and the
        fast-reward details."""

    def root_reward(self, state: State) -> Scored:
        """The reward of the root state itself (PromptAgent scores its initial prompt)."""
        return 0.0, {}

    def extends_depth(self, state: State) -> bool:
        """Whether reaching `state` earns the search one more level of depth.

        DRPO's rule: when the current prompt already handles a query well, the prompt is kept
        and the search moves on to the next query without spending a level of its budget. The
        algorithm decides how many such extensions it grants (``max_depth_increase``).
        """
        return False

    def update_example(self, example: Example, prompt: Any = None) -> None:
        """Set the example (and optionally the prompt) the next search works on."""
        if prompt is not None:
            self.prompt = prompt
        self.example = example

    def get_actions_many(self, states: Sequence[State]) -> list[list[Action]]:
        """`get_actions` for a whole frontier; override to batch the work behind it."""
        return [self.get_actions(state) for state in states]

    def fast_reward_many(self, pairs: Sequence[tuple[State, Action]]) -> list[Scored]:
        """`fast_reward` for a whole frontier; override to batch the work behind it."""
        return [self.fast_reward(state, action) for state, action in pairs]

    def reward_many(self, requests: Sequence[RewardRequest]) -> list[Scored]:
        """`reward` for a whole frontier; override to batch the work behind it."""
        return [self.reward(state, action, **kwargs) for state, action, kwargs in requests]


@runtime_checkable
class AlgorithmOutput(Protocol):
    """What every search result offers (llm-reasoners' `AlgorithmOutput`)."""

    terminal_state: Any
    trace: Trace


class SearchAlgorithm(ABC):
    """A search over a world. Settings are fixed at construction; a call keeps its own state."""

    @abstractmethod
    def __call__(self, world_model: WorldModel, search_config: SearchConfig) -> AlgorithmOutput:
        """Search from `world_model.init_state()` and return the result."""


class Reasoner(Generic[State, Action, Example]):
    """Runs a search algorithm on one example (llm-reasoners' `Reasoner`)."""

    def __init__(
        self,
        world_model: WorldModel[State, Action, Example],
        search_config: SearchConfig[State, Action, Example],
        search_algo: SearchAlgorithm,
    ) -> None:
        self.world_model = world_model
        self.search_config = search_config
        self.search_algo = search_algo

    def __call__(self, example: Example, prompt: Any = None, **kwargs: Any) -> AlgorithmOutput:
        self.world_model.update_example(example, prompt=prompt)
        self.search_config.update_example(example, prompt=prompt)
        return self.search_algo(self.world_model, self.search_config, **kwargs)
