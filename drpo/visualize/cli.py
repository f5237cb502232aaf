"""`python visualize_log.py LOG_DIR [--trace] [--compare LOG_DIR2] [--format reasoners]`.

Reads LOG_DIR/algo_output/output.json (the pickle only with --pickle: unpickling runs code)
and writes LOG_DIR/tree.html, or prints the reward trace. Bad input: one line, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from drpo.visualize.page import render_page
from drpo.visualize.page_data import page_data
from drpo.visualize.reasoners_format import tree_log
from drpo.visualize.terminal import compare_table, trace_table
from search.artifacts import load_result, write_atomic
from search.tree_json import TreeFormatError, TreeRecord, load


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


class InputError(Exception):
    pass


def read_record(log_dir: Path, *, use_pickle: bool = False) -> TreeRecord:
    if not log_dir.exists():
        raise InputError(f"LOG_DIR {log_dir} does not exist")
    if not log_dir.is_dir():
        raise InputError(f"LOG_DIR {log_dir} is not a directory")
    output = log_dir / "algo_output" / ("output.pkl" if use_pickle else "output.json")
    if not output.is_file():
        raise InputError(f"{log_dir} has no algo_output/{output.name} (is it a run's log_dir?)")
    try:
        if use_pickle:
            return TreeRecord.from_result(load_result(output))
        return load(output)
    except TreeFormatError as exc:
        raise InputError(f"{output}: {exc}") from None
    except Exception as exc:  # an unreadable pickle: any error its classes raise
        raise InputError(f"{output} cannot be read: {type(exc).__name__}: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="visualize_log.py", description=__doc__.splitlines()[0])
    parser.add_argument("log_dir", type=Path)
    parser.add_argument("--trace", action="store_true", help="print the reward trace")
    parser.add_argument("--compare", type=Path, default=None, help="a second run, side by side")
    parser.add_argument("--format", choices=("html", "reasoners"), default="html")
    parser.add_argument("--out", type=Path, default=None, help="default: LOG_DIR/tree.html")
    parser.add_argument("--pickle", action="store_true", help="read output.pkl (trusted runs only)")
    args = parser.parse_args(argv)
    try:
        record = read_record(args.log_dir, use_pickle=args.pickle)
        if args.compare is not None:
            other = read_record(args.compare, use_pickle=args.pickle)
            print(compare_table(record, other, (args.log_dir.name, args.compare.name)))
            return 0
        if args.trace:
            print(trace_table(record))
            return 0
        if args.format == "reasoners":
            out = args.out or args.log_dir / "tree_log.json"
            write_atomic(out, json.dumps(tree_log(record), indent=1).encode("utf-8"))
        else:
            out = args.out or args.log_dir / "tree.html"
            write_atomic(out, render_page(page_data(record)).encode("utf-8"))
    except InputError as exc:
        print(f"visualize_log.py: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (say, `| head`) has seen enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        print(f"visualize_log.py: error: cannot write the output: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
