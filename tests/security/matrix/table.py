"""The permission matrix's vocabulary: roles, outcomes, rows, and the checks rows share.

Each app's rows (tests/security/matrix/rows_<app>.py) are written in these words; the
runner (tests/security/test_matrix.py) sends them. A row is one (method, route) with one
outcome per role in ROLES (``R("GET", "/hives/{hive}", OK, HIDDEN, ...)``).

Placeholders in a path or body name the world of tests/security/conftest.py: {apiary},
{hive}, {queen}, {event}, {apiary_event} and {device} are alice's; {dave_member} and
{erin_member} are dave's and erin's memberships of alice's apiary; {bob_hive} and the like
are bob's ({bob_member}: an invitation to his apiary); {email}, {password}, {refresh},
{own_member}, {other_member} are the requesting role's own credentials and membership (and
someone else's membership).

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

A check that only one app's rows use lives in that app's rows module; here are the ones
rows of several apps share, and the builders (``changed``, ``gone``, ``created``, ...).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from typing import Any

from django.http import HttpResponse

from accounts.models import User
from alerts.models import Inspection
from tests.security.conftest import World, fill, fill_body

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


def content_of(response: HttpResponse) -> str:
    if getattr(response, "streaming", False):
        if not hasattr(response, "_matrix_content"):
            response._matrix_content = b"".join(response.streaming_content)
        raw = response._matrix_content
    else:
        raw = response.content
    return raw.decode("utf-8", errors="replace")


# alice and bob see theirs, charlie nothing, dave and erin alice's (shared with them)
OWN_LIST_ROLES = (LIST, LIST, EMPTY, SHARED, SHARED, UNAUTH)


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


def created_for_requester(model: type, **filters: Any) -> Check:
    def check(c: Call) -> None:
        assert _get(model, c.ctx, filters).get().user == c.user

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


def save_button_for(*roles: str) -> Check:
    """The admin page is a form to save for ``roles`` only (others get a read-only page)."""

    def check(c: Call) -> None:
        assert ('name="_save"' in c.text()) is (c.role in roles), c.role

    return check


# Both the API (/users/me/password) and the admin (/admin/password_change/) change it.
def password_changed_to(password: str) -> Check:
    def check(c: Call) -> None:
        users = {u.pk: u for u in User.objects.all()}
        for user in c.world.users.values():
            if user is not None:
                assert users[user.pk].check_password(password) is (user == c.user)

    return check


# The API's inspection window (alerts) and the hive page's buttons (console) open it.
def inspection_open_for(minutes: int) -> Check:
    def check(c: Call) -> None:
        at_least = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
        assert Inspection.objects.filter(hive=c.ctx["hive"], ends_at__gt=at_least).exists()

    return check


def inspection_closed(c: Call) -> None:
    now = dt.datetime.now(dt.UTC)
    assert not Inspection.objects.filter(hive=c.ctx["hive"], ends_at__gt=now).exists()


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
