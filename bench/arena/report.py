"""report.html: one self-contained page (no network, no script) with the arena's table, its
rankings, its pictures (the same SVG as the files beside it) and every run, LLM text escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

from bench.arena.collect import RunRecord
from bench.arena.results import HEADER, MethodResult, table_rows

STYLE = """
body { font: 14px system-ui, sans-serif; margin: 16px 24px; color: #222; max-width: 1200px; }
h1 { font-size: 20px; margin: 0 0 6px 0; } h2 { font-size: 16px; margin: 22px 0 8px 0; }
.label { display: inline-block; padding: 3px 8px; font-weight: bold; border-radius: 3px; }
.simulated { background: #fde2e2; color: #900; } .real { background: #e2f4e2; color: #060; }
.meta { color: #555; font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 7px; vertical-align: top; text-align: left; }
th { background: #f4f4f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.figures { display: flex; flex-wrap: wrap; gap: 12px; }
.figures svg { border: 1px solid #eee; max-width: 100%; height: auto; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; max-width: 520px;
  font-size: 12px; }
.failed { color: #b00; }
"""


#: What the anytime curves measure: each search's own figure, not comparable across methods.
ANYTIME_NOTE = (
    "Anytime curves: each method's own estimate of its best prompt so far, on the examples "
    "it selects on (the eval split, a training subset or a bandit's eval minibatches: see "
    "the method's section of the README), so their levels differ in meaning; their shapes "
    "show when a search stops gaining. Compare methods on the test accuracy, measured alike."
)


def _label(simulated: bool) -> str:
    if simulated:
        return ('<span class="label simulated">SIMULATED: every figure here comes from the '
                "simulated LLM, not a language model</span>")  # fmt: skip
    return '<span class="label real">real models</span>'


def _table(results: Sequence[MethodResult]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADER)
    body = []
    for row in table_rows(results):
        cells = [f"<td>{escape(c)}</td>" if i < 2 else f'<td class="num">{escape(c)}</td>'
                 for i, c in enumerate(row)]  # fmt: skip
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _rankings(rankings: Mapping[str, list[str]], results: Sequence[MethodResult]) -> str:
    by_key = {(r.task, r.method): r for r in results}
    items = []
    for task, methods in rankings.items():
        ranked = ", ".join(
            f"{i}. {escape(m)} ({by_key[task, m].accuracy.mean:.3f})"
            for i, m in enumerate(methods, 1)
        )
        items.append(f"<li><b>{escape(task)}</b>: {ranked or '(no finished runs)'}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _runs(records: Sequence[RunRecord], out: Path) -> str:
    rows = []
    for r in records:
        try:
            where = r.log_dir.relative_to(out).as_posix()
        except ValueError:
            where = str(r.log_dir)
        if r.ok:
            cells = [f"{r.final_accuracy:.3f}", f"{r.initial_accuracy:.3f}",
                     f"{r.search_calls:,}", "yes" if r.stopped_on_budget else "no"]  # fmt: skip
            detail = f"<pre>{escape(r.final_prompt)}</pre>"
        else:
            cells = ["-", "-", "-", "-"]
            detail = f'<span class="failed">failed: {escape(r.error or "")}</span>'
        nums = "".join(f'<td class="num">{escape(c)}</td>' for c in cells)
        rows.append(f"<tr><td>{escape(r.cell.method)}</td><td>{escape(r.cell.task)}</td>"
                    f'<td class="num">{r.cell.seed}</td>{nums}'
                    f'<td><a href="{escape(where)}/">{escape(where)}</a></td>'
                    f"<td>{detail}</td></tr>")  # fmt: skip
    head = "".join(f"<th>{h}</th>" for h in ("method", "task", "seed", "test acc", "initial",
                                              "search calls", "stopped on budget", "log_dir",
                                              "final prompt"))  # fmt: skip
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def render(
    *,
    title: str,
    settings_text: str,
    simulated: bool,
    results: Sequence[MethodResult],
    rankings: Mapping[str, list[str]],
    figures: Mapping[str, Sequence[str]],
    records: Sequence[RunRecord],
    out: Path,
) -> str:
    """The page. `figures`: per task, its SVG texts."""
    sections = []
    for task, svgs in figures.items():
        sections.append(
            f'<h2>{escape(task)}</h2><div class="figures">{"".join(svgs)}</div>'
            f'<p class="meta">{ANYTIME_NOTE}</p>'
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{escape(title)}</h1>
<p>{_label(simulated)}</p>
<p class="meta">{escape(settings_text)}</p>
<h2>Results</h2>
<p class="meta">Test accuracy of each run's final prompt: mean over seeds, with a 95% CI from a
two-level bootstrap (seeds, then test examples within each). Gain: final minus initial prompt
on the same test examples, paired. Calls and tokens: the search's, mean per run (the test
scoring of the initial and the final prompt is counted apart). Stopped: runs whose search
ended on the budget.</p>
{_table(results)}
<h2>Ranking per task (test accuracy)</h2>
{_rankings(rankings, results)}
{"".join(sections)}
<h2>Runs</h2>
<p class="meta">Each run is a normal train.py run: open its log_dir with
<code>python visualize_log.py LOG_DIR</code>, or resume it with --resume.</p>
{_runs(records, out)}
</body></html>
"""
