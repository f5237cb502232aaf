"""Search overhead per expanded node: our BeamSearch and MCTS beside llm-reasoners'.

    python -m bench.search_overhead [--quick]

Both implementations search the same toy world, whose calls cost next to nothing, with the
same settings, in this one process pinned to one core; each figure is the best of a few runs.
What is left is the algorithms' own bookkeeping: the per-node time is an upper bound on it.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from search import MCTS, BeamSearch
from world_model import SearchConfig, WorldModel


class CheapWorld(WorldModel):
    """States are node numbers of a complete tree; nothing is ever terminal."""

    def __init__(self, branching: int) -> None:
        super().__init__()
        self.branching = branching

    def init_state(self) -> int:
        return 0

    def step(self, state: int, action: int) -> tuple[int, dict[str, Any]]:
        return state * self.branching + action + 1, {}

    def is_terminal(self, state: int) -> bool:
        return False


class CheapConfig(SearchConfig):
    def __init__(self, branching: int) -> None:
        super().__init__()
        self.actions = list(range(branching))
        self.branching = branching

    def get_actions(self, state: int) -> list[int]:
        return self.actions

    def fast_reward(self, state: int, action: int) -> tuple[float, dict[str, Any]]:
        return ((state * self.branching + action) * 2654435761 % 1000) / 1000, {}

    def reward(self, state: int, action: int, **kwargs: Any) -> tuple[float, dict[str, Any]]:
        return ((state * self.branching + action) * 40503 % 997) / 997, {}


def mean(values: list[float]) -> float:
    """The return of a path suffix, for both implementations (it keeps Q in [0, 1], so that
    exploration, not one deep path, shapes the tree)."""
    return sum(values) / len(values)


@dataclass(frozen=True)
class Measurement:
    algorithm: str
    implementation: str
    nodes: int
    expanded: int
    seconds: float

    @property
    def us_per_expanded(self) -> float:
        return self.seconds / max(1, self.expanded) * 1e6


def count_nodes(root: Any) -> tuple[int, int]:
    """(all nodes, nodes whose state was computed) of a tree of ours or of llm-reasoners."""
    nodes = expanded = 0
    stack = [root]
    while stack:
        node = stack.pop()
        nodes += 1
        if getattr(node, "expanded", getattr(node, "state", None) is not None):
            expanded += 1
        stack.extend(node.children or [])
    return nodes, expanded


def best_of(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """The best time of `repeats` runs, each started with no earlier tree alive."""
    best, out = float("inf"), None
    for _ in range(repeats):
        out = None
        gc.collect()
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def measure(
    algorithm: str, implementation: str, run: Callable[[], Any], repeats: int
) -> Measurement:
    seconds, result = best_of(repeats, run)
    root = getattr(result, "tree", None) or result.tree_state
    nodes, expanded = count_nodes(root)
    return Measurement(algorithm, implementation, nodes, expanded, seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller trees (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    scale = 10 if args.quick else 1
    beam = {"beam_size": 10, "max_depth": 100 // scale}
    mcts = {"n_iters": 600 // scale, "depth_limit": 10, "w_exp": 1.0, "cum_reward": mean}
    branching_beam, branching_mcts = 10, 3

    def ours_beam() -> Any:
        return BeamSearch(**beam)(CheapWorld(branching_beam), CheapConfig(branching_beam))

    def ours_mcts() -> Any:
        return MCTS(**mcts)(CheapWorld(branching_mcts), CheapConfig(branching_mcts))

    rows = [
        measure("BeamSearch", "ours", ours_beam, args.repeats),
        measure("MCTS", "ours", ours_mcts, args.repeats),
    ]
    try:
        algorithms = importlib.import_module("reasoners.algorithm")
    except ImportError as exc:
        algorithms = None
        print(f"llm-reasoners is not installed ({exc}); only our figures are shown")
    if algorithms is not None:

        def their_beam() -> Any:
            algo = algorithms.BeamSearch(**beam)
            return algo(CheapWorld(branching_beam), CheapConfig(branching_beam))

        def their_mcts() -> Any:
            algo = algorithms.MCTS(**mcts)
            return algo(CheapWorld(branching_mcts), CheapConfig(branching_mcts))

        rows.insert(1, measure("BeamSearch", "llm-reasoners 1.0.2", their_beam, args.repeats))
        rows.append(measure("MCTS", "llm-reasoners 1.0.2", their_mcts, args.repeats))

    print("Search overhead on a toy world whose calls cost next to nothing (one core, best of")
    print(f"{args.repeats} runs; beam {beam}, width {branching_beam}; MCTS {mcts}, width 3)")
    head = f"{'algorithm':<11}{'implementation':<21}{'nodes':>8}{'expanded':>10}"
    print(head + f"{'time (s)':>10}{'us/expanded':>13}{'ours/theirs':>13}")
    ours = {r.algorithm: r for r in rows if r.implementation == "ours"}
    for row in rows:
        ratio = ""
        if row.implementation != "ours":
            ratio = f"{ours[row.algorithm].us_per_expanded / row.us_per_expanded:.2f}"
        print(
            f"{row.algorithm:<11}{row.implementation:<21}{row.nodes:>8}{row.expanded:>10}"
            f"{row.seconds:>10.3f}{row.us_per_expanded:>13.1f}{ratio:>13}"
        )

    # The 10,000-node target: grow our MCTS tree to at least 10,000 nodes.
    n_iters = 50
    for _attempt in range(6):
        algo = MCTS(n_iters=n_iters, depth_limit=10, w_exp=1.0, cum_reward=mean)
        seconds, result = best_of(args.repeats, lambda a=algo: a(CheapWorld(3), CheapConfig(3)))
        nodes = len(result.nodes())
        if nodes >= 10_000 or args.quick:
            break
        n_iters = int(n_iters * 10_000 / nodes * 1.05) + 1
    if args.json:
        figures = {
            "rows": [asdict(r) | {"us_per_expanded": r.us_per_expanded} for r in rows],
            "mcts_tree": {"nodes": nodes, "seconds": seconds},
        }
        Path(args.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    if nodes < 10_000:
        print(f"our MCTS, {nodes} nodes: {seconds:.3f} s (quick run: no 10,000-node check)")
        return 0
    verdict = "met" if seconds < 1.0 else "NOT met"
    print(
        f"our MCTS, {nodes} nodes ({n_iters} iterations): {seconds:.3f} s "
        f"(target: under 1 s for 10,000 nodes: {verdict})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
