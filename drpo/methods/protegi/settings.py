"""ProTeGi's settings: one declaration, from which `train.py --method protegi`'s flags, the
Python API's keyword arguments and the world's config are made.

The paper's settings (Pryzant et al., 2023, and its reference code) where they cost little:
beam 4, 4 gradients of 4 errors each, 1 reason per group, 1 edit per reason, 2 paraphrases
per edit, at most 8 successors per parent, UCB with c = 1, 8 bandit rounds of 8 prompts.
Sized down: 3 rounds (`depth`; paper 6), minibatches of 32 training examples (paper 64) and
bandit pulls of 5 eval examples (paper 32, on an eval split of 30 here): `preset="paper"`
restores them.
"""

from __future__ import annotations

from dataclasses import dataclass

from drpo.methods import shared_settings as shared
from drpo.methods.bandit_scoring import (
    BanditSettings,
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
class ProTeGiSettings(TaskRunSettings, SelectionSettings):
    """ProTeGi (Pryzant et al., EMNLP 2023): `depth` rounds of textual gradients and edits,
    a beam of `beam_size` prompts selected by a bandit."""

    selection: str = selection_setting("ucb")
    bandit_rounds: int = rounds_setting(8)
    bandit_arms: int = arms_setting(8)
    bandit_samples: int = samples_setting()
    ucb_c: float = ucb_c_setting()
    search: str = shared.search("beam")
    depth: int = shared.depth(3)
    beam_size: int = shared.beam_size(4)
    minibatch_size: int = setting(
        32, help="training examples each round's prompts run on (paper: 64)"
    )
    n_gradients: int = setting(4, help="error groups per prompt")
    errors_per_gradient: int = setting(4)
    gradients_per_error: int = setting(1, help="reasons per error group")
    steps_per_gradient: int = setting(1, help="edits per reason")
    mc_samples_per_step: int = setting(2, help="paraphrases per edit")
    max_expansion_factor: int = setting(8, help="successors per prompt")
    temperature: float = shared.temperature(0.7)

    def bandit(self) -> BanditSettings:
        settings = super().bandit()
        if settings is None:
            raise ValueError("ProTeGi selects its beam with a bandit: --selection ucb or sr")
        return settings
