"""A device writes only its own readings: a body or a reading naming another device_id is
refused with the same message wherever readings come in (the device key's POST /telemetry,
the owner's POST /hives/{id}/telemetry; a batch's body or one of its readings), by the one
check telemetry.validation.wrong_device."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from telemetry.models import Reading
from telemetry.validation import ReadingsInvalid, readings_validate, wrong_device
from tests.telemetry.conftest import DeviceHive, make_hive, reading

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def _message(device_id: str) -> str:
    return f"This key writes only device {device_id!r}."


def test_the_check_names_the_device_being_written() -> None:
    assert wrong_device({}, "dev-1") is None
    assert wrong_device({"device_id": "dev-1"}, "dev-1") is None
    assert wrong_device({"device_id": "dev-2"}, "dev-1") == _message("dev-1")
    assert wrong_device({"device_id": None}, "dev-1") == _message("dev-1")


def test_validation_refuses_a_reading_of_another_device() -> None:
    good = reading(1)
    valid, _ = readings_validate([{**good, "device_id": "dev-1"}], device_id="dev-1")
    assert len(valid) == 1
    with pytest.raises(ReadingsInvalid) as refused:
        readings_validate([good, {**reading(2), "device_id": "dev-2"}], device_id="dev-1")
    assert refused.value.errors == {"1": {"device_id": [_message("dev-1")]}}


@pytest.mark.parametrize("path", ["device", "owner"])
def test_every_entry_point_says_the_same(
    path: str, device: APIClient, alice_client: APIClient, alice_hive: DeviceHive, bob: Any
) -> None:
    other = make_hive(bob, "hive-bob-1").hive.device_id
    client, url = (
        (device, "/telemetry")
        if path == "device"
        else (alice_client, f"/hives/{alice_hive.hive.pk}/telemetry")
    )
    expected = [_message(alice_hive.device_id)]

    body = client.post(url, {"device_id": other, "readings": [reading(1)]}, format="json")
    assert body.status_code == 400
    assert body.json() == {"device_id": expected}

    single = client.post(url, {**reading(1), "device_id": other}, format="json")
    assert single.status_code == 400
    assert single.json() == {"device_id": expected}

    batch = client.post(
        url, {"readings": [reading(2), {**reading(1), "device_id": other}]}, format="json"
    )
    assert batch.status_code == 400
    assert batch.json() == {"readings": {"1": {"device_id": expected}}}

    assert not Reading.objects.filter(device_id__in=[other, alice_hive.device_id]).exists()
