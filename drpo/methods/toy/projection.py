"""The toy world's projection for `drpo.plan`: it calls no LLM."""

from __future__ import annotations

from typing import Any

from drpo.planning import Projection


def project(args: Any) -> Projection:
    return Projection(
        search=f"{args.search} search on the toy prompt-building world, depth {args.depth}",
        expansions=0,
        evaluated_prompts=0,
        roles=(),
        notes=("the toy world calls no model",),
    )
