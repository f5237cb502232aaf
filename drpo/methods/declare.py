"""How a method declares its settings: one frozen dataclass whose fields carry their default,
help and choices (`setting(...)`). `train.py`'s flags and `--help`, the Python API's keyword
arguments and the world's config are all derived from it, so a default is written once.

A field declared with `setting` is a flag of the same name (`--name`); its type gives the
flag's parser (`bool`: a switch, `--name`, `--name=true` or `--name false`; a `Path`: the
text as a path). A field without it (such as `roles`) is a setting of the Python API only.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_KEY = "prompt_search.setting"


def parse_bool(text: str) -> bool:
    """`true`/`false` (and yes/no, on/off, 1/0) for a switch."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


@dataclass(frozen=True)
class Declaration:
    """What a field declares beyond its default: its help, its choices, its flag's parser
    (None: from the field's type), whether several methods declare it each with its own
    default (`per_method`: `--help` lists them), and whether summary.json's settings and the
    resume fingerprint show it (`public`; where a run's models run is summarised by their
    names instead)."""

    help: str | None = None
    choices: tuple[Any, ...] | None = None
    parse: Callable[[str], Any] | None = None
    per_method: bool = False
    public: bool = True


def setting(
    default: Any,
    *,
    help: str | None = None,
    choices: tuple[Any, ...] | None = None,
    parse: Callable[[str], Any] | None = None,
    per_method: bool = False,
    public: bool = True,
) -> Any:
    """A declared setting: a dataclass field with its default and what its flag shows."""
    declaration = Declaration(help, choices, parse, per_method, public)
    return dataclasses.field(default=default, metadata={_KEY: declaration})


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    """A parser of numbers that must be > 0."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def declaration(field: dataclasses.Field) -> Declaration | None:
    """The declaration of a field, None for a field that is no flag."""
    return field.metadata.get(_KEY)


def declared(cls: type) -> list[tuple[dataclasses.Field, Declaration]]:
    """The declared fields of a settings class, in their order."""
    out = []
    for field in dataclasses.fields(cls):
        found = declaration(field)
        if found is not None:
            out.append((field, found))
    return out


def _base_type(cls: type, field: dataclasses.Field) -> Any:
    hint = typing.get_type_hints(cls)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 and typing.get_origin(hint) is not None else hint


def flag_parser(cls: type, field: dataclasses.Field) -> Callable[[str], Any] | None:
    """The parser of a field's flag: its declared one, else one for its type (None: text)."""
    found = declaration(field)
    if found is not None and found.parse is not None:
        return found.parse
    kind = _base_type(cls, field)
    if kind is bool:
        return parse_bool
    if kind in (int, float):
        return kind
    return None


def coerce(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with text given for a path made a Path (as the command line gives it)."""
    kinds = {f.name: f for f in dataclasses.fields(cls)}
    out = dict(values)
    for name, value in values.items():
        if isinstance(value, str) and name in kinds and _base_type(cls, kinds[name]) is Path:
            out[name] = Path(value)
    return out


def public_settings(settings: Any) -> dict[str, Any]:
    """The settings that summary.json shows and a resumed run must repeat: every field but
    those declared not public and those that are no setting of the run (`roles`)."""
    out = {}
    for field in dataclasses.fields(settings):
        found = declaration(field)
        if field.name == "roles" or (found is not None and not found.public):
            continue
        out[field.name] = getattr(settings, field.name)
    return out


def flag_values(settings: Any) -> dict[str, Any]:
    """Each declared setting by its flag's name (args.txt)."""
    return {field.name: getattr(settings, field.name) for field, _ in declared(type(settings))}
