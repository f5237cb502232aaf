"""What the methods' runners share: settings from train.py's parsed arguments (the roles'
models, the run's common settings, a task's data), the log dir, and how a run ends (its
closing lines, or one line on stderr and an exit code)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from drpo.llm import BudgetExceeded, LLMConfigError, LLMError, RoleSettings
from drpo.llm.llamacpp_backend import DEFAULT_SLOTS, server_props
from drpo.llm.openai_backend import parse_base_urls
from drpo.run_context import CHECKPOINT
from drpo.run_dir import RunDirError, prepare_log_dir, write_args


def fail(message: str, code: int = 2) -> int:
    """One line on stderr; returns the exit code."""
    print(f"train.py: error: {message}", file=sys.stderr)
    return code


def provenance(summary: Any) -> tuple[str, str]:
    """What a run ran on, and whether it was resumed, for its closing lines."""
    where = "the simulated LLM (results are simulated)" if summary.simulated else "real models"
    resumed = f", resumed after {summary.resumed_from} frontier(s)" if summary.resumed_from else ""
    return where, resumed


def print_ending(summary: Any, label: str, file: str, prompt: str) -> None:
    """The lines every method's run ends with: its prompt and the file that holds it, the
    usage table, and the folder of the artefacts."""
    print(f"{label} ({summary.log_dir / file}):")
    print(prompt)
    print(summary.usage_table)
    line = budget_line(Path(summary.log_dir))
    if line:
        print(line)
    print(f"artefacts: {summary.log_dir}")


def budget_line(log_dir: Path) -> str | None:
    """What the search spent against its budget (summary.json), when it had one."""
    try:
        report = json.loads((log_dir / "summary.json").read_text(encoding="utf-8"))
        report = report["search_budget"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    limits = {k: v for k, v in report["limits"].items() if v is not None}
    if not limits:
        return None
    spent = ", ".join(f"{report['search'][k]:g} {k} of {v:g}" for k, v in limits.items())
    how = "stopped on its budget" if report["stopped_on_budget"] else "ended within its budget"
    test = report["test"]
    return (f"the search {how}: {spent}; the test scoring after it {test['calls']} calls, "
            f"{test['tokens']} tokens, apart")  # fmt: skip


def failure(exc: Exception) -> int:
    """One line and an exit code for what stopped a run: 2 it could not start, 3 it stopped
    before overspending its budget, 1 an LLM call failed; anything else is a bug."""
    from drpo.run_context import MostlyFailedError, RunError

    if isinstance(exc, (RunError, RunDirError, LLMConfigError, ValueError)):
        return fail(str(exc))
    if isinstance(exc, BudgetExceeded):
        return fail(f"stopped before exceeding the budget: {exc}. Everything so far is saved; "
                    "continue with --resume and a larger --budget_usd", 3)  # fmt: skip
    if isinstance(exc, MostlyFailedError):
        return fail(f"the run finished, but {exc}. Its artefacts are saved; fix the cause and "
                    "run it again with --resume", 1)  # fmt: skip
    if isinstance(exc, LLMError):
        return fail(f"{exc}. Everything answered so far is saved; fix the cause and continue "
                    "with --resume", 1)  # fmt: skip
    if isinstance(exc, OSError):
        return fail(f"cannot write the run's files: {exc}")
    if isinstance(exc, KeyboardInterrupt):
        return fail("interrupted. Everything answered so far is saved; continue with --resume",
                    130)  # fmt: skip
    raise exc


def _backend(model: str, backend: str | None, base_url: str | None, family: str | None) -> str:
    if backend is not None:
        return backend
    if base_url is not None:
        return "openai"
    if model.lower().endswith(".gguf"):
        return "llamacpp"
    if model.startswith("sim"):
        return "sim"
    if family == "gpt" or model.startswith(("gpt-", "o1", "o3", "o4")):
        return "openai"
    return "vllm"


def _local_model(text: str, models_dir: str | None, offline: bool = False) -> str:
    """--model_path: a GGUF path, or the name of a pinned model fetched before (offline:
    its file need not be here, only its answers in the cache)."""
    from drpo.models import MODELS, model_file

    if text in MODELS:
        path = model_file(text, models_dir=Path(models_dir) if models_dir else None)
        if not path.is_file() and not offline:
            raise LLMConfigError(
                f"model {text} is not fetched; run: python -m drpo.models fetch {text}"
            )
        return str(path)
    return text


def local_slots(base_url: str | None) -> int | None:
    """The slots of a server on this machine that says how many it has (llama.cpp's
    /props), summed over a role's replicas: more requests at once would only queue there,
    against the timeout. None unless every replica is local and says."""
    from urllib.parse import urlparse

    if base_url is None:
        return None
    total = 0
    for url in parse_base_urls(base_url):
        if urlparse(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            return None
        slots = server_props(url).get("total_slots")
        if not isinstance(slots, int) or slots < 1:
            return None
        total += slots
    return total


def role_settings(args: argparse.Namespace) -> dict[str, RoleSettings]:
    """The model, backend and connection of each role (base, eval, metrics, optimize)."""
    models = {
        "base": args.base_model_name,
        "eval": args.eval_model_name,
        "metrics": args.metrics_model_name,
        "optimize": args.optimize_model_name,
    }
    offline = args.offline
    local = _local_model(args.model_path, args.models_dir, offline) if args.model_path else None
    settings = {}
    for role, model in models.items():
        base_url = getattr(args, f"{role}_base_url")
        family = args.base_model_family if role == "base" else None
        backend = getattr(args, f"{role}_backend")
        if local is not None and backend is None and base_url is None and model == "sim":
            model, backend = local, "llamacpp"  # --model_path: every role not set otherwise
        elif backend == "llamacpp":
            model = _local_model(model, args.models_dir, offline)
        backend = _backend(model, backend, base_url, family)
        concurrency = args.concurrency
        if concurrency is None and offline:
            concurrency = 8
        elif concurrency is None:
            concurrency = DEFAULT_SLOTS if backend == "llamacpp" else local_slots(base_url) or 8
        settings[role] = RoleSettings(
            backend=backend,
            model=model,
            base_url=base_url,
            api_key_env=args.api_key_env,
            concurrency=concurrency,
            threads=args.threads,
            timeout_s=args.timeout,
            max_wait_s=args.max_wait,
            max_retries=args.max_retries,
            retry_backoff_s=args.retry_backoff,
            num_gpus=args.num_gpus,
            gpu_memory_utilization=args.gpu_memory_utilization,
            seed=args.seed,
            offline=offline,
        )
    return settings


def common_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings of a run that every method's settings take."""
    return {
        "disable_log": args.disable_log,
        "disable_tqdm": args.disable_tqdm,
        "logging_level": args.logging_level,
        "cache_path": Path(args.cache_path) if args.cache_path else None,
        "budget_usd": args.budget_usd,
        "budget_calls": args.budget_calls,
        "budget_tokens": args.budget_tokens,
        "budget_search_usd": args.budget_search_usd,
        "prices": Path(args.prices) if args.prices else None,
        "seed": args.seed,
        "resume": args.resume,
    }


