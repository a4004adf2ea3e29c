"""The live hive page in headless Chromium: log in, open the page, post a reading, see it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken

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
    env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": database_url("telemetry")}
    with daphne(env, tmp_path / "daphne.log") as server:
        browser.get(f"{server.base_url}/admin/login/?next=/hives/{device.hive.id}/live")
        browser.find_element(By.NAME, "username").send_keys(owner.email)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        wait = WebDriverWait(browser, 15)
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "live"))
        assert browser.find_element(By.ID, "latest-temperature").text == "–"

        status, body = server.post_json(
            "/telemetry",
            reading(temperature=36.6, humidity=61.0),
            headers={"X-Device-Key": device.key},
        )
        assert status in (200, 201), body
        wait.until(ec.text_to_be_present_in_element((By.ID, "latest-temperature"), "36.6 °C"))
        assert browser.find_element(By.ID, "latest-humidity").text == "61.0 %"
        assert browser.find_element(By.ID, "count").text == "1"
        browser.save_screenshot(str(tmp_path / "live.png"))

        # The badge tells the truth when the server ends the stream: the hive is deleted.
        token = AccessToken.for_user(owner)
        status, body = server.request(
            "DELETE", f"/hives/{device.hive.id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 204, body
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "closed: hive not found"))
