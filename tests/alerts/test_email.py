"""The alert email (alerts.emails): in the recipient's time zone, values in words with
their metric's precision, and a link to the alert in the console."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from alerts.delivery import deliveries_send
from alerts.emails import alert_email
from alerts.models import Alert, Kind
from tests.alerts.conftest import FLOW, silent_sensor_alert

BASE = "https://bees.example.org"


@pytest.fixture
def public_url(settings):
    settings.PUBLIC_BASE_URL = BASE
    return settings


def _alert(user, hive, kind: str, values: dict, message: str = "Hive 3: alert") -> Alert:
    return Alert.objects.create(
        user=user,
        hive=hive,
        kind=kind,
        started_at=datetime(2026, 12, 7, 12, 35, tzinfo=UTC),
        message=message,
        values=values,
    )


@FLOW
def test_the_email_is_in_the_recipients_zone_with_a_link(hive, alice, public_url):
    alice.time_zone = "Europe/Berlin"
    alice.save()
    alert = silent_sensor_alert("scale-3")

    deliveries_send()

    [message] = mail.outbox
    body = message.body
    berlin = ZoneInfo("Europe/Berlin")
    local_start = alert.started_at.astimezone(berlin)
    assert f"Started: {local_start:%Y-%m-%d %H:%M %Z}" in body  # CET, or CEST in summer
    last = datetime.fromisoformat(alert.values["last_reading_at"]).astimezone(berlin)
    assert f"Last reading: {last:%Y-%m-%d %H:%M %Z}" in body
    assert f"See and acknowledge it: {BASE}/admin/alerts/alert/{alert.pk}/change/" in body
    assert "POST /alerts" not in body
    assert "{" not in body and "UTC" not in body  # no raw JSON, no UTC


@pytest.mark.django_db
def test_a_swarm_reads_as_weight_dropped_with_the_weights_precision(hive, alice, public_url):
    alert = _alert(
        alice,
        hive,
        Kind.SWARM,
        {
            "weight_before_kg": 45.2,
            "weight_after_kg": 42.692,
            "lost_kg": 2.5080000000000027,
            "minutes": 10,
            "since": "2026-12-07T12:25:00Z",
        },
    )

    subject, body = alert_email(alert)

    assert subject == "[BeeAPI] Hive 3: alert"
    # No zone chosen: UTC, and it says so.
    assert "Weight dropped 2.51 kg in 10 min since 2026-12-07 12:25 UTC" in body
    assert "Weight before: 45.20 kg, after: 42.69 kg" in body
    assert "Started: 2026-12-07 12:35 UTC" in body
    assert "2.508" not in body


@pytest.mark.django_db
def test_a_threshold_names_the_metric_and_the_rule_in_its_units(hive, alice, public_url):
    alice.time_zone = "America/New_York"
    alice.save()
    alert = _alert(
        alice,
        hive,
        Kind.THRESHOLD,
        {
            "humidity": 86.599999999999994,
            "since": "2026-12-07T12:00:00Z",
            "minutes": 35,
            "above": 85,
        },
    )

    _, body = alert_email(alert)

    assert "Humidity: 87 % for 35 min since 2026-12-07 07:00 EST" in body
    assert "The rule: alert above 85 %" in body
    assert "Started: 2026-12-07 07:35 EST" in body


@pytest.mark.django_db
def test_weak_signal_and_brood_temperature_limits(hive, alice, public_url):
    weak = _alert(alice, hive, Kind.WEAK_SIGNAL, {"snr": -12.345, "minutes": 60, "snr_below": -10})
    brood = _alert(
        alice,
        hive,
        Kind.BROOD_TEMPERATURE,
        {"temperature": 38.26, "minutes": 30, "min": 33, "max": 37},
    )

    assert "Signal-to-noise: -12.3 dB for 60 min" in alert_email(weak)[1]
    assert "The rule: alert below -10.0 dB" in alert_email(weak)[1]
    brood_body = alert_email(brood)[1]
    assert "Temperature: 38.3 °C for 30 min" in brood_body
    assert "The rule: lowest allowed 33.0 °C, highest allowed 37.0 °C" in brood_body


@pytest.mark.django_db
def test_without_a_public_url_the_link_is_the_consoles_path(hive, alice, settings):
    settings.PUBLIC_BASE_URL = ""
    alert = _alert(alice, hive, Kind.NO_DATA, {})

    _, body = alert_email(alert)

    assert f"See and acknowledge it: /admin/alerts/alert/{alert.pk}/change/" in body
