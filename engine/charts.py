"""Small bar charts as SVG, drawn on the server: no scripts, no styles, readable on paper.

Each chart is one `<svg role="img">` with a `<title>` and a `<desc>` (named by aria-labelledby),
a `<title>` on every bar (its label and value, a tooltip on screen), values written beside the
bars, and only presentation attributes (no `<style>`, so a strict Content-Security-Policy lets it
be inlined). The second series of a grouped chart is hatched, so the two still differ in black
and white. Callers pass the text already in the UI language.
"""
from __future__ import annotations

import math
import unicodedata
from typing import Callable, Optional, Sequence
from xml.sax.saxutils import escape, quoteattr

INK = "#1d2733"
MUTED = "#5d6b7a"
GRID = "#dfe4ea"
COLORS = ("#1b4f8f", "#1e7b46")  # first series solid, second hatched
FONT = 12.0


def _width(text: str, size: float = FONT) -> float:
    """Rough drawn width of a text: CJK characters one em, others about 0.6 em."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else size * 0.6 for ch in text)


def _fit(text: str, max_width: float, size: float = FONT) -> str:
    if _width(text, size) <= max_width:
        return text
    while text and _width(text + "…", size) > max_width:
        text = text[:-1]
    return text + "…"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open(chart_id: str, width: float, height: float, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id={quoteattr(chart_id)} role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {_num(width)} {_num(height)}" '
        f'width="{_num(width)}" height="{_num(height)}" font-size="{_num(FONT)}">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]


def _empty(chart_id: str, title: str, message: str, width: float) -> str:
    parts = _open(chart_id, width, 80, title, message)
    parts.append(f'<rect x="0.5" y="0.5" width="{_num(width - 1)}" height="79" fill="#ffffff" stroke="{GRID}" '
                 'stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{_num(width / 2)}" y="45" text-anchor="middle" fill="{MUTED}">{escape(message)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def nice_step(top: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) that divides 0..top into about `ticks` parts."""
    if top <= 0:
        return 1.0
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def bar_chart(chart_id: str, title: str, bars: Sequence[tuple[str, float]], *, desc: str = "",
              value_text: Callable[[float], str] = _num, empty: str = "—", width: float = 640,
              color: str = COLORS[0]) -> str:
    """A horizontal bar chart: one labelled bar per (label, value), values written at the bar ends."""
    if not bars:
        return _empty(chart_id, title, empty, width)
    bar_height, gap, top_pad = 22.0, 10.0, 8.0
    label_width = min(max(_width(label) for label, _ in bars) + 12, width * 0.42)
    value_width = max(_width(value_text(value)) for _, value in bars) + 12
    plot = max(width - label_width - value_width, 40)
    biggest = max((value for _, value in bars), default=0) or 1
    height = top_pad * 2 + len(bars) * (bar_height + gap) - gap
    parts = _open(chart_id, width, height, title, desc or title)
    parts.append(f'<line x1="{_num(label_width)}" y1="0" x2="{_num(label_width)}" y2="{_num(height)}" '
                 f'stroke="{MUTED}" stroke-width="1"/>')
    for index, (label, value) in enumerate(bars):
        y = top_pad + index * (bar_height + gap)
        length = max(plot * (value / biggest), 0) if value > 0 else 0
        shown = value_text(value)
        parts.append(f'<g class="bar"><title>{escape(label)}: {escape(shown)}</title>')
        parts.append(f'<text x="{_num(label_width - 8)}" y="{_num(y + bar_height / 2 + 4)}" text-anchor="end" '
                     f'fill="{INK}">{escape(_fit(label, label_width - 12))}</text>')
        parts.append(f'<rect x="{_num(label_width)}" y="{_num(y)}" width="{_num(max(length, 1))}" '
                     f'height="{_num(bar_height)}" fill="{color}" stroke="{INK}" stroke-width="0.5"/>')
        parts.append(f'<text x="{_num(label_width + length + 6)}" y="{_num(y + bar_height / 2 + 4)}" '
                     f'fill="{INK}" font-weight="bold">{escape(shown)}</text></g>')
    parts.append("</svg>")
    return "\n".join(parts)


