"""A search's artefacts on disk: output.pkl, output.json and trace.txt, written atomically."""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from search.result import SearchResult
from search.trace_text import render_trace
from search.tree_json import TreeRecord, dumps

PICKLE_NAME = "output.pkl"
JSON_NAME = "output.json"
TRACE_NAME = "trace.txt"


@dataclass(frozen=True)
class ArtifactPaths:
    pickle: Path
    json: Path
    trace: Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader (or a crash) never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp makes the file private; artefacts are not
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_artifacts(
    result: SearchResult, directory: str | Path, *, meta: Mapping[str, Any] | None = None
) -> ArtifactPaths:
    """Write the result to `directory` as output.pkl, output.json and trace.txt.

    `meta` (JSON-friendly: method name, dataset, "simulated": true, ...) goes into the JSON and
    the head of trace.txt.
    """
    directory = Path(directory)
    record = TreeRecord.from_result(result, meta=meta)
    paths = ArtifactPaths(directory / PICKLE_NAME, directory / JSON_NAME, directory / TRACE_NAME)
    write_atomic(paths.pickle, pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    write_atomic(paths.json, dumps(record).encode("utf-8"))
    write_atomic(paths.trace, render_trace(record).encode("utf-8"))
    return paths


T = TypeVar("T")


def load_pickle(path: str | Path, kind: type[T], what: str) -> T:
    """Unpickle `path`, which must hold a `kind` (`what` names it in the error). Only load
    files you trust: unpickling runs code."""
    with open(path, "rb") as handle:
        value = pickle.load(handle)
    if not isinstance(value, kind):
        raise TypeError(f"{path} holds a {type(value).__name__}, not {what}")
    return value


def load_result(path: str | Path) -> SearchResult:
    """Unpickle an output.pkl. Only load files you trust: unpickling runs code."""
    return load_pickle(path, SearchResult, "a search result")
