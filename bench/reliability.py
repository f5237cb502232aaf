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
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from bench.bad_inputs import bad_input_row
from bench.campaign import Outcome, has_traceback, last_line, run_fingerprint
from bench.crash_resume import crash_row
from bench.harness import SMALL, child_env, demo_server, run_train, scratch, scratch_dir
from drpo.sim import ServerSettings

#: Patient settings for the fault rows: a stall outlasts the timeout (1 s; quick: 0.5 s), and
#: at 30% faults a call fails 11 times in a row with probability 2e-6.
FAULT_OPTIONS = ["--max_retries", "10", "--retry_backoff", "0.1"]


def fault_options(quick: bool) -> tuple[list[str], float]:
    """The run's retry options, and how long the server stalls."""
    timeout = 0.5 if quick else 1.0
    return [*FAULT_OPTIONS, "--timeout", str(timeout)], timeout * 1.5


# ---- faults ------------------------------------------------------------------------------
def fault_row(quick: bool) -> list[Outcome]:
    """Each method at each fault rate with three fault seeds (quick: DRPO at 30%, PromptAgent
    at 10%, one seed)."""
    seeds = [1] if quick else [1, 2, 3]
    rates = {"drpo": (0.3,), "promptagent": (0.1,)} if quick else None
    out = []
    for method in ("drpo", "promptagent"):
        where = scratch_dir(f"faults-{method}")
        retries, stall = fault_options(quick)
        options = SMALL[method] + retries
        with demo_server(ServerSettings()) as server:
            clean = run_train(method, server.url, log_dir=where / "clean", options=options)
        if clean.returncode != 0:
            raise RuntimeError(f"the fault-free {method} run failed: {last_line(clean.stderr)}")
        expected = run_fingerprint(method, where / "clean")
        for rate in rates[method] if rates else (0.1, 0.3):
            for seed in seeds:
                settings = ServerSettings(fault_rate=rate, seed=seed, stall_s=stall)
                log_dir = where / f"rate{rate}-seed{seed}"
                with demo_server(settings) as server:
                    done = run_train(method, server.url, log_dir=log_dir, options=options)
                    stats = server.stats()
                faults = sum(v for k, v in stats.items() if k.startswith("fault_"))
                name = f"{method}, {rate:.0%} faults, seed {seed}"
                if done.returncode != 0 or has_traceback(done.stderr):
                    out.append(Outcome("faults", name, False, last_line(done.stderr)))
                    continue
                same = run_fingerprint(method, log_dir) == expected
                detail = f"{faults} faults in {stats.get('requests', 0)} requests"
                out.append(
                    Outcome("faults", name, same, detail + ("" if same else "; the result differs"))
                )
    return out


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
        (
            "drpo, DEBUG logging",
            "drpo",
            ServerSettings(api_key=marker),
            ["--logging_level", "DEBUG"],
            0,
        ),
        (
            "promptagent, DEBUG logging",
            "promptagent",
            ServerSettings(api_key=marker),
            ["--logging_level", "DEBUG"],
            0,
        ),
        (
            "drpo, 30% faults",
            "drpo",
            ServerSettings(api_key=marker, fault_rate=0.3, seed=4, stall_s=stall),
            ["--logging_level", "DEBUG", *retries],
            0,
        ),
        (
            "drpo, key rejected by the server",
            "drpo",
            ServerSettings(api_key="sk-another"),
            ["--logging_level", "DEBUG"],
            1,
        ),
    ]
    if quick:
        cases = [cases[0], cases[3]]
    out = []
    for name, method, settings, extra, code in cases:
        where = scratch_dir("secrets")
        cache = where / "elsewhere" / "cache.sqlite"
        options = SMALL[method] + extra + ["--cache_path", str(cache)]
        with demo_server(settings) as server:
            done = run_train(
                method,
                server.url,
                log_dir=where / "run",
                options=options,
                env=child_env(OPENAI_API_KEY=marker),
            )
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
    parser = argparse.ArgumentParser(
        prog="python -m bench.reliability", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a few cases of each row")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--crashes", type=int, default=None, help="default 20 (quick: 2)")
    parser.add_argument("--out", default=None, help="default bench/reliability(-quick).json")
    parser.add_argument("--verbose", action="store_true", help="a line per case")
    parser.add_argument("--keep", action="store_true", help="keep the runs' folders")
    args = parser.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    if set(rows) - set(ROWS) or (args.crashes is not None and args.crashes < 1):
        print(
            f"python -m bench.reliability: error: rows from {list(ROWS)}, crashes >= 1",
            file=sys.stderr,
        )
        return 2
    args.crashes = args.crashes or (2 if args.quick else 20)

    try:
        with scratch(keep=args.keep):
            return run_campaign(args, rows)
    except RuntimeError as exc:  # a reference run that failed: one line, not a traceback
        print(f"python -m bench.reliability: error: {exc}", file=sys.stderr)
        return 1


def run_campaign(args: argparse.Namespace, rows: list[str]) -> int:
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    for row in rows:
        row_started = time.perf_counter()
        found = ROWS[row](args)
        outcomes += found
        survived = sum(o.survived for o in found)
        print(
            f"{row:<12}{survived:>4} / {len(found):<4} survived "
            f"({time.perf_counter() - row_started:.0f} s)",
            flush=True,
        )
        for o in found:
            if args.verbose or not o.survived:
                print(f"    {'ok ' if o.survived else 'FAILED'} {o.name}: {o.detail}")
    failed = [o for o in outcomes if not o.survived]
    total = len(outcomes)
    print(
        f"{'all rows':<12}{total - len(failed):>4} / {total:<4} survived "
        f"(simulated LLM over real HTTP; {time.perf_counter() - started:.0f} s)"
    )
    out = Path(args.out or f"bench/reliability{'-quick' if args.quick else ''}.json")
    report = {
        "simulated": True,
        "quick": args.quick,
        "rows": {
            row: {
                "survived": sum(o.survived for o in outcomes if o.row == row),
                "total": sum(o.row == row for o in outcomes),
            }
            for row in rows
        },
        "cases": [vars(o) for o in outcomes],
    }
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
