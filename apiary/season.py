"""The season's figures of a hive and of an apiary: what a beekeeper writes in the
year's book. Read from the hive's events (harvests, feedings, treatments, swarms, queen
changes, inspections) and its scale (the net weight, telemetry.selectors.net_weight_list),
for a calendar year of the beekeeper's time zone. Shared by the API (JSON and CSV) and
the console's season page.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, cast
from zoneinfo import ZoneInfo

from django.db import DatabaseError

from apiary.models import Apiary, Event, Hive
from telemetry.selectors import net_weight_list
from telemetry.services import weight_explanations_collect

# Sugar in a feed: syrups by weight of sugar to water. Per litre: the syrup's density
# (1:1 about 1.23 kg/l, 2:1 about 1.33 kg/l) times its sugar share; fondant is about 85 %
# sugar. Pollen, honey and other feeds are listed, not counted as sugar.
SUGAR_PER_KG = {"syrup_1_1": 1 / 2, "syrup_2_1": 2 / 3, "fondant": 0.85}
SUGAR_PER_LITRE = {"syrup_1_1": 0.615, "syrup_2_1": 0.887}

CSV_COLUMNS = (
    "hive",
    "hive_name",
    "year",
    "honey_kg",
    "harvests",
    "net_weight_gain_kg",
    "sugar_fed_kg",
    "feedings",
    "treatments",
    "withdrawal_until",
    "swarms",
    "queen_changes",
    "inspections",
)


def sugar_kg(details: dict[str, Any]) -> float:
    """The sugar in one feeding's ``details`` (FeedingDetails): 0 for feeds that are not
    sugar."""
    feed = str(details.get("feed") or "")
    if details.get("kg") is not None:
        return float(details["kg"]) * SUGAR_PER_KG.get(feed, 0.0)
    if details.get("litres") is not None:
        return float(details["litres"]) * SUGAR_PER_LITRE.get(feed, 0.0)
    return 0.0


@dataclass
class HiveSeason:
    hive: Hive
    year: int
    honey_kg: float = 0.0
    harvests: list[dict[str, Any]] = field(default_factory=list)
    net_weight_gain_kg: float | None = None
    # (day, net weight change) of each day with weighed readings, oldest first
    net_weight_days: list[tuple[datetime, float]] = field(default_factory=list)
    sugar_fed_kg: float = 0.0
    feedings: list[dict[str, Any]] = field(default_factory=list)
    treatments: list[dict[str, Any]] = field(default_factory=list)
    swarms: list[dict[str, Any]] = field(default_factory=list)
    queen_changes: list[dict[str, Any]] = field(default_factory=list)
    inspections: int = 0
    last_inspection: datetime | None = None
    telemetry_unavailable: bool = False

    @property
    def withdrawal_until(self) -> str | None:
        """The last withdrawal period's end (YYYY-MM-DD), if any treatment has one."""
        ends = [t["withdrawal_end"] for t in self.treatments if t.get("withdrawal_end")]
        return max(ends) if ends else None

    def as_dict(self) -> dict[str, Any]:
        until = self.withdrawal_until
        return {
            "hive": self.hive.pk,
            "hive_name": self.hive.name,
            "year": self.year,
            "honey_kg": round(self.honey_kg, 2),
            "harvests": self.harvests,
            "net_weight_gain_kg": (
                None if self.net_weight_gain_kg is None else round(self.net_weight_gain_kg, 2)
            ),
            "net_weight_days": [
                {"day": day.date().isoformat(), "change_kg": round(change, 3)}
                for day, change in self.net_weight_days
            ],
            "sugar_fed_kg": round(self.sugar_fed_kg, 2),
            "feedings": self.feedings,
            "treatments": self.treatments,
            "withdrawal_until": until,
            "swarms": self.swarms,
            "queen_changes": self.queen_changes,
            "inspections": self.inspections,
            "last_inspection": self.last_inspection,
            "telemetry_unavailable": self.telemetry_unavailable,
        }

    def csv_row(self) -> dict[str, Any]:
        row = self.as_dict()
        until = self.withdrawal_until
        return {
            **{key: row[key] for key in CSV_COLUMNS if key in row},
            "harvests": len(self.harvests),
            "feedings": len(self.feedings),
            "treatments": "; ".join(t["product"] for t in self.treatments),
            "withdrawal_until": until or "",
            "swarms": len(self.swarms),
            "queen_changes": len(self.queen_changes),
        }


