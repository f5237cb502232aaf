"""A real sentence embedder: all-MiniLM-L6-v2, run with torch and transformers (extra
``embed``), its weights read from the pinned zip that ``python -m drpo.models fetch minilm``
verified (never unpacked onto disk, never loaded from a hub).

The model card's recipe: BERT-style WordPiece tokens (lower-cased, at most 256 a text), the
6-layer encoder, the mean of the token vectors over the attention mask, and L2
normalisation, so that a dot product is the cosine similarity. The pooling mode, the
sequence limit and the normaliser are read from the zip's own sentence-transformers files
and checked, so a zip of another recipe is refused rather than run wrongly.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: The pinned model's name in `drpo.models`.
PINNED_NAME = "minilm"
#: What the embedder calls itself in reports, caches and aligned_model.json.
EMBEDDER_NAME = "all-MiniLM-L6-v2"
#: The Python packages it runs on (the ``embed`` extra).
NEEDS = ("torch", "transformers", "tokenizers", "safetensors")


class SentenceEmbedderError(ValueError):
    """The embedder cannot run: its packages or its weights are missing, or the weights are
    not the pinned ones. The message says what to do, in one line."""


def missing_packages() -> list[str]:
    """The packages of the ``embed`` extra that are not installed (none: it can run)."""
    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


def pinned_path(models_dir: Path | None = None) -> Path:
    """Where `python -m drpo.models fetch minilm` puts the zip (it may not be there yet)."""
    from drpo.models import model_file

    return model_file(PINNED_NAME, models_dir=models_dir)


def is_fetched(models_dir: Path | None = None) -> bool:
    """Whether the pinned zip is there with its pinned size (the hash is checked on load)."""
    from drpo.models import MODELS

    path = pinned_path(models_dir)
    return path.is_file() and path.stat().st_size == MODELS[PINNED_NAME].size


@dataclass(frozen=True)
class _Loaded:
    model: Any  # transformers.BertModel, in eval mode
    tokenizer: Any  # tokenizers.Tokenizer, truncating and padding
    dim: int


def _read_verified(path: Path) -> bytes:
    from drpo.models import MODELS

    pinned = MODELS[PINNED_NAME]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SentenceEmbedderError(
            f"cannot read the MiniLM weights at {path} ({exc.strerror}); run: "
            "python -m drpo.models fetch minilm"
        ) from None
    if len(data) != pinned.size or hashlib.sha256(data).hexdigest() != pinned.sha256:
        raise SentenceEmbedderError(
            f"{path} is not the pinned all-MiniLM-L6-v2 zip (size or sha256 differ); run: "
            "python -m drpo.models fetch minilm"
        )
    return data


def _recipe(archive: zipfile.ZipFile) -> int:
    """The sequence limit, after checking that the zip's recipe is mean pooling followed by
    normalisation (ValueError otherwise)."""
    pooling = json.loads(archive.read("1_Pooling/config.json"))
    modules = [m.get("type", "") for m in json.loads(archive.read("modules.json"))]
    if not pooling.get("pooling_mode_mean_tokens") or not any(
        t.endswith("Normalize") for t in modules
    ):
        raise ValueError("the zip's recipe is not mean pooling with normalisation")
    return int(json.loads(archive.read("sentence_bert_config.json"))["max_seq_length"])


@functools.lru_cache(maxsize=2)
def _load(path: Path) -> _Loaded:
    """The encoder and tokenizer out of the zip at `path`, loaded once per process."""
    if missing := missing_packages():
        raise SentenceEmbedderError(
            f"the MiniLM embedder needs {', '.join(missing)}: pip install -e '.[embed]'"
        )
    import safetensors.torch
    import tokenizers
    import transformers

    data = _read_verified(path)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            limit = _recipe(archive)
            config = transformers.BertConfig.from_dict(json.loads(archive.read("config.json")))
            weights = safetensors.torch.load(archive.read("model.safetensors"))
            tokenizer = tokenizers.Tokenizer.from_str(archive.read("tokenizer.json").decode())
    except (KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise SentenceEmbedderError(f"{path} does not hold a usable MiniLM model: {exc}") from None
    weights.pop("embeddings.position_ids", None)  # a buffer the model makes itself
    model = transformers.BertModel(config, add_pooling_layer="pooler.dense.weight" in weights)
    model.load_state_dict(weights, strict=True)
    model.eval()
    tokenizer.enable_truncation(max_length=limit)
    tokenizer.enable_padding(pad_id=config.pad_token_id, pad_token="[PAD]")  # to the longest
    return _Loaded(model, tokenizer, int(config.hidden_size))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2: 384-dimensional unit vectors, `batch_size` texts a forward pass.

    `path` is the pinned zip (default: where ``python -m drpo.models fetch minilm`` puts
    it). Nothing is loaded until the first `embed`; the loaded model is shared by every
    embedder of the process that reads the same file."""

    #: Stable: names the vectors in caches, reports and aligned_model.json.
    name = EMBEDDER_NAME

    def __init__(self, path: str | Path | None = None, *, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.path = Path(path).expanduser().resolve() if path else pinned_path()
        self.batch_size = batch_size

    @property
    def key(self) -> str:
        """The cache key of its vectors (the name: one pinned model, one recipe)."""
        return self.name

    def check(self) -> None:
        """Load now (SentenceEmbedderError if it cannot run), rather than at the first embed."""
        if not self.path.is_file():
            raise SentenceEmbedderError(
                f"the MiniLM weights are not fetched ({self.path}); run: "
                "python -m drpo.models fetch minilm"
            )
        _load(self.path)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """An (n, 384) float32 array of L2-normalised sentence vectors."""
        import torch

        self.check()
        loaded = _load(self.path)
        rows: list[np.ndarray] = []
        with torch.no_grad():
            for start in range(0, len(texts), self.batch_size):
                batch = loaded.tokenizer.encode_batch(list(texts[start : start + self.batch_size]))
                ids = torch.tensor([e.ids for e in batch], dtype=torch.long)
                mask = torch.tensor([e.attention_mask for e in batch], dtype=torch.long)
                types = torch.tensor([e.type_ids for e in batch], dtype=torch.long)
                tokens = loaded.model(
                    input_ids=ids, attention_mask=mask, token_type_ids=types
                ).last_hidden_state
                weights = mask.unsqueeze(-1).to(tokens.dtype)
                mean = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                unit = torch.nn.functional.normalize(mean, p=2, dim=1)
                rows.append(unit.numpy().astype(np.float32))
        if not rows:
            return np.zeros((0, loaded.dim), dtype=np.float32)
        return np.concatenate(rows)
