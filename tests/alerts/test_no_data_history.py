"""no_data tells the truth about old-dated readings (#26): a reading dated months back
raises no "no data for 272256 min", and no alert ends before it began."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts import services
from alerts.models import Alert
from telemetry.services import readings_ingest
from telemetry.validation import iso_time
from tests.alerts.conftest import FLOW


def _send(device_id: str, when: datetime, now: datetime | None = None) -> None:
    readings_ingest(
        device_id=device_id,
        readings=[{"time": iso_time(when), "temperature": 35.0, "weight": 40.0}],
        now=now,
    )


@FLOW
def test_a_reading_dated_months_back_raises_no_absurd_no_data(hive):
    now = datetime.now(UTC)
    _send(hive.device_id, now - timedelta(days=189))  # a README example's fixed date
    assert services.no_data_check(now=now) == []
    assert services.no_data_check(now=now + timedelta(hours=2)) == []
    assert not Alert.objects.exists()

    # A reading of this week is still watched from, however late the rule came.
    _send(hive.device_id, now - timedelta(days=2))
    [alert] = services.no_data_check(now=now)
    assert 2 * 1440 - 1 <= alert.values["silent_minutes"] <= 2 * 1440 + 1


@FLOW
def test_an_alert_never_ends_before_it_began(hive):
    now = datetime.now(UTC)
    _send(hive.device_id, now - timedelta(minutes=90), now=now - timedelta(minutes=89))
    [alert] = services.no_data_check(now=now)
    assert alert.started_at == now

    # A backfill brings a reading of 20 minutes ago: the silence was not what it seemed,
    # and the alert ends now, not 20 minutes before it was raised.
    _send(hive.device_id, now - timedelta(minutes=20), now=now)
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_at == alert.started_at
    assert not Alert.objects.filter(resolved_at__lt=alert.started_at).exists()
