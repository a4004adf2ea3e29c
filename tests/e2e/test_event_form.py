"""Recording an inspection in the admin's typed form, in headless Chromium: log in, choose
"Record inspection", see only the inspection's fields, fill them in, save, and find the
inspection in the event list with its details as short text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apiary.models import Event
from tests.accounts.factories import BeekeeperFactory
from tests.e2e.conftest import log_in, needs_browser
from tests.factories import ApiaryFactory, HiveFactory
from tests.servers import daphne, database_url


def _section(browser: Any, event_type: str) -> Any:
    from selenium.webdriver.common.by import By

    return browser.find_element(By.CSS_SELECTOR, f"fieldset.event-details-{event_type}")


@needs_browser
@pytest.mark.django_db(transaction=True, databases=["default", "telemetry"])
def test_an_inspection_recorded_in_the_typed_form_shows_in_the_list(
    tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    keeper: Any = BeekeeperFactory(email="alice@example.com")
    hive = HiveFactory(apiary=ApiaryFactory(owner=keeper, name="Orchard"), name="Linden")
    env = {"POSTGRES_URL": database_url("default"), "TIMESCALE_URL": database_url("telemetry")}
    with daphne(env, tmp_path / "daphne.log") as server:
        log_in(browser, server.base_url, keeper, "/admin/apiary/event/")
        wait = WebDriverWait(browser, 15)

        # The list offers a button per typed record; this one chooses the inspection.
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "a.record-inspection"))).click()
        wait.until(ec.visibility_of_element_located((By.ID, "id_inspection_queen_seen")))
        assert Select(browser.find_element(By.ID, "id_type")).first_selected_option.text == (
            "Inspection"
        )
        assert _section(browser, "inspection").is_displayed()
        for other in ("feeding", "treatment", "harvest", "split"):
            assert not _section(browser, other).is_displayed(), other

        # Choosing another type shows its section instead, without a reload.
        Select(browser.find_element(By.ID, "id_type")).select_by_value("harvest")
        assert _section(browser, "harvest").is_displayed()
        assert not _section(browser, "inspection").is_displayed()
        Select(browser.find_element(By.ID, "id_type")).select_by_value("inspection")
        assert _section(browser, "inspection").is_displayed()

        Select(browser.find_element(By.ID, "id_hive")).select_by_value(str(hive.id))
        # The form starts at now (#26): the date and time of this visit replace it.
        for field_id, value in (
            ("id_occurred_at_0", "2026-06-01"),
            ("id_occurred_at_1", "10:30:00"),
        ):
            box = browser.find_element(By.ID, field_id)
            assert box.get_attribute("value")  # pre-filled
            box.clear()
            box.send_keys(value)
        browser.find_element(By.ID, "id_notes").send_keys("Strong colony, supers on")
        Select(browser.find_element(By.ID, "id_inspection_queen_seen")).select_by_value("true")
        Select(browser.find_element(By.ID, "id_inspection_eggs_seen")).select_by_value("true")
        browser.find_element(By.ID, "id_inspection_frames_of_brood").send_keys("6")
        browser.find_element(By.ID, "id_inspection_frames_of_bees").send_keys("9")
        Select(browser.find_element(By.ID, "id_inspection_temperament")).select_by_value("calm")
        browser.save_screenshot(str(tmp_path / "event-form.png"))
        browser.find_element(By.NAME, "_save").click()

        # Back on the list: the inspection, its details as text.
        wait.until(
            ec.presence_of_element_located((By.CSS_SELECTOR, "#result_list td.field-summary"))
        )
        summary = browser.find_element(By.CSS_SELECTOR, "#result_list td.field-summary").text
        assert summary == "queen seen, eggs, 6 frames brood, 9 frames bees, calm"
        assert "Linden" in browser.find_element(By.ID, "result_list").text
        browser.save_screenshot(str(tmp_path / "event-list.png"))

    event = Event.objects.get()
    assert (event.hive_id, event.type, event.notes) == (
        hive.id,
        "inspection",
        "Strong colony, supers on",
    )
    assert event.details == {
        "queen_seen": True,
        "eggs_seen": True,
        "frames_of_brood": 6,
        "frames_of_bees": 9,
        "temperament": "calm",
    }
