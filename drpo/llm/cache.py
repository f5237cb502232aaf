"""The on-disk cache of LLM answers: sqlite, JSON values, one row per sample.

The key is a hash of the whole request as the model sees it (model, request kind, messages
or plain-text prompt, and every sampling setting) and the sample's index, so that the n
samples of a request at temperature > 0 stay distinct. It never includes an API key or a
server address: the same request to the same model is the same entry wherever the model is
served. Safe for concurrent writers
(threads and processes): WAL journal, a busy timeout, and one short transaction per write.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from drpo.llm.types import ChatRequest, Request

SCHEMA_VERSION = 1


def request_key(model: str, request: Request, sample: int) -> str:
    """The cache key of sample `sample` of `request` to `model`. A chat request's key holds
    its messages (and no kind, as before plain-text requests existed: older caches keep
    their keys); a plain-text request's holds its prompt and its kind."""
    payload: dict[str, object] = {
        "v": SCHEMA_VERSION,
        "model": model,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "stop": list(request.stop),
        "sample": sample,
    }
    if isinstance(request, ChatRequest):
        payload["messages"] = [list(m) for m in request.messages]
        payload["json_mode"] = request.json_mode
        if request.json_schema is not None:  # only when set: older caches keep their keys
            payload["json_schema"] = request.json_schema
    else:
        payload["kind"] = request.kind
        payload["prompt"] = request.prompt
    if request.frequency_penalty:
        payload["frequency_penalty"] = request.frequency_penalty
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class LLMCache:
    """A sqlite file of answers. ``LLMCache(path)``; ``get_many``, ``put_many``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        # Opening races with other writers: switching to WAL needs a lock that sqlite does
        # not wait for, so the set-up is retried for a while before it gives up.
        for attempt in range(200):
            try:
                self._setup()
                break
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == 199:
                    raise
                time.sleep(0.05)

    def _setup(self) -> None:
        with self._lock, self._db:
            self._db.execute("PRAGMA busy_timeout=30000")
            if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                self._db.execute("PRAGMA journal_mode=WAL")
            # Each answer is committed at once: in WAL mode a killed process loses nothing
            # committed; only a crash of the machine itself could.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )

    def get_many(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = list(keys)
        found: dict[str, dict[str, Any]] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, value FROM answers WHERE key IN ({marks})", chunk
                ).fetchall()
                found.update((key, json.loads(value)) for key, value in rows)
        return found

    def put_many(self, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        rows = [(key, json.dumps(value, ensure_ascii=False)) for key, value in items]
        if not rows:
            return
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?)", rows)

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
