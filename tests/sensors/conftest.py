"""Sensors fixtures: alice's hive with its device key (tests.telemetry.conftest), clients."""

from __future__ import annotations

from typing import Any

import pytest

from sensors.models import SensorLink
from telemetry.models import Reading
from tests.telemetry.conftest import alice_client, alice_hive, bob_client  # noqa: F401

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])


def stored(device_id: str) -> list[Reading]:
    return list(Reading.objects.filter(device_id=device_id).order_by("time"))


def link(hive: Any) -> SensorLink:
    return SensorLink.objects.get(hive=hive)
