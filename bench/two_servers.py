"""``python -m bench.two_servers``: two local llama.cpp servers on one machine, side by side.

Starts the task model (qwen0.5b) and the optimiser (qwen1.5b) as a run with both would, each
with the threads and polling of one setting, and measures their output tokens per second
alone and while both decode at once (one request each, then `--concurrent` each). The
settings compared: every server on every core (the old default), the cores split between
the servers (the new default), and every core each with idle threads that sleep (poll 0).

    python -m bench.two_servers [--max_tokens N] [--out FILE]

The figures are REAL (real models on this machine's CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from drpo.llm.llamacpp_backend import LocalServer
from drpo.models import fetch

PROMPT = ("Explain in about eighty words why the sky looks blue in the day and red at "
          "sunset.")  # fmt: skip


def _ask(base_url: str, max_tokens: int, out: list[dict[str, float]]) -> None:
    body = {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens,
            "temperature": 0.0, "seed": 0}  # fmt: skip
    request = urllib.request.Request(
        base_url + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=900) as response:
        data = json.loads(response.read())
    wall = time.perf_counter() - started
    tokens = data["usage"]["completion_tokens"]
    out.append({"wall_s": round(wall, 2), "tokens": tokens, "tok_s": round(tokens / wall, 2)})


def _together(jobs: Sequence[tuple[str, str]], max_tokens: int) -> dict[str, list[dict]]:
    """Every (name, url) job at once; the figures of each, by name."""
    results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in jobs}
    threads = [threading.Thread(target=_ask, args=(url, max_tokens, results[name]))
               for name, url in jobs]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


class _Server(LocalServer):
    """A LocalServer with a polling level (the launcher of the run has none)."""

    def __init__(self, model: Path, *, threads: int, poll: int | None, slots: int) -> None:
        def launch(model: Path, port: int, slots: int, threads: int, ctx: int) -> list[str]:
            argv = [sys.executable, "-m", "drpo.llm.llamacpp_serve", "--model", str(model),
                    "--port", str(port), "--slots", str(slots), "--threads", str(threads),
                    "--ctx_per_slot", str(ctx)]  # fmt: skip
            return argv + (["--poll", str(poll)] if poll is not None else [])

        super().__init__(model, slots=slots, threads=threads, ctx_per_slot=1024, launcher=launch)


def measure(setting: dict[str, Any], models: dict[str, Path], max_tokens: int,
            concurrent: int) -> dict[str, Any]:  # fmt: skip
    servers = {name: _Server(path, threads=setting["threads"][name], poll=setting["poll"],
                             slots=concurrent) for name, path in models.items()}  # fmt: skip
    try:
        urls = {name: s.start() for name, s in servers.items()}
        for name in urls:  # warm-up, not measured
            _together([(name, urls[name])], 8)
        row: dict[str, Any] = {**setting}
        for name in urls:
            row[f"{name}_alone"] = _together([(name, urls[name])], max_tokens)[name]
        row["both_at_once"] = _together(list(urls.items()), max_tokens)
        jobs = [(name, url) for name, url in urls.items() for _ in range(concurrent)]
        many: dict[str, list[dict]] = {name: [] for name in urls}
        started = time.perf_counter()
        threads = [threading.Thread(target=_ask, args=(url, max_tokens, many[name]))
                   for name, url in jobs]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        row[f"both_{concurrent}_each"] = {"wall_s": round(time.perf_counter() - started, 1),
                                          **many}  # fmt: skip
        return row
    finally:
        for s in servers.values():
            s.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.two_servers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--max_tokens", type=int, default=64)
    parser.add_argument("--concurrent", type=int, default=2, help="requests each, at once")
    parser.add_argument("--out", default=None, help="the figures (JSON)")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    models = {"task_0.5b": fetch("qwen0.5b"), "optimiser_1.5b": fetch("qwen1.5b")}
    half = max(1, cores // 2)
    settings = [
        {"name": "every core each (old default)", "poll": None,
         "threads": {"task_0.5b": cores, "optimiser_1.5b": cores}},
        {"name": "cores split", "poll": None,
         "threads": {"task_0.5b": cores - half if cores > 1 else 1, "optimiser_1.5b": half}},
        {"name": "every core each, idle threads sleep (poll 0)", "poll": 0,
         "threads": {"task_0.5b": cores, "optimiser_1.5b": cores}},
    ]  # fmt: skip
    rows = []
    for setting in settings:
        print(f"{setting['name']}: threads {setting['threads']}, poll {setting['poll']}",
              flush=True)  # fmt: skip
        row = measure(setting, models, args.max_tokens, args.concurrent)
        print(json.dumps(row), flush=True)
        rows.append(row)
    report = {"real": True, "cpus": cores, "max_tokens": args.max_tokens, "rows": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
