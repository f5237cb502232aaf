"""What every method's run shares: the roles' models made from the settings, the log dir
and its args.txt, the run itself (`run_method`), and how a run ends (its closing lines, or
one line on stderr and an exit code)."""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from drpo.llm import BudgetExceeded, LLMConfigError, LLMError, RoleSettings
from drpo.llm.llamacpp_backend import DEFAULT_SLOTS, server_props
from drpo.llm.openai_backend import parse_base_urls
from drpo.methods.declare import flag_values
from drpo.methods.spec import MethodSpec
from drpo.run_context import CHECKPOINT, RunSettings
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


#: Under a simulated run's accuracies (and the arena's simulated table): what they can say.
SIMULATED_FIGURES = (
    "simulated figures: the simulated task model rewards the number of generic reasoning "
    "hints in a prompt, so every method reaches about the same accuracies; they show that the "
    "runs work, not which method is better"
)


def print_ending(
    summary: Any, label: str, file: str, prompt: str, *, unchanged: str | None = None
) -> None:
    """The lines every method's run ends with: its prompt and the file that holds it (with,
    when the run ends on its initial prompt, one line saying why: `unchanged` names what the
    prompts were judged on), the usage table, and the folder of the artefacts."""
    print(f"{label} ({summary.log_dir / file}):")
    print(prompt)
    if unchanged is not None:
        print(why_unchanged(Path(summary.log_dir), judged_on=unchanged))
    print(summary.usage_table)
    for line in (budget_line(Path(summary.log_dir)), stop_line(Path(summary.log_dir))):
        if line:
            print(line)
    print(f"artefacts: {summary.log_dir}")


