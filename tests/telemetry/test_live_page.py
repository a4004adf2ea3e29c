from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.accounts.factories import PASSWORD, BeekeeperFactory
from tests.telemetry.conftest import make_hive


@pytest.mark.django_db
def test_live_page_needs_a_login_and_shows_only_own_hives() -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    bob: Any = BeekeeperFactory(email="bob@example.com")
    device = make_hive(alice, "page-001")
    url = f"/hives/{device.hive.id}/live"

    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]

    as_bob = Client()
    as_bob.login(email=bob.email, password=PASSWORD)
    assert as_bob.get(url).status_code == 404

    as_alice = Client()
    as_alice.login(email=alice.email, password=PASSWORD)
    page = as_alice.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-ws-path="/ws/hive/{device.hive.id}/telemetry"' in html
    assert "/static/telemetry/live.js" in html
    assert "cdn" not in html.lower()
    assert as_alice.get("/static/telemetry/live.js").status_code == 200
