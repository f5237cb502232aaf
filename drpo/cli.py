"""`python train.py`: the command line of every method, built from the registry
(drpo.methods.registry): each method brings its name, its own flags, its values for the
shared settings whose default depends on the method, and its runner.

Bad input ends with one line on stderr and exit code 2 (1 when a run that started fails, 3
when it stopped before overspending its budget), never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from drpo.llm import BACKENDS
from drpo.methods.registry import METHODS
from drpo.methods.spec import MethodSpec, Option, parse_bool

FAMILIES = ("sim", "mistral", "llama", "gpt", "other")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add(parser: argparse._ActionsContainer, option: Option) -> None:
    extra: dict[str, Any] = {"nargs": "?", "const": True} if option.type is parse_bool else {}
    if option.type is not None:
        extra["type"] = option.type
    if option.choices is not None:
        extra["choices"] = option.choices
    parser.add_argument(f"--{option.name}", default=option.default, help=option.help, **extra)


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
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


def _flag(parser: argparse._ActionsContainer, name: str, default: bool, text: str) -> None:
    _add(parser, Option(name, default=default, type=parse_bool, help=text))


def _per_method(
    parser: argparse._ActionsContainer,
    methods: Sequence[MethodSpec],
    option: Option,
) -> None:
    """A shared setting whose default depends on the method: its help lists the defaults."""
    defaults = ", ".join(
        f"{m.defaults[option.name]} ({m.name})" for m in methods if option.name in m.defaults
    )
    text = "; ".join(t for t in (option.help, defaults and f"default: {defaults}") if t)
    _add(parser, Option(option.name, type=option.type, choices=option.choices, help=text))


def build_parser(*, methods: Sequence[MethodSpec] = METHODS) -> argparse.ArgumentParser:
    """train.py's arguments: the shared ones, then a group of each method's own."""
    default = methods[0].name
    p = _Parser(
        prog="train.py",
        description=f"Prompt optimisation as search. With no arguments: {default} on the "
        "simulated LLM and the demo data the project ships.",
    )
    listing = "; ".join(f"{m.name}: {m.summary}" for m in methods)
    p.add_argument(
        "--method",
        choices=tuple(m.name for m in methods),
        default=default,
        help=f"default: {default}. {listing}",
    )
    _per_method(p, methods, Option("search", choices=("beam", "mcts", "greedy")))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log_dir", default=None, help="default: logs/<method>-<search>-<time>")
    _flag(p, "resume", False, "continue the run in log_dir (same arguments)")

    m = p.add_argument_group("models")
    m.add_argument("--base_model_name", default="sim")
    m.add_argument("--base_model_family", choices=FAMILIES, default=None)
    m.add_argument("--eval_model_name", default="sim")
    m.add_argument("--metrics_model_name", default="sim")
    m.add_argument("--optimize_model_name", default="sim")
    for role in ("base", "eval", "metrics", "optimize"):
        m.add_argument(f"--{role}_backend", choices=BACKENDS, default=None)
        m.add_argument(f"--{role}_base_url", default=None)
    m.add_argument("--model_path", default=None,
                   help="every role on this local GGUF (llamacpp backend), or the name of a "
                   "fetched model: qwen0.5b, smollm2, gemma3-270m (a base model)",
                   )  # fmt: skip
    m.add_argument("--models_dir", default=None, help="where fetched models are kept")
    m.add_argument("--api_key_env", default="OPENAI_API_KEY", help="the variable with the key")
    m.add_argument("--concurrency", type=int, default=None,
                   help="requests at once per server (default 8; llamacpp: its slots, 4)",
                   )  # fmt: skip
    m.add_argument("--threads", type=int, default=None, help="llamacpp: CPU threads (all cores)")
    m.add_argument("--timeout", type=float, default=None,
                   help="seconds per request (default 120; llamacpp: 600)")  # fmt: skip
    m.add_argument("--max_wait", type=float, default=120.0,
                   help="the longest Retry-After a run waits; a longer one is an error",
                   )  # fmt: skip
    m.add_argument("--max_retries", type=int, default=6)
    m.add_argument("--retry_backoff", type=float, default=0.5,
                   help="seconds before the first retry, doubled for each next one")  # fmt: skip
    m.add_argument("--num_gpus", type=int, default=1, help="vLLM tensor parallelism")
    m.add_argument("--gpu_memory_utilization", type=float, default=0.9)
    m.add_argument("--max_tokens", type=int, default=None,
                   help="the base (task) model's answer limit in tokens; default: 2048 for "
                   "drpo (the reference's), 512 for the others")  # fmt: skip
    m.add_argument("--embedding_model", default="text-embedding-3-small")
    m.add_argument("--embedding_base_url", default=None)

    s = p.add_argument_group("search (the default depends on --method)")
    _per_method(s, methods, Option("temperature", type=float, help="optimiser sampling"))
    _per_method(s, methods, Option("depth", type=int, help="search depth (MCTS depth limit)"))
    _per_method(s, methods, Option("beam_size", type=int))
    _per_method(s, methods, Option("n_iters", type=int, help="MCTS iterations"))
    _per_method(s, methods, Option("w_exp", type=float, help="MCTS exploration weight"))
    _per_method(s, methods, Option("k", type=int, help="in-context examples, or prompts retrieved"))

    d = p.add_argument_group("data")
    d.add_argument("--data_dir", default=None, help="default: the demo data shipped")
    d.add_argument("--task", default=None, help="a task file, or a task name in --data_dir")
    d.add_argument("--initial_prompt", default=None, help="default: the task's description")
    d.add_argument("--train_size", type=int, default=None, help="default: all the rest")
    d.add_argument("--eval_size", type=int, default=30)
    _per_method(
        d, methods, Option("test_size", type=int, help="held-out test examples (or queries)")
    )

    r = p.add_argument_group("run")
    _flag(r, "disable_log", False, "write no log.txt")
    _flag(r, "disable_tqdm", False, "no progress bars")
    _flag(
        r,
        "offline",
        False,
        "answer every call from --cache_path, never calling a model "
        "(re-score a run from its cache); a call not in it is an error",
    )
    r.add_argument("--logging_level", choices=("DEBUG", "INFO", "WARNING"), default="INFO")
    r.add_argument("--cache_path", default=None, help="default: <log_dir>/llm_cache.sqlite")
    r.add_argument("--budget_usd", type=float, default=None,
                   help="a hard ceiling in US dollars: the run stops before a batch could pass "
                   "it (exit 3)")  # fmt: skip
    r.add_argument("--budget_calls", type=_positive(int), default=None,
                   help="the search budget in LLM calls: the search stops at the frontier that "
                   "spends it and keeps its best prompt so far; test scoring is counted apart "
                   "(task-prompt methods)")  # fmt: skip
    r.add_argument(
        "--budget_tokens",
        type=_positive(int),
        default=None,
        help="the search budget in tokens (likewise)",
    )
    r.add_argument(
        "--budget_search_usd",
        type=_positive(float),
        default=None,
        help="the search budget in US dollars (likewise)",
    )
    r.add_argument("--prices", default=None, help="JSON of model -> USD per 1M tokens")

    declared: dict[str, list[tuple[MethodSpec, Option]]] = {}
    for method in methods:
        for option in method.options:
            declared.setdefault(option.name, []).append((method, option))
    for method in methods:
        group = p.add_argument_group(method.title)
        for option in method.options:
            owners = declared[option.name]
            if len(owners) == 1:
                _add(group, option)
            elif owners[0][0] is method:  # declared by several methods: once, in the first
                _add(group, _shared_option(owners))
    return p


def _shared_option(owners: Sequence[tuple[MethodSpec, Option]]) -> Option:
    """A flag that several methods declare (each with its own default): one flag, default
    None (each method fills in its own when it runs), its help listing every default."""
    first = owners[0][1]
    for method, option in owners[1:]:
        if (option.type, option.choices) != (first.type, first.choices):
            raise TypeError(f"--{first.name}: {method.name} declares another type or choices")
    defaults = ", ".join(f"{o.default} ({m.name})" for m, o in owners)
    text = "; ".join(t for t in (first.help, f"default: {defaults}") if t)
    return Option(first.name, type=first.type, choices=first.choices, help=text)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # a polite kill ends like Ctrl-C: checkpoint, log line, servers


def main(argv: Sequence[str] | None = None, *, methods: Sequence[MethodSpec] = METHODS) -> int:
    """Run `train.py ARGV` with the methods of the registry (or `methods`); the exit code."""
    if threading.current_thread() is not threading.main_thread():
        return _main(argv, methods)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _main(argv, methods)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None, methods: Sequence[MethodSpec]) -> int:
    args = build_parser(methods=methods).parse_args(argv)
    method = next(m for m in methods if m.name == args.method)
    search_budget = (args.budget_calls, args.budget_tokens, args.budget_search_usd)
    if not method.task_prompt and any(v is not None for v in search_budget):
        print(f"train.py: error: --method {method.name} takes no search budget "
              "(--budget_calls, --budget_tokens, --budget_search_usd); the task-prompt "
              "methods do", file=sys.stderr)  # fmt: skip
        return 2
    for name, value in method.defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for option in method.options:  # a flag other methods declare too has default None
        if getattr(args, option.name) is None:
            setattr(args, option.name, option.default)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = Path(args.log_dir or f"logs/{args.method}-{args.search}-{stamp}")
    return method.run(args, log_dir)
