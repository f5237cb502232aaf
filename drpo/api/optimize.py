"""`drpo.optimize`: run a method from Python. Its settings are made as `train.py` makes them
(`drpo.methods.registry.settings_for`: the method's settings dataclass, its preset, the values
given) and run by the same `drpo.methods.runner.run_method`, so a run writes exactly what
`train.py` writes (args.txt, log.txt, summary.json, algo_output/, best_prompt.txt, the cache
and the checkpoint), and the result is read back from those artefacts."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from drpo.api.data import AlignmentData, Task
from drpo.api.models import ModelSpec, model_settings

if TYPE_CHECKING:
    from drpo.methods.spec import MethodSpec
    from drpo.stats import PairedDifference

#: Settings the API takes as its own arguments or from the data object, never as keywords:
#: each maps to where it goes instead.
_OWNED = {
    "method": "the first argument",
    "log_dir": "log_dir=",
    "resume": "resume=",
    "initial_prompt": "initial_prompt=",
    "initial_system_prompt": "initial_prompt=",
    "budget_calls": "budget_calls=",
    "preset": "preset=",
    "plan": "drpo.plan(...)",
    "task": "a drpo.Task",
    "data_dir": "a drpo.Task or drpo.AlignmentData",
    "train_size": "drpo.Task.from_jsonl(..., train_size=)",
    "eval_size": "drpo.Task.from_jsonl(..., eval_size=)",
    "test_size": "the data: drpo.Task.from_jsonl(..., test_size=) or "
    "drpo.AlignmentData.from_dir(..., test_size=)",
    "num_training_examples": "drpo.AlignmentData.from_dir(..., num_training_examples=)",
    "model_path": "model=",
    "api_key_env": "drpo.Model(api_key_env=)",
    "roles": "model= or models=",
}
for _role in ("base", "eval", "metrics", "optimize"):
    for _what in ("model_name", "backend", "base_url"):
        _OWNED[f"{_role}_{_what}"] = "model= or models="


@dataclass(frozen=True)
class HeldOutComparison:
    """DRPO's held-out comparison: the initial and the final system prompt judged on the
    same held-out queries (mean 1-5 reward over the aspects picked per query).

    Attributes:
        queries: held-out queries judged.
        initial_reward: the initial system prompt's mean reward on them.
        final_reward: the final system prompt's.
        difference: final minus initial, pair by pair, with its 95% bootstrap CI.
    """

    queries: int
    initial_reward: float
    final_reward: float
    difference: PairedDifference


@dataclass(frozen=True)
class OptimizeResult:
    """What a run found, read from the artefacts it wrote.

    Attributes:
        method: the method that ran.
        best_prompt: the final prompt (DRPO: the system prompt). Never worse on the eval
            split than the initial prompt: a search whose answer scores lower keeps it.
        initial_prompt: the prompt the search started from.
        initial_accuracy: the initial prompt's accuracy on the task's test split (None for
            DRPO, which is judged by reward: see `held_out`).
        final_accuracy: the best prompt's accuracy on the test split (None for DRPO).
        gain: the paired difference on the held-out examples (accuracy; DRPO: reward),
            best minus initial, with `.mean`, `.ci_low`, `.ci_high` (95% bootstrap) and
            `.n`; None for a DRPO run without held-out queries.
        stop_reason: why the search stopped: `depth` (its depth or iterations ran out),
            `budget` (its search budget was spent), `terminal`, `no_actions`,
            `interrupted` (a Ctrl-C stopped it at its next frontier and the run saved
            everything; `resume=True` continues it; a second Ctrl-C raises
            KeyboardInterrupt at once); None where the method does not report it.
        expansions: states the search expanded (what its budget bought), where reported.
        evaluated_prompts: prompts it stepped to and scored, where reported.
        log_dir: the folder with every artefact of the run.
        simulated: every role ran on the simulated LLM (the figures are simulated).
        held_out: DRPO's held-out comparison (None for other methods, or without
            held-out queries).
        summary: the run's summary.json, as read.
    """

    method: str
    best_prompt: str
    initial_prompt: str
    initial_accuracy: float | None
    final_accuracy: float | None
    gain: PairedDifference | None
    stop_reason: str | None
    expansions: int | None
    evaluated_prompts: int | None
    log_dir: Path
    simulated: bool
    held_out: HeldOutComparison | None
    summary: Mapping[str, Any]


def api_message(text: str) -> str:
    """A runner's message in the API's words: `--resume` becomes `resume=True`, any other
    `--flag` its keyword's name."""
    text = text.replace("pass --resume", "pass resume=True").replace("--resume", "resume=True")
    return re.sub(r"(?<![\w-])--(\w+)", r"\1", text)


