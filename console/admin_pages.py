"""The data of the console's pages beyond Django's own: the overview (the admin's start
page, console.admin_site.BeeAdminSite.index) and the panels of a hive's page
(HiveAdmin.render_change_form), with their charts drawn here as inline SVG.

Everything is read through the selectors, scoped to the requesting user: their own
apiaries and those shared with them (superusers: all). The overview costs one query on
``default`` (hives with their queen, last inspection, role and the user's open alerts)
and one on ``telemetry`` (telemetry.overview), whatever the number of hives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.contrib.postgres.expressions import ArraySubquery
from django.db import DatabaseError
from django.db.models import OuterRef, Q
from django.db.models.functions import JSONObject
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from apiary import selectors
from apiary.event_details import details_summary
from apiary.models import Apiary, Event, Hive, QueenBee
from apiary.season import apiary_hives, apiary_totals, hives_season, year_bounds
from core.exceptions import is_unavailable
from telemetry.validation import METRIC_BY_NAME, METRIC_TABLE

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

    from apiary.selectors import HiveListAnnotations

    class _OverviewAnnotations(HiveListAnnotations):
        open_alerts: list[dict[str, Any]] | None

    OverviewHive = WithAnnotations[Hive, _OverviewAnnotations]

logger = logging.getLogger("beeapi.errors")
T = TypeVar("T")

# A sensor not heard from for longer than this is marked stale.
STALE_AFTER = timedelta(hours=1)
RECENT_EVENTS = 10
# Charts draw no line across a longer gap between hourly points: the sensor was silent.
OUTAGE = timedelta(hours=3)
CHART_HEIGHT = 180  # pixels, whatever the chart's width

_WEIGHT = METRIC_BY_NAME["weight"]
# The sensor's own health, shown compactly in one "Sensor" column (only what the device
# sends) rather than as columns of their own: many sensors send none of them.
HEALTH_METRICS = ("battery", "rssi", "snr")
_COLUMN_METRICS = tuple(m for m in METRIC_TABLE if m.name not in HEALTH_METRICS)


def format_value(value: float | None, unit: str, decimals: int, *, signed: bool = False) -> str:
    """``35.1 °C``, ``+0.42 kg``; an en dash for no value."""
    if value is None:
        return "–"
    text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
    return f"{text.replace('-', '−')} {unit}"  # a real minus sign


def metric_text(metric: str, value: float | None, *, signed: bool = False) -> str:
    shown = METRIC_BY_NAME[metric]
    return format_value(value, shown.unit, shown.decimals, signed=signed)


# --- Inline SVG charts ------------------------------------------------------------------

Point = tuple[datetime, float]


def _segments(points: Sequence[Point], gap: timedelta) -> list[list[Point]]:
    """``points`` (oldest first) split where no data came for longer than ``gap``: a
    line is never drawn across an outage."""
    segments: list[list[Point]] = []
    for point in points:
        if segments and point[0] - segments[-1][-1][0] <= gap:
            segments[-1].append(point)
        else:
            segments.append([point])
    return segments


@dataclass(frozen=True)
class _Frame:
    start: datetime
    end: datetime
    low: float
    high: float
    left: float
    top: float
    width: float
    height: float

    def x(self, when: datetime) -> float:
        span = (self.end - self.start).total_seconds() or 1.0
        return self.left + self.width * (when - self.start).total_seconds() / span

    def y(self, value: float) -> float:
        return self.top + self.height * (self.high - value) / ((self.high - self.low) or 1.0)


def _value_range(values: Iterable[float], min_span: float) -> tuple[float, float]:
    values = list(values)
    low, high = min(values), max(values)
    if high - low < min_span:  # a flat line sits in the middle, not on an edge
        middle = (low + high) / 2
        low, high = middle - min_span / 2, middle + min_span / 2
    pad = (high - low) * 0.08
    return low - pad, high + pad


def _paths(
    frame: _Frame, points: Sequence[Point], gap: timedelta, css: str, *, dot: str = "circle"
) -> list[str]:
    """Polylines of ``points``, broken at gaps; a lone point as a dot: a circle, or (in a
    plot that stretches, where a circle would too) a line of no length with round caps."""
    out = []
    for segment in _segments(points, gap):
        if len(segment) == 1:
            when, value = segment[0]
            x, y = f"{frame.x(when):.1f}", f"{frame.y(value):.1f}"
            if dot == "circle":
                out.append(f'<circle class="{css}" cx="{x}" cy="{y}" r="1.5"/>')
            else:
                out.append(f'<line class="{css} dot" x1="{x}" y1="{y}" x2="{x}" y2="{y}"/>')
        else:
            coords = " ".join(f"{frame.x(t):.1f},{frame.y(v):.1f}" for t, v in segment)
            out.append(f'<polyline class="{css}" points="{coords}"/>')
    return out


def sparkline_svg(
    points: Sequence[Point], *, start: datetime, end: datetime, unit: str = _WEIGHT.unit
) -> SafeString:
    """A small chart of ``points`` (oldest first) over [start, end], no axes: the
    overview's weight trend. Its title and label give the range in words."""
    width, height = 140, 34
    if not points:
        return mark_safe(
            f'<svg class="bee-spark empty" width="{width}" height="{height}"'
            f' viewBox="0 0 {width} {height}" role="img"'
            f' aria-label="no weight data"><title>No weight data in this period</title>'
            f'<line x1="2" y1="{height / 2}" x2="{width - 2}" y2="{height / 2}"/></svg>'
        )
    low, high = _value_range((v for _, v in points), 0.5)
    frame = _Frame(start, end, low, high, 2, 3, width - 4, height - 6)
    values = [v for _, v in points]
    label = escape(
        f"{_WEIGHT.label}, last {(end - start).days} days: "
        f"{min(values):.1f}–{max(values):.1f} {unit}, now {values[-1]:.1f} {unit}"
    )
    body = "".join(_paths(frame, points, OUTAGE, "line"))
    return mark_safe(
        f'<svg class="bee-spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{label}"><title>{label}</title>{body}</svg>'
    )


