"""The one visibility rule (apiary.selectors): who holds which role in an apiary, as an
ORM filter (role_q, visible_q), from the apiary's side (role_holder_q), as SQL (role_sql)
and as a role (apiary_role, role_annotation) all agree for every kind of user; and no
other app writes the rule again."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from apiary.models import Apiary, Hive, Membership, Role
from apiary.selectors import (
    APIARY_TABLE,
    HIVE_TABLE,
    apiary_is_owned_by,
    apiary_list,
    apiary_role,
    hive_list,
    hive_list_visible,
    owner_sql,
    role_holder_q,
    role_q,
    role_sql,
    visible_q,
)
from tests.accounts.factories import BeekeeperFactory, SuperuserFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def users(alice: Any, alice_hive: Hive) -> dict[str, Any]:
    """alice owns the hive's apiary; the others are named for what they are to it."""
    named = {
        "owner": alice,
        "viewer": BeekeeperFactory(),
        "editor": BeekeeperFactory(),
        "invited": BeekeeperFactory(),  # an invitation not taken up: no role
        "stranger": BeekeeperFactory(),
        "superuser": SuperuserFactory(),
    }
    apiary = alice_hive.apiary
    for role in (Role.VIEWER, Role.EDITOR):
        user = named[role.value]
        Membership.objects.create(apiary=apiary, user=user, email=user.email, role=role)
    Membership.objects.create(
        apiary=apiary, user=None, email=named["invited"].email, role=Role.EDITOR
    )
    return named


ROLES = {"owner": "owner", "viewer": "viewer", "editor": "editor", "superuser": "owner"}
HOLDERS = {"owner", "viewer", "editor"}  # a role of their own: superusers hold none


def _sql_says(user: Any, apiary: Apiary) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {role_sql(user='%(user)s', apiary='a')}, {owner_sql(user='%(user)s', apiary='a')}"
            f" FROM {APIARY_TABLE} a WHERE a.id = %(apiary)s",
            {"user": user.pk, "apiary": apiary.pk},
        )
        holds, owns = cursor.fetchone()
    assert owns == apiary_is_owned_by(apiary=apiary, user_id=user.pk)
    return holds


@pytest.mark.django_db
def test_every_form_of_the_rule_agrees(users: dict[str, Any], alice_hive: Hive) -> None:
    apiary = alice_hive.apiary
    # Each user owns an apiary of their own, for role_holder_q to pick out by owner.
    own = {name: Apiary.objects.create(owner=user, name=name) for name, user in users.items()}
    holders = set(
        Apiary.objects.filter(pk__in=[a.pk for a in own.values()])
        .filter(role_holder_q(apiary, "owner"))
        .values_list("name", flat=True)
    )
    assert holders == HOLDERS

    for name, user in users.items():
        holds = name in HOLDERS
        sees = holds or name == "superuser"
        assert Apiary.objects.filter(pk=apiary.pk).filter(role_q(user)).exists() is holds, name
        assert Hive.objects.filter(role_q(user, "apiary__"), pk=alice_hive.pk).exists() is holds
        assert Apiary.objects.filter(visible_q(user), pk=apiary.pk).exists() is sees, name
        assert hive_list_visible(user=user).filter(pk=alice_hive.pk).exists() is sees, name
        assert _sql_says(user, apiary) is holds, name
        assert apiary_is_owned_by(apiary=apiary, user_id=user.pk) is (name == "owner")

        role = ROLES.get(name)
        assert apiary_role(user=user, apiary=apiary) == role, name
        listed = apiary_list(user=user).filter(pk=apiary.pk).first()
        assert (listed.role if listed else None) == role, name
        hive = hive_list(user=user).filter(pk=alice_hive.pk).first()
        assert (hive.role if hive else None) == role, name


@pytest.mark.django_db
def test_a_removed_member_loses_every_form_at_once(users: dict[str, Any], alice_hive: Hive) -> None:
    viewer = users["viewer"]
    Membership.objects.filter(user=viewer).delete()
    apiary = alice_hive.apiary
    assert not Apiary.objects.filter(role_q(viewer), pk=apiary.pk).exists()
    assert not _sql_says(viewer, apiary)
    assert apiary_role(user=viewer, apiary=apiary) is None
    assert not hive_list_visible(user=viewer).filter(pk=alice_hive.pk).exists()


# The rule's ingredients, as another app would have to spell them to write it again.
_ELSEWHERE = re.compile(
    rf"\bMembership\b|\b{Membership._meta.db_table}\b"
    rf"|\b(?:FROM|JOIN)\s+(?:{APIARY_TABLE}|{HIVE_TABLE})\b"
)


def test_no_other_app_writes_the_rule_again() -> None:
    """Every app but apiary asks apiary.selectors who may see what (the project's backup
    list of tables, beeapi/backups.py, names tables for another reason)."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for app in ("core", "accounts", "telemetry", "monitoring", "alerts", "console")
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _ELSEWHERE.search(line)
    ]
    assert offenders == []
