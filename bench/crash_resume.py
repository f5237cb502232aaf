"""The crash row: runs killed with SIGKILL at random moments, then resumed.

A crash is survived when the resumed run ends with the uninterrupted run's result, the
checkpoint is never damaged, and no request whose answer had reached the run is sent again.
The server records every request it answered; the run's cache after the kill says which
answers had arrived (the requests still in flight at the kill are paid again, unavoidably:
their answers never arrived).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.campaign import Outcome, checkpoint_status, has_traceback, last_line, run_fingerprint
from bench.harness import SMALL, demo_server, read_report, run_train, scratch_dir
from drpo.llm.cache import request_key
from drpo.llm.types import ChatRequest, CompletionRequest, Request
from drpo.sim import AnsweredRequest, ServerSettings, SimServer

#: Runs of a few seconds at 30 ms a call, so that the kills land all along them.
CRASH = {"drpo": ["--depth", "8"], "promptagent": ["--n_iters", "4", *SMALL["promptagent"][2:]]}


def answer_keys(answers: Iterable[AnsweredRequest]) -> list[str]:
    """The cache keys of the samples the server answered (as the client computes them)."""
    keys = []
    for answered in answers:
        body = answered.body
        sampling = {"temperature": float(body.get("temperature", 0.0)),
                    "top_p": float(body.get("top_p", 1.0)), "max_tokens": body.get("max_tokens"),
                    "stop": tuple(body.get("stop") or ())}  # fmt: skip
        if "prompt" in body:  # a plain-text completion request
            request: Request = CompletionRequest(body["prompt"], **sampling)
        else:
            request = ChatRequest(
                tuple((m["role"], m["content"]) for m in body["messages"]),
                json_mode=(body.get("response_format") or {}).get("type") == "json_object",
                **sampling,
            )
        first = int(body.get("seed") or 0)
        keys += [request_key(body["model"], request, first + j) for j in range(body.get("n", 1))]
    return keys


def cached_keys(log_dir: Path) -> set[str]:
    path = Path(log_dir) / "llm_cache.sqlite"
    if not path.exists():
        return set()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {key for (key,) in db.execute("SELECT key FROM answers")}
    except sqlite3.OperationalError:  # killed before the table was made
        return set()
    finally:
        db.close()


def crash_once(
    server: SimServer, method: str, log_dir: Path, kill_at: float, expected: tuple[Any, str]
) -> Outcome:
    name = f"{method}, SIGKILL at {kill_at:.2f} s"
    seen = len(server.answered())
    first = run_train(
        method, server.url, log_dir=log_dir, options=CRASH[method], kill_after_s=kill_at
    )
    killed = first.returncode == -9
    server.wait_idle()  # the requests the dead run left in flight are answered (and billed)
    status = checkpoint_status(log_dir)
    if status == "damaged":
        return Outcome("crashes", name, False, "the checkpoint was damaged by the kill")
    arrived = cached_keys(log_dir)
    before = set(answer_keys(server.answered()[seen:]))
    seen = len(server.answered())
    attempts = 0
    while True:  # resume until the run is done (once, unless it failed again)
        attempts += 1
        done = run_train(method, server.url, log_dir=log_dir, options=[*CRASH[method], "--resume"])
        if done.returncode == 0 or attempts == 3 or has_traceback(done.stderr):
            break
    if done.returncode != 0:
        return Outcome("crashes", name, False, f"resume failed: {last_line(done.stderr)}")
    again = answer_keys(server.answered()[seen:])
    paid_twice = arrived.intersection(again)
    in_flight = before.intersection(again) - arrived
    same = run_fingerprint(method, log_dir) == expected
    detail = (
        f"{'killed' if killed else 'finished before the kill'}; checkpoint {status}; "
        f"resent {len(in_flight)} request(s) that were in flight at the kill"
    )
    if paid_twice:
        detail += f"; {len(paid_twice)} answer(s) already received were paid again"
    if not same:
        detail += "; the result differs from the uninterrupted run"
    return Outcome("crashes", name, same and not paid_twice, detail)


def crash_row(quick: bool, runs: int) -> list[Outcome]:
    """`runs` crashes, DRPO and PromptAgent in turn, each killed at a random moment of the
    run itself (after the interpreter's start-up, before the run's end)."""
    out = []
    rng = random.Random(20261121)
    methods = ("drpo", "promptagent")
    with demo_server(ServerSettings(latency_ms=30), record_answers=True) as server:
        clean: dict[str, tuple[tuple[Any, str], float, float]] = {}
        for method in methods:
            log_dir = scratch_dir(f"crash-{method}") / "clean"
            done = run_train(method, server.url, log_dir=log_dir, options=CRASH[method])
            if done.returncode != 0:
                raise RuntimeError(f"the uninterrupted {method} run failed: {done.stderr[-200:]}")
            run_s = read_report(log_dir)["elapsed_s"]
            clean[method] = (run_fingerprint(method, log_dir), done.wall_s - run_s, run_s)
        for i in range(runs):
            method = methods[i % len(methods)]
            expected, start, run_s = clean[method]
            kill_at = start + rng.uniform(0.0, 1.0) * run_s
            log_dir = scratch_dir(f"crash-{method}-{i}") / "run"
            out.append(crash_once(server, method, log_dir, kill_at, expected))
    return out
