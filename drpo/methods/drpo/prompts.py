"""DRPO's meta-prompts: package data files (prompts/*.txt) with <<name>> placeholders."""

from __future__ import annotations

import json
from pathlib import Path

from drpo.methods.meta_prompts import MetaPrompts

PROMPTS_DIR = Path(__file__).with_name("prompts")
PROMPTS = MetaPrompts(PROMPTS_DIR)
template = PROMPTS.text
render = PROMPTS.render


def fixed_examples() -> dict[str, str]:
    """The in-context examples used when retrieval is off (prompts/icl_examples.json)."""
    return json.loads((PROMPTS_DIR / "icl_examples.json").read_text(encoding="utf-8"))
