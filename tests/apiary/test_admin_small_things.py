"""The admin's small things (#26): adding a hive without a device id, the event list's
notes, apiaries and filters, add forms that start at now, no dead ends for a viewer and
a superuser's true labels."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apiary import members
from apiary.models import Hive, Membership
from tests.accounts.factories import BeekeeperFactory
from tests.factories import ApiaryFactory, EventFactory, HiveFactory, SuperuserFactory

pytestmark = pytest.mark.django_db(databases=["default", "telemetry"])  # hive pages: readings


def _admin(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _member(apiary: Any, email: str, role: str) -> Any:
    user = BeekeeperFactory(email=email)
    members.member_invite(actor=apiary.owner, apiary=apiary, email=email, role=role)
    return user


def _input_value(html: str, name: str) -> str:
    found = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', html)
    assert found, name
    value = re.search(r'value="([^"]*)"', found.group(0))
    return value.group(1) if value else ""


def _filter_options(html: str, title: str) -> list[str]:
    """The choices of the changelist filter titled ``title`` (Django's <details> block)."""
    found = re.search(rf"<summary>\s*By {title}\s*</summary>(.*?)</details>", html, re.S)
    assert found, title
    return [re.sub(r"\s+", " ", t).strip() for t in re.findall(r"<a [^>]*>(.*?)</a>", found[1])]


# --- Adding a hive without a device id --------------------------------------------------


def _hive_add(apiary: Any, **fields: Any) -> dict[str, Any]:
    return {
        "apiary": apiary.pk,
        "name": "No id yet",
        "device_id": "",
        "hive_type": "langstroth",
        "status": "active",
        "installed_at": "",
        "notes": "",
        "queens-TOTAL_FORMS": 0,
        "queens-INITIAL_FORMS": 0,
        "events-TOTAL_FORMS": 0,
        "events-INITIAL_FORMS": 0,
        **fields,
    }


def test_a_hive_added_without_a_device_id_gets_a_generated_one(alice, alice_apiary) -> None:
    client = _admin(alice)
    page = client.get("/admin/apiary/hive/add/").content.decode()
    assert "Leave it empty to get a generated one" in page

    response = client.post("/admin/apiary/hive/add/", _hive_add(alice_apiary), follow=True)

    assert response.status_code == 200, response.content.decode()[:2000]
    hive = Hive.objects.get(name="No id yet")
    assert len(hive.device_id) >= 16 and hive.device_key_hash  # as the API generates it
    assert f"Device key for {hive.device_id}" in response.content.decode()


def test_a_hive_added_inline_without_a_device_id_gets_one(alice, alice_apiary) -> None:
    data = {
        "name": alice_apiary.name,
        "latitude": "",
        "longitude": "",
        "address": "",
        "notes": "",
        "hives-TOTAL_FORMS": 1,
        "hives-INITIAL_FORMS": 0,
        "hives-0-name": "Inline, no id",
        "hives-0-device_id": "",
        "hives-0-hive_type": "langstroth",
        "hives-0-status": "active",
    }
    response = _admin(alice).post(f"/admin/apiary/apiary/{alice_apiary.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Hive.objects.get(name="Inline, no id").device_id


def test_a_saved_hive_keeps_needing_its_device_id(alice, alice_hive) -> None:
    response = _admin(alice).post(
        f"/admin/apiary/hive/{alice_hive.pk}/change/",
        _hive_add(alice_hive.apiary, name=alice_hive.name),
    )
    assert response.status_code == 200
    assert "device_id" in response.context["adminform"].form.errors
    alice_hive.refresh_from_db()
    assert alice_hive.device_id == "alice-001"


# --- The event list: notes, apiary, filters ---------------------------------------------


def test_the_event_list_shows_whole_notes_and_the_apiary_of_hive_events(
    alice, alice_apiary, alice_hive
) -> None:
    long_note = "Queen cells on frames 3 and 4, " + "brood pattern patchy, " * 12 + "re-check."
    EventFactory(hive=alice_hive, notes=long_note)
    EventFactory(hive=None, apiary=alice_apiary, notes="Mowed the grass")

    html = _admin(alice).get("/admin/apiary/event/").content.decode()

    assert long_note in html  # not clipped
    apiaries = re.findall(r'<td class="field-apiary_name">(.*?)</td>', html)
    assert apiaries == ["Orchard", "Orchard"]  # the hive's apiary, not "-"


def test_the_event_list_filters_by_hive_and_apiary(alice, alice_apiary, alice_hive) -> None:
    other_yard = ApiaryFactory(owner=alice, name="Heath")
    heath_hive = HiveFactory(apiary=other_yard, name="Heath 1")
    EventFactory(hive=alice_hive, notes="in hive A1")
    EventFactory(hive=heath_hive, notes="in Heath 1")
    EventFactory(hive=None, apiary=alice_apiary, notes="for the whole Orchard")
    client = _admin(alice)

    by_hive = client.get(f"/admin/apiary/event/?hive__id__exact={alice_hive.pk}")
    assert [e.notes for e in by_hive.context["cl"].result_list] == ["in hive A1"]
    by_apiary = client.get(f"/admin/apiary/event/?in_apiary={alice_apiary.pk}")
    assert sorted(e.notes for e in by_apiary.context["cl"].result_list) == [
        "for the whole Orchard",
        "in hive A1",
    ]


def test_the_event_filters_list_own_and_shared_hives_never_anothers(
    alice, bob, alice_apiary, alice_hive, bob_apiary
) -> None:
    shared_hive = HiveFactory(apiary=bob_apiary, name="Bob shares this")
    Membership.objects.create(apiary=bob_apiary, user=alice, email=alice.email, role="viewer")
    charlie = BeekeeperFactory(email="charlie@example.com")
    secret = HiveFactory(apiary=ApiaryFactory(owner=charlie, name="Charlie's field"), name="Secret")
    EventFactory(hive=secret, notes="charlie's note")

    html = _admin(alice).get("/admin/apiary/event/").content.decode()

    assert _filter_options(html, "hive") == ["All", "Bob shares this (Meadow)", "Hive A1 (Orchard)"]
    assert _filter_options(html, "apiary") == ["All", "Meadow", "Orchard"]
    assert "Secret" not in html and "Charlie" not in html
    # Naming charlie's hive or apiary filters nothing in: alice still sees only hers.
    for query in (f"hive__id__exact={secret.pk}", f"in_apiary={secret.apiary_id}"):
        listed = _admin(alice).get(f"/admin/apiary/event/?{query}").context["cl"].result_list
        assert "charlie's note" not in [e.notes for e in listed]
    charlies = _admin(charlie).get("/admin/apiary/event/").content.decode()
    assert _filter_options(charlies, "hive") == ["All", "Secret (Charlie&#x27;s field)"]
    assert shared_hive.name not in charlies


# --- Add forms start at now -------------------------------------------------------------


def test_add_forms_are_filled_in_with_now(alice, alice_hive) -> None:
    client = _admin(alice)
    today = timezone.localdate().isoformat()

    event = client.get(f"/admin/apiary/event/add/?type=inspection&hive={alice_hive.pk}")
    html = event.content.decode()
    assert _input_value(html, "occurred_at_0") == today
    now = timezone.localtime()
    shown = _input_value(html, "occurred_at_1")
    assert abs(int(shown[:2]) * 60 + int(shown[3:5]) - (now.hour * 60 + now.minute)) <= 1
    assert event.context["adminform"].form.initial["hive"] == str(alice_hive.pk)  # kept
    queen = client.get(f"/admin/apiary/queenbee/add/?hive={alice_hive.pk}").content.decode()
    assert _input_value(queen, "introduced_at") == today
    hive = client.get("/admin/apiary/hive/add/").content.decode()
    assert _input_value(hive, "installed_at") == today
    # A link may still give its own date.
    dated = client.get("/admin/apiary/queenbee/add/?introduced_at=2026-05-01").content.decode()
    assert _input_value(dated, "introduced_at") == "2026-05-01"


# --- A viewer meets no dead ends --------------------------------------------------------


def test_a_viewer_gets_no_add_pages_and_no_links_to_them(alice_apiary, alice_hive) -> None:
    viewer = _admin(_member(alice_apiary, "dave@example.com", "viewer"))

    for model in ("hive", "queenbee", "event"):
        assert viewer.get(f"/admin/apiary/{model}/add/").status_code == 403, model
        listing = viewer.get(f"/admin/apiary/{model}/").content.decode()
        assert f"/admin/apiary/{model}/add/" not in listing, model
    hive_page = viewer.get(f"/admin/apiary/hive/{alice_hive.pk}/change/").content.decode()
    assert "Introduce a queen" not in hive_page and "Record one" not in hive_page
    assert "/admin/apiary/queenbee/add/" not in hive_page
    assert "/admin/apiary/event/add/" not in hive_page
    # The viewer may start an apiary of their own, and then records in it.
    assert viewer.get("/admin/apiary/apiary/add/").status_code == 200


def test_an_editor_keeps_the_links_and_the_add_pages(alice_apiary, alice_hive) -> None:
    editor = _admin(_member(alice_apiary, "erin@example.com", "editor"))
    hive_page = editor.get(f"/admin/apiary/hive/{alice_hive.pk}/change/").content.decode()
    assert "Introduce a queen" in hive_page and "Record one" in hive_page
    for model in ("hive", "queenbee", "event"):
        assert editor.get(f"/admin/apiary/{model}/add/").status_code == 200, model


def test_a_viewer_who_owns_an_apiary_records_only_in_their_own(alice_apiary, alice_hive) -> None:
    dave = _member(alice_apiary, "dave@example.com", "viewer")
    HiveFactory(apiary=ApiaryFactory(owner=dave, name="Dave's yard"), name="Dave 1")
    page = _admin(dave).get("/admin/apiary/queenbee/add/").content.decode()
    assert "Dave 1" in page and "Hive A1" not in page


# --- A superuser's labels ---------------------------------------------------------------


def test_a_superuser_is_not_told_they_own_others_apiaries(alice, alice_apiary) -> None:
    html = _admin(SuperuserFactory()).get("/admin/apiary/apiary/").content.decode()
    roles = re.findall(r'<td class="field-your_role">(.*?)</td>', html)
    assert roles == ["none (superuser)"]
    assert _admin(alice).get("/admin/apiary/apiary/").context["cl"].result_list[0].role == "owner"


# --- No raw JSON on the hive page -------------------------------------------------------


def test_the_hive_pages_events_show_labelled_details(alice, alice_hive) -> None:
    EventFactory(
        hive=alice_hive,
        type="inspection",
        details={"queen_seen": True, "frames_of_brood": 6, "temperament": "calm"},
    )
    EventFactory(hive=alice_hive, type="note", details={"weather": {"sky": "sunny", "wind": 3}})

    html = _admin(alice).get(f"/admin/apiary/hive/{alice_hive.pk}/change/").content.decode()

    for pair in (
        "<dt>Queen seen</dt><dd>yes</dd>",
        "<dt>Frames of brood</dt><dd>6</dd>",
        "<dt>Temperament</dt><dd>calm</dd>",
        "<dt>Weather</dt><dd>sky: sunny; wind: 3</dd>",  # free-form, nested: still words
    ):
        assert pair in html, pair
    # (The sensor panel's API example is JSON on purpose; the events are not.)
    assert "&quot;queen_seen&quot;" not in html and "&quot;sky&quot;" not in html


def test_no_queen_page_without_a_hive_to_put_her_in(alice, alice_apiary) -> None:
    client = _admin(alice)
    assert client.get("/admin/apiary/queenbee/add/").status_code == 403  # no hive yet
    assert client.get("/admin/apiary/event/add/").status_code == 200  # an apiary's event
    HiveFactory(apiary=alice_apiary)
    assert client.get("/admin/apiary/queenbee/add/").status_code == 200
