"""The state/action interface of prompt search, compatible with llm-reasoners.

This package depends on nothing else of ours: `search` builds on it, `drpo` builds on both.
"""

from world_model.adapters import from_reasoners
from world_model.base import (
    STOP_REASONS,
    Action,
    AlgorithmOutput,
    Example,
    Reasoner,
    Scored,
    SearchAlgorithm,
    SearchConfig,
    State,
    Trace,
    WorldModel,
)
from world_model.checker import check_world_model
from world_model.frontier import ContractError

__all__ = [
    "STOP_REASONS",
    "Action",
    "AlgorithmOutput",
    "ContractError",
    "Example",
    "Reasoner",
    "Scored",
    "SearchAlgorithm",
    "SearchConfig",
    "State",
    "Trace",
    "WorldModel",
    "check_world_model",
    "from_reasoners",
]
