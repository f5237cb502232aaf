"""Drawing the arena's plot data as standalone SVG files (also inlined in the report). Every
text is escaped; every figure carries its provenance label (SIMULATED or real models)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from bench.arena.plots import Bar, Curve
from drpo.visualize.charts import PALETTE

WIDTH, HEIGHT = 720, 360
UNITS = {"calls": "calls", "tokens": "tokens", "usd": "US dollars"}
LEFT, RIGHT, TOP, BOTTOM = 64, 170, 48, 56


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if high <= low:
        low, high = low - 0.05, low + 0.05
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    step = next(m * step for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.floor(low / step) * step
    values = [round(first + i * step, 10) for i in range(count + 3)]
    return [v for v in values if v - step < high - 1e-9]  # the last one reaches `high`


def _open(title: str, label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12" '
        f'role="img" aria-label="{escape(title)}">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<text x="{WIDTH - 12}" y="22" text-anchor="end" font-size="13" font-weight="bold" '
        f'fill="#b00">{escape(label)}</text>',
    ]


def _axes(
    x_label: str, y_label: str, y_ticks: list[float], sy: object, x_ticks: list[tuple[float, str]]
) -> list[str]:
    bottom, right = HEIGHT - BOTTOM, WIDTH - RIGHT
    parts = []
    for value in y_ticks:
        y = sy(value)  # type: ignore[operator]
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
    for x, text in x_ticks:
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" '
                     'stroke="#888"/>')  # fmt: skip
        parts.append(f'<text x="{x:.1f}" y="{bottom + 17}" text-anchor="middle">'
                     f"{escape(text)}</text>")  # fmt: skip
    parts += [
        f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#888"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#888"/>',
        f'<text x="{(LEFT + right) / 2}" y="{HEIGHT - 14}" text-anchor="middle">'
        f"{escape(x_label)}</text>",
        f'<text x="16" y="{(TOP + bottom) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 16 {(TOP + bottom) / 2})">{escape(y_label)}</text>',
    ]
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    x = WIDTH - RIGHT + 16
    parts = []
    for i, name in enumerate(names):
        y = TOP + 8 + 18 * i
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="{y - 9}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{x + 18}" y="{y + 1}">{escape(name)}</text>')
    return parts


def anytime_svg(
    title: str,
    curves: Sequence[Curve],
    *,
    label: str,
    budget: float | None = None,
    unit: str = "calls",
) -> str:
    """Lines of best eval accuracy so far against the search's spend in `unit`, one per
    method; a dashed vertical line marks the budget."""
    points = [p for c in curves for p in c.points]
    parts = _open(title, label)
    if not points:
        parts.append(f'<text x="{LEFT}" y="{HEIGHT / 2}">(no anytime trace)</text></svg>')
        return "\n".join(parts)
    x_high = max([p[0] for p in points] + ([budget] if budget else []))
    y_ticks = _ticks(min(p[1] for p in points), max(p[1] for p in points))
    y_low, y_high = y_ticks[0], y_ticks[-1]
    x_ticks_values = _ticks(0, x_high)
    x_high = max(x_high, x_ticks_values[-1])

    def sx(x: float) -> float:
        return LEFT + x / x_high * (WIDTH - RIGHT - LEFT)

    def sy(y: float) -> float:
        return HEIGHT - BOTTOM - (y - y_low) / (y_high - y_low or 1) * (HEIGHT - BOTTOM - TOP)

    x_label = f"search {UNITS.get(unit, unit)} spent"
    parts += _axes(x_label, "best accuracy so far, own estimate (mean over seeds)", y_ticks, sy,
                   [(sx(v), f"{v:g}") for v in x_ticks_values])  # fmt: skip
    if budget:
        parts.append(f'<line x1="{sx(budget):.1f}" y1="{TOP}" x2="{sx(budget):.1f}" '
                     f'y2="{HEIGHT - BOTTOM}" stroke="#555" stroke-dasharray="5,4"/>')  # fmt: skip
        parts.append(f'<text x="{sx(budget):.1f}" y="{TOP - 4}" text-anchor="middle" '
                     f'fill="#555">budget {budget:g}</text>')  # fmt: skip
    for i, curve in enumerate(curves):
        color = PALETTE[i % len(PALETTE)]
        path = []
        for j, (x, y) in enumerate(curve.points):  # a step function: it holds until the next
            if j:
                path.append(f"{sx(x):.1f},{sy(curve.points[j - 1][1]):.1f}")
            path.append(f"{sx(x):.1f},{sy(y):.1f}")
        if path:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2.2" '
                         f'points="{" ".join(path)}"/>')  # fmt: skip
        for x, y in curve.points:
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
    parts += _legend([c.method if c.points else f"{c.method} (no eval figure)" for c in curves])
    parts.append("</svg>")
    return "\n".join(parts)


def bars_svg(title: str, bars: Sequence[Bar], *, label: str) -> str:
    """Test accuracy per method with its 95% CI as an error bar."""
    parts = _open(title, label)
    if not bars:
        parts.append(f'<text x="{LEFT}" y="{HEIGHT / 2}">(no finished runs)</text></svg>')
        return "\n".join(parts)
    y_ticks = _ticks(0, max(1e-9, max(b.ci_high for b in bars)))
    y_high = y_ticks[-1]

    def sy(y: float) -> float:
        return HEIGHT - BOTTOM - y / y_high * (HEIGHT - BOTTOM - TOP)

    slot = (WIDTH - RIGHT - LEFT) / len(bars)
    width = min(60.0, slot * 0.6)
    centres = [LEFT + slot * (i + 0.5) for i in range(len(bars))]
    parts += _axes("method", "test accuracy (95% CI over seeds and examples)", y_ticks, sy,
                   [(x, b.method) for x, b in zip(centres, bars)])  # fmt: skip
    for i, (x, bar) in enumerate(zip(centres, bars)):
        color = PALETTE[i % len(PALETTE)]
        top = sy(bar.mean)
        parts.append(f'<rect x="{x - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
                     f'height="{HEIGHT - BOTTOM - top:.1f}" fill="{color}" '
                     'opacity="0.85"/>')  # fmt: skip
        low, high = sy(bar.ci_low), sy(bar.ci_high)
        parts.append(f'<line x1="{x:.1f}" y1="{low:.1f}" x2="{x:.1f}" y2="{high:.1f}" '
                     'stroke="#222" stroke-width="1.5"/>')  # fmt: skip
        for y in (low, high):
            parts.append(f'<line x1="{x - 8:.1f}" y1="{y:.1f}" x2="{x + 8:.1f}" y2="{y:.1f}" '
                         'stroke="#222" stroke-width="1.5"/>')  # fmt: skip
        parts.append(f'<text x="{x + width / 2 + 3:.1f}" y="{top - 4:.1f}" '
                     f'font-size="11">{bar.mean:.3f}</text>')  # fmt: skip
    parts += _legend([b.method for b in bars])
    parts.append("</svg>")
    return "\n".join(parts)
