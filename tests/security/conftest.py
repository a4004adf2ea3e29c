"""The people of the permission matrix and the data they own.

- alice owns an apiary with a hive (and its device key), the hive's queen, an event on the
  hive and one on the apiary, and three readings from the last half hour;
- bob is another beekeeper who owns exactly the same kind of data;
- charlie is a registered beekeeper with no data at all;
- dave is a viewer of alice's apiary and erin an editor of it (MEMBER_ROLES), invited by
  alice through the service; neither has data of their own;
- anonymous has no account.

Everything alice owns carries MARKS["alice"] in a name, note or device_id, and bob's data
MARKS["bob"] (bob has also invited an address that has no account: an invitation whose
email carries his mark): a response shows another user's data exactly when it contains
their mark. dave and erin may see alice's marks, never bob's.

A new role is one more entry in ``_people`` (and whatever sharing it needs in
``build_world``), then one more column in the matrix.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from accounts.services import BEEKEEPERS_GROUP, email_verification_token
from alerts import services as alert_services
from alerts.models import Alert, Inspection, Webhook
from apiary import members as apiary_members
from apiary import services as apiary_services
from apiary.models import Apiary, Hive, Role
from sensors import services as sensor_services
from telemetry.models import Reading
from telemetry.services import calibration_add
from telemetry.validation import iso_time
from tests.factories import PASSWORD, ApiaryFactory, EventFactory, QueenFactory, beekeeper

MARKS = {"alice": "alice-secret", "bob": "bob-own"}
# Members of alice's apiary and their role in it: they see alice's data, as that role.
MEMBER_ROLES = {"dave": Role.VIEWER.value, "erin": Role.EDITOR.value}
DATABASES = ["default", "telemetry"]
WRONG_PASSWORD = "not-the-password-0"
# An id no object has: "someone else's object" must answer exactly like this one.
MISSING_ID = 987654321
# Placeholders that name a stored object by id; replaced by MISSING_ID for the comparison.
OBJECT_KEYS = frozenset(
    {
        "apiary",
        "hive",
        "queen",
        "event",
        "apiary_event",
        "bob_apiary",
        "bob_hive",
        "bob_queen",
        "bob_event",
        "group",
        "alice_user",
        "alice_token",
        "alice_blacklisted",
        "alice_attempt",
        "alice_access",
        "alice_failure",
        "dave_member",
        "erin_member",
        "own_member",
        "other_member",
        "bob_member",
        "alert",
        "rule",
        "webhook",
        "bob_alert",
        "bob_rule",
        "bob_webhook",
        "integration",
        "bob_integration",
        "calibration",
        "bob_calibration",
    }
)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(template: str, ctx: dict[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: str(ctx[m.group(1)]), template)


def fill_body(body: Any, ctx: dict[str, Any]) -> Any:
    """A body template with its placeholders filled; "{hive}" alone becomes the id itself."""
    if isinstance(body, dict):
        return {key: fill_body(value, ctx) for key, value in body.items()}
    if isinstance(body, list):
        return [fill_body(value, ctx) for value in body]
    if isinstance(body, str):
        whole = _PLACEHOLDER.fullmatch(body)
        return ctx[whole.group(1)] if whole else fill(body, ctx)
    return body


@dataclass
class World:
    users: dict[str, User | None]
    values: dict[str, Any]
    # Per role: {email}, {password}, {refresh}, {refresh_jti}, {device_key}, {own_device},
    # {own_member} (the requester's membership in alice's apiary: dave's and erin's own;
    # for the others dave's), {other_member} (someone else's: erin's, for erin dave's) and
    # {verify_token} (the token of the link that verifies the requester's own address).
    per_role: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __repr__(self) -> str:  # short, for failure reports
        return f"<World {sorted(self.values)}>"

    def context(self, role: str, *, missing: bool | Iterable[str] = False) -> dict[str, Any]:
        """The placeholders' values for ``role``; with ``missing``, those objects (True:
        every object) replaced by an id that does not exist."""
        ctx = {**self.values, **self.per_role[role], "role": role}
        if missing:
            ctx.update(dict.fromkeys(OBJECT_KEYS if missing is True else missing, MISSING_ID))
        return ctx

    def client(self, role: str, auth: str) -> Client:
        """A client as the role: a JWT (API), a session (admin, HTML) or a device key."""
        user = self.users[role]
        if auth == "session":
            client = Client()
            if user is not None:
                client.force_login(user)
            return client
        client = APIClient()
        if auth == "jwt" and user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
        elif auth == "device" and self.per_role[role].get("device_key"):
            client.credentials(HTTP_X_DEVICE_KEY=self.per_role[role]["device_key"])
        return client

    def foreign_marks(self, role: str) -> list[str]:
        """Marks of data the role may not see: everyone's but its own and, for a member
        of alice's apiary, alice's."""
        visible = {role, "alice"} if role in MEMBER_ROLES else {role}
        return [mark for owner, mark in MARKS.items() if owner not in visible]


def _beekeeping(owner: User, mark: str) -> tuple[dict[str, Any], str]:
    """An apiary, a hive (created by the service, so its device is registered like any
    real hive's), a current queen, events on both, and three recent readings."""
    apiary = ApiaryFactory(owner=owner, name=f"{mark} apiary")
    hive, key = apiary_services.hive_create(
        actor=owner, apiary=apiary, name=f"{mark} hive", device_id=f"{mark}-dev"
    )
    queen = QueenFactory(
        hive=hive, origin=f"{mark} origin", year_born=2025, introduced_at=dt.date(2025, 5, 1)
    )
    recent = timezone.now() - dt.timedelta(days=1)
    event = EventFactory(hive=hive, type="note", notes=f"{mark} hive event", occurred_at=recent)
    apiary_event = EventFactory(
        hive=None, apiary=apiary, type="note", notes=f"{mark} apiary event", occurred_at=recent
    )
    now = timezone.now()
    Reading.objects.bulk_create(
        [
            Reading(
                device_id=hive.device_id,
                time=now - dt.timedelta(minutes=minutes),
                temperature=34.0 + minutes / 10,
                weight=40.0,
            )
            for minutes in (30, 20, 10)
        ]
    )
    # Alerts: a rule of the owner's on the hive, an open swarm alert of it, a webhook (on
    # a public address; nothing is sent) and an open inspection window on the hive.
    rule = alert_services.rule_create(actor=owner, kind="swarm", hive=hive)
    alert = Alert.objects.create(
        user=owner,
        rule=rule,
        hive=hive,
        kind="swarm",
        started_at=now - dt.timedelta(minutes=5),
        message=f"{mark} hive lost 2.1 kg in 12 min — possible swarm",
    )
    webhook = Webhook.objects.create(
        user=owner, url=f"https://93.184.215.14/{mark}", secret=f"{mark}-secret-0"
    )
    Inspection.objects.create(
        hive=hive,
        started_at=now - dt.timedelta(minutes=10),
        ends_at=now + dt.timedelta(minutes=30),
        started_by=owner,
    )
    # A TTN integration of the owner's (sensors): its key is never shown again.
    integration, _ = sensor_services.integration_create(
        owner=owner, kind="ttn", name=f"{mark} ttn integration"
    )
    # A calibration of the hive's humidity (offset 0: the values stay as they are).
    calibration = calibration_add(
        device_id=hive.device_id, metric="humidity", valid_from=now - dt.timedelta(hours=2)
    )
    ids = {
        "calibration": calibration.pk,
        "integration": integration.pk,
        "apiary": apiary.pk,
        "hive": hive.pk,
        "queen": queen.pk,
        "event": event.pk,
        "apiary_event": apiary_event.pk,
        "device": hive.device_id,
        "alert": alert.pk,
        "rule": rule.pk,
        "webhook": webhook.pk,
    }
    return ids, key


def _people() -> dict[str, User | None]:
    # The same people as tests/conftest.py's alice, bob, dave and erin fixtures.
    named = {name: beekeeper(name) for name in ("alice", "bob", "charlie", "dave", "erin")}
    return {**named, "anonymous": None}


def build_world() -> World:
    users = _people()
    alice_ids, alice_key = _beekeeping(users["alice"], MARKS["alice"])
    bob_ids, bob_key = _beekeeping(users["bob"], MARKS["bob"])
    # alice shares her apiary with dave (viewer) and erin (editor), as the API does.
    alice_apiary = Apiary.objects.get(pk=alice_ids["apiary"])
    members = {
        role: apiary_members.member_invite(
            actor=users["alice"], apiary=alice_apiary, email=users[role].email, role=shared_as
        ).pk
        for role, shared_as in MEMBER_ROLES.items()
    }
    bob_invitation = apiary_members.member_invite(
        actor=users["bob"],
        apiary=Apiary.objects.get(pk=bob_ids["apiary"]),
        email=f"{MARKS['bob']}-invitee@example.com",
        role=Role.VIEWER.value,
    )
    blacklisted = RefreshToken.for_user(users["alice"])
    blacklisted.blacklist()

    now = timezone.now()
    recent = now - dt.timedelta(hours=1)
    values: dict[str, Any] = {
        **alice_ids,
        **{f"bob_{key}": value for key, value in bob_ids.items()},
        "group": Group.objects.get(name=BEEKEEPERS_GROUP).pk,
        "alice_user": users["alice"].pk,
        "dave_member": members["dave"],
        "erin_member": members["erin"],
        "bob_member": bob_invitation.pk,
        "ct_hive": ContentType.objects.get_for_model(Hive).pk,
        "now": iso_time(now - dt.timedelta(minutes=1)),
        "recent": iso_time(recent),
        "recent_date": recent.date().isoformat(),
        "recent_time": recent.strftime("%H:%M:%S"),
        "yesterday": (now.date() - dt.timedelta(days=1)).isoformat(),
        "password_ok": PASSWORD,
    }
    world = World(users=users, values=values)
    device_keys = {"alice": alice_key, "bob": bob_key}
    own_devices = {"alice": alice_ids["device"], "bob": bob_ids["device"]}
    for role, user in users.items():
        own_member = members.get(role, members["dave"])
        other_member = members["dave"] if role == "erin" else members["erin"]
        if user is None:
            # Anonymous tries alice's account with a wrong password, and a forged token.
            world.per_role[role] = {
                "email": users["alice"].email,
                "password": WRONG_PASSWORD,
                "refresh": "not-a-token",
                "refresh_jti": None,
                "verify_token": "not-a-token",
                "device_key": None,
                "own_device": None,
                "own_member": own_member,
                "other_member": other_member,
            }
            continue
        refresh = RefreshToken.for_user(user)
        world.per_role[role] = {
            "email": user.email,
            "password": PASSWORD,
            "refresh": str(refresh),
            "refresh_jti": refresh["jti"],
            "verify_token": email_verification_token(user=user),
            "device_key": device_keys.get(role),
            "own_device": own_devices.get(role),
            "own_member": own_member,
            "other_member": other_member,
        }
    values["alice_token"] = OutstandingToken.objects.get(
        jti=world.per_role["alice"]["refresh_jti"]
    ).pk
    values["alice_blacklisted"] = BlacklistedToken.objects.get(token__jti=blacklisted["jti"]).pk
    values.update(_sign_in_records(users["alice"]))
    return world


def _sign_in_records(user: User) -> dict[str, int]:
    """django-axes' records of sign-ins to the account (when the lockout is installed)."""
    if not django_apps.is_installed("axes"):
        return {}
    seen = {
        "user_agent": "pytest",
        "ip_address": "192.0.2.1",
        "username": user.email,
        "http_accept": "*/*",
        "path_info": "/admin/login/",
    }
    attempt = django_apps.get_model("axes", "AccessAttempt").objects.create(
        **seen, get_data="", post_data="", failures_since_start=1
    )
    access = django_apps.get_model("axes", "AccessLog").objects.create(**seen)
    failure = django_apps.get_model("axes", "AccessFailureLog").objects.create(**seen)
    return {"alice_attempt": attempt.pk, "alice_access": access.pk, "alice_failure": failure.pk}


@pytest.fixture
def world() -> World:
    """A world of one's own, for transactional tests (the live stream's consumer reads
    the database from another thread, so the data must be committed)."""
    return build_world()


@pytest.fixture(scope="class")
def shared_world(django_db_setup: None, django_db_blocker: Any) -> Iterator[World]:
    """One world for a class of ordinary (non-transactional) tests.

    It is built once inside a transaction on both databases; each test then runs in
    pytest-django's per-test transaction, a savepoint inside it that is rolled back, so
    every test starts from exactly this data (what alice deleted is back for bob).
    """
    with django_db_blocker.unblock():
        blocks = {alias: transaction.atomic(using=alias) for alias in DATABASES}
        for block in blocks.values():
            block.__enter__()
        try:
            yield build_world()
        finally:
            for alias, block in reversed(blocks.items()):
                transaction.set_rollback(True, using=alias)
                block.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Iterator[None]:
    # Login throttling counts in the cache, across tests.
    cache.clear()
    yield
    cache.clear()