def chart_svg(
    points: Sequence[Point],
    *,
    start: datetime,
    end: datetime,
    title: str,
    unit: str,
    decimals: int = 1,
    band: Sequence[tuple[datetime, float, float]] = (),
    css: str = "",
    ticks: str = "day",
) -> SafeString:
    """A chart of hourly ``points`` (oldest first) over [start, end] with a min–max
    ``band``, a value axis in ``unit`` and a tick at each midnight of the active time zone, the
    reader's (``ticks="month"``: at each month's first day, for a season's chart).

    Its text never scales with the chart, so labels stay readable on a phone: the chart
    is as wide as its box and CHART_HEIGHT pixels tall, without a viewBox (a unit is a
    pixel); the time axis is placed in percent of the width; the lines are drawn in a
    nested plot that only stretches sideways (its strokes do not, console.css); the
    value labels sit inside the plot, above their grid lines."""
    height, top, bottom = CHART_HEIGHT, 22, 22
    plot_w, plot_h = 1000, height - top - bottom  # the plot's own units: per mille, pixels
    label = escape(title)
    head = (
        f'<svg class="bee-chart {escape(css)}" width="100%" height="{height}" role="img"'
        f' aria-label="{label}">'
        f"<title>{label}</title>"
        f'<text class="chart-title" x="0" y="14">{label}</text>'
    )
    if not points:
        return mark_safe(
            head + f'<text class="chart-empty" x="50%" y="{top + plot_h / 2}"'
            ' text-anchor="middle">No data in this period</text></svg>'
        )
    values = [v for _, v in points] + [v for _, lo, hi in band for v in (lo, hi)]
    low, high = _value_range(values, 1.0 if unit != _WEIGHT.unit else 0.5)
    frame = _Frame(start, end, low, high, 0, 0, plot_w, plot_h)
    parts = [head]
    labels = []
    # Value axis: three labelled grid lines.
    for value in (high, (low + high) / 2, low):
        y = top + frame.y(value)
        text = escape(format_value(value, unit, decimals))
        parts.append(f'<line class="grid" x1="0" y1="{y:.1f}" x2="100%" y2="{y:.1f}"/>')
        above = y - 3 if y - 3 > top + 10 else y + 12  # the top line's label goes below it
        labels.append(f'<text class="axis value" x="2" y="{above:.1f}">{text}</text>')
    # Time axis: local midnights, or the first days of months (each made aware on its
    # own: a day is 23 or 25 hours long where the clocks change).
    zone = timezone.get_current_timezone()
    date = timezone.localtime(start, zone).date()
    while (day := datetime.combine(date, time.min, tzinfo=zone)) <= end:
        if day >= start and (ticks == "day" or day.day == 1):
            x = frame.x(day) / plot_w * 100
            tick = f"{day:%b}" if ticks == "month" else f"{day:%a %d}"
            # Near the right edge the label ends at its tick instead of starting there.
            place = 'text-anchor="end" dx="-3"' if x > 90 else 'dx="3"'
            parts.append(
                f'<line class="grid day" x1="{x:.2f}%" y1="{top}" x2="{x:.2f}%" y2="{top + plot_h}"/>'
                f'<text class="axis" x="{x:.2f}%" {place} y="{height - 6}">{tick}</text>'
            )
        date += timedelta(days=1)
    parts.append(
        f'<svg class="plot" x="0" y="{top}" width="100%" height="{plot_h}"'
        f' viewBox="0 0 {plot_w} {plot_h}" preserveAspectRatio="none" overflow="visible">'
    )
    gap = OUTAGE
    for segment in _segments([(t, lo) for t, lo, _ in band], gap):
        highs = [(t, hi) for t, _, hi in band if segment[0][0] <= t <= segment[-1][0]]
        if len(segment) > 1:
            outline = [*highs, *reversed(segment)]
            coords = " ".join(f"{frame.x(t):.1f},{frame.y(v):.1f}" for t, v in outline)
            parts.append(f'<polygon class="band" points="{coords}"/>')
    parts += _paths(frame, points, gap, "line", dot="line")
    parts.append("</svg>")
    parts += labels  # over the lines
    parts.append("</svg>")
    return mark_safe("".join(parts))


