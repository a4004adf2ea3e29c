"""Local time in headless Chromium: the console writes times in the user's zone, whatever
the browser's, in one format (2026-12-07 13:35); a user who has chosen none gets the
browser's when they sign in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from accounts.models import User
from alerts.models import Alert, Kind
from tests.accounts.factories import BeekeeperFactory
from tests.e2e.conftest import log_in, needs_browser
from tests.factories import EventFactory
from tests.servers import daphne, database_url
from tests.telemetry.conftest import make_hive

TOKYO = ZoneInfo("Asia/Tokyo")  # no summer time: the expected texts hold all year


def _browser_zone(browser: Any, zone: str) -> None:
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": zone})


@needs_browser
@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_the_console_shows_times_in_the_users_zone_not_the_browsers(
    tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    keeper: Any = BeekeeperFactory(email="alice@example.com")
    keeper.time_zone = "Asia/Tokyo"
    keeper.save()
    device = make_hive(keeper, "tz-001")
    started = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=42)
    Alert.objects.create(
        user=keeper,
        hive=device.hive,
        kind=Kind.NO_DATA,
        started_at=started,
        message="tz-001: no data",
    )
    EventFactory(hive=device.hive, type="inspection", occurred_at="2026-01-15T12:35:00Z")
    _browser_zone(browser, "America/New_York")
    env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": database_url("telemetry")}
    with daphne(env, tmp_path / "daphne.log") as server:
        log_in(browser, server.base_url, keeper, f"/hives/{device.hive.id}/live")
        wait = WebDriverWait(browser, 15)
        # No readings yet: "connected · no readings yet".
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "connected"))

        # The live page: the alert's start (written again by live.js), in Tokyo.
        expected = f"{started.astimezone(TOKYO):%Y-%m-%d %H:%M}"
        alert_time = browser.find_element(By.CSS_SELECTOR, "#alert-list time.alert-time")
        assert alert_time.text == expected
        assert browser.find_element(By.ID, "time-zone").text == "Asia/Tokyo"
        # A reading: its time in the footer, the same way.
        status, body = server.post_json(
            "/telemetry",
            {"time": f"{started:%Y-%m-%dT%H:%M:%SZ}", "temperature": 35.0},
            headers={"X-Device-Key": device.key},
        )
        assert status in (200, 201), body
        wait.until(ec.text_to_be_present_in_element((By.ID, "updated"), expected))
        # The 24 h axis: 24-hour labels at round Tokyo hours (New York is 14 h behind).
        canvas = browser.find_element(By.CSS_SELECTOR, '.chart[data-metric="temperature"] canvas')
        labels = canvas.get_attribute("data-ticks").split("|")
        hours = [label for label in labels if ":" in label]
        assert hours and all(re.fullmatch(r"\d\d:00", label) for label in hours), labels
        midnight = datetime.now(TOKYO).strftime("%a ") + str(datetime.now(TOKYO).day)
        assert midnight in labels, labels  # today's midnight in Tokyo, not New York's
        browser.save_screenshot(str(tmp_path / "live-tokyo.png"))

        # The console: the zone beside the user's links, the event list in Tokyo time.
        browser.get(f"{server.base_url}/admin/apiary/event/")
        zone = browser.find_element(By.ID, "bee-time-zone")
        assert zone.get_attribute("textContent") == "Asia/Tokyo"  # the CSS writes it uppercase
        rows = browser.find_element(By.ID, "result_list").text
        assert "2026-01-15 21:35" in rows, rows
        assert "p.m." not in rows
        browser.save_screenshot(str(tmp_path / "events-tokyo.png"))


@needs_browser
@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_a_user_without_a_zone_gets_the_browsers(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    keeper: Any = BeekeeperFactory(email="bob@example.com")
    assert keeper.time_zone == ""
    _browser_zone(browser, "Europe/Berlin")
    env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": database_url("telemetry")}
    with daphne(env, tmp_path / "daphne.log") as server:
        log_in(browser, server.base_url, keeper, "/admin/")
        zone = WebDriverWait(browser, 15).until(
            ec.presence_of_element_located((By.ID, "bee-time-zone"))
        )
        # The first page after signing in already.
        assert zone.get_attribute("textContent") == "Europe/Berlin"
        assert User.objects.get(pk=keeper.pk).time_zone == "Europe/Berlin"

        # Changed in the console: the pages follow.
        zone.click()
        Select(browser.find_element(By.ID, "id_time_zone")).select_by_value("Asia/Tokyo")
        browser.find_element(By.CSS_SELECTOR, "#time-zone-form input[type=submit]").click()
        WebDriverWait(browser, 15).until(
            ec.text_to_be_present_in_element_attribute(
                (By.ID, "bee-time-zone"), "textContent", "Asia/Tokyo"
            )
        )
        assert User.objects.get(pk=keeper.pk).time_zone == "Asia/Tokyo"