def reworded(exc: Exception) -> Exception:
    """`exc` with its message in the API's words (`api_message`), where it names a flag."""
    message = api_message(str(exc))
    if message == str(exc):
        return exc
    try:
        return type(exc)(message)
    except TypeError:  # an exception that takes other arguments keeps its words
        return exc


def method_spec(method: str) -> MethodSpec:
    """The registered method called `method` (built in, or added with
    `drpo.methods.registry.register`); ValueError listing the methods otherwise."""
    from drpo.methods.registry import method_spec as find

    return find(method)


def _owned(spec: MethodSpec) -> dict[str, str]:
    """The settings the API takes otherwise for `spec`, each with where it goes instead."""
    return {**_OWNED, **({"seed": "drpo.Task.from_jsonl(..., seed=)"} if spec.task_prompt else {})}


def setting_names(spec: MethodSpec) -> set[str]:
    """The keyword settings `optimize` takes for `spec`: the fields of the method's settings
    dataclass (the same names as `train.py`'s flags), less those the API takes otherwise
    (`_OWNED`; for a task-prompt method also `seed`, which the `Task` holds: it splits the
    task)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(spec.settings) if f.init}
    return names - set(_owned(spec))


def check_settings(spec: MethodSpec, settings: Mapping[str, Any]) -> None:
    """TypeError for a keyword that is no setting of the method (listing the valid ones),
    ValueError for a value its flag would refuse (type, choices, range)."""
    valid = setting_names(spec)
    unknown = sorted(set(settings) - valid)
    if unknown:
        where = _owned(spec)
        owned = [f"{n} (give it as {where[n]})" for n in unknown if where.get(n)]
        other = [n for n in unknown if not where.get(n)]
        parts = []
        if other:
            parts.append(f"unknown setting(s) {', '.join(other)} for method {spec.name!r}")
        if owned:
            parts.append("not a keyword setting: " + "; ".join(owned))
        raise TypeError(f"{'; '.join(parts)}. The settings of {spec.name} are: "
                        f"{', '.join(sorted(valid))}")  # fmt: skip
    for name, value in settings.items():
        if value is not None:
            check_value(spec.settings, name, value)


def check_value(cls: type, name: str, value: Any) -> None:
    """ValueError unless `value` is one `train.py --name` could give: of the field's type,
    among its choices, accepted by its flag's parser (e.g. > 0 for a budget)."""
    import argparse
    import dataclasses

    from drpo.methods.declare import declaration, flag_parser, parse_bool

    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    declared = declaration(field)
    parse = flag_parser(cls, field)
    wanted = {parse_bool: (bool,), int: (int,), float: (int, float)}.get(parse)  # type: ignore[call-overload]
    if declared is not None and declared.parse is not None and parse is not parse_bool:
        wanted = (int, float)  # a declared parser of numbers (positive(int), ...)
    if wanted is not None and (
        not isinstance(value, wanted) or (bool not in wanted and isinstance(value, bool))
    ):
        raise ValueError(f"{name} must be {' or '.join(t.__name__ for t in wanted)}, got "
                         f"{value!r}")  # fmt: skip
    if wanted is None and not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{name} must be text, got {value!r}")
    if declared is not None and declared.choices is not None and value not in declared.choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, declared.choices))}, got "
                         f"{value!r}")  # fmt: skip
    if parse is not None and parse not in (parse_bool, int, float):
        try:
            parse(str(value))
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise ValueError(f"{name}: {exc}") from None


def _used(log_dir: Path) -> bool:
    from drpo.run_context import CHECKPOINT

    return (log_dir / CHECKPOINT).is_file()


