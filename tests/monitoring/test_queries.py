"""The owner reads a hive's telemetry back: raw (paginated), hourly, latest, CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from telemetry.services import readings_ingest
from telemetry.validation import iso_time
from tests.telemetry.conftest import DeviceHive

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def ingest(device_id: str, *minutes_ago: int, **metrics: float) -> None:
    readings_ingest(
        device_id=device_id,
        readings=[
            {"time": iso_time(NOW - timedelta(minutes=m)), **(metrics or {"temperature": 35.0})}
            for m in minutes_ago
        ],
    )


def url(hive: DeviceHive, suffix: str = "") -> str:
    return f"/hives/{hive.hive.pk}/telemetry{suffix}"


def test_raw_readings_newest_first_last_24_hours_by_default(
    alice_client: APIClient, alice_hive: DeviceHive
) -> None:
    ingest(alice_hive.device_id, 5, 60, 23 * 60, 25 * 60)
    ingest("someone-elses-device", 1)
    body = alice_client.get(url(alice_hive)).json()
    assert body["device_id"] == alice_hive.device_id
    assert [r["time"] for r in body["results"]] == [
        iso_time(NOW - timedelta(minutes=m)) for m in (5, 60, 23 * 60)
    ]
    assert body["results"][0] == {
        "time": iso_time(NOW - timedelta(minutes=5)),
        "temperature": 35.0,
        "humidity": None,
        "weight": None,
        "sound_level": None,
        "outside_temperature": None,
        "battery": None,
        "rssi": None,
        "snr": None,
    }
    assert body["next"] is None


def test_pages_follow_the_time_cursor(alice_client: APIClient, alice_hive: DeviceHive) -> None:
    ingest(alice_hive.device_id, *range(1, 8))
    seen: list[str] = []
    page = alice_client.get(url(alice_hive, "/"), {"limit": 3}).json()
    pages = 1
    while True:
        seen += [r["time"] for r in page["results"]]
        if not page["next"]:
            break
        assert page["next"].startswith("http://testserver/hives/")
        page = alice_client.get(page["next"]).json()
        pages += 1
    assert pages == 3
    assert seen == [iso_time(NOW - timedelta(minutes=m)) for m in range(1, 8)]


def test_start_and_end_bound_the_range(alice_client: APIClient, alice_hive: DeviceHive) -> None:
    ingest(alice_hive.device_id, 10, 20, 30, 40)
    params = {
        "start": (NOW - timedelta(minutes=30)).isoformat(),  # "+00:00" arrives as a space
        "end": iso_time(NOW - timedelta(minutes=20)),
    }
    results = alice_client.get(url(alice_hive), params).json()["results"]
    assert [r["time"] for r in results] == [iso_time(NOW - timedelta(minutes=m)) for m in (20, 30)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2026-13-01T00:00:00Z"}, "end"),
        ({"before": "soon"}, "before"),
        ({"limit": 0}, "limit"),
        ({"limit": 5001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, "start"),
        ({"start": "2026-03-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}, "end"),
        ({"format": "xml"}, "format"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    alice_client: APIClient, alice_hive: DeviceHive, params: dict, field: str
) -> None:
    response = alice_client.get(url(alice_hive), params)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert field in response.json()


def test_a_raw_csv_without_a_limit_holds_the_whole_range(
    alice_client: APIClient, alice_hive: DeviceHive
) -> None:
    """A download cut at the JSON page's 500 rows looked complete (#26)."""
    from telemetry.models import Reading

    Reading.objects.bulk_create(
        Reading(device_id=alice_hive.device_id, time=NOW - timedelta(minutes=m), weight=40.0)
        for m in range(1, 601)
    )
    response = alice_client.get(url(alice_hive), {"format": "csv"})
    assert response.status_code == 200
    assert len(response.content.decode().strip().splitlines()) == 1 + 600
    assert "Link" not in response and "X-Truncated" not in response
    # With a page size it is a page, and says it was cut.
    response = alice_client.get(url(alice_hive), {"format": "csv", "limit": 100})
    assert len(response.content.decode().strip().splitlines()) == 1 + 100
    assert response["X-Truncated"].startswith("true; 100 rows")
    assert 'rel="next"' in response["Link"]


