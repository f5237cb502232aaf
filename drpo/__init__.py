"""The application: prompt optimisation methods, their runs and artefacts, and the CLI."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """`drpo.AlignedModel`: a DRPO run's aligned model (imported on first use)."""
    if name == "AlignedModel":
        from drpo.methods.drpo.aligned import AlignedModel

        return AlignedModel
    raise AttributeError(f"module 'drpo' has no attribute {name!r}")
