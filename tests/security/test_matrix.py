"""The permission matrix: every route and method of BeeAPI, for every role.

One row per (method, route): what alice (the owner of the data), bob (another beekeeper
with data of his own), charlie (a beekeeper with no data), dave (a viewer of alice's
apiary), erin (an editor of it) and anonymous get. The world they live in is
tests/security/conftest.py; the words of the table (outcomes, ``R``, placeholders, the
shared checks) are tests/security/matrix/table.py.

The rows live with the app that serves the route, one module per app in
tests/security/matrix/: ``rows_<app>.py`` holds that app's ``ROWS`` (a list of rows) and
the checks only its rows use. This runner takes the ROWS of every ``rows_*.py`` module
there (MATRIX) and runs them all: a new app adds its routes' rows as one new file,
``rows_<app>.py`` with ``ROWS: list[Row] = [...]``, and nothing else changes. A row
belongs to the package whose code answers the route (its API views, its ModelAdmin, its
consumer); the admin site's own pages (index, app indexes, sign-in, autocomplete) are
console's, and /health, /schema, /docs and the like beeapi's.

On every request: no 5xx; no other user's mark in the answer; and every outcome other than
OK (and every GET) leaves both databases as they were (entity tables on "default",
readings on "telemetry").

dave and erin get what alice's apiary allows their role (README, "Sharing an apiary").

A route that is not in the table fails test_every_route_and_method_is_in_the_matrix:
a new endpoint cannot ship without deciding who may use it. A new role is one more entry
in ROLES, one more column in every row and one more user in conftest.build_world.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.db import connections, router
from django.http import HttpResponse
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from rest_framework.views import APIView
from rest_framework_simplejwt.tokens import AccessToken

from alerts.models import Alert
from apiary.device_keys import device_key_hash
from beeapi.asgi import application
from telemetry.models import Reading
from tests.security import matrix
from tests.security.conftest import (
    DATABASES,
    MARKS,
    MEMBER_ROLES,
    OBJECT_KEYS,
    World,
    fill,
    fill_body,
)
from tests.security.matrix.table import (
    DENIED,
    EMPTY,
    FORBIDDEN,
    FORM_ERROR,
    GONE,
    HIDDEN,
    LIST,
    LOGIN,
    NEEDS_EDITOR,
    NEEDS_OWNER,
    OK,
    REDIRECT,
    REFUSED,
    ROLES,
    SHARED,
    UNAUTH,
    WS_4401,
    WS_4404,
    WS_HISTORY,
    WS_OPEN,
    Call,
    Outcome,
    Row,
    content_of,
)

# --- The matrix: every app's rows ---------------------------------------------------------


def app_rows() -> dict[str, list[Row]]:
    """{app: its rows}: the ROWS of every tests/security/matrix/rows_<app>.py, by name."""
    found: dict[str, list[Row]] = {}
    for module in sorted(pkgutil.iter_modules(matrix.__path__), key=lambda m: m.name):
        if not module.name.startswith("rows_"):
            continue
        rows = importlib.import_module(f"{matrix.__name__}.{module.name}").ROWS
        assert rows and all(isinstance(row, Row) for row in rows), module.name
        found[module.name.removeprefix("rows_")] = rows
    return found


MATRIX: list[Row] = [row for rows in app_rows().values() for row in rows]

# Served outside the URL resolver (WhiteNoise middleware), so listed here explicitly.
OUTSIDE_RESOLVER = {"/static/{path}"}


# --- Route enumeration ------------------------------------------------------------------


def _join(prefix: str, route: str) -> str:
    # As django.urls.resolvers.URLResolver._join_route builds ResolverMatch.route.
    return prefix + route.removeprefix("^") if prefix else route


def canonical(route: str) -> str:
    """``^hives/(?P<pk>[0-9]+)/telemetry/?$`` -> ``/hives/{pk}/telemetry``; the DRF format
    suffix (``.json``) and the optional trailing slash are the same route."""
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
    text = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)
    text = text.replace("\\.{format}", "").replace("^", "").replace("$", "")
    text = text.replace("/?", "/")
    return "/" + re.sub("/+", "/", text).strip("/")


def _walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        route = _join(prefix, str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        else:
            yield route, pattern


def http_routes() -> dict[str, frozenset[str] | None]:
    """Every HTTP route and the methods it serves; None where the view cannot say
    (function views such as the admin's: the matrix declares their methods)."""
    routes: dict[str, frozenset[str] | None] = {}
    for route, pattern in _walk(get_resolver().url_patterns):
        routes[canonical(route)] = served_methods(pattern)
    return routes


# Answered by the framework for every route: HEAD like GET, OPTIONS without data.
IMPLIED = {"head", "options"}


def served_methods(pattern: URLPattern) -> frozenset[str] | None:
    callback = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset route: {"get": "list", "post": "create"}
        return frozenset(method.upper() for method in actions if method not in IMPLIED)
    view_class = getattr(callback, "view_class", None)
    if view_class is not None and issubclass(view_class, APIView):
        return frozenset(
            method.upper()
            for method in view_class.http_method_names
            if method not in IMPLIED and hasattr(view_class, method)
        )
    return None


def ws_router() -> URLRouter:
    """The URLRouter inside the ASGI app's websocket stack (origin check, auth, ...)."""
    app = application.application_mapping["websocket"]
    while not isinstance(app, URLRouter):
        inner = next(
            (getattr(app, name) for name in ("application", "inner", "app") if hasattr(app, name)),
            None,
        )
        assert inner is not None, f"no URLRouter inside {app!r}"
        app = inner
    return app


def _walk_ws(router_: URLRouter, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for route in router_.routes:
        text = _join(prefix, str(route.pattern))
        if isinstance(route.callback, URLRouter):
            yield from _walk_ws(route.callback, text)
        else:
            yield text, route


def ws_routes() -> dict[str, Any]:
    return {canonical(route): pattern for route, pattern in _walk_ws(ws_router())}


_DUMMY = {key: 1 for key in OBJECT_KEYS} | {"ct_hive": 1, "verify_token": 1}


def route_of(row: Row) -> str:
    """The route a row's request actually reaches, as http_routes()/ws_routes() name it."""
    path = urlsplit(fill(row.path, _DUMMY)).path
    if row.method == "WS":
        for route, pattern in _walk_ws(ws_router()):
            if pattern.pattern.match(path.lstrip("/")):
                return canonical(route)
        raise AssertionError(f"{row.id}: no WebSocket route")
    if path.startswith("/static/"):
        return "/static/{path}"
    return canonical(resolve(path).route)


def test_every_route_and_method_is_in_the_matrix() -> None:
    covered = {(route_of(row), row.method) for row in MATRIX}
    covered_routes = {route for route, _ in covered}
    missing = []
    for route, methods in http_routes().items():
        if methods is None:
            if route not in covered_routes:
                missing.append(f"{route} (any method)")
        else:
            missing += [f"{m} {route}" for m in sorted(methods) if (route, m) not in covered]
    missing += [f"WS {route}" for route in ws_routes() if (route, "WS") not in covered]
    assert not missing, (
        "Routes without a row in the permission matrix (tests/security/matrix/rows_<app>.py "
        "of the app that serves them): decide who may use them.\n  " + "\n  ".join(missing)
    )


def test_every_row_is_a_real_route_and_method() -> None:
    known = http_routes()
    problems = []
    for row in MATRIX:
        route = route_of(row)
        if row.method == "WS" or route in OUTSIDE_RESOLVER:
            continue
        served = known[route]
        if served is not None and row.method not in served:
            problems.append(f"{row.id}: {route} serves only {sorted(served)}")
    assert not problems, "\n".join(problems)


def test_every_row_decides_every_role_once() -> None:
    ids = [row.id for row in MATRIX]
    assert len(ids) == len(set(ids)), [i for i in ids if ids.count(i) > 1]
    for row in MATRIX:
        assert set(row.expect) == set(ROLES), row.id
        if any(outcome is OK for outcome in row.expect.values()) and row.method != "GET":
            assert row.check is not None, f"{row.id}: a write needs a check that it happened"


# --- Running a row ----------------------------------------------------------------------

DEFAULT_OK = {"GET": 200, "POST": 201, "PUT": 200, "PATCH": 200, "DELETE": 204}
SKIP_IN_SNAPSHOT = {"sessions.Session"}


@functools.cache
def _snapshot_tables() -> dict[str, list[tuple[str, str]]]:
    """(model label, table) of every managed model, per database (readings on "telemetry")."""
    tables: dict[str, list[tuple[str, str]]] = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if not meta.managed or meta.proxy or meta.label in SKIP_IN_SNAPSHOT:
            continue
        tables.setdefault(router.db_for_read(model), []).append((meta.label, meta.db_table))
    return tables


def snapshot() -> dict[str, str]:
    """Every row of every managed table on both databases, as JSON per table: one query
    per database (a snapshot is taken around every request of the matrix)."""
    state = {}
    for alias, tables in _snapshot_tables().items():
        quote = connections[alias].ops.quote_name
        each = ", ".join(
            f"(SELECT coalesce(json_agg(t ORDER BY t::text), '[]')::text FROM {quote(table)} t)"
            for _, table in tables
        )
        with connections[alias].cursor() as cursor:
            cursor.execute(f"SELECT {each}")
            state.update(zip([label for label, _ in tables], cursor.fetchone(), strict=True))
    return state


def assert_unchanged(before: dict[str, str], after: dict[str, str], what: str) -> None:
    changed_tables = {label: (before[label], after[label]) for label in before}
    changed_tables = {k: v for k, v in changed_tables.items() if v[0] != v[1]}
    assert not changed_tables, f"{what} changed data: {changed_tables}"


def assert_no_leak(world: World, role: str, text: str, supplied: str) -> None:
    """No other user's mark in the answer (beyond what the requester sent itself)."""
    for value in re.findall(r"[\w.:-]+", supplied):
        if any(mark in value for mark in MARKS.values()):
            text = text.replace(value, "")
    leaked = [mark for mark in world.foreign_marks(role) if mark in text]
    assert not leaked, f"{role} was shown data of {leaked}: {text[:2000]}"
    # A device key is shown once, when it is made: never again, nor its hash, to anyone.
    for owner in MARKS:
        key = world.per_role[owner]["device_key"]
        assert key not in text and device_key_hash(key) not in text, f"{owner}'s device key"


def send(client: Any, row: Row, path: str, body: Any) -> HttpResponse:
    method = row.method.lower()
    if row.auth == "session":
        return client.get(path) if method == "get" else client.post(path, body or {})
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


def _uses_objects(row: Row) -> bool:
    return any(f"{{{key}}}" in row.path for key in OBJECT_KEYS)


def _same_as_missing(row: Row, call: Call, body: Any, *, compare: str) -> None:
    """Someone else's object answers exactly like an id that does not exist."""
    if not _uses_objects(row):
        return
    path = fill(row.path, call.world.context(call.role, missing=row.missing or True))
    before = snapshot()
    other = send(call.client, row, path, body)
    assert_unchanged(before, snapshot(), f"{row.method} {path}")
    told_apart = (
        f"{row.method} {call.ctx['path']} answers {call.response.status_code} but the same "
        f"request for a missing id ({path}) {other.status_code}: {call.role} can tell an "
        "existing object from a missing one"
    )
    assert other.status_code == call.response.status_code, told_apart
    if compare == "location":
        assert other["Location"] == call.response["Location"], told_apart
    else:
        assert content_of(other) == call.text(), told_apart


def verify(outcome: Outcome, row: Row, call: Call, body: Any) -> None:
    response, status = call.response, call.response.status_code
    if outcome is OK:
        assert status == (row.ok or DEFAULT_OK[row.method]), call.text()[:2000]
        if row.check is not None:
            row.check(call)
    elif outcome in (LIST, SHARED, EMPTY):
        assert status == 200, call.text()[:2000]
        text = call.text()
        own = MARKS.get(call.role)
        if outcome is LIST:
            assert own and own in text, f"{call.role} should see their own data"
        elif outcome is SHARED:
            role = MEMBER_ROLES[call.role]
            assert MARKS["alice"] in text, f"{call.role} should see alice's shared data"
            if response.get("Content-Type", "").startswith("application/json"):
                apiaries = [item for item in call.json()["results"] if "owner" in item]
                assert all(item["role"] == role for item in apiaries), apiaries
        else:
            assert not any(mark in text for mark in MARKS.values())
            if response.get("Content-Type", "").startswith("application/json"):
                assert call.json()["results"] == []
    elif outcome is HIDDEN:
        assert status == 404, call.text()[:2000]
        _same_as_missing(row, call, body, compare="content")
    elif outcome is FORBIDDEN:
        assert status == 403, call.text()[:2000]
        _same_as_missing(row, call, body, compare="content")
    elif outcome in (NEEDS_EDITOR, NEEDS_OWNER):
        assert status == 403, call.text()[:2000]
        assert response["Content-Type"].startswith("application/json")
        needed = "editor" if outcome is NEEDS_EDITOR else "owner"
        detail = call.json()["detail"]
        assert f"needs the {needed} role" in detail, detail
        assert re.search(rf"you are an? {MEMBER_ROLES[call.role]}\.", detail), detail
    elif outcome is DENIED:
        assert status == 403, call.text()[:2000]
        assert "CSRF" not in call.text(), "a CSRF failure, not a refusal"
    elif outcome is REFUSED:
        assert status in (400, 409), call.text()[:2000]
        assert response["Content-Type"].startswith("application/json")
    elif outcome is UNAUTH:
        assert status == 401, call.text()[:2000]
        assert response["Content-Type"].startswith("application/json")
    elif outcome is LOGIN:
        assert status == 302, call.text()[:2000]
        location = urlsplit(response["Location"])
        assert location.path == "/admin/login/"
        assert parse_qs(location.query)["next"] == [call.ctx["path"]]
    elif outcome is GONE:
        assert status == 302, call.text()[:2000]
        assert response["Location"] == "/admin/"
        index = call.client.get("/admin/")
        assert "doesn’t exist. Perhaps it was deleted?" in content_of(index)
        assert_no_leak(call.world, call.role, content_of(index), "")
        _same_as_missing(row, call, body, compare="location")
    elif outcome is FORM_ERROR:
        assert status == 200, call.text()[:2000]
        assert 'class="errornote"' in call.text() or 'class="errorlist' in call.text()
    elif outcome is REDIRECT:
        assert status == 302, call.text()[:2000]
        assert response["Location"] == fill(row.location, call.ctx)
    else:
        raise AssertionError(f"{outcome} is not an HTTP outcome")


# Where the app answers otherwise than the table says it should: (row id, role) -> what it
# does instead. Each case is a strict xfail, so it fails again once the app is fixed:
# then delete its entry.
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {}


def _case(row: Row, role: str) -> Any:
    why = KNOWN_DIFFERENCES.get((row.id, role))
    marks = [pytest.mark.xfail(reason=why, strict=True)] if why else []
    return pytest.param(row, role, id=f"{row.id}-{role}", marks=marks)


def test_every_known_difference_is_a_case() -> None:
    cases = {(row.id, role) for row in MATRIX for role in ROLES}
    assert set(KNOWN_DIFFERENCES) <= cases, set(KNOWN_DIFFERENCES) - cases


HTTP_CASES = [_case(row, role) for row in MATRIX if row.method != "WS" for role in ROLES]


def _has_format_suffix(row: Row) -> bool:
    if row.method != "GET" or row.auth != "jwt" or "?" in row.path or not _uses_objects(row):
        return False
    try:
        return "format" in resolve(fill(row.path, _DUMMY) + ".json").kwargs
    except Resolver404:
        return False


FORMAT_CASES = [
    pytest.param(row, role, id=f"{row.id}.json-{role}")
    for row in MATRIX
    if _has_format_suffix(row)
    for role in ROLES
]


@pytest.mark.django_db(databases=DATABASES)
class TestPermissionMatrix:
    """Every HTTP row, for every role, against one shared world (see shared_world)."""

    @pytest.mark.parametrize(("row", "role"), HTTP_CASES)
    def test_permission_matrix(self, shared_world: World, row: Row, role: str) -> None:
        world = shared_world
        outcome = row.expect[role]
        ctx = world.context(role)
        path = fill(row.path, ctx)
        ctx["path"] = path
        body = row.body(world, role) if callable(row.body) else fill_body(row.body, ctx)
        client = world.client(role, row.auth)

        before = snapshot()
        response = send(client, row, path, body)
        after = snapshot()

        call = Call(world=world, role=role, ctx=ctx, response=response, client=client)
        assert response.status_code < 500, call.text()[:3000]
        assert_no_leak(world, role, call.text(), path + json.dumps(body, default=str))
        if not outcome.changes_allowed or (row.method == "GET" and not row.get_writes):
            assert_unchanged(before, after, f"{row.id} as {role}")
        verify(outcome, row, call, body)

    # Format suffixes (/hives/7.json) reach the same views: they answer like the plain route.
    @pytest.mark.parametrize(("row", "role"), FORMAT_CASES)
    def test_format_suffix_answers_like_the_plain_route(
        self, shared_world: World, row: Row, role: str
    ) -> None:
        expected = {OK: 200, SHARED: 200, HIDDEN: 404, UNAUTH: 401}[row.expect[role]]
        path = fill(row.path, shared_world.context(role)) + ".json"
        response = shared_world.client(role, "jwt").get(path)
        assert response.status_code == expected, content_of(response)[:2000]
        assert_no_leak(shared_world, role, content_of(response), "")


# --- The live stream --------------------------------------------------------------------

WS_CASES = [_case(row, role) for row in MATRIX if row.method == "WS" for role in ROLES]


async def _first_output(path: str) -> dict[str, Any]:
    ws = WebsocketCommunicator(application, path)
    connected, _ = await ws.connect()
    assert connected
    output = await ws.receive_output(timeout=5)
    await ws.disconnect()
    return output


@pytest.mark.django_db(transaction=True, databases=DATABASES)
@pytest.mark.parametrize(("row", "role"), WS_CASES)
def test_live_stream_matrix(world: World, row: Row, role: str) -> None:
    outcome = row.expect[role]
    user = world.users[role]
    query = f"?token={AccessToken.for_user(user)}" if user is not None else ""
    path = fill(row.path, world.context(role)) + query
    missing = fill(row.path, world.context(role, missing=True)) + query

    before = snapshot()
    output = async_to_sync(_first_output)(path)
    assert_unchanged(before, snapshot(), f"WS {path}")
    assert_no_leak(world, role, json.dumps(output), "")

    if outcome is WS_HISTORY:
        assert output["type"] == "websocket.send", output
        message = json.loads(output["text"])
        assert message["type"] == "history"
        times = [dt.datetime.fromisoformat(r["time"]) for r in message["readings"]]
        stored = Reading.objects.filter(device_id=world.values["device"]).order_by("time")
        assert times == list(stored.values_list("time", flat=True))
    elif outcome is WS_OPEN:
        assert output["type"] == "websocket.send", output
        message = json.loads(output["text"])
        assert message["type"] == "open"
        mine = set(Alert.objects.filter(user=user, resolved_at=None).values_list("pk", flat=True))
        assert {alert["id"] for alert in message["alerts"]} == mine
    elif outcome in (WS_4404, WS_4401):
        code = 4404 if outcome is WS_4404 else 4401
        assert output == {"type": "websocket.close", "code": code}
        # Someone else's hive closes exactly like one that does not exist.
        assert async_to_sync(_first_output)(missing) == output
    else:
        raise AssertionError(f"{outcome} is not a WebSocket outcome")
