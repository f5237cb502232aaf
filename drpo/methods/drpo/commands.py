"""``python -m drpo.methods.drpo answer|serve|evaluate``: a DRPO run's aligned model in use.

- ``answer --run LOG_DIR --query TEXT`` prints the aligned model's answer; ``--queries
  FILE.jsonl`` answers every query of the file, one JSON line each.
- ``serve --run LOG_DIR --port 8000`` serves it as an OpenAI-compatible chat endpoint.
- ``evaluate --run LOG_DIR`` judges system prompts on held-out queries with one judge.

Bad input is one line on stderr and exit code 2; a failed model call, one line and 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from drpo.methods.drpo.aligned import AlignedModel

PROG = "python -m drpo.methods.drpo"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        sys.exit(2)


def _fail(message: str, code: int = 2) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Use a DRPO run's aligned model.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    answer = commands.add_parser("answer", help="answer queries with the aligned model")
    answer.add_argument("--run", required=True, help="the log_dir of a finished DRPO run")
    what = answer.add_mutually_exclusive_group(required=True)
    what.add_argument("--query", help="one query")
    what.add_argument("--queries", help="a JSONL file of queries ({\"query\": ...} per line)")
    answer.add_argument("--temperature", type=float, help="default: the run's (0)")
    answer.add_argument("--max_tokens", type=int, help="default: the run's")
    answer.add_argument("--out", help="write the JSONL answers here instead of stdout")

    serve = commands.add_parser("serve", help="serve it as an OpenAI-compatible chat model")
    serve.add_argument("--run", required=True, help="the log_dir of a finished DRPO run")
    serve.add_argument("--host", default="127.0.0.1", help="default: this machine only")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log_requests", action="store_true",
                       help="also log each query and answer (off: no request text is logged)")

    evaluate = commands.add_parser("evaluate", help="judge system prompts on held-out queries")
    evaluate.add_argument("--run", required=True, help="the log_dir of a finished DRPO run")
    evaluate.add_argument(
        "--prompt", action="append", dest="prompts",
        help="initial, final, a file holding a system prompt, or another run's log_dir "
             "(repeatable; the first is the baseline; default: initial and final)",
    )  # fmt: skip
    evaluate.add_argument("--queries", help="a JSONL file of queries (default: the run's "
                                            "held-out queries)")  # fmt: skip
    evaluate.add_argument("--judge_model_name", help="default: the run's judge")
    evaluate.add_argument("--judge_backend", choices=("sim", "openai", "llamacpp", "vllm"))
    evaluate.add_argument("--judge_base_url")
    evaluate.add_argument("--api_key_env", default="OPENAI_API_KEY")
    evaluate.add_argument("--seed", type=int, default=0, help="of the bootstrap")
    evaluate.add_argument("--out", help="write the full report (every answer) as JSON here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    from drpo.llm import LLMConfigError, LLMError
    from drpo.methods.drpo.aligned import AlignedModelError
    from drpo.methods.drpo.evaluate import QueriesError

    args = build_parser().parse_args(argv)
    try:
        if args.command == "answer":
            return _answer(args)
        if args.command == "serve":
            return _serve(args)
        return _evaluate(args)
    except (AlignedModelError, QueriesError, LLMConfigError) as exc:
        return _fail(str(exc))
    except LLMError as exc:
        return _fail(str(exc), 1)
    except OSError as exc:
        return _fail(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def _model(args: argparse.Namespace) -> AlignedModel:
    from drpo.methods.drpo.aligned import AlignedModel

    return AlignedModel.load(args.run)


def _answer(args: argparse.Namespace) -> int:
    from drpo.methods.drpo.evaluate import load_queries

    if args.temperature is not None and not 0 <= args.temperature <= 2:
        return _fail(f"--temperature must be in [0, 2], got {args.temperature}")
    if args.max_tokens is not None and args.max_tokens < 1:
        return _fail(f"--max_tokens must be >= 1, got {args.max_tokens}")
    if args.query is not None and not args.query.strip():
        return _fail("--query is empty")
    queries = [args.query] if args.query is not None else load_queries(args.queries)
    overrides = {"temperature": args.temperature, "max_tokens": args.max_tokens}
    with _model(args) as model:
        answers = model.generate_many(queries, **overrides)
    if args.query is not None and args.out is None:
        print(answers[0])
        return 0
    lines = [json.dumps({"query": q, "answer": a}, ensure_ascii=False) + "\n"
             for q, a in zip(queries, answers)]  # fmt: skip
    if args.out:
        Path(args.out).write_text("".join(lines), encoding="utf-8")
    else:
        sys.stdout.write("".join(lines))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from drpo.methods.drpo.serve import serve

    if not 0 <= args.port <= 65535:
        return _fail(f"--port must be in 0..65535, got {args.port}")
    model = _model(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    model.llm  # start the base model before the first request  # noqa: B018
    note = ("(simulated base model)" if model.spec.base.get("backend") == "sim"
            else "")  # fmt: skip
    serve(model, host=args.host, port=args.port, log_text=args.log_requests,
          announce=[f"aligned model: {model.describe()} {note}".rstrip()])  # fmt: skip
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from drpo.methods.drpo.aligned import load_spec, role_record
    from drpo.methods.drpo.evaluate import (
        candidates,
        evaluate,
        held_out_queries,
        judge_roles,
        load_queries,
    )

    spec = load_spec(args.run)
    cands = candidates(spec, args.prompts or ["initial", "final"])
    queries = load_queries(args.queries) if args.queries else held_out_queries(spec)
    override = None
    if args.judge_model_name or args.judge_backend or args.judge_base_url:
        from drpo.llm import RoleSettings
        from drpo.methods.runner import _backend

        model = args.judge_model_name or "sim"
        backend = _backend(model, args.judge_backend, args.judge_base_url, None)
        override = role_record(RoleSettings(backend=backend, model=model,
                                            base_url=args.judge_base_url,
                                            api_key_env=args.api_key_env))  # fmt: skip
    report = evaluate(cands, queries, judge=judge_roles(spec, override), seed=args.seed)
    print(report.table())
    if args.out:
        text = json.dumps(report.to_json(), indent=1, ensure_ascii=False) + "\n"
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"report: {args.out}")
    return 0