# --- The overview -----------------------------------------------------------------------


def _telemetry(read: Callable[[], T], fallback: T) -> tuple[T, bool]:
    """``read()`` and True; ``fallback`` and False when the telemetry database cannot be
    reached: the console's pages go on without readings (core.exceptions.is_unavailable),
    as the rest of BeeAPI degrades only what needs the telemetry database."""
    try:
        return read(), True
    except DatabaseError as exc:
        if not is_unavailable(exc):
            raise
        logger.warning("telemetry unavailable for the console: %s", exc)
        return fallback, False


@dataclass
class HiveRow:
    hive: Hive
    admin_url: str
    live_url: str
    last_heard: datetime | None
    heard: str  # "5 minutes ago"
    stale: bool
    latest: dict[str, str]  # metric -> text, the overview's metric columns in order
    health: list[tuple[str, str, str]]  # (metric, label, text) of the ones the device sent
    weight_change_today: str
    trend_svg: SafeString
    queen: str
    last_inspection: datetime | None
    alerts: list[AlertLine]


@dataclass(frozen=True)
class AlertLine:
    """An open alert on the overview, with its page and, when it is the user's own and
    not yet acknowledged, its "Acknowledge" button (AlertAdmin.acknowledge_view)."""

    message: str
    url: str
    acknowledge_url: str | None


@dataclass
class ApiaryGroup:
    apiary: Apiary
    # The user's role; None for a superuser looking at an apiary they hold no role in.
    role: str | None
    hives: list[HiveRow] = field(default_factory=list)

    @property
    def shows_health(self) -> bool:
        """Whether a hive of the apiary reports battery or signal: else no Sensor column."""
        return any(row.health for row in self.hives)


