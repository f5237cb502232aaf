"""A method's meta-prompts: package data files `prompts/<name>.txt` beside its code, with
`<<name>>` placeholders."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_PLACEHOLDER = re.compile(r"<<([a-z_]+)>>")


@cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


class MetaPrompts:
    """`MetaPrompts(Path(__file__).with_name("prompts"))`: `text(name)` reads a template
    once; `render(name, **values)` fills every placeholder of it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def text(self, name: str) -> str:
        """The text of `<name>.txt`."""
        return _read(self.folder / f"{name}.txt")

    def render(self, name: str, **values: str) -> str:
        """The template with every placeholder filled in (each must be given, none left
        over). Values go in in one pass, so a value that itself holds ``<<...>>`` (a query or
        an answer can) is never expanded again."""
        text = self.text(name)
        wanted = set(_PLACEHOLDER.findall(text))
        if wanted != set(values):
            raise KeyError(f"prompt {name!r} takes {sorted(wanted)}, was given {sorted(values)}")
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
