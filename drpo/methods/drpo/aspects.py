"""DRPO's 14 evaluation aspects, and the parsing of an aspect selection."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Aspect -> what it asks of an answer (our wording).
ASPECTS: dict[str, str] = {
    "Helpfulness": "answers the actual need behind the query, completely and usefully",
    "Clarity": "is well organised and easy to follow, with the main point easy to find",
    "Factuality": "states only correct information and does not make things up",
    "Depth": "covers the topic thoroughly, with reasons, mechanisms and relevant detail",
    "Engagement": "reads naturally and holds the reader's interest",
    "Conciseness": "says what is needed without padding or repetition",
    "Safety": "declines to help with harm and steers towards safe alternatives",
    "Compliance": "follows the user's explicit instructions, constraints and format",
    "Limitations": "is honest about uncertainty and what the model cannot know or do",
    "Critical-Thinking": "questions assumptions and weighs evidence before concluding",
    "Creativity": "brings original ideas or angles where the task invites them",
    "Interactivity": "invites follow-up or asks for clarification when the request is unclear",
    "Empathy": "recognises the user's feelings and situation and responds with care",
    "Sensitivity": "is respectful and inclusive, avoiding stereotypes and offence",
}

MIN_ASPECTS, MAX_ASPECTS = 2, 5

#: Longer names the same aspects go by (the DRPO release's ICL-stage selections use them).
ALIASES: dict[str, str] = {
    "Compliance with Instructions": "Compliance",
    "Acknowledgement of Limitations": "Limitations",
    "Cultural Sensitivity": "Sensitivity",
}

_CANONICAL = {
    re.sub(r"[^a-z]", "", name.lower()): target
    for name, target in [*((a, a) for a in ASPECTS), *ALIASES.items()]
}


def canonical_aspect(name: Any) -> str:
    """The aspect's canonical name ("critical thinking" -> "Critical-Thinking")."""
    key = re.sub(r"[^a-z]", "", str(name).lower())
    if key not in _CANONICAL:
        raise ValueError(f"unknown aspect {name!r}; the aspects are {', '.join(ASPECTS)}")
    return _CANONICAL[key]


@dataclass(frozen=True)
class AspectSelection:
    """The aspects a metrics model picked for one query, with its reasoning."""

    aspects: tuple[str, ...]
    reasoning: str

    def to_json(self) -> dict[str, Any]:
        return {"aspects": list(self.aspects), "reasoning": self.reasoning}


#: The ICL stage's stricter critic picks more aspects per query (as the reference's does).
ICL_MIN_ASPECTS, ICL_MAX_ASPECTS = 3, 6


def parse_selection(
    value: Any, *, min_aspects: int = MIN_ASPECTS, max_aspects: int = MAX_ASPECTS
) -> AspectSelection:
    """An `AspectSelection` from the metrics model's JSON (the format GPT-4 returned in the
    DRPO release: ``{"query_analysis": ..., "aspects_selection": {"reasoning": ...,
    "selected_aspects": [...]}}``); raises ValueError naming what is wrong."""
    if not isinstance(value, dict) or not isinstance(value.get("aspects_selection"), dict):
        raise ValueError("expected a JSON object with an 'aspects_selection' object")
    selection = value["aspects_selection"]
    names = selection.get("selected_aspects")
    if not isinstance(names, list) or not names:
        raise ValueError("'aspects_selection' needs a non-empty 'selected_aspects' list")
    aspects = tuple(dict.fromkeys(canonical_aspect(n) for n in names))
    if not min_aspects <= len(aspects) <= max_aspects:
        raise ValueError(f"select {min_aspects} to {max_aspects} aspects, not {len(aspects)}")
    reasoning = selection.get("reasoning", "")
    return AspectSelection(aspects, reasoning if isinstance(reasoning, str) else str(reasoning))


@dataclass(frozen=True)
class Evaluation:
    """A judge's scores (1-5) and rationales for the selected aspects of one answer."""

    scores: dict[str, int]
    rationales: dict[str, str]

    @property
    def reward(self) -> float:
        return sum(self.scores.values()) / len(self.scores)

    def handled(self) -> bool:
        """DRPO's rule for "this query needs no change of prompt": all 5s, or a mean > 4.5."""
        return all(s == 5 for s in self.scores.values()) or self.reward > 4.5

    def to_json(self) -> dict[str, Any]:
        return {
            aspect: {"score": self.scores[aspect], "rationale": self.rationales.get(aspect, "")}
            for aspect in self.scores
        }


def parse_evaluation(value: Any, aspects: tuple[str, ...]) -> Evaluation:
    """An `Evaluation` of exactly `aspects` from the judge's JSON
    (``{"evaluation": {aspect: {"rationale": ..., "score": 1-5}}}``)."""
    if isinstance(value, dict) and isinstance(value.get("evaluation"), dict):
        value = value["evaluation"]
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object with an 'evaluation' object")
    found = {}
    for name, item in value.items():
        try:
            found[canonical_aspect(name)] = item
        except ValueError:
            continue  # an aspect nobody asked for is ignored
    missing = [a for a in aspects if a not in found]
    if missing:
        raise ValueError(f"the evaluation lacks the aspect(s) {', '.join(missing)}")
    scores, rationales = {}, {}
    for aspect in aspects:
        item = found[aspect]
        score = item.get("score") if isinstance(item, dict) else item
        if isinstance(score, str) and score.strip().isdigit():
            score = int(score.strip())
        if isinstance(score, float) and score.is_integer():
            score = int(score)
        if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
            raise ValueError(f"the score of {aspect} must be an integer from 1 to 5, not {score!r}")
        scores[aspect] = score
        rationale = item.get("rationale", "") if isinstance(item, dict) else ""
        rationales[aspect] = rationale if isinstance(rationale, str) else str(rationale)
    return Evaluation(scores, rationales)
