"""Charts of the staff dashboard, drawn on the server as inline SVG: no script, no library, no network.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described by its ``<desc>`` (which lists the
values, so a screen reader gets the figures, not just the picture). Every text is escaped; coordinates are
computed with Decimal (no float reaches an amount).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 16, 46
COLOURS = ("#2b6cb0", "#dd6b20", "#2f855a", "#9b2c2c")


def _q(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _scale(values: Sequence[Decimal | None]) -> Decimal:
    top = max([abs(v) for v in values if v is not None] or [Decimal(0)])
    return top if top > 0 else Decimal(1)


def _frame(chart_id: str, title: str, desc: str, body: SafeString, legend: Sequence[str], top: Decimal,
           unit: str) -> SafeString:
    plot_h = Decimal(HEIGHT - TOP - BOTTOM)
    grid = format_html_join("", '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
                                '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>', (
        (LEFT, WIDTH - RIGHT, _q(TOP + plot_h * (1 - Decimal(k) / 4)), _q(TOP + plot_h * (1 - Decimal(k) / 4)),
         LEFT - 4, _q(TOP + plot_h * (1 - Decimal(k) / 4) + 4), _tick(top * k / 4))
        for k in range(5)))
    keys = format_html_join("", '<rect x="{}" y="{}" width="10" height="10" fill="{}"/>'
                                '<text x="{}" y="{}" class="axis">{}</text>', (
        (LEFT + 150 * i, HEIGHT - 12, COLOURS[i % len(COLOURS)], LEFT + 150 * i + 14, HEIGHT - 3, name)
        for i, name in enumerate(legend)))
    return format_html(
        '<svg class="duly-chart" id="{id}" role="img" aria-labelledby="{id}-title {id}-desc" '
        'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" '
        'xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>'
        '<text x="4" y="12" class="axis">{unit}</text>{grid}{body}{keys}</svg>',
        id=chart_id, w=WIDTH, h=HEIGHT, title=title, desc=desc, unit=unit, grid=grid, body=body, keys=keys)


def _tick(value: Decimal) -> str:
    if value >= 1_000_000:
        return f"{(value / 1_000_000).quantize(Decimal('0.1'))}M"
    if value >= 10_000:
        return f"{(value / 1000).quantize(Decimal('1'))}k"
    return str(value.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _finish(chart_id: str, title: str, labels: Sequence[str], series, parts: list, step: Decimal, top: Decimal,
            unit: str) -> SafeString:
    """The labels under each slot of width ``step``, the description listing every value, and the frame."""
    for i, label in enumerate(labels):
        parts.append(format_html('<text x="{}" y="{}" class="axis" text-anchor="middle">{}</text>',
                                 _q(LEFT + step * i + step / 2), HEIGHT - BOTTOM + 14, label))
    desc = "; ".join(f"{name}: " + ", ".join(f"{labels[i]} {'—' if v is None else v}" for i, v in enumerate(values))
                     for name, values in series)
    return _frame(chart_id, title, desc, mark_safe("".join(parts)), [n for n, _ in series] if len(series) > 1 else [],
                  top, unit)


def bar_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[Decimal]]],
              *, unit: str = "") -> SafeString:
    """Grouped vertical bars: one group per label, one bar per series (negative values drawn as zero)."""
    top = _scale([v for _, values in series for v in values])
    plot_w, plot_h = Decimal(WIDTH - LEFT - RIGHT), Decimal(HEIGHT - TOP - BOTTOM)
    group = plot_w / max(len(labels), 1)
    bar = group * Decimal("0.8") / max(len(series), 1)
    parts = []
    for s, (name, values) in enumerate(series):
        for i, value in enumerate(values):
            h = plot_h * max(value, Decimal(0)) / top
            parts.append(format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {} {}</title></rect>',
                _q(LEFT + group * i + group * Decimal("0.1") + bar * s), _q(TOP + plot_h - h), _q(bar), _q(h),
                COLOURS[s % len(COLOURS)], labels[i], name, value))
    return _finish(chart_id, title, labels, series, parts, group, top, unit)


def line_chart(chart_id: str, title: str, labels: Sequence[str],
               series: Sequence[tuple[str, Sequence[Decimal | None]]], *, unit: str = "") -> SafeString:
    """One line per series over the labels; a missing value (None) breaks the line."""
    top = _scale([v for _, values in series for v in values])
    plot_w, plot_h = Decimal(WIDTH - LEFT - RIGHT), Decimal(HEIGHT - TOP - BOTTOM)
    step = plot_w / max(len(labels), 1)
    parts = []
    for s, (name, values) in enumerate(series):
        colour = COLOURS[s % len(COLOURS)]
        points = []
        for i, value in enumerate(values):
            if value is None:
                if len(points) > 1:
                    parts.append(format_html('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>',
                                             colour, " ".join(points)))
                points = []
                continue
            x, y = _q(LEFT + step * i + step / 2), _q(TOP + plot_h - plot_h * max(value, Decimal(0)) / top)
            points.append(f"{x},{y}")
            parts.append(format_html('<circle cx="{}" cy="{}" r="3" fill="{}"><title>{}: {} {}</title></circle>',
                                     x, y, colour, labels[i], name, value))
        if len(points) > 1:
            parts.append(format_html('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>',
                                     colour, " ".join(points)))
    return _finish(chart_id, title, labels, series, parts, step, top, unit)
