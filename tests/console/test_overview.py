"""The console's overview (the admin's start page) and a hive's page: what a beekeeper
sees of their own and shared hives, never another beekeeper's, in a constant number of
queries on each database."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from alerts.models import Alert
from apiary.models import Membership
from console.admin_pages import overview
from telemetry.models import Reading
from telemetry.overview import device_summaries
from telemetry.selectors import local_day_start
from telemetry.timescale import storage_is_timescale
from tests.factories import (
    ApiaryFactory,
    BeekeeperFactory,
    EventFactory,
    HiveFactory,
    QueenFactory,
    SuperuserFactory,
)

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def _now() -> datetime:
    # Per call, not at import: "3 hours ago" must hold however long the suite ran before.
    return datetime.now(UTC).replace(microsecond=0)


def _admin(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _readings(device_id: str, *rows: tuple[datetime, dict[str, float]]) -> None:
    Reading.objects.bulk_create(Reading(device_id=device_id, time=t, **m) for t, m in rows)


def _ago(**delta: float) -> datetime:
    return _now() - timedelta(**delta)


def _row(html: str, device_id: str) -> str:
    """The overview's table row of the hive with ``device_id``."""
    found = re.search(
        rf'<tr class="bee-hive[^"]*" data-hive-id="\d+" data-device-id="{re.escape(device_id)}">'
        r"(.*?)</tr>",
        html,
        re.S,
    )
    assert found, f"no row for {device_id}"
    return found.group(0)


def _cell(row: str, css: str) -> str:
    found = re.search(rf'<td class="[^"]*\b{css}\b[^"]*">(.*?)</td>', row, re.S)
    assert found, css
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def _section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start : html.index("</section>", start)]


@pytest.fixture
def yards(alice, bob, alice_apiary, alice_hive, bob_apiary) -> dict[str, Any]:
    """alice's Orchard (fresh, stale and silent hives), bob's Meadow shared with alice as
    a viewer, and charlie's hive that alice must never see."""
    stale = HiveFactory(apiary=alice_apiary, name="Hive A2", device_id="alice-002")
    silent = HiveFactory(apiary=alice_apiary, name="Hive A3", device_id="alice-003")
    shared = HiveFactory(apiary=bob_apiary, name="Bob shares this", device_id="bob-shared-1")
    Membership.objects.create(apiary=bob_apiary, user=alice, email=alice.email, role="viewer")
    charlie = BeekeeperFactory(email="charlie@example.com", name="Charlie")
    secret = HiveFactory(
        apiary=ApiaryFactory(owner=charlie, name="Charlie's field"),
        name="Charlie secret hive",
        device_id="charlie-secret-1",
    )
    full = {"temperature": 35.1, "humidity": 61.0, "weight": 42.5, "sound_level": 40.2}
    _readings(
        alice_hive.device_id,
        (_ago(hours=5), {**full, "weight": 41.0}),
        (_ago(minutes=15), {**full, "weight": 42.25}),
        (_ago(minutes=5), full),
        # The newest reading has a temperature only: the others come from the one before.
        (_ago(minutes=2), {"temperature": 35.4}),
    )
    _readings(stale.device_id, (_ago(hours=3), {"temperature": 30.0, "weight": 38.0}))
    _readings(shared.device_id, (_ago(minutes=1), {"temperature": 34.0, "weight": 50.0}))
    _readings(secret.device_id, (_ago(minutes=1), {"temperature": 12.3, "weight": 99.9}))
    QueenFactory(hive=alice_hive, year_born=2025, marking_color="blue")
    EventFactory(hive=alice_hive, type="inspection", occurred_at=_ago(days=2))
    Alert.objects.create(
        user=alice, hive=alice_hive, kind="swarm", started_at=_ago(minutes=3),
        message="Hive A1: possible swarm, weight fell 2.1 kg",
    )  # fmt: skip
    # Alerts are their user's: charlie's and bob's never show on alice's overview.
    Alert.objects.create(
        user=charlie, hive=secret, kind="no_data", started_at=_ago(minutes=3),
        message="Charlie secret alert",
    )  # fmt: skip
    Alert.objects.create(
        user=bob, hive=shared, kind="no_data", started_at=_ago(minutes=3),
        message="Bob's own alert",
    )  # fmt: skip
    return {"stale": stale, "silent": silent, "shared": shared, "charlie": charlie}


