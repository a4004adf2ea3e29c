"""The live page's alerts at hand: an "Acknowledge" button on each open alert for whoever
the alert admin's action allows, its POST (console.live_views.hive_live_alert_acknowledge),
and what the page tells its script: after how long the sensor counts as silent and how
many digits each metric's values get (the browser side: tests/e2e/test_phone.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.services import BEEKEEPERS_GROUP
from alerts.models import Alert, AlertRule, Kind, Status
from alerts.selectors import no_data_minutes
from alerts.services import rule_create
from apiary.models import Membership
from tests.accounts.factories import PASSWORD, BeekeeperFactory
from tests.telemetry.conftest import make_hive

PAGE_DB = pytest.mark.django_db(databases=["default", "telemetry"])
BUTTON = 'class="alert-ack"'
JSON = {"HTTP_ACCEPT": "application/json"}


def _client(user: Any) -> Client:
    client = Client()
    assert client.login(email=user.email, password=PASSWORD)
    return client


def _alert(user: Any, hive: Any, kind: str = Kind.THRESHOLD) -> Alert:
    rule = AlertRule.objects.create(user=user, kind=kind, hive=hive)
    return Alert.objects.create(
        user=user,
        rule=rule,
        hive=hive,
        kind=kind,
        started_at=datetime.now(UTC) - timedelta(minutes=5),
        message=f"{hive.name}: weight above 41.5 kg",
    )


def _config(html: str) -> dict[str, Any]:
    start = html.index('<script id="live-config" type="application/json">') + len(
        '<script id="live-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def _url(hive: Any, alert: Any) -> str:
    return f"/hives/{hive.pk}/live/alerts/{alert.pk}/acknowledge"


@pytest.fixture
def world(db: None) -> dict[str, Any]:
    """alice's hive with her open alert; dave views her apiary."""
    alice: Any = BeekeeperFactory(email="alice@example.com")
    dave: Any = BeekeeperFactory(email="dave@example.com")
    hive = make_hive(alice, "ack-001").hive
    Membership.objects.create(apiary=hive.apiary, user=dave, email=dave.email, role="viewer")
    return {"alice": alice, "dave": dave, "hive": hive, "alert": _alert(alice, hive)}


@PAGE_DB
def test_the_owner_acknowledges_an_open_alert_from_the_live_page(world: dict[str, Any]) -> None:
    hive, alert = world["hive"], world["alert"]
    client = _client(world["alice"])
    page = client.get(f"/hives/{hive.pk}/live").content.decode()
    assert BUTTON in page and _url(hive, alert) in page
    assert _config(page)["acknowledgeUrl"] == f"/hives/{hive.pk}/live/alerts/0/acknowledge"

    response = client.post(_url(hive, alert), **JSON)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == alert.pk and body["status"] == "acknowledged"
    alert.refresh_from_db()
    assert alert.status == Status.ACKNOWLEDGED and alert.acknowledged_at is not None
    # Acknowledged: no button any more; acknowledging again changes nothing.
    assert BUTTON not in client.get(f"/hives/{hive.pk}/live").content.decode()
    again = client.post(_url(hive, alert), **JSON)
    assert again.status_code == 200 and again.json()["acknowledged_at"] == body["acknowledged_at"]


@PAGE_DB
def test_a_form_posted_without_the_script_goes_back_to_the_page(world: dict[str, Any]) -> None:
    hive, alert = world["hive"], world["alert"]
    response = _client(world["alice"]).post(_url(hive, alert))
    assert response.status_code == 303
    assert response["Location"] == f"/hives/{hive.pk}/live"
    alert.refresh_from_db()
    assert alert.status == Status.ACKNOWLEDGED


