"""What a GGUF file says about its model, read from its header without loading it: whether
it carries a chat template (``tokenizer.chat_template``), and its other metadata.

The header is a list of typed key-value pairs (GGUF versions 2 and 3); arrays (the
tokenizer's vocabulary among them) are stepped over, not kept.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

from drpo.llm.types import LLMConfigError

#: GGUF value types: struct formats of the fixed-size ones; 8 is a string, 9 an array.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q",
            11: "q", 12: "d"}  # fmt: skip
_STRING, _ARRAY = 8, 9
CHAT_TEMPLATE_KEY = "tokenizer.chat_template"


class _Reader:
    def __init__(self, data: mmap.mmap | bytes, path: Path) -> None:
        self.data, self.at, self.path = data, 0, path

    def take(self, fmt: str) -> Any:
        size = struct.calcsize("<" + fmt)
        if self.at + size > len(self.data):
            raise LLMConfigError(f"{self.path} ends inside its GGUF header")
        (value,) = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += size
        return value

    def string(self, *, keep: bool = True) -> str | None:
        length = self.take("Q")
        if self.at + length > len(self.data):
            raise LLMConfigError(f"{self.path} ends inside its GGUF header")
        start, self.at = self.at, self.at + length
        return bytes(self.data[start : self.at]).decode("utf-8", "replace") if keep else None

    def value(self, kind: int, *, keep: bool) -> Any:
        if kind in _SCALARS:
            return self.take(_SCALARS[kind])
        if kind == _STRING:
            return self.string(keep=keep)
        if kind == _ARRAY:
            item, count = self.take("I"), self.take("Q")
            if item in _SCALARS:  # fixed size: stepped over at once
                self.at += struct.calcsize("<" + _SCALARS[item]) * count
                return None
            for _ in range(count):
                self.value(item, keep=False)
            return None
        raise LLMConfigError(f"{self.path} holds an unknown GGUF value type {kind}")


def gguf_metadata(path: str | Path) -> dict[str, Any]:
    """The header's key-value pairs: numbers and strings as they are, arrays as None."""
    path = Path(path)
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            reader = _Reader(data, path)
            if bytes(data[:4]) != b"GGUF":
                raise LLMConfigError(f"{path} is not a GGUF model file")
            reader.at = 4
            version = reader.take("I")
            if version not in (2, 3):
                raise LLMConfigError(f"{path} is GGUF version {version}; versions 2 and 3 are read")
            reader.take("Q")  # tensors
            pairs = reader.take("Q")
            out: dict[str, Any] = {}
            for _ in range(pairs):
                key = reader.string()
                out[key] = reader.value(reader.take("I"), keep=True)
            return out
    except (OSError, ValueError) as exc:
        if isinstance(exc, LLMConfigError):
            raise
        raise LLMConfigError(f"cannot read the GGUF header of {path}: {exc}") from None


def gguf_has_chat_template(path: str | Path) -> bool:
    """Whether the GGUF's metadata carries a chat template (instruct models do; base
    models, such as Gemma 3 270M's pretrained one, do not)."""
    template = gguf_metadata(path).get(CHAT_TEMPLATE_KEY)
    return isinstance(template, str) and bool(template.strip())
