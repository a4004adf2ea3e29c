"""The "Scale" panel of a hive's console page: the weight's calibrations, and for editors
"Tare now" and "Calibrate with a known mass" (the API's services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from django.test import Client

from apiary.models import Membership, Role
from telemetry.models import Calibration, Reading
from tests.factories import BeekeeperFactory
from tests.telemetry.conftest import make_hive

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _weigh(device_id: str, kg: float) -> None:
    Reading.objects.create(
        device_id=device_id, time=datetime.now(UTC) - timedelta(minutes=2), weight=kg
    )


def test_an_owner_tares_and_calibrates_from_the_hive_page() -> None:
    alice: Any = BeekeeperFactory()
    hive = make_hive(alice, "scale-panel-1").hive
    client = _client(alice)
    page = unescape(client.get(f"/admin/apiary/hive/{hive.pk}/change/").content.decode())
    assert "no calibration" in page and f"/admin/apiary/hive/{hive.pk}/scale/" in page
    # Its forms have a page of their own: none may sit inside the hive's change form.
    assert "Tare now" not in page
    scale = client.get(f"/admin/apiary/hive/{hive.pk}/scale/").content.decode()
    assert "Tare now" in scale and 'name="known"' in scale
    _weigh(hive.device_id, 12.5)
    done = client.post(f"/admin/apiary/hive/{hive.pk}/scale/tare/", follow=True)
    assert "is tared" in done.content.decode()
    tare = Calibration.objects.get(device_id=hive.device_id)
    assert (tare.kind, tare.offset) == ("tare", -12.5)
    Reading.objects.all().delete()
    _weigh(hive.device_id, 22.5)  # 10 kg on the scale, read as 10.0 by the cell
    done = client.post(
        f"/admin/apiary/hive/{hive.pk}/scale/calibrate/", {"known": "10"}, follow=True
    )
    assert "is calibrated" in done.content.decode()
    assert Calibration.objects.get(kind="calibrate").multiplier == pytest.approx(1.0)
    page = unescape(client.get(f"/admin/apiary/hive/{hive.pk}/change/").content.decode())
    assert "tare, offset -12.500 kg" in page


def test_a_tare_without_a_recent_reading_says_why_and_changes_nothing() -> None:
    alice: Any = BeekeeperFactory()
    hive = make_hive(alice, "scale-panel-2").hive
    done = _client(alice).post(f"/admin/apiary/hive/{hive.pk}/scale/tare/", follow=True)
    assert "No weight reading in the 30 minutes" in unescape(done.content.decode())
    done = _client(alice).post(
        f"/admin/apiary/hive/{hive.pk}/scale/calibrate/", {"known": "heavy"}, follow=True
    )
    assert "Give the known mass in kg." in done.content.decode()
    assert not Calibration.objects.exists()


def test_a_viewer_sees_the_calibrations_but_cannot_tare_and_a_stranger_sees_nothing() -> None:
    alice: Any = BeekeeperFactory()
    hive = make_hive(alice, "scale-panel-3").hive
    _weigh(hive.device_id, 12.5)
    viewer: Any = BeekeeperFactory()
    Membership.objects.create(apiary=hive.apiary, user=viewer, role=Role.VIEWER)
    page = _client(viewer).get(f"/admin/apiary/hive/{hive.pk}/change/").content.decode()
    assert "bee-scale" in page and f"/admin/apiary/hive/{hive.pk}/scale/" not in page
    assert _client(viewer).get(f"/admin/apiary/hive/{hive.pk}/scale/").status_code == 403
    assert _client(viewer).post(f"/admin/apiary/hive/{hive.pk}/scale/tare/").status_code == 403
    stranger: Any = BeekeeperFactory()
    assert _client(stranger).post(f"/admin/apiary/hive/{hive.pk}/scale/tare/").status_code == 404
    assert not Calibration.objects.exists()
