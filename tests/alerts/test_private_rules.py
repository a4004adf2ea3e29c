"""Alerts stay with their user: members' rules write nothing into the shared hive history,
and ALERT_RULES_MAX_PER_USER bounds a user's rules (API, admin, concurrent creates)."""

from __future__ import annotations

import importlib
import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from alerts import services
from alerts.models import Alert, AlertRule, Delivery, Kind
from apiary.models import Event, Membership
from telemetry.services import readings_ingest
from telemetry.validation import iso_time
from tests.alerts.conftest import FLOW

DEFAULT_RULES = 3  # every new user's account-wide swarm, brood temperature and no-data rules

# Any temperature at all is "above 0 for 0 minutes": one reading fires every such rule.
ALWAYS = {"metric": "temperature", "above": 0, "for_minutes": 0}


def _join(hive: Any, user: Any, role: str) -> None:
    Membership.objects.create(apiary=hive.apiary, user=user, email=user.email, role=role)


def _one_reading(device_id: str = "scale-3") -> None:
    at = timezone.now() - timedelta(minutes=1)
    readings_ingest(
        device_id=device_id, readings=[{"time": iso_time(at), "temperature": 34.5}], now=at
    )


def _alert_events(hive: Any) -> list[Event]:
    return list(Event.objects.filter(hive=hive, type=Event.Type.ALERT))


# --- Members' rules are private ---------------------------------------------------------


@FLOW
@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_a_members_rules_write_no_event_into_the_shared_history(hive, alice, bob, as_bob, role):
    """The issue's reproduction: 25 rules of a member and one reading put 25 events, with
    the member's thresholds, into the owner's history. Now the member alone is told."""
    _join(hive, bob, role)
    for above in range(25):
        services.rule_create(
            actor=bob, kind=Kind.THRESHOLD, hive=hive, params={**ALWAYS, "above": above}
        )

    _one_reading()

    assert Alert.objects.filter(user=bob, hive=hive).count() == 25
    assert _alert_events(hive) == []
    assert Alert.objects.filter(user=bob, event__isnull=False).count() == 0
    # bob still gets each of his alerts: in the API and queued for his email.
    listed = as_bob.get("/alerts", {"hive": hive.pk}).json()
    assert listed["count"] == 25
    assert {a["values"]["above"] for a in listed["results"]} == set(range(25))
    assert Delivery.objects.filter(alert__user=bob, channel="email").count() == 25
    # Nothing of bob's reaches alice, the owner (her own rules did not fire).
    assert not Alert.objects.filter(user=alice).exists()
    assert not Event.objects.filter(hive__apiary__owner=alice).exists()


@FLOW
def test_a_members_webhook_still_gets_their_alert(hive, bob, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    _join(hive, bob, "viewer")
    webhook = services.webhook_create(actor=bob, url="http://127.0.0.1:9/hook")
    rule = services.rule_create(actor=bob, kind=Kind.THRESHOLD, hive=hive, params=ALWAYS)

    _one_reading()

    [alert] = Alert.objects.filter(rule=rule)
    assert alert.event_id is None
    assert Delivery.objects.filter(alert=alert, webhook=webhook).exists()


@FLOW
def test_the_owners_rule_still_writes_the_hive_history(hive, alice, bob, as_bob):
    """The owner's rules are the hive's record: every member reads those events, and
    nothing of the members' own rules is among them."""
    _join(hive, bob, "editor")
    services.rule_create(
        actor=alice, kind=Kind.THRESHOLD, hive=hive, params={**ALWAYS, "above": 30}
    )
    services.rule_create(actor=bob, kind=Kind.THRESHOLD, hive=hive, params={**ALWAYS, "above": 7})

    _one_reading()

    [event] = _alert_events(hive)
    [alices] = Alert.objects.filter(user=alice)
    assert alices.event == event
    assert event.details["alert"] == alices.pk and event.details["above"] == 30
    assert Alert.objects.get(user=bob).event_id is None
    # What bob (a member) reads of the hive's history: alice's alert only.
    seen = as_bob.get("/events", {"hive": hive.pk, "type": "alert"}).json()["results"]
    assert [e["id"] for e in seen] == [event.pk]
    assert all(e["details"].get("above") != 7 for e in seen)
    # The owner's alert itself stays hers.
    assert as_bob.get(f"/alerts/{alices.pk}").status_code == 404


@FLOW
def test_an_account_wide_rule_of_the_owner_writes_the_history(hive, alice):
    AlertRule.objects.filter(user=alice).delete()
    services.rule_create(actor=alice, kind=Kind.THRESHOLD, params=ALWAYS)  # all my hives

    _one_reading()

    [event] = _alert_events(hive)
    assert Alert.objects.get(user=alice).event == event


@pytest.mark.django_db
def test_events_members_rules_wrote_before_are_removed_by_the_migration(hive, alice, bob):
    """alerts 0003 deletes the alert events of members' rules already in a history; the
    owner's stay, and so do the members' alerts themselves."""
    _join(hive, bob, "viewer")

    def alert_with_event(user: Any, rule: AlertRule | None) -> Alert:
        event = Event.objects.create(
            hive=hive, type=Event.Type.ALERT, occurred_at=timezone.now(), details={"above": 1}
        )
        return Alert.objects.create(
            user=user,
            rule=rule,
            hive=hive,
            kind=Kind.THRESHOLD,
            started_at=timezone.now(),
            message="m",
            event=event,
        )

    bobs_rule = services.rule_create(actor=bob, kind=Kind.THRESHOLD, hive=hive, params=ALWAYS)
    alices_rule = services.rule_create(actor=alice, kind=Kind.THRESHOLD, hive=hive, params=ALWAYS)
    bobs = alert_with_event(bob, bobs_rule)
    bobs_orphan = alert_with_event(bob, None)  # his rule deleted since
    alices = alert_with_event(alice, alices_rule)

    migration = importlib.import_module("alerts.migrations.0003_member_alert_events")
    migration.forwards(apps, SimpleNamespace(connection=connection))

    assert [e.pk for e in _alert_events(hive)] == [alices.event_id]
    for alert in (bobs, bobs_orphan):
        alert.refresh_from_db()
        assert alert.event_id is None
    assert Alert.objects.count() == 3


# --- ALERT_RULES_MAX_PER_USER -----------------------------------------------------------


@pytest.mark.django_db
def test_one_rule_more_than_the_limit_is_a_400_and_creates_nothing(as_alice, alice, settings):
    settings.ALERT_RULES_MAX_PER_USER = DEFAULT_RULES + 1
    body = {"kind": "threshold", "params": ALWAYS}
    assert as_alice.post("/alert-rules", body, format="json").status_code == 201

    response = as_alice.post("/alert-rules", body, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": [
            "You have 4 alert rules, the most allowed is 4: delete or change one of them instead."
        ]
    }
    assert AlertRule.objects.filter(user=alice).count() == DEFAULT_RULES + 1
    # Deleting one makes room again.
    rule = AlertRule.objects.filter(user=alice).last()
    assert as_alice.delete(f"/alert-rules/{rule.pk}").status_code == 204
    assert as_alice.post("/alert-rules", body, format="json").status_code == 201


