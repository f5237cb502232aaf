"""What every method's run shares: its log file, its checkpoint, its cache and usage, and the
one-line errors of a run that cannot start."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from tqdm import tqdm

from drpo.llm import (
    BACKENDS,
    LLM,
    BackendPool,
    LLMCache,
    LLMError,
    PriceTable,
    RoleSettings,
    SearchBudget,
    Spend,
    UsageTracker,
    make_llms,
)
from drpo.methods.declare import positive, public_settings, setting
from drpo.sim import backend as _sim_backend  # noqa: F401  (registers the `sim` backend)
from search.artifacts import write_atomic

log = logging.getLogger("drpo")

CHECKPOINT = "checkpoint.json"
PROGRESS = "progress.jsonl"
CHECKPOINT_VERSION = 1


class RunError(Exception):
    """The run cannot start as asked (exit code 2); the message says why."""


class MostlyFailedError(LLMError):
    """The run ended, but most of its evaluations failed: its result means little (exit code
    1). Everything is saved; the message names the role and the commonest error."""


#: The model families `--base_model_family` names.
FAMILIES = ("sim", "mistral", "llama", "gpt", "other")


def _model(default: Any = None, **declared: Any) -> Any:
    """A setting of where a role's model runs: not in summary.json's settings nor in the
    resume fingerprint (the models' names are, as `models`)."""
    return setting(default, public=False, **declared)


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """What every method's run takes besides the method's own settings: the roles' models,
    where the run writes, its seed, budgets and logging. Each method's settings dataclass
    derives from it; each field is a flag of `train.py` (`roles` excepted: the Python API's
    way to give the roles' `RoleSettings` directly; None: made from the model settings)."""

    roles: Mapping[str, RoleSettings] | None = None
    seed: int = setting(0)
    log_dir: Path = setting(Path("logs/run"), help="default: logs/<method>-<search>-<time>")
    resume: bool = setting(False, help="continue the run in --log_dir (same arguments); a "
                           "log_dir that does not exist is an error, one without a checkpoint "
                           "starts a new run")  # fmt: skip
    base_model_name: str = _model("sim")
    base_model_family: str | None = _model(choices=FAMILIES)
    eval_model_name: str = _model("sim")
    metrics_model_name: str = _model("sim")
    optimize_model_name: str = _model("sim")
    base_backend: str | None = _model(choices=BACKENDS)
    base_base_url: str | None = _model()
    eval_backend: str | None = _model(choices=BACKENDS)
    eval_base_url: str | None = _model()
    metrics_backend: str | None = _model(choices=BACKENDS)
    metrics_base_url: str | None = _model()
    optimize_backend: str | None = _model(choices=BACKENDS)
    optimize_base_url: str | None = _model()
    model_path: str | None = _model(
        help="every role on this local GGUF (llamacpp backend), or the name of a fetched "
        "model: qwen0.5b, qwen1.5b, smollm2, gemma3-270m (a base model; python -m drpo.models "
        "fetch NAME). A role's --ROLE_model_name may name another fetched model, e.g. "
        "--model_path qwen0.5b --optimize_model_name qwen1.5b"
    )
    models_dir: str | None = _model(help="where fetched models are kept")
    api_key_env: str = _model("OPENAI_API_KEY", help="the variable with the key")
    concurrency: int | None = _model(
        help="requests at once per server (default 8; llamacpp: its slots, 4)"
    )
    threads: int | None = _model(
        parse=positive(int),
        help="llamacpp: CPU threads of each server (default: one server takes every core; "
        "several local servers share the cores between them)",
    )
    base_threads: int | None = _model(
        parse=positive(int), help="llamacpp: CPU threads of the base role's server "
        "(default: --threads)")  # fmt: skip
    eval_threads: int | None = _model(
        parse=positive(int), help="llamacpp: CPU threads of the eval role's server "
        "(default: --threads)")  # fmt: skip
    metrics_threads: int | None = _model(
        parse=positive(int), help="llamacpp: CPU threads of the metrics role's server "
        "(default: --threads)")  # fmt: skip
    optimize_threads: int | None = _model(
        parse=positive(int), help="llamacpp: CPU threads of the optimize role's server "
        "(default: --threads)")  # fmt: skip
    timeout: float | None = _model(help="seconds per request (default 120; llamacpp: 600)")
    max_wait: float = _model(
        120.0, help="the longest Retry-After a run waits; a longer one is an error"
    )
    max_retries: int = _model(6)
    retry_backoff: float = _model(
        0.5, help="seconds before the first retry, doubled for each next one"
    )
    num_gpus: int = _model(1, help="vLLM tensor parallelism")
    gpu_memory_utilization: float = _model(0.9)
    disable_log: bool = setting(False, help="write no log.txt")
    disable_tqdm: bool = setting(False, help="no progress bars")
    offline: bool = _model(
        False,
        help="answer every call from --cache_path, never calling a model "
        "(re-score a run from its cache); a call not in it is an error",
    )
    logging_level: str = setting("INFO", choices=("DEBUG", "INFO", "WARNING"))
    cache_path: Path | None = setting(None, help="default: <log_dir>/llm_cache.sqlite")
    budget_usd: float | None = setting(
        None,
        help="a hard ceiling in US dollars: the run stops before a batch could pass it (exit 3)",
    )
    budget_calls: int | None = setting(  # the search budget: its search ends at the frontier
        None,  # that spends it (task-prompt methods)
        parse=positive(int),
        help="the search budget in LLM calls: the search stops at the frontier that spends "
        "it and keeps its best prompt so far; test scoring is counted apart (task-prompt "
        "methods)",
    )
    budget_tokens: int | None = setting(
        None, parse=positive(int), help="the search budget in tokens (likewise)"
    )
    budget_search_usd: float | None = setting(
        None, parse=positive(float), help="the search budget in US dollars (likewise)"
    )
    prices: Path | None = setting(None, help="JSON of model -> USD per 1M tokens")

    #: Settings that may change between the attempts of one run: where the models run,
    #: logging, the budgets. Everything else must match for --resume.
    VOLATILE: ClassVar[tuple[str, ...]] = (
        "log_dir", "disable_log", "disable_tqdm", "logging_level", "cache_path",
        "budget_usd", "budget_calls", "budget_tokens", "budget_search_usd", "prices", "resume",
    )  # fmt: skip

    def search_budget(self) -> SearchBudget:
        """The search budget; RunError when a limit is not positive."""
        try:
            return SearchBudget(calls=self.budget_calls, tokens=self.budget_tokens,
                                usd=self.budget_search_usd)  # fmt: skip
        except ValueError as exc:
            raise RunError(str(exc)) from None

    @property
    def role_map(self) -> Mapping[str, RoleSettings]:
        """The roles; RunError when they are not made yet."""
        if self.roles is None:
            raise RunError("the run's roles are not set (drpo.methods.runner.with_roles)")
        return self.roles

    def fingerprint(self) -> str:
        data = {k: v for k, v in public_settings(self).items() if k not in self.VOLATILE}
        data["models"] = {role: s.model_name for role, s in sorted(self.role_map.items())}
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def simulated(self) -> bool:
        return all(s.backend == "sim" or s.model.startswith("sim") for s in self.role_map.values())

    def public(self) -> dict[str, Any]:
        """The settings for summary.json (roles reduced to their model names)."""
        out = {k: v for k, v in public_settings(self).items()}
        out["models"] = {role: s.model_name for role, s in self.role_map.items()}
        return out


def setup_logging(log_dir: Path, *, level: str, disable: bool) -> logging.Handler | None:
    """Send the "drpo" loggers to log_dir/log.txt (none with `disable`)."""
    logger = logging.getLogger("drpo")
    logger.setLevel(getattr(logging, level))
    logger.propagate = False
    if disable:
        return None
    handler = logging.FileHandler(Path(log_dir) / "log.txt", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    return handler


def close_logging(handler: logging.Handler | None) -> None:
    if handler is not None:
        logging.getLogger("drpo").removeHandler(handler)
        handler.close()


class Checkpoint:
    """checkpoint.json: progress, the fingerprint of the settings, and what was spent."""

    def __init__(self, log_dir: Path, fingerprint: str) -> None:
        self.path = Path(log_dir) / CHECKPOINT
        self.fingerprint = fingerprint
        self.previous: dict[str, Any] | None = None

    def load_for(self, resume: bool) -> None:
        if not self.path.exists():
            if resume:
                log.info("--resume: no checkpoint in the log_dir, starting from the beginning")
            return
        if not resume:
            raise RunError(
                f"{self.path.parent} already holds a run ({CHECKPOINT}); pass --resume to "
                "continue it, or choose another log_dir"
            )
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunError(f"{self.path} is damaged ({exc}); remove it to start over") from None
        if data.get("fingerprint") != self.fingerprint:
            raise RunError(
                f"the run in {self.path.parent} was started with other settings; resume it "
                "with the same arguments (see its args.txt), or choose another log_dir"
            )
        self.previous = data

    @property
    def resumed_from(self) -> int:
        return self.previous["frontiers_done"] if self.previous else 0

    def write(self, status: str, frontiers: int, usage: UsageTracker) -> None:
        data = {
            "version": CHECKPOINT_VERSION,
            "fingerprint": self.fingerprint,
            "status": status,
            "frontiers_done": frontiers,
            "usage": usage.summary(),
            "earlier_attempts": self.earlier_usage(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        write_atomic(self.path, json.dumps(data, indent=2).encode("utf-8"))

    def earlier_usage(self) -> list[dict[str, Any]]:
        if self.previous is None:
            return []
        return [*self.previous.get("earlier_attempts", []), self.previous["usage"]]


def usage_and_cache(
    log_dir: Path,
    *,
    prices: Path | None,
    budget_usd: float | None,
    cache_path: Path | None,
    search_budget: SearchBudget | None = None,
    carried: Spend | None = None,
) -> tuple[UsageTracker, LLMCache]:
    """The run's usage tally (with its price table, budget, search budget and what earlier
    attempts spent) and its answer cache."""
    try:
        table = PriceTable.from_file(prices) if prices else PriceTable()
    except ValueError as exc:
        raise RunError(str(exc)) from None
    usage = UsageTracker(prices=table, budget_usd=budget_usd, search_budget=search_budget,
                         carried=carried)  # fmt: skip
    return usage, LLMCache(cache_path or Path(log_dir) / "llm_cache.sqlite")


def write_reports(
    log_dir: Path,
    usage: UsageTracker,
    checkpoint: Checkpoint,
    summary: Any,
    *,
    elapsed_s: float,
    servers: Mapping[str, Any] | None = None,
    budget: Mapping[str, Any] | None = None,
) -> None:
    """usage.json (with this attempt's time, what was learnt of each server, earlier
    attempts of a resumed run, and the search's spend beside the test scoring's) and
    summary.json."""
    report = {
        **usage.summary(),
        "servers": dict(servers or {}),
        "elapsed_s": round(elapsed_s, 4),
        "earlier_attempts": checkpoint.earlier_usage(),
        **({"search_budget": dict(budget)} if budget is not None else {}),
    }
    write_atomic(Path(log_dir) / "usage.json", json.dumps(report, indent=2).encode("utf-8"))
    text = json.dumps(summary, indent=2, default=str, ensure_ascii=False)
    write_atomic(Path(log_dir) / "summary.json", text.encode("utf-8"))


def with_knowledge(
    roles: Mapping[str, RoleSettings], knowledge: Mapping[str, str], *, role: str = "base"
) -> dict[str, RoleSettings]:
    """The roles, with `knowledge` given to `role` where it runs on the simulated LLM."""
    return {
        name: replace(s, knowledge=dict(knowledge)) if name == role and s.backend == "sim" else s
        for name, s in roles.items()
    }


class ProgressTrace:
    """progress.jsonl: one line per evaluated frontier with what the run had spent by then
    (calls, tokens, dollars; earlier attempts included) and the best eval accuracy seen so far
    (the anytime trace). A resumed run keeps the lines of the frontiers its checkpoint
    counts and replays them without writing them again."""

    def __init__(self, path: Path, *, keep: int) -> None:
        self.path = path
        lines = []
        if keep and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines()[:keep]:
                try:
                    lines.append(json.loads(line))
                except json.JSONDecodeError:
                    break
        self.kept = lines
        if path.parent.is_dir():  # the trace restarts with the frontiers kept
            write_atomic(path, "".join(json.dumps(x) + "\n" for x in lines).encode("utf-8"))

    def recorded(self, frontier: int) -> Spend | None:
        """The spend an earlier attempt recorded at `frontier` (1-based), if it did."""
        if frontier > len(self.kept):
            return None
        row = self.kept[frontier - 1]
        return Spend(int(row["calls"]), int(row["tokens"]), float(row["usd"]))

    def append(
        self, frontier: int, depth: int, spend: Spend, best_eval: float | None, elapsed_s: float
    ) -> None:
        row = {"frontier": frontier, "depth": depth, **spend.to_json(),
               "best_eval_accuracy": best_eval, "elapsed_s": round(elapsed_s, 3)}  # fmt: skip
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")


class Session:
    """One attempt at a run, as a context manager: it checks the log_dir's checkpoint
    (refusing a used log_dir without --resume, or other settings with it), opens log.txt,
    the cache, the usage tally and the progress bars; `on_frontier` writes the checkpoint
    after each evaluated frontier; leaving on an error marks the checkpoint interrupted."""

    def __init__(self, settings: RunSettings, *, desc: str, total: int | None = None) -> None:
        self.settings = settings
        self.log_dir = Path(settings.log_dir)
        budget = settings.search_budget()
        self.checkpoint = Checkpoint(self.log_dir, settings.fingerprint())
        self.checkpoint.load_for(settings.resume)
        carried = sum((Spend.of_summary(u) for u in self.checkpoint.earlier_usage()), Spend())
        self.usage, self.cache = usage_and_cache(
            self.log_dir,
            prices=settings.prices,
            budget_usd=settings.budget_usd,
            cache_path=settings.cache_path,
            search_budget=budget,
            carried=carried,
        )
        self.frontiers = 0
        self.progress = ProgressTrace(self.log_dir / PROGRESS, keep=self.checkpoint.resumed_from)
        self.stopped_on_budget = False
        self.searches: list[Any] = []  # the search results the run recorded (record_search)
        self._search_spend: Spend | None = None  # set when the search ends
        self._frontier_spend = Spend()  # the run's spend at the last evaluated frontier
        self._replayed = False  # that frontier was replayed from an earlier attempt's trace
        self.pool = BackendPool()  # closed on exit: local servers stop with the run
        self._desc, self._total = desc, total
        self._started = time.perf_counter()

    def __enter__(self) -> Session:
        self._handler = setup_logging(
            self.log_dir, level=self.settings.logging_level, disable=self.settings.disable_log
        )
        if self.settings.simulated:
            log.info("all roles run on the simulated LLM: the results are simulated")
        off = self.settings.disable_tqdm
        self._progress = tqdm(total=self._total, desc=self._desc, unit="level", disable=off)
        self._requests: tqdm | None = None  # the calls bar, from the first call on
        self._bar_lock = threading.Lock()
        self._ticking = threading.Event()
        if not off:
            threading.Thread(target=self._tick, name="progress", daemon=True).start()
        return self

    def _calls_bar(self, *, final: bool = False) -> None:
        """The calls bar brought up to date: done, in flight, retries so far. It appears
        with the first call sent, so that a run that calls no LLM (an offline Prompt-OIRL
        run) shows none; `final` closes it with the count of calls answered."""
        with self._bar_lock:
            if self._ticking.is_set() and not final:  # the run is over: the bar is closed
                return
            if self._requests is None:
                if self.settings.disable_tqdm or not (self.usage.answered or self.usage.in_flight):
                    return
                self._requests = tqdm(desc="LLM calls answered", unit=" calls",
                                      initial=self.usage.answered)  # fmt: skip
                # the rate counts every call from the start of the run, not from the bar's
                self._requests.initial = 0
                self._requests.start_t -= time.perf_counter() - self._started
            retries = sum(n.get("retries", 0) for n in self.pool.notes().values())
            self._requests.n = self.usage.answered
            postfix = f"retries {retries}" if final else (
                f"in flight {self.usage.in_flight}, retries {retries}")  # fmt: skip
            self._requests.set_postfix_str(postfix, refresh=True)
            if final:
                self._requests.close()

    def _tick(self) -> None:
        """Keeps the calls bar current inside a level."""
        while not self._ticking.wait(1.0):
            self._calls_bar()

    def llms(self, roles: Mapping[str, RoleSettings], *, max_reasks: int = 2) -> dict[str, LLM]:
        return make_llms(
            roles, cache=self.cache, usage=self.usage, max_reasks=max_reasks, pool=self.pool,
            refresh_unusable=self.settings.resume,
        )  # fmt: skip

    def on_frontier(self, depth: int, *, best_eval: float | None = None) -> bool:
        """After each evaluated frontier: the progress bar, a line of the anytime trace
        (progress.jsonl: the spend so far and `best_eval`, the best eval accuracy the search
        has seen), the checkpoint. Returns whether the search budget is spent: the search is
        then to stop (task-prompt worlds become terminal)."""
        self.frontiers += 1
        if self._total is None:
            self._progress.update(1)
        else:
            if depth > self._progress.total:
                self._progress.total = depth
            self._progress.update(max(0, depth - self._progress.n))
        recorded = self.progress.recorded(self.frontiers)
        self._replayed = recorded is not None
        if recorded is not None:  # a resumed run replaying a frontier of an earlier attempt
            spend = recorded
        else:
            spend = self.usage.run_spend()
            elapsed = time.perf_counter() - self._started
            self.progress.append(self.frontiers, depth, spend, best_eval, elapsed)
        self._frontier_spend = spend
        self.checkpoint.write("running", self.frontiers, self.usage)
        budget = self.usage.search_budget
        if budget.limited and budget.spent_by(spend):
            if not self.stopped_on_budget:
                log.info("the search budget (%s) is spent after frontier %d (%s): the "
                         "search stops here", budget.limits(), self.frontiers,
                         spend.to_json())  # fmt: skip
            self.stopped_on_budget = True
        return self.stopped_on_budget

    def search_finished(self) -> None:
        """The search is over: what the run spent so far is the search's; what follows
        (scoring on the test split) is counted apart. Without this call, the spend at the
        last evaluated frontier is taken as the search's."""
        # A search that ended on a frontier an earlier attempt recorded spent what it recorded
        # (the rest of what that attempt paid went to the test scoring).
        self._search_spend = self._frontier_spend if self._replayed else self.usage.run_spend()

    def record_search(self, result: Any) -> None:
        """Note a search's result (a `search.SearchResult`): summary.json then says why the
        search stopped and, under a budget, what it bought."""
        if all(r is not result for r in self.searches):
            self.searches.append(result)

    def stop_reason(self) -> str | None:
        """Why the run's search stopped (None when no search was recorded): for a run of
        several searches, the first reason other than ``"depth"`` (each ran its full length
        otherwise)."""
        reasons = [r.stop_reason for r in self.searches]
        return next((r for r in reasons if r != "depth"), reasons[0] if reasons else None)

    def bought(self) -> dict[str, int]:
        """What the recorded searches' calls bought: expansions (states whose actions were
        asked for) and evaluated prompts (states stepped and scored)."""
        return {"expansions": sum(r.expansions for r in self.searches),
                "evaluated_prompts": sum(r.evaluated for r in self.searches)}  # fmt: skip

    def budget_report(self) -> dict[str, Any]:
        """What the search spent, what the rest (test scoring) spent, the search budget, by
        how much the last frontier went past it, and whether the search stopped on it."""
        total = self.usage.run_spend()
        search = self._search_spend if self._search_spend is not None else self._frontier_spend
        budget = self.usage.search_budget
        return {
            "limits": budget.limits(),
            "stopped_on_budget": self.stopped_on_budget,
            "search": search.to_json(),
            "test": (total - search).to_json(),
            "total": total.to_json(),
            "over_budget": budget.overshoot(search),
            "frontiers": self.frontiers,
            **({"bought": self.bought()} if budget.limited and self.searches else {}),
        }

    def finish(self, summary: Mapping[str, Any]) -> None:
        """Write usage.json and summary.json (both with the budget report; summary.json with
        the search's `stop_reason` and what it bought), and mark the checkpoint done (or
        interrupted, when a Ctrl-C stopped the search: --resume continues it)."""
        elapsed = time.perf_counter() - self._started
        budget = self.budget_report()
        reason = self.stop_reason()
        stopped = {} if reason is None else {"stop_reason": reason, "search_bought": self.bought()}
        servers = self.pool.notes()
        summary = {**summary, **stopped, "search_budget": budget}
        local = {where: n["throughput"] for where, n in servers.items() if "throughput" in n}
        if local:  # what each local server processed, reused and generated, beside its peak
            summary["local_servers"] = local
        write_reports(
            self.log_dir, self.usage, self.checkpoint, summary,
            elapsed_s=elapsed, servers=servers, budget=budget,
        )  # fmt: skip
        if reason == "interrupted":
            log.info("the search stopped on Ctrl-C after frontier %d; the run saved what it "
                     "has (continue with --resume)", self.frontiers)  # fmt: skip
        status = "interrupted" if reason == "interrupted" else "done"
        self.checkpoint.write(status, self.frontiers, self.usage)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._ticking.set()
        self._progress.close()
        self._calls_bar(final=True)
        try:
            if error is not None:
                self.checkpoint.write("interrupted", self.frontiers, self.usage)
                log.error("the run stopped: %s: %s", type(error).__name__, error)
        finally:
            self.pool.close()
            close_logging(self._handler)
