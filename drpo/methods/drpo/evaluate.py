"""Judge system prompts on held-out queries with one fixed judge.

Each candidate (the run's initial prompt, its final prompt, a prompt file, or another run's
whole aligned model) answers every query through its base model with its in-context
examples; the metrics model picks each query's aspects once, for every candidate alike, and
the judge scores each answer on them (the DRPO reward, their mean) and, in a separate call,
on Safety alone. Each candidate's means are reported with the paired difference from the
first candidate and its 95% bootstrap CI.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drpo.llm import LLM, BackendPool, make_llms
from drpo.llm._loop import run_sync
from drpo.methods.drpo.aligned import (
    ALIGNED_MODEL,
    AlignedModel,
    AlignedModelError,
    AlignedSpec,
    load_spec,
    role_from,
)
from drpo.methods.drpo.aspects import AspectSelection, Evaluation
from drpo.methods.drpo.state import Step
from drpo.stats import PairedDifference, paired_difference

SAFETY = AspectSelection(("Safety",), "Every answer is checked for safety, whatever the query.")


class QueriesError(ValueError):
    """A queries file that cannot be read as JSONL queries; the message names the line."""


def load_queries(path: str | Path) -> list[str]:
    """The queries of a JSONL file: one per line, a JSON object with a text field "query"
    (or "instruction", "prompt", "question"), or a JSON string; blank lines are skipped."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise QueriesError(f"no queries file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QueriesError(f"cannot read {path}: {exc}") from None
    queries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QueriesError(f"{path} is not JSONL: line {number} is not JSON ({exc.msg})"
                               ) from None  # fmt: skip
        if isinstance(value, dict):
            value = next((value[k] for k in ("query", "instruction", "prompt", "question")
                          if isinstance(value.get(k), str)), None)  # fmt: skip
        if not isinstance(value, str) or not value.strip():
            raise QueriesError(f"{path} line {number}: expected a JSON string or an object with "
                               "a text field 'query'")  # fmt: skip
        queries.append(value.strip())
    if not queries:
        raise QueriesError(f"{path} holds no queries")
    return queries


def held_out_queries(spec: AlignedSpec) -> list[str]:
    """The held-out queries of the run that made `spec` (its data, seed and sizes)."""
    from drpo.methods.drpo.data import DataError, split_queries

    data = spec.data
    test_size = int(data.get("test_size", 0))
    if test_size < 1:
        raise QueriesError("the run held out no queries (--test_size 0); give --queries FILE")
    try:
        _, test = split_queries(
            data["data_dir"],
            num_training_examples=int(data["num_training_examples"]),
            test_size=test_size,
            seed=int(data["seed"]),
        )
    except (DataError, KeyError) as exc:
        raise QueriesError(f"cannot rebuild the run's held-out queries: {exc}") from None
    return test


@dataclass(frozen=True)
class Candidate:
    """One system prompt to judge, and the aligned model (base model, examples) it runs in."""

    label: str
    system_prompt: str
    spec: AlignedSpec


def candidates(spec: AlignedSpec, names: Sequence[str]) -> list[Candidate]:
    """`initial` and `final` name the run's prompts; a folder holding aligned_model.json is
    that run's aligned model; any other name is a file holding a system prompt."""
    out = []
    for name in names:
        if name == "initial":
            out.append(Candidate("initial", spec.initial_system_prompt, spec))
        elif name == "final":
            out.append(Candidate("final", spec.system_prompt, spec))
        elif (Path(name) / ALIGNED_MODEL).is_file():
            other = load_spec(name)
            out.append(Candidate(f"{Path(name).name} (final)", other.system_prompt, other))
        else:
            path = Path(name)
            if not path.is_file():
                raise AlignedModelError(f"--prompt {name}: not 'initial', 'final', a run's "
                                        "folder or a file")  # fmt: skip
            try:
                text = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise AlignedModelError(f"cannot read {path}: {exc}") from None
            if not text:
                raise AlignedModelError(f"{path} is empty")
            out.append(Candidate(path.name, text, spec))
    labels = [c.label for c in out]
    if len(set(labels)) != len(labels):
        raise AlignedModelError(f"the same prompt is named twice: {', '.join(labels)}")
    return out


@dataclass(frozen=True)
class Scored:
    """One candidate's answer to one query: its DRPO reward and its safety score (None
    where the judge gave no usable evaluation)."""

    query: str
    output: str
    aspects: tuple[str, ...]
    reward: float | None
    safety: int | None
    error: str | None


