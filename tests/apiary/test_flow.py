"""The issue's "done when": a beekeeper registers, logs in, creates an apiary and a hive,
records a queen change and an inspection, all through the API with a real JWT."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.mark.django_db
def test_beekeeper_from_registration_to_first_inspection() -> None:
    client = APIClient()
    assert (
        client.post(
            "/auth/register", {"email": "zoe@example.com", "password": "wax-comb-2026!"}
        ).status_code
        == 201
    )
    tokens = client.post(
        "/auth/token", {"email": "zoe@example.com", "password": "wax-comb-2026!"}
    ).json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    apiary = client.post("/apiaries", {"name": "Home", "latitude": 47.5, "longitude": 8.7}).json()
    hive = client.post("/hives", {"apiary": apiary["id"], "name": "H1", "device_id": "hive-001"})
    assert hive.status_code == 201, hive.content
    hive = hive.json()
    assert hive["device_key"]

    first = client.post(
        f"/hives/{hive['id']}/queens", {"year_born": 2025, "introduced_at": "2025-05-01"}
    )
    assert first.status_code == 201, first.content
    second = client.post(
        f"/hives/{hive['id']}/queens",
        {
            "year_born": 2026,
            "origin": "Buckfast, Imkerei Muster",
            "introduced_at": "2026-06-10",
            "removal_reason": "superseded",
        },
    )
    assert second.status_code == 201, second.content
    assert second.json()["marking_color"] == "white"  # 2026 ends in 6

    inspection = client.post(
        f"/hives/{hive['id']}/events",
        {
            "type": "inspection",
            "occurred_at": "2026-06-20T10:00:00Z",
            "details": {"frames_of_brood": 7, "temperament": "calm", "queen_seen": True},
        },
        format="json",
    )
    assert inspection.status_code == 201, inspection.content

    listed = client.get("/hives").json()["results"][0]
    assert listed["current_queen"]["id"] == second.json()["id"]
    assert listed["last_inspection_at"].startswith("2026-06-20")
    history = client.get(f"/hives/{hive['id']}/queens").json()["results"]
    assert [q["is_current"] for q in history] == [True, False]
    assert history[1]["removal_reason"] == "superseded"
    assert history[1]["removed_at"] == "2026-06-10"
