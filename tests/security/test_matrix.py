"""The permission matrix: every route and method of BeeAPI, for every role.

One row per (method, route): what alice (the owner of the data), bob (another beekeeper
with data of his own), charlie (a beekeeper with no data), dave (a viewer of alice's
apiary), erin (an editor of it) and anonymous get. Placeholders in a path or body name the
world of tests/security/conftest.py: {apiary}, {hive}, {queen}, {event}, {apiary_event}
and {device} are alice's; {dave_member} and {erin_member} are dave's and erin's memberships
of alice's apiary; {bob_hive} and the like are bob's ({bob_member}: an invitation to his
apiary); {email}, {password}, {refresh}, {own_member}, {other_member} are the requesting
role's own credentials and membership (and someone else's membership).

Outcomes (a cell of the table):

  OK          2xx (``ok=`` when not the method's usual one) and the row's ``check`` holds:
              the object was really read, changed, created or deleted
  LIST        200 listing the role's own data and nobody else's
  SHARED      200 listing alice's data shared with the role (dave, erin) and nobody
              else's; an apiary in it names the requester's role
  EMPTY       200 listing nothing at all
  HIDDEN      404, answered exactly like a request for an id that does not exist (every
              object of the path, or those of ``missing=``)
  REFUSED     400/409 JSON: a body naming someone else's object, like a missing one
  UNAUTH      401 JSON
  FORBIDDEN   403, answered exactly like a request for an id that does not exist
  NEEDS_EDITOR, NEEDS_OWNER
              403 JSON for a role that sees the object but may not do this, naming the
              role needed and the requester's ("needs the editor role ...; you are a viewer.")
  DENIED      the admin's 403 for a role that sees the object but may not do this
  LOGIN       redirect to the admin login page
  GONE        the admin's "does not exist" redirect to its index, as for a missing id
  FORM_ERROR  the admin form comes back with an error
  REDIRECT    a redirect to ``location=``
  WS_*        the live stream: the history message, or a close code

On every request: no 5xx; no other user's mark in the answer; and every outcome other than
OK (and every GET) leaves both databases as they were (entity tables on "default",
readings on "telemetry").

dave and erin get what alice's apiary allows their role (README, "Sharing an apiary").

A route that is not in this table fails test_every_route_and_method_is_in_the_matrix:
a new endpoint cannot ship without deciding who may use it. A new role is one more entry
in ROLES, one more column in every row and one more user in conftest.build_world.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
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
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from alerts.models import Alert, AlertRule, AlertSettings, Inspection, Webhook
from apiary.device_keys import device_key_hash
from apiary.models import Apiary, Device, Event, Hive, Membership, QueenBee
from beeapi.asgi import application
from sensors.models import Integration, SensorLink
from telemetry.models import Reading
from tests.security.conftest import (
    DATABASES,
    MARKS,
    MEMBER_ROLES,
    OBJECT_KEYS,
    World,
    fill,
    fill_body,
)

ROLES = ("alice", "bob", "charlie", "dave", "erin", "anonymous")


# --- Outcomes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    name: str
    changes_allowed: bool = False

    def __repr__(self) -> str:
        return self.name


OK = Outcome("OK", changes_allowed=True)
LIST = Outcome("LIST")
SHARED = Outcome("SHARED")
EMPTY = Outcome("EMPTY")
HIDDEN = Outcome("HIDDEN")
REFUSED = Outcome("REFUSED")
UNAUTH = Outcome("UNAUTH")
FORBIDDEN = Outcome("FORBIDDEN")
NEEDS_EDITOR = Outcome("NEEDS_EDITOR")
NEEDS_OWNER = Outcome("NEEDS_OWNER")
DENIED = Outcome("DENIED")
LOGIN = Outcome("LOGIN")
GONE = Outcome("GONE")
FORM_ERROR = Outcome("FORM_ERROR")
REDIRECT = Outcome("REDIRECT")
WS_HISTORY = Outcome("WS_HISTORY")
WS_4401 = Outcome("WS_4401")
WS_4404 = Outcome("WS_4404")
WS_OPEN = Outcome("WS_OPEN")


@dataclass(frozen=True)
class Call:
    """One request of one role, as the checks see it."""

    world: World
    role: str
    ctx: dict[str, Any]
    response: HttpResponse
    client: Any

    def __repr__(self) -> str:  # short, for failure reports
        return f"<Call {self.role}: {self.response.status_code} {self.ctx.get('path')}>"

    @property
    def user(self) -> User | None:
        return self.world.users[self.role]

    def json(self) -> Any:
        return json.loads(self.response.content)

    def text(self) -> str:
        return content_of(self.response)


Check = Callable[[Call], None]


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expect: dict[str, Outcome]
    body: Any = None
    check: Check | None = None
    ok: int | None = None
    auth: str = "jwt"
    location: str | None = None
    # The objects of the path that the "same as a missing id" comparison replaces
    # (default: all of them), when the path also names one the requester may see.
    missing: tuple[str, ...] | None = None
    note: str = ""
    # A GET that writes by design (ThingSpeak's GET /update stores readings).
    get_writes: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.note}]" if self.note else "")

    def __repr__(self) -> str:  # short, for failure reports
        return f"<Row {self.id} {self.expect}>"


def R(method: str, path: str, *outcomes: Outcome, **options: Any) -> Row:
    assert len(outcomes) == len(ROLES), f"{method} {path}: one outcome per role {ROLES}"
    browser = path.startswith(("/admin", "/static")) or path.endswith("/live")
    options.setdefault("auth", "session" if browser else "jwt")
    return Row(method, path, dict(zip(ROLES, outcomes, strict=True)), **options)


# --- Checks: the owner's request really did it ----------------------------------------


def _get(model: type, ctx: dict[str, Any], filters: dict[str, Any]) -> Any:
    return model.objects.filter(**fill_body(filters, ctx))


def shows(key: str) -> Check:
    def check(c: Call) -> None:
        assert c.json()["id"] == c.ctx[key]

    return check


def lists(key: str) -> Check:
    def check(c: Call) -> None:
        assert c.ctx[key] in [item["id"] for item in c.json()["results"]]

    return check


def changed(model: type, key: str, **expected: Any) -> Check:
    def check(c: Call) -> None:
        row = model.objects.filter(pk=c.ctx[key]).values(*expected).get()
        assert row == fill_body(expected, c.ctx)

    return check


def gone(model: type, key: str) -> Check:
    def check(c: Call) -> None:
        assert not model.objects.filter(pk=c.ctx[key]).exists()

    return check


def created(model: type, **filters: Any) -> Check:
    def check(c: Call) -> None:
        assert _get(model, c.ctx, filters).count() == 1, filters

    return check


def created_by_requester(model: type, **filters: Any) -> Check:
    """Created, and owned by whoever asked (an "owner" in the body is ignored)."""

    def check(c: Call) -> None:
        assert _get(model, c.ctx, filters).get().owner == c.user

    return check


def mentions(model: type, key: str) -> Check:
    def check(c: Call) -> None:
        assert escape(str(model.objects.get(pk=c.ctx[key]))) in c.text()

    return check


def contains(text: str) -> Check:
    def check(c: Call) -> None:
        assert fill(text, c.ctx) in c.text()

    return check


def redirects_to(location: str) -> Check:
    def check(c: Call) -> None:
        assert c.response["Location"] == fill(location, c.ctx)

    return check


def both(*checks: Check) -> Check:
    def check(c: Call) -> None:
        for each in checks:
            each(c)

    return check


def readings_of(device: str) -> Check:
    def check(c: Call) -> None:
        body = c.json()
        assert body["device_id"] == c.ctx[device]
        assert len(body["results"]) == 3

    return check


def readings_count(device: str, count: int) -> Check:
    def check(c: Call) -> None:
        assert Reading.objects.filter(device_id=c.ctx[device]).count() == count

    return check


def csv_of_three_readings(c: Call) -> None:
    assert c.response["Content-Type"].startswith("text/csv")
    assert len(c.text().strip().splitlines()) == 1 + 3


def csv_lists(key: str) -> Check:
    """A CSV download whose rows are exactly the object at ``key`` (an event)."""

    def check(c: Call) -> None:
        assert c.response["Content-Type"].startswith("text/csv")
        assert c.response["Content-Disposition"] == 'attachment; filename="events.csv"'
        ids = [row["id"] for row in csv.DictReader(io.StringIO(c.text()))]
        assert ids == [str(c.ctx[key])], ids

    return check


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
    assert header[0] == "bucket" and header[-2:] == ["reading_count", "weight_change"]
    assert sum(int(row[-2]) for row in rows) == 3


def latest_of_alice(c: Call) -> None:
    newest = Reading.objects.filter(device_id=c.ctx["device"]).order_by("-time").first()
    body = c.json()
    assert body["device_id"] == c.ctx["device"]
    assert dt.datetime.fromisoformat(body["time"]) == newest.time


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


def device_key_rotated(c: Call) -> None:
    body = c.json()
    hive = Hive.objects.get(pk=c.ctx["hive"])
    assert hive.device_key_hash == device_key_hash(body["device_key"])
    assert hive.device_key_hash != device_key_hash(c.world.per_role["alice"]["device_key"])


def device_keys_replaced(c: Call) -> None:
    keys = {str(k["hive"]): k["device_key"] for k in c.json()["keys"]}
    hive = Hive.objects.get(pk=c.ctx["hive"])
    assert hive.device_key_hash == device_key_hash(keys[str(c.ctx["hive"])])


def device_key_replaced(c: Call) -> None:
    original = device_key_hash(c.world.per_role["alice"]["device_key"])
    assert Hive.objects.get(pk=c.ctx["hive"]).device_key_hash != original


def token_of_requester(c: Call) -> None:
    assert str(AccessToken(c.json()["access"])["user_id"]) == str(c.user.pk)


def refresh_blacklisted(c: Call) -> None:
    assert BlacklistedToken.objects.filter(token__jti=c.ctx["refresh_jti"]).exists()


def is_requester(c: Call) -> None:
    assert c.json()["email"] == c.user.email


def only_requester_renamed(c: Call) -> None:
    names = dict(User.objects.values_list("email", "name"))
    for role, user in c.world.users.items():
        if user is not None:
            expected = "renamed" if role == c.role else user.name
            assert names[user.email] == expected, role


def password_changed_to(password: str) -> Check:
    def check(c: Call) -> None:
        users = {u.pk: u for u in User.objects.all()}
        for user in c.world.users.values():
            if user is not None:
                assert users[user.pk].check_password(password) is (user == c.user)

    return check


def registered(c: Call) -> None:
    assert User.objects.filter(email=f"{c.role}-new@example.com", is_staff=True).exists()


def verified_requester(c: Call) -> None:
    assert c.json()["email"] == c.user.email
    assert User.objects.get(pk=c.user.pk).email_verified


def logged_out(c: Call) -> None:
    assert c.client.get("/admin/").status_code == 302


def own_rules_only(c: Call) -> None:
    ids = {rule["id"] for rule in c.json()["results"]}
    assert ids == set(AlertRule.objects.filter(user=c.user).values_list("pk", flat=True))


def rule_created_for_requester(c: Call) -> None:
    assert AlertRule.objects.filter(
        user=c.user, kind="brood_temperature", hive=c.ctx["hive"]
    ).exists()


def created_for_requester(model: type, **filters: Any) -> Check:
    def check(c: Call) -> None:
        assert _get(model, c.ctx, filters).get().user == c.user

    return check


def email_off_for_requester_only(c: Call) -> None:
    assert list(AlertSettings.objects.filter(email=False).values_list("user", flat=True)) == [
        c.user.pk
    ]


def inspection_open_for(minutes: int) -> Check:
    def check(c: Call) -> None:
        at_least = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
        assert Inspection.objects.filter(hive=c.ctx["hive"], ends_at__gt=at_least).exists()

    return check


def inspection_closed(c: Call) -> None:
    now = dt.datetime.now(dt.UTC)
    assert not Inspection.objects.filter(hive=c.ctx["hive"], ends_at__gt=now).exists()


def key_for_owner_only(c: Call) -> None:
    """A new hive's device key is answered to the apiary's owner only (an editor gets
    null), and its device_id is registered to the owner, whoever created it."""
    body = c.json()
    hive = Hive.objects.get(pk=body["id"])
    if c.role == "alice":
        assert hive.device_key_hash == device_key_hash(body["device_key"])
    else:
        assert body["device_key"] is None, body
    assert Device.objects.get(device_id=hive.device_id).owner == c.world.users["alice"]


def admin_key_for_owner_only(c: Call) -> None:
    """The admin shows a new hive's device key once, on the page it redirects to, and only
    to the apiary's owner."""
    page = content_of(c.client.get(c.response["Location"]))
    hive = Hive.objects.get(device_id="added-dev")
    shown = re.search(r"Device key for added-dev: (\S+) ", page)
    if c.role == "alice":
        assert shown and hive.device_key_hash == device_key_hash(shown.group(1)), page[:2000]
    else:
        assert shown is None, shown.group(0)


