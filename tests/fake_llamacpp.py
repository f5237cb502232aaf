"""A stand-in for `drpo.llm.llamacpp_serve` in tests: the same command line and the same
protocol (serve on the port given until stdin closes), with the
simulated LLM behind it instead of llama.cpp. Not a real model."""

from __future__ import annotations

import argparse
import sys
import time

from drpo.sim import ServerSettings, SimServer, SimulatedLLM


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ctx_per_slot", type=int, default=4096)
    parser.add_argument("--fail", action="store_true", help="die before listening")
    parser.add_argument("--load_s", type=float, default=0.0, help="seconds to 'load' the model")
    args = parser.parse_args()
    if args.fail:
        print("error: this GGUF is damaged (fake server)", file=sys.stderr, flush=True)
        return 1
    time.sleep(args.load_s)
    server = SimServer(ServerSettings(port=args.port), SimulatedLLM(seed=0)).start()
    sys.stdin.read()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
