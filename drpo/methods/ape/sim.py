"""APE's part of the simulated LLM: the inducer writes the instruction behind a set of
demonstrations, the resampler rewords one (drpo.sim.behaviour)."""

from __future__ import annotations

import json

from drpo.sim.behaviour import Behaviour, SimRequest, asks_for, normalise, tag
from drpo.sim.catalogue import HINT_SENTENCES, REASONING_HINTS

#: How the simulated inducer and resampler open an instruction (no reasoning hint in them).
INSTRUCTION_OPENERS = (
    "Answer the question given in the input.",
    "Give the answer that the input asks for.",
    "Work out what the input asks and answer it.",
    "Reply to the input with its answer.",
)
#: Hints that only make sense with options to choose from.
OPTION_HINTS = ("each option", "eliminate")


def induce_instruction(request: SimRequest) -> str:
    """An instruction for the demonstrations, with 0-2 hints (option hints only for multiple
    choice demonstrations): proposals of varied quality for APE to pick from."""
    rng = request.rng
    demos = tag(request.text, "demonstrations") or ""
    pool = [h for h in REASONING_HINTS if "(A)" in demos or h not in OPTION_HINTS]
    hints = rng.sample(pool, min(len(pool), rng.randint(0, 2))) if request.temperature > 0 else []
    new = " ".join([INSTRUCTION_OPENERS[0], *(HINT_SENTENCES[h] for h in hints)])
    return json.dumps({"induced_instruction": new}, indent=1)


def vary_instruction(request: SimRequest) -> str:
    """The instruction reworded with its hints; above temperature 0, a third of the variations
    add a missing hint and a third drop one: an unbiased local move, so that what improves
    is APE's selection, not the resampler."""
    rng, temp = request.rng, request.temperature
    current = normalise(tag(request.text, "instruction") or "")
    hints = [h for h in REASONING_HINTS if h in current]
    missing = [h for h in REASONING_HINTS if h not in hints]
    move = rng.random() if temp > 0 else 1.0
    if move < 1 / 3 and missing:
        hints.append(rng.choice(missing))
    elif move < 2 / 3 and hints:
        hints.remove(rng.choice(hints))
    opener = rng.choice(INSTRUCTION_OPENERS) if temp > 0 else INSTRUCTION_OPENERS[1]
    new = " ".join([opener, *(HINT_SENTENCES[h] for h in hints)])
    return json.dumps({"instruction_variation": new}, indent=1)


BEHAVIOURS = (
    Behaviour("inducer", asks_for("induced_instruction"), lambda r: induce_instruction(r)),
    Behaviour("resampler", asks_for("instruction_variation"), lambda r: vary_instruction(r)),
)