@pytest.mark.django_db
def test_the_limit_is_per_user(as_bob, alice, bob, settings):
    settings.ALERT_RULES_MAX_PER_USER = DEFAULT_RULES
    response = as_bob.post("/alert-rules", {"kind": "swarm"}, format="json")
    assert response.status_code == 400 and "non_field_errors" in response.json()
    for _ in range(2):  # alice at the same limit is not bob's business
        with pytest.raises(ValidationError):
            services.rule_create(actor=alice, kind=Kind.SWARM)
    assert AlertRule.objects.filter(user=bob).count() == DEFAULT_RULES


@pytest.mark.django_db
def test_rules_left_on_a_hive_the_user_lost_do_not_fill_the_quota(hive, bob, as_bob, settings):
    """Rules on a hive bob no longer has a role in are hidden from him and inert: he could
    not delete them, so they must not keep him from adding rules."""
    _join(hive, bob, "viewer")
    services.rule_create(actor=bob, kind=Kind.SWARM, hive=hive)
    Membership.objects.filter(user=bob).delete()
    settings.ALERT_RULES_MAX_PER_USER = DEFAULT_RULES + 1

    assert as_bob.post("/alert-rules", {"kind": "swarm"}, format="json").status_code == 201


@pytest.mark.django_db(databases=["default", "telemetry"])
def test_one_rule_more_than_the_limit_is_a_form_error_in_the_admin(alice, settings):
    settings.ALERT_RULES_MAX_PER_USER = DEFAULT_RULES
    client = Client()
    client.force_login(alice)

    response = client.post(
        "/admin/alerts/alertrule/add/",
        {"kind": "swarm", "hive": "", "apiary": "", "params": "{}", "enabled": "on"},
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert errors == [
        "You have 3 alert rules, the most allowed is 3: delete or change one of them instead."
    ]
    assert AlertRule.objects.filter(user=alice).count() == DEFAULT_RULES


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_cannot_pass_the_limit(alice, settings):
    """The second create waits for the first one's transaction, then counts its rule: it
    is refused. Without the lock both would count the same rules and both be created."""
    settings.ALERT_RULES_MAX_PER_USER = DEFAULT_RULES + 1
    outcome: dict[str, Any] = {}

    def second() -> None:
        try:
            outcome["rule"] = services.rule_create(actor=alice, kind=Kind.SWARM)
        except ValidationError as exc:
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=second)
    with transaction.atomic():
        services.rule_create(actor=alice, kind=Kind.SWARM)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            [mine] = cursor.fetchone()
        thread.start()
        # Commit only once the second create is waiting on a lock (or has finished,
        # which the assertions below then refuse): a synchronisation, not a timing.
        for _ in range(1000):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid <> %s"
                    " AND datname = current_database() AND wait_event_type = 'Lock'",
                    [mine],
                )
                if cursor.fetchone()[0] or not thread.is_alive():
                    break
            time.sleep(0.01)
    thread.join()

    assert "rule" not in outcome
    assert "the most allowed is 4" in str(outcome["error"])
    assert AlertRule.objects.filter(user=alice).count() == DEFAULT_RULES + 1
