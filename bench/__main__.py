"""Every benchmark in one command: speed, LLM calls and memory of each method, side by side
with the reference call order, on the simulated LLM over real HTTP.

    python -m bench [--quick] [--latency_ms 50] [--out bench/results.json]

For DRPO, PromptAgent and GPO (each run as `python train.py` in a child process):
(a) our run, with frontier batching and `--concurrency` requests at once;
(b) the same run one call at a time, level by level: the original implementations' order;
(c) the critical-path bound: the run's rounds of dependent calls x the latency;
and a warm re-run from (a)'s cache. Ratios use each run's own time (usage.json's elapsed_s);
the process wall time is reported beside it. Then the search overhead against llm-reasoners.
The results are simulated: the model is the simulated LLM, only the latency is real.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import (
    SMALL,
    MethodRun,
    demo_server,
    run_method,
    run_process,
    scratch,
    scratch_dir,
)
from drpo.methods.oirl.logs import LogError, load_released_logs, log_only_selections
from drpo.sim import ServerSettings

#: Each method's default settings, scaled so that the one-call-at-a-time run (b) takes about
#: a minute at 50 ms (DRPO: 60 levels instead of 20); quick: a smoke run of a few seconds.
SCALE = {"full": {"drpo": ["--depth", "60"], "promptagent": [], "gpo": []}, "quick": SMALL}
TARGETS = {"a/c": 1.2, "a/b": 0.3}
#: The shared data folder beside the repository (Prompt-OIRL's logs, GSM8K).
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@dataclass(frozen=True)
class MethodFigures:
    method: str
    ours: MethodRun
    one_at_a_time: MethodRun
    warm: MethodRun
    latency_s: float

    @property
    def bound_s(self) -> float:
        return self.ours.rounds * self.latency_s

    @property
    def original_calls(self) -> int:
        """The calls the original implementation makes for the same run: ours, and those our
        cache and batch de-duplication answer for free (it sends every one of them)."""
        return self.ours.requests + self.ours.cache_hits

    @property
    def original_order_s(self) -> float:
        """(b) scaled to the original's number of calls, at (b)'s measured time per call."""
        b = self.one_at_a_time
        return b.run_s * self.original_calls / max(1, b.requests)

    def to_json(self) -> dict[str, Any]:
        def run(r: MethodRun) -> dict[str, Any]:
            return {
                "run_s": r.run_s,
                "process_wall_s": round(r.process.wall_s, 4),
                "requests": r.requests,
                "server_requests": r.server_requests,
                "rounds": r.rounds,
                "widest_round": r.widest_round,
                "cache_hits": r.cache_hits,
                "peak_rss_mb": round(r.process.peak_rss_mb, 1),
            }

        a, b = self.ours.run_s, self.one_at_a_time.run_s
        return {
            "a_ours": run(self.ours),
            "b_one_at_a_time": run(self.one_at_a_time),
            "c_critical_path_s": round(self.bound_s, 4),
            "a_over_b": round(a / b, 4),
            "original_calls": self.original_calls,
            "b_original_calls_s": round(self.original_order_s, 4),
            "a_over_b_original_calls": round(a / self.original_order_s, 4),
            "a_over_c": round(a / self.bound_s, 4) if self.bound_s else None,
            "same_final_prompt": self.ours.final_prompt == self.one_at_a_time.final_prompt,
            "warm_rerun": run(self.warm),
        }


def measure_method(
    method: str, options: list[str], *, latency_ms: float, concurrency: int
) -> MethodFigures:
    where = scratch_dir(method)
    with demo_server(ServerSettings(latency_ms=latency_ms)) as server:
        ours = run_method(
            server, method, log_dir=where / "a", concurrency=concurrency, options=options
        )
        sequential = run_method(server, method, log_dir=where / "b", concurrency=1, options=options)
        cache = ["--cache_path", str(where / "a" / "llm_cache.sqlite")]
        warm = run_method(
            server, method, log_dir=where / "warm", concurrency=concurrency, options=options + cache
        )
    return MethodFigures(method, ours, sequential, warm, latency_ms / 1000)


def critical_path_at(
    methods: list[str], *, latency_ms: float, concurrency: int, quick: bool
) -> dict[str, Any]:
    """Run (a) alone at a latency nearer a hosted model's, where the client's own work per
    call (about a millisecond in the openai client) weighs less against the latency."""
    out = {}
    scale = SCALE["quick" if quick else "full"]
    with demo_server(ServerSettings(latency_ms=latency_ms)) as server:
        for method in methods:
            run = run_method(
                server,
                method,
                log_dir=scratch_dir(method) / "a",
                concurrency=concurrency,
                options=scale[method],
            )
            bound = run.rounds * latency_ms / 1000
            out[method] = {
                "run_s": run.run_s,
                "rounds": run.rounds,
                "c_critical_path_s": bound,
                "a_over_c": round(run.run_s / bound, 4),
            }
    return out


def prompt_oirl(logs_dir: Path, questions: Path) -> dict[str, Any]:
    """Prompt-OIRL's released logs (GSM8K, Llama-2): the selections they answer alone, and the
    time to load and score them (the reward model's strategies: `train.py --method oirl`)."""
    if not logs_dir.is_dir():
        return {"status": f"not run: no logs at {logs_dir}"}
    started = time.perf_counter()
    try:
        logs = load_released_logs(logs_dir, questions=questions if questions.is_dir() else None)
    except LogError as exc:
        return {"status": f"not run: {exc}"}
    accuracy = log_only_selections(logs)
    return {
        "status": "log-only selections (the reward model's: python train.py --method oirl)",
        "test_questions": len(next(iter(logs.test.values()))),
        "accuracy": accuracy,
        "pipeline_s": round(time.perf_counter() - started, 3),
    }


def print_oirl(oirl: dict[str, Any]) -> None:
    print(f"Prompt-OIRL on its released GSM8K logs: {oirl['status']}")
    if "accuracy" in oirl:
        shown = {k: v for k, v in oirl["accuracy"].items() if not k.startswith("single prompt")}
        for name, value in shown.items():
            print(f"  {value:.3f}  {name}")
        print(
            f"  (test questions 0..{oirl['test_questions'] - 1}; {oirl['pipeline_s']:.2f} s "
            "to load the logs and score every selection)"
        )


def search_overhead(quick: bool) -> dict[str, Any]:
    out = scratch_dir("overhead") / "overhead.json"
    argv = [sys.executable, "-m", "bench.search_overhead", "--json", str(out)]
    process = run_process(argv + (["--quick"] if quick else []))
    if process.returncode != 0:
        raise RuntimeError(f"bench.search_overhead failed: {process.stderr.strip()[-300:]}")
    figures = json.loads(out.read_text(encoding="utf-8"))
    figures["peak_rss_mb"] = round(process.peak_rss_mb, 1)
    return figures


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} ({'met' if value <= target else 'NOT met'}, <= {target:g})"