def heard_text(heard: datetime | None, now: datetime) -> str:
    """``5 minutes ago``, ``just now``; empty when never heard from."""
    if heard is None:
        return ""
    if now - heard < timedelta(minutes=1):
        return "just now"
    return f"{timesince(heard, now)} ago"


def queen_label(year: int | None, color: str | None, origin: str | None = None) -> str:
    if not year and not color:
        text = "queen"
    else:
        text = f"{year or '?'} {color or ''}".strip()
    return f"{text} ({origin})" if origin else text


def _overview_hives(user: Any) -> list[OverviewHive]:
    """The hives the user sees, each with their open alerts, in one query.

    Alerts are each user's own (alerts.selectors); a superuser sees every user's, as on
    the alert list, so a hive's count is the true one. Each alert comes with whether it
    is the user's and still open: only those can be acknowledged here. A superuser's
    ``real_role`` is the role they actually hold (hive_list says "owner" for any apiary).
    """
    from alerts.models import Alert, Status  # alerts builds on apiary
    from alerts.selectors import alert_list

    alerts = Alert.objects.all() if user.is_superuser else alert_list(user=user)
    open_alerts = (
        alerts.filter(resolved_at=None, hive=OuterRef("pk"))
        .order_by("-started_at", "-id")
        .values(
            json=JSONObject(
                id="id",
                message="message",
                acknowledgeable=Q(user_id=user.pk, status=Status.OPEN),
            )
        )
    )
    hives = selectors.hive_list(user=user).select_related("apiary__owner")
    if user.is_superuser:
        hives = hives.annotate(
            real_role=selectors.role_annotation(user, "apiary__", superuser_as_owner=False)
        )
    return cast(
        "list[OverviewHive]",
        list(
            hives.annotate(open_alerts=ArraySubquery(open_alerts)).order_by(
                "apiary__name", "apiary_id", "name", "id"
            )
        ),
    )


def _alert_lines(alerts: list[dict[str, Any]] | None) -> list[AlertLine]:
    return [
        AlertLine(
            message=alert["message"],
            url=reverse("admin:alerts_alert_change", args=[alert["id"]]),
            acknowledge_url=reverse("admin:alerts_alert_acknowledge", args=[alert["id"]])
            if alert["acknowledgeable"]
            else None,
        )
        for alert in alerts or []
    ]


