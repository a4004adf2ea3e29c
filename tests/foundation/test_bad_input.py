"""Bad input gets a 4xx JSON answer naming the problem: never a 500, never an HTML page,
never a partial write. Each case here was a 500 (or a silent acceptance) once."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from apiary.models import Apiary, Event, QueenBee
from tests.factories import EventFactory, QueenFactory

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])

DEEP = "[" * 10_000 + "]" * 10_000


def _json_error(response, status: int) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    return response.json()


@pytest.mark.parametrize("offset", ["+16:00", "-16:00", "+23:59"])
def test_a_utc_offset_postgresql_refuses_is_a_400(as_alice, offset) -> None:
    response = as_alice.get("/events", {"occurred_before": f"2020-01-01T00:00:00{offset}"})
    assert "occurred_before" in _json_error(response, 400)


def test_an_offset_within_range_is_converted_not_refused(as_alice, alice_hive) -> None:
    EventFactory(hive=alice_hive, occurred_at="2020-01-01T12:00:00Z")
    inside = as_alice.get("/events", {"occurred_before": "2020-01-02T03:00:00+14:00"})
    assert inside.status_code == 200
    assert inside.json()["count"] == 1
    outside = as_alice.get("/events", {"occurred_before": "2020-01-01T23:00:00+15:00"})
    assert outside.json()["count"] == 0


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z"])
def test_year_one_in_a_filter_is_a_400(as_alice, when) -> None:
    response = as_alice.get("/events", {"occurred_after": when})
    assert "occurred_after" in _json_error(response, 400)


@pytest.mark.parametrize("path", ["/auth/token", "/auth/register", "/apiaries", "/events"])
def test_json_nested_ten_thousand_levels_deep_is_a_400(as_alice, path) -> None:
    response = as_alice.post(path, DEEP, content_type="application/json")
    assert "nested too deeply" in _json_error(response, 400)["detail"]


def test_deep_json_to_the_device_endpoint_is_a_400(alice_hive) -> None:
    device = APIClient()
    response = device.post(
        "/telemetry",
        DEEP,
        content_type="application/json",
        HTTP_X_DEVICE_KEY="device-key-alice-001",
    )
    _json_error(response, 400)


@pytest.mark.parametrize(
    "details",
    [{"text": "nul\u0000here"}, {"nul\u0000key": 1}, {"a": [["deep", {"b": {"c": {"d": {}}}}]]}],
)
def test_event_details_postgresql_cannot_store_are_a_400(as_alice, alice_hive, details) -> None:
    body = {"hive": alice_hive.id, "type": "note", "occurred_at": "2026-05-01T10:00:00Z"}
    response = as_alice.post("/events", {**body, "details": details}, format="json")
    assert "details" in _json_error(response, 400)
    assert not Event.objects.exists()


def test_nul_in_a_query_is_a_400(as_alice) -> None:
    response = as_alice.get("/apiaries", {"search": "a\u0000b"})
    _json_error(response, 400)


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
@pytest.mark.parametrize("path", ["/apiaries", "/auth/token"])
def test_a_body_over_the_limit_is_a_413_json_in_bytes(as_alice, path) -> None:
    body = '{"name": "' + "x" * 5000 + '"}'
    response = as_alice.post(path, body, content_type="application/json")
    error = _json_error(response, 413)
    assert error["code"] == "body_too_large"
    assert error["max_bytes"] == 1000
    assert not Apiary.objects.exists()


def test_a_form_body_is_a_415(as_alice) -> None:
    response = as_alice.post("/apiaries", {"name": "Form"}, format="multipart")
    _json_error(response, 415)
    assert not Apiary.objects.exists()


def test_an_unknown_body_field_is_a_400_naming_it(as_alice) -> None:
    response = as_alice.post("/apiaries", {"name": "Typo", "nmae": "x"}, format="json")
    assert _json_error(response, 400) == {"nmae": ["Unknown field."]}
    assert not Apiary.objects.exists()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"page_size": "lots"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "100000"}, "page_size"),
        ({"page": "abc"}, "page"),
        ({"ordering": "device_key_hash"}, "ordering"),
        ({"status": "zombie"}, "status"),
        ({"apiary": "abc"}, "apiary"),
        ({"apiary": "0.5"}, "apiary"),
        ({"apiary": "0.0"}, "apiary"),  # found by the fuzz on /events: Django took it as 0
        ({"apiary": "1e3"}, "apiary"),
        ({"status": ""}, "status"),
        ({"format": ""}, "format"),
    ],
)
def test_unknown_or_invalid_query_values_are_a_400_naming_them(as_alice, query, field) -> None:
    assert field in _json_error(as_alice.get("/hives", query), 400)


@pytest.mark.parametrize("path", ["/users/me", "/hives/{id}/telemetry", "/hives/{id}"])
def test_query_parameters_an_endpoint_does_not_read_are_a_400(as_alice, alice_hive, path) -> None:
    response = as_alice.get(path.format(id=alice_hive.id), {"limt": "5"})
    assert "limt" in _json_error(response, 400)


@pytest.mark.parametrize("year", [1800, 3000])
def test_year_born_is_checked_on_patch_too(as_alice, alice_hive, year) -> None:
    queen = QueenFactory(hive=alice_hive, year_born=2024)
    response = as_alice.patch(f"/queens/{queen.id}", {"year_born": year}, format="json")
    assert "year_born" in _json_error(response, 400)
    queen.refresh_from_db()
    assert queen.year_born == 2024


def test_a_queen_born_after_her_introduction_is_refused_on_patch(as_alice, alice_hive) -> None:
    queen = QueenFactory(hive=alice_hive, year_born=2024, introduced_at="2024-06-01")
    response = as_alice.patch(f"/queens/{queen.id}", {"year_born": 2025}, format="json")
    assert "year_born" in _json_error(response, 400)


def test_a_queen_introduced_in_9999_is_refused(as_alice, alice_hive) -> None:
    response = as_alice.post(
        f"/hives/{alice_hive.id}/queens", {"introduced_at": "9999-01-01"}, format="json"
    )
    assert "introduced_at" in _json_error(response, 400)
    assert not QueenBee.objects.exists()


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00Z", "1899-12-31T23:00:00Z", "2999-01-01T00:00:00Z"]
)
def test_events_dated_implausibly_are_refused(as_alice, alice_hive, when) -> None:
    body = {"hive": alice_hive.id, "type": "note", "occurred_at": when}
    response = as_alice.post("/events", body, format="json")
    assert "occurred_at" in _json_error(response, 400)
    assert not Event.objects.exists()


def test_retiring_a_queen_before_her_introduction_names_the_field(as_alice, alice_hive) -> None:
    queen = QueenFactory(hive=alice_hive, introduced_at="2025-05-01")
    response = as_alice.post(
        f"/queens/{queen.id}/retire", {"removal_reason": "died", "removed_at": "2025-04-01"}
    )
    assert "removed_at" in _json_error(response, 400)
    queen.refresh_from_db()
    assert queen.is_current


def test_a_model_wide_error_is_answered_as_non_field_errors() -> None:
    # full_clean() reports a violated constraint under "__all__", a Django detail.
    from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

    from core.exceptions import exception_handler

    error = ValidationError({NON_FIELD_ERRORS: ["This hive already has a current queen."]})
    response = exception_handler(error, {})
    assert response.status_code == 400
    assert response.data == {"non_field_errors": ["This hive already has a current queen."]}


def test_an_invalid_boolean_filter_is_a_400(as_alice) -> None:
    assert "is_current" in _json_error(as_alice.get("/queens", {"is_current": "maybe"}), 400)
    assert as_alice.get("/queens", {"is_current": "true"}).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        {"start": "0001-01-01T00:00:00Z"},
        {"end": "9999-12-31T23:00:00Z"},
        {"before": "1000-01-01T00:00:00Z"},
    ],
)
def test_telemetry_query_times_out_of_range_are_a_400(as_alice, alice_hive, query) -> None:
    for path in ("telemetry", "telemetry/hourly"):
        if "before" in query and path.endswith("hourly"):
            continue
        response = as_alice.get(f"/hives/{alice_hive.id}/{path}", query)
        assert set(query) <= set(_json_error(response, 400))


def test_format_suffix_routes_do_not_exist(as_alice, alice_hive) -> None:
    # /hives/{id}/events.json reached a nested action that does not take `format`: a 500.
    _json_error(as_alice.get(f"/hives/{alice_hive.id}/events.json"), 404)
    # ?format= is a parameter of the operations that answer more than one format (the
    # schema documents it there); elsewhere it is refused like any other it does not read.
    assert as_alice.get("/events", {"format": "json"}).status_code == 200
    assert "format" in _json_error(
        as_alice.get(f"/hives/{alice_hive.id}/events", {"format": "json"}), 400
    )


def test_a_queen_can_be_replaced_with_put(as_alice, alice_hive) -> None:
    queen = QueenFactory(hive=alice_hive)
    body = {"year_born": 2024, "origin": "Buckfast", "marking_color": "yellow", "notes": ""}
    response = as_alice.put(f"/queens/{queen.id}", body, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["origin"] == "Buckfast"


def test_an_unknown_url_is_a_json_404(as_alice) -> None:
    assert _json_error(as_alice.get("/no-such-thing"), 404) == {
        "detail": "Not found.",
        "code": "not_found",
    }


def test_a_created_apiary_is_answered_with_the_callers_role(as_alice) -> None:
    response = as_alice.post("/apiaries", {"name": "New yard"})
    assert response.status_code == 201
    assert response.json()["role"] == "owner"


def test_json_types_are_not_coerced(as_alice, alice_apiary) -> None:
    # DRF would store 5 as "5", accept "48.2" as a number and "1" as an id.
    cases = [
        ("/apiaries", {"name": 5}, "name", "Must be a string."),
        ("/apiaries", {"name": "x", "latitude": "48.2"}, "latitude", "Must be a number."),
        (
            "/hives",
            {"apiary": str(alice_apiary.id), "name": "x"},
            "apiary",
            "Must be a whole number.",
        ),
        ("/hives", {"apiary": True, "name": "x"}, "apiary", "Must be a whole number."),
    ]
    for path, body, field, message in cases:
        assert _json_error(as_alice.post(path, body, format="json"), 400) == {field: [message]}
    assert not Apiary.objects.exclude(pk=alice_apiary.pk).exists()


def test_a_text_over_its_limit_is_refused_before_white_space_is_trimmed(as_alice) -> None:
    # 121 characters as sent; DRF would trim the "\r" and accept 120.
    response = as_alice.post("/apiaries", {"name": "\r" + "x" * 120}, format="json")
    assert "no more than 120 characters" in _json_error(response, 400)["name"][0]


@pytest.mark.parametrize("name", ["detail", "code", ""])
def test_a_query_parameter_named_like_the_error_keys_is_refused_in_words(as_alice, name) -> None:
    error = _json_error(as_alice.get(f"/hives?{name}=1"), 400)
    assert isinstance(error["detail"], str)
    assert "Unknown query parameter" in error["detail"]
