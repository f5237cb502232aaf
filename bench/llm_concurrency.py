"""LLM calls through the real HTTP path: the official openai client, our backend, the
simulated server on loopback with a fixed latency.

    python -m bench.llm_concurrency [--requests 200] [--latency_ms 100] [--quick]

For each concurrency limit it prints the wall time of the batch beside the ideal
ceil(N / c) * L, and the ratio (1.00 is no overhead at all). Simulated model, real HTTP.
"""

from __future__ import annotations

import argparse
import math
import time

from drpo.llm import ChatRequest, RoleSettings, make_llms
from drpo.sim import ServerSettings, SimServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--latency_ms", type=float, default=100.0)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--quick", action="store_true", help="20 requests at 20 ms")
    args = parser.parse_args(argv)
    n, latency = (20, 20.0) if args.quick else (args.requests, args.latency_ms)
    levels = [int(c) for c in args.concurrency.split(",")]

    print(f"{n} chat requests, {latency:g} ms simulated latency, real HTTP on loopback")
    print(f"{'concurrency':>11}{'wall (s)':>10}{'ideal (s)':>11}{'wall/ideal':>12}{'calls/s':>10}")
    with SimServer(ServerSettings(latency_ms=latency)) as server:
        for concurrency in levels:
            role = RoleSettings(backend="openai", base_url=server.url, concurrency=concurrency)
            llm = make_llms({"bench": role})["bench"]
            llm.generate([ChatRequest.of("warm up the connection pool")])
            batch = [ChatRequest.of(f"request {i}: why?") for i in range(n)]
            start = time.perf_counter()
            llm.generate(batch)
            wall = time.perf_counter() - start
            ideal = math.ceil(n / concurrency) * latency / 1000
            ratio, rate = wall / ideal, n / wall
            print(f"{concurrency:>11}{wall:>10.2f}{ideal:>11.2f}{ratio:>12.2f}{rate:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