def members_of_alice_apiary(c: Call) -> None:
    listed = {item["id"]: item["role"] for item in c.json()["results"]}
    assert listed == {c.ctx[f"{role}_member"]: shared for role, shared in MEMBER_ROLES.items()}


def member_removed(key: str) -> Check:
    """The membership is gone, and at once its user gets 404 for the apiary."""

    def check(c: Call) -> None:
        assert not Membership.objects.filter(pk=c.ctx[key]).exists()
        member = next(role for role in MEMBER_ROLES if c.ctx[f"{role}_member"] == c.ctx[key])
        answer = c.world.client(member, "jwt").get(fill("/apiaries/{apiary}", c.ctx))
        assert answer.status_code == 404, member

    return check


def handed_over_to(role: str) -> Check:
    """The owner made ``role`` the owner: the apiary and its device ids are theirs, and the
    previous owner is an editor (the membership answered)."""

    def check(c: Call) -> None:
        new_owner = c.world.users[role]
        assert Apiary.objects.get(pk=c.ctx["apiary"]).owner == new_owner
        assert Device.objects.get(device_id=c.ctx["device"]).owner == new_owner
        assert (c.json()["email"], c.json()["role"]) == (c.user.email, "editor")

    return check


def save_button_for(*roles: str) -> Check:
    """The admin page is a form to save for ``roles`` only (others get a read-only page)."""

    def check(c: Call) -> None:
        assert ('name="_save"' in c.text()) is (c.role in roles), c.role

    return check


