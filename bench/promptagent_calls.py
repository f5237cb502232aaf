"""One default PromptAgent run on the simulated server: calls, tokens and wall time with our
concurrency and without it, beside the sequential reference order.

    python -m bench.promptagent_calls [--latency_ms 100] [--quick]

(a) our run (32 requests at once per server), (b) the same run one request at a time,
(c) the reference: every call of the run, cache hits included (the original evaluates a
prompt it has seen before again), made one after the other: calls x latency.
Simulated model, real HTTP on loopback.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from drpo.llm import RoleSettings
from drpo.methods.promptagent.run import PromptAgentSettings, run_promptagent
from drpo.methods.tasks import DEMO_TASK, load_task
from drpo.sim import ServerSettings, SimServer, SimulatedLLM


def one_run(url: str, *, concurrency: int, n_iters: int) -> tuple[float, dict, str]:
    roles = {
        role: RoleSettings(backend="openai", base_url=url, concurrency=concurrency)
        for role in ("base", "optimize")
    }
    log_dir = Path(tempfile.mkdtemp()) / "run"
    log_dir.mkdir()
    settings = PromptAgentSettings(roles=roles, task=str(DEMO_TASK), n_iters=n_iters,
                                   log_dir=log_dir, disable_tqdm=True)  # fmt: skip
    start = time.perf_counter()
    summary = run_promptagent(settings)
    wall = time.perf_counter() - start

    usage = json.loads((log_dir / "usage.json").read_text())["total"]  # this run's own tally
    return wall, usage, summary.final_prompt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency_ms", type=float, default=100.0)
    parser.add_argument("--n_iters", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="3 iterations at 20 ms")
    args = parser.parse_args(argv)
    latency, n_iters = (20.0, 3) if args.quick else (args.latency_ms, args.n_iters)
    task = load_task(DEMO_TASK)
    knowledge = {e.question: e.gold for e in task.all_examples()}
    rows = []
    for label, concurrency in (("ours (concurrent)", 32), ("ours, one at a time", 1)):
        with SimServer(ServerSettings(latency_ms=latency), SimulatedLLM(knowledge=knowledge)) as s:
            wall, usage, prompt = one_run(s.url, concurrency=concurrency, n_iters=n_iters)
            tokens = usage["prompt_tokens"] + usage["completion_tokens"]
            rows.append((label, usage["requests"], usage["cache_hits"], tokens, wall, prompt))
    calls = rows[0][1] + rows[0][2]
    reference = calls * latency / 1000
    print(f"PromptAgent, demo task, {n_iters} MCTS iterations, {latency:g} ms simulated latency")
    print(f"{'run':<26}{'requests':>9}{'cache hits':>11}{'tokens':>10}{'wall (s)':>10}")
    for label, requests, hits, tokens, wall, _ in rows:
        print(f"{label:<26}{requests:>9}{hits:>11}{tokens:>10}{wall:>10.1f}")
    print(f"{'reference (sequential)':<26}{calls:>9}{0:>11}{'':>10}{reference:>10.1f}")
    print(
        f"ours / reference wall time: {rows[0][4] / reference:.3f}; "
        f"same final prompt both ways: {rows[0][5] == rows[1][5]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
