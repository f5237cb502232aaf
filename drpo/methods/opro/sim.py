"""OPRO's part of the simulated LLM: the optimiser adds a reasoning hint to the best-scoring
instruction of the history it is shown (drpo.sim.behaviour)."""

from __future__ import annotations

import json
import re

from drpo.sim.behaviour import Behaviour, SimRequest, asks_for, missing_hints, sentence, tag
from drpo.sim.catalogue import HINT_SENTENCES


def opro_instruction(request: SimRequest) -> str:
    """The best-scoring instruction shown (the last of equals, as the list runs from worst
    to best) with one more hint (a random one above temperature 0)."""
    shown = re.findall(r"Instruction: (.*?)\nScore: (\d+)", tag(request.text, "history") or "",
                       re.DOTALL)  # fmt: skip
    best = max(reversed(shown), key=lambda x: int(x[1]))[0] if shown else ""
    missing = missing_hints(best)
    new = best
    if missing:
        hint = missing[0] if request.temperature == 0 else request.rng.choice(missing)
        new = f"{sentence(best)} {HINT_SENTENCES[hint]}".strip()
    return json.dumps({"higher_scoring_instruction": new}, indent=1)


BEHAVIOURS = (
    Behaviour("opro", asks_for("higher_scoring_instruction"), lambda r: opro_instruction(r)),
)
