"""GPO's part of the simulated LLM: the optimiser adds one reasoning hint within the word
budget it was given (drpo.sim.behaviour)."""

from __future__ import annotations

import json

from drpo.sim.behaviour import Behaviour, SimRequest, asks_for, missing_hints, sentence, tag
from drpo.sim.catalogue import HINT_SENTENCES
from drpo.text_diff import changed_words


def edit_prompt(request: SimRequest) -> str:
    """The prompt with one hint (its full sentence, else its short form) if within budget."""
    current = tag(request.text, "prompt") or ""
    budget_text = tag(request.text, "budget") or "0"
    budget = int(budget_text) if budget_text.strip().isdigit() else 0
    missing = missing_hints(current)
    if request.temperature > 0:
        request.rng.shuffle(missing)
    new = current
    for hint in missing:
        options = (HINT_SENTENCES[hint], f"{hint.capitalize()}.")
        fitting = [
            f"{sentence(current)} {o}".strip()
            for o in options
            if changed_words(current, f"{sentence(current)} {o}") <= budget
        ]
        if fitting:
            new = fitting[0]
            break
    return json.dumps({"new_prompt": new}, indent=1)


BEHAVIOURS = (Behaviour("editor", asks_for("new_prompt", "<budget>"), lambda r: edit_prompt(r)),)
