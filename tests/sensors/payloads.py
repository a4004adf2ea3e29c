"""Payloads as the public documentation and firmware write them (times are replaced with
recent ones where a test stores readings: validation refuses readings older than the
retention)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from core.times import iso_time


def recent(minutes: float = 1) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


# The Things Stack "Data Formats", uplink message example
# (https://www.thethingsindustries.com/docs/integrations/data-formats/): end_device_ids,
# received_at, uplink_message with decoded_payload, two gateways in rx_metadata, settings.
# decoded_payload is what the BEEP base decoder names (weight_kg, t_i, h, bv) instead of
# the docs' {"bytes": [...]}.
TTN_UPLINK: dict[str, Any] = {
    "end_device_ids": {
        "device_id": "dev1",
        "application_ids": {"application_id": "app1"},
        "dev_eui": "0004A30B001C0530",
        "join_eui": "800000000000000C",
        "dev_addr": "00BCB929",
    },
    "correlation_ids": ["as:up:01E0WZGT2WDS1PF4SAB0AB0DT3"],
    "received_at": "2020-02-12T15:15:45.787Z",
    "uplink_message": {
        "session_key_id": "AXBSH1Pk6Z0G166xRe1Y0g==",
        "f_port": 1,
        "f_cnt": 25,
        "frm_payload": "6ao=",
        "decoded_payload": {
            "weight_kg": 42.5,
            "t_i": 34.8,
            "h": 61,
            "bv": 3.71,
            "bytes": [233, 170],
        },
        "rx_metadata": [
            {
                "gateway_ids": {"gateway_id": "gtw1", "eui": "9C5C8E00001A05C4"},
                "time": "2020-02-12T15:15:45.787Z",
                "timestamp": 2463457000,
                "rssi": -35,
                "channel_rssi": -35,
                "snr": 5.2,
                "uplink_token": "ChIKEAoEZ3R3MRIInFyOAAAaBcQQ6NXfoQkaCwiBh5HyBRCYvr1XIOijoZIJ",
                "channel_index": 2,
            },
            {
                "gateway_ids": {"gateway_id": "gtw2"},
                "time": "2020-02-12T15:15:45.787Z",
                "rssi": -104,
                "channel_rssi": -104,
                "snr": -2.5,
                "channel_index": 2,
            },
        ],
        "settings": {
            "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7}},
            "coding_rate": "4/6",
            "frequency": "868500000",
            "timestamp": 2463457000,
            "time": "2020-02-12T15:15:45.787Z",
        },
        "received_at": "2020-02-12T15:15:45.787Z",
        "consumed_airtime": "0.056576s",
    },
}


def ttn_uplink(
    *,
    device_id: str = "dev1",
    dev_eui: str | None = "0004A30B001C0530",
    at: datetime | None = None,
    **decoded: Any,
) -> dict[str, Any]:
    message = copy.deepcopy(TTN_UPLINK)
    message["end_device_ids"]["device_id"] = device_id
    if dev_eui is None:
        del message["end_device_ids"]["dev_eui"]
    else:
        message["end_device_ids"]["dev_eui"] = dev_eui
    stamp = iso_time(at or recent())
    message["received_at"] = message["uplink_message"]["received_at"] = stamp
    if decoded:
        message["uplink_message"]["decoded_payload"] = decoded
    return message


# Hiveeyes/Kotori: a flat JSON object published to .../data.json (Kotori "Hiveeyes" docs
# and the Terkin datalogger's keys: weight.0, temperature.0x77.i2c:0, system.*), with the
# Hiveeyes names broodtemperature/airtemperature.
KOTORI_DATA_JSON: dict[str, Any] = {
    "weight": 42.3,
    "broodtemperature": 35.1,
    "airtemperature": 12.4,
    "humidity": 71.0,
    "battery_level": 3.92,
    "temperature.28ff641d8fc3944f.onewire:0": 34.6,
    "system.uptime": 1830,
}


# BEEP POST /api/sensors (its value-key table, as quoted in HoneyPi's beep.py, and the
# BEEP-forwarding TTN scripts of hiveeyes/terkin-datalogger): key, t_i, t, h, p,
# weight_kg, bv, s_fan_*, s_tot, rssi, snr, time (Unix seconds).
def beep_body(key: str, *, at: datetime | None = None, **values: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": key,
        "t_i": 34.9,
        "t": 18.2,
        "h": 58.5,
        "p": 1013.2,
        "weight_kg": 41.75,
        "bv": 3.8,
        "s_fan_4": 12,
        "s_fan_6": 8,
        "s_tot": 55,
        "rssi": -71,
        "snr": 7.5,
    }
    if at is not None:
        body["time"] = int(at.timestamp())
    body.update(values)
    return body


# HoneyPi (Honey-Pi/rpi-scripts thingspeak.py): requests.post(server + "/update.json",
# params=fields + api_key), i.e. a POST with everything in the query string; fields as
# assigned in its example settings.json (field1 DS18B20, field2/3 BME280 temperature and
# humidity, field4 air pressure, field6 the scale).
def honeypi_params(api_key: str, **fields: Any) -> dict[str, Any]:
    params = {"field1": 35.2, "field2": 14.1, "field3": 66.0, "field4": 1008, "field6": 38.45}
    params.update(fields)
    params["api_key"] = api_key
    return {k: v for k, v in params.items() if v is not None}
