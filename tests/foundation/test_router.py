"""The database router keeps entities and readings on their own databases."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connections

from beeapi.db_router import TelemetryRouter

ENTITY_TABLES = {"users", "apiaries", "hives", "queen_bees", "events"}


def _tables(alias: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.django_db(databases=["default", "telemetry"])
def test_entity_tables_only_in_entity_database_and_readings_only_in_telemetry() -> None:
    entity, telemetry = _tables("default"), _tables("telemetry")
    assert ENTITY_TABLES <= entity
    assert "readings" in telemetry
    assert not ENTITY_TABLES & telemetry
    assert "readings" not in entity
    assert "readings_hourly" not in entity


def test_router_sends_models_to_their_database() -> None:
    router = TelemetryRouter()
    reading = apps.get_model("telemetry", "Reading")
    for label in (
        "accounts.User",
        "apiary.Apiary",
        "apiary.Hive",
        "apiary.QueenBee",
        "apiary.Event",
    ):
        model = apps.get_model(label)
        assert router.db_for_read(model) == "default"
        assert router.db_for_write(model) == "default"
    assert router.db_for_read(reading) == "telemetry"
    assert router.db_for_write(reading) == "telemetry"


def test_router_migrates_each_app_on_its_own_database_only() -> None:
    router = TelemetryRouter()
    assert router.allow_migrate("telemetry", "telemetry") is True
    assert router.allow_migrate("default", "telemetry") is False
    assert router.allow_migrate("default", "apiary") is True
    assert router.allow_migrate("telemetry", "apiary") is False
    assert router.allow_migrate("telemetry", "auth") is False


def test_router_refuses_relations_across_databases() -> None:
    router = TelemetryRouter()
    reading = apps.get_model("telemetry", "Reading")(device_id="x")
    hive = apps.get_model("apiary", "Hive")(device_id="x")
    apiary = apps.get_model("apiary", "Apiary")()
    assert router.allow_relation(hive, reading) is False
    assert router.allow_relation(hive, apiary) is True


def test_relations_to_the_request_user_wrapper_are_allowed() -> None:
    # The admin relates a new apiary to request.user, a SimpleLazyObject: a 500 once.
    from django.utils.functional import SimpleLazyObject

    from accounts.models import User

    lazy_user = SimpleLazyObject(lambda: User(email="lazy@example.com"))
    from apiary.models import Apiary

    assert TelemetryRouter().allow_relation(Apiary(name="x"), lazy_user) is True
