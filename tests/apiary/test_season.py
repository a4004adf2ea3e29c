"""The season's figures of a hive and an apiary, checked against a year worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from apiary.models import Event, Membership, Role
from apiary.season import sugar_kg
from telemetry.models import Reading
from tests.accounts.factories import BeekeeperFactory
from tests.factories import jwt_client
from tests.telemetry.conftest import DeviceHive, make_hive

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])

YEAR = datetime.now(UTC).year - 1  # a whole year that has happened


def on(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(YEAR, month, day, hour, tzinfo=UTC)


def event(hive: DeviceHive, kind: str, when: datetime, **details: object) -> Event:
    return Event.objects.create(hive=hive.hive, type=kind, occurred_at=when, details=details)


@pytest.fixture
def year(alice) -> DeviceHive:
    hive = make_hive(alice, "season-1")
    event(hive, "harvest", on(6, 20), kg=12.0)
    event(hive, "harvest", on(8, 1), kg=8.5, honey_type="heather")
    event(hive, "harvest", on(12, 31, 23) + timedelta(hours=1), kg=99.0)  # next year
    event(hive, "feeding", on(8, 10), feed="syrup_2_1", litres=5.0)  # 4.435 kg sugar
    event(hive, "feeding", on(8, 20), feed="syrup_1_1", kg=10.0)  # 5 kg sugar
    event(hive, "feeding", on(9, 1), feed="fondant", kg=2.5)  # 2.125 kg sugar
    event(hive, "feeding", on(4, 1), feed="pollen", kg=1.0)  # no sugar
    event(hive, "treatment", on(8, 5), product="Oxalic acid", withdrawal_end=f"{YEAR}-09-05")
    event(hive, "treatment", on(11, 5), product="Formic acid")
    event(hive, "swarm", on(5, 14))
    event(hive, "queen_change", on(7, 2))
    for day in (1, 10, 20):
        event(hive, "inspection", on(5, day), queen_seen=True)
    # The scale on 1 and 2 June: 40 kg, +1 kg of nectar each afternoon, a 5 kg box on the
    # 2nd at noon (recorded), one reading every 10 minutes.
    event(hive, "box_added", on(6, 2), kg=5.0)
    readings = []
    weight = 40.0
    for step in range(2 * 144):
        t = on(6, 1, 0) + timedelta(minutes=10 * step)
        if 12 <= t.hour < 17:
            weight += 1.0 / 30
        box = 5.0 if t >= on(6, 2) else 0.0
        readings.append(Reading(device_id="season-1", time=t, weight=round(weight + box, 4)))
    Reading.objects.bulk_create(readings)
    return hive


def test_a_hives_season(alice_client: APIClient, year: DeviceHive) -> None:
    response = alice_client.get(f"/hives/{year.hive.pk}/season", {"year": YEAR})
    assert response.status_code == 200, response.json()
    [season] = response.json()["hives"]
    assert season["honey_kg"] == 20.5
    assert [h["kg"] for h in season["harvests"]] == [12.0, 8.5]
    assert season["sugar_fed_kg"] == pytest.approx(4.435 + 5 + 2.125, abs=0.01)
    assert len(season["feedings"]) == 4
    assert [t["product"] for t in season["treatments"]] == ["Oxalic acid", "Formic acid"]
    assert season["withdrawal_until"] == f"{YEAR}-09-05"
    assert season["treatments"][0]["withdrawal_active"] is False
    assert len(season["swarms"]) == 1 and len(season["queen_changes"]) == 1
    assert season["inspections"] == 3
    # Two afternoons of 1 kg each, the box left out with the 10 minutes of nectar of its
    # step (1/30 kg).
    assert season["net_weight_gain_kg"] == pytest.approx(2 - 1 / 30, abs=0.005)
    assert [d["day"] for d in season["net_weight_days"]] == [f"{YEAR}-06-01", f"{YEAR}-06-02"]


def test_an_apiarys_season_and_its_csv(alice_client: APIClient, year: DeviceHive) -> None:
    apiary = year.hive.apiary
    body = alice_client.get(f"/apiaries/{apiary.pk}/season", {"year": YEAR}).json()
    assert body["apiary"] == {"id": apiary.pk, "name": apiary.name}
    assert body["totals"]["honey_kg"] == 20.5 and body["totals"]["hives"] == 1
    csv = alice_client.get(f"/apiaries/{apiary.pk}/season", {"year": YEAR, "format": "csv"})
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    header, row = csv.content.decode().strip().splitlines()
    assert header.split(",")[:4] == ["hive", "hive_name", "year", "honey_kg"]
    assert row.split(",")[3] == "20.5"


def test_a_year_without_anything_is_zeros(alice_client: APIClient, year: DeviceHive) -> None:
    [season] = alice_client.get(f"/hives/{year.hive.pk}/season", {"year": 2001}).json()["hives"]
    assert season["honey_kg"] == 0 and season["net_weight_gain_kg"] is None


def test_others_do_not_see_a_season(bob_client: APIClient, year: DeviceHive) -> None:
    assert bob_client.get(f"/hives/{year.hive.pk}/season").status_code == 404
    assert bob_client.get(f"/apiaries/{year.hive.apiary.pk}/season").status_code == 404


def test_a_viewer_sees_the_season(year: DeviceHive) -> None:
    viewer = BeekeeperFactory()
    Membership.objects.create(apiary=year.hive.apiary, user=viewer, role=Role.VIEWER)
    response = jwt_client(viewer).get(f"/hives/{year.hive.pk}/season", {"year": YEAR})
    assert response.status_code == 200
    assert response.json()["hives"][0]["honey_kg"] == 20.5


@pytest.mark.parametrize("year_param", ["last", "1999", "2101", ""])
def test_a_bad_year_is_refused(alice_client: APIClient, year: DeviceHive, year_param: str) -> None:
    response = alice_client.get(f"/hives/{year.hive.pk}/season", {"year": year_param})
    assert response.status_code == 400 and "year" in response.json()


def test_unknown_parameters_are_refused(alice_client: APIClient, year: DeviceHive) -> None:
    response = alice_client.get(f"/hives/{year.hive.pk}/season", {"season": 2026})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("details", "sugar"),
    [
        ({"feed": "syrup_1_1", "kg": 2}, 1.0),
        ({"feed": "syrup_2_1", "kg": 3}, 2.0),
        ({"feed": "syrup_1_1", "litres": 2}, 1.23),
        ({"feed": "honey", "kg": 2}, 0.0),
    ],
)
def test_sugar_in_a_feeding(details: dict, sugar: float) -> None:
    assert sugar_kg(details) == pytest.approx(sugar, abs=0.001)


def test_the_console_season_page(alice, bob, year: DeviceHive) -> None:
    from django.test import Client

    apiary = year.hive.apiary
    client = Client()
    client.force_login(alice)
    page = client.get(f"/admin/apiary/apiary/{apiary.pk}/change/").content.decode()
    assert f"/admin/apiary/apiary/{apiary.pk}/season/" in page
    response = client.get(f"/admin/apiary/apiary/{apiary.pk}/season/", {"year": YEAR})
    assert response.status_code == 200
    text = response.content.decode()
    assert "Honey harvested: <strong>20.5 kg</strong>" in text
    assert "Net weight gain: <strong>1.97 kg</strong>" in text
    assert "Oxalic acid (no honey until" in text
    assert text.count('<svg class="bee-chart weight"') == 1
    stranger = Client()
    stranger.force_login(bob)
    assert stranger.get(f"/admin/apiary/apiary/{apiary.pk}/season/").status_code == 404
