"""APE's final choice: every instruction a round kept (the beam of each level) is scored on
the eval split, and the best is the answer; the initial prompt stays when none beats it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drpo.llm._loop import run_sync
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.tasks import Example
from search.node import SearchNode
from search.result import SearchResult


@dataclass(frozen=True)
class Finalist:
    """A kept instruction: its round, its score on that round's subset, and on eval."""

    prompt: str
    round: int
    subset_accuracy: float
    eval_accuracy: float

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "round": self.round,
            "subset_accuracy": self.subset_accuracy,
            "eval_accuracy": self.eval_accuracy,
        }


@dataclass(frozen=True)
class FinalChoice:
    prompt: str
    eval_accuracy: float
    is_initial: bool
    finalists: tuple[Finalist, ...]  # best on eval first


def kept_nodes(result: SearchResult) -> list[SearchNode]:
    """The nodes beam search kept, below the root: those it expanded and those its last
    beam ended with; one per instruction (the earliest, best-scored), in round order."""
    beam = {id(n) for n in getattr(result, "beam", ())}
    kept = [n for n in result.nodes() if n.depth > 0 and (n.children or id(n) in beam)]
    kept.sort(key=lambda n: (n.depth, -n.reward))
    seen: set[str] = set()
    out = []
    for node in kept:
        if node.state.prompt not in seen:
            seen.add(node.state.prompt)
            out.append(node)
    return out


def choose(
    result: SearchResult,
    scorer: TaskScorer,
    eval_set: Sequence[Example],
    *,
    initial_prompt: str,
    initial_eval: float,
) -> FinalChoice:
    """The kept instruction best on `eval_set` (ties: the earlier round, then the better
    subset score), or the initial prompt when no kept instruction scores above it."""
    nodes = kept_nodes(result)
    scores = run_sync(scorer.score_many([(n.state.prompt, eval_set) for n in nodes]))
    finalists = [Finalist(n.state.prompt, n.depth, n.reward, s.accuracy)
                 for n, s in zip(nodes, scores)]  # fmt: skip
    ranked = sorted(finalists, key=lambda f: -f.eval_accuracy)  # stable: round order kept
    if not ranked or ranked[0].eval_accuracy <= initial_eval:
        return FinalChoice(initial_prompt, initial_eval, True, tuple(ranked))
    return FinalChoice(ranked[0].prompt, ranked[0].eval_accuracy, False, tuple(ranked))