def year_bounds(year: int, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return (
        datetime.combine(date(year, 1, 1), time(0), tzinfo=zone),
        datetime.combine(date(year + 1, 1, 1), time(0), tzinfo=zone),
    )


def _on(event: Event) -> str:
    return event.occurred_at.isoformat()


def hives_season(*, hives: list[Hive], year: int, tz: str, now: datetime) -> list[HiveSeason]:
    """The season of each of ``hives`` (the caller has checked the user sees them): one
    query for all their events, one telemetry query per hive for its net weight."""
    start, until = year_bounds(year, tz)
    seasons = {hive.pk: HiveSeason(hive=hive, year=year) for hive in hives}
    events = Event.objects.filter(
        hive__in=hives, occurred_at__gte=start, occurred_at__lt=until
    ).order_by("occurred_at", "id")
    for event in events:
        season = seasons[cast(int, event.hive_id)]  # hive__in: never an apiary's event
        details = event.details or {}
        if event.type == Event.Type.HARVEST:
            kg = float(details.get("kg") or 0)
            season.honey_kg += kg
            season.harvests.append({"at": _on(event), "kg": kg, **_extra(details, "kg")})
        elif event.type == Event.Type.FEEDING:
            sugar = sugar_kg(details)
            season.sugar_fed_kg += sugar
            season.feedings.append({"at": _on(event), **details, "sugar_kg": round(sugar, 2)})
        elif event.type == Event.Type.TREATMENT:
            season.treatments.append(
                {
                    "at": _on(event),
                    "product": details.get("product", ""),
                    "dose": details.get("dose"),
                    "method": details.get("method"),
                    "withdrawal_end": details.get("withdrawal_end"),  # YYYY-MM-DD
                    "withdrawal_active": bool(
                        details.get("withdrawal_end")
                        and date.fromisoformat(details["withdrawal_end"])
                        >= now.astimezone(ZoneInfo(tz)).date()
                    ),
                }
            )
        elif event.type == Event.Type.SWARM:
            season.swarms.append({"at": _on(event), "notes": event.notes})
        elif event.type == Event.Type.QUEEN_CHANGE:
            season.queen_changes.append({"at": _on(event), "notes": event.notes})
        elif event.type == Event.Type.INSPECTION:
            season.inspections += 1
            season.last_inspection = event.occurred_at
    end = min(until, now)
    for hive in hives:
        season = seasons[hive.pk]
        if start >= end:
            continue
        try:
            rows = net_weight_list(
                device_id=hive.device_id,
                start=start,
                until=until,
                interval="day",
                tz=tz,
                explanations=weight_explanations_collect(
                    device_id=hive.device_id, start=start, end=end
                ),
            )
        except DatabaseError:
            season.telemetry_unavailable = True
            continue
        days = [(row[0], row[3]) for row in reversed(rows) if row[3] is not None]
        season.net_weight_days = days
        season.net_weight_gain_kg = sum(change for _, change in days) if days else None
    return [seasons[hive.pk] for hive in hives]


def _extra(details: dict[str, Any], *skip: str) -> dict[str, Any]:
    return {key: value for key, value in details.items() if key not in skip}


def apiary_totals(seasons: list[HiveSeason]) -> dict[str, Any]:
    """The apiary's sums over its hives' seasons."""
    gains = [s.net_weight_gain_kg for s in seasons if s.net_weight_gain_kg is not None]
    counts: dict[str, int] = defaultdict(int)
    for season in seasons:
        counts["harvests"] += len(season.harvests)
        counts["swarms"] += len(season.swarms)
        counts["queen_changes"] += len(season.queen_changes)
        counts["inspections"] += season.inspections
        counts["treatments"] += len(season.treatments)
    return {
        "hives": len(seasons),
        "honey_kg": round(sum(s.honey_kg for s in seasons), 2),
        "net_weight_gain_kg": round(sum(gains), 2) if gains else None,
        "sugar_fed_kg": round(sum(s.sugar_fed_kg for s in seasons), 2),
        **counts,
    }


def apiary_hives(apiary: Apiary) -> list[Hive]:
    return list(apiary.hives.order_by("name", "id"))
