"""A hive page's charts (console.admin_pages.chart_svg) keep their text at its size on any
width: no viewBox scales the chart, the time axis is placed in percent, and only the
nested plot stretches (the browser's side: tests/e2e/test_phone.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from console.admin_pages import CHART_HEIGHT, chart_svg

END = datetime(2026, 12, 7, 12, tzinfo=UTC)
START = END - timedelta(days=7)


def _chart(points: list[tuple[datetime, float]]) -> str:
    return str(chart_svg(points, start=START, end=END, title="Weight (kg)", unit="kg", decimals=2))


def test_the_chart_is_drawn_in_pixels_and_only_its_plot_stretches() -> None:
    hourly = [(START + timedelta(hours=h), 40 + h / 100) for h in range(0, 7 * 24, 3)]
    svg = _chart(hourly)
    outer = svg[: svg.index(">")]
    assert "viewBox" not in outer and f'height="{CHART_HEIGHT}"' in outer
    assert 'width="100%"' in outer
    # The plot: its own units, stretched sideways only.
    assert re.search(r'<svg class="plot"[^>]*preserveAspectRatio="none"', svg)
    assert "<polyline" in svg
    # Seven midnights, each labelled at a percentage of the width; the last one near the
    # right edge ends at its tick.
    days = re.findall(r'<text class="axis" x="([0-9.]+)%"', svg)
    assert len(days) == 7 and all(0 <= float(x) <= 100 for x in days)
    assert 'text-anchor="end"' in svg.split('<text class="axis" x=')[-1]
    # Three value labels, with the metric's digits, on top of the plot.
    values = re.findall(r'<text class="axis value"[^>]*>([^<]+)</text>', svg)
    assert len(values) == 3 and all(re.fullmatch(r"\d+\.\d\d kg", v) for v in values), values
    assert svg.rindex('class="axis value"') > svg.index("</svg>")


def test_a_lone_point_is_a_round_dot_that_does_not_stretch() -> None:
    svg = _chart([(END - timedelta(hours=1), 41.0)])
    assert "<circle" not in svg
    assert re.search(r'<line class="line dot" x1="([0-9.]+)" y1="([0-9.]+)" x2="\1" y2="\2"/>', svg)


def test_no_data_says_so_in_the_middle() -> None:
    svg = _chart([])
    assert "No data in this period" in svg and 'x="50%"' in svg
