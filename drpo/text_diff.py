"""Word-level differences between two prompts."""

from __future__ import annotations

import difflib
import re


def word_diff(before: str, after: str) -> list[list[str]]:
    """Word-level diff as [op, text] pairs, op in "same", "del", "ins" (whitespace kept)."""
    a, b = re.findall(r"\S+|\s+", before), re.findall(r"\S+|\s+", after)
    ops: list[list[str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(["same", "".join(a[i1:i2])])
            continue
        if i2 > i1:
            ops.append(["del", "".join(a[i1:i2])])
        if j2 > j1:
            ops.append(["ins", "".join(b[j1:j2])])
    return ops


def changed_words(before: str, after: str) -> int:
    """How many words were deleted or inserted (a replaced word counts twice)."""
    return sum(len(text.split()) for op, text in word_diff(before, after) if op != "same")
