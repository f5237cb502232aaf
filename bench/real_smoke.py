"""``python -m bench.real_smoke``: every method end to end on a real local model.

It fetches a pinned model (``--model qwen0.5b``, the default, or ``smollm2``), then runs
``python train.py`` as a user would, with every role on that model through the llamacpp
backend: DRPO (all four roles, depth 1), PromptAgent and GPO (small settings, on a BIG-bench
task from ../shared/data). Then DRPO on a real *base* model (``drpo-base``): the pinned
Gemma 3 270M pretrained model (``--base_model gemma3-270m``), which has no chat template,
asked in plain text (``--base_prompt_format completion``) with the reference's template,
the other roles on the simulated LLM. It checks what a real model must give for a run to
mean anything:

- exit code 0 and every artefact;
- at least 90% of the JSON answers usable at the first try (no re-ask) for the roles that
  judge (DRPO's metrics and judge), and well-formed (JSON within its schema at the first
  try) for every role: an optimiser's well-formed proposal may still be refused as no
  prompt, and those refusals are reported, not failed;
- no DRPO step recorded with reward 0 because it could not be evaluated;
- ``drpo-base``: the base model got the completion format and every answer it gave is
  non-empty.

It prints a table with each run's time, calls and tokens, the time the whole check took,
and writes bench/real_smoke.json. Exit code 1 when a check fails. These are REAL figures of a
real 0.5B model on this machine's CPU, and sized for CI, not a benchmark of accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import FINAL_PROMPT, ROOT, child_env, run_process
from drpo.models import FetchError, fetch

BIGBENCH = ROOT.parent / "shared" / "data" / "bigbench"
ARTEFACTS = ("args.txt", "log.txt", "algo_output/output.pkl", "algo_output/output.json",
             "algo_output/trace.txt", "usage.json", "summary.json", "checkpoint.json")  # fmt: skip
#: Small runs: a few minutes each on 2 cores at about 20 tokens/s.
RUNS: dict[str, list[str]] = {
    "drpo": ["--depth", "1", "--beam_size", "1", "--n_actions", "2", "--max_tokens", "200",
             "--max_depth_increase", "1"],
    # the base model alone is real; 2,048-token answers (the reference's limit) would take
    # minutes each on CI's CPU, 256 are enough to see the answers
    "drpo-base": ["--base_backend", "llamacpp", "--base_model_name", "{base_model}",
                  "--base_prompt_format", "completion", "--eval_model_name", "sim",
                  "--metrics_model_name", "sim", "--optimize_model_name", "sim", "--depth", "1",
                  "--beam_size", "1", "--n_actions", "2", "--max_depth_increase", "1",
                  "--max_tokens", "256"],
    "promptagent": ["--method", "promptagent", "--task", "object_counting", "--data_dir",
                    str(BIGBENCH), "--search", "greedy", "--depth", "1", "--expand_width", "1",
                    "--batch_size", "3", "--eval_size", "6", "--test_size", "6"],
    "gpo": ["--method", "gpo", "--task", "object_counting", "--data_dir", str(BIGBENCH),
            "--depth", "1", "--n_candidates", "2", "--eval_size", "6", "--test_size", "6"],
}  # fmt: skip
FIRST_TRY_TARGET = 0.9


def run(method: str, gguf: Path, log_dir: Path, timeout_s: float,
        base_model: Path | None = None) -> dict[str, Any]:  # fmt: skip
    """`python train.py` for `method`: every role on `gguf`, or (``drpo-base``) the base
    role on `base_model` and the others on the simulated LLM."""
    if method == "drpo-base":
        models = [a.replace("{base_model}", str(base_model)) for a in RUNS[method]]
    else:
        models = ["--model_path", str(gguf), *RUNS[method]]
    argv = [sys.executable, "train.py", "--log_dir", str(log_dir), "--disable_tqdm", *models]
    done = run_process(argv, env=child_env(), timeout_s=timeout_s)
    err = done.stderr if done.returncode >= 0 else f"killed after {timeout_s:g} s (a hang?)"
    return {"method": method, "returncode": done.returncode, "stderr": err.strip()[-500:],
            "wall_s": round(done.wall_s, 1), "log_dir": str(log_dir)}  # fmt: skip


def check(method: str, row: dict[str, Any]) -> list[str]:
    """What is wrong with a finished run (empty when nothing is); fills in its figures."""
    log_dir = Path(row["log_dir"])
    if row["returncode"] != 0:
        return [f"exit code {row['returncode']}: {row['stderr']}"]
    family = "drpo" if method.startswith("drpo") else method
    problems = [f"missing {name}" for name in (*ARTEFACTS, FINAL_PROMPT[family])
                if not (log_dir / name).is_file()]  # fmt: skip
    usage = json.loads((log_dir / "usage.json").read_text())
    total = usage["total"]
    row |= {k: total[k] for k in ("requests", "attempts", "prompt_tokens", "completion_tokens",
                                  "json_answers", "json_first_try", "json_well_formed",
                                  "json_unusable")}  # fmt: skip
    row["servers"] = usage.get("servers", {})
    if total["json_answers"] == 0:
        problems.append("no JSON answer was read")
    for role in usage["roles"]:
        answers = role["json_answers"]
        if not answers:
            continue
        judged = role["role"] in ("metrics", "eval")
        ok = role["json_first_try"] if judged else role["json_well_formed"]
        what = "usable" if judged else "well-formed"
        row[f"{role['role']}_json"] = (
            f"{role['json_first_try']}/{answers} usable, "
            f"{role['json_well_formed']}/{answers} well-formed at the first try"
        )
        if ok < FIRST_TRY_TARGET * answers:
            problems.append(f"{role['role']}: only {ok} of {answers} JSON answers {what} at the "
                            f"first try (target {FIRST_TRY_TARGET:.0%})")  # fmt: skip
    summary = json.loads((log_dir / "summary.json").read_text())
    if method == "drpo-base":
        problems += check_base_answers(log_dir, summary, row)
    if family == "drpo":
        tree = json.loads((log_dir / "algo_output/output.json").read_text())
        errored = [n["state"].get("error") for n in tree["nodes"] if n["state"].get("error")]
        zero = [n for n in tree["nodes"] if n["reward"] == 0]
        row |= {"steps": len(tree["nodes"]), "errored_steps": len(errored),
                "outcome": summary.get("outcome")}  # fmt: skip
        if errored or zero:
            problems.append(f"{len(zero)} step(s) recorded with reward 0, {len(errored)} not "
                            f"evaluated: {errored[:1]}")  # fmt: skip
    else:
        final = "final" if method == "promptagent" else "best"
        row |= {"initial_test": summary["initial_test_accuracy"],
                "final_test": summary[f"{final}_test_accuracy"],
                "test_n": summary["test_difference"]["n"]}  # fmt: skip
    return problems


def check_base_answers(log_dir: Path, summary: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """A real base model's DRPO run: it got the completion format, and no answer is empty."""
    problems = []
    got = summary.get("base_prompt_format", {}).get("format")
    if got != "completion":
        problems.append(f"the base model got the {got!r} prompt format, not completion")
    tree = json.loads((log_dir / "algo_output/output.json").read_text())
    answers = [n["state"]["output"] for n in tree["nodes"] if "output" in n["state"]]
    empty = sum(not a.strip() for a in answers)
    row |= {"base_answers": len(answers), "empty_base_answers": empty,
            "base_answer_example": answers[0][:300] if answers else None}  # fmt: skip
    if not answers or empty:
        problems.append(f"{empty} of {len(answers)} base model answers are empty")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.real_smoke", description=__doc__)
    parser.add_argument("--model", choices=("qwen0.5b", "smollm2"), default="qwen0.5b")
    parser.add_argument("--models_dir", default=None)
    parser.add_argument("--base_model", choices=("gemma3-270m",), default="gemma3-270m",
                        help="drpo-base: the real base model (no chat template)")  # fmt: skip
    parser.add_argument("--methods", default="drpo,promptagent,gpo,drpo-base")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    parser.add_argument("--out", default=str(ROOT / "bench" / "real_smoke.json"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    models_dir = Path(args.models_dir) if args.models_dir else None
    methods = args.methods.split(",")
    try:
        gguf = fetch(args.model, models_dir=models_dir)
        base = fetch(args.base_model, models_dir=models_dir) if "drpo-base" in methods else None
    except FetchError as exc:
        print(f"bench.real_smoke: {exc}", file=sys.stderr)
        return 1
    fetched_s = time.perf_counter() - started
    print(f"real model {args.model} ({gguf.name}) fetched and verified in {fetched_s:.0f} s")
    rows, failures = [], []
    with tempfile.TemporaryDirectory(prefix="real-smoke-") as scratch:
        for method in methods:
            row = run(method, gguf, Path(scratch) / method, args.timeout, base)
            problems = check(method, row)
            row["problems"] = problems
            del row["log_dir"]  # a scratch folder, gone once the smoke test ends
            rows.append(row)
            failures += [f"{method}: {p}" for p in problems]
            print(f"{method:<12} {'ok' if not problems else 'FAILED':<7} {row['wall_s']:>7.1f} s "
                  f"{row.get('requests', 0):>5} calls {row.get('prompt_tokens', 0):>7} prompt + "
                  f"{row.get('completion_tokens', 0):>6} output tokens, JSON at the first try: "
                  f"{row.get('json_first_try', 0)} usable, {row.get('json_well_formed', 0)} "
                  f"well-formed of {row.get('json_answers', 0)}", flush=True)  # fmt: skip
    total_s = time.perf_counter() - started
    report = {"model": args.model, "file": gguf.name, "real": True, "fetch_s": round(fetched_s, 1),
              "total_s": round(total_s, 1), "runs": rows, "failures": failures}  # fmt: skip
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"the real-model runs took {total_s:.0f} s in all (REAL model, not simulated)")
    for failure in failures:
        print(f"bench.real_smoke: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