def task_args(args: argparse.Namespace) -> dict[str, Any]:
    """The task and its splits, for the methods that optimise a task prompt."""
    from drpo.methods.task_settings import TASK_MAX_TOKENS
    from drpo.methods.tasks import DEMO_TASK

    return {
        "task": args.task or str(DEMO_TASK),
        "data_dir": Path(args.data_dir) if args.data_dir else None,
        "initial_prompt": args.initial_prompt,
        "train_size": args.train_size,
        "eval_size": args.eval_size,
        "test_size": args.test_size,
        "max_tokens": TASK_MAX_TOKENS if args.max_tokens is None else args.max_tokens,
    }


def start(args: argparse.Namespace, log_dir: Path) -> Path:
    """Make the log_dir and record the arguments; a log_dir that already holds a run keeps
    its args.txt (the run either refuses to start there or resumes with the same settings)."""
    log_dir = prepare_log_dir(log_dir)
    if not (log_dir / CHECKPOINT).exists():
        write_args(log_dir, vars(args) | {"log_dir": str(log_dir)})
    return log_dir


class TaskSummary(Protocol):
    """What a task-prompt method's run returns, for its closing lines."""

    log_dir: Path
    task: str
    simulated: bool
    resumed_from: int
    usage_table: str
    initial_eval: float
    initial_test: float
    test_difference: Any

    @property
    def final_eval(self) -> float: ...
    @property
    def final_test(self) -> float: ...
    @property
    def final_prompt(self) -> str: ...


S = TypeVar("S")
R = TypeVar("R", bound=TaskSummary)


def run_task_method(
    args: argparse.Namespace,
    log_dir: Path,
    *,
    title: str,
    settings: Callable[[dict[str, Any]], S],
    prepare: Callable[[S], object],
    execute: Callable[[S], R],
    noun: str = "prompt",
    lines: Callable[[R], Sequence[str]] = lambda summary: (),
) -> int:
    """A task-prompt method's run: its settings, made by `settings` from the shared ones
    (the base and optimiser roles, the task's data, the run's settings), checked by
    `prepare` before anything is written; the log dir; the run; and its closing lines
    (`lines`: the method's own, after the first), or one line and an exit code."""
    try:
        roles = role_settings(args)
        shared = {"roles": {"base": roles["base"], "optimize": roles["optimize"]},
                  **task_args(args), "log_dir": log_dir, **common_settings(args)}  # fmt: skip
        made = settings(shared)
        prepare(made)
        start(args, log_dir)
        summary = execute(made)
    except (Exception, KeyboardInterrupt) as exc:  # one line and an exit code; bugs re-raised
        return failure(exc)
    where, resumed = provenance(summary)
    print(f"{title} on task {summary.task} ran on {where}{resumed}")
    for line in lines(summary):
        print(line)
    print(f"eval accuracy: initial {noun} {summary.initial_eval:.3f}, "
          f"final {summary.final_eval:.3f}")  # fmt: skip
    print(f"test accuracy: initial {noun} {summary.initial_test:.3f}, "
          f"final {summary.final_test:.3f}; difference {summary.test_difference}")  # fmt: skip
    print_ending(summary, f"final {noun}", "best_prompt.txt", summary.final_prompt)
    return 0