def stop_line(log_dir: Path) -> str | None:
    """Why the search stopped and what it bought (summary.json), when the run recorded it."""
    try:
        report = json.loads((log_dir / "summary.json").read_text(encoding="utf-8"))
        reason, bought = report["stop_reason"], report["search_bought"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (f"stop_reason: {reason} ({bought['expansions']} expansions, "
            f"{bought['evaluated_prompts']} evaluated prompts)")  # fmt: skip


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
    bought = report.get("bought")
    if bought:
        spent += (f", which bought {bought['expansions']} expansions and "
                  f"{bought['evaluated_prompts']} evaluated prompts")  # fmt: skip
    test = report["test"]
    return (f"the search {how}: {spent}; the test scoring after it {test['calls']} calls, "
            f"{test['tokens']} tokens, apart")  # fmt: skip


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def why_unchanged(log_dir: Path, *, judged_on: str) -> str:
    """One line on why a run ended on its initial prompt, from its usage.json and
    summary.json (see `unchanged_reason`)."""
    usage = _read_json(log_dir / "usage.json")
    summary = _read_json(log_dir / "summary.json")
    return "why the prompt is unchanged: " + unchanged_reason(usage, summary, judged_on=judged_on)


def unchanged_reason(
    usage: Mapping[str, Any], summary: Mapping[str, Any], *, judged_on: str
) -> str:
    """Why a run ended on its initial prompt: every optimiser answer was refused (with the
    commonest reason), the search stopped on its budget, or nothing it tried scored better
    on `judged_on`; with the refusals counted when some were refused."""
    rows = [r for r in usage.get("roles", ()) if r.get("role") == "optimize"]
    answers = sum(int(r.get("json_answers", 0)) for r in rows)
    refused = sum(int(r.get("json_unusable", 0)) for r in rows)
    reasons: dict[str, int] = {}
    for row in rows:
        for reason, count in row.get("unusable_reasons", {}).items():
            reasons[reason] = reasons.get(reason, 0) + int(count)
    commonest = max(reasons.items(), key=lambda kv: kv[1], default=None)
    because = (
        f"; commonest reason ({commonest[1]} of {refused}): {commonest[0]}" if commonest else ""
    )
    budget = summary.get("search_budget") or {}
    if answers and refused == answers:
        return f"the optimiser's {answers} answer(s) were all refused{because}"
    refusals = f" ({refused} of {answers} optimiser answer(s) refused{because})" if refused else ""
    if budget.get("stopped_on_budget"):
        limits = ", ".join(f"{v:g} {k}" for k, v in budget.get("limits", {}).items()
                           if v is not None)  # fmt: skip
        return (f"the search stopped on its budget ({limits}) before any prompt scored better "
                f"on {judged_on}{refusals}")  # fmt: skip
    if not answers:
        return f"the optimiser was not asked for a new prompt{refusals}"
    return f"no prompt the search tried scored better than the initial one on {judged_on}{refusals}"


def failure(exc: Exception) -> int:
    """One line and an exit code for what stopped a run: 2 it could not start, 3 it stopped
    before overspending its budget, 1 an LLM call failed; anything else is a bug."""
    from drpo.run_context import MostlyFailedError, RunError

    if isinstance(exc, (RunError, RunDirError, LLMConfigError, ValueError)):
        return fail(str(exc))
    said = str(exc).rstrip().rstrip(".")  # a sentence follows: one full stop between them
    if isinstance(exc, BudgetExceeded):
        return fail(f"stopped before exceeding the budget: {said}. Everything so far is saved; "
                    "continue with --resume and a larger --budget_usd", 3)  # fmt: skip
    if isinstance(exc, MostlyFailedError):
        return fail(f"the run finished, but {said}. Its artefacts are saved; fix the cause and "
                    "run it again with --resume", 1)  # fmt: skip
    if isinstance(exc, LLMError):
        return fail(f"{said}. Everything answered so far is saved; fix the cause and continue "
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
        if MODELS[text].kind != "gguf":
            raise LLMConfigError(f"{text} is a sentence embedder, not a model to answer with")
        path = model_file(text, models_dir=Path(models_dir) if models_dir else None)
        if not path.is_file() and not offline:
            raise LLMConfigError(
                f"model {text} is not fetched; run: python -m drpo.models fetch {text}"
            )
        return str(path)
    if not (offline or text.lower().endswith(".gguf") or Path(text).expanduser().exists()):
        answering = sorted(name for name, model in MODELS.items() if model.kind == "gguf")
        known = ", ".join(answering)
        close = difflib.get_close_matches(text, answering, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise LLMConfigError(
            f"--model_path {text!r}: no such GGUF file, and no model of that name; {hint}the "
            f"known names: {known} (fetch one with: python -m drpo.models fetch NAME)"
        )
    return text


def _pinned(name: str) -> bool:
    """Whether `name` is a pinned real model (python -m drpo.models list)."""
    from drpo.models import MODELS

    return name in MODELS


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


S = TypeVar("S", bound=RunSettings)


def role_settings(settings: RunSettings) -> dict[str, RoleSettings]:
    """The model, backend and connection of each role (base, eval, metrics, optimize)."""
    models = {
        "base": settings.base_model_name,
        "eval": settings.eval_model_name,
        "metrics": settings.metrics_model_name,
        "optimize": settings.optimize_model_name,
    }
    offline = settings.offline
    local = (
        _local_model(settings.model_path, settings.models_dir, offline)
        if settings.model_path
        else None
    )
    out = {}
    for role, model in models.items():
        base_url = getattr(settings, f"{role}_base_url")
        family = settings.base_model_family if role == "base" else None
        backend = getattr(settings, f"{role}_backend")
        if local is not None and backend is None and base_url is None and model == "sim":
            model, backend = local, "llamacpp"  # --model_path: every role not set otherwise
        elif backend == "llamacpp" or (backend is None and base_url is None and _pinned(model)):
            # a pinned model's name (--optimize_model_name qwen1.5b): that role on its GGUF
            model, backend = _local_model(model, settings.models_dir, offline), "llamacpp"
        backend = _backend(model, backend, base_url, family)
        concurrency = settings.concurrency
        if concurrency is None and offline:
            concurrency = 8
        elif concurrency is None:
            concurrency = DEFAULT_SLOTS if backend == "llamacpp" else local_slots(base_url) or 8
        out[role] = RoleSettings(
            backend=backend,
            model=model,
            base_url=base_url,
            api_key_env=settings.api_key_env,
            concurrency=concurrency,
            threads=getattr(settings, f"{role}_threads") or settings.threads,
            timeout_s=settings.timeout,
            max_wait_s=settings.max_wait,
            max_retries=settings.max_retries,
            retry_backoff_s=settings.retry_backoff,
            num_gpus=settings.num_gpus,
            gpu_memory_utilization=settings.gpu_memory_utilization,
            seed=settings.seed,
            offline=offline,
        )
    return out


def with_roles(spec: MethodSpec, settings: S) -> S:
    """The settings with the roles the method uses made from their model settings (kept
    when given)."""
    if settings.roles is not None:
        return settings
    if not spec.roles:
        return replace(settings, roles={})
    roles = role_settings(settings)
    return replace(settings, roles={role: roles[role] for role in spec.roles})


def start(settings: RunSettings, *, method: str) -> Path:
    """Make the log_dir and record the settings; a log_dir that already holds a run keeps
    its args.txt (the run either refuses to start there or resumes with the same settings)."""
    log_dir = prepare_log_dir(settings.log_dir)
    if not (log_dir / CHECKPOINT).exists():
        write_args(log_dir, {"method": method, **flag_values(settings)})
    return log_dir


def run_method(spec: MethodSpec, settings: S) -> Any:
    """A run of the method: its roles made, its settings checked (before anything is
    written), its log_dir made with args.txt, then the run; returns the run's summary.
    Raises what stopped it (`failure` turns that into one line and an exit code)."""
    settings = with_roles(spec, settings)
    spec.check(settings)
    start(settings, method=spec.name)
    return spec.run(settings)


class TaskSummary(Protocol):
    """What a task-prompt method's run returns, for its closing lines."""

    log_dir: Path
    task: str
    simulated: bool
    resumed_from: int
    usage_table: str
    initial_prompt: str
    initial_eval: float
    initial_test: float
    test_difference: Any
    initial_test_format: float
    final_test_format: float
    test_majority: float | None

    @property
    def final_eval(self) -> float: ...
    @property
    def final_test(self) -> float: ...
    @property
    def final_prompt(self) -> str: ...


def task_report(
    title: str, *, noun: str = "prompt", lines: Callable[[Any], Sequence[str]] = lambda s: ()
) -> Callable[[TaskSummary], None]:
    """The closing lines of a task-prompt method's run (`lines`: the method's own, after the
    first)."""

    def report(summary: TaskSummary) -> None:
        where, resumed = provenance(summary)
        print(f"{title} on task {summary.task} ran on {where}{resumed}")
        for line in lines(summary):
            print(line)
        print(f"eval accuracy: initial {noun} {summary.initial_eval:.3f}, "
              f"final {summary.final_eval:.3f}")  # fmt: skip
        print(f"test accuracy: initial {noun} {summary.initial_test:.3f}, "
              f"final {summary.final_test:.3f}; difference {summary.test_difference}")  # fmt: skip
        majority = ("" if summary.test_majority is None else f"; always the commonest test "
                    f"answer scores {summary.test_majority:.3f}")  # fmt: skip
        print(f"test answers in the task's format: initial {noun} "
              f"{summary.initial_test_format:.3f}, final {summary.final_test_format:.3f}"
              f"{majority}")  # fmt: skip
        if summary.simulated:
            print(SIMULATED_FIGURES)
        unchanged = summary.final_prompt.strip() == summary.initial_prompt.strip()
        print_ending(summary, f"final {noun}", "best_prompt.txt", summary.final_prompt,
                     unchanged="the eval split" if unchanged else None)  # fmt: skip

    return report
