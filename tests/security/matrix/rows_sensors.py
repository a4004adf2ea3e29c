"""The permission matrix's rows for sensors: the adapters (BEEP, ThingSpeak) with the
role's own device key, The Things Network's uplink and the user's integrations, a hive's
device status and field map, and the sensors admin (superusers only)."""

from __future__ import annotations

from apiary.device_keys import device_key_hash
from sensors.models import Integration, SensorLink
from telemetry.models import Reading
from tests.security.matrix.table import (
    DENIED,
    EMPTY,
    HIDDEN,
    LIST,
    LOGIN,
    NEEDS_EDITOR,
    OK,
    REDIRECT,
    UNAUTH,
    Call,
    Check,
    R,
    Row,
    contains,
    gone,
)


def sensor_reading_of_own_device(temperature: float) -> Check:
    """An adapter stored the reading for the device key's own hive, and nobody else's."""

    def check(c: Call) -> None:
        devices = Reading.objects.filter(temperature=temperature).values_list(
            "device_id", flat=True
        )
        assert list(devices) == [c.ctx["own_device"]]

    return check


def integration_created_for_requester(c: Call) -> None:
    assert Integration.objects.get(pk=c.json()["id"]).owner == c.user


def integration_key_replaced(c: Call) -> None:
    stored = Integration.objects.get(pk=c.ctx["integration"]).key_hash
    assert stored == device_key_hash(c.json()["key"])


def field_map_set(c: Call) -> None:
    assert SensorLink.objects.get(hive_id=c.ctx["hive"]).field_map == {
        "w": {"metric": "weight", "unit": "kg"}
    }


ROWS: list[Row] = [
    # The adapters authenticate with the role's own device key (X-Device-Key; only alice
    # and bob have one); TTN's uplink with an integration key, which a JWT is not.
    # method    path                                   alice     bob       charlie   dave          erin         anonymous
    R("POST",   "/api/sensors",                        OK,       OK,       UNAUTH,   UNAUTH,       UNAUTH,      UNAUTH,
      auth="device", body={"t_i": 35.25}, ok=201, check=sensor_reading_of_own_device(35.25), note="own device key"),
    R("POST",   "/update.json",                        OK,       OK,       UNAUTH,   UNAUTH,       UNAUTH,      UNAUTH,
      auth="device", body={"field1": 35.75, "created_at": "{now}"}, ok=200, check=sensor_reading_of_own_device(35.75)),
    R("POST",   "/update",                             OK,       OK,       UNAUTH,   UNAUTH,       UNAUTH,      UNAUTH,
      auth="device", body={"field1": 35.5, "created_at": "{now}"}, ok=200, check=sensor_reading_of_own_device(35.5)),
    R("GET",    "/update?field1=35.125",               OK,       OK,       UNAUTH,   UNAUTH,       UNAUTH,      UNAUTH,
      auth="device", ok=200, get_writes=True, check=sensor_reading_of_own_device(35.125)),
    R("POST",   "/integrations/ttn/uplink",            UNAUTH,   UNAUTH,   UNAUTH,   UNAUTH,       UNAUTH,      UNAUTH,
      body={"end_device_ids": {"device_id": "{device}"}, "uplink_message": {"decoded_payload": {"t_i": 30}}},
      note="a JWT is no integration key"),
    R("GET",    "/integrations",                       LIST,     LIST,     EMPTY,    EMPTY,        EMPTY,       UNAUTH),
    R("POST",   "/integrations",                       OK,       OK,       OK,       OK,           OK,          UNAUTH,
      body={"kind": "ttn", "name": "new"}, ok=201, check=integration_created_for_requester),
    R("DELETE", "/integrations/{integration}",         OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH,
      check=gone(Integration, "integration")),
    R("POST",   "/integrations/{integration}/key",     OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, ok=200,
      check=integration_key_replaced),
    R("GET",    "/hives/{hive}/device",                OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=contains("{device}")),
    R("PATCH",  "/hives/{hive}/device",                OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={"field_map": {"w": "weight"}}, check=field_map_set),

    # Sensor links and integrations in the admin: superusers' pages (read-only).
    R("GET",    "/admin/sensors/sensorlink/",                DENIED,   DENIED,    DENIED,    DENIED,    DENIED,    LOGIN),
    R("GET",    "/admin/sensors/sensorlink/add/",            DENIED,   DENIED,    DENIED,    DENIED,    DENIED,    LOGIN),
    R("GET",    "/admin/sensors/sensorlink/{hive}/",         REDIRECT, REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN,
      location="/admin/sensors/sensorlink/{hive}/change/"),
    R("GET",    "/admin/sensors/sensorlink/{hive}/change/",  DENIED,   DENIED,    DENIED,    DENIED,    DENIED,    LOGIN),
    R("GET",    "/admin/sensors/sensorlink/{hive}/delete/",  DENIED,   DENIED,    DENIED,    DENIED,    DENIED,    LOGIN),
    R("GET",    "/admin/sensors/sensorlink/{hive}/history/", DENIED,   DENIED,    DENIED,    DENIED,    DENIED,    LOGIN),
    R("GET",    "/admin/sensors/integration/",               DENIED,   DENIED,    DENIED,    DENIED,    DENIED,    LOGIN),
    R("GET",    "/admin/sensors/integration/add/",           DENIED,   DENIED,    DENIED,    DENIED,    DENIED,    LOGIN),
    R("GET",    "/admin/sensors/integration/{integration}/", REDIRECT, REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN,
      location="/admin/sensors/integration/{integration}/change/"),
    R("GET",    "/admin/sensors/integration/{integration}/change/",  DENIED, DENIED, DENIED, DENIED,    DENIED,    LOGIN),
    R("GET",    "/admin/sensors/integration/{integration}/delete/",  DENIED, DENIED, DENIED, DENIED,    DENIED,    LOGIN),
    R("GET",    "/admin/sensors/integration/{integration}/history/", DENIED, DENIED, DENIED, DENIED,    DENIED,    LOGIN),
]  # fmt: skip
