"""The reliability campaign: faults, crashes, bad inputs and secrets, survived / total.

    python -m bench.reliability [--quick] [--rows faults,crashes,bad_inputs,secrets]

- faults: DRPO and PromptAgent against the simulated server at 10% and 30% fault rates
  (429 with Retry-After, 500, stalls past the timeout, malformed JSON, truncated bodies):
  survived when the run finishes with the same tree and final prompt as the fault-free run.
- crashes: runs killed with SIGKILL at random moments, then continued with ``--resume``:
  survived when the result equals the uninterrupted run's, the checkpoint is never damaged,
  and no request whose answer had reached the run is sent again (the server records every
  answered request; the run's cache after the kill says which answers had arrived).
- bad inputs: malformed data files, arguments, LLM outputs and log_dirs (bench/bad_inputs.py).
- secrets: with the API key set to a marker, the marker is in no file of the log_dir, the
  cache, stdout or stderr, on success, with DEBUG logging, on faults and on a rejected key.

Every run is `python train.py` in a child process, the model the simulated LLM (simulated
results). Exit code 0 when every row survived in full, 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bad_inputs import SMALL_DRPO, SMALL_TASK, Case, all_cases
from bench.harness import (
    child_env,
    demo_server,
    final_prompt,
    run_process,
    scratch_dir,
    train_argv,
)
from drpo.llm.cache import request_key
from drpo.llm.types import ChatRequest
from drpo.sim import AnsweredRequest, ServerSettings, SimServer

SMALL = {"drpo": list(SMALL_DRPO), "promptagent": list(SMALL_TASK)}
#: Patient settings for the fault rows: a stall outlasts the timeout (1 s; quick: 0.5 s), and
#: at 30% faults a call fails 11 times in a row with probability 2e-6.
FAULT_OPTIONS = ["--max_retries", "10", "--retry_backoff", "0.1"]


def fault_options(quick: bool) -> tuple[list[str], float]:
    """The run's retry options, and how long the server stalls."""
    timeout = 0.5 if quick else 1.0
    return [*FAULT_OPTIONS, "--timeout", str(timeout)], timeout * 1.5


@dataclass(frozen=True)
class Outcome:
    row: str
    name: str
    survived: bool
    detail: str = ""


# ---- shared checks ---------------------------------------------------------------------
def tree_of(log_dir: Path) -> dict[str, Any] | None:
    path = Path(log_dir) / "algo_output" / "output.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def checkpoint_status(log_dir: Path) -> str:
    """The checkpoint's status; 'missing' or 'damaged' when there is none to read."""
    path = Path(log_dir) / "checkpoint.json"
    if not path.exists():
        return "missing"
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["status"])
    except (ValueError, KeyError, UnicodeDecodeError):
        return "damaged"


def has_traceback(*texts: str) -> bool:
    return any("Traceback (most recent call last)" in t for t in texts)


def run_fingerprint(method: str, log_dir: Path) -> tuple[Any, str]:
    return tree_of(log_dir), final_prompt(method, log_dir)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


# ---- faults ------------------------------------------------------------------------------
def fault_row(quick: bool) -> list[Outcome]:
    seeds = [1] if quick else [1, 2, 3]
    out = []
    for method in ("drpo", "promptagent"):
        where = scratch_dir(f"faults-{method}")
        retries, stall = fault_options(quick)
        options = SMALL[method] + retries
        with demo_server(ServerSettings()) as server:
            argv = train_argv(method, server.url, log_dir=where / "clean", concurrency=8,
                              options=options)  # fmt: skip
            clean = run_process(argv, env=child_env())
        if clean.returncode != 0:
            raise RuntimeError(f"the fault-free {method} run failed: {_last_line(clean.stderr)}")
        expected = run_fingerprint(method, where / "clean")
        for rate in (0.1, 0.3):
            for seed in seeds:
                settings = ServerSettings(fault_rate=rate, seed=seed, stall_s=stall)
                log_dir = where / f"rate{rate}-seed{seed}"
                with demo_server(settings) as server:
                    argv = train_argv(method, server.url, log_dir=log_dir, concurrency=8,
                                      options=options)  # fmt: skip
                    done = run_process(argv, env=child_env())
                    stats = server.stats()
                faults = sum(v for k, v in stats.items() if k.startswith("fault_"))
                name = f"{method}, {rate:.0%} faults, seed {seed}"
                if done.returncode != 0 or has_traceback(done.stderr):
                    out.append(Outcome("faults", name, False, _last_line(done.stderr)))
                    continue
                same = run_fingerprint(method, log_dir) == expected
                detail = f"{faults} faults in {stats.get('requests', 0)} requests"
                out.append(Outcome("faults", name, same,
                                   detail + ("" if same else "; the result differs")))  # fmt: skip
    return out