def test_overview_shows_own_and_shared_hives_with_latest_values(alice, alice_hive, yards) -> None:
    response = _admin(alice).get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="bee-overview"' in html and "bee-empty" not in html
    # Grouped by apiary: alice's own, then the one bob shares (named, with her role).
    assert html.index("Meadow") < html.index("Orchard")  # apiaries by name
    assert "shared by Bob · you are viewer" in html

    row = _row(html, alice_hive.device_id)
    assert f'href="/admin/apiary/hive/{alice_hive.id}/change/"' in row
    assert f'href="/hives/{alice_hive.id}/live"' in row
    assert _cell(row, "temperature") == "35.4 °C"
    assert _cell(row, "humidity") == "61 %"
    assert _cell(row, "weight") == "42.50 kg"
    assert _cell(row, "sound_level") == "40.2 dB"
    assert "stale" not in row and "minutes ago" in _cell(row, "last-heard")
    assert _cell(row, "queen") == "2025 blue"
    assert _cell(row, "last-inspection") == f"{_ago(days=2):%Y-%m-%d}"
    assert _cell(row, "alerts") == "1 Hive A1: possible swarm, weight fell 2.1 kg Acknowledge"
    assert '<svg class="bee-spark"' in row and "Weight, last 7 days" in row

    stale = _row(html, "alice-002")
    assert 'class="bee-hive stale"' in stale and "stale" in _cell(stale, "last-heard")
    assert "3 hours ago" in _cell(stale, "last-heard")
    silent = _row(html, "alice-003")
    assert _cell(silent, "last-heard") == "no data yet"
    assert _cell(silent, "temperature") == "–" and "No weight data" in silent

    shared = _row(html, "bob-shared-1")
    assert _cell(shared, "temperature") == "34.0 °C" and _cell(shared, "alerts") == "0"
    # Nobody else's hives, readings or alerts.
    for secret in ("Charlie", "charlie-secret-1", "12.3 °C", "99.9", "Bob&#x27;s own alert"):
        assert secret not in html, secret
    assert "1 open alert" in html


def test_another_beekeeper_sees_none_of_alices_hives(bob, alice_hive, yards) -> None:
    html = _admin(yards["charlie"]).get("/admin/").content.decode()
    row = _row(html, "charlie-secret-1")
    assert _cell(row, "temperature") == "12.3 °C" and "Charlie secret alert" in row
    for secret in ("Hive A1", "alice-001", "alice-002", "Orchard", "Meadow", "bob-shared-1"):
        assert secret not in html, secret
    # bob sees his own apiary, not the one he is not a member of.
    html = _admin(bob).get("/admin/").content.decode()
    assert "bob-shared-1" in html and "alice-001" not in html and "charlie-secret-1" not in html
    assert "Bob&#x27;s own alert" in html


def test_superusers_see_every_hive(alice_hive, yards) -> None:
    html = _admin(SuperuserFactory()).get("/admin/").content.decode()
    for device_id in ("alice-001", "alice-002", "alice-003", "bob-shared-1", "charlie-secret-1"):
        _row(html, device_id)
    assert "Charlie&#x27;s field" in html


def test_superusers_see_whose_apiary_it_is_and_every_open_alert(alice_hive, yards) -> None:
    superuser = SuperuserFactory()
    html = _admin(superuser).get("/admin/").content.decode()
    # Not "you are owner" on apiaries that are not theirs (#26).
    assert "you are owner" not in html
    assert "owned by Charlie · you see it as a superuser" in html
    # The true count: every user's open alerts on the hive, as the alert list shows them.
    assert _cell(_row(html, "charlie-secret-1"), "alerts").startswith("1 Charlie secret alert")
    assert _cell(_row(html, "bob-shared-1"), "alerts").startswith("1 Bob")
    assert "3 open alerts" in html
    # Nobody else's alert can be acknowledged from here: the service would refuse it.
    assert "/acknowledge/" not in html


