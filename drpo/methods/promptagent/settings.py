"""PromptAgent's settings: one declaration, from which `train.py --method promptagent`'s
flags, the Python API's keyword arguments and the world's config are made."""

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
from drpo.methods.declare import setting
from drpo.methods.task_settings import TaskRunSettings


@dataclass(frozen=True, kw_only=True)
class PromptAgentSettings(TaskRunSettings, SelectionSettings):
    """PromptAgent (Wang et al., ICLR 2024): MCTS over task prompts, each action a new
    prompt written from the errors of a training batch, the reward its eval accuracy."""

    selection: str = selection_setting("full")
    bandit_rounds: int = rounds_setting(4)
    bandit_arms: int = arms_setting(2)
    bandit_samples: int = samples_setting()
    ucb_c: float = ucb_c_setting()
    batch_size: int = setting(5)
    expand_width: int = setting(3)
    num_new_prompts: int = setting(1)
    temperature: float = shared.temperature(0.7)
    search: str = shared.search("mcts")
    n_iters: int = shared.n_iters(12)
    depth: int = shared.depth(5)
    min_depth: int = setting(2)
    w_exp: float = shared.w_exp(2.5)
    beam_size: int = shared.beam_size(3)