def print_methods(
    rows: list[MethodFigures], concurrency: int, latency_ms: float, *, judge: bool
) -> None:
    print(
        f"Methods on the simulated LLM over real HTTP, {latency_ms:g} ms per call "
        f"(simulated results; (a) {concurrency} calls at once, (b) one at a time)"
    )
    head = (
        f"{'method':<12}{'calls':>6}{'rounds':>7}{'a (s)':>8}{'b (s)':>8}{'c (s)':>8}"
        f"{'a/b':>7}{'a/c':>7}{'same':>6}{'warm calls':>11}{'warm (s)':>9}"
        f"{'RSS a/b/warm (MB)':>19}"
    )
    print(head)
    for row in rows:
        a, b, w = row.ours, row.one_at_a_time, row.warm
        j = row.to_json()
        rss = f"{a.process.peak_rss_mb:.0f}/{b.process.peak_rss_mb:.0f}/{w.process.peak_rss_mb:.0f}"
        print(
            f"{row.method:<12}{a.server_requests:>6}{a.rounds:>7}{a.run_s:>8.2f}{b.run_s:>8.2f}"
            f"{row.bound_s:>8.2f}{j['a_over_b']:>7.2f}{j['a_over_c'] or 0:>7.2f}"
            f"{'yes' if j['same_final_prompt'] else 'NO':>6}{w.server_requests:>11}"
            f"{w.run_s:>9.2f}{rss:>19}"
        )
    if not judge:
        print(
            "  (a smoke run: start-up outweighs runs this short; targets are judged on full runs)"
        )
        return
    for row in rows:
        j = row.to_json()
        print(
            f"  {row.method}: a/c {_verdict(j['a_over_c'], TARGETS['a/c'])}; "
            f"a/b {_verdict(j['a_over_b'], TARGETS['a/b'])}; the original sends "
            f"{row.original_calls} calls (ours plus the {row.ours.cache_hits} our cache and "
            f"de-duplication answer): a over those one at a time {j['a_over_b_original_calls']:.2f}"
        )


