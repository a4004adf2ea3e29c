"""The live hive page as the server renders it: access, alerts, the range choice, units
and the empty state (the browser side: tests/e2e/test_live_page.py)."""

from __future__ import annotations

import html as html_lib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

from alerts.models import Alert, AlertRule, Kind, Status
from apiary.models import Membership
from telemetry.services import readings_ingest
from tests.accounts.factories import PASSWORD, BeekeeperFactory
from tests.telemetry.conftest import make_hive, reading

# The page asks the telemetry database whether the hive has readings (the empty state).
PAGE_DB = pytest.mark.django_db(databases=["default", "telemetry"])


def _client(user: Any) -> Client:
    client = Client()
    client.login(email=user.email, password=PASSWORD)
    return client


def _alert(user: Any, hive: Any, message: str, **fields: Any) -> Alert:
    """A swarm alert of ``user``'s on ``hive``, from their swarm rule (one made if none)."""
    rule = AlertRule.objects.filter(user=user, kind=Kind.SWARM).first()
    if rule is None:
        rule = AlertRule.objects.create(user=user, kind=Kind.SWARM, hive=hive)
    return Alert.objects.create(
        user=user,
        rule=rule,
        hive=hive,
        kind=Kind.SWARM,
        started_at=datetime.now(UTC) - timedelta(minutes=5),
        message=message,
        **fields,
    )


@PAGE_DB
def test_live_page_needs_a_login_and_shows_only_own_hives() -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    bob: Any = BeekeeperFactory(email="bob@example.com")
    device = make_hive(alice, "page-001")
    url = f"/hives/{device.hive.id}/live"

    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]

    as_bob = Client()
    as_bob.login(email=bob.email, password=PASSWORD)
    assert as_bob.get(url).status_code == 404

    as_alice = Client()
    as_alice.login(email=alice.email, password=PASSWORD)
    page = as_alice.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-ws-path="/ws/hive/{device.hive.id}/telemetry"' in html
    assert "/static/telemetry/live.js" in html
    assert "cdn" not in html.lower()
    assert as_alice.get("/static/telemetry/live.js").status_code == 200


@PAGE_DB
def test_live_page_lists_the_viewers_active_alerts_on_the_hive() -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    bob: Any = BeekeeperFactory(email="bob@example.com")
    device = make_hive(alice, "page-001")
    hive = device.hive
    elsewhere = make_hive(alice, "page-002").hive
    # bob is a member with a rule of his own on the hive: his alerts are his alone.
    Membership.objects.create(apiary=hive.apiary, user=bob, email=bob.email, role="viewer")
    AlertRule.objects.filter(user=bob).delete()
    mine = _alert(alice, hive, "Hive <b>1</b> lost 2.4 kg in 9 min — possible swarm")
    _alert(
        alice, hive, "an old swarm, resolved", resolved_at=datetime.now(UTC), status=Status.RESOLVED
    )
    _alert(alice, elsewhere, "a swarm on another hive")
    theirs = _alert(bob, hive, "the swarm alert of bob")

    html = _client(alice).get(f"/hives/{hive.id}/live").content.decode()
    assert f'data-alert-id="{mine.pk}"' in html
    assert "Hive &lt;b&gt;1&lt;/b&gt; lost 2.4 kg in 9 min — possible swarm" in html
    assert "<b>1</b>" not in html
    assert '<span id="alert-count" class="alert-count">1</span>' in html
    assert 'class="no-alerts" hidden' in html
    for absent in ("an old swarm, resolved", "a swarm on another hive", "the swarm alert of bob"):
        assert absent not in html
    assert f'data-alert-id="{theirs.pk}"' not in html
    assert 'id="alert-kinds"' in html  # the kinds' labels, for alerts added live
    # What live.js reads after each (re)connection, and to check an alert it is told of.
    url = f"/alerts?hive={hive.id}&page_size=100"
    assert f'data-alerts-url="{url.replace("&", "&amp;")}"' in html
    listed = _client(alice).get(url)
    assert listed.status_code == 200
    assert {a["id"] for a in listed.json()["results"]} >= {mine.pk}
    assert _client(alice).get(f"/alerts/{theirs.pk}").status_code == 404

    as_bob = _client(bob).get(f"/hives/{hive.id}/live").content.decode()
    assert "the swarm alert of bob" in as_bob and "possible swarm" not in as_bob

    quiet = _client(alice).get(f"/hives/{elsewhere.id}/live").content.decode()
    assert "a swarm on another hive" in quiet
    empty = make_hive(alice, "page-003").hive
    page = _client(alice).get(f"/hives/{empty.id}/live").content.decode()
    assert '<p id="no-alerts" class="no-alerts">No active alerts on this hive.</p>' in page