def grouped_bar_chart(chart_id: str, title: str, categories: Sequence[str],
                      series: Sequence[tuple[str, Sequence[float]]], *, desc: str = "",
                      value_text: Callable[[float], str] = _num, axis_text: Optional[Callable[[float], str]] = None,
                      empty: str = "—", width: float = 640, height: float = 300) -> str:
    """Vertical bars per category, one bar per series side by side, a legend and a value axis."""
    if not categories or not series:
        return _empty(chart_id, title, empty, width)
    axis_text = axis_text or value_text
    top_value = max((v for _, values in series for v in values), default=0)
    step = nice_step(top_value)
    top = step * max(1, math.ceil(top_value / step)) if top_value > 0 else step
    ticks = [step * i for i in range(int(round(top / step)) + 1)]
    left = max(_width(axis_text(t), 11) for t in ticks) + 14
    legend_height, bottom, top_pad, right = 26.0, 26.0, 18.0, 10.0
    plot_w, plot_h = width - left - right, height - legend_height - bottom - top_pad
    y0 = legend_height + top_pad + plot_h
    parts = _open(chart_id, width, height, title, desc or title)
    parts.append('<defs>')
    parts.append(f'<pattern id="{chart_id}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
                 f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
                 f'<rect width="3" height="6" fill="{COLORS[1]}"/></pattern>')
    parts.append('</defs>')
    fills = [COLORS[0], f"url(#{chart_id}-hatch)"]
    x = left
    for index, (name, _values) in enumerate(series[:2]):  # the legend
        parts.append(f'<rect x="{_num(x)}" y="4" width="14" height="14" fill="{fills[index]}" stroke="{INK}" '
                     'stroke-width="0.5"/>')
        parts.append(f'<text x="{_num(x + 20)}" y="16" fill="{INK}">{escape(name)}</text>')
        x += 20 + _width(name) + 24
    for tick in ticks:
        y = y0 - plot_h * (tick / top)
        parts.append(f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(width - right)}" y2="{_num(y)}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{_num(left - 6)}" y="{_num(y + 4)}" text-anchor="end" fill="{MUTED}" '
                     f'font-size="11">{escape(axis_text(tick))}</text>')
    parts.append(f'<line x1="{_num(left)}" y1="{_num(y0)}" x2="{_num(width - right)}" y2="{_num(y0)}" '
                 f'stroke="{INK}" stroke-width="1"/>')
    group_w = plot_w / len(categories)
    bar_w = min(48.0, group_w * 0.8 / len(series[:2]))
    for c_index, category in enumerate(categories):
        start = left + group_w * c_index + (group_w - bar_w * len(series[:2])) / 2
        for s_index, (name, values) in enumerate(series[:2]):
            value = values[c_index] if c_index < len(values) else 0
            h = plot_h * (value / top) if value > 0 else 0
            bx = start + s_index * bar_w
            shown = value_text(value)
            parts.append(f'<g class="bar"><title>{escape(category)} {escape(name)}: {escape(shown)}</title>')
            parts.append(f'<rect x="{_num(bx)}" y="{_num(y0 - h)}" width="{_num(bar_w - 2)}" '
                         f'height="{_num(max(h, 0.5))}" fill="{fills[s_index]}" stroke="{INK}" stroke-width="0.5"/>')
            parts.append(f'<text x="{_num(bx + (bar_w - 2) / 2)}" y="{_num(y0 - h - 4)}" text-anchor="middle" '
                         f'fill="{INK}" font-size="10.5">{escape(shown)}</text></g>')
        parts.append(f'<text x="{_num(left + group_w * (c_index + 0.5))}" y="{_num(y0 + 18)}" '
                     f'text-anchor="middle" fill="{INK}">{escape(category)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
