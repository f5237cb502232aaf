"""``python -m drpo.sim serve --port N [--latency_ms L] [--fault_rate p] [--seed s]
[--no_chat_template]``: the simulated LLM's OpenAI-compatible server (chat and plain-text
completions)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from drpo.sim.model import SimulatedLLM
from drpo.sim.server import FAULTS, ServerSettings, SimServer


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _knowledge(path: str | None) -> dict[str, str]:
    """Question -> answer pairs from a JSON object or a JSONL file of {question, answer}."""
    if path is None:
        return {}
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("{") and "\n{" not in text.strip():
        return {str(k): str(v) for k, v in json.loads(text).items()}
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {str(r["question"]): str(r["answer"]) for r in rows}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m drpo.sim", description="The simulated LLM (not a real model).")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the OpenAI-compatible HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    serve.add_argument("--latency_ms", type=float, default=0.0)
    serve.add_argument("--fault_rate", type=float, default=0.0)
    serve.add_argument("--faults", default=",".join(FAULTS), help="comma-separated fault kinds")
    serve.add_argument("--stall_s", type=float, default=5.0, help="how long a stall lasts")
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument(
        "--require_key_env", default=None, help="require the key held by this variable"
    )
    serve.add_argument("--knowledge", default=None, help="JSON or JSONL of question -> answer")
    serve.add_argument("--ignore_n", action="store_true", help="one choice whatever n asks")
    serve.add_argument("--refuse_schema", action="store_true", help="400 for json_schema")
    serve.add_argument(
        "--refuse_json_object", action="store_true", help="400 for any response_format"
    )
    serve.add_argument(
        "--no_chat_template",
        action="store_true",
        help="a base model: chat requests get a 400; plain text goes to /v1/completions",
    )
    args = parser.parse_args(argv)
    try:
        key = None
        if args.require_key_env:
            key = os.environ.get(args.require_key_env)
            if not key:
                raise ValueError(f"{args.require_key_env} is not set")
        settings = ServerSettings(
            host=args.host,
            port=args.port,
            latency_ms=args.latency_ms,
            fault_rate=args.fault_rate,
            faults=tuple(f for f in args.faults.split(",") if f),
            seed=args.seed,
            stall_s=args.stall_s,
            api_key=key,
            ignore_n=args.ignore_n,
            refuse_schema=args.refuse_schema,
            refuse_json_object=args.refuse_json_object,
            chat_template=not args.no_chat_template,
        )
        model = SimulatedLLM(
            seed=args.seed,
            knowledge=_knowledge(args.knowledge),
            chat_template=not args.no_chat_template,
        )
        server = SimServer(settings, model)
    except (ValueError, OSError, KeyError) as exc:
        print(f"python -m drpo.sim: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"simulated LLM (not a real model) serving the OpenAI API at {server.url} "
        f"(latency {args.latency_ms:g} ms, fault rate {args.fault_rate:g}, seed {args.seed})",
        flush=True,
    )
    server.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
