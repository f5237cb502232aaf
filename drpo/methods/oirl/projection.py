"""Prompt-OIRL's projection for `drpo.plan`: it calls no LLM (its reward model scores the
logged prompting outcomes offline)."""

from __future__ import annotations

from typing import Any

from drpo.planning import Projection


def project(args: Any) -> Projection:
    return Projection(
        search="best-of-N per test query by the offline reward model",
        expansions=0,
        evaluated_prompts=0,
        roles=(),
        notes=("Prompt-OIRL calls no model: its reward model learns from logged outcomes",),
    )
