"""The console in the user's time zone: forms read typed times in it, pages write times in
it in one format (2026-12-07 13:35), and the admin's "times in UTC" notes are gone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from alerts.models import Alert, Kind
from apiary.models import Event
from console.admin_pages import chart_svg
from tests.factories import EventFactory

BERLIN = "Europe/Berlin"


def _console(user, zone: str = BERLIN) -> Client:
    user.time_zone = zone
    user.save()
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db(databases=["default", "telemetry"])
def test_an_inspection_entered_as_11_30_in_berlin_is_stored_as_10_30z(alice, alice_hive) -> None:
    response = _console(alice).post(
        "/admin/apiary/event/add/",
        {
            "hive": alice_hive.id,
            "type": "inspection",
            "occurred_at_0": "2026-01-15",
            "occurred_at_1": "11:30:00",
            "notes": "",
            "details": "",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    event = Event.objects.get()
    assert event.occurred_at == datetime(2026, 1, 15, 10, 30, tzinfo=UTC)
    # In summer Berlin is two hours ahead.
    _console(alice).post(
        f"/admin/apiary/event/{event.pk}/change/",
        {
            "hive": alice_hive.id,
            "type": "inspection",
            "occurred_at_0": "2026-07-15",
            "occurred_at_1": "11:30",
            "notes": "",
            "details": "",
        },
    )
    event.refresh_from_db()
    assert event.occurred_at == datetime(2026, 7, 15, 9, 30, tzinfo=UTC)


@pytest.mark.django_db(databases=["default", "telemetry"])
def test_the_event_form_shows_the_stored_time_in_the_users_zone(alice, alice_hive) -> None:
    event = EventFactory(hive=alice_hive, type="inspection", occurred_at="2026-01-15T10:30:00Z")

    html = _console(alice).get(f"/admin/apiary/event/{event.pk}/change/").content.decode()

    assert 'name="occurred_at_1" value="11:30:00"' in html
    assert 'name="occurred_at_0" value="2026-01-15"' in html


@pytest.mark.django_db(databases=["default", "telemetry"])
def test_lists_and_pages_write_one_format_in_the_users_zone(alice, alice_hive) -> None:
    EventFactory(hive=alice_hive, type="inspection", occurred_at="2026-01-15T23:30:00Z")
    alert = Alert.objects.create(
        user=alice,
        hive=alice_hive,
        kind=Kind.NO_DATA,
        started_at=datetime(2026, 1, 15, 12, 35, tzinfo=UTC),
        message="Hive A1: no data",
    )
    console = _console(alice)

    # The event list: 23:30Z is the next day in Berlin.
    events = console.get("/admin/apiary/event/").content.decode()
    assert "2026-01-16 00:30" in events
    assert "p.m." not in events and "a.m." not in events
    # The alert's page and list.
    page = console.get(f"/admin/alerts/alert/{alert.pk}/change/").content.decode()
    assert "2026-01-15 13:35" in page
    assert "2026-01-15 13:35" in console.get("/admin/alerts/alert/").content.decode()
    # The hive's page: its recent events, no "UTC" note.
    hive_page = console.get(f"/admin/apiary/hive/{alice_hive.pk}/change/").content.decode()
    assert "2026-01-16 00:30" in hive_page
    assert " UTC<" not in hive_page


@pytest.mark.django_db(databases=["default", "telemetry"])
def test_the_overview_names_the_users_zone_not_utc(alice, alice_hive) -> None:
    html = _console(alice).get("/admin/").content.decode()

    assert "times in UTC" not in html
    assert f"times in {BERLIN}" in html


@pytest.mark.django_db(databases=["default", "telemetry"])
def test_the_live_page_is_given_the_users_zone(alice, alice_hive) -> None:
    alert = Alert.objects.create(
        user=alice,
        hive=alice_hive,
        kind=Kind.NO_DATA,
        started_at=datetime(2026, 1, 15, 12, 35, tzinfo=UTC),
        message="Hive A1: no data",
    )

    html = _console(alice, "Asia/Tokyo").get(f"/hives/{alice_hive.pk}/live").content.decode()

    assert '"timeZone": "Asia/Tokyo"' in html  # live.js writes times in it
    assert f'data-alert-id="{alert.pk}"' in html
    assert ">2026-01-15 21:35</time>" in html
    assert "browser's time zone" not in html and " UTC<" not in html


def test_chart_days_start_at_local_midnight() -> None:
    end = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    start = end - timedelta(days=3)
    points = [(start + timedelta(hours=h), 40.0) for h in range(72)]

    def midnights(zone: str) -> list[str]:
        with timezone.override(ZoneInfo(zone)):
            svg = chart_svg(points, start=start, end=end, title="Weight", unit="kg")
        return re.findall(r'class="grid day" x1="([0-9.]+)%"', svg)

    utc, tokyo = midnights("UTC"), midnights("Asia/Tokyo")
    assert len(utc) == len(tokyo) == 3
    # Tokyo's midnights are 9 hours before UTC's: 9/72 of the width earlier.
    shift = float(utc[0]) - float(tokyo[0])
    assert shift == pytest.approx(100 * 9 / 72, abs=0.02)
