"""The live hive page in headless Chromium: log in, open the page of a hive without
readings (the empty state), post a reading, see it (and the empty state go); post a swarm,
see its alert appear, acknowledge it, see it end. Then the ranges: 24 h of raw readings,
7 and 30 days of hourly aggregates, each with its query, axis and URL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from alerts.models import Alert
from alerts.services import rule_create
from apiary.models import Membership
from monitoring.simulation import SWARM, HiveSimulator
from telemetry.late_data import late_refresh_flush
from telemetry.services import readings_ingest
from telemetry.validation import iso_time
from tests.accounts.factories import BeekeeperFactory
from tests.e2e.conftest import log_in, needs_browser
from tests.servers import daphne, database_url
from tests.telemetry.conftest import make_hive, reading


@needs_browser
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
        log_in(browser, server.base_url, owner, f"/hives/{device.hive.id}/live")
        wait = WebDriverWait(browser, 15)
        # Connected, and the badge says the sensor has not sent anything yet.
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "connected"))
        assert browser.find_element(By.ID, "status").get_attribute("data-state") == "waiting"
        assert browser.find_element(By.ID, "latest-temperature").text == "–"

        # No readings yet: how to connect the sensor, without its key.
        empty = browser.find_element(By.ID, "empty-state")
        assert empty.is_displayed()
        assert browser.find_element(By.ID, "empty-device-id").text == "e2e-001"
        assert "X-Device-Key" in empty.text and "/telemetry" in empty.text
        assert f"POST /hives/{device.hive.id}/device-key" in empty.text
        assert device.key not in browser.page_source
        browser.save_screenshot(str(tmp_path / "live-empty.png"))

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
        assert browser.find_element(By.ID, "latest-humidity").text == "61 %"  # whole percents
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "live"))
        assert browser.find_element(By.ID, "count").text == "1"
        # The first reading arrived: the page says no more that there is none.
        wait.until(ec.invisibility_of_element_located((By.ID, "empty-state")))
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


def _hours(times: list[datetime]) -> int:
    """How many hourly buckets the readings at ``times`` fall in."""
    return len({t.replace(minute=0, second=0, microsecond=0) for t in times})


@needs_browser
@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_the_ranges_query_raw_or_hourly_data_over_the_whole_range(
    tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    owner: Any = BeekeeperFactory(email="alice@example.com")
    device = make_hive(owner, "e2e-002")
    now = datetime.now(UTC).replace(microsecond=0)
    fresh = [now - timedelta(minutes=m) for m in (9, 7, 5, 3, 1)]
    days_3 = [now - timedelta(days=3, minutes=m) for m in (0, 10, 20, 70)]
    days_20 = [now - timedelta(days=20, minutes=m) for m in (0, 30)]
    readings_ingest(
        device_id=device.device_id,
        readings=[
            {"time": iso_time(t), "temperature": 34.0 + i / 10, "weight": 40.0 + i / 10}
            for i, t in enumerate(days_20 + days_3 + fresh)
        ],
    )
    # Readings older than the hourly aggregate's watermark show in /hourly once their
    # hours are refreshed (telemetry.late_data, every few seconds): do it now, so what the
    # page shows does not depend on where earlier tests left the watermark.
    late_refresh_flush()
    env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": database_url("telemetry")}
    with daphne(env, tmp_path / "daphne.log") as server:
        # A range the page does not know: 24 h, with a notice, and the address says 24h.
        log_in(browser, server.base_url, owner, f"/hives/{device.hive.id}/live?range=1y")
        wait = WebDriverWait(browser, 15)
        # The login form's POST and its redirect may still be on the way.
        root = wait.until(ec.presence_of_element_located((By.ID, "charts")))
        notice = browser.find_element(By.ID, "range-notice")
        assert "Unknown range" in notice.text and "1y" in notice.text
        assert browser.current_url.endswith(f"/hives/{device.hive.id}/live?range=24h")
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "live"))
        assert not browser.find_element(By.ID, "empty-state").is_displayed()
        canvas = browser.find_element(By.CSS_SELECTOR, '.chart[data-metric="temperature"] canvas')
        weight = browser.find_element(By.CSS_SELECTOR, '.chart[data-metric="weight"] canvas')

        def chart_shows(range_key: str, points: int, live: int | None = None) -> dict[str, Any]:
            """Wait until the charts show ``range_key`` loaded with ``points`` on the line
            (and ``live`` dots); then what the temperature canvas says of its axes."""

            def ready(_: Any) -> bool:
                return (
                    root.get_attribute("data-range") == range_key
                    and root.get_attribute("data-state") == "ready"
                    and canvas.get_attribute("data-points") == str(points)
                    and (live is None or canvas.get_attribute("data-live-points") == str(live))
                )

            try:
                wait.until(ready)
            except Exception:
                browser.save_screenshot(str(tmp_path / f"range-{range_key}.png"))
                raise AssertionError(
                    f"{range_key}: {root.get_attribute('data-state')}"
                    f" {canvas.get_attribute('data-points')} points"
                    f" {canvas.get_attribute('data-live-points')} live,"
                    f" {browser.find_element(By.ID, 'range-state').text!r}"
                ) from None
            start = datetime.fromisoformat(canvas.get_attribute("data-x-start"))
            end = datetime.fromisoformat(canvas.get_attribute("data-x-end"))
            current = browser.find_elements(By.CSS_SELECTOR, '#ranges a[aria-current="page"]')
            assert [a.get_attribute("data-range") for a in current] == [range_key]
            assert browser.current_url.endswith(f"?range={range_key}")
            assert canvas.get_attribute("data-y-unit") == "°C"
            assert weight.get_attribute("data-y-unit") == "kg"
            return {
                "span": end - start,
                "end": end,
                "ticks": canvas.get_attribute("data-ticks").split("|"),
                "request": root.get_attribute("data-request"),
            }

        # 24 h: the raw readings, the five fresh ones at their place near the axis' end.
        day = chart_shows("24h", points=len(fresh))
        assert abs(day["span"] - timedelta(hours=24)) < timedelta(seconds=1)
        assert abs(day["end"] - datetime.now(UTC)) < timedelta(minutes=2)
        assert day["request"].startswith(f"/hives/{device.hive.id}/telemetry?start=")
        assert "limit=5000" in day["request"]
        assert any(re.search(r"\d:\d\d", label) for label in day["ticks"]), day["ticks"]
        assert browser.find_element(By.ID, "count").text == str(len(fresh))
        browser.save_screenshot(str(tmp_path / "range-24h.png"))

        # 7 d: hourly averages, the readings of 3 days ago among them.
        browser.find_element(By.CSS_SELECTOR, '#ranges a[data-range="7d"]').click()
        assert not browser.find_element(By.ID, "range-notice").is_displayed()
        week = chart_shows("7d", points=_hours(days_3 + fresh), live=0)
        assert abs(week["span"] - timedelta(days=7)) < timedelta(seconds=1)
        assert week["request"].startswith(f"/hives/{device.hive.id}/telemetry/hourly?start=")
        assert "limit=" not in week["request"]
        assert week["ticks"] != day["ticks"]
        assert 5 <= len(week["ticks"]) <= 8  # a tick a day
        assert not any(":" in label for label in week["ticks"]), week["ticks"]
        assert browser.find_element(By.ID, "count").text == str(_hours(days_3 + fresh))
        assert "hourly average" in browser.find_element(By.ID, "legend").text
        browser.save_screenshot(str(tmp_path / "range-7d.png"))

        # A live reading in 7 d: a dot over the hourly line, and the latest value.
        status, body = server.post_json(
            "/telemetry",
            {"time": iso_time(datetime.now(UTC)), "temperature": 35.5, "weight": 41.1},
            headers={"X-Device-Key": device.key},
        )
        assert status == 201, body
        wait.until(ec.text_to_be_present_in_element((By.ID, "latest-temperature"), "35.5 °C"))
        chart_shows("7d", points=_hours(days_3 + fresh), live=1)
        assert "+ 1 live reading)" in browser.find_element(By.TAG_NAME, "footer").text

        # The choice survives a reload.
        browser.refresh()
        root = browser.find_element(By.ID, "charts")
        canvas = browser.find_element(By.CSS_SELECTOR, '.chart[data-metric="temperature"] canvas')
        weight = browser.find_element(By.CSS_SELECTOR, '.chart[data-metric="weight"] canvas')
        live_hour = datetime.now(UTC)
        chart_shows("7d", points=_hours([*days_3, *fresh, live_hour]))

        # 30 d: the readings of 20 days ago too, with date ticks.
        browser.find_element(By.CSS_SELECTOR, '#ranges a[data-range="30d"]').click()
        month = chart_shows("30d", points=_hours([*days_20, *days_3, *fresh, live_hour]))
        assert abs(month["span"] - timedelta(days=30)) < timedelta(seconds=1)
        assert month["request"].startswith(f"/hives/{device.hive.id}/telemetry/hourly?start=")
        assert month["ticks"] != week["ticks"]
        assert 3 <= len(month["ticks"]) <= 10
        browser.save_screenshot(str(tmp_path / "range-30d.png"))

        # Back to 7 d with the browser's back button, then 24 h: raw again, the live
        # reading among them.
        browser.back()
        chart_shows("7d", points=_hours([*days_3, *fresh, live_hour]))
        browser.find_element(By.CSS_SELECTOR, '#ranges a[data-range="24h"]').click()
        again = chart_shows("24h", points=len(fresh) + 1)
        assert again["request"].startswith(f"/hives/{device.hive.id}/telemetry?start=")
        assert browser.find_element(By.ID, "status").text == "live"
        errors = [e["message"] for e in browser.get_log("browser") if "Uncaught" in e["message"]]
        assert not errors, errors
