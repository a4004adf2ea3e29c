from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client


@pytest.mark.django_db(databases=["default", "telemetry"])
def test_health_reports_both_databases_without_login(telemetry_mode: str | None) -> None:
    response = Client().get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    for alias in ("default", "telemetry"):
        db = body["databases"][alias]
        assert db["reachable"] is True
        assert db["server_version"]
        assert db["round_trip_ms"] >= 0
    ts = body["databases"]["telemetry"]["timescaledb"]
    assert ts["active"] is (telemetry_mode is not None)
    assert ts["mode"] == ("timescaledb" if telemetry_mode else "plain-postgresql")
    assert "password" not in response.content.decode().lower()
    assert "beeapi123" not in response.content.decode()


@pytest.mark.django_db(databases=["default", "telemetry"])
def test_dbstatus_lists_tables_mode_and_pool_settings(telemetry_mode: str | None) -> None:
    out = io.StringIO()
    call_command("dbstatus", stdout=out)
    text = out.getvalue()
    assert "min_size=2 max_size=10" in text
    assert "[default]" in text and "[telemetry]" in text
    assert "hives" in text and "readings" in text
    if telemetry_mode:
        assert "hypertable_size('readings')" in text
    else:
        assert "plain PostgreSQL" in text


def test_schema_and_docs_are_served_without_internet() -> None:
    client = Client()
    schema = client.get("/schema")
    assert schema.status_code == 200
    assert b"openapi" in schema.content
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content.lower()
    # Assets come from the app (drf-spectacular-sidecar), never a CDN.
    assert b"cdn.jsdelivr" not in docs.content


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/"])
def test_pages_load_nothing_from_other_sites(path: str) -> None:
    """No CDN and no web fonts: drf-spectacular's Redoc page linked Google Fonts."""
    page = Client().get(path)
    assert page.status_code == 200
    text = page.content.decode()
    external = re.findall(r"""(?:src|href)=["']?(?:https?:)?//[^"' >]+""", text)
    assert external == [], external


def test_schema_documents_the_design_urls_without_trailing_slash() -> None:
    schema = Client().get("/schema", HTTP_ACCEPT="application/json").json()
    paths = set(schema["paths"])
    assert "/auth/token" in paths
    assert not [p for p in paths if p.endswith("/")]


def test_openapi_schema_generates_without_warnings(tmp_path) -> None:
    from django.core.management import call_command

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
    text = (tmp_path / "schema.yml").read_text()
    for path in ("/hives:", "/hives/{id}/queens:", "/apiaries/{id}/events:", "/auth/token:"):
        assert f"  {path}" in text


def test_schema_documents_the_error_answers_the_api_gives() -> None:
    schema = Client().get("/schema", HTTP_ACCEPT="application/json").json()
    ops = schema["paths"]
    assert {"400", "401", "413", "415", "409", "503"} <= set(ops["/hives"]["post"]["responses"])
    assert "409" in ops["/apiaries/{id}/hives"]["post"]["responses"]
    assert {"400", "401", "404", "503"} <= set(ops["/hives/{id}"]["get"]["responses"])
    assert "429" in ops["/auth/token"]["post"]["responses"]
    assert "401" not in ops["/auth/register"]["post"]["responses"]
    error = ops["/events"]["get"]["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}
    assert "Error" in schema["components"]["schemas"]
    # A current queen has removal_reason "": the schema's enum allows it.
    reason = schema["components"]["schemas"]["Queen"]["properties"]["removal_reason"]
    assert {"$ref": "#/components/schemas/BlankEnum"} in reason["oneOf"]
    purge = [p["name"] for p in ops["/hives/{id}"]["delete"]["parameters"]]
    assert "purge_telemetry" in purge


def test_the_landing_page_links_the_console_docs_and_health() -> None:
    page = Client().get("/")
    assert page.status_code == 200
    text = page.content.decode()
    for link in ('href="/admin/"', 'href="/docs"', 'href="/health"', "favicon.svg"):
        assert link in text
    icon = Client().get("/favicon.ico")
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"


@pytest.mark.django_db
def test_the_admin_is_branded_and_view_site_leads_to_the_landing_page(alice) -> None:
    client = Client()
    client.force_login(alice)
    page = client.get("/admin/").content.decode()
    assert ">BeeAPI</a>" in page
    assert "Django administration" not in page
    assert "favicon.svg" in page
    assert 'href="/"' in page  # "View site"