@PAGE_DB
def test_a_post_without_the_csrf_token_is_refused(world: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.login(email=world["alice"].email, password=PASSWORD)
    assert client.post(_url(world["hive"], world["alert"]), **JSON).status_code == 403
    world["alert"].refresh_from_db()
    assert world["alert"].status == Status.OPEN


@PAGE_DB
def test_a_viewer_gets_no_button_and_a_403_for_the_owners_alert(world: dict[str, Any]) -> None:
    hive, alert = world["hive"], world["alert"]
    client = _client(world["dave"])
    page = client.get(f"/hives/{hive.pk}/live").content.decode()
    assert BUTTON not in page and alert.message not in page
    refused = client.post(_url(hive, alert), **JSON)
    assert refused.status_code == 403
    # The same answer as for an alert that does not exist: nothing to tell them apart.
    missing = client.post(f"/hives/{hive.pk}/live/alerts/999999/acknowledge", **JSON)
    assert missing.status_code == 403 and missing.json() == refused.json()
    alert.refresh_from_db()
    assert alert.status == Status.OPEN


@PAGE_DB
def test_a_member_acknowledges_an_alert_of_their_own_rule(world: dict[str, Any]) -> None:
    """As in the admin and the API: alerts are each user's own, a member's included."""
    hive = world["hive"]
    own = _alert(world["dave"], hive, kind=Kind.SWARM)
    client = _client(world["dave"])
    assert _url(hive, own) in client.get(f"/hives/{hive.pk}/live").content.decode()
    response = client.post(_url(hive, own), **JSON)
    assert response.status_code == 200
    # A swarm alert ends when acknowledged.
    assert response.json()["status"] == "acknowledged" and response.json()["resolved_at"]


@PAGE_DB
def test_without_the_admins_acknowledge_permission_no_button_and_403(
    world: dict[str, Any],
) -> None:
    """The alert admin's action is for beekeepers (the Beekeepers group): a user taken
    out of it keeps seeing the page but may not acknowledge, there either."""
    alice, hive, alert = world["alice"], world["hive"], world["alert"]
    alice.groups.remove(Group.objects.get(name=BEEKEEPERS_GROUP))
    client = _client(alice)
    page = client.get(f"/hives/{hive.pk}/live").content.decode()
    assert alert.message in page and BUTTON not in page
    assert "acknowledgeUrl" not in _config(page)
    assert client.post(_url(hive, alert), **JSON).status_code == 403
    alert.refresh_from_db()
    assert alert.status == Status.OPEN


@PAGE_DB
def test_a_stranger_gets_404_and_a_get_405(world: dict[str, Any]) -> None:
    carol: Any = BeekeeperFactory(email="carol@example.com")
    hive, alert = world["hive"], world["alert"]
    response = _client(carol).post(_url(hive, alert), **JSON)
    assert response.status_code == 404 and response.json() == {"detail": "No such hive."}
    assert _client(world["alice"]).get(_url(hive, alert)).status_code == 405
    alert.refresh_from_db()
    assert alert.status == Status.OPEN


# --- The badge's silence and the values' digits -----------------------------------------


@PAGE_DB
def test_the_sensor_counts_as_silent_after_the_viewers_no_data_rule(
    world: dict[str, Any],
) -> None:
    alice, dave, hive = world["alice"], world["dave"], world["hive"]
    AlertRule.objects.filter(kind=Kind.NO_DATA).delete()  # the defaults of new accounts
    page = _client(alice).get(f"/hives/{hive.pk}/live").content.decode()
    assert _config(page)["silentAfterSeconds"] == 3600  # no rule: the overview's "stale"
    rule_create(actor=alice, kind="no_data", hive=hive, params={"minutes": 20})
    rule_create(actor=alice, kind="no_data", apiary=hive.apiary, params={"minutes": 45})
    assert no_data_minutes(user=alice, hive=hive) == 20
    page = _client(alice).get(f"/hives/{hive.pk}/live").content.decode()
    assert _config(page)["silentAfterSeconds"] == 20 * 60
    # alice's rules are hers: dave's page keeps the default.
    assert no_data_minutes(user=dave, hive=hive) is None
    page = _client(dave).get(f"/hives/{hive.pk}/live").content.decode()
    assert _config(page)["silentAfterSeconds"] == 3600


@PAGE_DB
def test_a_disabled_no_data_rule_does_not_count(world: dict[str, Any]) -> None:
    alice, hive = world["alice"], world["hive"]
    AlertRule.objects.filter(kind=Kind.NO_DATA).delete()  # the defaults of new accounts
    rule = rule_create(actor=alice, kind="no_data", hive=hive, params={"minutes": 10})
    AlertRule.objects.filter(pk=rule.pk).update(enabled=False)
    assert no_data_minutes(user=alice, hive=hive) is None


@PAGE_DB
def test_each_chart_says_how_many_digits_its_values_get(world: dict[str, Any]) -> None:
    page = _client(world["alice"]).get(f"/hives/{world['hive'].pk}/live").content.decode()
    for metric, decimals in {
        "temperature": 1,
        "humidity": 0,
        "weight": 2,
        "battery": 2,
        "rssi": 0,
        "snr": 1,
    }.items():
        assert f'data-metric="{metric}" ' in page
        section = page[page.index(f'data-metric="{metric}" ') :]
        assert f'data-decimals="{decimals}"' in section[: section.index(">")], metric
