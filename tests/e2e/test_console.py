"""The console in headless Chromium: a beekeeper logs in and lands on the overview of
their hives with the latest values their sensors sent; another beekeeper's hives never
appear. From the overview, the hive's page shows its charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.models import Alert
from apiary.models import Membership
from telemetry.models import Reading
from tests.accounts.factories import BeekeeperFactory
from tests.e2e.conftest import log_in, needs_browser
from tests.factories import EventFactory, QueenFactory
from tests.servers import daphne, database_url
from tests.telemetry.conftest import make_hive, reading


@needs_browser
@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_a_beekeeper_sees_their_hives_on_the_overview(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    alice: Any = BeekeeperFactory(email="alice@example.com", name="Alice")
    mine = make_hive(alice, "console-alice-1")
    quiet = make_hive(alice, "console-alice-2")
    bob: Any = BeekeeperFactory(email="bob@example.com", name="Bob")
    bobs = make_hive(bob, "console-bob-secret")
    # A neighbour shares his apiary with alice: its hive is on her overview, marked shared.
    carol: Any = BeekeeperFactory(email="carol@example.com", name="Carol")
    shared = make_hive(carol, "console-carol-1")
    Membership.objects.create(
        apiary=shared.hive.apiary, user=alice, email=alice.email, role="viewer"
    )
    now = datetime.now(UTC)
    # A week of weight for the trend, and a sensor silent for three hours.
    Reading.objects.bulk_create(
        Reading(device_id=mine.device_id, time=now - timedelta(hours=h), weight=40 + h / 50)
        for h in range(1, 24 * 7, 3)
    )
    Reading.objects.bulk_create(
        [
            Reading(device_id=quiet.device_id, time=now - timedelta(hours=3), temperature=30.5),
            Reading(device_id=bobs.device_id, time=now, temperature=11.1, weight=77.7),
            Reading(device_id=shared.device_id, time=now, temperature=33.3),
        ]
    )
    mother = QueenFactory(hive=quiet.hive, year_born=2023, marking_color="red")
    QueenFactory(hive=mine.hive, year_born=2025, marking_color="blue", mother=mother)
    EventFactory(
        hive=mine.hive,
        type="feeding",
        occurred_at=now - timedelta(days=1),
        details={"feed": "syrup_2_1", "litres": 3},
    )
    Alert.objects.create(
        user=alice,
        hive=mine.hive,
        kind="threshold",
        started_at=now - timedelta(minutes=30),
        message="Hive console-alice-1: weight above 41.5 kg",
    )
    env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": database_url("telemetry")}
    with daphne(env, tmp_path / "daphne.log") as server:
        # The sensor reports through the API, as a gateway does.
        status, body = server.post_json(
            "/telemetry",
            reading(minutes=1, temperature=35.2, humidity=58.0, weight=41.75, sound_level=44.0),
            headers={"X-Device-Key": mine.key},
        )
        assert status in (200, 201), body

        browser.set_window_size(1400, 1000)  # the overview's table is wide
        log_in(browser, server.base_url, alice, "/admin/")
        wait = WebDriverWait(browser, 15)
        wait.until(ec.presence_of_element_located((By.ID, "bee-overview")))
        browser.save_screenshot(str(tmp_path / "overview.png"))

        def row(device_id: str) -> Any:
            return browser.find_element(By.CSS_SELECTOR, f'tr[data-device-id="{device_id}"]')

        fresh = row(mine.device_id)
        assert fresh.find_element(By.CLASS_NAME, "temperature").text == "35.2 °C"
        assert fresh.find_element(By.CLASS_NAME, "humidity").text == "58 %"
        assert fresh.find_element(By.CLASS_NAME, "weight").text == "41.75 kg"
        assert fresh.find_element(By.CLASS_NAME, "sound_level").text == "44.0 dB"
        assert "stale" not in fresh.get_attribute("class")
        alerts = fresh.find_element(By.CLASS_NAME, "alerts")
        assert alerts.find_element(By.CLASS_NAME, "alert-count").text == "1"
        assert "weight above 41.5 kg" in alerts.text
        assert fresh.find_elements(By.CSS_SELECTOR, "td.trend svg polyline")
        stale = row(quiet.device_id)
        assert "stale" in stale.get_attribute("class")
        assert "stale" in stale.find_element(By.CLASS_NAME, "last-heard").text
        assert row(shared.device_id).find_element(By.CLASS_NAME, "temperature").text == "33.3 °C"
        assert "shared by Carol" in browser.find_element(By.ID, "bee-overview").text
        # bob's hive is nowhere: not its name, device id or values.
        page = browser.page_source
        for secret in (bobs.device_id, bobs.hive.name, "11.1 °C", "77.7", "Bob's yard"):
            assert secret not in page, secret
        assert not browser.find_elements(By.CSS_SELECTOR, f'[data-device-id="{bobs.device_id}"]')

        # The hive's page: its latest values, three charts (temperature, weight, net
        # weight) and the live page's link.
        fresh.find_element(By.LINK_TEXT, mine.hive.name).click()
        panels = wait.until(ec.presence_of_element_located((By.ID, "bee-telemetry")))
        assert "35.2" in panels.text and "41.75 kg" in panels.text
        assert len(panels.find_elements(By.CSS_SELECTOR, "svg.bee-chart")) == 3
        queens = browser.find_element(By.ID, "bee-queen-history").text
        assert "2025 blue" in queens and f"Mother: 2023 red in {quiet.hive.name}" in queens
        events = browser.find_element(By.ID, "bee-recent-events").text
        assert "syrup 2:1, 3 l" in events
        live = browser.find_element(By.CSS_SELECTOR, ".object-tools a[href$='/live']")
        assert live.get_attribute("href").endswith(f"/hives/{mine.hive.pk}/live")
        browser.save_screenshot(str(tmp_path / "hive.png"))
