from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError

from apiary.models import Event, QueenBee
from apiary.services import marking_color_for_year
from tests.factories import QueenFactory


@pytest.mark.parametrize(
    ("year", "colour"),
    [
        (2021, "white"),
        (2022, "yellow"),
        (2023, "red"),
        (2024, "green"),
        (2025, "blue"),
        (2026, "white"),
        (2030, "blue"),
    ],
)
def test_marking_colour_follows_the_international_code(year, colour) -> None:
    assert marking_color_for_year(year) == colour


@pytest.mark.django_db
def test_introducing_a_queen_retires_the_current_one_and_logs_a_queen_change(
    as_alice, alice_hive
) -> None:
    old = QueenFactory(hive=alice_hive, introduced_at=dt.date(2025, 5, 1))
    response = as_alice.post(
        f"/hives/{alice_hive.id}/queens",
        {"year_born": 2026, "introduced_at": "2026-05-02", "mother": old.id},
    )
    assert response.status_code == 201, response.content
    old.refresh_from_db()
    assert (old.is_current, old.removed_at, old.removal_reason) == (
        False,
        dt.date(2026, 5, 2),
        "replaced",
    )
    new = QueenBee.objects.get(pk=response.json()["id"])
    assert new.is_current and new.mother == old
    assert Event.objects.filter(hive=alice_hive, type="queen_change").count() == 1


@pytest.mark.django_db
def test_a_successor_cannot_be_introduced_before_the_current_queen(as_alice, alice_hive) -> None:
    QueenFactory(hive=alice_hive, introduced_at=dt.date(2025, 5, 1))
    response = as_alice.post(f"/hives/{alice_hive.id}/queens", {"introduced_at": "2024-01-01"})
    assert response.status_code == 400
    assert "introduced_at" in response.json()
    assert QueenBee.objects.filter(hive=alice_hive, is_current=True).count() == 1


@pytest.mark.django_db
def test_the_database_refuses_two_current_queens(alice_hive) -> None:
    QueenFactory(hive=alice_hive)
    with pytest.raises(IntegrityError):
        QueenFactory(hive=alice_hive)


@pytest.mark.django_db
def test_queen_history_is_newest_first_and_filterable(as_alice, alice_hive) -> None:
    QueenFactory(
        hive=alice_hive,
        introduced_at=dt.date(2023, 5, 1),
        is_current=False,
        removed_at=dt.date(2024, 5, 1),
    )
    QueenFactory(hive=alice_hive, introduced_at=dt.date(2024, 5, 1))
    history = as_alice.get(f"/hives/{alice_hive.id}/queens").json()["results"]
    assert [q["introduced_at"] for q in history] == ["2024-05-01", "2023-05-01"]
    assert as_alice.get("/queens?is_current=true").json()["count"] == 1


@pytest.mark.django_db
def test_retiring_the_current_queen(as_alice, alice_hive) -> None:
    queen = QueenFactory(hive=alice_hive)
    response = as_alice.post(
        f"/queens/{queen.id}/retire", {"removal_reason": "swarmed", "removed_at": "2026-06-01"}
    )
    assert response.status_code == 200
    assert response.json()["is_current"] is False
    assert (
        as_alice.post(f"/queens/{queen.id}/retire", {"removal_reason": "died"}).status_code == 400
    )


@pytest.mark.django_db
def test_bad_year_is_a_400(as_alice, alice_hive) -> None:
    response = as_alice.post(f"/hives/{alice_hive.id}/queens", {"year_born": 26})
    assert response.status_code == 400
    assert "year_born" in response.json()