@dataclass(frozen=True)
class Report:
    """Every candidate's scores, and the paired differences from the first one."""

    labels: tuple[str, ...]
    prompts: tuple[str, ...]
    queries: tuple[str, ...]
    scores: Mapping[str, tuple[Scored, ...]]
    judge: str
    simulated: bool
    seed: int

    def mean(self, label: str, what: str) -> tuple[float, int]:
        values = [getattr(s, what) for s in self.scores[label] if getattr(s, what) is not None]
        return (sum(values) / len(values) if values else float("nan")), len(values)

    def difference(self, label: str, what: str) -> PairedDifference:
        base = self.scores[self.labels[0]]
        pairs = [(getattr(a, what), getattr(b, what)) for a, b in zip(base, self.scores[label])
                 if getattr(a, what) is not None and getattr(b, what) is not None]  # fmt: skip
        return paired_difference([float(a) for a, _ in pairs], [float(b) for _, b in pairs],
                                 seed=self.seed)  # fmt: skip

    def table(self) -> str:
        tag = "SIMULATED" if self.simulated else "REAL"
        lines = [f"{len(self.queries)} held-out queries, judged by {self.judge} ({tag})",
                 f"{'prompt':<28} {'reward (DRPO aspects)':>22} {'n':>4} {'safety':>7} {'n':>4}"]
        for label in self.labels:
            reward, n_r = self.mean(label, "reward")
            safety, n_s = self.mean(label, "safety")
            lines.append(f"{label[:28]:<28} {reward:>22.3f} {n_r:>4} {safety:>7.3f} {n_s:>4}")
        for label in self.labels[1:]:
            lines.append(f"{label} - {self.labels[0]}: reward "
                         f"{self.difference(label, 'reward')}; safety "
                         f"{self.difference(label, 'safety')}")  # fmt: skip
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"judge": self.judge, "simulated": self.simulated,
                               "queries": len(self.queries), "candidates": []}  # fmt: skip
        for label, prompt in zip(self.labels, self.prompts):
            reward, n_r = self.mean(label, "reward")
            safety, n_s = self.mean(label, "safety")
            entry: dict[str, Any] = {
                "label": label, "system_prompt": prompt,
                "mean_reward": reward, "n_reward": n_r, "mean_safety": safety, "n_safety": n_s,
                "answers": [s.__dict__ | {"aspects": list(s.aspects)}
                            for s in self.scores[label]],
            }  # fmt: skip
            if label != self.labels[0]:
                entry["reward_difference"] = self.difference(label, "reward").to_json()
                entry["safety_difference"] = self.difference(label, "safety").to_json()
            out["candidates"].append(entry)
        return out


def _key(spec: AlignedSpec) -> str:
    """Candidates whose aligned models share this key share one base model and examples."""
    parts = [spec.base, spec.examples, spec.k, spec.retrieve, spec.embedder, spec.base_prompt]
    return json.dumps(parts, sort_keys=True, default=str)


def evaluate(
    cands: Sequence[Candidate],
    queries: Sequence[str],
    *,
    judge: Mapping[str, Any],
    seed: int = 0,
) -> Report:
    """Judge every candidate on every query with the judge roles `judge` (RoleSettings
    records for "eval" and "metrics")."""
    if not cands:
        raise ValueError("nothing to evaluate")
    if not queries:
        raise ValueError("no queries to evaluate on")
    pool = BackendPool()
    models: dict[str, AlignedModel] = {}
    try:
        llms = make_llms({r: role_from(judge[r]) for r in ("eval", "metrics")}, pool=pool)
        for cand in cands:
            models.setdefault(_key(cand.spec), AlignedModel(cand.spec, pool=pool))
        scores = run_sync(_evaluate(cands, queries, models, llms))
    finally:
        pool.close()
    simulated = any(c.spec.base.get("backend") == "sim" for c in cands) or any(
        judge[r].get("backend") == "sim" for r in ("eval", "metrics")
    )
    return Report(
        labels=tuple(c.label for c in cands),
        prompts=tuple(c.system_prompt for c in cands),
        queries=tuple(queries),
        scores=scores,
        judge=f"{judge['eval'].get('model')} (aspects picked by {judge['metrics'].get('model')})",
        simulated=simulated,
        seed=seed,
    )


async def _evaluate(
    cands: Sequence[Candidate],
    queries: Sequence[str],
    models: Mapping[str, AlignedModel],
    llms: Mapping[str, LLM],
) -> dict[str, tuple[Scored, ...]]:
    from drpo.methods.drpo.aspect_judge import MetricsCache

    cache = MetricsCache(None)  # one aspect selection per query, for every candidate alike
    rewards = {}
    for key, model in models.items():
        reward = model.reward()
        rewards[key] = replace_judges(reward, metrics=llms["metrics"], judge=llms["eval"],
                                      cache=cache)  # fmt: skip
    first = rewards[_key(cands[0].spec)]
    await first.select_aspects(queries)  # once, before the candidates race for it

    async def one(cand: Candidate) -> tuple[Scored, ...]:
        reward = rewards[_key(cand.spec)]
        steps = await reward.evaluate([(cand.system_prompt, q) for q in queries])
        safety = await reward.judge_answers([(s.query, s.output, SAFETY) for s in steps])
        return tuple(_scored(step, verdict) for step, verdict in zip(steps, safety))

    results = await asyncio.gather(*(one(c) for c in cands))
    return {c.label: r for c, r in zip(cands, results)}


def replace_judges(reward: Any, *, metrics: LLM, judge: LLM, cache: Any) -> Any:
    """`reward` (a DynamicReward) with other metrics and judge models and aspect cache."""
    from drpo.methods.drpo.dynamic_reward import DynamicReward

    return DynamicReward(base=reward.base, metrics=metrics, judge=judge,
                         examples=reward.examples, metrics_cache=cache,
                         base_prompt=reward.base_prompt)  # fmt: skip


def _scored(step: Step, safety: Evaluation | str) -> Scored:
    return Scored(
        query=step.query,
        output=step.output,
        aspects=tuple(step.aspects),
        reward=None if step.error is not None else step.reward,
        safety=safety.scores["Safety"] if isinstance(safety, Evaluation) else None,
        error=step.error or (None if isinstance(safety, Evaluation) else f"safety: {safety}"),
    )


def judge_roles(spec: AlignedSpec, override: Mapping[str, Any] | None) -> dict[str, Any]:
    """The judge roles: the run's own eval and metrics models unless `override` (one role
    record for both) is given."""
    if override:
        return {"eval": dict(override), "metrics": dict(override)}
    if not {"eval", "metrics"} <= set(spec.judge):
        raise AlignedModelError("the run records no judge; give --judge_model_name")
    return {r: dict(spec.judge[r]) for r in ("eval", "metrics")}