def test_alice_acknowledges_an_alert_from_the_overview(alice, alice_hive, yards) -> None:
    alert = Alert.objects.get(user=alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    row = _row(client.get("/admin/").content.decode(), alice_hive.device_id)
    url = f"/admin/alerts/alert/{alert.pk}/acknowledge/"
    assert f'action="{url}"' in row and f'href="/admin/alerts/alert/{alert.pk}/change/"' in row
    token = client.cookies["csrftoken"].value

    response = client.post(url, {"csrfmiddlewaretoken": token, "next": "/admin/"}, follow=True)

    assert response.redirect_chain == [("/admin/", 302)]
    alert.refresh_from_db()
    assert alert.status == "acknowledged"
    # A swarm alert ends when acknowledged: the hive has no open alert left.
    assert _cell(_row(response.content.decode(), alice_hive.device_id), "alerts") == "0"


def test_an_acknowledged_alert_that_is_still_active_has_no_button(alice, alice_hive) -> None:
    alert = Alert.objects.create(
        user=alice, hive=alice_hive, kind="no_data", started_at=_ago(minutes=30),
        message="Hive A1: silent", status="acknowledged", acknowledged_at=_ago(minutes=5),
    )  # fmt: skip
    row = _row(_admin(alice).get("/admin/").content.decode(), alice_hive.device_id)
    assert _cell(row, "alerts") == "1 Hive A1: silent"
    assert f"/admin/alerts/alert/{alert.pk}/acknowledge/" not in row


def test_a_viewer_gets_no_button_for_alices_alert_and_may_not_post_it(bob, alice_apiary):
    hive = HiveFactory(apiary=alice_apiary, name="Shared", device_id="shared-1")
    alert = Alert.objects.create(
        user=alice_apiary.owner, hive=hive, kind="swarm", started_at=_ago(minutes=3),
        message="Shared: possible swarm",
    )  # fmt: skip
    Membership.objects.create(apiary=alice_apiary, user=bob, email=bob.email, role="viewer")
    client = _admin(bob)
    row = _row(client.get("/admin/").content.decode(), "shared-1")
    assert "possible swarm" not in row and "/acknowledge/" not in row

    response = client.post(f"/admin/alerts/alert/{alert.pk}/acknowledge/", {"next": "/admin/"})

    assert response.status_code == 404
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_at) == ("open", None)


def test_a_beekeeper_without_hives_is_told_how_to_start(db) -> None:
    html = _admin(BeekeeperFactory()).get("/admin/").content.decode()
    empty = _section(html, "bee-overview")
    assert "No hives yet" in empty
    assert 'href="/admin/apiary/apiary/add/"' in empty and 'href="/admin/apiary/hive/add/"' in empty
    assert "X-Device-Key" in empty and "/telemetry" in empty
    assert "bee-hive" not in empty.replace("bee-hive-", "")


def test_latest_values_trend_and_todays_weight_change(alice, alice_hive) -> None:
    # A fixed clock: 15:00 UTC yesterday, so "today" starts at a known midnight.
    now = local_day_start(_now(), "UTC") - timedelta(hours=9)
    midnight = local_day_start(now, "UTC")
    device = alice_hive.device_id
    hourly = [
        (midnight - timedelta(hours=h, minutes=30), {"weight": 40.0 + h / 100}) for h in range(30)
    ]
    _readings(
        device,
        *hourly,
        (now - timedelta(days=8), {"weight": 10.0}),  # before the trend's week
        (midnight - timedelta(minutes=1), {"weight": 50.0}),  # yesterday
        (midnight + timedelta(minutes=1, seconds=30), {"weight": 40.5, "temperature": 35.0}),
        (now - timedelta(minutes=10), {"weight": 39.25, "humidity": 55.0}),
        (now - timedelta(minutes=1), {"temperature": 34.5}),
    )
    summary = device_summaries(device_ids=[device, "no-such-device"], now=now)
    mine = summary[device]
    assert mine.weight_change_today == pytest.approx(39.25 - 40.5)
    # In New York (UTC-5 in winter) that day began at 05:00 UTC: its only weight is the
    # one of 14:50 UTC (#26: "today" is the user's day).
    new_york = device_summaries(device_ids=[device], now=now, tz="America/New_York")[device]
    assert new_york.weight_change_today == 0.0
    assert mine.last_heard == now - timedelta(minutes=1)
    assert mine.latest["weight"] == 39.25  # the newest value of each metric
    assert mine.latest["temperature"] == 34.5 and mine.latest["humidity"] == 55.0
    assert mine.latest["sound_level"] is None
    trend_times = [t for t, _ in mine.trend]
    assert trend_times == sorted(trend_times) and trend_times[0] >= now - timedelta(days=7, hours=1)
    assert 10.0 not in [w for _, w in mine.trend]
    assert len(mine.trend) >= 30
    nothing = summary["no-such-device"]
    assert (
        nothing.last_heard is None and nothing.trend == [] and nothing.weight_change_today is None
    )

    context = overview(user=alice, now=now)
    (group,) = context["apiaries"]
    (row,) = group.hives
    assert row.weight_change_today == "−1.25 kg"
    assert "<polyline" in row.trend_svg and "Weight, last 7 days" in row.trend_svg