# --- Admin forms: what a browser would submit ------------------------------------------


class _FormFields(HTMLParser):
    """The fields of the admin's change form (``<form id="..._form">``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fields: dict[str, Any] = {}
        self._in_form = False
        self._select: str | None = None
        self._multiple = False
        self._options: list[str] = []
        self._chosen: list[str] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def _add(self, name: str, value: str) -> None:
        if name in self.fields:
            old = self.fields[name]
            self.fields[name] = [*(old if isinstance(old, list) else [old]), value]
        else:
            self.fields[name] = value

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = {key: value or "" for key, value in attr_list}
        if tag == "form" and attrs.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form:
            return
        if tag == "input":
            kind, name = attrs.get("type", "text"), attrs.get("name")
            if not name or kind in {"submit", "button", "image", "file", "reset"}:
                return
            if kind in {"checkbox", "radio"}:
                if "checked" in attrs:
                    self._add(name, attrs.get("value") or "on")
                return
            self._add(name, attrs.get("value", ""))
        elif tag == "select":
            self._select, self._multiple = attrs.get("name"), "multiple" in attrs
            self._options, self._chosen = [], []
        elif tag == "option" and self._select:
            self._options.append(attrs.get("value", ""))
            if "selected" in attrs:
                self._chosen.append(attrs.get("value", ""))
        elif tag == "textarea":
            self._textarea, self._text = attrs.get("name"), []

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select:
            chosen = self._chosen or ([] if self._multiple else self._options[:1])
            for value in chosen:
                self._add(self._select, value)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self._add(self._textarea, "".join(self._text).removeprefix("\n"))
            self._textarea = None


def admin_form(page: str, *, as_role: str | None = None, **changes: Any) -> Callable:
    """The form on ``page`` as loaded by ``as_role`` (default: the requester), with
    ``changes``: bob replays the form of alice's change page, say."""

    def build(world: World, role: str) -> dict[str, Any]:
        viewer = as_role or role
        ctx = world.context(role)
        data: dict[str, Any] = {}
        if world.users[viewer] is not None:
            answer = world.client(viewer, "session").get(fill(page, ctx))
            if answer.status_code == 200:
                parser = _FormFields()
                parser.feed(answer.content.decode())
                data = parser.fields
        data.update(fill_body(changes, ctx))
        return data

    return build


# --- The matrix -------------------------------------------------------------------------

NEW_READING = {"time": "{now}", "temperature": 35.5}
NEW_EVENT = {"type": "note", "occurred_at": "{recent}", "notes": "new note"}
# alice and bob see theirs, charlie nothing, dave and erin alice's (shared with them)
OWN_LIST_ROLES = (LIST, LIST, EMPTY, SHARED, SHARED, UNAUTH)


def _admin_model(
    model: str,
    key: str,
    field: str,
    cls: type,
    add: dict[str, Any],
    added: dict[str, Any],
    *,
    editor_changes: bool,
    editor_deletes: bool,
    add_check: Check | None = None,
) -> list[Row]:
    """One of the beekeeping models in the admin: alice's object at {key}. ``add`` is
    what the add form gets, ``added`` finds the object it created. dave (viewer) reads
    it; erin (editor) changes and deletes it as far as ``editor_*`` say."""
    base = f"/admin/apiary/{model}"
    obj = f"{base}/{{{key}}}"
    erin_changes = OK if editor_changes else DENIED
    erin_deletes = OK if editor_deletes else DENIED
    savers = ("alice", "erin") if editor_changes else ("alice",)
    add_by_alice = created_by_requester(cls, **added) if cls is Apiary else created(cls, **added)
    if add_check is not None:
        add_by_alice = both(add_by_alice, add_check)
    add_row = (
        R("POST", f"{base}/add/", OK, OK, OK, OK, OK, LOGIN, ok=302, check=add_by_alice,
          body=admin_form(f"{base}/add/", **add))
        if cls is Apiary
        else R("POST", f"{base}/add/", OK, FORM_ERROR, FORM_ERROR, FORM_ERROR, OK, LOGIN, ok=302,
               check=add_by_alice, body=admin_form(f"{base}/add/", **add),
               note="naming alice's parent")
    )  # fmt: skip
    return [
        # method  path                     alice  bob       charlie   dave      erin          anonymous
        R("GET",  f"{base}/",              LIST,  LIST,     EMPTY,    SHARED,   SHARED,       LOGIN),
        # The changelist's bulk delete, as its confirmation page posts it, on alice's object.
        R("POST", f"{base}/",              OK,    REDIRECT, REDIRECT, DENIED,   erin_deletes, LOGIN, ok=302,
          body={"action": "delete_selected", "_selected_action": f"{{{key}}}", "post": "yes"},
          check=gone(cls, key), location=f"{base}/", note="delete_selected"),
        R("GET",  f"{base}/add/",          OK,    OK,       OK,       OK,       OK,           LOGIN),
        add_row,
        R("GET",  f"{obj}/change/",        OK,    GONE,     GONE,     OK,       OK,           LOGIN,
          check=both(mentions(cls, key), save_button_for(*savers))),
        R("POST", f"{obj}/change/",        OK,    GONE,     GONE,     DENIED,   erin_changes, LOGIN, ok=302,
          body=admin_form(f"{obj}/change/", as_role="alice", **{field: "renamed in admin"}),
          check=changed(cls, key, **{field: "renamed in admin"})),
        R("GET",  f"{obj}/delete/",        OK,    GONE,     GONE,     DENIED,   erin_deletes, LOGIN,
          check=mentions(cls, key)),
        R("POST", f"{obj}/delete/",        OK,    GONE,     GONE,     DENIED,   erin_deletes, LOGIN, ok=302,
          body={"post": "yes"}, check=gone(cls, key)),
        R("GET",  f"{obj}/history/",       OK,    GONE,     GONE,     OK,       OK,           LOGIN,
          check=mentions(cls, key)),
        R("GET",  f"{obj}/",               REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT,  LOGIN,
          location=f"{obj}/change/"),
    ]  # fmt: skip


