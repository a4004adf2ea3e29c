"""The console on a phone (390 × 844, headless Chromium): every page of a beekeeper's day
fits the screen's width (no sideways scrolling of the page), the overview and the lists
are cards, the charts' labels are readable and the live page is one column. The live
page's badge tells a silent sensor from a live one, its values have their metric's
digits and its open alerts can be acknowledged where they are."""

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

PHONE = (390, 844)
MIN_LABEL_PX = 11

# Rendered size of each chart label on a hive's page: its font size times the scale its
# SVG is drawn at (a chart drawn in a viewBox shrinks its text with it).
CHART_LABEL_SIZES = """
return Array.from(document.querySelectorAll("svg.bee-chart text")).map(
  (t) => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a);
"""


def overflow(browser: Any) -> dict[str, Any]:
    """How wide the page is against the window (scroll against client, which is also
    innerWidth less a scroll bar), and the elements past its edge."""
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
        for h in range(0, 24 * 7)
    )
    QueenFactory(hive=mine.hive, year_born=2025, marking_color="blue")
    EventFactory(
        hive=mine.hive,
        type="feeding",
        occurred_at=now - timedelta(days=1),
        details={"feed": "syrup_2_1", "litres": 3},
        notes="A long note about the feeding, longer than a phone is wide. " * 3,
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
        assert browser.execute_script("return window.innerWidth") == PHONE[0]
        wide = {}
        for name, path in pages.items():
            browser.get(server.base_url + path)
            wait.until(lambda b: b.execute_script("return document.readyState") == "complete")
            if name == "live":
                wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "live"))
            full_screenshot(browser, tmp_path / f"{name}.png")
            width = overflow(browser)
            assert width["inner"] == PHONE[0], width
            if width["scroll"] > width["client"]:
                wide[name] = width
            if name == "overview":
                # A card per hive, each value under its heading.
                row = browser.find_element(
                    By.CSS_SELECTOR, f'tr[data-device-id="{mine.device_id}"]'
                )
                assert row.value_of_css_property("display") == "grid"
                cell = row.find_element(By.CSS_SELECTOR, "td.weight")
                assert cell.get_attribute("data-label") == "Weight"
                assert cell.text == "40.00 kg"
                assert not browser.find_element(
                    By.CSS_SELECTOR, "table.bee-hives thead"
                ).is_displayed()
            if name in ("events", "alerts", "hives"):
                # Cards, not a table scrolled sideways: no column heading row.
                assert not browser.find_element(
                    By.CSS_SELECTOR, "#result_list thead"
                ).is_displayed()
                first = browser.find_element(By.CSS_SELECTOR, "#result_list tbody tr")
                assert first.value_of_css_property("display") == "block"
            if name == "hive":
                sizes = browser.execute_script(CHART_LABEL_SIZES)
                assert len(sizes) >= 10, sizes  # titles, value and day labels of 2 charts
                assert min(sizes) >= MIN_LABEL_PX, sizes
            if name == "live":
                charts = browser.find_elements(By.CSS_SELECTOR, "#charts .chart")
                assert len({c.rect["x"] for c in charts}) == 1, "one column"
                assert max(c.rect["x"] + c.rect["width"] for c in charts) <= PHONE[0]
        assert not wide, wide

        # The desktop keeps its table and its two-column live page.
        browser.set_window_size(1400, 1000)
        browser.get(f"{server.base_url}/admin/")
        assert browser.find_element(By.CSS_SELECTOR, "table.bee-hives thead").is_displayed()
        browser.get(f"{server.base_url}/hives/{hive.pk}/live")
        charts = browser.find_elements(By.CSS_SELECTOR, "#charts .chart")
        assert len({c.rect["x"] for c in charts}) == 2, "two columns"


@needs_browser
@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_the_live_page_on_a_phone(tmp_path: Path, browser: Any) -> None:
    """A sensor silent for two hours: the badge says connected, silent since then, until
    a reading arrives. Values with their metric's digits. The open alert acknowledged
    with its button; a viewer of the apiary gets none."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    alice: Any = BeekeeperFactory(email="alice@example.com", name="Alice")
    dave: Any = BeekeeperFactory(email="dave@example.com", name="Dave")
    device = make_hive(alice, "phone-live-1")
    hive = device.hive
    Membership.objects.create(apiary=hive.apiary, user=dave, email=dave.email, role="viewer")
    silent_since = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    Reading.objects.create(
        device_id=device.device_id,
        time=silent_since,
        temperature=34.56,
        humidity=56.599999999999994,
        weight=41.254999,
        battery=3.8149,
        rssi=-91.4,
        snr=7.26,
    )
    alert = Alert.objects.create(
        user=alice,
        hive=hive,
        kind="threshold",
        started_at=datetime.now(UTC) - timedelta(minutes=30),
        message=f"{hive.name}: weight above 41 kg",
    )
    env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": database_url("telemetry")}
    with daphne(env, tmp_path / "daphne.log") as server:
        browser.set_window_size(*PHONE)
        log_in(browser, server.base_url, alice, f"/hives/{hive.pk}/live")
        wait = WebDriverWait(browser, 15)
        status = (By.ID, "status")
        wait.until(ec.text_to_be_present_in_element(status, "sensor silent since"))
        badge = browser.find_element(*status)
        assert badge.get_attribute("data-state") == "silent"
        assert badge.text.startswith("connected")
        assert datetime.fromisoformat(badge.get_attribute("data-silent-since")) == silent_since
        latest = {
            metric: browser.find_element(By.ID, f"latest-{metric}").text
            for metric in ("temperature", "humidity", "weight", "battery", "rssi", "snr")
        }
        assert latest == {
            "temperature": "34.6 °C",
            "humidity": "57 %",
            "weight": "41.25 kg",
            "battery": "3.81 V",
            "rssi": "-91 dBm",
            "snr": "7.3 dB",
        }, latest
        full_screenshot(browser, tmp_path / "live-silent.png")

        # A reading now: live again.
        sent, body = server.post_json(
            "/telemetry",
            reading(minutes=0, temperature=35.05),
            headers={"X-Device-Key": device.key},
        )
        assert sent == 201, body
        wait.until(ec.text_to_be_present_in_element(status, "live"))
        assert browser.find_element(*status).get_attribute("data-state") == "live"
        assert browser.find_element(*status).get_attribute("data-silent-since") is None

        # The open alert, acknowledged with its button, on the phone.
        item = browser.find_element(By.CSS_SELECTOR, f'#alert-list li[data-alert-id="{alert.pk}"]')
        button = item.find_element(By.CSS_SELECTOR, "button.alert-ack")
        assert button.is_displayed() and button.rect["x"] + button.rect["width"] <= PHONE[0]
        button.click()
        wait.until(lambda b: item.get_attribute("data-status") == "acknowledged")
        assert not item.find_elements(By.CSS_SELECTOR, "button.alert-ack")
        alert.refresh_from_db()
        assert alert.status == "acknowledged"
        assert browser.current_url.endswith(f"/hives/{hive.pk}/live")  # no page change
        errors = [e["message"] for e in browser.get_log("browser") if "Uncaught" in e["message"]]
        assert not errors, errors

        # A viewer of the apiary: the page, without alice's alert or any button.
        browser.delete_all_cookies()
        log_in(browser, server.base_url, dave, f"/hives/{hive.pk}/live")
        wait.until(ec.text_to_be_present_in_element(status, "live"))
        assert not browser.find_elements(By.CSS_SELECTOR, "button.alert-ack")
        assert alert.message not in browser.page_source