def _config(html: str) -> dict[str, Any]:
    """The page's #live-config (what live.js reads)."""
    found = re.search(r'<script id="live-config" type="application/json">(.*?)</script>', html)
    assert found, "no #live-config on the page"
    return json.loads(found.group(1))


def _selected(html: str) -> list[str]:
    """The range links marked as the current one."""
    return re.findall(
        r'<a class="range" href="\?range=(\w+)" data-range="\w+" aria-current="page"', html
    )


def _empty_state(html: str) -> str:
    found = re.search(r'<section id="empty-state"[^>]*>.*?</section>', html, re.S)
    assert found, "no #empty-state on the page"
    return found.group(0)


@PAGE_DB
@pytest.mark.parametrize(
    ("query", "key", "source", "title"),
    [
        ("", "24h", "raw", "Last 24 hours"),
        ("?range=24h", "24h", "raw", "Last 24 hours"),
        ("?range=7d", "7d", "hourly", "Last 7 days"),
        ("?range=30d", "30d", "hourly", "Last 30 days"),
        ("?range=7D", "7d", "hourly", "Last 7 days"),
        ("?range=", "24h", "raw", "Last 24 hours"),
    ],
)
def test_the_range_comes_from_the_url(query: str, key: str, source: str, title: str) -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    hive = make_hive(alice, "page-001").hive
    page = _client(alice).get(f"/hives/{hive.id}/live{query}")
    assert page.status_code == 200
    html = page.content.decode()
    assert _selected(html) == [key]
    for other in ("24h", "7d", "30d"):  # every range is a plain link too (works without JS)
        assert f'href="?range={other}" data-range="{other}"' in html
    assert f'data-range="{key}"\n        data-source="{source}"' in html
    assert f'<span id="range-title">{title}</span>' in html
    assert 'id="range-notice"' not in html
    config = _config(html)
    assert config["range"] == key
    assert config["ranges"][key]["source"] == source
    assert {k: r["seconds"] for k, r in config["ranges"].items()} == {
        "24h": 86400,
        "7d": 7 * 86400,
        "30d": 30 * 86400,
    }
    # The two queries the charts make: raw readings for a day, hourly beyond.
    assert config["rawUrl"] == f"/hives/{hive.id}/telemetry"
    assert config["hourlyUrl"] == f"/hives/{hive.id}/telemetry/hourly"
    assert config["rawLimit"] == 5000
    legend = "hourly average" if source == "hourly" else "Every reading as the sensor sent it"
    assert legend in html


@PAGE_DB
@pytest.mark.parametrize(
    "bad", ["1y", "24", "all", "7d;drop", "<script>alert(1)</script>", "x" * 300]
)
def test_an_unknown_range_falls_back_to_24_hours_with_a_notice(bad: str) -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    hive = make_hive(alice, "page-001").hive
    page = _client(alice).get(f"/hives/{hive.id}/live", {"range": bad})
    assert page.status_code == 200
    html = page.content.decode()
    assert _selected(html) == ["24h"]
    assert _config(html)["range"] == "24h"
    notice = re.search(r'<p id="range-notice" class="notice" role="alert">(.*?)</p>', html, re.S)
    assert notice, html
    text = html_lib.unescape(notice.group(1))
    assert "Unknown range" in text and "showing the last 24 hours" in text
    assert "24h, 7d, 30d" in text
    assert bad[:20] in text and len(text) < 200  # quoted, shortened
    assert "<script>alert" not in html