def run_settings(
    method: str,
    data: Task | AlignmentData | None,
    *,
    model: ModelSpec,
    models: Mapping[str, ModelSpec] | None,
    log_dir: str | os.PathLike[str] | None,
    initial_prompt: str | None,
    budget_calls: int | None,
    preset: str | None,
    resume: bool,
    verbose: bool,
    settings: Mapping[str, Any],
) -> tuple[MethodSpec, Any]:
    """The method and the settings object of the run `optimize` (or `plan`) is asked for,
    made as `train.py` makes them (`drpo.methods.registry.settings_for`: the method's
    defaults, its preset, then the values given); the task file of a `Task` made from
    examples is set once the log dir is known."""
    from drpo.cli import with_default_log_dir
    from drpo.methods.registry import settings_for

    spec = method_spec(method)
    if not (spec.task_prompt or spec.name == "drpo"):
        raise ValueError(f"the API runs the task-prompt methods and drpo; run {spec.name} "
                         f"with: prompt-search --method {spec.name}")  # fmt: skip
    check_settings(spec, settings)
    wanted = AlignmentData if spec.name == "drpo" else Task
    if data is not None and not isinstance(data, wanted):
        raise TypeError(f"{spec.name} optimises on a drpo.{wanted.__name__}, got "
                        f"{type(data).__name__}")  # fmt: skip
    given: dict[str, Any] = {**model_settings(model, models)}
    if data is not None:
        given.update(data.settings())
    if log_dir is not None:
        given["log_dir"] = Path(log_dir)
    if initial_prompt is not None:
        given["initial_system_prompt" if spec.name == "drpo" else "initial_prompt"] = (
            initial_prompt
        )
    if budget_calls is not None:
        if not spec.task_prompt:
            raise ValueError(f"{spec.name} takes no search budget (budget_calls, "
                             "budget_tokens, budget_search_usd); the task-prompt methods "
                             "do")  # fmt: skip
        check_value(spec.settings, "budget_calls", budget_calls)
        given["budget_calls"] = budget_calls
    if not spec.task_prompt and any(settings.get(k) is not None for k in
                                    ("budget_tokens", "budget_search_usd")):  # fmt: skip
        raise ValueError(f"{spec.name} takes no search budget; the task-prompt methods do")
    given["resume"] = bool(resume)
    if not verbose:
        given["disable_tqdm"] = True
    given.update({k: v for k, v in settings.items() if v is not None})
    made = settings_for(spec.name, preset, **given)
    if log_dir is None:
        made = with_default_log_dir(spec, made)
    return spec, made


