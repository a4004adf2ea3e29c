from __future__ import annotations

import pytest
from django.db import IntegrityError

from apiary.models import Event
from tests.factories import EventFactory


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event_type", "details"),
    [
        (
            "inspection",
            {"frames_of_brood": 6, "temperament": "calm", "queen_seen": True, "eggs_seen": True},
        ),
        ("feeding", {"feed": "syrup_2_1", "litres": 5}),
        ("treatment", {"product": "Oxalic acid", "dose": "5 ml per seam"}),
        ("harvest", {"kg": 18.5, "frames": 9}),
        ("box_added", {"kg": 12.5}),
        ("box_removed", {"kg": 21}),
        ("swarm", {"caught": True, "where": "apple tree"}),
    ],
)
def test_valid_details_per_type(as_alice, alice_hive, event_type, details) -> None:
    response = as_alice.post(
        f"/hives/{alice_hive.id}/events",
        {"type": event_type, "occurred_at": "2026-05-01T09:00:00Z", "details": details},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["details"] == details


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event_type", "details", "named"),
    [
        ("inspection", {"frames_of_brood": 99}, "frames_of_brood"),
        ("inspection", {"temperament": "grumpy"}, "temperament"),
        ("inspection", {"franes_of_brood": 3}, "franes_of_brood"),
        ("feeding", {"feed": "syrup_1_1"}, "litres"),
        ("treatment", {"dose": "2 strips"}, "product"),
        ("harvest", {"kg": -1}, "kg"),
        ("box_added", {}, "kg"),
        ("box_added", {"kg": 0}, "kg"),
        ("box_removed", {"kg": 100.5}, "kg"),
        ("box_removed", {"kg": "heavy"}, "kg"),
        ("box_removed", {"kg": 12, "frames": 9}, "frames"),
        ("note", ["not", "an", "object"], "object"),
    ],
)
def test_invalid_details_are_400_naming_the_key_and_write_nothing(
    as_alice, alice_hive, event_type, details, named
) -> None:
    response = as_alice.post(
        "/events",
        {
            "hive": alice_hive.id,
            "type": event_type,
            "occurred_at": "2026-05-01T09:00:00Z",
            "details": details,
        },
        format="json",
    )
    assert response.status_code == 400
    assert named in str(response.json()["details"])
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_event_belongs_to_exactly_one_hive_or_apiary(as_alice, alice_hive, alice_apiary) -> None:
    both = as_alice.post(
        "/events",
        {
            "hive": alice_hive.id,
            "apiary": alice_apiary.id,
            "type": "note",
            "occurred_at": "2026-05-01T09:00:00Z",
        },
        format="json",
    )
    neither = as_alice.post(
        "/events", {"type": "note", "occurred_at": "2026-05-01T09:00:00Z"}, format="json"
    )
    assert both.status_code == neither.status_code == 400
    with pytest.raises(IntegrityError):
        Event.objects.create(type="note", occurred_at="2026-05-01T09:00:00Z")


@pytest.mark.django_db
def test_apiary_events_and_filters(as_alice, alice_apiary, alice_hive) -> None:
    as_alice.post(
        f"/apiaries/{alice_apiary.id}/events",
        {"type": "alert", "occurred_at": "2026-04-01T09:00:00Z"},
        format="json",
    )
    EventFactory(hive=alice_hive, type="inspection", occurred_at="2026-05-01T09:00:00Z")
    EventFactory(
        hive=alice_hive,
        type="feeding",
        occurred_at="2026-06-01T09:00:00Z",
        details={"feed": "fondant", "kg": 1},
    )
    assert as_alice.get(f"/apiaries/{alice_apiary.id}/events").json()["count"] == 1
    assert as_alice.get(f"/events?apiary={alice_apiary.id}").json()["count"] == 3
    assert as_alice.get("/events?type=inspection&type=feeding").json()["count"] == 2
    window = as_alice.get(
        "/events?occurred_after=2026-04-15T00:00:00Z&occurred_before=2026-05-15T00:00:00Z"
    ).json()
    assert [e["type"] for e in window["results"]] == ["inspection"]
    assert as_alice.get("/events?occurred_after=not-a-date").status_code == 400
