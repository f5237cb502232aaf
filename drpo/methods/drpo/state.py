"""DRPO's search state: the steps so far, one per training query."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Step:
    """One training query answered under one system prompt, and how that answer was judged.

    `error` says why the step has no real score (an answer the judge or the metrics model
    could not deliver after its re-asks); such a step's reward is 0.
    """

    system_prompt: str
    query: str
    examples: tuple[str, ...]  # the queries of the in-context examples shown
    output: str
    aspects: tuple[str, ...] = ()
    aspect_reasoning: str = ""
    scores: Mapping[str, int] = field(default_factory=dict)
    rationales: Mapping[str, str] = field(default_factory=dict)
    reward: float = 0.0
    error: str | None = None
    error_role: str | None = None  # the role whose answer was unusable ("metrics", "eval")

    def handled(self) -> bool:
        """The prompt already does well on this query: all 5s, or a mean above 4.5."""
        if self.error is not None or not self.scores:
            return False
        return all(s == 5 for s in self.scores.values()) or self.reward > 4.5

    def to_json(self) -> dict[str, Any]:
        return {
            "system_prompt": self.system_prompt,
            "query": self.query,
            "in_context_examples": list(self.examples),
            "output": self.output,
            "aspects": list(self.aspects),
            "aspect_reasoning": self.aspect_reasoning,
            "scores": dict(self.scores),
            "rationales": dict(self.rationales),
            "reward": self.reward,
            "error": self.error,
            "error_role": self.error_role,
        }


@dataclass(frozen=True)
class DRPOState:
    """Steps 0..d: the state at depth d has answered training queries 0..d."""

    steps: tuple[Step, ...]

    @property
    def last(self) -> Step:
        return self.steps[-1]

    @property
    def system_prompt(self) -> str:
        return self.last.system_prompt

    def to_json(self) -> dict[str, Any]:
        """The summary in output.json: the newest step (earlier ones are the ancestors')."""
        return {"step": len(self.steps) - 1, **self.last.to_json()}
