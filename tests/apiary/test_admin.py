"""The admin as a beekeeper uses it: only their own data, the same rules as the API."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.test import Client

from apiary import selectors, services
from apiary.models import Apiary, Event, Hive, QueenBee
from tests.factories import ApiaryFactory, EventFactory, HiveFactory, QueenFactory


def keyed_hive(*, key: str) -> Hive | None:
    """The hive a device key writes, through the (cached) lookup ingestion uses."""
    device = selectors.device_by_key(key=key)
    return None if device is None else Hive.objects.get(pk=device.hive_id)


def _admin(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_beekeeper_sees_only_their_hives_with_queen_and_last_inspection(
    alice, alice_hive, bob_apiary
) -> None:
    HiveFactory(apiary=bob_apiary, name="Bobs secret hive")
    QueenFactory(hive=alice_hive, year_born=2025, marking_color="blue")
    EventFactory(hive=alice_hive, type="inspection", occurred_at="2026-06-01T10:00:00Z")
    page = _admin(alice).get("/admin/apiary/hive/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Hive A1" in html and "Bobs secret hive" not in html
    assert "2025 blue" in html and "2026-06-01" in html
    assert f"/hives/{alice_hive.id}/live" in html


@pytest.mark.django_db
def test_bob_cannot_open_alices_hive_in_the_admin(bob, alice_hive) -> None:
    response = _admin(bob).get(f"/admin/apiary/hive/{alice_hive.id}/change/")
    assert response.status_code in (302, 404)
    assert b"Hive A1" not in response.content


@pytest.mark.django_db
def test_admin_search_and_filters(alice, alice_apiary) -> None:
    HiveFactory(apiary=alice_apiary, name="Linden", status="active")
    HiveFactory(apiary=alice_apiary, name="Willow", status="dead")
    client = _admin(alice)
    assert "Willow" not in client.get("/admin/apiary/hive/?q=Linden").content.decode()
    assert "Linden" not in client.get("/admin/apiary/hive/?status__exact=dead").content.decode()


@pytest.mark.django_db
def test_queen_introduced_through_the_admin_retires_the_previous(alice, alice_hive) -> None:
    old = QueenFactory(hive=alice_hive, introduced_at="2025-05-01")
    response = _admin(alice).post(
        "/admin/apiary/queenbee/add/",
        {
            "hive": alice_hive.id,
            "year_born": 2026,
            "introduced_at": "2026-06-01",
            "removal_reason": "superseded",
            "origin": "",
            "notes": "",
            "marking_color": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    old.refresh_from_db()
    assert not old.is_current and old.removal_reason == "superseded"
    new = QueenBee.objects.get(is_current=True)
    assert new.marking_color == "white"


@pytest.mark.django_db
def test_admin_refuses_invalid_event_details_with_a_form_error(alice, alice_hive) -> None:
    response = _admin(alice).post(
        "/admin/apiary/event/add/",
        {
            "hive": alice_hive.id,
            "type": "inspection",
            "occurred_at_0": "2026-06-01",
            "occurred_at_1": "10:00",
            "notes": "",
            "details": '{"frames_of_brood": 99}',
        },
    )
    assert response.status_code == 200
    assert "frames_of_brood" in response.content.decode()
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_admin_offers_only_own_apiaries_when_adding_a_hive(alice, alice_apiary, bob_apiary) -> None:
    html = _admin(alice).get("/admin/apiary/hive/add/").content.decode()
    assert "Orchard" in html and "Meadow" not in html


@pytest.mark.django_db
def test_admin_hive_created_gets_a_device_key(alice, alice_apiary) -> None:
    response = _admin(alice).post(
        "/admin/apiary/hive/add/",
        {
            "apiary": alice_apiary.id,
            "name": "New",
            "device_id": "adm-1",
            "hive_type": "langstroth",
            "status": "active",
            "notes": "",
            "queens-TOTAL_FORMS": 0,
            "queens-INITIAL_FORMS": 0,
            "events-TOTAL_FORMS": 0,
            "events-INITIAL_FORMS": 0,
        },
        follow=True,
    )
    assert response.status_code == 200
    assert Hive.objects.get(device_id="adm-1").device_key_hash
    assert "Device key for adm-1" in response.content.decode()


# --- Deletes go through the services ---------------------------------------------------


def _owned_pair_and_bobs(kind: str, alice_apiary, bob_apiary) -> tuple[list, object]:
    if kind == "apiary":
        return [ApiaryFactory(owner=alice_apiary.owner) for _ in range(2)], bob_apiary
    if kind == "hive":
        return [HiveFactory(apiary=alice_apiary) for _ in range(2)], HiveFactory(apiary=bob_apiary)
    factory = QueenFactory if kind == "queenbee" else EventFactory
    mine = [factory(hive=HiveFactory(apiary=alice_apiary)) for _ in range(2)]
    return mine, factory(hive=HiveFactory(apiary=bob_apiary))


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "service", "keyword"),
    [
        ("apiary", "apiary_delete", "apiary"),
        ("hive", "hive_delete", "hive"),
        ("queenbee", "queen_delete", "queen"),
        ("event", "event_delete", "event"),
    ],
)
def test_delete_selected_calls_the_delete_service_for_each_object(
    kind, service, keyword, alice, alice_apiary, bob_apiary, monkeypatch
) -> None:
    mine, bobs = _owned_pair_and_bobs(kind, alice_apiary, bob_apiary)
    calls: list[dict] = []
    real = getattr(services, service)

    def spy(**kwargs):
        calls.append({**kwargs, "pk": kwargs[keyword].pk})  # delete() clears the pk
        return real(**kwargs)

    monkeypatch.setattr(services, service, spy)
    model, pks = type(bobs), [obj.pk for obj in mine]

    response = _admin(alice).post(
        f"/admin/apiary/{kind}/",
        {
            "action": "delete_selected",
            "_selected_action": [*pks, bobs.pk],
            "post": "yes",
        },
    )

    assert response.status_code == 302
    assert not model.objects.filter(pk__in=pks).exists()
    assert model.objects.filter(pk=bobs.pk).exists()  # not in alice's admin queryset
    assert sorted(call["pk"] for call in calls) == sorted(pks)
    assert all(call["actor"] == alice for call in calls)
    # The admin keeps hive_delete's default: the hive's readings stay.
    assert all("purge_telemetry" not in call for call in calls)


# --- Device keys ------------------------------------------------------------------------

KEY_RE = r"[Dd]evice key for {}: (bk_[A-Za-z0-9_-]+)"


def _shown_key(html: str, device_id: str) -> str:
    match = re.search(KEY_RE.format(re.escape(device_id)), html)
    assert match, "no device key shown"
    return match.group(1)


def _apiary_form(apiary, hives: list[dict], initial: int = 0, **fields) -> dict:
    data = {
        "name": apiary.name,
        "latitude": apiary.latitude or "",
        "longitude": apiary.longitude or "",
        "address": apiary.address,
        "notes": apiary.notes,
        "hives-TOTAL_FORMS": len(hives),
        "hives-INITIAL_FORMS": initial,
        **fields,
    }
    for n, hive in enumerate(hives):
        row = {"apiary": apiary.pk, "hive_type": "langstroth", "status": "active", **hive}
        data.update({f"hives-{n}-{key}": value for key, value in row.items()})
    return data


@pytest.mark.django_db
def test_hive_added_inline_shows_its_device_key_once(alice, alice_apiary) -> None:
    client = _admin(alice)
    url = f"/admin/apiary/apiary/{alice_apiary.id}/change/"

    response = client.post(
        url, _apiary_form(alice_apiary, [{"name": "Inline", "device_id": "inl-1"}]), follow=True
    )

    assert response.status_code == 200
    key = _shown_key(response.content.decode(), "inl-1")
    assert keyed_hive(key=key) == Hive.objects.get(device_id="inl-1")
    assert key not in client.get(url).content.decode()


@pytest.mark.django_db
def test_replace_device_key_action_shows_new_keys_and_the_old_ones_stop(
    alice, alice_hive, bob_apiary
) -> None:
    second = HiveFactory(apiary=alice_hive.apiary, device_id="alice-002")
    bobs = HiveFactory(apiary=bob_apiary, device_id="bob-001")
    client = _admin(alice)

    response = client.post(
        "/admin/apiary/hive/",
        {
            "action": "replace_device_key",
            "_selected_action": [alice_hive.pk, second.pk, bobs.pk],
        },
        follow=True,
    )

    assert response.status_code == 200
    html = response.content.decode()
    for hive in (alice_hive, second):
        key = _shown_key(html, hive.device_id)
        assert keyed_hive(key=key) == hive
        assert keyed_hive(key=f"device-key-{hive.device_id}") is None
    assert "bob-001" not in html
    assert keyed_hive(key="device-key-bob-001") == bobs
    assert key not in client.get("/admin/apiary/hive/").content.decode()  # shown once


@pytest.mark.django_db(databases=["default", "telemetry"])  # the page shows readings
def test_replace_device_key_from_the_hive_page(alice, alice_hive) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    change_url = f"/admin/apiary/hive/{alice_hive.id}/change/"
    url = f"/admin/apiary/hive/{alice_hive.id}/device-key/"
    assert f'href="{url}"' in client.get(change_url).content.decode()

    confirm = client.get(url)  # asks first, changes nothing
    assert confirm.status_code == 200
    assert "Replace the device key" in confirm.content.decode()
    assert client.post(url).status_code == 403  # no CSRF token
    token = client.cookies["csrftoken"].value
    assert client.put(url, headers={"X-CSRFToken": token}).status_code == 405
    assert keyed_hive(key="device-key-alice-001") == alice_hive

    response = client.post(url, {"csrfmiddlewaretoken": token})

    assert response.status_code == 302 and response["Location"] == change_url
    key = _shown_key(client.get(change_url).content.decode(), "alice-001")
    assert keyed_hive(key="device-key-alice-001") is None
    assert keyed_hive(key=key) == alice_hive


@pytest.mark.django_db
def test_bob_cannot_replace_alices_device_key(bob, alice_hive) -> None:
    client = _admin(bob)
    url = f"/admin/apiary/hive/{alice_hive.id}/device-key/"

    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert keyed_hive(key="device-key-alice-001") == alice_hive


# --- Service errors are form errors -----------------------------------------------------


def _queen_form(queen, **fields) -> dict:
    return {
        "year_born": queen.year_born or "",
        "marking_color": queen.marking_color,
        "origin": queen.origin,
        "mother": queen.mother_id or "",
        "notes": queen.notes,
        "removed_at": "",
        "removal_reason": "",
        **fields,
    }


def _form_errors(response) -> dict:
    return response.context["adminform"].form.errors


@pytest.mark.django_db
def test_queen_as_her_own_mother_is_a_form_error(alice, alice_hive) -> None:
    queen = QueenFactory(hive=alice_hive, origin="Carnica")

    response = _admin(alice).post(
        f"/admin/apiary/queenbee/{queen.id}/change/",
        _queen_form(queen, origin="Buckfast", mother=queen.id),
    )

    assert response.status_code == 200
    assert _form_errors(response)["mother"] == ["A queen cannot be her own mother."]
    assert 'value="Buckfast"' in response.content.decode()  # the input is kept
    queen.refresh_from_db()
    assert (queen.origin, queen.mother_id) == ("Carnica", None)


@pytest.mark.django_db
def test_current_queen_is_retired_from_her_page(alice, alice_hive) -> None:
    queen = QueenFactory(hive=alice_hive, introduced_at="2025-05-01")
    client = _admin(alice)
    url = f"/admin/apiary/queenbee/{queen.id}/change/"
    assert 'name="introduced_at"' not in client.get(url).content.decode()  # history

    response = client.post(url, _queen_form(queen, removed_at="2025-08-01", removal_reason="died"))

    assert response.status_code == 302, _form_errors(response)
    queen.refresh_from_db()
    assert not queen.is_current
    assert (str(queen.removed_at), queen.removal_reason) == ("2025-08-01", "died")


def _hive_add_form(apiary, **fields) -> dict:
    return {
        "apiary": apiary.id,
        "name": "New",
        "device_id": "adm-1",
        "hive_type": "langstroth",
        "status": "active",
        "notes": "",
        "queens-TOTAL_FORMS": 0,
        "queens-INITIAL_FORMS": 0,
        "events-TOTAL_FORMS": 0,
        "events-INITIAL_FORMS": 0,
        **fields,
    }


@pytest.fixture
def bobs_kept_device_id(bob_apiary) -> str:
    """A device_id bob's deleted hive left registered to him: only the service knows."""
    hive = HiveFactory(apiary=bob_apiary, device_id="bob-kept")
    services.hive_delete(hive=hive, actor=bob_apiary.owner)
    return "bob-kept"


