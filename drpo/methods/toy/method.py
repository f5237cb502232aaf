"""The toy method in `train.py --method toy` and the Python API: a search on the toy
prompt-building world (no LLM)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drpo.methods import shared_settings as shared
from drpo.methods.declare import setting
from drpo.methods.spec import MethodSpec
from drpo.run_context import RunSettings


@dataclass(frozen=True, kw_only=True)
class ToySettings(RunSettings):
    """A search on the toy prompt-building world: no LLM, no data."""

    search: str = shared.search("beam")
    depth: int = shared.depth(3)
    n_iters: int = shared.n_iters(20)
    w_exp: float = shared.w_exp(1.0)
    beam_size: int = shared.beam_size(2)
    noise_std: float = setting(0.0, help="toy reward noise")


def _algorithm(settings: ToySettings) -> Any:
    from drpo.toy_run import make_algorithm

    return make_algorithm(settings.search, depth=settings.depth, beam_size=settings.beam_size,
                          n_iters=settings.n_iters, w_exp=settings.w_exp,
                          seed=settings.seed)  # fmt: skip


def check(settings: ToySettings) -> None:
    """Bad settings: RunError or ValueError, before anything is written."""
    _algorithm(settings)
    if settings.noise_std < 0:
        raise ValueError(f"noise_std must be >= 0, got {settings.noise_std}")


def run(settings: ToySettings) -> Any:
    """The run (in settings.log_dir, made by then); its summary."""
    from drpo.toy_run import run_toy

    return run_toy(_algorithm(settings), search=settings.search, log_dir=settings.log_dir,
                   depth=settings.depth, noise_std=settings.noise_std,
                   seed=settings.seed)  # fmt: skip


def report(summary: Any) -> None:
    """The run\'s closing lines on stdout."""
    print(f"toy prompt-building world (no LLM), {summary.search} search, {summary.n_nodes} nodes")
    print(f"best prompt: {' '.join(summary.prompt)}")
    print(f"value {summary.value:.4g} (noise-free optimum {summary.optimum:.4g})")
    print(f"stop_reason: {summary.stop_reason} ({summary.expansions} expansions, "
          f"{summary.evaluated} evaluated prompts)")  # fmt: skip
    print(f"artefacts: {summary.paths.json.parent}")


METHOD = MethodSpec(
    name="toy",
    title="toy method",
    summary="a search on the toy prompt-building world, no LLM",
    settings=ToySettings,
    check=check,
    run=run,
    report=report,
)
