"""Is an optimiser's proposal a usable prompt? Checks every method applies to what its
optimiser writes, each failure a reason the optimiser is re-asked with. All of them were
seen from a real 0.5B model: answers instead of instructions, copies of the meta-prompt,
and text that repeats itself until the length limit."""

from __future__ import annotations

import re
from collections.abc import Mapping

#: The frequency penalty of the requests that write prompts and feedback: without one a
#: small real model repeats a phrase until the length limit (seen from a 0.5B model).
WRITING_PENALTY = 0.5
#: Fewer words than this is no set of instructions.
MIN_WORDS = 5
#: A proposal sharing this share of its word 4-grams with a text it was shown is a copy.
COPY_SHARE = 0.6
#: A proposal whose distinct word 4-grams are fewer than this share of all of them loops.
LOOP_SHARE = 0.5


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _grams(tokens: list[str]) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + 4]) for i in range(max(1, len(tokens) - 3))]


def overlap(prompt: str, text: str) -> float:
    """The share of the shorter text's word 4-grams that the other one contains."""
    a, b = set(_grams(words(prompt))), set(_grams(words(text)))
    smaller = min(len(a), len(b))
    return len(a & b) / smaller if smaller else 0.0


def check_prompt(
    prompt: str, *, max_chars: int, shown: Mapping[str, str], what: str = "the new prompt"
) -> None:
    """ValueError, with the reason, when `prompt` is not a usable prompt: too short or too
    long, looping, or mostly a copy of one of the texts it was `shown` (name -> text)."""
    if len(prompt) > max_chars:
        raise ValueError(f"{what} has {len(prompt)} characters; at most {max_chars}")
    tokens = words(prompt)
    if len(tokens) < MIN_WORDS:
        raise ValueError(f"{what} needs at least a sentence of instructions")
    grams = _grams(tokens)
    if len(tokens) >= 30 and len(set(grams)) < LOOP_SHARE * len(grams):
        raise ValueError(f"{what} repeats the same words over and over")
    for name, text in shown.items():
        if len(text) >= 40 and overlap(prompt, text) >= COPY_SHARE:
            raise ValueError(f"{what} repeats {name} instead of giving general instructions")
