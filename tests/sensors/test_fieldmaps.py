"""Field maps without a database: each adapter's default map, unit conversion, user maps,
unmapped keys and the errors naming the payload key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sensors.fieldmaps import (
    DEFAULT_MAPS,
    METRIC_UNITS,
    PayloadInvalid,
    field_map_effective,
    field_map_errors,
    field_map_normalized,
    payload_map,
    ttn_best_gateway,
)
from tests.sensors.payloads import KOTORI_DATA_JSON, TTN_UPLINK, beep_body, honeypi_params

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def only(mapped):
    assert len(mapped.readings) == 1
    return mapped.readings[0]


def test_every_default_map_names_known_metrics_in_their_units() -> None:
    for adapter, targets in DEFAULT_MAPS.items():
        for key, target in targets.items():
            assert target.metric in METRIC_UNITS, (adapter, key)
            assert target.unit == METRIC_UNITS[target.metric], (adapter, key)


def test_kotori_data_json_maps_hiveeyes_names() -> None:
    mapped = payload_map(adapter="kotori", payload=KOTORI_DATA_JSON, field_map=None, now=NOW)
    assert only(mapped) == {
        "time": "2026-05-01T12:00:00Z",
        "weight": 42.3,
        "temperature": 35.1,
        "outside_temperature": 12.4,
        "humidity": 71.0,
        "battery": 3.92,
    }
    assert mapped.mapped == [
        "weight",
        "broodtemperature",
        "airtemperature",
        "humidity",
        "battery_level",
    ]
    assert mapped.unmapped == ["temperature.28ff641d8fc3944f.onewire:0", "system.uptime"]


def test_kotori_time_iso_or_unix_seconds() -> None:
    iso = payload_map(
        adapter="kotori", payload={"weight": 1, "time": "2026-04-30T10:00:00+02:00"}, field_map=None
    )
    unix = payload_map(adapter="kotori", payload={"weight": 1, "time": 1777536000}, field_map=None)
    assert only(iso)["time"] == "2026-04-30T08:00:00Z"
    assert only(unix)["time"] == "2026-04-30T08:00:00Z"


def test_beep_body_maps_and_reports_sound_bands_unmapped() -> None:  # new metrics
    body = beep_body("secret", at=datetime(2026, 4, 30, 8, 0, tzinfo=UTC))
    mapped = payload_map(adapter="beep", payload=body, field_map=None, now=NOW)
    assert only(mapped) == {
        "time": "2026-04-30T08:00:00Z",
        "temperature": 34.9,
        "outside_temperature": 18.2,
        "humidity": 58.5,
        "weight": 41.75,
        "battery": 3.8,
        "sound_level": 55.0,
        "rssi": -71.0,
        "snr": 7.5,
    }
    assert set(mapped.unmapped) == {"p", "s_fan_4", "s_fan_6"}
    assert "key" not in mapped.mapped + mapped.unmapped  # the credential is neither


def test_thingspeak_honeypi_fields_as_text() -> None:  # field2 is outside_temperature
    params = {k: str(v) for k, v in honeypi_params("k").items()}
    params["created_at"] = "2026-04-30 08:00:00"  # ThingSpeak's form, no zone: UTC
    mapped = payload_map(adapter="thingspeak", payload=params, field_map=None, now=NOW)
    assert only(mapped) == {
        "time": "2026-04-30T08:00:00Z",
        "temperature": 35.2,
        "outside_temperature": 14.1,
        "humidity": 66.0,
        "weight": 38.45,
    }
    assert mapped.unmapped == ["field4"]


def test_thingspeak_empty_fields_are_no_values() -> None:
    mapped = payload_map(
        adapter="thingspeak", payload={"field1": "", "field6": "40"}, field_map=None, now=NOW
    )
    assert only(mapped) == {"time": "2026-05-01T12:00:00Z", "weight": 40.0}
    assert mapped.mapped == ["field6"]


def test_ttn_uplink_from_the_docs_takes_the_best_gateway() -> None:  # battery, rssi, snr
    mapped = payload_map(adapter="ttn", payload=TTN_UPLINK, field_map=None, now=NOW)
    assert only(mapped) == {
        "time": "2020-02-12T15:15:45.787000Z",
        "weight": 42.5,
        "temperature": 34.8,
        "humidity": 61.0,
        "battery": 3.71,
        "rssi": -35.0,
        "snr": 5.2,
    }
    assert mapped.unmapped == ["decoded_payload.bytes"]
    assert "rx_metadata.rssi" in mapped.mapped


def test_best_gateway_is_the_highest_rssi_whatever_the_order() -> None:
    gateways = [{"rssi": -110, "snr": 1}, {"channel_rssi": -60, "snr": 9}, {"rssi": "x"}, "junk"]
    assert ttn_best_gateway(gateways) == {"channel_rssi": -60, "snr": 9}
    assert ttn_best_gateway(None) is None


def test_ttn_without_decoded_payload_asks_for_a_payload_formatter() -> None:
    message = {**TTN_UPLINK, "uplink_message": {"frm_payload": "6ao=", "f_port": 1}}
    with pytest.raises(PayloadInvalid) as caught:
        payload_map(adapter="ttn", payload=message, field_map=None)
    assert "payload formatter" in caught.value.errors["uplink_message.decoded_payload"][0]


@pytest.mark.parametrize(
    ("unit", "value", "expected"),
    [("°F", 95.0, 35.0), ("K", 308.15, 35.0), ("°C", 35.0, 35.0)],
)
def test_temperature_units(unit: str, value: float, expected: float) -> None:
    mapped = payload_map(
        adapter="beep",
        payload={"temp": value},
        field_map={"temp": {"metric": "temperature", "unit": unit}},
        now=NOW,
    )
    assert only(mapped)["temperature"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("metric", "unit", "value", "expected"),
    [
        ("weight", "g", 42500, 42.5),
        ("weight", "lb", 100, 45.359237),
        ("weight", "kg", 42.5, 42.5),
        ("battery", "mV", 3712, 3.712),
        ("battery", "V", 3.7, 3.7),
        ("humidity", "%", 55, 55.0),
        ("rssi", "dBm", -80, -80.0),
        ("snr", "dB", 6.5, 6.5),
        ("outside_temperature", "°F", 50, 10.0),
    ],
)
def test_other_units(metric: str, unit: str, value: float, expected: float) -> None:
    mapped = payload_map(
        adapter="kotori",
        payload={"x": value},
        field_map={"x": {"metric": metric, "unit": unit}},
        now=NOW,
    )
    assert only(mapped)[metric] == pytest.approx(expected)


def test_a_user_map_overrides_keys_of_the_default_and_can_drop_one() -> None:
    user = {"bv": {"metric": "battery", "unit": "mV"}, "t": None, "w_v": "weight"}
    targets = field_map_effective("beep", user)
    assert targets["bv"].unit == "mV"
    assert "t" not in targets
    assert targets["t_i"].metric == "temperature"  # untouched default
    mapped = payload_map(
        adapter="beep", payload={"bv": 3700, "t": 12, "w_v": 40}, field_map=user, now=NOW
    )
    assert only(mapped) == {"time": "2026-05-01T12:00:00Z", "battery": 3.7, "weight": 40.0}
    assert mapped.unmapped == ["t"]


def test_a_value_that_is_not_a_number_names_the_payload_key() -> None:
    with pytest.raises(PayloadInvalid) as caught:
        payload_map(
            adapter="beep", payload={"t_i": "warm", "h": True, "weight_kg": [1]}, field_map=None
        )
    assert set(caught.value.errors) == {"t_i", "h", "weight_kg"}


@pytest.mark.parametrize(
    ("adapter", "payload", "key"),
    [
        ("beep", {"t_i": 30, "time": "yesterday"}, "time"),
        ("beep", {"t_i": 30, "time": 1e30}, "time"),
        ("kotori", {"weight": 30, "time": "2026-04-30T10:00:00"}, "time"),
        ("thingspeak", {"field1": 30, "created_at": "30.04.2026"}, "created_at"),
        (
            "ttn",
            {
                **TTN_UPLINK,
                "received_at": "soon",
                "uplink_message": {**TTN_UPLINK["uplink_message"], "received_at": "soon"},
            },
            "received_at",
        ),
    ],
)
def test_a_bad_time_names_the_payload_key(adapter: str, payload: dict, key: str) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        payload_map(adapter=adapter, payload=payload, field_map=None)
    assert list(caught.value.errors) == [key]


def test_two_keys_for_one_metric_are_refused() -> None:
    with pytest.raises(PayloadInvalid) as caught:
        payload_map(adapter="kotori", payload={"weight": 40, "weight.0": 41}, field_map=None)
    assert "weight.0" in caught.value.errors


def test_a_payload_that_is_not_an_object_is_refused() -> None:
    for adapter in ("kotori", "beep", "thingspeak", "ttn", "telemetry"):
        with pytest.raises(PayloadInvalid):
            payload_map(adapter=adapter, payload=[1, 2], field_map=None)


def test_telemetry_passes_through_and_carries_the_batch_device_id() -> None:
    single = {"time": "2026-05-01T11:00:00Z", "temperature": 35.0}
    assert payload_map(adapter="telemetry", payload=single, field_map=None).readings == [single]
    batch = {"device_id": "other", "readings": [single]}
    mapped = payload_map(adapter="telemetry", payload=batch, field_map=None)
    assert mapped.readings == [{"device_id": "other", **single}]
    assert mapped.mapped == ["temperature"]
    with pytest.raises(PayloadInvalid) as caught:
        payload_map(adapter="telemetry", payload={"readings": [], "extra": 1}, field_map=None)
    assert caught.value.errors == {"extra": ["Unknown field."]}


def test_unknown_adapter_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        payload_map(adapter="lorawan", payload={}, field_map=None)


@pytest.mark.parametrize(
    ("field_map", "needle"),
    [
        ({"x": {"metric": "pressure"}}, "unknown metric 'pressure'"),
        ({"x": {"metric": "battery", "unit": "%"}}, "unknown unit '%' for battery"),
        ({"x": {"metric": "weight", "unit": "stone"}}, "unknown unit 'stone'"),
        ({"x": 5}, "x:"),
        ({"x": {"metric": "weight", "scale": 2}}, "unknown field(s) scale"),
        ([1], "JSON object"),
        ({"": "weight"}, "a key of 1 to"),
    ],
)
def test_field_map_errors_name_the_key(field_map, needle: str) -> None:
    problems = field_map_errors(field_map)
    assert problems and needle in " ".join(problems)


def test_a_valid_map_is_stored_spelt_out() -> None:
    user = {"w": "weight", "t": {"metric": "temperature", "unit": "°F"}, "x": None}
    assert field_map_errors(user) == []
    assert field_map_normalized(user) == {
        "w": {"metric": "weight", "unit": "kg"},
        "t": {"metric": "temperature", "unit": "°F"},
        "x": None,
    }
