"""A search on the toy prompt-building world (no LLM): the demo that exercises the whole
pipeline, from the search to its artefacts, in well under a second."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from search import MCTS, BeamSearch, Greedy, save_artifacts
from search.artifacts import ArtifactPaths
from world_model import SearchAlgorithm
from world_model.toy import DEFAULT_GUIDANCE, optimal_value, prompt_building

SEARCHES = ("beam", "greedy", "mcts")


@dataclass(frozen=True)
class ToyRunSummary:
    search: str
    prompt: tuple[str, ...]
    value: float
    optimum: float
    n_nodes: int
    paths: ArtifactPaths
    stop_reason: str = "depth"
    expansions: int = 0
    evaluated: int = 0


def make_algorithm(
    search: str, *, depth: int, beam_size: int, n_iters: int, w_exp: float, seed: int
) -> SearchAlgorithm:
    """The search of a toy run; ValueError (one line for the user) for settings it cannot
    run with: a depth under 1 would build no prompt at all."""
    if depth < 1:
        raise ValueError(
            f"--depth must be >= 1 (the words the toy prompt is built of), got {depth}"
        )
    if search == "beam":
        return BeamSearch(beam_size=beam_size, max_depth=depth, seed=seed)
    if search == "greedy":
        return Greedy(max_depth=depth, seed=seed)
    if search == "mcts":
        return MCTS(n_iters=n_iters, depth_limit=depth, w_exp=w_exp, seed=seed)
    raise ValueError(f"unknown search {search!r}; choose from {', '.join(SEARCHES)}")


def run_toy(
    algorithm: SearchAlgorithm,
    *,
    search: str,
    log_dir: Path,
    depth: int,
    noise_std: float,
    seed: int,
) -> ToyRunSummary:
    """Run `algorithm` (made by `make_algorithm(search, ...)`) and write its artefacts."""
    world, config = prompt_building(depth=depth, noise_std=noise_std, seed=seed)
    result = algorithm(world, config)
    # The path value MCTS reports is the sum of step rewards; beam and greedy report the last.
    aggregator = "sum" if search == "mcts" else "last"
    optimum = optimal_value(DEFAULT_GUIDANCE, world.depth, aggregator)
    meta = {
        "method": "toy",
        "world": "prompt building (toy world, no LLM)",
        "noise_std": noise_std,
        "noise_free_optimum": optimum,
        "stop_reason": result.stop_reason,
    }
    paths = save_artifacts(result, log_dir / "algo_output", meta=meta)
    return ToyRunSummary(
        search=search,
        prompt=tuple(result.terminal_state),
        value=result.cum_reward,
        optimum=optimum,
        n_nodes=len(result.nodes()),
        paths=paths,
        stop_reason=result.stop_reason,
        expansions=result.expansions,
        evaluated=result.evaluated,
    )
