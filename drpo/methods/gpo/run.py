"""A GPO run: greedy steps along the trajectory, the best prompt on eval scored on test."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from drpo.llm import RoleSettings, make_llms
from drpo.llm._loop import run_sync
from drpo.methods.gpo.world import GPOConfig, GPOWorld
from drpo.methods.task_scoring import TaskScorer
from drpo.methods.tasks import DEMO_TASK, Task, TaskError, answer_key, load_task
from drpo.run_context import (
    Checkpoint,
    RunError,
    close_logging,
    setup_logging,
    usage_and_cache,
    with_knowledge,
    write_reports,
)
from search import Greedy, save_artifacts
from search.artifacts import write_atomic
from world_model import Reasoner

log = logging.getLogger("drpo")


@dataclass(frozen=True)
class GPOSettings:
    roles: Mapping[str, RoleSettings]
    task: str = str(DEMO_TASK)
    data_dir: Path | None = None
    initial_prompt: str | None = None
    train_size: int | None = None
    eval_size: int = 30
    test_size: int = 60
    steps: int = 12
    n_candidates: int = 8
    retrieval: str = "relevance"
    k: int = 3
    update: str = "edit"
    schedule: str = "cosine"
    initial_budget: int = 50
    final_budget: int = 10
    warmup: int = 0
    feedback: bool = False
    n_examples: int = 3
    temperature: float = 1.0
    max_tokens: int = 512
    log_dir: Path = Path("logs/gpo")
    disable_log: bool = False
    disable_tqdm: bool = False
    logging_level: str = "INFO"
    cache_path: Path | None = None
    budget_usd: float | None = None
    prices: Path | None = None
    seed: int = 0
    resume: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        volatile = "roles log_dir disable_log disable_tqdm logging_level cache_path budget_usd"
        skip = {*volatile.split(), "prices", "resume", "extra"}
        data = {k: v for k, v in asdict(self).items() if k not in skip}
        data["models"] = {role: s.model for role, s in sorted(self.roles.items())}
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[
            :16
        ]

    @property
    def simulated(self) -> bool:
        return all(s.backend == "sim" or s.model.startswith("sim") for s in self.roles.values())


@dataclass(frozen=True)
class GPOSummary:
    log_dir: Path
    task: str
    initial_prompt: str
    best_prompt: str
    initial_eval: float
    best_eval: float
    initial_test: float
    best_test: float
    simulated: bool
    usage_table: str
    resumed_from: int


def prepare(settings: GPOSettings) -> Task:
    """Load the task and check the settings, before anything is written."""
    if settings.steps < 1:
        raise RunError(f"steps must be >= 1, got {settings.steps}")
    try:
        task = load_task(settings.task, data_dir=settings.data_dir, train_size=settings.train_size,
                         eval_size=settings.eval_size, test_size=settings.test_size,
                         seed=settings.seed)  # fmt: skip
        _config(settings, task, None, None)
    except (TaskError, ValueError) as exc:
        raise RunError(str(exc)) from None
    return task


def _config(settings: GPOSettings, task: Task, scorer: Any, optimizer: Any) -> GPOConfig:
    return GPOConfig(
        task,
        scorer,
        optimizer,
        total_steps=settings.steps,
        n_candidates=settings.n_candidates,
        retrieval=settings.retrieval,
        k=settings.k,
        update=settings.update,
        schedule=settings.schedule,
        initial_budget=settings.initial_budget,
        final_budget=settings.final_budget,
        warmup=settings.warmup,
        feedback=settings.feedback,
        n_examples=settings.n_examples,
        temperature=settings.temperature,
        seed=settings.seed,
    )


def run_gpo(settings: GPOSettings) -> GPOSummary:
    task = prepare(settings)
    log_dir = Path(settings.log_dir)
    checkpoint = Checkpoint(log_dir, settings.fingerprint())
    checkpoint.load_for(settings.resume)
    handler = setup_logging(log_dir, level=settings.logging_level, disable=settings.disable_log)
    try:
        return _run(settings, task, log_dir, checkpoint)
    finally:
        close_logging(handler)


def _run(settings: GPOSettings, task: Task, log_dir: Path, checkpoint: Checkpoint) -> GPOSummary:
    if settings.simulated:
        log.info("all roles run on the simulated LLM: the results are simulated")
    usage, cache = usage_and_cache(
        log_dir,
        prices=settings.prices,
        budget_usd=settings.budget_usd,
        cache_path=settings.cache_path,
    )
    llms = make_llms(with_knowledge(settings.roles, answer_key(task)), cache=cache, usage=usage)
    scorer = TaskScorer(llms["base"], max_tokens=settings.max_tokens)
    initial = (settings.initial_prompt or task.description or "Answer the question.").strip()
    progress = tqdm(total=settings.steps, desc="GPO steps", disable=settings.disable_tqdm)
    frontiers = 0

    def on_frontier(depth: int) -> None:
        nonlocal frontiers
        frontiers += 1
        progress.update(1)
        checkpoint.write("running", frontiers, usage)

    world = GPOWorld(task, scorer, initial_prompt=initial, on_frontier=on_frontier)
    config = _config(settings, task, scorer, llms["optimize"])
    search = Greedy(max_depth=settings.steps, action_dedup=lambda c: c.prompt)
    try:
        result = Reasoner(world, config, search)(task.name)
    except BaseException:
        checkpoint.write("interrupted", frontiers, usage)
        raise
    finally:
        progress.close()
    path = result.trace_of_nodes
    best = max(path, key=lambda n: n.reward)  # the best prompt on eval along the trajectory
    initial_test, best_test = run_sync(
        scorer.score_many([(initial, task.test), (best.state.prompt, task.test)])
    )
    meta = {
        "method": "gpo",
        "simulated": settings.simulated,
        "task": task.name,
        "initial_eval_accuracy": result.tree.reward,
        "best_eval_accuracy": best.reward,
        "best_step": best.depth,
        "initial_test_accuracy": initial_test.accuracy,
        "best_test_accuracy": best_test.accuracy,
    }
    save_artifacts(result, log_dir / "algo_output", meta=meta)
    write_atomic(log_dir / "best_prompt.txt", (best.state.prompt + "\n").encode("utf-8"))
    trajectory = [{"step": n.depth, "prompt": n.state.prompt, "eval_accuracy": n.reward,
                   "budget_words": n.state.budget} for n in path]  # fmt: skip
    summary = {**meta, "trajectory": trajectory,
               "settings": {k: v for k, v in asdict(settings).items() if k != "roles"}}  # fmt: skip
    write_reports(log_dir, usage, checkpoint, summary)
    checkpoint.write("done", frontiers, usage)
    return GPOSummary(
        log_dir=log_dir,
        task=task.name,
        initial_prompt=initial,
        best_prompt=best.state.prompt,
        initial_eval=result.tree.reward,
        best_eval=best.reward,
        initial_test=initial_test.accuracy,
        best_test=best_test.accuracy,
        simulated=settings.simulated,
        usage_table=usage.table(),
        resumed_from=checkpoint.resumed_from,
    )
