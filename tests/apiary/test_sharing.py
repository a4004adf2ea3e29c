"""Sharing an apiary: alice owns it, dave is a viewer, erin an editor, charlie nobody.

The permission matrix (tests/security/test_matrix.py) covers every route for these roles;
this file tests the behaviour of memberships themselves. dave and erin are
tests/conftest.py's.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.services import email_verification_token, email_verify
from apiary.models import Apiary, Device, Membership
from telemetry.models import Reading
from tests.accounts.factories import BeekeeperFactory
from tests.factories import QueenFactory
from tests.factories import force_client as _client

BOTH = pytest.mark.django_db(databases=["default", "telemetry"])


@pytest.fixture
def shared(as_alice, alice_apiary, alice_hive, dave, erin) -> Apiary:
    for email, role in (("dave@example.com", "viewer"), ("erin@example.com", "editor")):
        response = as_alice.post(
            f"/apiaries/{alice_apiary.id}/members", {"email": email, "role": role}
        )
        assert response.status_code == 201, response.json()
    return alice_apiary


def _member_id(apiary: Apiary, email: str) -> int:
    return Membership.objects.get(apiary=apiary, email=email).pk


@pytest.mark.django_db
def test_inviting_answers_the_same_whether_or_not_an_account_exists(
    as_alice, alice_apiary, dave
) -> None:
    url = f"/apiaries/{alice_apiary.id}/members"
    known = as_alice.post(url, {"email": "dave@example.com", "role": "viewer"})
    unknown = as_alice.post(url, {"email": "nobody@example.com", "role": "viewer"})

    assert known.status_code == unknown.status_code == 201
    assert set(known.json()) == set(unknown.json()) == {"id", "email", "role", "created_at"}
    strip = lambda body: {k: v for k, v in body.items() if k not in ("id", "email", "created_at")}  # noqa: E731
    assert strip(known.json()) == strip(unknown.json())


@pytest.mark.django_db
def test_shared_apiaries_are_listed_with_the_callers_role(
    as_alice, shared, dave, bob_apiary
) -> None:
    body = _client(dave).get("/apiaries").json()
    assert [(a["name"], a["role"]) for a in body["results"]] == [("Orchard", "viewer")]
    own = as_alice.get("/apiaries", {"role": "owner"}).json()["results"]
    assert [(a["name"], a["role"]) for a in own] == [("Orchard", "owner")]
    assert _client(dave).get("/apiaries", {"role": "owner"}).json()["count"] == 0


@BOTH
def test_a_viewer_reads_everything_and_changes_nothing(shared, alice_hive, dave) -> None:
    viewer = _client(dave)
    queen = QueenFactory(hive=alice_hive)
    for path in (
        f"/apiaries/{shared.id}",
        f"/hives/{alice_hive.id}",
        f"/hives/{alice_hive.id}/queens",
        f"/queens/{queen.id}",
        f"/hives/{alice_hive.id}/events",
        f"/hives/{alice_hive.id}/telemetry",
        f"/apiaries/{shared.id}/members",
    ):
        assert viewer.get(path).status_code == 200, path

    denied = [
        viewer.patch(f"/hives/{alice_hive.id}", {"name": "mine"}),
        viewer.post(
            f"/hives/{alice_hive.id}/events",
            {"type": "note", "occurred_at": "2026-05-01T10:00:00Z"},
        ),
        viewer.post(
            f"/hives/{alice_hive.id}/telemetry", {"temperature": 30, "time": "2026-05-01T10:00:00Z"}
        ),
        viewer.patch(f"/apiaries/{shared.id}", {"name": "mine"}),
    ]
    for response in denied:
        assert response.status_code == 403
        assert (
            "needs the editor role" in response.json()["detail"]
            or "owner" in response.json()["detail"]
        )
        assert "you are a viewer" in response.json()["detail"]


@BOTH
def test_an_editor_records_but_does_not_own(shared, alice_hive, erin) -> None:
    editor = _client(erin)
    created = editor.post(f"/apiaries/{shared.id}/hives", {"name": "Erin's split"})
    assert created.status_code == 201
    assert created.json()["device_key"] is None  # keys are the owner's
    # The device id is registered to the apiary's owner, not to the editor.
    assert Device.objects.get(device_id=created.json()["device_id"]).owner == shared.owner

    assert editor.patch(f"/hives/{alice_hive.id}", {"notes": "fed"}).status_code == 200
    assert editor.post(f"/hives/{alice_hive.id}/queens", {"year_born": 2026}).status_code == 201
    reading = {"time": timezone.now().isoformat(), "temperature": 34.5}
    assert editor.post(f"/hives/{alice_hive.id}/telemetry", reading).status_code == 201

    for response in (
        editor.delete(f"/hives/{alice_hive.id}"),
        editor.post(f"/hives/{alice_hive.id}/device-key"),
        editor.delete(f"/apiaries/{shared.id}"),
        editor.post(f"/apiaries/{shared.id}/members", {"email": "x@example.com", "role": "viewer"}),
    ):
        assert response.status_code == 403
        assert "needs the owner role" in response.json()["detail"]


@pytest.mark.django_db
def test_removing_a_member_takes_effect_at_once(as_alice, shared, alice_hive, dave) -> None:
    viewer = _client(dave)
    assert viewer.get(f"/hives/{alice_hive.id}").status_code == 200

    response = as_alice.delete(
        f"/apiaries/{shared.id}/members/{_member_id(shared, 'dave@example.com')}"
    )

    assert response.status_code == 204
    assert viewer.get(f"/hives/{alice_hive.id}").status_code == 404
    assert viewer.get("/apiaries").json()["count"] == 0


@pytest.mark.django_db
def test_a_member_can_leave_but_not_remove_others(shared, alice_hive, dave, erin) -> None:
    viewer = _client(dave)
    erins = _member_id(shared, "erin@example.com")
    assert viewer.delete(f"/apiaries/{shared.id}/members/{erins}").status_code == 403

    assert (
        viewer.delete(
            f"/apiaries/{shared.id}/members/{_member_id(shared, 'dave@example.com')}"
        ).status_code
        == 204
    )
    assert viewer.get(f"/apiaries/{shared.id}").status_code == 404
    assert _client(erin).get(f"/apiaries/{shared.id}").status_code == 200


@pytest.mark.django_db
def test_handing_over_ownership(as_alice, shared, alice_hive, alice, erin) -> None:
    erins = _member_id(shared, "erin@example.com")

    response = as_alice.patch(f"/apiaries/{shared.id}/members/{erins}", {"role": "owner"})

    assert response.status_code == 200
    assert response.json() == {**response.json(), "email": "alice@example.com", "role": "editor"}
    shared.refresh_from_db()
    assert shared.owner == erin
    assert Device.objects.get(device_id=alice_hive.device_id).owner == erin
    assert _client(erin).post(f"/hives/{alice_hive.id}/device-key").status_code == 201
    assert as_alice.post(f"/hives/{alice_hive.id}/device-key").status_code == 403
    assert as_alice.get("/apiaries").json()["results"][0]["role"] == "editor"


@pytest.mark.django_db
def test_an_invitation_becomes_a_membership_when_the_address_is_verified(
    as_alice, alice_apiary, alice_hive
) -> None:
    url = f"/apiaries/{alice_apiary.id}/members"
    assert (
        as_alice.post(url, {"email": "New.Keeper@Example.com", "role": "editor"}).status_code == 201
    )
    # Not yet: an invitation cannot take the apiary over.
    invitation = Membership.objects.get(apiary=alice_apiary)
    assert invitation.user is None
    refused = as_alice.patch(f"{url}/{invitation.pk}", {"role": "owner"})
    assert refused.status_code == 400

    newcomer = BeekeeperFactory(email="new.keeper@example.com", email_verified=False)
    # Registering the address proves nothing: whoever did gets nothing of the apiary.
    assert _client(newcomer).get(f"/hives/{alice_hive.id}").status_code == 404
    assert Membership.objects.get(apiary=alice_apiary).user is None

    email_verify(token=email_verification_token(user=newcomer))

    assert _client(newcomer).get(f"/hives/{alice_hive.id}").status_code == 200
    assert as_alice.get(url).json()["results"][0]["email"] == "new.keeper@example.com"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"email": "dave@example.com", "role": "viewer"}, 409, "email"),
        ({"email": "alice@example.com", "role": "viewer"}, 400, "email"),
        ({"email": "someone@example.com", "role": "owner"}, 400, "role"),
        ({"email": "not-an-email", "role": "viewer"}, 400, "email"),
        ({"email": "someone@example.com"}, 400, "role"),
        ({"email": "someone@example.com", "role": "viewer", "admin": True}, 400, "admin"),
    ],
)
def test_bad_invitations_are_4xx_naming_the_field(as_alice, shared, body, status, field) -> None:
    before = Membership.objects.count()
    response = as_alice.post(f"/apiaries/{shared.id}/members", body, format="json")
    assert response.status_code == status
    assert field in response.json()
    assert Membership.objects.count() == before


@pytest.mark.django_db
def test_a_stranger_cannot_see_members_or_join(shared, bob) -> None:
    stranger = _client(bob)
    assert stranger.get(f"/apiaries/{shared.id}/members").status_code == 404
    mine = _member_id(shared, "dave@example.com")
    assert stranger.delete(f"/apiaries/{shared.id}/members/{mine}").status_code == 404
    assert (
        stranger.patch(f"/apiaries/{shared.id}/members/{mine}", {"role": "editor"}).status_code
        == 404
    )


@BOTH
def test_readings_of_a_shared_hive_stay_with_the_owner(shared, alice_hive, dave) -> None:
    Reading.objects.create(device_id=alice_hive.device_id, time=timezone.now(), temperature=35.0)
    latest = _client(dave).get(f"/hives/{alice_hive.id}/telemetry/latest")
    assert latest.status_code == 200
    assert latest.json()["temperature"] == 35.0


@pytest.mark.django_db
def test_patching_a_member_without_a_role_changes_nothing(as_alice, shared) -> None:
    daves = _member_id(shared, "dave@example.com")
    response = as_alice.patch(f"/apiaries/{shared.id}/members/{daves}", {}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "viewer"