def _superuser_only_admin(model: str, key: str, *, extra: tuple[str, ...] = ()) -> list[Row]:
    """Consoles only superusers use (accounts, groups, tokens, sign-in records):
    beekeepers, alice included, get 403; the object id must not matter."""
    base = f"/admin/{model}"
    obj = f"{base}/{{{key}}}"
    rows = [
        # method  path                 alice      bob        charlie    dave       erin       anonymous
        R("GET",  f"{base}/",          FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
        R("GET",  f"{base}/add/",      FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
        R("POST", f"{base}/add/",      FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN, body={}),
        R("GET",  f"{obj}/change/",    FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
        R("POST", f"{obj}/change/",    FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN, body={}),
        R("GET",  f"{obj}/delete/",    FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
        R("POST", f"{obj}/delete/",    FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN,
          body={"post": "yes"}),
        R("GET",  f"{obj}/history/",   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
        R("GET",  f"{obj}/",           REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN,
          location=f"{obj}/change/"),
    ]  # fmt: skip
    rows += [
        R("GET", f"{obj}/{tail}", FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN)
        for tail in extra
    ]
    return rows


MATRIX: list[Row] = [
    # ---- Public and self-scoped: everyone may call them, each about themselves ----------
    # method    path                          alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/",                          OK,       OK,       OK,       OK,           OK,          OK, check=contains("/admin/")),
    R("GET",    "/favicon.ico",               OK,       OK,       OK,       OK,           OK,          OK),
    R("GET",    "/health",                    OK,       OK,       OK,       OK,           OK,          OK, check=contains('"default"')),
    R("GET",    "/schema",                    OK,       OK,       OK,       OK,           OK,          OK, check=contains("openapi")),
    R("GET",    "/docs",                      OK,       OK,       OK,       OK,           OK,          OK, check=contains("swagger")),
    R("GET",    "/redoc",                     OK,       OK,       OK,       OK,           OK,          OK, check=contains("redoc")),
    R("GET",    "/static/telemetry/live.js",  OK,       OK,       OK,       OK,           OK,          OK),
    R("POST",   "/auth/register",             OK,       OK,       OK,       OK,           OK,          OK, check=registered,
      body={"email": "{role}-new@example.com", "password": "a-new-hive-frame-77"}),
    R("GET",    "/auth/verify?token={verify_token}", OK, OK,    OK,       OK,           OK,          REFUSED,
      check=verified_requester, note="own link; anonymous: a forged token"),
    R("POST",   "/auth/verify",               OK,       OK,       OK,       OK,           OK,          REFUSED, ok=200,
      body={"token": "{verify_token}"}, check=verified_requester,
      note="own link; anonymous: a forged token"),
    R("POST",   "/auth/verify/resend",        REFUSED,  REFUSED,  REFUSED,  REFUSED,      REFUSED,     UNAUTH,
      note="every role's address is already verified"),
    R("POST",   "/auth/token",                OK,       OK,       OK,       OK,           OK,          UNAUTH, ok=200,
      body={"email": "{email}", "password": "{password}"}, check=token_of_requester,
      note="own credentials; anonymous: alice's email, wrong password"),
    R("POST",   "/auth/token/refresh",        OK,       OK,       OK,       OK,           OK,          UNAUTH, ok=200,
      body={"refresh": "{refresh}"}, check=token_of_requester),
    R("POST",   "/auth/logout",               OK,       OK,       OK,       OK,           OK,          UNAUTH, ok=205,
      body={"refresh": "{refresh}"}, check=refresh_blacklisted),
    R("GET",    "/users/me",                  OK,       OK,       OK,       OK,           OK,          UNAUTH, check=is_requester),
    R("PATCH",  "/users/me",                  OK,       OK,       OK,       OK,           OK,          UNAUTH,
      body={"name": "renamed"}, check=only_requester_renamed),
    R("POST",   "/users/me/password",         OK,       OK,       OK,       OK,           OK,          UNAUTH, ok=204,
      body={"old_password": "{password_ok}", "new_password": "a-new-hive-frame-77"},
      check=password_changed_to("a-new-hive-frame-77")),

    # ---- Apiaries ------------------------------------------------------------------------
    # method    path                              alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/apiaries",                      *OWN_LIST_ROLES),
    R("GET",    "/apiaries?role=owner",           LIST,     LIST,     EMPTY,    EMPTY,        EMPTY,       UNAUTH),
    R("GET",    "/apiaries?role=editor",          EMPTY,    EMPTY,    EMPTY,    EMPTY,        SHARED,      UNAUTH),
    R("GET",    "/apiaries?role=viewer",          EMPTY,    EMPTY,    EMPTY,    SHARED,       EMPTY,       UNAUTH),
    R("POST",   "/apiaries",                      OK,       OK,       OK,       OK,           OK,          UNAUTH,
      body={"name": "new yard", "owner": "alice@example.com"},
      check=created_by_requester(Apiary, name="new yard")),
    R("GET",    "/apiaries/{apiary}",             OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=shows("apiary")),
    R("PUT",    "/apiaries/{apiary}",             OK,       HIDDEN,   HIDDEN,   NEEDS_OWNER,  NEEDS_OWNER, UNAUTH,
      body={"name": "renamed"}, check=changed(Apiary, "apiary", name="renamed")),
    R("PATCH",  "/apiaries/{apiary}",             OK,       HIDDEN,   HIDDEN,   NEEDS_OWNER,  NEEDS_OWNER, UNAUTH,
      body={"notes": "patched"}, check=changed(Apiary, "apiary", notes="patched")),
    R("DELETE", "/apiaries/{apiary}",             OK,       HIDDEN,   HIDDEN,   NEEDS_OWNER,  NEEDS_OWNER, UNAUTH, check=gone(Apiary, "apiary")),
    R("GET",    "/apiaries/{apiary}/hives",       OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=lists("hive")),
    R("POST",   "/apiaries/{apiary}/hives",       OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={"name": "new hive", "device_id": "new-dev-1"},
      check=both(created(Hive, name="new hive", apiary="{apiary}", device_id="new-dev-1"),
                 key_for_owner_only)),
    R("GET",    "/apiaries/{apiary}/events",      OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=lists("apiary_event")),
    R("POST",   "/apiaries/{apiary}/events",      OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH, body=NEW_EVENT,
      check=created(Event, notes="new note", apiary="{apiary}")),
    R("POST",   "/apiaries/{bob_apiary}/hives",   HIDDEN,   REFUSED,  HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH,
      body={"apiary": "{apiary}", "name": "sneaky", "device_id": "sneaky-1"},
      note="body names alice's apiary"),
    R("POST",   "/apiaries/{bob_apiary}/events",  HIDDEN,   REFUSED,  HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH,
      body={**NEW_EVENT, "apiary": "{apiary}"}, note="body names alice's apiary"),

    # ---- Members of alice's apiary: dave is a viewer, erin an editor ---------------------
    # method    path                                          alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/apiaries/{apiary}/members",                 OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=members_of_alice_apiary),
    R("POST",   "/apiaries/{apiary}/members",                 OK,       HIDDEN,   HIDDEN,   NEEDS_OWNER,  NEEDS_OWNER, UNAUTH,
      body={"email": "newcomer@example.com", "role": "editor"},
      check=created(Membership, apiary="{apiary}", email="newcomer@example.com", role="editor")),
    R("PATCH",  "/apiaries/{apiary}/members/{dave_member}",   OK,       HIDDEN,   HIDDEN,   NEEDS_OWNER,  NEEDS_OWNER, UNAUTH, body={"role": "editor"},
      check=changed(Membership, "dave_member", role="editor"), note="dave to editor"),
    R("PATCH",  "/apiaries/{apiary}/members/{erin_member}",   OK,       HIDDEN,   HIDDEN,   NEEDS_OWNER,  NEEDS_OWNER, UNAUTH, body={"role": "owner"},
      check=handed_over_to("erin"), note="erin to owner: handing the apiary over"),
    R("DELETE", "/apiaries/{apiary}/members/{own_member}",    OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH,
      check=member_removed("own_member"), note="the requester's own (alice: dave's): leaving"),
    R("DELETE", "/apiaries/{apiary}/members/{other_member}",  OK,       HIDDEN,   HIDDEN,   NEEDS_OWNER,  NEEDS_OWNER, UNAUTH,
      check=member_removed("other_member"), note="someone else's (alice: erin's)"),
    # bob's invitation through alice's apiary: as if it did not exist, for alice too.
    R("PATCH",  "/apiaries/{apiary}/members/{bob_member}",    HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH,
      body={"role": "editor"}, missing=("bob_member",), note="bob's invitation"),
    R("DELETE", "/apiaries/{apiary}/members/{bob_member}",    HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH,
      missing=("bob_member",), note="bob's invitation"),

    # ---- Hives ---------------------------------------------------------------------------
    # method    path                                   alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/hives",                              *OWN_LIST_ROLES),
    R("POST",   "/hives",                              OK,       REFUSED,  REFUSED,  NEEDS_EDITOR, OK,          UNAUTH,
      body={"apiary": "{apiary}", "name": "new hive", "device_id": "new-dev-2"},
      check=both(created(Hive, name="new hive", apiary="{apiary}"), key_for_owner_only),
      note="in alice's apiary"),
    R("POST",   "/hives",                              REFUSED,  REFUSED,  REFUSED,  REFUSED,      REFUSED,     UNAUTH,
      body={"apiary": "{bob_apiary}", "name": "thief", "device_id": "{device}"},
      note="alice's device_id in bob's apiary"),
    R("GET",    "/hives/{hive}",                       OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=shows("hive")),
    R("PUT",    "/hives/{hive}",                       OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={"apiary": "{apiary}", "name": "renamed", "device_id": "{device}"},
      check=changed(Hive, "hive", name="renamed")),
    R("PATCH",  "/hives/{hive}",                       OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={"notes": "patched"}, check=changed(Hive, "hive", notes="patched")),
    R("DELETE", "/hives/{hive}",                       OK,       HIDDEN,   HIDDEN,   NEEDS_OWNER,  NEEDS_OWNER, UNAUTH,
      check=both(gone(Hive, "hive"), readings_count("device", 3))),
    R("DELETE", "/hives/{hive}?purge_telemetry=true",  OK,       HIDDEN,   HIDDEN,   NEEDS_OWNER,  NEEDS_OWNER, UNAUTH,
      check=both(gone(Hive, "hive"), readings_count("device", 0))),
    R("PATCH",  "/hives/{bob_hive}",                   HIDDEN,   REFUSED,  HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH,
      body={"apiary": "{apiary}"}, note="bob moves his hive into alice's apiary"),
    R("PATCH",  "/hives/{bob_hive}",                   HIDDEN,   REFUSED,  HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH,
      body={"device_id": "{device}"}, note="bob takes alice's device_id"),
    R("GET",    "/hives/{hive}/queens",                OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=lists("queen")),
    R("POST",   "/hives/{hive}/queens",                OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={"year_born": 2025, "origin": "new queen"},
      check=created(QueenBee, origin="new queen", hive="{hive}", is_current=True)),
    R("POST",   "/hives/{bob_hive}/queens",            HIDDEN,   REFUSED,  HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH,
      body={"year_born": 2025, "mother": "{queen}"}, note="alice's queen as mother"),
    R("GET",    "/hives/{hive}/events",                OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=lists("event")),
    R("POST",   "/hives/{hive}/events",                OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH, body=NEW_EVENT,
      check=created(Event, notes="new note", hive="{hive}")),
    R("POST",   "/hives/{bob_hive}/events",            HIDDEN,   REFUSED,  HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH,
      body={**NEW_EVENT, "hive": "{hive}"}, note="body names alice's hive"),
    R("POST",   "/hives/{hive}/device-key",            OK,       HIDDEN,   HIDDEN,   NEEDS_OWNER,  NEEDS_OWNER, UNAUTH, body={}, check=device_key_rotated),
    R("POST",   "/apiaries/{apiary}/device-keys",      OK,       HIDDEN,   HIDDEN,   NEEDS_OWNER,  NEEDS_OWNER, UNAUTH, body={}, check=device_keys_replaced),

    # ---- Queens --------------------------------------------------------------------------
    # method    path                       alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/queens",                 *OWN_LIST_ROLES),
    R("GET",    "/queens/{queen}",         OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=shows("queen")),
    R("PUT",    "/queens/{queen}",         OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={"introduced_at": "2025-05-01", "year_born": 2024, "origin": "renamed"},
      check=changed(QueenBee, "queen", origin="renamed", year_born=2024)),
    R("PATCH",  "/queens/{queen}",         OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={"notes": "patched"}, check=changed(QueenBee, "queen", notes="patched")),
    R("DELETE", "/queens/{queen}",         OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH, check=gone(QueenBee, "queen")),
    R("POST",   "/queens/{queen}/retire",  OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH, ok=200,
      body={"removal_reason": "died"},
      check=changed(QueenBee, "queen", is_current=False, removal_reason="died")),

    # ---- Events --------------------------------------------------------------------------
    # method    path                        alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/events",                  *OWN_LIST_ROLES),
    R("GET",    "/events?hive={hive}",      LIST,     EMPTY,    EMPTY,    SHARED,       SHARED,      UNAUTH),
    R("GET",    "/events?apiary={apiary}",  LIST,     EMPTY,    EMPTY,    SHARED,       SHARED,      UNAUTH),
    # The list as CSV (every matching event, the same filters): LIST/SHARED/EMPTY look
    # for the marks in the file as in the JSON.
    R("GET",    "/events?format=csv",               LIST,     LIST,     EMPTY,    SHARED,       SHARED,      UNAUTH),
    R("GET",    "/events?format=csv&hive={hive}",   LIST,     EMPTY,    EMPTY,    SHARED,       SHARED,      UNAUTH),
    R("POST",   "/events",                  OK,       REFUSED,  REFUSED,  NEEDS_EDITOR, OK,          UNAUTH,
      body={**NEW_EVENT, "hive": "{hive}"}, check=created(Event, notes="new note", hive="{hive}"),
      note="on alice's hive"),
    R("POST",   "/events",                  OK,       REFUSED,  REFUSED,  NEEDS_EDITOR, OK,          UNAUTH,
      body={**NEW_EVENT, "apiary": "{apiary}"},
      check=created(Event, notes="new note", apiary="{apiary}"), note="on alice's apiary"),
    R("GET",    "/events/{event}",          OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=shows("event")),
    R("PUT",    "/events/{event}",          OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={**NEW_EVENT, "hive": "{hive}", "notes": "renamed"},
      check=changed(Event, "event", notes="renamed")),
    R("PATCH",  "/events/{event}",          OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={"notes": "patched"}, check=changed(Event, "event", notes="patched")),
    R("DELETE", "/events/{event}",          OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH, check=gone(Event, "event")),
    R("PATCH",  "/events/{bob_event}",      HIDDEN,   REFUSED,  HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH,
      body={"hive": "{hive}"}, note="bob moves his event to alice's hive"),

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
    # POST /telemetry authenticates with the role's own device key (only alice and bob
    # have one: charlie, dave and erin have no hive of their own).
    R("POST",   "/telemetry",                          OK,       OK,       UNAUTH,   UNAUTH,       UNAUTH,      UNAUTH,
      auth="device", body=NEW_READING, check=stored_for_own_device_only, note="own device key"),
    R("POST",   "/telemetry",                          OK,       REFUSED,  UNAUTH,   UNAUTH,       UNAUTH,      UNAUTH,
      auth="device", body={"device_id": "{device}", "readings": [NEW_READING]},
      check=reading_stored_for("device"), note="body names alice's device"),

    # ---- Sensors: adapters with the role's own device key, TTN, integrations, device -----
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

    # ---- The live page (HTML, session) ---------------------------------------------------
    # method    path                   alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/hives/{hive}/live",  OK,       HIDDEN,   HIDDEN,   OK,           OK,          LOGIN,
      check=contains("alice-secret hive")),
    # ---- The live stream (WebSocket, ?token=<JWT access>) --------------------------------
    R("WS",     "/ws/hive/{hive}/telemetry",
      WS_HISTORY, WS_4404, WS_4404, WS_HISTORY, WS_HISTORY, WS_4401),

    # ---- Alerts: rules, alerts, webhooks and settings are each user's own ----------------
    # Rules may name any hive the user has a role in (dave and erin: alice's); alerts and
    # webhooks are the rule's user's alone, whoever else shares the hive.
    # method    path                                   alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/alert-rules",                        OK,       OK,       OK,       OK,           OK,          UNAUTH, check=own_rules_only),
    R("POST",   "/alert-rules",                        OK,       REFUSED,  REFUSED,  OK,           OK,          UNAUTH,
      body={"kind": "brood_temperature", "hive": "{hive}"},
      check=rule_created_for_requester, note="on alice's hive"),
    R("GET",    "/alert-rules/{rule}",                 OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, check=shows("rule")),
    R("PATCH",  "/alert-rules/{rule}",                 OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH,
      body={"enabled": False}, check=changed(AlertRule, "rule", enabled=False)),
    R("DELETE", "/alert-rules/{rule}",                 OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, check=gone(AlertRule, "rule")),
    R("GET",    "/alerts",                             LIST,     LIST,     EMPTY,    EMPTY,        EMPTY,       UNAUTH),
    R("GET",    "/alerts?hive={hive}",                 LIST,     EMPTY,    EMPTY,    EMPTY,        EMPTY,       UNAUTH),
    R("GET",    "/alerts/{alert}",                     OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, check=shows("alert")),
    R("POST",   "/alerts/{alert}/acknowledge",         OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, ok=200, body={},
      check=changed(Alert, "alert", status="acknowledged")),
    R("GET",    "/webhooks",                           LIST,     LIST,     EMPTY,    EMPTY,        EMPTY,       UNAUTH),
    R("POST",   "/webhooks",                           OK,       OK,       OK,       OK,           OK,          UNAUTH,
      body={"url": "https://93.184.215.14/new-hook"},
      check=created_for_requester(Webhook, url="https://93.184.215.14/new-hook")),
    R("POST",   "/webhooks",                           REFUSED,  REFUSED,  REFUSED,  REFUSED,      REFUSED,     UNAUTH,
      body={"url": "http://127.0.0.1:8000/admin/"}, note="an internal address"),
    R("GET",    "/webhooks/{webhook}",                 OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, check=shows("webhook")),
    R("DELETE", "/webhooks/{webhook}",                 OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH, check=gone(Webhook, "webhook")),
    R("GET",    "/webhooks/{webhook}/deliveries",      OK,       HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      UNAUTH),
    R("GET",    "/alert-settings",                     OK,       OK,       OK,       OK,           OK,          UNAUTH),
    R("PATCH",  "/alert-settings",                     OK,       OK,       OK,       OK,           OK,          UNAUTH,
      body={"email": False}, check=email_off_for_requester_only),
    R("POST",   "/hives/{hive}/inspection/start",      OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH,
      body={"minutes": 90}, check=inspection_open_for(minutes=80)),
    R("POST",   "/hives/{hive}/inspection/stop",       OK,       HIDDEN,   HIDDEN,   NEEDS_EDITOR, OK,          UNAUTH, ok=200, body={},
      check=inspection_closed),
    R("WS",     "/ws/alerts",
      WS_OPEN,  WS_OPEN,  WS_OPEN,  WS_OPEN,  WS_OPEN,  WS_4401),

    # ---- The admin: the beekeeper's console ----------------------------------------------
    # method    path                                      alice     bob       charlie   dave          erin         anonymous
    R("GET",    "/admin/",                                OK,       OK,       OK,       OK,           OK,          LOGIN),
    R("GET",    "/admin/login/",                          REDIRECT, REDIRECT, REDIRECT, REDIRECT,     REDIRECT,    OK, location="/admin/"),
    R("POST",   "/admin/login/",                          OK,       OK,       OK,       OK,           OK,          FORM_ERROR, ok=302,
      body={"username": "{email}", "password": "{password}", "next": "/admin/"},
      check=redirects_to("/admin/"),
      note="own credentials; anonymous: alice's email, wrong password"),
    R("POST",   "/admin/logout/",                         OK,       OK,       OK,       OK,           OK,          REDIRECT, ok=200,
      body={}, check=logged_out, location="/admin/"),
    R("GET",    "/admin/password_change/",                OK,       OK,       OK,       OK,           OK,          LOGIN),
    R("POST",   "/admin/password_change/",                OK,       OK,       OK,       OK,           OK,          LOGIN, ok=302,
      body={"old_password": "{password_ok}", "new_password1": "a-new-hive-frame-77",
            "new_password2": "a-new-hive-frame-77"},
      check=password_changed_to("a-new-hive-frame-77")),
    R("GET",    "/admin/password_change/done/",           OK,       OK,       OK,       OK,           OK,          LOGIN),
    R("GET",    "/admin/jsi18n/",                         OK,       OK,       OK,       OK,           OK,          LOGIN),
    R("GET",    "/admin/apiary/",                         OK,       OK,       OK,       OK,           OK,          LOGIN),
    R("GET",    "/admin/auth/",                           HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      LOGIN),
    R("GET",    "/admin/accounts/",                       HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      LOGIN),
    R("GET",    "/admin/token_blacklist/",                HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      LOGIN),
    R("GET",    "/admin/axes/",                           HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      LOGIN),
    R("GET",    "/admin/no-such-page/",                   HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      LOGIN),
    R("GET",    "/admin/r/{ct_hive}/{hive}/",             HIDDEN,   HIDDEN,   HIDDEN,   HIDDEN,       HIDDEN,      LOGIN),
    # Autocomplete searches the admin's (scoped) queryset of the related model.
    R("GET",    "/admin/autocomplete/?app_label=apiary&model_name=hive&field_name=apiary",
      LIST, LIST, EMPTY, SHARED, SHARED, LOGIN),
    R("GET",    "/admin/autocomplete/?app_label=apiary&model_name=event&field_name=hive",
      LIST, LIST, EMPTY, SHARED, SHARED, LOGIN),
    R("GET",    "/admin/autocomplete/?app_label=apiary&model_name=queenbee&field_name=mother",
      LIST, LIST, EMPTY, SHARED, SHARED, LOGIN),
    R("GET",    "/admin/autocomplete/?app_label=apiary&model_name=apiary&field_name=owner",
      FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
    # The apiary is the owner's to change; an editor changes hives, queens and events and
    # deletes queens and events (deleting a hive touches its readings: owner only).
    *_admin_model("apiary", "apiary", "name", Apiary,
                  add={"name": "added in admin"}, added={"name": "added in admin"},
                  editor_changes=False, editor_deletes=False),
    *_admin_model("hive", "hive", "name", Hive,
                  add={"apiary": "{apiary}", "name": "added in admin", "device_id": "added-dev"},
                  added={"apiary": "{apiary}", "name": "added in admin"},
                  editor_changes=True, editor_deletes=False, add_check=admin_key_for_owner_only),
    *_admin_model("queenbee", "queen", "origin", QueenBee,
                  add={"hive": "{hive}", "origin": "added in admin", "year_born": "2025",
                       "introduced_at": "{yesterday}", "removal_reason": "superseded"},
                  added={"hive": "{hive}", "origin": "added in admin", "is_current": True},
                  editor_changes=True, editor_deletes=True),
    *_admin_model("event", "event", "notes", Event,
                  add={"hive": "{hive}", "type": "note", "notes": "added in admin",
                       "occurred_at_0": "{recent_date}", "occurred_at_1": "{recent_time}"},
                  added={"hive": "{hive}", "notes": "added in admin"},
                  editor_changes=True, editor_deletes=True),
    # The hive's "replace device key" page and list action: the owner's.
    R("GET",    "/admin/apiary/hive/{hive}/device-key/",  OK,       HIDDEN,   HIDDEN,   DENIED,       DENIED,      LOGIN,
      check=mentions(Hive, "hive")),
    R("POST",   "/admin/apiary/hive/{hive}/device-key/",  OK,       HIDDEN,   HIDDEN,   DENIED,       DENIED,      LOGIN,
      ok=302, body={}, check=device_key_replaced),
    R("POST",   "/admin/apiary/hive/",                    OK,       REDIRECT, REDIRECT, DENIED,       DENIED,      LOGIN, ok=302,
      body={"action": "replace_device_key", "_selected_action": "{hive}", "index": "0"},
      check=device_key_replaced, location="/admin/apiary/hive/", note="replace_device_key"),
    # The apiary's "replace all device keys" page: the owner's; the keys on the answer.
    R("GET",    "/admin/apiary/apiary/{apiary}/device-keys/", OK,   HIDDEN,   HIDDEN,   DENIED,       DENIED,      LOGIN,
      check=mentions(Apiary, "apiary")),
    R("POST",   "/admin/apiary/apiary/{apiary}/device-keys/", OK,   HIDDEN,   HIDDEN,   DENIED,       DENIED,      LOGIN,
      ok=200, body={}, check=device_key_replaced),
    # The events list's "Export selected events to CSV": any role that sees the event
    # (a read); bob and charlie selecting alice's event get no file (nothing of theirs).
    R("POST",   "/admin/apiary/event/",                   OK,       REDIRECT, REDIRECT, OK,           OK,          LOGIN, ok=200,
      body={"action": "export_csv", "_selected_action": "{event}", "index": "0"},
      check=csv_lists("event"), location="/admin/apiary/event/", note="export_csv"),
    # ---- The admin: alerts, rules and webhooks are each user's own ------------------------
    # method    path                                         alice     bob        charlie    dave       erin       anonymous
    R("GET",    "/admin/alerts/",                            OK,       OK,        OK,        OK,        OK,        LOGIN),
    R("GET",    "/admin/alerts/alert/",                      LIST,     LIST,      EMPTY,     EMPTY,     EMPTY,     LOGIN),
    R("POST",   "/admin/alerts/alert/",                      OK,       REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN, ok=302,
      body={"action": "acknowledge", "_selected_action": "{alert}", "index": "0"},
      check=changed(Alert, "alert", status="acknowledged"), location="/admin/alerts/alert/",
      note="acknowledge"),
    # Alerts are read-only: raised and resolved by the evaluation, acknowledged by the action.
    R("GET",    "/admin/alerts/alert/add/",                  DENIED,   DENIED,    DENIED,    DENIED,    DENIED,    LOGIN),
    R("POST",   "/admin/alerts/alert/add/",                  DENIED,   DENIED,    DENIED,    DENIED,    DENIED,    LOGIN, body={}),
    R("GET",    "/admin/alerts/alert/{alert}/change/",       OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=both(mentions(Alert, "alert"), save_button_for())),
    R("POST",   "/admin/alerts/alert/{alert}/change/",       DENIED,   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN,
      body={"message": "changed in admin"}),
    R("GET",    "/admin/alerts/alert/{alert}/delete/",       DENIED,   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN),
    R("POST",   "/admin/alerts/alert/{alert}/delete/",       DENIED,   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN,
      body={"post": "yes"}),
    R("GET",    "/admin/alerts/alert/{alert}/history/",      OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=mentions(Alert, "alert")),
    R("GET",    "/admin/alerts/alert/{alert}/",              REDIRECT, REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN,
      location="/admin/alerts/alert/{alert}/change/"),
    # Rules: any hive the user has a role in (dave and erin: alice's); kind and scope fixed.
    R("GET",    "/admin/alerts/alertrule/",                  LIST,     LIST,      EMPTY,     EMPTY,     EMPTY,     LOGIN),
    R("POST",   "/admin/alerts/alertrule/",                  OK,       REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN, ok=302,
      body={"action": "delete_selected", "_selected_action": "{rule}", "post": "yes"},
      check=gone(AlertRule, "rule"), location="/admin/alerts/alertrule/", note="delete_selected"),
    R("GET",    "/admin/alerts/alertrule/add/",              OK,       OK,        OK,        OK,        OK,        LOGIN),
    R("POST",   "/admin/alerts/alertrule/add/",              OK,       FORM_ERROR, FORM_ERROR, OK,      OK,        LOGIN, ok=302,
      body=admin_form("/admin/alerts/alertrule/add/", kind="brood_temperature", hive="{hive}"),
      check=created_for_requester(AlertRule, kind="brood_temperature", hive="{hive}"),
      note="on alice's hive"),
    R("GET",    "/admin/alerts/alertrule/{rule}/change/",    OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=both(mentions(AlertRule, "rule"), save_button_for("alice"))),
    R("POST",   "/admin/alerts/alertrule/{rule}/change/",    OK,       GONE,      GONE,      GONE,      GONE,      LOGIN, ok=302,
      body=admin_form("/admin/alerts/alertrule/{rule}/change/", as_role="alice", enabled=""),
      check=changed(AlertRule, "rule", enabled=False)),
    R("GET",    "/admin/alerts/alertrule/{rule}/delete/",    OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=mentions(AlertRule, "rule")),
    R("POST",   "/admin/alerts/alertrule/{rule}/delete/",    OK,       GONE,      GONE,      GONE,      GONE,      LOGIN, ok=302,
      body={"post": "yes"}, check=gone(AlertRule, "rule")),
    R("GET",    "/admin/alerts/alertrule/{rule}/history/",   OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=mentions(AlertRule, "rule")),
    R("GET",    "/admin/alerts/alertrule/{rule}/",           REDIRECT, REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN,
      location="/admin/alerts/alertrule/{rule}/change/"),
    # Webhooks: added (public addresses only) and deleted; never changed.
    # Sensor links and integrations: superusers' pages (read-only); beekeepers have none.
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
    R("GET",    "/admin/alerts/webhook/",                    LIST,     LIST,      EMPTY,     EMPTY,     EMPTY,     LOGIN),
    R("POST",   "/admin/alerts/webhook/",                    OK,       REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN, ok=302,
      body={"action": "delete_selected", "_selected_action": "{webhook}", "post": "yes"},
      check=gone(Webhook, "webhook"), location="/admin/alerts/webhook/", note="delete_selected"),
    R("GET",    "/admin/alerts/webhook/add/",                OK,       OK,        OK,        OK,        OK,        LOGIN),
    R("POST",   "/admin/alerts/webhook/add/",                OK,       OK,        OK,        OK,        OK,        LOGIN, ok=302,
      body={"url": "https://93.184.215.14/new-hook", "description": ""},
      check=created_for_requester(Webhook, url="https://93.184.215.14/new-hook")),
    R("POST",   "/admin/alerts/webhook/add/",                FORM_ERROR, FORM_ERROR, FORM_ERROR, FORM_ERROR, FORM_ERROR, LOGIN,
      body={"url": "http://127.0.0.1:8000/admin/", "description": ""}, note="an internal address"),
    R("GET",    "/admin/alerts/webhook/{webhook}/change/",   OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=both(mentions(Webhook, "webhook"), save_button_for())),
    R("POST",   "/admin/alerts/webhook/{webhook}/change/",   DENIED,   FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN, LOGIN,
      body={"url": "https://93.184.215.14/changed", "description": ""}),
    R("GET",    "/admin/alerts/webhook/{webhook}/delete/",   OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=mentions(Webhook, "webhook")),
    R("POST",   "/admin/alerts/webhook/{webhook}/delete/",   OK,       GONE,      GONE,      GONE,      GONE,      LOGIN, ok=302,
      body={"post": "yes"}, check=gone(Webhook, "webhook")),
    R("GET",    "/admin/alerts/webhook/{webhook}/history/",  OK,       GONE,      GONE,      GONE,      GONE,      LOGIN,
      check=mentions(Webhook, "webhook")),
    R("GET",    "/admin/alerts/webhook/{webhook}/",          REDIRECT, REDIRECT,  REDIRECT,  REDIRECT,  REDIRECT,  LOGIN,
      location="/admin/alerts/webhook/{webhook}/change/"),
    # The hive page's inspection buttons: editors and owners (as the API's).
    R("POST",   "/admin/apiary/hive/{hive}/inspection/start/", OK,     HIDDEN,    HIDDEN,    DENIED,    OK,        LOGIN, ok=302,
      body={}, check=inspection_open_for(minutes=50)),
    R("POST",   "/admin/apiary/hive/{hive}/inspection/stop/",  OK,     HIDDEN,    HIDDEN,    DENIED,    OK,        LOGIN, ok=302,
      body={}, check=inspection_closed),
    *_superuser_only_admin("accounts/user", "alice_user", extra=("password/",)),
    *_superuser_only_admin("auth/group", "group"),
    *_superuser_only_admin("token_blacklist/outstandingtoken", "alice_token"),
    *_superuser_only_admin("token_blacklist/blacklistedtoken", "alice_blacklisted"),
    # Sign-in lockout records (django-axes) of alice's account.
    *_superuser_only_admin("axes/accessattempt", "alice_attempt"),
    *_superuser_only_admin("axes/accesslog", "alice_access"),
    *_superuser_only_admin("axes/accessfailurelog", "alice_failure"),
]  # fmt: skip

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
        "Routes without a row in the permission matrix (tests/security/test_matrix.py): "
        "decide who may use them.\n  " + "\n  ".join(missing)
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


def content_of(response: HttpResponse) -> str:
    if getattr(response, "streaming", False):
        if not hasattr(response, "_matrix_content"):
            response._matrix_content = b"".join(response.streaming_content)
        raw = response._matrix_content
    else:
        raw = response.content
    return raw.decode("utf-8", errors="replace")


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
