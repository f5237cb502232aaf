"""Nearest-neighbour retrieval of texts: embeddings in a faiss index, cosine top-k.

Embeddings come from an `Embedder`: `MiniLMEmbedder` (all-MiniLM-L6-v2, a real sentence
embedder: `drpo.sentence_embedder`, extra ``embed``), `HashingEmbedder` (local, no weights,
deterministic: word overlap, not meaning) or `OpenAIEmbedder` (any OpenAI-compatible
embeddings endpoint). `choose_embedder("auto")` takes MiniLM where it can run and says why
not otherwise. faiss is imported when the first index is built.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

_WORD = re.compile(r"[a-z0-9']+")


#: The `--embedding_backend` choices; "auto" is MiniLM where it can run, hashing otherwise.
EMBEDDING_BACKENDS = ("auto", "minilm", "hash", "openai")


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Names the model and its settings, stably: vectors of one name are comparable."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """An (n, d) float32 array of L2-normalised vectors."""
        ...


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

    @property
    def name(self) -> str:
        return f"hash-{self.dim}"

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

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

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
        self._queries: dict[str, np.ndarray] = {}  # a query is embedded once

    def top_k(self, query: str, k: int) -> list[tuple[str, float]]:
        """The `k` nearest texts and their cosine similarities, nearest first."""
        k = min(k, len(self.texts))
        if k <= 0:
            return []
        if query not in self._queries:
            self._queries[query] = self.embedder.embed([query])
        scores, ids = self.index.search(self._queries[query], k)
        return [(self.texts[i], float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


@dataclass(frozen=True)
class EmbedderChoice:
    """The embedder a run uses, and why, in one line for its log."""

    embedder: Embedder
    reason: str


def choose_embedder(
    backend: str,
    *,
    model: str = "text-embedding-3-small",
    base_url: str | None = None,
    models_dir: Path | None = None,
) -> EmbedderChoice:
    """The embedder `backend` names. "auto": MiniLM when its packages (extra ``embed``) are
    installed and its weights fetched, else hashing, with the reason; "minilm" must be able
    to run (ValueError saying what is missing). Nothing is loaded yet."""
    from drpo.sentence_embedder import MiniLMEmbedder, is_fetched, missing_packages, pinned_path

    if backend not in EMBEDDING_BACKENDS:
        raise ValueError(
            f"unknown embedding backend {backend!r}; choose from {', '.join(EMBEDDING_BACKENDS)}"
        )
    if backend == "hash":
        return EmbedderChoice(HashingEmbedder(), "asked for (--embedding_backend hash)")
    if backend == "openai":
        return EmbedderChoice(OpenAIEmbedder(model, base_url=base_url), "asked for")
    missing = missing_packages()
    fetched = is_fetched(models_dir)
    if not missing and fetched:
        return EmbedderChoice(MiniLMEmbedder(pinned_path(models_dir)), "the sentence embedder")
    why = (
        f"{', '.join(missing)} not installed (pip install -e '.[embed]')"
        if missing
        else "its weights are not fetched (python -m drpo.models fetch minilm)"
    )
    if backend == "minilm":
        raise ValueError(f"the MiniLM embedder cannot run: {why}")
    return EmbedderChoice(
        HashingEmbedder(), f"word hashing, because the MiniLM sentence embedder cannot run: {why}"
    )


def embedder_named(name: str, *, base_url: str | None = None) -> Embedder:
    """The embedder whose `name` is `name` (as a run recorded it, e.g. in
    aligned_model.json), so that retrieval is repeated with the same vectors; ValueError for
    a name no embedder has."""
    from drpo.sentence_embedder import EMBEDDER_NAME, MiniLMEmbedder

    if name == EMBEDDER_NAME:
        return MiniLMEmbedder()
    if name.startswith("hash-") and name[len("hash-") :].isdigit():
        return HashingEmbedder(int(name[len("hash-") :]))
    if name.startswith("openai:") and len(name) > len("openai:"):
        return OpenAIEmbedder(name[len("openai:") :], base_url=base_url)
    raise ValueError(f"no embedder is named {name!r}")
