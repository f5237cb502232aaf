"""Tiny GGUF files for tests: a valid header (version 3, no tensors) with the metadata given."""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def write_gguf(path: Path, metadata: Mapping[str, str | int | list[str]]) -> Path:
    """A GGUF file holding `metadata`: strings, unsigned 32-bit numbers, lists of strings."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata)))
    for key, value in metadata.items():
        out += _string(key)
        if isinstance(value, str):
            out += struct.pack("<I", 8) + _string(value)
        elif isinstance(value, int):
            out += struct.pack("<II", 4, value)
        else:  # an array of strings, as a tokenizer's vocabulary
            out += struct.pack("<IIQ", 9, 8, len(value)) + b"".join(_string(v) for v in value)
    path.write_bytes(bytes(out) + bytes(32))  # where the tensors would start
    return path
