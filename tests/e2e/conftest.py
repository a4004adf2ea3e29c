"""Browser tests' shared pieces: headless Debian Chromium through ChromeDriver (installed
by `make test` when absent), and signing in to the admin as a beekeeper."""

from __future__ import annotations

import shutil
import tempfile
from typing import Any
from urllib.parse import quote

import pytest

from tests.accounts.factories import PASSWORD

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="Chromium/ChromeDriver not installed"
)


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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # page errors, for asserts
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def log_in(browser: Any, base_url: str, user: Any, next_path: str) -> None:
    """Sign in through the admin's login form, landing on ``next_path``."""
    from selenium.webdriver.common.by import By

    browser.get(f"{base_url}/admin/login/?next={quote(next_path)}")
    browser.find_element(By.NAME, "username").send_keys(user.email)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
