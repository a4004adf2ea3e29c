"""Bulk validation rules of submitted readings (no database needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telemetry.validation import ReadingsInvalid, iso_time, messages, readings_validate

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def errors_of(items: list, device_id: str = "dev-1") -> dict:
    with pytest.raises(ReadingsInvalid) as caught:
        readings_validate(items, device_id=device_id, now=NOW)
    return caught.value.errors


def test_valid_batch_is_sorted_and_in_batch_duplicates_counted() -> None:
    items = [
        {"time": "2026-06-01T11:59:00Z", "temperature": 35},
        {"time": "2026-06-01T11:58:00+00:00", "humidity": 55.5, "weight": 0, "sound_level": 160},
        {"time": "2026-06-01T13:59:00+02:00", "temperature": 40},  # same instant as the first
    ]
    valid, duplicates = readings_validate(items, device_id="dev-1", now=NOW)
    assert duplicates == 1
    assert [r.time for r in valid] == [NOW - timedelta(minutes=2), NOW - timedelta(minutes=1)]
    assert valid[1].temperature == 35.0  # the first occurrence wins


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", -40.1),
        ("temperature", 85.5),
        ("humidity", 100.1),
        ("humidity", -1),
        ("weight", 500.01),
        ("weight", -0.5),
        ("sound_level", 161),
        ("temperature", float("nan")),
        ("temperature", float("inf")),
        ("temperature", "35"),
        ("temperature", True),
        ("humidity", [50]),
    ],
)
def test_implausible_or_non_numeric_metrics_are_refused(field: str, value: object) -> None:
    errors = errors_of([{"time": "2026-06-01T11:00:00Z", field: value}])
    assert list(errors) == ["0"] and field in errors["0"]


@pytest.mark.parametrize(
    "time",
    [
        "2026-06-01T11:00:00",
        "yesterday",
        1717236000,
        None,
        "2026-06-01T12:06:00Z",
        "2000-01-01T00:00:00Z",
    ],
)
def test_times_need_iso_8601_with_timezone_not_in_the_future(time: object) -> None:
    errors = errors_of([{"time": time, "temperature": 35}])
    assert "time" in errors["0"]


def test_small_clock_skew_is_tolerated() -> None:
    valid, _ = readings_validate(
        [{"time": "2026-06-01T12:04:00Z", "weight": 40}], device_id="dev-1", now=NOW
    )
    assert len(valid) == 1


def test_every_problem_is_reported_per_item() -> None:
    errors = errors_of(
        [
            {"time": "2026-06-01T11:00:00Z", "temperature": 35},
            {"time": "2026-06-01T11:01:00Z"},
            {"time": "2026-06-01T11:02:00Z", "temperature": 35, "colour": "gold"},
            "not an object",
            {"temperature": 35, "device_id": "someone-else"},
        ]
    )
    assert set(errors) == {"1", "2", "3", "4"}
    assert "non_field_errors" in errors["1"]
    assert errors["2"] == {"colour": ["Unknown field."]}
    assert "non_field_errors" in errors["3"]
    assert set(errors["4"]) == {"time", "device_id"}


def test_matching_device_id_is_accepted() -> None:
    valid, _ = readings_validate(
        [{"time": "2026-06-01T11:00:00Z", "weight": 40, "device_id": "dev-1"}],
        device_id="dev-1",
        now=NOW,
    )
    assert len(valid) == 1


def test_live_messages_write_every_time_as_the_api_does() -> None:
    # Times already in the API's form are carried through as sent; every other form a
    # device may use is written again, so the stream never shows a time as it came.
    sent = [
        "2026-06-01T10:00:00Z",  # the API's form
        "2026-06-01T12:01:00+02:00",  # an offset
        "2026-06-01T10:02:00.000Z",  # zero microseconds
        "2026-06-01T10:03:00.5Z",  # a fraction
        "2026-06-01T10:04:00+00:00",  # UTC, spelled out
        "2026-06-01 10:05:00Z",  # a space for the T
        "2026-W22-1T10:06:00Z",  # an ISO week date (Monday of week 22 is 2026-05-25)
    ]
    valid, _ = readings_validate(
        [{"time": time, "weight": 40.0} for time in sent], device_id="dev-1", now=NOW
    )
    shown = [message["time"] for message in messages(valid)]
    assert shown == [iso_time(reading.time) for reading in valid]
    assert "2026-06-01T10:00:00Z" in shown and "2026-06-01T10:03:00.500000Z" in shown
    assert "2026-05-25T10:06:00Z" in shown
    assert [r.stamp for r in valid if r.stamp] == ["2026-06-01T10:00:00Z"]
