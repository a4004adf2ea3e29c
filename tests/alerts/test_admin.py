"""Alerts in the admin: each beekeeper's own alerts, rules and webhooks, saved through the
services; inspection windows from the hive's page."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from alerts import services
from alerts.models import Alert, AlertRule, Inspection, Status, Webhook
from apiary import members as apiary_members
from tests.accounts.factories import BeekeeperFactory
from tests.factories import HiveFactory, SuperuserFactory

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])  # hive pages: readings

DEFAULT_RULES = 3  # every new user's account-wide swarm, brood temperature and no-data rules


def _admin(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _alert(user: Any, hive: Any, kind: str = "swarm", message: str = "", **fields: Any) -> Alert:
    rule = AlertRule.objects.filter(user=user, kind=kind, hive=None, apiary=None).first()
    return Alert.objects.create(
        user=user,
        rule=rule,
        hive=hive,
        kind=kind,
        started_at=timezone.now(),
        message=message or f"{hive.name}: {kind}",
        values={"drop_kg": 2.1},
        **fields,
    )


def _member(apiary: Any, email: str, role: str) -> Any:
    user = BeekeeperFactory(email=email)
    apiary_members.member_invite(actor=apiary.owner, apiary=apiary, email=email, role=role)
    return user


def _messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _form_errors(response: Any) -> dict:
    return response.context["adminform"].form.errors


@pytest.fixture
def bob_hive(bob_apiary: Any) -> Any:
    return HiveFactory(apiary=bob_apiary, name="Bobs hive", device_id="bob-001")


# --- Alerts -----------------------------------------------------------------------------


def test_alice_sees_and_acknowledges_her_alerts_with_the_action(
    alice, bob, alice_hive, bob_hive
) -> None:
    swarm = _alert(alice, alice_hive, "swarm", "Hive A1: swarm, 2.1 kg gone")
    brood = _alert(alice, alice_hive, "brood_temperature", "Hive A1: brood too cold")
    bobs = _alert(bob, bob_hive, "swarm", "Bobs hive: swarm")
    client = _admin(alice)

    page = client.get("/admin/alerts/alert/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Hive A1: swarm, 2.1 kg gone" in html and "Hive A1: brood too cold" in html
    assert "Bobs hive" not in html
    assert '<option value="acknowledge">Acknowledge selected alerts</option>' in html
    assert "delete_selected" not in html

    response = client.post(
        "/admin/alerts/alert/",
        {"action": "acknowledge", "_selected_action": [swarm.pk, brood.pk, bobs.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Acknowledged 2 alert(s)." in _messages(response)
    for alert in (swarm, brood, bobs):
        alert.refresh_from_db()
    # A swarm alert ends when acknowledged; the others stay active until they clear.
    assert (swarm.status, swarm.resolved_at is not None) == (Status.ACKNOWLEDGED, True)
    assert (brood.status, brood.resolved_at) == (Status.ACKNOWLEDGED, None)
    assert bobs.status == Status.OPEN and bobs.acknowledged_at is None

    again = client.post(
        "/admin/alerts/alert/",
        {"action": "acknowledge", "_selected_action": [brood.pk]},
        follow=True,
    )
    assert "1 alert(s) were not open: left as they were." in _messages(again)


def test_the_acknowledge_action_goes_through_the_service(alice, alice_hive, monkeypatch) -> None:
    alert = _alert(alice, alice_hive)
    calls: list[dict] = []
    real = services.alert_acknowledge

    def spy(**kwargs: Any) -> Alert:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(services, "alert_acknowledge", spy)

    _admin(alice).post(
        "/admin/alerts/alert/", {"action": "acknowledge", "_selected_action": [alert.pk]}
    )

    assert [(c["alert"].pk, c["actor"]) for c in calls] == [(alert.pk, alice)]


def test_alice_acknowledges_an_alert_from_its_page(alice, alice_hive) -> None:
    alert = _alert(alice, alice_hive, "brood_temperature", "Hive A1: brood too cold")
    client = _csrf_client(alice)
    page_url = f"/admin/alerts/alert/{alert.pk}/change/"
    ack_url = f"/admin/alerts/alert/{alert.pk}/acknowledge/"
    html = client.get(page_url).content.decode()
    assert f'action="{ack_url}"' in html and ">Acknowledge</button>" in html
    assert client.get(ack_url).status_code == 405  # a button's POST only
    assert client.post(ack_url).status_code == 403  # no CSRF token
    token = client.cookies["csrftoken"].value

    response = client.post(ack_url, {"csrfmiddlewaretoken": token}, follow=True)

    assert response.redirect_chain == [(page_url, 302)]
    assert "Acknowledged: Hive A1: brood too cold." in _messages(response)
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_at) == (Status.ACKNOWLEDGED, None)
    # Acknowledged: the button is gone, and a second POST changes nothing.
    assert ack_url not in response.content.decode()
    again = client.post(ack_url, {"csrfmiddlewaretoken": token}, follow=True)
    assert any("not open" in message for message in _messages(again))


def test_acknowledging_goes_back_to_a_page_of_this_site_only(alice, alice_hive) -> None:
    client = _admin(alice)
    first, second = _alert(alice, alice_hive), _alert(alice, alice_hive, "no_data")

    home = client.post(f"/admin/alerts/alert/{first.pk}/acknowledge/", {"next": "/admin/"})
    away = client.post(
        f"/admin/alerts/alert/{second.pk}/acknowledge/", {"next": "https://evil.example/"}
    )

    assert home["Location"] == "/admin/"
    assert away["Location"] == f"/admin/alerts/alert/{second.pk}/change/"


def test_nobody_else_acknowledges_alices_alert_from_its_page(alice, alice_apiary, alice_hive):
    alert = _alert(alice, alice_hive)
    viewer = _member(alice_apiary, "dave@example.com", "viewer")
    editor = _member(alice_apiary, "erin@example.com", "editor")
    url = f"/admin/alerts/alert/{alert.pk}/acknowledge/"
    for user in (viewer, editor, BeekeeperFactory(email="charlie@example.com")):
        assert _admin(user).post(url).status_code == 404  # alerts are their user's own
    # A superuser reads alice's alert but may not acknowledge it for her.
    superuser = _admin(SuperuserFactory())
    page = superuser.get(f"/admin/alerts/alert/{alert.pk}/change/").content.decode()
    assert url not in page
    assert superuser.post(url).status_code == 403
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_at) == (Status.OPEN, None)


def test_a_viewer_acknowledges_only_the_alerts_of_their_own_rules(alice_apiary, alice_hive):
    viewer = _member(alice_apiary, "dave@example.com", "viewer")
    theirs = _alert(viewer, alice_hive, "no_data", "Hive A1: silent (dave's rule)")
    alices = _alert(alice_apiary.owner, alice_hive)
    client = _admin(viewer)

    assert client.post(f"/admin/alerts/alert/{alices.pk}/acknowledge/").status_code == 404
    assert client.post(f"/admin/alerts/alert/{theirs.pk}/acknowledge/").status_code == 302

    theirs.refresh_from_db()
    alices.refresh_from_db()
    assert (theirs.status, alices.status) == (Status.ACKNOWLEDGED, Status.OPEN)


def test_alert_pages_are_read_only(alice, alice_hive) -> None:
    alert = _alert(alice, alice_hive, message="Hive A1: swarm")
    client = _admin(alice)

    page = client.get(f"/admin/alerts/alert/{alert.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    # The values as labelled fields with units, not JSON (#26).
    assert "Hive A1: swarm" in html and "<dt>Drop</dt><dd>2.1 kg</dd>" in html
    assert "{&quot;drop_kg" not in html and '"drop_kg"' not in html
    assert 'name="_save"' not in html
    assert f"/admin/alerts/alert/{alert.pk}/delete/" not in html

    assert (
        client.post(f"/admin/alerts/alert/{alert.pk}/change/", {"message": "x"}).status_code == 403
    )
    assert client.get("/admin/alerts/alert/add/").status_code == 403
    assert client.get(f"/admin/alerts/alert/{alert.pk}/delete/").status_code == 403
    assert (
        client.post(f"/admin/alerts/alert/{alert.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    response = client.post(
        "/admin/alerts/alert/",
        {"action": "delete_selected", "_selected_action": [alert.pk], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    alert.refresh_from_db()
    assert alert.message == "Hive A1: swarm"


def test_alert_list_search_and_filters(alice, alice_hive) -> None:
    other = HiveFactory(apiary=alice_hive.apiary, name="Linden")
    _alert(alice, alice_hive, "swarm", "Hive A1: swarm")
    _alert(alice, other, "no_data", "Linden: silent", status=Status.ACKNOWLEDGED)
    client = _admin(alice)

    assert "Hive A1: swarm" not in client.get("/admin/alerts/alert/?q=Linden").content.decode()
    by_status = client.get("/admin/alerts/alert/?status__exact=acknowledged").content.decode()
    assert "Linden: silent" in by_status and "Hive A1: swarm" not in by_status
    by_kind = client.get("/admin/alerts/alert/?kind__exact=swarm").content.decode()
    assert "Hive A1: swarm" in by_kind and "Linden: silent" not in by_kind


# --- Nobody sees anyone else's ------------------------------------------------------------


def test_bob_sees_none_of_alices_alerts_rules_and_webhooks(alice, bob, alice_hive) -> None:
    alert = _alert(alice, alice_hive, message="Alice: secret alert")
    rule = services.rule_create(
        actor=alice, kind="threshold", hive=alice_hive, params={"metric": "weight", "below": 12}
    )
    webhook = Webhook.objects.create(
        user=alice, url="https://alice.example.com/hook", description="alice's hook", secret="s"
    )
    client = _admin(bob)

    alerts = client.get("/admin/alerts/alert/")
    assert alerts.context["cl"].result_count == 0
    assert "Alice: secret alert" not in alerts.content.decode()
    rules = client.get("/admin/alerts/alertrule/")
    assert rules.context["cl"].result_count == DEFAULT_RULES  # his own defaults only
    assert set(rules.context["cl"].result_list) == set(AlertRule.objects.filter(user=bob))
    webhooks = client.get("/admin/alerts/webhook/")
    assert webhooks.context["cl"].result_count == 0
    assert "alice.example.com" not in webhooks.content.decode()

    # Her objects' pages answer like ids that do not exist: back to the index.
    for path in (
        f"/admin/alerts/alert/{alert.pk}/change/",
        f"/admin/alerts/alertrule/{rule.pk}/change/",
        f"/admin/alerts/alertrule/{rule.pk}/delete/",
        f"/admin/alerts/webhook/{webhook.pk}/change/",
        f"/admin/alerts/webhook/{webhook.pk}/delete/",
    ):
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, "/admin/"), path

    # Nor can he act on them by naming their ids.
    client.post("/admin/alerts/alert/", {"action": "acknowledge", "_selected_action": [alert.pk]})
    client.post(f"/admin/alerts/alertrule/{rule.pk}/delete/", {"post": "yes"})
    client.post(f"/admin/alerts/webhook/{webhook.pk}/delete/", {"post": "yes"})
    client.post(
        f"/admin/alerts/alertrule/{rule.pk}/change/", {"params": '{"below": 5}', "enabled": "on"}
    )
    alert.refresh_from_db()
    rule.refresh_from_db()
    assert alert.status == Status.OPEN
    assert rule.params["below"] == 12
    assert Webhook.objects.filter(pk=webhook.pk).exists()

    # alice herself sees them all.
    own = _admin(alice)
    assert own.get("/admin/alerts/alert/").context["cl"].result_count == 1
    assert own.get("/admin/alerts/alertrule/").context["cl"].result_count == DEFAULT_RULES + 1
    assert own.get("/admin/alerts/webhook/").context["cl"].result_count == 1


def test_beekeepers_find_alerts_in_the_admin_index(alice) -> None:
    client = _admin(alice)
    index = client.get("/admin/").content.decode()
    for path in ("/admin/alerts/alert/", "/admin/alerts/alertrule/", "/admin/alerts/webhook/"):
        assert path in index
    assert client.get("/admin/alerts/").status_code == 200


def test_a_superuser_sees_everyones_alerts(alice, bob, alice_hive, bob_hive) -> None:
    _alert(alice, alice_hive, message="Alice: swarm")
    _alert(bob, bob_hive, message="Bob: swarm")
    html = _admin(SuperuserFactory()).get("/admin/alerts/alert/").content.decode()
    assert "Alice: swarm" in html and "Bob: swarm" in html


# --- Rules ------------------------------------------------------------------------------


def _rule_form(**fields: Any) -> dict[str, Any]:
    return {"kind": "swarm", "hive": "", "apiary": "", "enabled": "on", **fields}


def test_a_new_rules_page_has_a_field_per_parameter_of_each_kind(alice) -> None:
    page = _admin(alice).get("/admin/alerts/alertrule/add/")
    html = page.content.decode()
    assert 'name="params"' not in html  # no JSON box (#26)
    form = page.context["adminform"].form
    for name in ("swarm_drop_kg", "brood_temperature_max", "threshold_metric", "no_data_minutes"):
        assert f'name="{name}"' in html, name
    # The fields start at the rule's defaults; the sections are classed for rule_form.js.
    assert form.initial["swarm_drop_kg"] == 1.5 and form.initial["brood_temperature_min"] == 32
    assert "rule-params-weak_signal" in html and "alerts/rule_form.js" in html
    assert '<option value="weight">' in html  # threshold's metric: a choice, not text


def test_rule_with_bad_params_is_an_error_on_the_parameters_field(alice, alice_hive) -> None:
    response = _admin(alice).post(
        "/admin/alerts/alertrule/add/", _rule_form(hive=alice_hive.pk, swarm_drop_kg="999")
    )

    assert response.status_code == 200
    assert _form_errors(response)["swarm_drop_kg"] == [
        "Ensure this value is less than or equal to 50."
    ]
    assert 'value="999"' in response.content.decode()  # the page is shown again
    assert AlertRule.objects.filter(user=alice).count() == DEFAULT_RULES


def test_rule_params_out_of_range_is_a_form_error(alice, alice_hive) -> None:
    response = _admin(alice).post(
        "/admin/alerts/alertrule/add/",
        _rule_form(
            kind="brood_temperature",
            hive=alice_hive.pk,
            brood_temperature_min="37",
            brood_temperature_max="35",
            swarm_drop_kg="999",  # another kind's section: not used
        ),
    )

    assert response.status_code == 200
    errors = _form_errors(response)
    assert errors["brood_temperature_max"] == ["Must be above min."]
    assert "swarm_drop_kg" not in errors
    assert AlertRule.objects.filter(user=alice).count() == DEFAULT_RULES


def test_a_threshold_without_a_metric_says_so_on_its_field(alice, alice_hive) -> None:
    response = _admin(alice).post(
        "/admin/alerts/alertrule/add/",
        _rule_form(kind="threshold", hive=alice_hive.pk, threshold_below="12"),
    )
    assert _form_errors(response)["threshold_metric"] == ["This field is required."]


def test_an_emptied_nullable_parameter_is_not_watched(alice, alice_hive) -> None:
    response = _admin(alice).post(
        "/admin/alerts/alertrule/add/",
        _rule_form(
            kind="weak_signal", hive=alice_hive.pk, weak_signal_rssi_below="",
            weak_signal_snr_below="-8", weak_signal_for_minutes="",
        ),
    )  # fmt: skip

    assert response.status_code == 302, _form_errors(response)
    rule = AlertRule.objects.get(user=alice, kind="weak_signal")
    # rssi not watched; for_minutes left empty: the default.
    assert rule.params == {"rssi_below": None, "snr_below": -8.0, "for_minutes": 60}


def test_rule_with_hive_and_apiary_is_a_form_error(alice, alice_hive) -> None:
    response = _admin(alice).post(
        "/admin/alerts/alertrule/add/",
        _rule_form(hive=alice_hive.pk, apiary=alice_hive.apiary_id),
    )

    assert response.status_code == 200
    assert _form_errors(response)
    assert AlertRule.objects.filter(user=alice).count() == DEFAULT_RULES


def test_rule_added_and_changed_through_the_services(alice, alice_hive) -> None:
    client = _admin(alice)

    response = client.post(
        "/admin/alerts/alertrule/add/",
        _rule_form(
            kind="threshold", hive=alice_hive.pk, threshold_metric="weight", threshold_below="12"
        ),
    )

    assert response.status_code == 302, _form_errors(response)
    rule = AlertRule.objects.get(user=alice, kind="threshold")
    assert rule.hive == alice_hive and rule.apiary is None and rule.enabled
    assert rule.params == {"metric": "weight", "above": None, "below": 12.0, "for_minutes": 10}

    url = f"/admin/alerts/alertrule/{rule.pk}/change/"
    page = client.get(url)
    html = page.content.decode()
    assert 'name="kind"' not in html  # kind and scope are fixed
    # Its own kind's fields only, at the rule's values.
    assert 'name="threshold_below"' in html and 'name="swarm_drop_kg"' not in html
    assert page.context["adminform"].form.initial["threshold_below"] == 12.0

    response = client.post(  # as the browser sends the page; enabled unticked
        url,
        {
            "threshold_metric": "weight",
            "threshold_above": "",
            "threshold_below": "12",
            "threshold_for_minutes": "30",
        },
    )

    assert response.status_code == 302, _form_errors(response)
    rule.refresh_from_db()
    assert rule.params == {"metric": "weight", "above": None, "below": 12.0, "for_minutes": 30}
    assert not rule.enabled
    # The list says it in words.
    listing = client.get("/admin/alerts/alertrule/").content.decode()
    assert "Metric weight, Below 12, For minutes 30" in listing


def test_rule_change_with_bad_params_is_a_form_error(alice) -> None:
    rule = AlertRule.objects.get(user=alice, kind="no_data")

    response = _admin(alice).post(
        f"/admin/alerts/alertrule/{rule.pk}/change/", {"no_data_minutes": "1", "enabled": "on"}
    )

    assert response.status_code == 200
    assert _form_errors(response)["no_data_minutes"] == [
        "Ensure this value is greater than or equal to 5."
    ]
    rule.refresh_from_db()
    assert rule.params == {"minutes": 60}


def test_an_emptied_parameter_of_a_rule_keeps_its_value(alice) -> None:
    rule = AlertRule.objects.get(user=alice, kind="swarm")
    response = _admin(alice).post(
        f"/admin/alerts/alertrule/{rule.pk}/change/",
        {"swarm_drop_kg": "2.5", "swarm_window_minutes": "", "enabled": "on"},
    )
    assert response.status_code == 302, _form_errors(response)
    rule.refresh_from_db()
    assert rule.params == {"drop_kg": 2.5, "window_minutes": 30}


def test_a_superuser_reads_anothers_rule_in_words(alice) -> None:
    rule = AlertRule.objects.get(user=alice, kind="brood_temperature")
    html = _admin(SuperuserFactory()).get(f"/admin/alerts/alertrule/{rule.pk}/change/")
    text = html.content.decode()
    assert html.status_code == 200 and 'name="_save"' not in text
    assert "<dt>Min</dt><dd>32.0</dd>" in text and "{&quot;" not in text


def test_rule_form_offers_only_own_hives_and_apiaries(alice, alice_hive, bob_hive) -> None:
    client = _admin(alice)
    page = client.get("/admin/alerts/alertrule/add/").content.decode()
    assert "Hive A1" in page and "Orchard" in page
    assert "Bobs hive" not in page and "Meadow" not in page
    assert 'name="user"' not in page

    response = client.post("/admin/alerts/alertrule/add/", _rule_form(hive=bob_hive.pk))

    assert response.status_code == 200
    assert _form_errors(response)["hive"]
    assert not AlertRule.objects.filter(hive=bob_hive).exists()


def test_a_viewer_may_set_a_rule_on_a_shared_hive(alice_apiary, alice_hive) -> None:
    viewer = _member(alice_apiary, "dave@example.com", "viewer")

    response = _admin(viewer).post("/admin/alerts/alertrule/add/", _rule_form(hive=alice_hive.pk))

    assert response.status_code == 302, _form_errors(response)
    assert AlertRule.objects.get(hive=alice_hive).user == viewer


def test_rule_deleted_through_the_service(alice, alice_hive) -> None:
    rule = services.rule_create(actor=alice, kind="swarm", hive=alice_hive)
    alert = Alert.objects.create(
        user=alice, rule=rule, hive=alice_hive, kind="swarm", started_at=timezone.now(), message="m"
    )
    client = _admin(alice)
    url = f"/admin/alerts/alertrule/{rule.pk}/delete/"
    assert client.get(url).status_code == 200

    response = client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not AlertRule.objects.filter(pk=rule.pk).exists()
    alert.refresh_from_db()  # kept in the history, resolved by rule_delete
    assert alert.status == Status.RESOLVED and alert.resolved_at is not None


def test_delete_selected_rules_calls_the_service_for_each(alice, monkeypatch) -> None:
    mine = list(AlertRule.objects.filter(user=alice))
    calls: list[int] = []
    real = services.rule_delete

    def spy(**kwargs: Any) -> None:
        calls.append(kwargs["rule"].pk)
        real(**kwargs)

    monkeypatch.setattr(services, "rule_delete", spy)

    response = _admin(alice).post(
        "/admin/alerts/alertrule/",
        {"action": "delete_selected", "_selected_action": [r.pk for r in mine], "post": "yes"},
    )

    assert response.status_code == 302
    assert sorted(calls) == sorted(r.pk for r in mine)
    assert not AlertRule.objects.filter(user=alice).exists()


def test_a_hive_with_alerts_and_others_rules_can_still_be_deleted(
    alice, alice_apiary, alice_hive
) -> None:
    # Deleting the hive takes its alerts and everyone's rules on it with it: the hive's
    # service decides, not the alerts admin.
    editor = _member(alice_apiary, "erin@example.com", "editor")
    services.rule_create(actor=editor, kind="swarm", hive=alice_hive)
    _alert(alice, alice_hive)
    client = _admin(alice)
    url = f"/admin/apiary/hive/{alice_hive.pk}/delete/"

    page = client.get(url)
    assert page.status_code == 200
    assert not page.context["perms_lacking"] and not page.context["protected"]

    assert client.post(url, {"post": "yes"}).status_code == 302
    assert not Alert.objects.exists()
    assert not AlertRule.objects.filter(hive__isnull=False).exists()


# --- Webhooks ---------------------------------------------------------------------------


def test_webhook_to_an_internal_address_is_a_form_error(alice) -> None:
    response = _admin(alice).post(
        "/admin/alerts/webhook/add/", {"url": "http://127.0.0.1/", "description": "mine"}
    )

    assert response.status_code == 200
    assert "internal address" in " ".join(_form_errors(response)["url"])
    assert not Webhook.objects.exists()


@pytest.fixture
def public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """hooks.example.com resolves to a public address (no DNS in tests)."""

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list:
        assert host == "hooks.example.com"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_webhook_created_shows_its_secret_once(alice, bob, alice_hive, public_dns) -> None:
    client = _admin(alice)

    response = client.post(
        "/admin/alerts/webhook/add/",
        {"url": "https://hooks.example.com/bee", "description": "pager"},
        follow=True,
    )

    assert response.status_code == 200
    webhook = Webhook.objects.get(user=alice)
    assert (webhook.url, webhook.description) == ("https://hooks.example.com/bee", "pager")
    assert len(webhook.secret) == 64
    assert any(webhook.secret in message for message in _messages(response))
    page = client.get(f"/admin/alerts/webhook/{webhook.pk}/change/").content.decode()
    assert webhook.secret not in page
    assert 'name="_save"' not in page  # read-only: delete it and add another
    assert "None yet." in page

    alert = _alert(alice, alice_hive, message="Hive A1: swarm")
    alert.deliveries.create(channel="webhook", webhook=webhook, state="failed", attempts=3)
    page = client.get(f"/admin/alerts/webhook/{webhook.pk}/change/").content.decode()
    assert "Hive A1: swarm" in page and "Failed" in page
    assert client.get("/admin/alerts/webhook/").context["cl"].result_list[0].delivery_total == 1


def test_webhook_deleted_through_the_service(alice, monkeypatch) -> None:
    webhook = Webhook.objects.create(user=alice, url="https://hooks.example.com/", secret="s")
    calls: list[Any] = []
    real = services.webhook_delete

    def spy(**kwargs: Any) -> None:
        calls.append(kwargs)
        real(**kwargs)

    monkeypatch.setattr(services, "webhook_delete", spy)

    response = _admin(alice).post(f"/admin/alerts/webhook/{webhook.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert [c["actor"] for c in calls] == [alice]
    assert not Webhook.objects.exists()


# --- Inspection windows from the hive's page ----------------------------------------------


def _csrf_client(user: Any) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_owner_starts_and_stops_an_inspection_from_the_hive_page(alice, alice_hive) -> None:
    client = _csrf_client(alice)
    change_url = f"/admin/apiary/hive/{alice_hive.pk}/change/"
    start_url = f"/admin/apiary/hive/{alice_hive.pk}/inspection/start/"
    stop_url = f"/admin/apiary/hive/{alice_hive.pk}/inspection/stop/"
    page = client.get(change_url).content.decode()
    assert f'action="{start_url}"' in page and "Start inspection (60 min)" in page
    assert stop_url not in page  # nothing to stop yet

    assert client.post(start_url).status_code == 403  # no CSRF token
    assert client.get(start_url).status_code == 405  # a button's POST only
    assert not Inspection.objects.exists()
    token = client.cookies["csrftoken"].value

    response = client.post(start_url, {"csrfmiddlewaretoken": token})

    assert (response.status_code, response["Location"]) == (302, change_url)
    inspection = Inspection.objects.get(hive=alice_hive)
    assert inspection.started_by == alice
    minutes = (inspection.ends_at - inspection.started_at).total_seconds() / 60
    assert minutes == 60
    page = client.get(change_url)
    assert any("open until" in message for message in _messages(page))
    html = page.content.decode()
    # While the window is open the page offers to end it, not to start another (#26).
    assert f'action="{stop_url}"' in html and "End inspection (open until" in html
    assert start_url not in html and "Start inspection" not in html
    # ... and the window is no event: "last inspection" waits for the recorded visit.
    assert not alice_hive.events.exists()

    response = client.post(stop_url, {"csrfmiddlewaretoken": token}, follow=True)

    assert response.redirect_chain == [(change_url, 302)]
    assert f"Inspection of {alice_hive.name} stopped." in _messages(response)
    inspection.refresh_from_db()
    assert inspection.ends_at <= timezone.now()
    assert stop_url not in response.content.decode()
    assert "Start inspection (60 min)" in response.content.decode()


def test_stopping_with_no_open_inspection_is_a_message_not_an_error(alice, alice_hive) -> None:
    response = _admin(alice).post(
        f"/admin/apiary/hive/{alice_hive.pk}/inspection/stop/", follow=True
    )

    assert response.status_code == 200
    assert "Inspection: No inspection is open on this hive." in _messages(response)


def test_an_editor_may_inspect_a_shared_hive(alice_apiary, alice_hive) -> None:
    editor = _admin(_member(alice_apiary, "erin@example.com", "editor"))
    page = editor.get(f"/admin/apiary/hive/{alice_hive.pk}/change/").content.decode()
    assert "Start inspection (60 min)" in page

    response = editor.post(f"/admin/apiary/hive/{alice_hive.pk}/inspection/start/")

    assert response.status_code == 302
    assert Inspection.objects.filter(hive=alice_hive).exists()


def test_a_viewer_may_not_inspect(alice_apiary, alice_hive) -> None:
    viewer = _admin(_member(alice_apiary, "dave@example.com", "viewer"))
    page = viewer.get(f"/admin/apiary/hive/{alice_hive.pk}/change/")
    assert page.status_code == 200
    assert "Start inspection" not in page.content.decode()

    for action in ("start", "stop"):
        url = f"/admin/apiary/hive/{alice_hive.pk}/inspection/{action}/"
        assert viewer.post(url).status_code == 403
    assert not Inspection.objects.exists()


def test_bob_may_not_inspect_alices_hive(bob, alice_hive) -> None:
    client = _admin(bob)
    for action in ("start", "stop"):
        url = f"/admin/apiary/hive/{alice_hive.pk}/inspection/{action}/"
        assert client.post(url).status_code == 404
        assert client.post(f"/admin/apiary/hive/999999/inspection/{action}/").status_code == 404
    assert not Inspection.objects.exists()


def test_a_service_refusal_is_a_message(alice, alice_hive, settings) -> None:
    settings.INSPECTION_MAX_MINUTES = 30  # the admin's 60 minutes is now too long

    response = _admin(alice).post(
        f"/admin/apiary/hive/{alice_hive.pk}/inspection/start/", follow=True
    )

    assert response.status_code == 200
    assert "Minutes: A whole number of minutes from 1 to 30." in _messages(response)
    assert not Inspection.objects.exists()
