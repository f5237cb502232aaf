"""What the arena writes once its runs are done: the table (printed), arena_results.json,
the SVG pictures and report.html, all from the runs' records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from bench.arena import collect, grid, plots, report, results, svg
from drpo.methods.runner import SIMULATED_FIGURES
from search.artifacts import write_atomic

RESULTS = "arena_results.json"
REPORT = "report.html"


def write_outputs(out: Path, spec: grid.Grid, records: Sequence[collect.RunRecord]) -> None:
    """The table (printed), arena_results.json, the SVG files and report.html."""
    table = results.summarise(records, methods=spec.methods, tasks=spec.tasks)
    ranks = results.ranking(table)
    ok = [r for r in records if r.ok]
    simulated = all(r.simulated for r in ok) if ok else not spec.train_args
    label = "SIMULATED LLM" if simulated else "real models"
    budget = ", ".join(
        f"{k.replace('budget_', '').replace('search_', '')} {v:g}" for k, v in spec.budget.items()
    )
    title = (
        f"Arena: {len(spec.methods)} methods x {len(spec.tasks)} task(s) x "
        f"{len(spec.seeds)} seeds, search budget {budget} per run"
    )
    # The anytime curves in the unit of the budget (the first one given).
    flag, limit = next(iter(spec.budget.items()))
    unit = {"budget_calls": "calls", "budget_tokens": "tokens"}.get(flag, "usd")
    curves = plots.curves_by_task(records, methods=spec.methods, tasks=spec.tasks, unit=unit)
    bars = plots.bars_by_task(table)
    figures: dict[str, list[str]] = {}
    files = []
    for task in spec.tasks:
        name = grid.task_label(task)
        drawn = [
            svg.anytime_svg(
                f"Anytime: best accuracy so far vs {unit} ({name})",
                curves[task],
                label=label,
                budget=float(limit),
                unit=unit,
            ),
            svg.bars_svg(f"Test accuracy with 95% CI ({name})", bars.get(task, []), label=label),
        ]
        for kind, text in zip(("anytime", "accuracy"), drawn):
            path = out / f"{kind}_{name}.svg"
            write_atomic(path, text.encode("utf-8"))
            files.append(path.name)
        figures[task] = drawn
    data = {
        "simulated": simulated,
        "label": label,
        "title": title,
        "grid": {
            "methods": list(spec.methods),
            "tasks": list(spec.tasks),
            "seeds": list(spec.seeds),
            **spec.settings(),
        },
        "results": [r.to_json() for r in table],
        "ranking": ranks,
        "plots": {
            "anytime": {t: [c.to_json() for c in cs] for t, cs in curves.items()},
            "bars": {t: [vars(b) for b in bs] for t, bs in bars.items()},
        },
        "figures": files,
        "runs": [r.to_json() for r in records],
    }
    text = json.dumps(data, indent=1, ensure_ascii=False, allow_nan=True)
    write_atomic(out / RESULTS, (text + "\n").encode("utf-8"))
    flags = " ".join(spec.train_args) or "(none: the defaults)"
    settings_text = (
        f"{label}. Runs: {len(records)} ({len(records) - len(ok)} failed). train.py flags: {flags}."
    )
    page = report.render(
        title=title,
        settings_text=settings_text,
        simulated=simulated,
        results=table,
        rankings=ranks,
        figures=figures,
        records=records,
        out=out.resolve(),
    )
    write_atomic(out / REPORT, page.encode("utf-8"))
    print(f"{title} [{label}]")
    print(results.text_table(table))
    for task, methods in ranks.items():
        print(f"ranking on {task}: {', '.join(methods) or '(no finished runs)'}")
    if simulated:
        print(SIMULATED_FIGURES)
    print(f"report: {out / REPORT}; results: {out / RESULTS}; figures: {', '.join(files)}")