@PAGE_DB
def test_the_axes_name_their_units() -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    hive = make_hive(alice, "page-001").hive
    html = _client(alice).get(f"/hives/{hive.id}/live").content.decode()
    for metric, label, unit in (
        ("temperature", "Temperature", "°C"),
        ("humidity", "Humidity", "%"),
        ("weight", "Weight", "kg"),
        ("sound_level", "Sound level", "dB"),
    ):
        assert f'data-metric="{metric}" data-label="{label}" data-unit="{unit}"' in html
        assert f'{label} <span class="unit">({unit})</span>' in html
        assert f'aria-label="{label} in {unit}, last 24 hours"' in html
        assert f'id="latest-{metric}"' in html
    assert 'times in <span id="time-zone">UTC</span>' in html  # the user's zone (none: UTC)


@PAGE_DB
def test_a_hive_without_readings_explains_how_to_connect_its_sensor() -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    device = make_hive(alice, "gw-empty-7")
    hive = device.hive
    html = _client(alice).get(f"/hives/{hive.id}/live").content.decode()
    empty = _empty_state(html)
    assert "hidden" not in empty.split(">", 1)[0]  # shown
    text = html_lib.unescape(empty)
    assert "No readings yet: connect a sensor" in text
    assert '<code id="empty-device-id">gw-empty-7</code>' in text
    assert "POST http://testserver/telemetry" in text
    assert "X-Device-Key: <this hive's device key>" in text
    assert "Content-Type: application/json" in text
    assert f"POST /hives/{hive.id}/device-key" in text
    assert f'href="/admin/apiary/hive/{hive.id}/device-key/"' in text  # the owner's
    assert "updates by itself when the first reading arrives" in text
    # The example body is a reading the API takes as it is.
    body = re.search(r'(\{"time": "[^"]+Z", "temperature": 34.9[^}]*\})', text)
    assert body, text
    example = json.loads(body.group(1))
    assert set(example) == {"time", "temperature", "humidity", "weight", "sound_level"}
    response = Client().post(
        "/telemetry",
        data=json.dumps(example),
        content_type="application/json",
        headers={"X-Device-Key": device.key},
    )
    assert response.status_code == 201, response.content
    # The key itself is never on the page.
    assert device.key not in html

    # Now it has a reading: the empty state is there for live.js, hidden.
    html = _client(alice).get(f"/hives/{hive.id}/live").content.decode()
    assert '<section id="empty-state" class="empty-state" aria-live="polite" hidden>' in html


@PAGE_DB
def test_a_viewer_is_told_who_can_replace_the_device_key() -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    bob: Any = BeekeeperFactory(email="bob@example.com")
    hive = make_hive(alice, "page-001").hive
    Membership.objects.create(apiary=hive.apiary, user=bob, email=bob.email, role="viewer")
    text = html_lib.unescape(
        _empty_state(_client(bob).get(f"/hives/{hive.id}/live").content.decode())
    )
    assert "Only the apiary's owner can replace it" in text
    assert f"POST /hives/{hive.id}/device-key" in text
    assert "/device-key/" not in text  # no admin link he could not use


@PAGE_DB
def test_a_hive_with_old_readings_only_has_no_empty_state() -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    hive = make_hive(alice, "page-001").hive
    readings_ingest(device_id=hive.device_id, readings=[reading(minutes=90 * 24 * 60)])
    html = _client(alice).get(f"/hives/{hive.id}/live?range=30d").content.decode()
    assert '<section id="empty-state" class="empty-state" aria-live="polite" hidden>' in html


@PAGE_DB
def test_the_page_loads_while_the_telemetry_database_is_down() -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    hive = make_hive(alice, "page-001").hive
    down = OperationalError("connection refused")
    with mock.patch("console.live_views.device_has_readings", side_effect=down):
        page = _client(alice).get(f"/hives/{hive.id}/live?range=7d")
    assert page.status_code == 200
    html = page.content.decode()
    # Unknown: hidden until the stream's history (empty for a hive without readings) says.
    assert '<section id="empty-state" class="empty-state" aria-live="polite" hidden>' in html
    assert _selected(html) == ["7d"]