def _bobs_device_id(taken: str, bob_apiary, request) -> str:  # noqa: ANN001
    """A device_id of bob's live hive, or one his deleted hive left registered to him."""
    if taken == "bobs-hive":
        return HiveFactory(apiary=bob_apiary, device_id="bob-live").device_id
    return request.getfixturevalue("bobs_kept_device_id")


@pytest.mark.django_db
@pytest.mark.parametrize("taken", ["bobs-hive", "bobs-kept-device-id"])
def test_hive_with_another_beekeepers_device_id_is_a_form_error(
    taken, alice, alice_apiary, bob_apiary, request
) -> None:
    device_id = _bobs_device_id(taken, bob_apiary, request)

    response = _admin(alice).post(
        "/admin/apiary/hive/add/", _hive_add_form(alice_apiary, name="Mine", device_id=device_id)
    )

    assert response.status_code == 200
    assert _form_errors(response)["device_id"]
    assert not Hive.objects.filter(name="Mine").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("taken", ["bobs-hive", "bobs-kept-device-id"])
def test_inline_hive_with_a_taken_device_id_is_a_form_error(
    taken, alice, alice_apiary, bob_apiary, request
) -> None:
    device_id = _bobs_device_id(taken, bob_apiary, request)

    response = _admin(alice).post(
        f"/admin/apiary/apiary/{alice_apiary.id}/change/",
        _apiary_form(alice_apiary, [{"name": "Mine", "device_id": device_id}], name="Renamed"),
    )

    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.forms[0].errors["device_id"]
    assert not Hive.objects.filter(name="Mine").exists()
    alice_apiary.refresh_from_db()
    assert alice_apiary.name == "Orchard"