def print_overhead(figures: dict[str, Any]) -> None:
    print("Search overhead per expanded node on a toy world (one core):")
    ours = {r["algorithm"]: r for r in figures["rows"] if r["implementation"] == "ours"}
    for r in figures["rows"]:
        us, ratio = r["us_per_expanded"], ""
        if r["implementation"] != "ours":
            ratio = f"  ours/theirs {ours[r['algorithm']]['us_per_expanded'] / us:.2f}"
        print(f"  {r['algorithm']:<11}{r['implementation']:<21}{us:>7.1f} us{ratio}")
    tree = figures["mcts_tree"]
    print(f"  our MCTS tree of {tree['nodes']} nodes: {tree['seconds']:.3f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds each")
    parser.add_argument("--latency_ms", type=float, default=None, help="default 50 (quick: 10)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=128,
        help="run (a): calls at once (the widest round of a run has 120)",
    )
    parser.add_argument("--methods", default="drpo,promptagent,gpo")
    parser.add_argument(
        "--slow_latency_ms",
        type=float,
        default=None,
        help="also run (a) alone at this latency; default 500 (quick: none)",
    )
    parser.add_argument("--out", default=None, help="default bench/results(-quick).json")
    parser.add_argument("--oirl_logs", default=str(SHARED / "prompt_oirl" / "gsm8k_llama2"))
    parser.add_argument("--questions", default=str(SHARED / "gsm8k"), help="GSM8K's jsonl files")
    parser.add_argument("--keep", action="store_true", help="keep the runs' folders")
    args = parser.parse_args(argv)
    scale = SCALE["quick" if args.quick else "full"]
    latency = args.latency_ms if args.latency_ms is not None else (10.0 if args.quick else 50.0)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(scale))
    if unknown or args.concurrency < 1 or latency <= 0:
        print(
            f"python -m bench: error: methods from {sorted(scale)}, concurrency >= 1, latency > 0",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out or f"bench/results{'-quick' if args.quick else ''}.json")

    try:
        with scratch(keep=args.keep):
            return measure_all(args, methods, scale, latency, out)
    except RuntimeError as exc:  # a run that failed: one line, not a traceback
        print(f"python -m bench: error: {exc}", file=sys.stderr)
        return 1


def measure_all(
    args: argparse.Namespace,
    methods: list[str],
    scale: dict[str, list[str]],
    latency: float,
    out: Path,
) -> int:
    started = time.perf_counter()
    rows = []
    for method in methods:
        rows.append(
            measure_method(method, scale[method], latency_ms=latency, concurrency=args.concurrency)
        )
    slow = args.slow_latency_ms if args.slow_latency_ms is not None else (0 if args.quick else 500)
    slow_runs = (
        critical_path_at(methods, latency_ms=slow, concurrency=args.concurrency, quick=args.quick)
        if slow > 0
        else {}
    )
    overhead = search_overhead(args.quick)
    print_methods(rows, args.concurrency, latency, judge=not args.quick)
    for method, figures in slow_runs.items():
        print(
            f"  {method} at {slow:g} ms per call: a {figures['run_s']:.2f} s, c "
            f"{figures['c_critical_path_s']:.2f} s, a/c {figures['a_over_c']:.2f}"
        )
    print()
    print_overhead(overhead)
    print()
    oirl = prompt_oirl(Path(args.oirl_logs), Path(args.questions))
    print_oirl(oirl)

    results = {
        "simulated": True,
        "settings": {
            "quick": args.quick,
            "latency_ms": latency,
            "concurrency": args.concurrency,
            "scale": {m: scale[m] for m in methods},
        },
        "targets": TARGETS,
        "methods": {row.method: row.to_json() for row in rows},
        "a_alone_at_slow_latency": {"latency_ms": slow, "methods": slow_runs},
        "search_overhead": overhead,
        "prompt_oirl": oirl,
        "bench_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "bench_wall_s": round(time.perf_counter() - started, 2),
    }
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out} ({results['bench_wall_s']:.0f} s in all)")
    wrong = correctness_failures(rows)
    for line in wrong:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if wrong else 0


def correctness_failures(rows: list[MethodFigures]) -> list[str]:
    """What must hold whatever the machine's speed (speed targets are reported, not failed)."""
    wrong = []
    for row in rows:
        if row.ours.final_prompt != row.one_at_a_time.final_prompt:
            wrong.append(f"{row.method}: one call at a time ends with another prompt")
        if row.warm.server_requests or row.warm.final_prompt != row.ours.final_prompt:
            wrong.append(
                f"{row.method}: the warm re-run sent {row.warm.server_requests} "
                "request(s) or ended differently"
            )
        for run in (row.ours, row.one_at_a_time, row.warm):
            if run.requests != run.server_requests:
                wrong.append(
                    f"{row.method}: the run counted {run.requests} requests, the "
                    f"server {run.server_requests}"
                )
    return wrong


if __name__ == "__main__":
    raise SystemExit(main())
