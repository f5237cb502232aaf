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
#: A proposal is a copy of a text it was shown when at least this share of *its own* words
#: lie in word 4-grams of that text: most of it is copied. Measured against the proposal,
#: never the shown text, so that a proposal that merely quotes a short answer, a refusal
#: sentence or two echoed sentences is not refused.
COPY_SHARE = 0.6
#: A proposal whose distinct word 4-grams are fewer than this share of all of them loops.
LOOP_SHARE = 0.5
_N = 4


def words(text: str) -> list[str]:
    """The lower-cased words of `text` (letters, digits, apostrophes)."""
    return re.findall(r"[a-z0-9']+", text.lower())


def _grams(tokens: list[str]) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + _N]) for i in range(max(1, len(tokens) - _N + 1))]


def copied_share(prompt: str, text: str, *, allowed: str = "") -> float:
    """The share of `prompt`'s words that lie in a word 4-gram it shares with `text` (and
    that is not in `allowed`, text the prompt may repeat freely, such as the prompt it
    rewrites)."""
    tokens = words(prompt)
    if not tokens:
        return 0.0
    source = set(_grams(words(text))) - set(_grams(words(allowed)))
    covered = [False] * len(tokens)
    for i, gram in enumerate(_grams(tokens)):
        if len(gram) == _N and gram in source:
            covered[i : i + _N] = [True] * _N
    return sum(covered) / len(tokens)


def check_prompt(
    prompt: str,
    *,
    max_chars: int,
    shown: Mapping[str, str],
    what: str = "the new prompt",
    allowed: str = "",
) -> None:
    """ValueError, with the reason, when `prompt` is not a usable prompt: too short or too
    long, looping, or mostly a copy of one of the texts it was `shown` (name -> text).
    Text in `allowed` (the prompt being rewritten) never counts as copied."""
    if len(prompt) > max_chars:
        raise ValueError(f"{what} has {len(prompt)} characters; at most {max_chars}")
    tokens = words(prompt)
    if len(tokens) < MIN_WORDS:
        raise ValueError(f"{what} needs at least a sentence of instructions")
    grams = _grams(tokens)
    if len(tokens) >= 30 and len(set(grams)) < LOOP_SHARE * len(grams):
        raise ValueError(f"{what} repeats the same words over and over")
    for name, text in shown.items():
        if len(text) >= 40 and copied_share(prompt, text, allowed=allowed) >= COPY_SHARE:
            raise ValueError(f"{what} repeats {name} instead of giving general instructions")
