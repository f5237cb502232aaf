"""ProTeGi's part of the simulated LLM: textual gradients name reasoning hints a prompt
lacks, edits add the one a reason names, paraphrases reorder a prompt's sentences
(drpo.sim.behaviour)."""

from __future__ import annotations

import json
import re

from drpo.sim.behaviour import (
    Behaviour,
    SimRequest,
    asks_for,
    count_asked,
    missing_hints,
    normalise,
    sentence,
    tag,
)
from drpo.sim.catalogue import HINT_SENTENCES

#: Openings the paraphraser puts before a prompt it cannot reorder.
OPENINGS = ("Your task: ", "In short: ", "Instructions: ")


def failure_reasons(request: SimRequest) -> str:
    """Textual gradients: each names a reasoning hint the prompt lacks."""
    text = request.text
    missing = missing_hints(tag(text, "prompt") or "")
    if request.temperature > 0:
        request.rng.shuffle(missing)
    reasons = [f"(simulated) The prompt never says: {HINT_SENTENCES[h].rstrip('.').lower()}."
               for h in missing]  # fmt: skip
    asked = count_asked(text)
    reasons += ["(simulated) The errors look like noise; the prompt seems fine."] * asked
    return json.dumps({"failure_reasons": reasons[:asked]}, indent=1)


def revise_prompt(request: SimRequest) -> str:
    """Edits along a gradient: add the hint the reason names (else any missing one)."""
    text = request.text
    current = tag(text, "prompt") or ""
    reason = normalise(tag(text, "reason") or "")
    missing = missing_hints(current)
    named = [h for h in missing if h in reason] or missing
    if request.temperature > 0:
        request.rng.shuffle(named)
    prompts = [f"{sentence(current)} {HINT_SENTENCES[named[j % len(named)]]}" if named
               else current for j in range(count_asked(text))]  # fmt: skip
    return json.dumps({"improved_prompts": prompts}, indent=1)


def paraphrase(request: SimRequest) -> str:
    """The same sentences in another order (another opening for a single sentence)."""
    rng = request.rng
    current = (tag(request.text, "prompt") or "").strip()
    for opening in OPENINGS:
        current = current.removeprefix(opening)
    sentences = re.split(r"(?<=[.!?])\s+", current)
    for _ in range(4):
        rng.shuffle(sentences)
        if len(sentences) < 2 or " ".join(sentences) != current:
            break
    new = " ".join(sentences)
    if new == current:
        new = f"{rng.choice(OPENINGS)}{current}"
    return json.dumps({"paraphrased_prompt": new}, indent=1)


BEHAVIOURS = (
    Behaviour("gradient", asks_for("failure_reasons"), lambda r: failure_reasons(r)),
    Behaviour("reviser", asks_for("improved_prompts"), lambda r: revise_prompt(r)),
    Behaviour("paraphraser", asks_for("paraphrased_prompt"), lambda r: paraphrase(r)),
)
