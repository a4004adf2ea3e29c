"""apiary.selectors: the written-out visibility query of the telemetry reads agrees with
the ORM rule (_visible) for every kind of user."""

from __future__ import annotations

from typing import Any

import pytest

from apiary.models import Membership, Role
from apiary.selectors import hive_device_id_visible, hive_get_visible
from tests.accounts.factories import BeekeeperFactory, SuperuserFactory


def _expected(user: Any, hive_id: int) -> str | None:
    hive = hive_get_visible(user=user, hive_id=hive_id)
    return hive.device_id if hive is not None else None


@pytest.mark.django_db
def test_device_id_visible_follows_the_visibility_rule(alice: Any, alice_hive: Any) -> None:
    viewer = BeekeeperFactory()
    editor = BeekeeperFactory()
    invited = BeekeeperFactory()
    stranger = BeekeeperFactory()
    admin = SuperuserFactory()
    apiary = alice_hive.apiary
    Membership.objects.create(apiary=apiary, user=viewer, email=viewer.email, role=Role.VIEWER)
    Membership.objects.create(apiary=apiary, user=editor, email=editor.email, role=Role.EDITOR)
    # An invitation not yet taken up (no user) shows nothing to anybody.
    Membership.objects.create(apiary=apiary, user=None, email=invited.email, role=Role.EDITOR)

    expected = {alice: "alice-001", viewer: "alice-001", editor: "alice-001", admin: "alice-001"}
    for user in (alice, viewer, editor, invited, stranger, admin):
        answer = hive_device_id_visible(user=user, hive_id=alice_hive.pk)
        assert answer == expected.get(user), user
        assert answer == _expected(user, alice_hive.pk), user
        assert hive_device_id_visible(user=user, hive_id=alice_hive.pk + 1000) is None


@pytest.mark.django_db
def test_device_id_visible_ends_with_the_membership(alice: Any, alice_hive: Any) -> None:
    member = BeekeeperFactory()
    role = Membership.objects.create(
        apiary=alice_hive.apiary, user=member, email=member.email, role=Role.VIEWER
    )
    assert hive_device_id_visible(user=member, hive_id=alice_hive.pk) == "alice-001"

    role.delete()

    assert hive_device_id_visible(user=member, hive_id=alice_hive.pk) is None
    assert _expected(member, alice_hive.pk) is None


@pytest.mark.django_db
@pytest.mark.parametrize("hive_id", [2**63, 10**30, -(2**63) - 1])
def test_device_id_visible_of_an_id_no_column_can_hold_is_none(alice: Any, hive_id: int) -> None:
    assert hive_device_id_visible(user=alice, hive_id=hive_id) is None
    assert _expected(alice, hive_id) is None