def overview(*, user: Any, now: datetime | None = None) -> dict[str, Any]:
    """The overview's context: ``apiaries`` (ApiaryGroup, each with its HiveRows),
    ``hive_count`` and ``open_alert_count``."""
    from telemetry.overview import TREND_DAYS, device_summaries, trend_start

    now = now or timezone.now()
    hives = _overview_hives(user)
    summaries, telemetry_ok = _telemetry(
        lambda: device_summaries(
            device_ids=[h.device_id for h in hives],
            now=now,
            tz=timezone.get_current_timezone_name(),
        ),
        cast("dict[str, Any]", {}),
    )
    start = trend_start(now, TREND_DAYS)
    groups: dict[int, ApiaryGroup] = {}
    for hive in hives:
        summary = summaries.get(hive.device_id)
        latest = summary.latest if summary else {}
        heard = summary.last_heard if summary else None
        role = getattr(hive, "real_role", getattr(hive, "role", None))
        group = groups.setdefault(hive.apiary_id, ApiaryGroup(apiary=hive.apiary, role=role))
        group.hives.append(
            HiveRow(
                hive=hive,
                admin_url=reverse("admin:apiary_hive_change", args=[hive.pk]),
                live_url=reverse("hive-live", args=[hive.pk]),
                last_heard=heard,
                heard=heard_text(heard, now),
                stale=telemetry_ok and (heard is None or now - heard > STALE_AFTER),
                latest={m.name: metric_text(m.name, latest.get(m.name)) for m in _COLUMN_METRICS},
                health=[
                    (name, METRIC_BY_NAME[name].label, metric_text(name, latest[name]))
                    for name in HEALTH_METRICS
                    if latest.get(name) is not None
                ],
                weight_change_today=metric_text(
                    "weight", summary.weight_change_today if summary else None, signed=True
                ),
                trend_svg=sparkline_svg(summary.trend if summary else [], start=start, end=now),
                queen=queen_label(hive.current_queen_year, hive.current_queen_color)
                if hive.current_queen_id
                else "",
                last_inspection=hive.last_inspection_at,
                alerts=_alert_lines(hive.open_alerts),
            )
        )
    return {
        "apiaries": list(groups.values()),
        "hive_count": len(hives),
        "open_alert_count": sum(len(row.alerts) for g in groups.values() for row in g.hives),
        "telemetry_ok": telemetry_ok,
        "stale_after_minutes": int(STALE_AFTER.total_seconds() // 60),
        "now": now,
        "time_zone": timezone.get_current_timezone_name(),
        # The latest-value columns, in the order of each row's ``latest``.
        "metrics": _COLUMN_METRICS,
    }


# --- A hive's page ----------------------------------------------------------------------


@dataclass
class QueenLine:
    queen: QueenBee
    label: str
    url: str
    mother: tuple[str, str] | None  # (label, url)
    daughters: list[tuple[str, str]]


def _queen_link(queen: QueenBee) -> tuple[str, str]:
    label = f"{queen_label(queen.year_born, queen.marking_color)} in {queen.hive.name}"
    return label, reverse("admin:apiary_queenbee_change", args=[queen.pk])


def queen_history(*, user: Any, hive: Hive) -> list[QueenLine]:
    """The hive's queens, newest first, each with her mother and daughters that the user
    may see (a relative in a hive the user has no role in is left out). Two queries."""
    visible = selectors.queen_list(user=user)
    queens = list(visible.filter(hive=hive).order_by("-introduced_at", "-id"))
    ids = [q.pk for q in queens]
    mother_ids = {q.mother_id for q in queens if q.mother_id}
    relatives = (
        list(visible.filter(Q(pk__in=mother_ids) | Q(mother_id__in=ids)).order_by("introduced_at"))
        if queens
        else []
    )
    by_id = {q.pk: q for q in relatives}
    lines = []
    for queen in queens:
        mother = by_id.get(queen.mother_id) if queen.mother_id else None
        lines.append(
            QueenLine(
                queen=queen,
                label=queen_label(queen.year_born, queen.marking_color, queen.origin),
                url=reverse("admin:apiary_queenbee_change", args=[queen.pk]),
                mother=_queen_link(mother) if mother else None,
                daughters=[_queen_link(d) for d in relatives if d.mother_id == queen.pk],
            )
        )
    return lines


@dataclass
class EventLine:
    event: Event
    url: str
    details: str


def recent_events(*, user: Any, hive: Hive, limit: int = RECENT_EVENTS) -> list[EventLine]:
    events = selectors.event_list(user=user).filter(hive=hive).order_by("-occurred_at", "-id")
    return [
        EventLine(
            event=event,
            url=reverse("admin:apiary_event_change", args=[event.pk]),
            details=details_summary(event.type, event.details),
        )
        for event in events[:limit]
    ]


def hive_telemetry(*, hive: Hive, now: datetime | None = None) -> dict[str, Any]:
    """Latest readings and the 7-day charts of one hive: temperature, weight and the net
    weight (the weight without the beekeeper's jumps, telemetry.selectors.net_weight_list)."""
    from telemetry.overview import TREND_DAYS, device_summaries, trend_start
    from telemetry.selectors import HOURLY_COLUMNS, net_weight_list, readings_hourly_list
    from telemetry.services import weight_explanations_collect

    now = now or timezone.now()
    start = trend_start(now, TREND_DAYS)

    def read() -> tuple[Any, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        summaries = device_summaries(
            device_ids=[hive.device_id], now=now, tz=timezone.get_current_timezone_name()
        )
        hourly = readings_hourly_list(device_id=hive.device_id, start=start)
        net = net_weight_list(
            device_id=hive.device_id,
            start=start,
            until=now,
            interval="hour",
            explanations=weight_explanations_collect(
                device_id=hive.device_id, start=start, end=now
            ),
        )
        return summaries.get(hive.device_id), hourly, net

    (summary, hourly, net), available = _telemetry(
        read, cast("tuple[Any, list[tuple[Any, ...]], list[tuple[Any, ...]]]", (None, [], []))
    )
    if not available:
        return {"unavailable": True}
    heard = summary.last_heard if summary else None
    latest = summary.latest if summary else {}
    rows = [dict(zip(HOURLY_COLUMNS, row, strict=True)) for row in reversed(hourly)]

    def chart(metric: str) -> SafeString:
        shown = METRIC_BY_NAME[metric]
        with_values = [r for r in rows if r[f"{metric}_avg"] is not None]
        return chart_svg(
            [(r["bucket"], r[f"{metric}_avg"]) for r in with_values],
            band=[(r["bucket"], r[f"{metric}_min"], r[f"{metric}_max"]) for r in with_values],
            start=start,
            end=now,
            title=f"{shown.label} ({shown.unit}), hourly, last {TREND_DAYS} days",
            unit=shown.unit,
            decimals=shown.decimals,
            css=metric,
        )

    return {
        "last_heard": heard,
        "heard": heard_text(heard, now),
        "stale": heard is None or now - heard > STALE_AFTER,
        "latest": [(m.label, metric_text(m.name, latest.get(m.name))) for m in METRIC_TABLE],
        "weight_change_today": metric_text(
            "weight", summary.weight_change_today if summary else None, signed=True
        ),
        "charts": [
            chart("temperature"),
            chart("weight"),
            chart_svg(
                [(row[0], row[2]) for row in reversed(net) if row[2] is not None],
                start=start,
                end=now,
                title=f"Net weight ({_WEIGHT.unit}): boxes, harvests, feedings, inspections"
                f" and tares left out, hourly, last {TREND_DAYS} days",
                unit=_WEIGHT.unit,
                decimals=_WEIGHT.decimals,
                css="weight net",
            ),
        ],
        "stale_after_minutes": int(STALE_AFTER.total_seconds() // 60),
    }


def hive_page(*, user: Any, hive: Hive, now: datetime | None = None) -> dict[str, Any]:
    """The context of a hive page's panels (HiveAdmin.render_change_form)."""
    return {
        "hive_panels": True,
        "live_url": reverse("hive-live", args=[hive.pk]),
        "telemetry": hive_telemetry(hive=hive, now=now),
        "queen_history": queen_history(user=user, hive=hive),
        "recent_events": recent_events(user=user, hive=hive),
    }


# --- The season -------------------------------------------------------------------------


def season_page(
    *, apiary: Apiary, year: int, tz: str, now: datetime | None = None
) -> dict[str, Any]:
    """An apiary's season (apiary.season) with a chart per hive of its net weight over
    the year (the sum of the days' kept changes, day by day)."""
    now = now or timezone.now()
    seasons = hives_season(hives=apiary_hives(apiary), year=year, tz=tz, now=now)
    start, until = year_bounds(year, tz)
    end = min(until, max(now, start))
    hives = []
    for season in seasons:
        total, points = 0.0, []
        for day, change in season.net_weight_days:
            total += change
            points.append((day, total))
        hives.append(
            {
                "season": season.as_dict(),
                "chart": chart_svg(
                    points,
                    start=start,
                    end=end,
                    title=f"{season.hive.name}: net weight gain in {year} (kg)",
                    unit=_WEIGHT.unit,
                    decimals=1,
                    css="weight",
                    ticks="month",
                ),
            }
        )
    return {"year": year, "totals": apiary_totals(seasons), "hives": hives}
