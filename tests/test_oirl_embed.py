"""Embedders and their cache: the hashing embedder needs no weights and puts similar texts
close; an OpenAI-compatible /v1/embeddings endpoint is called as the API says; the on-disk
cache embeds each text once per model."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from drpo.methods.oirl.embed import (
    CachedEmbedder,
    EmbeddingCache,
    EmbeddingError,
    HashingEmbedder,
    OpenAIEmbedder,
)


def test_hashing_embeddings_are_unit_deterministic_and_lexical() -> None:
    e = HashingEmbedder(dim=512)
    a, b, c = e.embed(
        [
            "Tom has 3 apples and buys 2 more.",
            "Tom has 5 apples and buys 2 more.",
            "A train leaves the station at noon.",
        ]
    )
    assert np.allclose([np.linalg.norm(v) for v in (a, b, c)], 1.0)
    assert a @ b > 0.7 > 0.2 > abs(a @ c)
    assert np.array_equal(HashingEmbedder(dim=512).embed(["x y"]), e.embed(["x y"]))


def test_the_cache_embeds_each_text_once_per_model(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "e.sqlite")
    first = CachedEmbedder(HashingEmbedder(dim=64), cache)
    texts = ["one", "two", "one"]
    v1 = first.embed(texts)
    assert first.computed == 2
    again = CachedEmbedder(HashingEmbedder(dim=64), EmbeddingCache(tmp_path / "e.sqlite"))
    assert np.array_equal(again.embed(texts), v1) and again.computed == 0
    other = CachedEmbedder(HashingEmbedder(dim=32), cache)  # another model: its own vectors
    assert other.embed(["one"]).shape == (1, 32) and other.computed == 1


class _Embeddings(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict]] = []
    fail = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers["Authorization"], **body})
        if type(self).fail:
            self.send_response(500)
            self.end_headers()
            return
        data = [
            {"index": i, "embedding": [float(len(t)), 1.0, 0.0]}
            for i, t in enumerate(body["input"])
        ][::-1]  # out of order on purpose
        out = json.dumps({"object": "list", "data": data, "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Embeddings.seen, _Embeddings.fail = [], False
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Embeddings)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_an_openai_compatible_endpoint_embeds_in_batches(server: str, monkeypatch) -> None:
    monkeypatch.setenv("EMB_KEY", "secret")
    e = OpenAIEmbedder(base_url=server, model="tiny", api_key_env="EMB_KEY", batch_size=2)
    vectors = e.embed(["a", "bbb", "cc"])
    assert [s["input"] for s in _Embeddings.seen] == [["a", "bbb"], ["cc"]]
    assert {s["path"] for s in _Embeddings.seen} == {"/v1/embeddings"}
    assert {s["model"] for s in _Embeddings.seen} == {"tiny"}
    assert _Embeddings.seen[0]["auth"] == "Bearer secret"
    expected = np.array([[1, 1, 0], [3, 1, 0], [2, 1, 0]], float)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(vectors, expected)  # in input order, normalised
    assert e.key == "openai-tiny"


def test_an_endpoint_error_is_one_clear_error(server: str) -> None:
    _Embeddings.fail = True
    with pytest.raises(EmbeddingError, match="answered HTTP 500"):
        OpenAIEmbedder(base_url=server, model="tiny").embed(["a"])
    with pytest.raises(EmbeddingError, match="cannot reach"):
        OpenAIEmbedder(base_url="http://127.0.0.1:9/v1", model="tiny", timeout_s=2).embed(["a"])
