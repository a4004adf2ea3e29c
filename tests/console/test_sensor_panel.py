"""The "Connect a sensor" panel of a hive's console page: the exact URLs, topics, username
and field maps of each way in, what the device last sent and its last error; never the
device key, and only on the pages of hives the user may see."""

from __future__ import annotations

from html import unescape
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apiary.models import Membership, Role
from tests.factories import BeekeeperFactory
from tests.telemetry.conftest import make_hive

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def _page(user: Any, hive_id: int) -> tuple[int, str]:
    client = Client()
    client.force_login(user)
    response = client.get(f"/admin/apiary/hive/{hive_id}/change/")
    return response.status_code, unescape(response.content.decode())


def test_the_panel_shows_every_way_in_with_its_address_and_field_map() -> None:
    alice: Any = BeekeeperFactory()
    device = make_hive(alice, "panel-dev-1")
    status, page = _page(alice, device.hive.pk)
    assert status == 200
    assert "Connect a sensor" in page
    for text in (
        "http://testserver/telemetry",
        "http://testserver/api/sensors",
        "http://testserver/update.json",
        "http://testserver/integrations/ttn/uplink",
        "beeapi/devices/panel-dev-1/readings",
        "beeapi/devices/panel-dev-1/data.json",
        "-u panel-dev-1",
        "broodtemperature",  # Kotori's default map
        "weight_kg",  # BEEP's
        "field6",  # HoneyPi's
        "<device key>",
    ):
        assert text in page, text
    assert device.key not in page


def test_the_panel_shows_what_the_device_last_sent_and_its_error() -> None:
    alice: Any = BeekeeperFactory()
    device = make_hive(alice, "panel-dev-2")
    api = APIClient()
    bad = api.post(
        "/api/sensors", {"key": device.key, "t_i": "warm", "colour": "blue"}, format="json"
    )
    assert bad.status_code == 400
    _, page = _page(alice, device.hive.pk)
    assert "Last error" in page and "t_i" in page
    assert device.key not in page  # the payload is shown without its credential
    assert "through <strong>beep</strong>" in page


def test_a_viewer_sees_the_panel_and_a_stranger_no_page() -> None:
    alice: Any = BeekeeperFactory()
    dave: Any = BeekeeperFactory()
    bob: Any = BeekeeperFactory()
    device = make_hive(alice, "panel-dev-3")
    Membership.objects.create(apiary=device.hive.apiary, user=dave, role=Role.VIEWER)
    status, page = _page(dave, device.hive.pk)
    assert status == 200 and "Connect a sensor" in page
    status, page = _page(bob, device.hive.pk)
    assert "Connect a sensor" not in page and "panel-dev-3" not in page