def test_the_overview_costs_the_same_queries_for_2_and_for_20_hives(alice, alice_apiary) -> None:
    client = _admin(alice)
    shared_yard = ApiaryFactory(name="Shared yard")
    Membership.objects.create(apiary=shared_yard, user=alice, email=alice.email, role="editor")

    def add_hives(count: int, start: int) -> None:
        for n in range(start, start + count):
            hive = HiveFactory(
                apiary=alice_apiary if n % 2 else shared_yard, device_id=f"count-{n:03d}"
            )
            QueenFactory(hive=hive)
            EventFactory(hive=hive, type="inspection", occurred_at=_ago(days=n % 5 + 1))
            Alert.objects.create(
                user=alice, hive=hive, kind="no_data", started_at=_ago(minutes=n),
                message=f"alert of hive {n}",
            )  # fmt: skip
            _readings(
                hive.device_id,
                *[(_ago(hours=h, minutes=n), {"temperature": 35.0, "weight": 40.0 + h / 10})
                  for h in range(0, 24 * 7, 6)],
            )  # fmt: skip

    def measure() -> tuple[int, int, str]:
        with (
            CaptureQueriesContext(connections["default"]) as default,
            CaptureQueriesContext(connections["telemetry"]) as telemetry,
        ):
            response = client.get("/admin/")
        assert response.status_code == 200
        return len(default), len(telemetry), response.content.decode()

    add_hives(2, 0)
    storage_is_timescale()  # the mode is probed once per process, not per page
    client.get("/admin/")  # warm caches (content types, permissions) like any later page
    two = measure()
    add_hives(18, 2)
    twenty = measure()
    assert two[2].count('<tr class="bee-hive') == 2
    assert twenty[2].count('<tr class="bee-hive') == 20
    assert "alert of hive 19" in twenty[2]
    print(f"overview queries: default {two[0]}/{twenty[0]}, telemetry {two[1]}/{twenty[1]}")
    # One statement on telemetry for the whole page, and one for the hives' calibrations.
    assert twenty[1] == two[1] == 2
    assert twenty[0] == two[0]


# --- A hive's page ----------------------------------------------------------------------


def test_hive_page_shows_telemetry_lineage_and_recent_events(alice, bob, alice_apiary, alice_hive):
    other = HiveFactory(apiary=alice_apiary, name="Mother hive", device_id="alice-mother")
    daughter_hive = HiveFactory(apiary=alice_apiary, name="Split hive", device_id="alice-split")
    bobs_hive = HiveFactory(apiary=ApiaryFactory(owner=bob), name="Bobs hive", device_id="bob-9")
    mother = QueenFactory(hive=other, year_born=2023, marking_color="red", origin="Buckfast")
    old = QueenFactory(
        hive=alice_hive, year_born=2022, marking_color="white", is_current=False,
        introduced_at="2022-05-01", removed_at="2024-06-01", removal_reason="superseded",
    )  # fmt: skip
    current = QueenFactory(
        hive=alice_hive, year_born=2024, marking_color="yellow", mother=mother,
        introduced_at="2024-06-01", origin="own rearing",
    )  # fmt: skip
    QueenFactory(hive=daughter_hive, year_born=2025, marking_color="blue", mother=current)
    # A daughter in a hive alice has no role in (bob recorded her): never shown to alice.
    QueenFactory(hive=bobs_hive, year_born=2025, marking_color="green", mother=current)
    EventFactory(
        hive=alice_hive, type="inspection", occurred_at=_ago(days=1), notes="calm colony",
        details={"frames_of_brood": 6, "queen_seen": True, "temperament": "calm"},
    )  # fmt: skip
    EventFactory(
        hive=alice_hive, type="feeding", occurred_at=_ago(days=2),
        details={"feed": "syrup_1_1", "litres": 2.5},
    )  # fmt: skip
    for n in range(12):
        EventFactory(hive=alice_hive, type="note", occurred_at=_ago(days=10 + n), notes=f"n{n}")
    _readings(
        alice_hive.device_id,
        *[(_ago(hours=h), {"temperature": 35.0 + h / 100, "weight": 42.0 - h / 100})
          for h in range(0, 72)],
    )  # fmt: skip

    html = _admin(alice).get(f"/admin/apiary/hive/{alice_hive.id}/change/").content.decode()
    telemetry = _section(html, "bee-telemetry")
    assert "35.0 °C" in telemetry and "42.00 kg" in telemetry
    assert telemetry.count('<svg class="bee-chart') == 3  # each with its plot nested
    assert "Temperature (°C)" in telemetry and "Weight (kg)" in telemetry
    # The net weight: the weight's slow slide (no event, no jump) is all kept.
    assert "Net weight (kg)" in telemetry
    assert "<polyline" in telemetry and "stale" not in telemetry
    assert f'href="/hives/{alice_hive.id}/live"' in html
    # The owner's tools are all still there.
    assert "Replace device key" in html and "Start inspection" in html

    queens = _section(html, "bee-queen-history")
    assert queens.index("2024 yellow") < queens.index("2022 white")  # newest first
    assert "Mother:" in queens and "2023 red in Mother hive" in queens
    assert "2025 blue in Split hive" in queens
    assert f'href="/admin/apiary/queenbee/{mother.pk}/change/"' in queens
    assert "2022-05-01 – 2024-06-01 (superseded)" in queens and old.pk
    assert "Bobs hive" not in html and "green" not in queens

    events = _section(html, "bee-recent-events")
    # As the event list shows them (apiary.event_details.details_summary).
    assert "queen seen, 6 frames brood, calm" in events
    assert "syrup 1:1, 2.5 l" in events
    assert "calm colony" in events
    assert events.count('<li class="event') == 10
    assert "n7" in events and "n8" not in events  # the 10 newest


