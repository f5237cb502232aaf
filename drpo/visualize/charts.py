"""Line charts as inline SVG, made here so that the page needs no charting library."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22")  # fmt: skip
WIDTH, HEIGHT, PAD, LEGEND = 660, 240, 40, 130


def line_chart(
    title: str, lines: Mapping[str, Sequence[Sequence[float | None]]], *, x_label: str, y_label: str
) -> str:
    """An SVG chart of named (x, y) series; points with y None are gaps."""
    points = [(x, y) for series in lines.values() for x, y in series if y is not None]
    head = f'<figure class="chart"><figcaption>{escape(title)}</figcaption>'
    if not points:
        return head + "<p>(no data)</p></figure>"
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1

    def sx(x: float) -> float:
        return PAD + (x - x0) / (x1 - x0) * (WIDTH - 2 * PAD - LEGEND)

    def sy(y: float) -> float:
        return HEIGHT - PAD - (y - y0) / (y1 - y0) * (HEIGHT - 2 * PAD)

    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD - LEGEND}" y2="{HEIGHT - PAD}" '
        'stroke="#888"/>',
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>',
        f'<text x="{(WIDTH - LEGEND) / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
        f"{escape(x_label)}</text>",
        f'<text x="12" y="{HEIGHT / 2}" transform="rotate(-90 12 {HEIGHT / 2})" '
        f'text-anchor="middle">{escape(y_label)}</text>',
        f'<text x="{PAD - 4}" y="{sy(y1) + 4:.1f}" text-anchor="end">{y1:.3g}</text>',
        f'<text x="{PAD - 4}" y="{sy(y0) + 4:.1f}" text-anchor="end">{y0:.3g}</text>',
        f'<text x="{sx(x0):.1f}" y="{HEIGHT - PAD + 14}" text-anchor="middle">{x0:g}</text>',
        f'<text x="{sx(x1):.1f}" y="{HEIGHT - PAD + 14}" text-anchor="middle">{x1:g}</text>',
    ]
    for i, (name, series) in enumerate(lines.items()):
        color = PALETTE[i % len(PALETTE)]
        segments, current = [], []
        for x, y in series:
            if y is None:
                if current:
                    segments.append(current)
                current = []
            else:
                current.append(f"{sx(x):.1f},{sy(y):.1f}")
        if current:
            segments.append(current)
        for segment in segments:
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                f'points="{" ".join(segment)}"/>'
            )
            parts.extend(
                f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5" fill="{color}"/>'
                for p in segment
            )
        parts.append(
            f'<text x="{WIDTH - LEGEND - PAD + 12}" y="{PAD + 14 * i}" fill="{color}" '
            f'font-size="11">{escape(str(name))}</text>'
        )
    parts.append("</svg></figure>")
    return head + "".join(parts)


def charts(series: Mapping[str, object]) -> str:
    """The page's charts, from `page_data.series`."""
    out = [
        line_chart(
            "Reward per step along the best path",
            {"reward": series.get("rewards") or []},
            x_label="step",
            y_label="reward",
        )
    ]
    if series.get("aspects"):
        out.append(
            line_chart(
                "Aspect scores along the best path",
                series["aspects"],
                x_label="step",
                y_label="score",
            )
        )
    if series.get("iterations"):
        out.append(
            line_chart(
                "MCTS iterations", series["iterations"], x_label="iteration", y_label="value"
            )
        )
    return "\n".join(out)
