from __future__ import annotations

import pytest

from apiary.models import Apiary, Hive


@pytest.mark.django_db
def test_create_apiary_owner_is_the_requesting_user(as_alice, alice, bob) -> None:
    response = as_alice.post(
        "/apiaries", {"name": "Hill", "owner": bob.id, "latitude": 46.1, "longitude": 7.2}
    )
    assert response.status_code == 201
    assert response.json()["owner"] == alice.email
    assert Apiary.objects.get().owner == alice


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value"), [("latitude", 91), ("longitude", -181), ("name", "")])
def test_invalid_apiary_is_400_naming_the_field(as_alice, field, value) -> None:
    response = as_alice.post("/apiaries", {"name": "Hill", field: value})
    assert response.status_code == 400
    assert field in response.json()
    assert not Apiary.objects.exists()


@pytest.mark.django_db
def test_apiary_crud_with_and_without_trailing_slash(as_alice, alice_apiary, alice_hive) -> None:
    assert as_alice.get(f"/apiaries/{alice_apiary.id}/").status_code == 200
    assert (
        as_alice.patch(f"/apiaries/{alice_apiary.id}", {"notes": "south-facing"}).json()["notes"]
        == "south-facing"
    )
    assert as_alice.get("/apiaries?search=orch").json()["count"] == 1
    assert as_alice.delete(f"/apiaries/{alice_apiary.id}/").status_code == 204
    assert not Hive.objects.exists()
