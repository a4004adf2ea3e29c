"""Typed event records (issue #12): per-type fields in the admin validated by the API's
rules, details as short text in the lists, and events exported as CSV from the admin and
from ``GET /events?format=csv``."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.test import Client

from apiary import event_csv, services
from apiary.event_details import details_summary, details_validate
from apiary.models import Event, Membership
from tests.factories import ApiaryFactory, EventFactory, HiveFactory, QueenFactory

WHEN = "2026-05-01T09:00:00Z"


def _admin(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post_event(client, hive, event_type: str, details: Any) -> Any:
    body = {"hive": hive.id, "type": event_type, "occurred_at": WHEN, "details": details}
    return client.post("/events", body, format="json")


def _csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.content[:2000]
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


# --- The API: new keys, the same rules ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event_type", "details"),
    [
        (
            "inspection",
            {
                "queen_seen": True,
                "eggs_seen": True,
                "larvae_seen": False,
                "queen_cells": 0,
                "frames_of_brood": 6,
                "frames_of_bees": 9,
                "frames_of_honey": 3,
                "temperament": "calm",
                "varroa_count": 4,
            },
        ),
        (
            "treatment",
            {"product": "Oxalic acid", "method": "trickled", "withdrawal_end": "2026-05-01"},
        ),
        ("feeding", {"feed": "fondant", "kg": 1.5}),
        ("harvest", {"kg": 18.5, "frames": 9, "honey_type": "acacia"}),
    ],
)
def test_new_keys_are_stored_and_answered_as_json(
    as_alice, alice_hive, event_type, details
) -> None:
    response = _post_event(as_alice, alice_hive, event_type, details)
    assert response.status_code == 201, response.content
    assert response.json()["details"] == details
    assert Event.objects.get().details == details


@pytest.mark.django_db
def test_a_split_names_the_users_own_new_hive_and_queen(as_alice, alice_hive) -> None:
    new_hive = HiveFactory(apiary=alice_hive.apiary, name="Nuc 1")
    queen = QueenFactory(hive=new_hive)
    response = _post_event(
        as_alice, alice_hive, "split", {"new_hive": new_hive.id, "new_queen": queen.id}
    )
    assert response.status_code == 201, response.content
    assert response.json()["details"] == {"new_hive": new_hive.id, "new_queen": queen.id}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event_type", "details", "named"),
    [
        ("inspection", {"larvae_seen": "sometimes"}, "larvae_seen"),
        ("inspection", {"frames_of_bees": 41}, "frames_of_bees"),
        ("inspection", {"frames_of_bees": -1}, "frames_of_bees"),
        ("inspection", {"frames_of_bees": "many"}, "frames_of_bees"),
        ("treatment", {"product": "Apivar", "withdrawal_end": "next spring"}, "withdrawal_end"),
        ("treatment", {"product": "Apivar", "withdrawal_end": "2026-04-30"}, "withdrawal_end"),
        ("split", {"new_hive": "the nuc"}, "new_hive"),
        ("split", {"new_hive": 0}, "new_hive"),
        ("split", {"new_queen": -3}, "new_queen"),
        ("split", {"new_hive": 999999}, "new_hive"),
        ("split", {"new_queen": 999999}, "new_queen"),
        ("split", {"new_hive": 2**70}, "new_hive"),
    ],
)
def test_bad_new_keys_are_a_400_naming_the_key(
    as_alice, alice_hive, event_type, details, named
) -> None:
    response = _post_event(as_alice, alice_hive, event_type, details)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert any(m.startswith(f"{named}: ") for m in response.json()["details"]), response.json()
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_a_split_cannot_name_bobs_hive_or_queen_nor_its_own_hive(
    as_alice, alice_hive, bob_apiary
) -> None:
    bobs_hive = HiveFactory(apiary=bob_apiary)
    bobs_queen = QueenFactory(hive=bobs_hive)
    for details, named in (
        ({"new_hive": bobs_hive.id}, "new_hive: Not found."),
        ({"new_queen": bobs_queen.id}, "new_queen: Not found."),
        ({"new_hive": alice_hive.id}, "new_hive: The new hive cannot be the hive that was split."),
    ):
        response = _post_event(as_alice, alice_hive, "split", details)
        assert response.status_code == 400
        assert response.json() == {"details": [named]}  # bob's is like one that does not exist
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_a_split_may_name_a_hive_shared_with_the_user(as_bob, bob, alice_hive, bob_apiary) -> None:
    Membership.objects.create(apiary=alice_hive.apiary, user=bob, email=bob.email, role="viewer")
    response = _post_event(
        as_bob, HiveFactory(apiary=bob_apiary), "split", {"new_hive": alice_hive.id}
    )
    assert response.status_code == 201, response.content


@pytest.mark.django_db
def test_splits_keep_their_free_form_keys_and_stay_editable(as_alice, alice_hive) -> None:
    """Splits were free-form before: other keys still pass, and an event naming a hive
    that is gone can still be edited (only a changed id is checked)."""
    gone = HiveFactory(apiary=alice_hive.apiary)
    gone_id = gone.id
    event = services.event_create(
        actor=alice_hive.apiary.owner,
        hive=alice_hive,
        type="split",
        occurred_at=WHEN,
        details={"new_hive": gone_id, "frames_taken": 4},
    )
    gone.delete()
    response = as_alice.patch(f"/events/{event.id}", {"notes": "walk-away split"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["details"] == {"new_hive": gone_id, "frames_taken": 4}
    changed = as_alice.patch(
        f"/events/{event.id}", {"details": {"new_hive": gone_id + 1000}}, format="json"
    )
    assert changed.status_code == 400
    assert changed.json() == {"details": ["new_hive: Not found."]}


@pytest.mark.django_db
def test_moving_a_treatment_after_its_withdrawal_end_is_refused(as_alice, alice_hive) -> None:
    created = _post_event(
        as_alice, alice_hive, "treatment", {"product": "Apivar", "withdrawal_end": "2026-05-20"}
    )
    assert created.status_code == 201
    moved = as_alice.patch(
        f"/events/{created.json()['id']}", {"occurred_at": "2026-06-01T09:00:00Z"}, format="json"
    )
    assert moved.status_code == 400
    assert moved.json()["details"] == [
        "withdrawal_end: The withdrawal period cannot end before the treatment (2026-06-01)."
    ]


def test_details_validate_keeps_the_old_keys_and_returns_json() -> None:
    old = {"frames_of_brood": 6, "temperament": "calm", "queen_seen": True, "eggs_seen": True}
    assert details_validate("inspection", old) == old
    treated = details_validate("treatment", {"product": "Apivar", "withdrawal_end": "2026-06-01"})
    assert json.loads(json.dumps(treated)) == treated
    assert details_validate("swarm", {"caught": True}) == {"caught": True}


@pytest.mark.parametrize(
    ("event_type", "details", "text"),
    [
        (
            "inspection",
            {"queen_seen": True, "eggs_seen": True, "frames_of_brood": 6, "temperament": "calm"},
            "queen seen, eggs, 6 frames brood, calm",
        ),
        (
            "inspection",
            {
                "queen_seen": False,
                "eggs_seen": False,
                "larvae_seen": True,
                "queen_cells": 1,
                "frames_of_bees": 1,
                "frames_of_honey": 3,
                "varroa_count": 12,
            },
            "queen not seen, no eggs, larvae, 1 queen cell, 1 frame bees, 3 frames honey, "
            "varroa 12",
        ),
        ("feeding", {"feed": "syrup_1_1", "litres": 3.0}, "syrup 1:1, 3 l"),
        ("feeding", {"feed": "fondant", "kg": 1.5}, "fondant, 1.5 kg"),
        (
            "treatment",
            {"product": "Oxalic acid", "dose": "5 ml per seam", "withdrawal_end": "2026-06-01"},
            "Oxalic acid, 5 ml per seam, withdrawal until 2026-06-01",
        ),
        ("harvest", {"kg": 18.5, "frames": 9, "honey_type": "acacia"}, "18.5 kg, 9 frames, acacia"),
        ("box_added", {"kg": 12.5}, "12.5 kg"),
        ("box_removed", {"kg": 21}, "21 kg"),
        ("split", {"new_hive": 7, "new_queen": 3}, "new hive #7, new queen #3"),
        ("swarm", {"caught": True, "where": "apple tree"}, "caught: yes, where: apple tree"),
        # Nested free-form values in words, never JSON (#26).
        (
            "note",
            {"weather": {"sky": "sunny", "wind": 3}, "boxes": [1, 2]},
            "weather: (sky: sunny; wind: 3), boxes: (1, 2)",
        ),
        ("note", {}, ""),
    ],
)
def test_details_as_short_text(event_type, details, text) -> None:
    assert details_summary(event_type, details) == text


def test_split_summary_names_what_it_is_given() -> None:
    labels = {("new_hive", 7): "Nuc 1"}
    assert details_summary("split", {"new_hive": 7}, labels=labels) == "new hive Nuc 1"


# --- The admin: a form per type ----------------------------------------------------------


def _event_form(hive, event_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "hive": hive.id,
        "type": event_type,
        "occurred_at_0": "2026-06-01",
        "occurred_at_1": "10:00",
        "notes": "",
        "details": "",
        **fields,
    }


def _form_errors(response) -> dict:
    assert response.status_code == 200, response.get("Location")
    return response.context["adminform"].form.errors


@pytest.mark.django_db
def test_add_page_offers_the_chosen_types_fields(alice, alice_hive) -> None:
    page = _admin(alice).get("/admin/apiary/event/add/?type=inspection")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<option value="inspection" selected>' in html
    for name in ("inspection_queen_seen", "inspection_larvae_seen", "inspection_frames_of_bees",
                 "treatment_withdrawal_end", "split_new_hive", "split_new_queen"):  # fmt: skip
        assert f'name="{name}"' in html
    assert "event-details-inspection" in html
    assert "apiary/event_form.js" in html


@pytest.mark.django_db
def test_inspection_recorded_through_the_typed_form(alice, alice_hive) -> None:
    response = _admin(alice).post(
        "/admin/apiary/event/add/",
        _event_form(
            alice_hive,
            "inspection",
            notes="Strong colony",
            inspection_queen_seen="true",
            inspection_eggs_seen="true",
            inspection_larvae_seen="false",
            inspection_queen_cells="0",
            inspection_frames_of_brood="6",
            inspection_frames_of_bees="9",
            inspection_temperament="calm",
            inspection_varroa_count="2",
            # Another type's section is not this event's.
            harvest_kg="12",
            feeding_feed="fondant",
        ),
    )
    assert response.status_code == 302, _form_errors(response)
    event = Event.objects.get()
    assert (event.type, event.notes) == ("inspection", "Strong colony")
    assert event.details == {
        "queen_seen": True,
        "eggs_seen": True,
        "larvae_seen": False,
        "queen_cells": 0,
        "frames_of_brood": 6,
        "frames_of_bees": 9,
        "temperament": "calm",
        "varroa_count": 2,
    }


@pytest.mark.django_db
def test_save_and_add_another_keeps_the_type(alice, alice_hive) -> None:
    response = _admin(alice).post(
        "/admin/apiary/event/add/",
        _event_form(alice_hive, "harvest", harvest_kg="12.5", _addanother="1"),
    )
    assert response.status_code == 302, _form_errors(response)
    assert response["Location"] == "/admin/apiary/event/add/?type=harvest"
    assert Event.objects.get().details == {"kg": 12.5}


@pytest.mark.django_db
def test_a_box_event_in_the_admin_asks_for_its_weight(alice, alice_hive) -> None:
    admin = _admin(alice)
    response = admin.post("/admin/apiary/event/add/", _event_form(alice_hive, "box_removed"))
    assert "box_removed_kg" in _form_errors(response)
    response = admin.post(
        "/admin/apiary/event/add/",
        _event_form(alice_hive, "box_removed", box_removed_kg="14", box_added_kg="3"),
    )
    assert response.status_code == 302, _form_errors(response)
    assert (Event.objects.get().type, Event.objects.get().details) == ("box_removed", {"kg": 14.0})


@pytest.mark.django_db
def test_the_admin_calls_the_event_service(alice, alice_hive, monkeypatch) -> None:
    calls: list[dict] = []
    real = services.event_create

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(services, "event_create", spy)
    response = _admin(alice).post(
        "/admin/apiary/event/add/",
        _event_form(alice_hive, "feeding", feeding_feed="syrup_2_1", feeding_litres="5"),
    )
    assert response.status_code == 302, _form_errors(response)
    # The dry run, then the save: both with the details the fields made.
    assert [call["details"] for call in calls] == [{"feed": "syrup_2_1", "litres": 5.0}] * 2
    assert all(call["actor"] == alice for call in calls)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event_type", "fields", "field", "message"),
    [
        ("inspection", {"inspection_frames_of_bees": "41"}, "inspection_frames_of_bees",
         "Ensure this value is less than or equal to 40."),
        ("inspection", {"inspection_frames_of_bees": "lots"}, "inspection_frames_of_bees",
         "Enter a whole number."),
        ("inspection", {"inspection_queen_cells": "-1"}, "inspection_queen_cells",
         "Ensure this value is greater than or equal to 0."),
        ("feeding", {"feeding_feed": "fondant"}, "feeding_litres",
         "Give the amount in litres or kg."),
        ("feeding", {"feeding_feed": "fondant", "feeding_kg": "0"}, "feeding_kg",
         "Ensure this value is greater than or equal to 0.01."),
        ("treatment", {"treatment_dose": "2 strips"}, "treatment_product",
         "This field is required."),
        ("treatment", {"treatment_product": "Apivar", "treatment_withdrawal_end": "soon"},
         "treatment_withdrawal_end", "Enter a valid date."),
        ("treatment", {"treatment_product": "Apivar", "treatment_withdrawal_end": "2026-05-31"},
         "treatment_withdrawal_end",
         "The withdrawal period cannot end before the treatment (2026-06-01)."),
        ("harvest", {"harvest_frames": "9"}, "harvest_kg", "This field is required."),
        ("harvest", {"harvest_kg": "1001"}, "harvest_kg",
         "Ensure this value is less than or equal to 1000."),
    ],
)  # fmt: skip
def test_bad_fields_are_form_errors_on_the_field(
    alice, alice_hive, event_type, fields, field, message
) -> None:
    response = _admin(alice).post(
        "/admin/apiary/event/add/", _event_form(alice_hive, event_type, **fields)
    )
    errors = _form_errors(response)
    assert errors[field] == [message], errors
    assert "details" not in errors
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_split_offers_only_the_users_hives_and_queens(alice, alice_hive, bob_apiary) -> None:
    nuc = HiveFactory(apiary=alice_hive.apiary, name="Nuc 1")
    queen = QueenFactory(hive=nuc, year_born=2026, marking_color="white")
    bobs_hive = HiveFactory(apiary=bob_apiary, name="Bobs secret hive")
    bobs_queen = QueenFactory(hive=bobs_hive, origin="Bobs line")
    client = _admin(alice)
    html = client.get("/admin/apiary/event/add/?type=split").content.decode()
    assert "Nuc 1 (Orchard)" in html and "Bobs secret hive" not in html

    refused = client.post(
        "/admin/apiary/event/add/",
        _event_form(
            alice_hive, "split", split_new_hive=bobs_hive.id, split_new_queen=bobs_queen.id
        ),
    )
    errors = _form_errors(refused)
    assert set(errors) == {"split_new_hive", "split_new_queen"}
    same = client.post(
        "/admin/apiary/event/add/", _event_form(alice_hive, "split", split_new_hive=alice_hive.id)
    )
    assert _form_errors(same)["split_new_hive"] == [
        "The new hive cannot be the hive that was split."
    ]

    saved = client.post(
        "/admin/apiary/event/add/",
        _event_form(alice_hive, "split", split_new_hive=nuc.id, split_new_queen=queen.id),
    )
    assert saved.status_code == 302, _form_errors(saved)
    assert Event.objects.get().details == {"new_hive": nuc.id, "new_queen": queen.id}
    listed = client.get("/admin/apiary/event/").content.decode()
    assert "new hive Nuc 1, new queen 2026 white in Nuc 1" in listed


@pytest.mark.django_db
def test_change_page_shows_the_stored_details_in_their_fields(alice, alice_hive) -> None:
    event = EventFactory(
        hive=alice_hive,
        type="treatment",
        occurred_at="2026-06-01T10:00:00Z",
        details={"product": "Apivar", "dose": "2 strips", "withdrawal_end": "2026-07-01"},
    )
    client = _admin(alice)
    url = f"/admin/apiary/event/{event.id}/change/"
    form = client.get(url).context["adminform"].form
    assert form["treatment_product"].value() == "Apivar"
    assert form["treatment_withdrawal_end"].value() == "2026-07-01"
    assert form["details"].value() == "{}"  # nothing left over for the JSON box

    # The dose is cleared, the notes change: the key goes, the others stay.
    response = client.post(
        url,
        _event_form(
            alice_hive,
            "treatment",
            notes="second strip",
            treatment_product="Apivar",
            treatment_withdrawal_end="2026-07-01",
        ),
    )
    assert response.status_code == 302, _form_errors(response)
    event.refresh_from_db()
    assert event.notes == "second strip"
    assert event.details == {"product": "Apivar", "withdrawal_end": "2026-07-01"}


@pytest.mark.django_db
def test_free_form_types_keep_their_json(alice, alice_hive) -> None:
    response = _admin(alice).post(
        "/admin/apiary/event/add/",
        _event_form(alice_hive, "swarm", details='{"caught": true, "where": "apple tree"}'),
    )
    assert response.status_code == 302, _form_errors(response)
    assert Event.objects.get().details == {"caught": True, "where": "apple tree"}
    bad = _admin(alice).post(
        "/admin/apiary/event/add/",
        _event_form(alice_hive, "inspection", details='{"franes_of_brood": 3}'),
    )
    assert "franes_of_brood: not a field of an inspection event" in str(
        _form_errors(bad)["details"]
    )


@pytest.mark.django_db
def test_list_shows_the_details_as_short_text(alice, alice_hive) -> None:
    EventFactory(
        hive=alice_hive,
        type="inspection",
        details={
            "queen_seen": True,
            "eggs_seen": True,
            "frames_of_brood": 6,
            "temperament": "calm",
        },
    )
    html = _admin(alice).get("/admin/apiary/event/").content.decode()
    assert "queen seen, eggs, 6 frames brood, calm" in html
    assert "add/?type=inspection" in html  # the "Inspection" button


@pytest.mark.django_db
def test_a_viewer_reads_the_details_as_text(alice_hive, bob) -> None:
    Membership.objects.create(apiary=alice_hive.apiary, user=bob, email=bob.email, role="viewer")
    event = EventFactory(hive=alice_hive, type="harvest", details={"kg": 18.5, "frames": 9})
    page = _admin(bob).get(f"/admin/apiary/event/{event.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    # Labelled fields, not the stored JSON (#26).
    assert "<dt>Weight (kg)</dt><dd>18.5</dd>" in html and "<dt>Frames</dt><dd>9</dd>" in html
    assert "{&quot;" not in html and '{"kg"' not in html


# --- Export: the admin action -------------------------------------------------------------


def _export(client, ids) -> Any:
    return client.post(
        "/admin/apiary/event/", {"action": "export_csv", "_selected_action": ids, "index": "0"}
    )


@pytest.mark.django_db
def test_admin_exports_the_selected_events(alice, alice_hive, alice_apiary) -> None:
    inspection = EventFactory(
        hive=alice_hive,
        type="inspection",
        occurred_at="2026-06-01T10:00:00Z",
        notes="=HYPERLINK(1)",
        details={"queen_seen": True, "frames_of_brood": 6},
    )
    note = EventFactory(hive=None, apiary=alice_apiary, type="note", notes="fence fixed")
    EventFactory(hive=alice_hive, notes="not selected")

    response = _export(_admin(alice), [inspection.id, note.id])

    assert response["Content-Disposition"] == 'attachment; filename="events.csv"'
    rows = _csv(response)
    assert list(rows[0]) == list(event_csv.EVENT_CSV_COLUMNS)
    assert {row["id"] for row in rows} == {str(inspection.id), str(note.id)}
    row = next(row for row in rows if row["id"] == str(inspection.id))
    assert row["occurred_at"] == "2026-06-01T10:00:00Z"
    assert (row["hive"], row["hive_name"]) == (str(alice_hive.id), "Hive A1")
    assert (row["apiary"], row["apiary_name"]) == (str(alice_apiary.id), "Orchard")
    assert json.loads(row["details"]) == {"queen_seen": True, "frames_of_brood": 6}
    assert row["summary"] == "queen seen, 6 frames brood"
    # The details as columns of their own, after the existing ones (#26).
    assert list(rows[0])[:10] == [
        "id", "occurred_at", "type", "hive", "hive_name",
        "apiary", "apiary_name", "notes", "details", "summary",
    ]  # fmt: skip
    assert (row["queen_seen"], row["frames_of_brood"], row["eggs_seen"]) == ("true", "6", "")
    assert row["notes"] == "'=HYPERLINK(1)"  # a spreadsheet shows it, does not run it


@pytest.mark.django_db
def test_bob_cannot_export_alices_events(alice_hive, bob, bob_apiary) -> None:
    alices = EventFactory(hive=alice_hive, notes="alice's secret")
    bobs = EventFactory(hive=HiveFactory(apiary=bob_apiary), notes="bob's own")
    client = _admin(bob)

    only_alices = _export(client, [alices.id])
    assert only_alices.status_code == 302  # none of his selected: no file, a message
    assert b"secret" not in only_alices.content

    rows = _csv(_export(client, [alices.id, bobs.id]))
    assert [row["id"] for row in rows] == [str(bobs.id)]


@pytest.mark.django_db
def test_admin_export_is_capped(alice, alice_hive, monkeypatch) -> None:
    from apiary.admin import records

    monkeypatch.setattr(records, "CSV_MAX_EVENTS", 2)
    events = [EventFactory(hive=alice_hive) for _ in range(3)]
    response = _export(_admin(alice), [event.id for event in events])
    assert response.status_code == 302


# --- Export: GET /events?format=csv -------------------------------------------------------


@pytest.fixture
def mixed_events(alice_apiary, alice_hive, bob_apiary) -> dict[str, Any]:
    second = HiveFactory(apiary=alice_apiary, name="Hive A2")
    other_apiary = ApiaryFactory(owner=alice_apiary.owner, name="Hillside")
    made = {
        "inspection": EventFactory(
            hive=alice_hive,
            type="inspection",
            occurred_at="2026-05-01T09:00:00Z",
            notes="brood fine",
            details={"queen_seen": True},
        ),
        "feeding": EventFactory(
            hive=second,
            type="feeding",
            occurred_at="2026-06-01T09:00:00Z",
            notes="autumn feed",
            details={"feed": "syrup_2_1", "litres": 5},
        ),
        "apiary_note": EventFactory(
            hive=None, apiary=alice_apiary, type="note", occurred_at="2026-04-01T09:00:00Z"
        ),
        "elsewhere": EventFactory(
            hive=HiveFactory(apiary=other_apiary),
            type="harvest",
            occurred_at="2026-07-01T09:00:00Z",
            details={"kg": 10},
        ),
        "bobs": EventFactory(
            hive=HiveFactory(apiary=bob_apiary),
            type="inspection",
            occurred_at="2026-05-02T09:00:00Z",
            notes="brood fine too",
        ),
    }
    return made


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        {},
        {"hive": "{hive}"},
        {"apiary": "{apiary}"},
        {"type": ["inspection", "feeding"]},
        {"occurred_after": "2026-04-15T00:00:00Z", "occurred_before": "2026-06-15T00:00:00Z"},
        {"search": "brood"},
        {"ordering": "occurred_at"},
        {"ordering": "-type", "type": ["note", "harvest", "feeding"]},
    ],
)
def test_csv_has_exactly_the_events_of_the_json_list(
    as_alice, alice_hive, alice_apiary, mixed_events, query
) -> None:
    def fill(value):
        if isinstance(value, list):
            return value
        return value.format(hive=alice_hive.id, apiary=alice_apiary.id)

    params = {key: fill(value) for key, value in query.items()}
    listed = as_alice.get("/events", {**params, "page_size": 500}).json()["results"]
    rows = _csv(as_alice.get("/events", {**params, "format": "csv"}))
    assert [row["id"] for row in rows] == [str(event["id"]) for event in listed]
    assert rows and str(mixed_events["bobs"].id) not in {row["id"] for row in rows}


@pytest.mark.django_db
def test_csv_has_a_column_per_detail_after_the_old_ones(as_alice, mixed_events) -> None:
    rows = {row["type"]: row for row in _csv(as_alice.get("/events", {"format": "csv"}))}
    header = list(next(iter(rows.values())))
    assert header == list(event_csv.EVENT_CSV_COLUMNS)
    assert header[9] == "summary" and header[10:] == list(event_csv.DETAIL_CSV_COLUMNS)
    for key in ("queen_seen", "frames_of_brood", "feed", "litres", "kg", "withdrawal_end"):
        assert key in header, key
    assert header.count("kg") == 1  # feedings, harvests and boxes share it
    feeding, harvest, note = rows["feeding"], rows["harvest"], rows["note"]
    assert (feeding["feed"], feeding["litres"], feeding["kg"]) == ("syrup_2_1", "5", "")
    assert harvest["kg"] == "10" and rows["inspection"]["queen_seen"] == "true"
    assert all(note[key] == "" for key in event_csv.DETAIL_CSV_COLUMNS)


@pytest.mark.django_db
def test_csv_has_every_event_not_a_page(as_alice, alice_hive) -> None:
    EventFactory.create_batch(60, hive=alice_hive)
    response = as_alice.get("/events", {"format": "csv"})
    assert response["Content-Disposition"] == 'attachment; filename="events.csv"'
    assert len(_csv(response)) == 60
    assert as_alice.get("/events").json()["count"] == 60


@pytest.mark.django_db
def test_bobs_csv_has_only_his_events(as_bob, mixed_events) -> None:
    rows = _csv(as_bob.get("/events", {"format": "csv"}))
    assert [row["id"] for row in rows] == [str(mixed_events["bobs"].id)]
    assert "brood fine too" in rows[0]["notes"]
    empty = _csv(
        as_bob.get("/events", {"format": "csv", "hive": mixed_events["inspection"].hive_id})
    )
    assert empty == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"format": "csv", "occurred_after": "not-a-date"}, "occurred_after"),
        ({"format": "csv", "page": "2"}, "page"),
        ({"format": "csv", "page_size": "10"}, "page_size"),
        ({"format": "csv", "colour": "blue"}, "colour"),
        ({"format": "csv", "ordering": "notes"}, "ordering"),
        ({"format": "xml"}, "format"),
    ],
)
def test_csv_errors_are_json(as_alice, alice_hive, params, named) -> None:
    response = as_alice.get("/events", params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert named in response.json()


@pytest.mark.django_db
def test_csv_only_on_the_events_list(as_alice, anonymous, alice_hive) -> None:
    event = EventFactory(hive=alice_hive)
    # Elsewhere `format` is not a parameter at all: a 400 naming it (was a bare 404).
    one = as_alice.get(f"/events/{event.id}", {"format": "csv"})
    assert one.status_code == 400 and one["Content-Type"] == "application/json"
    assert "format" in one.json()
    nested = as_alice.get(f"/hives/{alice_hive.id}/events", {"format": "csv"})
    assert nested.status_code == 400 and "format" in nested.json()
    assert as_alice.get("/events", {"format": "json"}).json()["count"] == 1
    unauthenticated = anonymous.get("/events", {"format": "csv"})
    assert unauthenticated.status_code == 401
    assert unauthenticated["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_csv_over_the_limit_is_a_400(as_alice, alice_hive, monkeypatch) -> None:
    from apiary.api import views

    monkeypatch.setattr(views, "CSV_MAX_EVENTS", 2)
    EventFactory.create_batch(3, hive=alice_hive)
    response = as_alice.get("/events", {"format": "csv"})
    assert response.status_code == 400
    assert "More than 2 events match" in response.json()["format"][0]
    assert len(_csv(as_alice.get("/events", {"format": "csv", "search": "nothing"}))) == 0


def test_schema_documents_the_format_of_the_events_list() -> None:
    schema = Client().get("/schema", HTTP_ACCEPT="application/json").json()
    listing = schema["paths"]["/events"]["get"]
    formats = [p for p in listing["parameters"] if p["name"] == "format"]
    assert formats and formats[0]["schema"]["enum"] == ["csv", "json"]
    assert set(listing["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    one = schema["paths"]["/events/{id}"]["get"]
    assert "format" not in [p["name"] for p in one.get("parameters", [])]
    assert (
        "withdrawal_end"
        in schema["components"]["schemas"]["Event"]["properties"]["details"]["description"]
    )