@pytest.mark.django_db
def test_a_service_error_on_a_field_not_on_the_form_is_an_error_of_the_form(
    alice, alice_apiary, monkeypatch
) -> None:
    def refuse(**kwargs):
        raise ValidationError({"owner": "Not yours."})

    monkeypatch.setattr(services, "apiary_update", refuse)

    response = _admin(alice).post(
        f"/admin/apiary/apiary/{alice_apiary.id}/change/",
        _apiary_form(alice_apiary, [], name="Renamed"),
    )

    assert response.status_code == 200
    assert _form_errors(response)[NON_FIELD_ERRORS] == ["Owner: Not yours."]


@pytest.mark.django_db
def test_a_service_error_at_save_time_rolls_everything_back_and_says_why(
    alice, alice_apiary, monkeypatch
) -> None:
    # The dry run passes, the real call does not: the data changed in between.
    calls: list[dict] = []
    real = services.hive_create

    def racing(**kwargs):
        calls.append(kwargs)
        if len(calls) > 1:
            raise ValidationError({"device_id": "Taken a moment ago."})
        return real(**kwargs)

    monkeypatch.setattr(services, "hive_create", racing)
    client = _admin(alice)
    url = f"/admin/apiary/apiary/{alice_apiary.id}/change/"

    response = client.post(
        url,
        _apiary_form(alice_apiary, [{"name": "Mine", "device_id": "race-1"}], name="Renamed"),
    )

    assert response.status_code == 302 and response["Location"] == url
    assert "Device id: Taken a moment ago." in client.get(url).content.decode()
    alice_apiary.refresh_from_db()
    assert alice_apiary.name == "Orchard"  # the apiary's update was rolled back with it
    assert not Hive.objects.filter(name="Mine").exists()


@pytest.mark.django_db
def test_beekeeper_adds_an_apiary_in_the_admin(alice) -> None:
    response = _admin(alice).post(
        "/admin/apiary/apiary/add/",
        {"name": "Heath", "latitude": "", "longitude": "", "address": "", "notes": ""},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Apiary.objects.get(name="Heath").owner == alice
