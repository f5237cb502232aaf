"""PromptAgent's part of the simulated LLM: the error feedback names reasoning hints the
prompt lacks, and the writer adds one (drpo.sim.behaviour)."""

from __future__ import annotations

import json

from drpo.sim.behaviour import (
    Behaviour,
    SimRequest,
    asks_for,
    missing_hints,
    normalise,
    sentence,
    tag,
)
from drpo.sim.catalogue import HINT_SENTENCES


def error_feedback(request: SimRequest) -> str:
    """Why the prompt's answers were wrong: up to two hints it lacks."""
    missing = missing_hints(tag(request.text, "prompt") or "")
    if request.temperature > 0:
        request.rng.shuffle(missing)
    if missing:
        advice = "; ".join(HINT_SENTENCES[h].rstrip(".").lower() for h in missing[:2])
        feedback = f"The wrong answers come from hasty reasoning. The prompt should say: {advice}."
    else:
        feedback = "The prompt already asks for careful reasoning; the errors look like noise."
    return json.dumps({"error_feedback": f"(simulated) {feedback}"}, indent=1)


def write_prompts(request: SimRequest) -> str:
    """A new prompt: the current one with a missing hint, one the feedback names if any."""
    current = tag(request.text, "prompt") or ""
    feedback = normalise(tag(request.text, "feedback") or "")
    missing = missing_hints(current)
    suggested = [h for h in missing if h in feedback] or missing
    if not suggested:
        new = current
    else:
        hint = suggested[0] if request.temperature == 0 else request.rng.choice(suggested)
        new = f"{sentence(current)} {HINT_SENTENCES[hint]}".strip()
    return json.dumps({"new_prompts": [new]}, indent=1)


BEHAVIOURS = (
    Behaviour("writer", asks_for("new_prompts"), lambda r: write_prompts(r)),
    Behaviour("feedback", asks_for("error_feedback"), lambda r: error_feedback(r)),
)
