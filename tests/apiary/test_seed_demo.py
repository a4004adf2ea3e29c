from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from apiary.models import Event, Hive, QueenBee


@pytest.mark.django_db
def test_seed_demo_creates_a_usable_demo_once() -> None:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=io.StringIO())  # idempotent
    assert "demo@beeapi.local" in out.getvalue()
    assert Hive.objects.count() == 6
    assert QueenBee.objects.filter(is_current=True).count() == 6
    assert QueenBee.objects.filter(mother__isnull=False).exists()
    assert Event.objects.filter(type="inspection").count() > 6
    client = APIClient()
    tokens = client.post(
        "/auth/token", {"email": "demo@beeapi.local", "password": "demo-bees-2026"}
    ).json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.get("/hives").json()["count"] == 6
    assert client.get("/apiaries").json()["count"] == 2


@pytest.mark.django_db
def test_seed_demo_says_how_to_feed_the_demo_and_raise_alerts() -> None:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    hive = Hive.objects.get(device_id="demo-hive-003")
    assert f"Hive 3 (id {hive.pk}, device demo-hive-003)" in text
    assert "`manage.py simulate_hives --backfill-days 7`" in text
    assert (
        "simulate_hives --live --fast --swarm demo-hive-003 --cold-brood demo-hive-004"
        " --silent demo-hive-005" in text
    )
