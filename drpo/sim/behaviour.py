"""How a method teaches the simulated LLM its part: a `Behaviour` recognises the requests of
one of the method's roles (by what the prompt asks for) and answers them.

Each method's package lists its behaviours as `BEHAVIOURS` in its `sim` module, named by its
`MethodSpec.sim` in the registry (drpo.methods.registry): the simulator asks the registry, in
its order, so adding a method's simulated part is its module and its registry line. The
helpers here (tags, hints, sentences, stable draws) are what the behaviours share.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module

from drpo.sim.catalogue import REASONING_HINTS


@dataclass(frozen=True)
class SimRequest:
    """One request as a behaviour sees it: the messages, their whole text, the last message,
    the draw's random generator, the temperature, the sample drawn (0 at temperature 0) and
    the simulator's seed."""

    messages: Sequence[tuple[str, str]]
    text: str
    last: str
    rng: random.Random
    temperature: float
    draw: int
    seed: int


@dataclass(frozen=True)
class Behaviour:
    """A role the simulated LLM plays for a method: `role` names it (`SimulatedLLM.role_of`),
    `recognises(text)` tells its requests from the whole text of their messages, `answer`
    writes the answer."""

    role: str
    recognises: Callable[[str], bool]
    answer: Callable[[SimRequest], str]


def asks_for(*keys: str) -> Callable[[str], bool]:
    """Recognises the requests whose text holds every one of `keys` (a JSON key asked for, a
    tag)."""
    return lambda text: all(key in text for key in keys)


def registered_behaviours() -> tuple[Behaviour, ...]:
    """The behaviours of every registered method, in the registry's order."""
    from drpo.methods.registry import methods  # the methods teach the simulator

    found: list[Behaviour] = []
    for spec in methods():
        if spec.sim is not None:
            module = import_module(spec.sim)
            found += list(module.BEHAVIOURS)
    return tuple(found)


# ---- helpers the behaviours share ---------------------------------------------------------
def tag(text: str, name: str) -> str | None:
    """The content of the first `<name>...</name>` in `text`."""
    match = re.search(rf"<{name}>\s*(.*?)\s*</{name}>", text, re.DOTALL)
    return match.group(1) if match else None


def normalise(text: str) -> str:
    """Lower case, single spaces."""
    return " ".join(text.lower().split())


def stable(*parts: object) -> int:
    """A number that depends on `parts` only (not on the process or the call order)."""
    data = json.dumps(parts, ensure_ascii=False, default=str).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def missing_hints(prompt: str) -> list[str]:
    """The reasoning hints a task prompt lacks, in catalogue order."""
    low = normalise(prompt)
    return [hint for hint in REASONING_HINTS if hint not in low]


def sentence(text: str) -> str:
    """`text` ending as a sentence, so that a sentence can follow it."""
    text = text.rstrip()
    return text + "." if text and text[-1] not in ".!?:" else text


def count_asked(text: str) -> int:
    """How many items a request asks for (its ``<count>`` tag; 1 without one)."""
    found = (tag(text, "count") or "1").strip()
    return max(1, int(found)) if found.isdigit() else 1