def test_hive_page_of_a_silent_sensor(alice, alice_hive) -> None:
    html = _admin(alice).get(f"/admin/apiary/hive/{alice_hive.id}/change/").content.decode()
    telemetry = _section(html, "bee-telemetry")
    assert "no data yet" in telemetry and "No data in this period" in telemetry
    assert "No queen recorded" in html and "No events recorded" in html


def test_a_viewer_sees_the_hive_page_without_the_owners_tools(bob, alice_apiary, alice_hive):
    Membership.objects.create(apiary=alice_apiary, user=bob, email=bob.email, role="viewer")
    _readings(alice_hive.device_id, (_ago(hours=2), {"temperature": 33.3}))
    html = _admin(bob).get(f"/admin/apiary/hive/{alice_hive.id}/change/").content.decode()
    assert "33.3 °C" in _section(html, "bee-telemetry") and "stale" in html
    assert "Replace device key" not in html and "Start inspection" not in html


# --- A telemetry outage -----------------------------------------------------------------


def test_the_console_works_without_the_telemetry_database(
    alice, alice_hive, yards, monkeypatch
) -> None:
    from django.db import OperationalError

    import telemetry.overview

    def unreachable(**kwargs: Any) -> None:
        raise OperationalError("connection to server failed: Connection refused")

    monkeypatch.setattr(telemetry.overview, "device_summaries", unreachable)
    client = _admin(alice)
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="bee-telemetry-unavailable"' in html
    row = _row(html, alice_hive.device_id)
    assert _cell(row, "last-heard") == "unknown" and "stale" not in row
    assert _cell(row, "queen") == "2025 blue" and "possible swarm" in _cell(row, "alerts")

    response = client.get(f"/admin/apiary/hive/{alice_hive.id}/change/")
    assert response.status_code == 200
    panel = _section(response.content.decode(), "bee-telemetry")
    assert "cannot be reached" in panel and "<svg" not in panel


def test_battery_and_signal_show_where_the_sensor_sends_them(alice, alice_hive, yards) -> None:
    """One compact Sensor column: the latest battery and signal of a hive that sends them,
    nothing for one that does not, and no column at all in an apiary where none does."""
    _readings(
        alice_hive.device_id,
        (_ago(minutes=30), {"battery": 3.31, "rssi": -97.0, "snr": 7.5}),
        # The newest reading has no health metrics: the latest ones still show.
        (_ago(minutes=1), {"temperature": 35.0}),
    )
    html = _admin(alice).get("/admin/").content.decode()
    row = _row(html, alice_hive.device_id)
    assert _cell(row, "sensor") == "3.31 V −97 dBm 7.5 dB"
    assert 'title="Signal (RSSI)"' in row
    assert _cell(_row(html, "alice-002"), "sensor") == ""  # same apiary, sends none
    orchard = html[html.index("Orchard") :]
    assert orchard.count('class="c-sensor"') == 1
    # bob's Meadow: no hive there sends battery or signal, so no Sensor column.
    meadow = html[html.index("Meadow") : html.index("Orchard")]
    assert "c-sensor" not in meadow and 'class="num sensor"' not in meadow
    assert 'class="num battery"' not in html  # no empty per-metric columns any more