# ---- crashes -----------------------------------------------------------------------------
def answer_keys(answers: Iterable[AnsweredRequest]) -> list[str]:
    """The cache keys of the samples the server answered (as the client computes them)."""
    keys = []
    for answered in answers:
        body = answered.body
        request = ChatRequest(
            tuple((m["role"], m["content"]) for m in body["messages"]),
            temperature=float(body.get("temperature", 0.0)),
            top_p=float(body.get("top_p", 1.0)),
            max_tokens=body.get("max_tokens"),
            stop=tuple(body.get("stop") or ()),
            json_mode=(body.get("response_format") or {}).get("type") == "json_object",
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
    argv = train_argv(method, server.url, log_dir=log_dir, concurrency=8, options=SMALL[method])
    seen = len(server.answered())
    first = run_process(argv, env=child_env(), kill_after_s=kill_at)
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
        done = run_process([*argv, "--resume"], env=child_env())
        if done.returncode == 0 or attempts == 3 or has_traceback(done.stderr):
            break
    if done.returncode != 0:
        return Outcome("crashes", name, False, f"resume failed: {_last_line(done.stderr)}")
    again = answer_keys(server.answered()[seen:])
    paid_twice = arrived.intersection(again)
    in_flight = before.intersection(again) - arrived
    same = run_fingerprint(method, log_dir) == expected
    detail = (f"{'killed' if killed else 'finished before the kill'}; checkpoint {status}; "
              f"resent {len(in_flight)} request(s) that were in flight at the kill")  # fmt: skip
    if paid_twice:
        detail += f"; {len(paid_twice)} answer(s) already received were paid again"
    if not same:
        detail += "; the result differs from the uninterrupted run"
    return Outcome("crashes", name, same and not paid_twice, detail)


def crash_row(quick: bool, runs: int) -> list[Outcome]:
    out = []
    rng = random.Random(20261121)
    methods = ("drpo", "promptagent")
    with demo_server(ServerSettings(latency_ms=20), record_answers=True) as server:
        clean: dict[str, tuple[tuple[Any, str], float]] = {}
        for method in methods:
            log_dir = scratch_dir(f"crash-{method}") / "clean"
            argv = train_argv(method, server.url, log_dir=log_dir, concurrency=8,
                              options=SMALL[method])  # fmt: skip
            done = run_process(argv, env=child_env())
            if done.returncode != 0:
                raise RuntimeError(f"the uninterrupted {method} run failed: {done.stderr[-200:]}")
            clean[method] = (run_fingerprint(method, log_dir), done.wall_s)
        for i in range(runs):
            method = methods[i % len(methods)]
            expected, wall = clean[method]
            kill_at = rng.uniform(0.05, 0.95) * wall
            log_dir = scratch_dir(f"crash-{method}-{i}") / "run"
            out.append(crash_once(server, method, log_dir, kill_at, expected))
    return out


# ---- bad inputs --------------------------------------------------------------------------
def _digest(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def judge_case(case: Case, done: Any, log_dir: Path, before: dict[str, str]) -> str | None:
    """Why the case was not survived, or None."""
    if has_traceback(done.stdout, done.stderr):
        return "a traceback: " + _last_line(done.stderr)
    if done.returncode < 0:
        return f"killed by signal {-done.returncode} (a hang?)"
    if case.expect == "error":
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        if done.returncode != 2:
            return f"exit code {done.returncode}, expected 2: {_last_line(done.stderr)}"
        if len(lines) != 1 or not lines[0].startswith("train.py: error:"):
            return f"expected one 'train.py: error:' line, got {len(lines)} line(s)"
        if before and _digest(log_dir) != before:
            return "the log_dir already there was changed"
        if not before and (log_dir / "checkpoint.json").exists():
            return "a checkpoint was written for a run that could not start"
        return None
    if done.returncode != 0:
        return f"exit code {done.returncode}: {_last_line(done.stderr)}"
    if checkpoint_status(log_dir) != "done":
        return f"checkpoint {checkpoint_status(log_dir)}, expected done"
    tree = tree_of(log_dir)
    if tree is None:
        return "no output.json"
    if case.expect == "recorded":
        zero = [n for n in tree["nodes"] if n.get("reward") == 0 and
                (n.get("reward_details") or {}).get("error")]  # fmt: skip
        if not zero:
            return "no step was recorded with an error and reward 0"
    return case.check(tree) if case.check else None


def run_case(case: Case) -> Outcome:
    where = scratch_dir("bad-input")
    log_dir = where / "run"
    if case.prepare is not None:
        case.prepare(log_dir)
    before = _digest(log_dir)
    options = case.options(where)
    if case.model is not None:
        with SimServer(ServerSettings(), case.model()) as server:
            argv = train_argv(case.method, server.url, log_dir=log_dir, concurrency=8,
                              options=options)  # fmt: skip
            done = run_process(argv, env=child_env(), timeout_s=300)
    else:
        argv = [sys.executable, "train.py", "--method", case.method, "--log_dir", str(log_dir),
                "--disable_tqdm", *options]  # fmt: skip
        done = run_process(argv, env=child_env(), timeout_s=300)
    why = judge_case(case, done, log_dir, before)
    shown = _last_line(done.stderr) if case.expect == "error" else case.expect
    return Outcome("bad inputs", case.name, why is None, why or shown)


QUICK_CASES = ("drpo data: truncated JSON", "task file: not UTF-8", "beam_size 0",
               "resume with other settings", "judge: not JSON",
               "base model: injection asking the judge for 5s")  # fmt: skip


def bad_input_row(quick: bool) -> list[Outcome]:
    cases = all_cases()
    if quick:
        cases = [c for c in cases if c.name in QUICK_CASES]
    return [run_case(case) for case in cases]


# ---- secrets -----------------------------------------------------------------------------
def _leaks(marker: str, texts: Iterable[str], folders: Iterable[Path]) -> list[str]:
    found = [f"output {i}" for i, text in enumerate(texts) if marker in text]
    needle = marker.encode("utf-8")
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file() and needle in path.read_bytes():
                found.append(str(path))
    return found


def secrets_row(quick: bool) -> list[Outcome]:
    marker = "sk-LEAKCHECK-" + hashlib.sha256(str(time.time()).encode()).hexdigest()[:24]
    retries, stall = fault_options(quick)
    cases: list[tuple[str, str, ServerSettings, list[str], int]] = [
        ("drpo, DEBUG logging", "drpo", ServerSettings(api_key=marker),
         ["--logging_level", "DEBUG"], 0),
        ("promptagent, DEBUG logging", "promptagent", ServerSettings(api_key=marker),
         ["--logging_level", "DEBUG"], 0),
        ("drpo, 30% faults", "drpo", ServerSettings(api_key=marker, fault_rate=0.3, seed=4,
         stall_s=stall), ["--logging_level", "DEBUG", *retries], 0),
        ("drpo, key rejected by the server", "drpo", ServerSettings(api_key="sk-another"),
         ["--logging_level", "DEBUG"], 1),
    ]  # fmt: skip
    if quick:
        cases = [cases[0], cases[3]]
    out = []
    for name, method, settings, extra, code in cases:
        where = scratch_dir("secrets")
        cache = where / "elsewhere" / "cache.sqlite"
        options = SMALL[method] + extra + ["--cache_path", str(cache)]
        with demo_server(settings) as server:
            argv = train_argv(method, server.url, log_dir=where / "run", concurrency=8,
                              options=options)  # fmt: skip
            done = run_process(argv, env=child_env(OPENAI_API_KEY=marker))
        leaks = _leaks(marker, [done.stdout, done.stderr], [where / "run", cache.parent])
        ok = done.returncode == code and not leaks and not has_traceback(done.stderr)
        detail = f"exit {done.returncode} (expected {code})"
        if leaks:
            detail += "; the key is in: " + ", ".join(leaks)
        out.append(Outcome("secrets", name, ok, detail))
    return out


# ---- the campaign ------------------------------------------------------------------------
ROWS: dict[str, Callable[[argparse.Namespace], list[Outcome]]] = {
    "faults": lambda a: fault_row(a.quick),
    "crashes": lambda a: crash_row(a.quick, a.crashes),
    "bad_inputs": lambda a: bad_input_row(a.quick),
    "secrets": lambda a: secrets_row(a.quick),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a few cases of each row")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--crashes", type=int, default=None, help="default 20 (quick: 2)")
    parser.add_argument("--out", default=None, help="default bench/reliability(-quick).json")
    parser.add_argument("--verbose", action="store_true", help="a line per case")
    args = parser.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    if set(rows) - set(ROWS) or (args.crashes is not None and args.crashes < 1):
        print(f"python -m bench.reliability: error: rows from {list(ROWS)}, crashes >= 1",
              file=sys.stderr)  # fmt: skip
        return 2
    args.crashes = args.crashes or (2 if args.quick else 20)

    started = time.perf_counter()
    outcomes: list[Outcome] = []
    for row in rows:
        row_started = time.perf_counter()
        found = ROWS[row](args)
        outcomes += found
        survived = sum(o.survived for o in found)
        print(f"{row:<12}{survived:>4} / {len(found):<4} survived "
              f"({time.perf_counter() - row_started:.0f} s)", flush=True)  # fmt: skip
        for o in found:
            if args.verbose or not o.survived:
                print(f"    {'ok ' if o.survived else 'FAILED'} {o.name}: {o.detail}")
    failed = [o for o in outcomes if not o.survived]
    total = len(outcomes)
    print(f"{'all rows':<12}{total - len(failed):>4} / {total:<4} survived "
          f"(simulated LLM over real HTTP; {time.perf_counter() - started:.0f} s)")  # fmt: skip
    out = Path(args.out or f"bench/reliability{'-quick' if args.quick else ''}.json")
    report = {
        "simulated": True,
        "quick": args.quick,
        "rows": {
            row: {"survived": sum(o.survived for o in outcomes if o.row == name),
                  "total": sum(o.row == name for o in outcomes)}
            for row, name in (("faults", "faults"), ("crashes", "crashes"),
                              ("bad_inputs", "bad inputs"), ("secrets", "secrets"))
            if row in rows
        },
        "cases": [vars(o) for o in outcomes],
    }  # fmt: skip
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
