"""GPO's settings: one declaration, from which `train.py --method gpo`'s flags, the Python
API's keyword arguments and the world's config are made."""

from __future__ import annotations

from dataclasses import dataclass

from drpo.methods import shared_settings as shared
from drpo.methods.bandit_scoring import (
    SelectionSettings,
    arms_setting,
    rounds_setting,
    samples_setting,
    selection_setting,
    ucb_c_setting,
)
from drpo.methods.declare import parse_bool, setting
from drpo.methods.task_settings import TaskRunSettings


@dataclass(frozen=True, kw_only=True)
class GPOSettings(TaskRunSettings, SelectionSettings):
    """GPO (Tang et al., 2024): greedy steps (`depth`) along the optimisation trajectory,
    past prompts retrieved as the update direction, an edit budget that decays as the step
    size."""

    selection: str = selection_setting("full")
    bandit_rounds: int = rounds_setting(8)
    bandit_arms: int = arms_setting(4)
    bandit_samples: int = samples_setting()
    ucb_c: float = ucb_c_setting()
    search: str = shared.search("greedy")
    depth: int = shared.depth(12)
    n_candidates: int = setting(8)
    retrieval: str = setting("relevance", choices=("recency", "importance", "relevance"))
    k: int = shared.k(3)
    update: str = setting("edit", choices=("generation", "edit"))
    schedule: str = setting("cosine", choices=("fixed", "linear", "cosine"))
    initial_budget: int = setting(50, help="words the first step may change")
    final_budget: int = setting(10)
    warmup: int = setting(0, help="steps of linear warm-up")
    feedback: bool = setting(
        False, parse=parse_bool, help="show the optimiser the errors of a training batch"
    )
    n_examples: int = setting(3, help="task examples shown")
    temperature: float = shared.temperature(1.0)
