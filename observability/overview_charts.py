"""Bar charts of the start page drawn as inline SVG on the server: no chart library, no script,
nothing fetched, so they render on an admin with no internet access."""

from __future__ import annotations

from html import escape

from django.utils import timezone

from observability.overview_selectors import Chart

WIDTH = 460
HEIGHT = 200
LEFT = 40
RIGHT = 10
TOP = 40
BOTTOM = 34
COLOURS = ("#417690", "#e0a030", "#ba2121")


def _nice_ceiling(value: int) -> int:
    if value <= 10:  # even, so the middle gridline is a whole number
        return max(value + value % 2, 2)
    magnitude = 10 ** (len(str(value)) - 1)
    for factor in (1, 2, 4, 6, 8, 10):
        ceiling = int(factor * magnitude)
        if ceiling >= value:
            return ceiling
    return value


def bar_chart_svg(chart: Chart) -> str:
    """Grouped bars, one group per bucket; each bar carries its figure in a <title> (the
    browser's tooltip) and in data attributes, so tests and readers need no pixels."""
    buckets = len(chart.buckets)
    peak = _nice_ceiling(max((max(s.values, default=0) for s in chart.series), default=0))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    group = plot_width / max(buckets, 1)
    bar = max((group - 2) / max(len(chart.series), 1), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="overview-chart" role="img" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'font-family="sans-serif" font-size="10">',
        f"<title>{escape(chart.title)}</title>",
        f'<text x="{LEFT}" y="14" font-size="12" font-weight="bold">{escape(chart.title)}</text>',
    ]
    legend_x = LEFT
    for index, series in enumerate(chart.series):  # a line under the title
        label = f"{series.name} ({sum(series.values):,})"
        parts.append(
            f'<rect x="{legend_x}" y="20" width="9" height="9" fill="{COLOURS[index % 3]}"/>'
            f'<text x="{legend_x + 12}" y="28">{escape(label)}</text>'
        )
        legend_x += 24 + 6 * len(label)
    base = TOP + plot_height
    for fraction in (0, 0.5, 1):
        y = base - plot_height * fraction
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 4}" y="{y + 3:.1f}" text-anchor="end" fill="#666">'
            f"{int(peak * fraction):,}</text>"
        )
    label_every = max(buckets // 6, 1)
    for position, start in enumerate(chart.buckets):
        x0 = LEFT + position * group + 1
        when = timezone.localtime(start).strftime(chart.bucket_format)
        for index, series in enumerate(chart.series):
            value = series.values[position]
            height = plot_height * value / peak if peak else 0
            parts.append(
                f'<rect class="bar" data-series="{escape(series.name)}" data-value="{value}" '
                f'x="{x0 + index * bar:.1f}" y="{base - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{COLOURS[index % 3]}">'
                f"<title>{escape(when)}: {value:,} {escape(series.name)}</title></rect>"
            )
        if position % label_every == 0:
            parts.append(
                f'<text x="{x0 + group / 2:.1f}" y="{base + 14}" text-anchor="middle" '
                f'fill="#666">{escape(when)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)
