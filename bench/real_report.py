"""``python -m bench.real_report [FILE]``: the Markdown tables of a real benchmark's results
(default bench/real_results_round2.json), as the README and the docs show them.

    python -m bench.real_report bench/real_results_round2.json

Two tables: one row per run (test accuracy before and after with the paired 95% CI, the
answers in the task's format, the majority baseline, the share of the final answers that are
one answer, and each role's requests: asked, and paid by the run rather than answered from
the answer cache its task and seed share, with the tokens of those paid), and one row per
method and task over its seeds (a two-level bootstrap CI where there are several). Every
figure is labelled with the file's own label: REAL or SIMULATED.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.harness import ROOT

DEFAULT = ROOT / "bench" / "real_results_round2.json"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _gain(d: Mapping[str, float]) -> str:
    return f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"


def _role(row: Mapping[str, Any], role: str) -> Mapping[str, Any]:
    for key, figures in (row.get("per_role") or {}).items():
        if key.split(" ")[0] == role:
            return figures
    return {}


def _requests(figures: Mapping[str, Any]) -> str:
    if not figures:
        return "-"
    asked = figures["calls"] + figures["cache_hits"]
    tokens = figures["prompt_tokens"] + figures["completion_tokens"]
    return f"{asked} asked, {figures['calls']} paid ({tokens / 1000:.1f}k tokens)"


def one_answer_share(row: Mapping[str, Any], which: str) -> float | None:
    """The share of the `which` ("initial" or "final") test answers that are the commonest
    one: near 1, the prompt makes the model give one answer to every question."""
    counts = (row.get("answer_counts") or {}).get(which)
    if not counts:
        return None
    return max(counts.values()) / sum(counts.values())


def runs_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """One row per run."""
    head = ("| run | seed | n | initial | final | final - initial [95% CI] | in format "
            "(initial → final) | majority baseline | final answers on one value | "
            "task model requests | optimiser requests |")  # fmt: skip
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['run']} | {r.get('seed', '-')} | | | | FAILED: "
                         f"{r['error'][:80]} | | | | | |")  # fmt: skip
            continue
        majority = (r.get("majority_answer") or {}).get("accuracy")
        share = one_answer_share(r, "final")
        lines.append(
            f"| {r['method']} · {r['task']} | {r.get('seed', '-')} | {r['n']} | "
            f"{r['initial']:.3f} | {r['final']:.3f} | {_gain(r['diff'])} | "
            f"{_share(r.get('initial_format_share'))} → {_share(r.get('final_format_share'))} | "
            f"{_share(majority)} | {_share(share)} | {_requests(_role(r, 'base'))} | "
            f"{_requests(_role(r, 'optimize'))} |"
        )
    return "\n".join(lines)


def pooled_table(groups: Sequence[Mapping[str, Any]]) -> str:
    """One row per method and task, over its seeds."""
    lines = ["| method | task | seeds | initial | final | gain [95% CI] | CI excludes 0 | "
             "in format (initial → final) | majority baseline |", "|" + "---|" * 9]  # fmt: skip
    for g in groups:
        lines.append(
            f"| {g['method']} | {g['task']} | {', '.join(map(str, g['seeds']))} | "
            f"{g['initial']:.3f} | {g['final']:.3f} | {_gain(g['gain'])} | "
            f"{'yes' if g['ci_excludes_0'] else 'no'} | "
            f"{_share(g.get('initial_format_share'))} → {_share(g.get('final_format_share'))} | "
            f"{_share(g.get('majority_baseline'))} |"
        )
    return "\n".join(lines)


def markdown(report: Mapping[str, Any]) -> str:
    """Both tables with a line saying what they are."""
    label = "SIMULATED" if report.get("simulated") else "REAL"
    done = [r for r in report.get("runs", []) if "error" not in r]
    intro = (f"{label}: {report.get('model')}; {len(done)} finished run(s), test split "
             f"n = {report.get('test_size', '?')} per run, eval split n = "
             f"{report.get('eval_size', '?')}; {report.get('date', '')}.")  # fmt: skip
    parts = [intro, "", runs_table(report.get("runs", []))]
    if report.get("by_method_task"):
        parts += ["", pooled_table(report["by_method_task"])]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.real_report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", nargs="?", default=str(DEFAULT), help="a bench.real results file")
    args = parser.parse_args(argv)
    try:
        report = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"bench.real_report: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    if not isinstance(report, dict) or "runs" not in report:
        print(f"bench.real_report: {args.file} is not a bench.real results file", file=sys.stderr)
        return 2
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
