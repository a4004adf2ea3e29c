"""The contract: the schema (/schema) says what the server does.

- Every operation documents exactly the query parameters it accepts: each documented one
  is taken, any other is a 400 that lists what the operation takes, and that list is the
  documented one (checked over every operation of the schema, so a new view cannot drift).
- A method a path does not have (TRACE, an unknown BREW) is a 405 JSON answer with an
  Allow header, whoever asks and whatever the query string holds.
- Error answers the server gives on any operation are documented on it.

The schema fuzz (tests/fuzz) checks statuses, content types and 405s on generated requests.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])

UNDOCUMENTED = "zz_undocumented"
TAKES = "Unknown query parameter. This endpoint takes: "

# The schema as /schema serves it, generated once at collection (no database needed).
SCHEMA: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = [
    (method.upper(), path, operation)
    for path, operations in SCHEMA["paths"].items()
    for method, operation in operations.items()
]


def _query_parameters(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}


def _sample(parameter: dict[str, Any]) -> str:
    """A value of the parameter's documented type (whether it finds anything is no matter:
    only that the parameter is not refused as unknown)."""
    schema = parameter.get("schema", {})
    if schema.get("enum"):
        return str(schema["enum"][0])
    kind = schema.get("type")
    if kind == "integer" or kind == "number":
        return "1"
    if kind == "boolean":
        return "true"
    if schema.get("format") == "date-time":
        return "2026-01-01T00:00:00Z"
    if schema.get("format") == "date":
        return "2026-01-01"
    if kind == "array":
        return _sample({"schema": schema.get("items", {})})
    return "x"


def _call(client: APIClient, method: str, path: str, query: dict[str, str]) -> Any:
    # Any id will do: the query is checked before the object is looked up.
    url = path.replace("{id}", "1").replace("{member_id}", "1").replace("{calibration_id}", "1")
    return client.generic(
        method, f"{url}?{urlencode(query)}", data=b"", content_type="application/json"
    )


def _unknown_parameters(response: Any) -> dict[str, list[str]]:
    if response.status_code != 400 or not response["Content-Type"].startswith("application/json"):
        return {}
    body = response.json()
    return {
        key: messages
        for key, messages in body.items()
        if isinstance(messages, list) and any(str(m).startswith(TAKES) for m in messages)
    }


def test_the_schema_has_operations() -> None:
    # The parametrized tests below run over these; an empty schema would make them vacuous.
    assert len(OPERATIONS) > 40
    assert ("GET", "/webhooks", SCHEMA["paths"]["/webhooks"]["get"]) in OPERATIONS


@pytest.mark.parametrize(
    ("method", "path", "operation"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
def test_documented_query_parameters_are_exactly_the_accepted_ones(
    as_alice: APIClient, method: str, path: str, operation: dict[str, Any]
) -> None:
    documented = _query_parameters(operation)

    # Every documented parameter, each with a value of its type, is taken.
    for name, parameter in documented.items():
        response = _call(as_alice, method, path, {name: _sample(parameter)})
        assert not _unknown_parameters(response), (name, response.content[:300])

    # One the schema does not name is refused, and the answer lists what is taken: exactly
    # the documented parameters (the list comes from the check itself, so an accepted but
    # undocumented parameter shows here too).
    response = _call(as_alice, method, path, {UNDOCUMENTED: "1"})
    unknown = _unknown_parameters(response)
    assert list(unknown) == [UNDOCUMENTED], response.content[:300]
    takes = unknown[UNDOCUMENTED][0].removeprefix(TAKES).rstrip(".")
    accepted = set() if takes == "none" else set(takes.split(", "))
    assert accepted == set(documented)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/webhooks", {"ordering": "-created_at"}),
        ("/webhooks", {"search": "x"}),
        ("/webhooks/{id}/deliveries", {"ordering": "-created_at"}),
        ("/alerts", {"search": "x"}),
    ],
)
def test_search_and_ordering_the_issue_found_are_not_documented(path: str, query: dict) -> None:
    # The schema offered them and the server refused them (issue 22, item 12).
    name = next(iter(query))
    assert name not in _query_parameters(SCHEMA["paths"][path]["get"])


# --- Methods a path does not have -----------------------------------------------------------


def _assert_405_json(response: Any, method: str) -> None:
    assert response.status_code == 405, (method, response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    assert method in response.json()["detail"]
    allowed = {m.strip() for m in response["Allow"].split(",")}
    assert method not in allowed
    assert allowed


@pytest.mark.parametrize("method", ["TRACE", "BREW", "PUT"])
@pytest.mark.parametrize(
    "url",
    [
        "/hives",
        "/hives?page=1",
        "/webhooks?ordering=url",
        "/users/me?x=1",
        "/hives/{id}/telemetry?start=2026-01-01T00:00:00Z",
        "/hives/{id}/telemetry/latest",
        "/telemetry",
    ],
)
def test_a_method_a_path_does_not_have_is_a_405_json_with_allow(
    as_alice: APIClient, anonymous: APIClient, alice_hive: Any, method: str, url: str
) -> None:
    url = url.format(id=alice_hive.id)
    # TRACE /hives?page=1 was a 400 "Unknown query parameter", anonymous TRACE a 401.
    _assert_405_json(as_alice.generic(method, url), method)
    _assert_405_json(anonymous.generic(method, url), method)


@pytest.mark.parametrize("method", ["TRACE", "BREW", "POST"])
@pytest.mark.parametrize("url", ["/health", "/health?x=1", "/", "/schema", "/docs", "/redoc"])
def test_the_plain_pages_answer_405_json_too(db: None, method: str, url: str) -> None:
    # Django's require_GET answered an empty text/html 405, and the CSRF check a BREW or
    # POST with its HTML 403 page; /schema rendered its 405 as OpenAPI YAML.
    client = APIClient(enforce_csrf_checks=True)
    _assert_405_json(client.generic(method, url), method)


def test_a_method_the_path_has_still_works(as_alice: APIClient, alice_hive: Any) -> None:
    assert as_alice.get("/hives", {"page": 1}).status_code == 200
    assert as_alice.get("/health").status_code in (200, 503)
    assert as_alice.head(f"/hives/{alice_hive.id}").status_code == 200
    schema = as_alice.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/hives" in schema.json()["paths"]
    assert as_alice.get("/docs").status_code == 200


# --- Errors every operation can answer are documented ----------------------------------------


def test_format_is_a_parameter_only_where_it_chooses_a_format(as_alice: APIClient) -> None:
    # DRF answered ?format=xml with a 404, which operations without an {id} do not
    # document, and took ?format=json everywhere while the schema named it on CSV lists only.
    for method, url in [("GET", "/users/me"), ("POST", "/hives"), ("GET", "/hives")]:
        for value in ("xml", "json"):
            response = as_alice.generic(
                method, f"{url}?format={value}", data=b"{}", content_type="application/json"
            )
            assert response.status_code == 400, response.content[:300]
            assert response.json()["format"][0].startswith(TAKES)
    response = as_alice.get("/events", {"format": "xml"})
    assert response.status_code == 400
    assert "format" in response.json()
    assert as_alice.get("/events", {"format": "csv"}).status_code == 200
    assert [
        p["schema"]["enum"]
        for p in SCHEMA["paths"]["/events"]["get"]["parameters"]
        if p["name"] == "format"
    ] == [["csv", "json"]]


def test_a_session_write_without_its_csrf_token_is_a_documented_403(alice: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.patch("/users/me", {"name": "Al"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert "403" in SCHEMA["paths"]["/users/me"]["patch"]["responses"]


def test_an_unacceptable_accept_header_is_a_documented_406(as_alice: APIClient) -> None:
    response = as_alice.get("/users/me", HTTP_ACCEPT="image/png")
    assert response.status_code == 406
    for _, _, operation in OPERATIONS:
        assert {"406", "413", "503"} <= set(operation["responses"])
