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
from sensors.models import SensorLink
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


def _post(user: Any, hive_id: int, data: dict[str, str]) -> tuple[int, str]:
    client = Client()
    client.force_login(user)
    response = client.post(f"/admin/apiary/hive/{hive_id}/sensor/", data, follow=True)
    return response.status_code, unescape(response.content.decode())


def test_an_editor_saves_the_field_map_and_dev_eui_from_the_panel() -> None:
    alice: Any = BeekeeperFactory()
    device = make_hive(alice, "panel-dev-4")
    status, page = _post(
        alice,
        device.hive.pk,
        {
            "field_map": '{"w": {"metric": "weight", "unit": "g"}}',
            "dev_eui": "70-b3-d5-7e-d0-05-a1-b2",
        },
    )
    assert status == 200 and "sensor settings of" in page
    link = SensorLink.objects.get(hive=device.hive)
    assert link.field_map == {"w": {"metric": "weight", "unit": "g"}}
    assert link.dev_eui == "70B3D57ED005A1B2"
    client = Client()
    client.force_login(alice)
    form = unescape(client.get(f"/admin/apiary/hive/{device.hive.pk}/sensor/").content.decode())
    assert '"w": {"metric": "weight", "unit": "g"}' in form  # the form shows what is saved
    assert "70B3D57ED005A1B2" in form


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"field_map": "{not json", "dev_eui": ""}, "Not valid JSON"),
        ({"field_map": '{"w": "wieght"}', "dev_eui": ""}, "wieght"),
        ({"field_map": "", "dev_eui": "12345"}, "16 hexadecimal"),
    ],
)
def test_bad_sensor_settings_are_refused_with_a_message_and_nothing_saved(
    data: dict[str, str], message: str
) -> None:
    alice: Any = BeekeeperFactory()
    device = make_hive(alice, "panel-dev-5")
    status, page = _post(alice, device.hive.pk, data)
    assert status == 200 and message in page
    assert not SensorLink.objects.filter(hive=device.hive).exclude(field_map=None).exists()
    assert not SensorLink.objects.filter(hive=device.hive).exclude(dev_eui=None).exists()
