"""Nearest-neighbour retrieval of texts: embeddings in a faiss index, cosine top-k.

Embeddings come from an `Embedder`: `HashingEmbedder` (the default: local, no weights,
deterministic) or `OpenAIEmbedder` (any OpenAI-compatible embeddings endpoint). faiss is
imported when the first index is built.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np

_WORD = re.compile(r"[a-z0-9']+")


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """An (n, d) float32 array of L2-normalised vectors."""


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1.0, norms)).astype(np.float32)


class HashingEmbedder:
    """Signed feature hashing of words and word pairs, with log-scaled counts: a TF-style
    vector that needs no model and no fitting, and is the same on every machine."""

    def __init__(self, dim: int = 1024) -> None:
        if dim < 8:
            raise ValueError(f"dim must be >= 8, got {dim}")
        self.dim = dim

    def _features(self, text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        return words + [f"{a} {b}" for a, b in zip(words, words[1:])]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float64)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
                vectors[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        vectors = np.sign(vectors) * np.log1p(np.abs(vectors))
        return _normalise(vectors)


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible endpoint (OpenAI, vLLM, the simulated server)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        batch_size: int = 256,
    ) -> None:
        from drpo.llm.openai_backend import OPENAI_URL, check_base_url
        from drpo.llm.types import LLMConfigError

        self.model = model
        self.base_url = check_base_url(base_url or OPENAI_URL)
        key = os.environ.get(api_key_env, "")
        if not key and self.base_url == OPENAI_URL:
            raise LLMConfigError(f"{api_key_env} is not set: embeddings from {self.base_url}")
        self._key = key or "EMPTY"
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import openai

        from drpo.llm.types import LLMError

        client = openai.OpenAI(api_key=self._key, base_url=self.base_url, max_retries=4)
        rows: list[list[float]] = []
        try:
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                response = client.embeddings.create(model=self.model, input=batch)
                rows.extend(d.embedding for d in sorted(response.data, key=lambda d: d.index))
        except openai.OpenAIError as exc:
            raise LLMError(
                f"embeddings from {self.model!r} at {self.base_url} failed: {exc}"
            ) from None
        return _normalise(np.asarray(rows, dtype=np.float64))


class Retriever:
    """The `k` texts most similar to a query, by cosine similarity, from a faiss index."""

    def __init__(self, texts: Sequence[str], embedder: Embedder) -> None:
        import faiss

        if not texts:
            raise ValueError("a retriever needs at least one text")
        self.texts = list(texts)
        self.embedder = embedder
        vectors = embedder.embed(self.texts)
        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)

    def top_k(self, query: str, k: int) -> list[tuple[str, float]]:
        """The `k` nearest texts and their cosine similarities, nearest first."""
        k = min(k, len(self.texts))
        if k <= 0:
            return []
        scores, ids = self.index.search(self.embedder.embed([query]), k)
        return [(self.texts[i], float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