def optimize(
    method: str,
    data: Task | AlignmentData | None = None,
    *,
    model: ModelSpec = "sim",
    models: Mapping[str, ModelSpec] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    initial_prompt: str | None = None,
    budget_calls: int | None = None,
    preset: str | None = None,
    resume: bool = False,
    verbose: bool = True,
    **settings: Any,
) -> OptimizeResult:
    """Optimise a prompt with `method`, exactly as `train.py --method METHOD` would.

    Args:
        method: "promptagent", "gpo", "ape", "opro", "protegi" (a task prompt, on a `Task`)
            or "drpo" (a system prompt, on `AlignmentData`).
        data: a `drpo.Task` for the task-prompt methods, `drpo.AlignmentData` for DRPO;
            None: the demo data the package ships.
        model: the model of every role not given in `models`: "sim" (the simulated LLM),
            a fetched model's name ("qwen0.5b"), a GGUF path, an OpenAI model's name, or a
            `drpo.Model` (any OpenAI-compatible server).
        models: a model per role ("base": the task model, "optimize": the optimiser; DRPO
            also "eval" and "metrics", its judges).
        log_dir: where the run writes its artefacts (default: logs/<method>-<search>-<time>).
            A folder that holds a run is refused unless `resume=True`.
        initial_prompt: the prompt the search starts from (DRPO: the system prompt; default:
            the task's description, or DRPO's "You are a helpful assistant.").
        budget_calls: the search's budget in LLM calls (task-prompt methods): the search
            stops at the frontier that spends it; the test scoring is counted apart.
        preset: named settings of the method, as `train.py --preset` (e.g. "paper": the
            configuration its paper reports); the keyword settings given override them.
        resume: continue the run in `log_dir` (same settings); what was answered is reused.
        verbose: print the run's closing lines and progress bars, as `train.py` does.
        **settings: the method's settings, with `train.py`'s names (e.g. `n_iters=3`,
            `search="beam"`, `budget_tokens=...`, `concurrency=4`).

    Returns:
        The run's `OptimizeResult` (best prompt, accuracies, paired gain, log dir).

    Raises:
        TypeError: a keyword that is no setting of the method (the message lists them).
        ValueError: a bad value, an unknown method, preset or role (the message says which).
        drpo.run_context.RunError: the run cannot start (e.g. `log_dir` holds a run and
            `resume=True` was not given; a task too small for its splits).
        drpo.llm.LLMError: an LLM call failed (everything answered so far is saved:
            `resume=True` continues).

    Example:
        ```python
        task = drpo.Task.from_jsonl("reviews.jsonl", eval_size=10, test_size=10, seed=0)
        result = drpo.optimize("promptagent", task, model="sim", log_dir="logs/reviews",
                               initial_prompt="Is this review positive or negative?",
                               budget_calls=300, n_iters=3)
        print(result.best_prompt, result.gain.mean)
        ```
    """
    from dataclasses import replace

    from drpo.interrupts import graceful_interrupts
    from drpo.llm import LLMError
    from drpo.methods.runner import run_method
    from drpo.run_context import RunError
    from drpo.run_dir import RunDirError

    spec, made = run_settings(method, data, model=model, models=models, log_dir=log_dir,
                              initial_prompt=initial_prompt, budget_calls=budget_calls,
                              preset=preset, resume=resume, verbose=verbose,
                              settings=settings)  # fmt: skip
    run_dir = Path(made.log_dir)
    if _used(run_dir) and not resume:
        raise RunError(f"{run_dir} already holds a run; pass resume=True to continue it, or "
                       "choose another log_dir")  # fmt: skip
    if isinstance(data, Task) and data.path is None:
        made = replace(made, task=str(data.file_for(run_dir)))
    try:
        with graceful_interrupts():  # Ctrl-C stops the search: the result says "interrupted"
            summary = run_method(spec, made)
    except (RunError, RunDirError, ValueError, LLMError) as exc:  # in the API's words
        raise reworded(exc) from None
    if verbose:
        spec.report(summary)
    return read_result(spec.name, run_dir)


def read_result(method: str, log_dir: Path) -> OptimizeResult:
    """The result of the run in `log_dir`, from its summary.json and prompt file."""
    from drpo.stats import PairedDifference

    summary = json.loads((log_dir / "summary.json").read_text(encoding="utf-8"))
    difference = summary.get("test_difference")
    gain = PairedDifference(**difference) if difference else None
    stop = summary.get("stop_reason")
    bought = summary.get("search_bought") or {}
    search = {"stop_reason": stop, "expansions": bought.get("expansions"),
              "evaluated_prompts": bought.get("evaluated_prompts")}  # fmt: skip
    if method == "drpo":
        best = (log_dir / "best_system_prompt.txt").read_text(encoding="utf-8").removesuffix("\n")
        held_out = None
        if gain is not None:
            held_out = HeldOutComparison(
                queries=int(summary["test_queries"]),
                initial_reward=float(summary["initial_test_reward"]),
                final_reward=float(summary["final_test_reward"]),
                difference=gain,
            )
        return OptimizeResult(
            method=method,
            best_prompt=best,
            initial_prompt=summary["settings"]["initial_system_prompt"],
            initial_accuracy=None,
            final_accuracy=None,
            gain=gain,
            **search,
            log_dir=log_dir,
            simulated=bool(summary["simulated"]),
            held_out=held_out,
            summary=MappingProxyType(summary),
        )
    best = (log_dir / "best_prompt.txt").read_text(encoding="utf-8").removesuffix("\n")
    initial = summary.get("initial_prompt")
    if initial is None:  # GPO's summary: the first prompt of its trajectory
        initial = summary["trajectory"][0]["prompt"]
    final_test = summary.get("final_test_accuracy", summary.get("best_test_accuracy"))
    return OptimizeResult(
        method=method,
        best_prompt=best,
        initial_prompt=initial,
        initial_accuracy=float(summary["initial_test_accuracy"]),
        final_accuracy=float(final_test),
        gain=gain,
        **search,
        log_dir=log_dir,
        simulated=bool(summary["simulated"]),
        held_out=None,
        summary=MappingProxyType(summary),
    )
