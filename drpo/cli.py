"""`python train.py`: the command line of every method, built from the registry
(drpo.methods.registry): each method brings its name, its settings dataclass (whose fields
are the flags, with their defaults, help and choices), its presets and its run.

Bad input ends with one line on stderr and exit code 2 (1 when a run that started fails, 3
when it stopped before overspending its budget, 130 when Ctrl-C stopped it), never a
traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from drpo.interrupts import graceful_interrupts, interrupt_requested
from drpo.methods.declare import Declaration, coerce, flag_parser, parse_bool
from drpo.methods.declare import declared as declared_fields
from drpo.methods.registry import methods as registered
from drpo.methods.runner import failure, run_method
from drpo.methods.spec import MethodSpec
from drpo.run_dir import resume_problem

#: Where `--help` shows the flags every method shares, by group (their declarations are in
#: the settings dataclasses: drpo.run_context.RunSettings, drpo.methods.task_settings, and
#: drpo.methods.shared_settings for those each method declares with its own default). A flag
#: not named here is shown in the group of the first method that declares it.
LAYOUT: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    (None, ("search", "seed", "log_dir", "resume")),
    ("models", (
        "base_model_name", "base_model_family", "eval_model_name", "metrics_model_name",
        "optimize_model_name", "base_backend", "base_base_url", "eval_backend", "eval_base_url",
        "metrics_backend", "metrics_base_url", "optimize_backend", "optimize_base_url",
        "model_path", "models_dir", "api_key_env", "concurrency", "threads", "timeout",
        "max_wait", "max_retries", "retry_backoff", "num_gpus", "gpu_memory_utilization",
        "max_tokens", "embedding_model", "embedding_base_url",
    )),
    ("search (the default depends on --method)",
     ("temperature", "depth", "beam_size", "n_iters", "w_exp", "k")),
    ("data", ("data_dir", "task", "initial_prompt", "train_size", "eval_size", "test_size")),
    ("run", (
        "disable_log", "disable_tqdm", "offline", "logging_level", "cache_path", "budget_usd",
        "budget_calls", "budget_tokens", "budget_search_usd", "prices",
    )),
)  # fmt: skip


#: The exit code of a run stopped by Ctrl-C (the first stops its search and saves the run,
#: a second aborts at once).
INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}{self.suggestion(message)}\n")

    def suggestion(self, message: str) -> str:
        """' (did you mean --depth?)' for an unrecognised flag close to a known one."""
        if not message.startswith("unrecognized arguments:"):
            return ""
        known = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
        hints = []
        for word in message.split(":", 1)[1].split():
            flag = word.split("=", 1)[0]
            close = difflib.get_close_matches(flag, known, n=1) if flag.startswith("-") else []
            if close:
                hints.append(f"{flag}: did you mean {close[0]}?")
        return f" ({'; '.join(hints)})" if hints else ""


@dataclass(frozen=True)
class _Flag:
    """One flag of train.py: the settings field of each method that declares it."""

    name: str
    owners: tuple[tuple[MethodSpec, dataclasses.Field, Declaration], ...]
    shared: bool  # one of LAYOUT's: the same for every method that declares it

    def add_to(self, parser: argparse._ActionsContainer) -> None:
        method, field, declared = self.owners[0]
        for other, f, d in self.owners[1:]:
            if (d.choices, flag_parser(other.settings, f)) != (
                declared.choices,
                flag_parser(method.settings, field),
            ):
                raise TypeError(f"--{self.name}: {other.name} declares another type or choices")
        text = declared.help
        if declared.per_method or (not self.shared and len(self.owners) > 1):
            # each method's own default
            defaults = ", ".join(f"{_shown(f.default)} ({m.name})" for m, f, _ in self.owners)
            text = "; ".join(t for t in (text, f"default: {defaults}") if t)
        parse = flag_parser(method.settings, field)
        extra: dict[str, Any] = {"nargs": "?", "const": True} if parse is parse_bool else {}
        if parse is not None:
            extra["type"] = parse
        if declared.choices is not None:
            extra["choices"] = declared.choices
        parser.add_argument(f"--{self.name}", default=None, help=text, **extra)


def _shown(value: Any) -> str:
    return str(value)


def _flags(methods: Sequence[MethodSpec]) -> dict[str, _Flag]:
    """Every declared setting of `methods`, by flag name, in the order first declared."""
    owners: dict[str, list[tuple[MethodSpec, dataclasses.Field, Declaration]]] = {}
    for method in methods:
        for field, declared in declared_fields(method.settings):
            owners.setdefault(field.name, []).append((method, field, declared))
    shared = {name for _, names in LAYOUT for name in names}
    return {name: _Flag(name, tuple(found), name in shared) for name, found in owners.items()}


def build_parser(*, methods: Sequence[MethodSpec] | None = None) -> argparse.ArgumentParser:
    """train.py's arguments: the shared ones, then a group of each method's own; every flag
    made from the methods' settings dataclasses (default None: a run takes the method's
    default, then its preset's value, for each flag not given)."""
    methods = tuple(methods if methods is not None else registered())
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
    presets = tuple(dict.fromkeys(name for m in methods for name in m.presets))
    if presets:
        p.add_argument("--preset", choices=presets, default=None,
                       help="the method's named settings (paper: those its paper reports, "
                       "each with its source in the docs); flags given override them")  # fmt: skip
    flags = _flags(methods)
    placed = set()
    groups: dict[str | None, argparse._ActionsContainer] = {}
    for title, names in LAYOUT:
        group = groups[title] = p if title is None else p.add_argument_group(title)
        for name in names:
            if name in flags:
                flags[name].add_to(group)
                placed.add(name)
    groups["run"].add_argument(
        "--plan", nargs="?", const=True, type=parse_bool, default=False,
        help="print each role's projected calls and tokens for the configured search (upper "
        "bounds) and what a --budget_calls/--budget_tokens buys; call no model",
    )  # fmt: skip
    for method in methods:
        group = p.add_argument_group(method.title)
        for name, flag in flags.items():
            if name not in placed and flag.owners[0][0] is method:
                flag.add_to(group)
                placed.add(name)
    return p


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # a polite kill ends like Ctrl-C: checkpoint, log line, servers


