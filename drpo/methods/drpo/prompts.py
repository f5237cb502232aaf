"""DRPO's meta-prompts: package data files (prompts/*.txt) with <<name>> placeholders."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).with_name("prompts")
_PLACEHOLDER = re.compile(r"<<([a-z_]+)>>")


@cache
def template(name: str) -> str:
    """The text of prompts/<name>.txt."""
    return (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8")


def render(name: str, **values: str) -> str:
    """The template with every placeholder filled in (each must be given, none left over).

    Values are inserted in one pass, so a value that itself contains ``<<...>>`` (a query
    or an answer can) is never expanded again.
    """
    text = template(name)
    wanted = set(_PLACEHOLDER.findall(text))
    if wanted != set(values):
        raise KeyError(f"prompt {name!r} takes {sorted(wanted)}, was given {sorted(values)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def fixed_examples() -> dict[str, str]:
    """The in-context examples used when retrieval is off (prompts/icl_examples.json)."""
    return json.loads((PROMPTS_DIR / "icl_examples.json").read_text(encoding="utf-8"))
