"""The live hive page in headless Chromium: log in, open the page, post a reading, see it;
post a swarm, see its alert appear, acknowledge it, see it end."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from alerts.models import Alert
from alerts.services import rule_create
from apiary.models import Membership
from telemetry.simulation import SWARM, HiveSimulator
from tests.accounts.factories import PASSWORD, BeekeeperFactory
from tests.servers import daphne, database_url
from tests.telemetry.conftest import make_hive, reading

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="beeapi-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Chromium/ChromeDriver not installed")
@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_a_posted_reading_appears_on_the_live_page(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    owner: Any = BeekeeperFactory(email="alice@example.com")
    device = make_hive(owner, "e2e-001")
    # A member with a swarm rule of his own: his alert on the hive is not the owner's.
    member: Any = BeekeeperFactory(email="bob@example.com")
    Membership.objects.create(
        apiary=device.hive.apiary, user=member, email=member.email, role="viewer"
    )
    rule_create(actor=member, kind="swarm", hive=device.hive)
    env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": database_url("telemetry")}
    with daphne(env, tmp_path / "daphne.log") as server:
        browser.get(f"{server.base_url}/admin/login/?next=/hives/{device.hive.id}/live")
        browser.find_element(By.NAME, "username").send_keys(owner.email)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait = WebDriverWait(browser, 15)
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "live"))
        assert browser.find_element(By.ID, "latest-temperature").text == "–"

        assert browser.find_element(By.ID, "alert-count").text == "0"
        assert browser.find_element(By.ID, "no-alerts").is_displayed()

        # 40 minutes old: the swarm below comes after it, so the alerts look at it.
        status, body = server.post_json(
            "/telemetry",
            reading(minutes=40, temperature=36.6, humidity=61.0),
            headers={"X-Device-Key": device.key},
        )
        assert status in (200, 201), body
        wait.until(ec.text_to_be_present_in_element((By.ID, "latest-temperature"), "36.6 °C"))
        assert browser.find_element(By.ID, "latest-humidity").text == "61.0 %"
        assert browser.find_element(By.ID, "count").text == "1"
        browser.save_screenshot(str(tmp_path / "live.png"))

        # The sensor sends the last half hour, with the simulator's swarm 20 minutes ago:
        # the server raises a swarm alert, which the page shows without a reload.
        now = datetime.now(UTC)
        simulator = HiveSimulator(device.device_id)
        simulator.inject(SWARM, now - timedelta(minutes=20))
        swarm = list(simulator.readings(now - timedelta(minutes=30), now, 60))
        status, body = server.post_json(
            "/telemetry", {"readings": swarm}, headers={"X-Device-Key": device.key}
        )
        assert status == 201, body
        item = (By.CSS_SELECTOR, "#alert-list li.alert.open")
        wait.until(ec.text_to_be_present_in_element(item, "possible swarm"))
        alert = browser.find_element(*item)
        assert alert.find_element(By.CLASS_NAME, "alert-status").text.lower() == "open"
        assert "Swarm" in alert.find_element(By.CLASS_NAME, "alert-kind").text
        assert browser.find_element(By.ID, "alert-count").text == "1"
        assert not browser.find_element(By.ID, "no-alerts").is_displayed()
        browser.save_screenshot(str(tmp_path / "live-alert.png"))

        # Acknowledged (which ends a swarm alert): the page marks it so.
        token = AccessToken.for_user(owner)
        alert_id = alert.get_attribute("data-alert-id")
        status, body = server.request(
            "POST",
            f"/alerts/{alert_id}/acknowledge",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert status == 200, body
        assert json.loads(body)["status"] == "acknowledged"
        ended = (By.CSS_SELECTOR, f'#alert-list li.ended[data-alert-id="{alert_id}"]')
        marked = wait.until(ec.presence_of_element_located(ended))
        assert marked.find_element(By.CLASS_NAME, "alert-status").text.lower() == (
            "acknowledged, ended"
        )
        assert "possible swarm" in marked.text
        assert browser.find_element(By.ID, "alert-count").text == "0"
        # The member's alert came down the hive's stream too; the page left it out.
        assert Alert.objects.filter(user=member, hive=device.hive).count() == 1
        assert len(browser.find_elements(By.CSS_SELECTOR, "#alert-list li")) == 1

        # The badge tells the truth when the server ends the stream: the hive is deleted.
        status, body = server.request(
            "DELETE", f"/hives/{device.hive.id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 204, body
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "closed: hive not found"))
