"""APE's settings: one declaration, from which `train.py --method ape`'s flags, the Python
API's keyword arguments and the world's config are made."""

from __future__ import annotations

from dataclasses import dataclass

from drpo.methods import shared_settings as shared
from drpo.methods.declare import setting
from drpo.methods.task_settings import TaskRunSettings


@dataclass(frozen=True, kw_only=True)
class ApeSettings(TaskRunSettings):
    """APE (Zhou et al., ICLR 2023): `depth` rounds, the first of them forward generation of
    instructions from demonstrations, the next ones resampling; `beam_size` kept each."""

    search: str = shared.search("beam")
    depth: int = shared.depth(3)  # the proposal round, then resampling rounds
    beam_size: int = shared.beam_size(3)
    demo_sets: int = setting(
        3, help="demonstration sets shown for forward generation (paper's code: 3-5)"
    )
    n_demos: int = setting(5, help="input/output pairs in a set (paper: 5)")
    proposals_per_set: int = setting(
        4, help="instructions sampled per set (paper's code: 30-50; sized down)"
    )
    n_variations: int = setting(
        4, help="variations sampled per kept instruction in each resampling round"
    )
    score_size: int = setting(
        20, help="training examples a round scores each candidate on (paper's code: 20-50)"
    )
    temperature: float = shared.temperature(0.9)
