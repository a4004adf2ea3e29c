"""The permission matrix's rows for monitoring: a hive's readings (raw, hourly, daily,
latest), sending readings with a device key, and the hive's live stream (WebSocket)."""

from __future__ import annotations

import datetime as dt

from telemetry.models import Calibration, Reading
from telemetry.selectors import DAILY_COLUMNS
from tests.security.matrix.table import (
    HIDDEN,
    NEEDS_EDITOR,
    OK,
    REFUSED,
    UNAUTH,
    WS_4401,
    WS_4404,
    WS_HISTORY,
    Call,
    Check,
    R,
    Row,
    created,
    gone,
)

NEW_READING = {"time": "{now}", "temperature": 35.5}


def readings_of(device: str) -> Check:
    def check(c: Call) -> None:
        body = c.json()
        assert body["device_id"] == c.ctx[device]
        assert len(body["results"]) == 3

    return check


def csv_of_three_readings(c: Call) -> None:
    assert c.response["Content-Type"].startswith("text/csv")
    assert len(c.text().strip().splitlines()) == 1 + 3


def hourly_of_alice(c: Call) -> None:
    body = c.json()
    assert body["device_id"] == c.ctx["device"]
    assert sum(row["reading_count"] for row in body["results"]) == 3


def daily_of_alice(c: Call) -> None:
    body = c.json()
    assert body["device_id"] == c.ctx["device"]
    # The world's three readings (10, 20 and 30 minutes old: one or two UTC days).
    assert sum(row["reading_count"] for row in body["results"]) == 3
    assert all("weight_change" in row for row in body["results"])


def csv_of_alices_days(c: Call) -> None:
    assert c.response["Content-Type"].startswith("text/csv")
    header, *rows = [line.split(",") for line in c.text().strip().splitlines()]
    assert header == list(DAILY_COLUMNS)
    count = header.index("reading_count")
    assert sum(int(row[count]) for row in rows) == 3


def latest_of_alice(c: Call) -> None:
    newest = Reading.objects.filter(device_id=c.ctx["device"]).order_by("-time").first()
    body = c.json()
    assert body["device_id"] == c.ctx["device"]
    assert dt.datetime.fromisoformat(body["time"]) == newest.time


def net_weight_of_alice(c: Call) -> None:
    body = c.json()
    assert body["device_id"] == c.ctx["device"]
    assert all(row["weight"] == 40.0 for row in body["results"])


def lists_calibration(c: Call) -> None:
    assert [row["id"] for row in c.json()] == [c.ctx["calibration"]]


def fit_of_few_points(c: Call) -> None:
    # Three readings, none of them at night: nothing to fit, nothing applied.
    assert c.json()["calibration"] is None
    assert c.json()["points"] < 30


def reading_stored_for(device: str) -> Check:
    def check(c: Call) -> None:
        at = dt.datetime.fromisoformat(c.ctx["now"])
        assert Reading.objects.filter(device_id=c.ctx[device], time=at).exists()

    return check


def stored_for_own_device_only(c: Call) -> None:
    """A device key writes its own hive's device, whatever else the requester owns."""
    reading_stored_for("own_device")(c)
    at = dt.datetime.fromisoformat(c.ctx["now"])
    assert list(Reading.objects.filter(time=at).values_list("device_id", flat=True)) == [
        c.ctx["own_device"]
    ]
    if c.role != "alice":
        assert Reading.objects.filter(device_id=c.ctx["device"]).count() == 3


ROWS: list[Row] = [
    # ---- Telemetry -----------------------------------------------------------------------
    # method    path                                   alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/hives/{hive}/telemetry",             OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=readings_of("device")),
    R("GET",    "/hives/{hive}/telemetry?format=csv",  OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=csv_of_three_readings),
    R("POST",   "/hives/{hive}/telemetry",             OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH, body=NEW_READING,
      check=reading_stored_for("device")),
    R("GET",    "/hives/{hive}/telemetry/hourly",      OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=hourly_of_alice),
    R("GET",    "/hives/{hive}/telemetry/daily",       OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=daily_of_alice),
    R("GET",    "/hives/{hive}/telemetry/daily?format=csv", OK,  HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=csv_of_alices_days),
    R("GET",    "/hives/{hive}/telemetry/latest",      OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=latest_of_alice),
    R("GET",    "/hives/{hive}/telemetry/net-weight",  OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=net_weight_of_alice),
    # ---- Calibrations --------------------------------------------------------------------
    R("GET",    "/hives/{hive}/calibrations",          OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=lists_calibration),
    R("POST",   "/hives/{hive}/calibrations",          OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={"metric": "temperature", "offset": -0.5}, check=created(Calibration, metric="temperature")),
    R("DELETE", "/hives/{hive}/calibrations/{calibration}", OK,  HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH, check=gone(Calibration, "calibration")),
    R("POST",   "/hives/{hive}/calibrations/tare",     OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={}, check=created(Calibration, kind="tare")),
    R("POST",   "/hives/{hive}/calibrations/calibrate", OK,      HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={"known": 20}, check=created(Calibration, kind="calibrate", multiplier=0.5)),
    R("POST",   "/hives/{hive}/calibrations/fit",      OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH,
      body={}, ok=200, check=fit_of_few_points),
    # POST /telemetry authenticates with the role's own device key (only alice and bob
    # have one: charlie, dave and erin have no hive of their own).
    R("POST",   "/telemetry",                          OK,       OK,       UNAUTH,   UNAUTH,       UNAUTH,      UNAUTH,
      auth="device", body=NEW_READING, check=stored_for_own_device_only, note="own device key"),
    R("POST",   "/telemetry",                          OK,       REFUSED,  UNAUTH,   UNAUTH,       UNAUTH,      UNAUTH,
      auth="device", body={"device_id": "{device}", "readings": [NEW_READING]},
      check=reading_stored_for("device"), note="body names alice's device"),

    # ---- The live stream (WebSocket, ?token=<JWT access>) --------------------------------
    R("WS",     "/ws/hive/{hive}/telemetry",
      WS_HISTORY, WS_4404, WS_4404, WS_HISTORY, WS_HISTORY, WS_4401),
]  # fmt: skip
