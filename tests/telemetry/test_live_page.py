from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from alerts.models import Alert, AlertRule, Kind, Status
from apiary.models import Membership
from tests.accounts.factories import PASSWORD, BeekeeperFactory
from tests.telemetry.conftest import make_hive


def _client(user: Any) -> Client:
    client = Client()
    client.login(email=user.email, password=PASSWORD)
    return client


def _alert(user: Any, hive: Any, message: str, **fields: Any) -> Alert:
    """A swarm alert of ``user``'s on ``hive``, from their swarm rule (one made if none)."""
    rule = AlertRule.objects.filter(user=user, kind=Kind.SWARM).first()
    if rule is None:
        rule = AlertRule.objects.create(user=user, kind=Kind.SWARM, hive=hive)
    return Alert.objects.create(
        user=user,
        rule=rule,
        hive=hive,
        kind=Kind.SWARM,
        started_at=datetime.now(UTC) - timedelta(minutes=5),
        message=message,
        **fields,
    )


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


@pytest.mark.django_db
def test_live_page_lists_the_viewers_active_alerts_on_the_hive() -> None:
    alice: Any = BeekeeperFactory(email="alice@example.com")
    bob: Any = BeekeeperFactory(email="bob@example.com")
    device = make_hive(alice, "page-001")
    hive = device.hive
    elsewhere = make_hive(alice, "page-002").hive
    # bob is a member with a rule of his own on the hive: his alerts are his alone.
    Membership.objects.create(apiary=hive.apiary, user=bob, email=bob.email, role="viewer")
    AlertRule.objects.filter(user=bob).delete()
    mine = _alert(alice, hive, "Hive <b>1</b> lost 2.4 kg in 9 min — possible swarm")
    _alert(
        alice, hive, "an old swarm, resolved", resolved_at=datetime.now(UTC), status=Status.RESOLVED
    )
    _alert(alice, elsewhere, "a swarm on another hive")
    theirs = _alert(bob, hive, "the swarm alert of bob")

    html = _client(alice).get(f"/hives/{hive.id}/live").content.decode()
    assert f'data-alert-id="{mine.pk}"' in html
    assert "Hive &lt;b&gt;1&lt;/b&gt; lost 2.4 kg in 9 min — possible swarm" in html
    assert "<b>1</b>" not in html
    assert '<span id="alert-count" class="alert-count">1</span>' in html
    assert 'class="no-alerts" hidden' in html
    for absent in ("an old swarm, resolved", "a swarm on another hive", "the swarm alert of bob"):
        assert absent not in html
    assert f'data-alert-id="{theirs.pk}"' not in html
    assert 'id="alert-kinds"' in html  # the kinds' labels, for alerts added live
    # What live.js reads after each (re)connection, and to check an alert it is told of.
    url = f"/alerts?hive={hive.id}&page_size=100"
    assert f'data-alerts-url="{url.replace("&", "&amp;")}"' in html
    listed = _client(alice).get(url)
    assert listed.status_code == 200
    assert {a["id"] for a in listed.json()["results"]} >= {mine.pk}
    assert _client(alice).get(f"/alerts/{theirs.pk}").status_code == 404

    as_bob = _client(bob).get(f"/hives/{hive.id}/live").content.decode()
    assert "the swarm alert of bob" in as_bob and "possible swarm" not in as_bob

    quiet = _client(alice).get(f"/hives/{elsewhere.id}/live").content.decode()
    assert "a swarm on another hive" in quiet
    empty = make_hive(alice, "page-003").hive
    page = _client(alice).get(f"/hives/{empty.id}/live").content.decode()
    assert '<p id="no-alerts" class="no-alerts">No active alerts on this hive.</p>' in page