def main(
    argv: Sequence[str] | None = None, *, methods: Sequence[MethodSpec] | None = None
) -> int:
    """Run `train.py ARGV` with the methods of the registry (or `methods`); the exit code."""
    if threading.current_thread() is not threading.main_thread():
        return _main(argv, methods)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _main(argv, methods)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None, methods: Sequence[MethodSpec] | None) -> int:
    methods = tuple(methods if methods is not None else registered())
    args = build_parser(methods=methods).parse_args(argv)
    method = next(m for m in methods if m.name == args.method)
    search_budget = (args.budget_calls, args.budget_tokens, args.budget_search_usd)
    if not method.task_prompt and any(v is not None for v in search_budget):
        print(f"train.py: error: --method {method.name} takes no search budget "
              "(--budget_calls, --budget_tokens, --budget_search_usd); the task-prompt "
              "methods do", file=sys.stderr)  # fmt: skip
        return 2
    preset = getattr(args, "preset", None)  # no --preset when no method has a preset
    if preset is not None and preset not in method.presets:
        known = ", ".join(method.presets) or "none"
        print(f"train.py: error: --method {method.name} has no preset {preset!r} "
              f"(its presets: {known})", file=sys.stderr)  # fmt: skip
        return 2
    names = {field.name for field, _ in declared_fields(method.settings)}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    settings = method.settings(**coerce(method.settings, {
        **(method.presets[preset].values if preset else {}), **given}))  # fmt: skip
    if args.log_dir is None:
        settings = with_default_log_dir(method, settings)
    if settings.resume:
        problem, notice = resume_problem(settings.log_dir, given=args.log_dir is not None)
        if problem is not None or notice is not None:
            print(f"train.py: {'error: ' + problem if problem else notice}", file=sys.stderr)
        if problem is not None:
            return 2
    if args.plan:
        from drpo.planning import plan

        try:
            print("\n".join(plan(method.name, settings).lines()))
        except (ValueError, OSError) as exc:
            print(f"train.py: error: {exc}", file=sys.stderr)
            return 2
        return 0
    with graceful_interrupts():  # the first Ctrl-C stops the search, a second aborts
        try:
            summary = run_method(method, settings)
        except (Exception, KeyboardInterrupt) as exc:  # one line and an exit code; bugs re-raised
            return failure(exc)
        method.report(summary)
        if interrupt_requested():
            print("train.py: stopped by Ctrl-C; everything is saved: continue the search with "
                  "--resume", file=sys.stderr)  # fmt: skip
            return INTERRUPTED
    return 0


def with_default_log_dir(method: MethodSpec, settings: Any) -> Any:
    """The settings with the default log dir, logs/<method>-<search>-<time> (train.py and
    the Python API, when none is given)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    search = getattr(settings, "search", "run")
    return replace(settings, log_dir=Path(f"logs/{method.name}-{search}-{stamp}"))
