"""OPRO's settings: one declaration, from which `train.py --method opro`'s flags, the
Python API's keyword arguments and the world's config are made."""

from __future__ import annotations

from dataclasses import dataclass

from drpo.methods import shared_settings as shared
from drpo.methods.declare import setting
from drpo.methods.task_settings import TaskRunSettings


@dataclass(frozen=True, kw_only=True)
class OPROSettings(TaskRunSettings):
    """OPRO (Yang et al., ICLR 2024): `depth` optimisation steps, each a meta-prompt of the
    best scored instructions so far and a few exemplars."""

    search: str = shared.search("greedy")
    depth: int = shared.depth(8)
    instructions_per_step: int = setting(
        8, help="new instructions the optimiser writes each step"
    )
    exemplars_per_step: int = setting(
        3, help="training questions with answers in each meta-prompt, drawn anew each step"
    )
    max_history: int = setting(
        20, help="the most scored instructions a meta-prompt shows (the best ones)"
    )
    history_threshold: float = setting(
        0.0,
        help="instructions scoring below it are left out of the meta-prompt "
        "(the reference code: 0 with a PaLM scorer, 0.3 with GPT ones)",
    )
    score_size: int = setting(
        50,
        help="training examples each instruction is scored on (the paper: 20%% of a "
        "BBH task, about 50)",
    )
    temperature: float = shared.temperature(1.0)