def test_raw_csv(alice_client: APIClient, alice_hive: DeviceHive) -> None:
    ingest(alice_hive.device_id, 2, 1, temperature=34.5, weight=41.25)
    response = alice_client.get(url(alice_hive), {"format": "csv", "limit": 1})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert 'rel="next"' in response["Link"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        [
            "time",
            "temperature",
            "humidity",
            "weight",
            "sound_level",
            "outside_temperature",
            "battery",
            "rssi",
            "snr",
        ],
        [iso_time(NOW - timedelta(minutes=1)), "34.5", "", "41.25", "", "", "", "", ""],
    ]


def test_hourly_aggregates_include_the_current_hour(
    alice_client: APIClient, alice_hive: DeviceHive
) -> None:
    hour = NOW.replace(minute=0)
    readings = [
        {"time": iso_time(hour - timedelta(hours=2, minutes=-m)), "temperature": t, "weight": w}
        for m, t, w in [(10, 34.0, 40.0), (20, 35.0, 41.0), (30, 36.0, 42.0)]
    ] + [{"time": iso_time(NOW), "temperature": 35.5}]
    readings_ingest(device_id=alice_hive.device_id, readings=readings)
    body = alice_client.get(url(alice_hive, "/hourly")).json()
    assert body["device_id"] == alice_hive.device_id
    buckets = {r["bucket"]: r for r in body["results"]}
    assert list(buckets) == [iso_time(hour), iso_time(hour - timedelta(hours=2))]
    older = buckets[iso_time(hour - timedelta(hours=2))]
    assert older["temperature_avg"] == pytest.approx(35.0)
    assert (older["temperature_min"], older["temperature_max"]) == (34.0, 36.0)
    assert older["weight_avg"] == pytest.approx(41.0)
    assert older["humidity_avg"] is None
    assert older["reading_count"] == 3
    assert buckets[iso_time(hour)]["reading_count"] == 1


def test_hourly_range_and_csv(alice_client: APIClient, alice_hive: DeviceHive) -> None:
    ingest(alice_hive.device_id, 60 * 24 * 8, 60 * 24 * 2)
    assert len(alice_client.get(url(alice_hive, "/hourly/")).json()["results"]) == 1
    start = iso_time(NOW - timedelta(days=9))
    assert (
        len(alice_client.get(url(alice_hive, "/hourly"), {"start": start}).json()["results"]) == 2
    )
    response = alice_client.get(url(alice_hive, "/hourly"), {"format": "csv"})
    header, *rows = list(csv.reader(io.StringIO(response.content.decode())))
    # The columns of before the later metrics keep their places; 12 more follow.
    assert header[0] == "bucket" and header[13] == "reading_count" and len(header) == 14 + 12
    assert len(rows) == 1
    until = iso_time(NOW - timedelta(days=3))
    results = alice_client.get(url(alice_hive, "/hourly"), {"start": start, "end": until}).json()
    assert len(results["results"]) == 1
    bad = alice_client.get(url(alice_hive, "/hourly"), {"start": "2020-01-01T00:00:00Z"})
    assert bad.status_code == 400 and "start" in bad.json()


def test_latest_reading(alice_client: APIClient, alice_hive: DeviceHive) -> None:
    response = alice_client.get(url(alice_hive, "/latest"))
    assert response.status_code == 404
    assert "no readings" in response.json()["detail"]
    ingest(alice_hive.device_id, 90, 3, 45)
    body = alice_client.get(url(alice_hive, "/latest/")).json()
    assert body["device_id"] == alice_hive.device_id
    assert body["time"] == iso_time(NOW - timedelta(minutes=3))


@pytest.mark.parametrize("suffix", ["", "/hourly", "/latest"])
def test_only_the_owner_reads(bob_client: APIClient, alice_hive: DeviceHive, suffix: str) -> None:
    ingest(alice_hive.device_id, 1)
    response = bob_client.get(url(alice_hive, suffix))
    assert response.status_code == 404
    assert response.json()["detail"]
    assert APIClient().get(url(alice_hive, suffix)).status_code == 401
    assert bob_client.get(f"/hives/999999/telemetry{suffix}").status_code == 404


@pytest.mark.parametrize("suffix", ["", "/hourly", "/daily", "/latest"])
@pytest.mark.parametrize("hive_id", [2**63, 10**30])
def test_a_hive_id_no_column_can_hold_is_a_404(
    alice_client: APIClient, hive_id: int, suffix: str
) -> None:
    response = alice_client.get(f"/hives/{hive_id}/telemetry{suffix}")
    assert response.status_code == 404, response.content
    assert response.json()["detail"] == "No such hive."
