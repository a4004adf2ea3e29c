"""Events as CSV, for spreadsheets: ``GET /events?format=csv`` and the admin's "Export
selected events to CSV" give the same columns, written by the telemetry CSV renderer.

The columns: the event's own (id ... notes), then its details three ways. ``details`` is
the JSON object as stored and ``summary`` the same as short text; these ten columns keep
their order for the readers that know them. Then, added at the end (#26), one column per
typed detail key of any event type (DETAIL_CSV_COLUMNS, in the schemas' order: the
inspection's ``queen_seen`` ... ``varroa_count``, the feeding's ``feed``, ``litres``,
``kg``, ...), named as the API names the key, so a spreadsheet sums harvested ``kg`` or
charts ``frames_of_brood`` without parsing JSON. A key shared by several types (``kg`` of
feedings, harvests and boxes) is one column; the row's ``type`` says what it weighed. A
cell is empty where the event has no such key; yes/no is ``true``/``false``, a choice its
stored value (as in the API), a split's hive and queen their ids. Free-form keys stay in
``details`` and ``summary`` only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from rest_framework import serializers

from apiary.event_details import SCHEMAS, details_summary, schema_fields
from apiary.models import Event
from apiary.selectors import hive_list_visible, queen_list
from core.renderers import CSVRenderer

# hive and apiary are ids, as in the JSON; apiary is the hive's for an event of a hive, so
# a file filtered by ?apiary= says which apiary each row belongs to. details is the JSON
# object, summary the same as short text ("queen seen, eggs, 6 frames brood, calm").
_EVENT_COLUMNS = (
    "id",
    "occurred_at",
    "type",
    "hive",
    "hive_name",
    "apiary",
    "apiary_name",
    "notes",
    "details",
    "summary",
)
# One column per typed key of the details, after the columns above (see the module doc).
DETAIL_CSV_COLUMNS = tuple(
    dict.fromkeys(key for event_type in SCHEMAS for key in schema_fields(event_type))
)
assert not set(DETAIL_CSV_COLUMNS) & set(_EVENT_COLUMNS), "a detail key names a column"
EVENT_CSV_COLUMNS: tuple[str, ...] = (*_EVENT_COLUMNS, *DETAIL_CSV_COLUMNS)
# One export holds at most this many events: narrow a larger one by time.
CSV_MAX_EVENTS = 10_000

_TIME = serializers.DateTimeField()


def _cell(text: str) -> str:
    """Text a spreadsheet would run as a formula (=, +, -, @ first) is made plain text, as
    OWASP advises: notes and names are typed by members of a shared apiary too."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def split_labels(*, user: Any, events: Iterable[Event]) -> dict[tuple[str, Any], str]:
    """Names of the hives and queens the splits among ``events`` name, for those ``user``
    sees (two queries at most): ``{("new_hive", 12): "Hive B"}``."""
    wanted: dict[str, set[int]] = {"new_hive": set(), "new_queen": set()}
    for event in events:
        if event.type == Event.Type.SPLIT and isinstance(event.details, dict):
            for key, ids in wanted.items():
                value = event.details.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    ids.add(value)
    labels: dict[tuple[str, Any], str] = {}
    if wanted["new_hive"]:
        hives = hive_list_visible(user=user).filter(pk__in=wanted["new_hive"])
        labels.update((("new_hive", pk), name) for pk, name in hives.values_list("pk", "name"))
    if wanted["new_queen"]:
        for queen in queen_list(user=user).filter(pk__in=wanted["new_queen"]):
            labels[("new_queen", queen.pk)] = str(queen)
    return labels


def event_csv_row(event: Event, labels: dict[tuple[str, Any], str] | None = None) -> dict:
    hive = event.hive  # None without a query when the event is about an apiary
    apiary = hive.apiary if hive is not None else event.apiary
    details = event.details if isinstance(event.details, dict) else {}
    return {
        "id": event.pk,
        "occurred_at": _TIME.to_representation(event.occurred_at),
        "type": event.type,
        "hive": event.hive_id,
        "hive_name": _cell(hive.name) if hive is not None else None,
        "apiary": apiary.pk if apiary else None,
        "apiary_name": _cell(apiary.name) if apiary else None,
        "notes": _cell(event.notes),
        "details": json.dumps(details, ensure_ascii=False, sort_keys=True) if details else "",
        "summary": _cell(details_summary(event.type, details, labels=labels)),
        **{key: _detail_cell(details.get(key)) for key in DETAIL_CSV_COLUMNS},
    }


def _detail_cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _cell(value)
    if isinstance(value, dict | list):  # a free-form value under a typed key's name
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def event_csv_rows(*, user: Any, events: Iterable[Event]) -> list[dict]:
    """``events`` (with hive__apiary and apiary selected) as rows of EVENT_CSV_COLUMNS."""
    events = list(events)
    labels = split_labels(user=user, events=events)
    return [event_csv_row(event, labels) for event in events]


def events_csv(*, user: Any, events: Iterable[Event]) -> str:
    """The CSV file, header first, as ``GET /events?format=csv`` answers it."""
    context = {"view": SimpleNamespace(csv_columns=EVENT_CSV_COLUMNS)}
    rows = event_csv_rows(user=user, events=events)
    return CSVRenderer().render({"results": rows}, renderer_context=context)
