"""The permission matrix's rows for apiary: apiaries, their members, hives and their
device keys, queens and events, through the API and the admin's model pages."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from apiary.device_keys import device_key_hash
from apiary.models import Apiary, Device, Event, Hive, Membership, QueenBee
from telemetry.models import Reading
from tests.security.conftest import MEMBER_ROLES, fill
from tests.security.matrix.table import (
    DENIED,
    EMPTY,
    FORM_ERROR,
    GONE,
    HIDDEN,
    LIST,
    LOGIN,
    NEEDS_EDITOR,
    NEEDS_OWNER,
    OK,
    OWN_LIST_ROLES,
    REDIRECT,
    REFUSED,
    SHARED,
    UNAUTH,
    Call,
    Check,
    R,
    Row,
    admin_form,
    both,
    changed,
    content_of,
    created,
    created_by_requester,
    gone,
    lists,
    mentions,
    save_button_for,
    shows,
)

NEW_EVENT = {"type": "note", "occurred_at": "{recent}", "notes": "new note"}


def readings_count(device: str, count: int) -> Check:
    def check(c: Call) -> None:
        assert Reading.objects.filter(device_id=c.ctx[device]).count() == count

    return check


def csv_lists(key: str) -> Check:
    """A CSV download whose rows are exactly the object at ``key`` (an event)."""

    def check(c: Call) -> None:
        assert c.response["Content-Type"].startswith("text/csv")
        assert c.response["Content-Disposition"] == 'attachment; filename="events.csv"'
        ids = [row["id"] for row in csv.DictReader(io.StringIO(c.text()))]
        assert ids == [str(c.ctx[key])], ids

    return check


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
        else R("POST", f"{base}/add/", OK, FORM_ERROR, DENIED, DENIED, OK, LOGIN, ok=302,
               check=add_by_alice, body=admin_form(f"{base}/add/", **add),
               note="naming alice's parent")
    )  # fmt: skip
    # Adding a hive, queen or event needs an apiary to add to (editor or owner): charlie
    # has none, dave only views; neither gets an add page whose choices would be empty.
    add_page = (
        R("GET",  f"{base}/add/",          OK,    OK,       OK,       OK,       OK,           LOGIN)
        if cls is Apiary
        else R("GET", f"{base}/add/",      OK,    OK,       DENIED,   DENIED,   OK,           LOGIN)
    )  # fmt: skip
    return [
        # method  path                     alice  bob       charlie   dave      erin          anonymous
        R("GET",  f"{base}/",              LIST,  LIST,     EMPTY,    SHARED,   SHARED,       LOGIN),
        # The changelist's bulk delete, as its confirmation page posts it, on alice's object.
        R("POST", f"{base}/",              OK,    REDIRECT, REDIRECT, DENIED,   erin_deletes, LOGIN, ok=302,
          body={"action": "delete_selected", "_selected_action": f"{{{key}}}", "post": "yes"},
          check=gone(cls, key), location=f"{base}/", note="delete_selected"),
        add_page,
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


def season_of(key: str) -> Check:
    """The season of alice's apiary or hive: her hive, its harvest-free year so far."""

    def check(c: Call) -> None:
        body = c.json()
        assert [hive["hive"] for hive in body["hives"]] == [c.ctx["hive"]]
        assert body["totals"]["honey_kg"] == 0

    return check


ROWS: list[Row] = [
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
    R("GET",    "/apiaries/{apiary}/season",      OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=season_of("apiary")),
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
    R("GET",    "/hives/{hive}/season",                OK,       HIDDEN,   HIDDEN,   OK,           OK,          UNAUTH, check=season_of("hive")),
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

    # ---- The admin: the beekeeping models --------------------------------------------------
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
]  # fmt: skip
