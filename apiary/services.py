"""Writes of the apiary domain, shared by the API, the admin and management commands.

Every function is keyword-only and runs in one transaction on the ``default`` database.
``actor`` is the user acting: objects of another beekeeper are treated as not existing
(superusers may act on everything). Errors are Django ``ValidationError``s keyed by field.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apiary.access import (
    NOT_FOUND,
    full_clean_save,
    require_apiary,
    require_hive,
    require_role,
    set_fields,
)
from apiary.device_keys import device_key_generate, device_key_hash
from apiary.devices import DeviceIdUnavailable, constraint_name, device_claim, device_id_generate
from apiary.event_details import DetailError, details_validate
from apiary.models import Apiary, Device, Event, Hive, QueenBee, Role
from apiary.notices import announce_on_commit, device_key_issued, hive_access_changed
from apiary.selectors import apiary_role, hive_list_visible, queen_list
from telemetry.selectors import device_has_readings
from telemetry.services import readings_purge

# International queen marking colours by the last digit of the year of birth.
_COLOURS = {
    1: "white",
    6: "white",
    2: "yellow",
    7: "yellow",
    3: "red",
    8: "red",
    4: "green",
    9: "green",
    5: "blue",
    0: "blue",
}


def marking_color_for_year(year: int | None) -> str:
    return _COLOURS[year % 10] if year else ""


# --- Apiaries ---------------------------------------------------------------------------

APIARY_FIELDS = {"name", "latitude", "longitude", "address", "notes"}


@transaction.atomic
def apiary_create(*, owner: Any, name: str, **fields: Any) -> Apiary:
    apiary = Apiary(owner=owner, name=name)
    set_fields(apiary, fields, APIARY_FIELDS)
    full_clean_save(apiary)
    return apiary


@transaction.atomic
def apiary_update(*, apiary: Apiary, actor: Any, **fields: Any) -> Apiary:
    require_apiary(actor, apiary, needed=Role.OWNER)
    set_fields(apiary, fields, APIARY_FIELDS)
    full_clean_save(apiary)
    return apiary


@transaction.atomic
def apiary_delete(*, apiary: Apiary, actor: Any) -> None:
    require_apiary(actor, apiary, needed=Role.OWNER)
    apiary.delete()


# --- Hives ------------------------------------------------------------------------------

HIVE_FIELDS = {"apiary", "name", "device_id", "hive_type", "status", "installed_at", "notes"}


def _save_hive(hive: Hive) -> None:
    try:
        with transaction.atomic():
            full_clean_save(hive, exclude=["device_id"])
    except IntegrityError as exc:
        # A concurrent request took the same device_id between the check and the insert.
        if constraint_name(exc) and "device_id" in constraint_name(exc):
            raise DeviceIdUnavailable() from exc
        raise


@transaction.atomic
def hive_create(
    *, actor: Any, apiary: Apiary, name: str, device_id: str | None = None, **fields: Any
) -> tuple[Hive, str | None]:
    """Create a hive and its device key. Returns ``(hive, key)``: the key is shown once,
    to the apiary's owner only (an editor gets None: the owner replaces the key to see one).

    Without a ``device_id`` the hive gets a generated, unguessable one.
    """
    role = require_role(actor, apiary, Role.EDITOR)
    key = device_key_generate()
    hive = Hive(
        apiary=apiary,
        name=name,
        device_id=device_id or device_id_generate(),
        device_key_hash=device_key_hash(key),
        device_key_issued_to_id=apiary.owner_id,
    )
    set_fields(hive, fields, HIVE_FIELDS - {"apiary", "name", "device_id"})
    device_claim(device_id=hive.device_id, owner_id=apiary.owner_id, hive=hive)
    _save_hive(hive)
    device_key_issued.send(sender=Hive, hive=hive, key=key, replaced=False)
    return hive, key if role == Role.OWNER else None


@transaction.atomic
def hive_update(*, hive: Hive, actor: Any, **fields: Any) -> Hive:
    stored = Hive.objects.select_related("apiary").get(pk=hive.pk)
    require_hive(actor, stored)
    if "apiary" in fields and fields["apiary"] != stored.apiary:
        # Moving a hive: its readings and device id belong to its owner, so it moves only
        # between that owner's apiaries (a superuser may hand it to another beekeeper).
        target = fields["apiary"]
        require_apiary(actor, target)
        if not actor.is_superuser and target.owner_id != stored.apiary.owner_id:
            raise ValidationError(
                {"apiary": "A hive moves only between apiaries of the same owner."}
            )
    set_fields(hive, fields, HIVE_FIELDS)
    owner_id = hive.apiary.owner_id
    if hive.device_id != stored.device_id:
        if device_has_readings(device_id=stored.device_id):
            raise ValidationError(
                {
                    "device_id": f"This hive has readings under device_id {stored.device_id!r}; "
                    "changing it would cut the hive off from its history. For a new sensor, "
                    "keep the device_id and replace the device key, or create a new hive."
                }
            )
        device_claim(device_id=hive.device_id, owner_id=owner_id, hive=hive)
        # The old id has no readings and no hive: nothing to keep it for.
        Device.objects.filter(device_id=stored.device_id).delete()
    elif owner_id != stored.apiary.owner_id:
        # A superuser moved the hive to another beekeeper: its history goes with it.
        Device.objects.filter(device_id=hive.device_id).update(owner_id=owner_id)
    _save_hive(hive)
    if hive.apiary_id != stored.apiary_id:
        # Sockets were opened with access to the old apiary; the new one may differ.
        announce_on_commit(hive_access_changed, hive_id=hive.pk)
    return hive


@transaction.atomic
def hive_delete(*, hive: Hive, actor: Any, purge_telemetry: bool = False) -> int:
    """Delete a hive with its queens and events. Returns the number of readings purged.

    Its telemetry stays as a historical record, and its device_id stays registered to the
    owner, unless ``purge_telemetry``: then the readings are deleted too (in a transaction
    of the telemetry database) and the device_id is released. If the purge fails, this
    transaction rolls back and the hive stays.
    """
    require_hive(actor, hive, needed=Role.OWNER)
    device_id, hive_id = hive.device_id, hive.pk
    hive.delete()
    announce_on_commit(hive_access_changed, hive_id=hive_id)
    if not purge_telemetry:
        return 0
    purged = readings_purge(device_id=device_id)
    Device.objects.filter(device_id=device_id).delete()
    return purged


# --- Queens -----------------------------------------------------------------------------

QUEEN_FIELDS = {"marking_color", "year_born", "origin", "mother", "notes"}


def _check_mother(actor: Any, mother: QueenBee | None, queen: QueenBee | None = None) -> None:
    if mother is None:
        return
    # Lineage may come from any apiary the actor can see (a breeder shared as viewer).
    if apiary_role(user=actor, apiary=mother.hive.apiary) is None:
        raise ValidationError({"mother": NOT_FOUND})
    if queen is not None and queen.pk is not None and mother.pk == queen.pk:
        raise ValidationError({"mother": "A queen cannot be her own mother."})


@transaction.atomic
def queen_introduce(
    *,
    actor: Any,
    hive: Hive,
    introduced_at: dt.date | None = None,
    year_born: int | None = None,
    marking_color: str = "",
    origin: str = "",
    mother: QueenBee | None = None,
    notes: str = "",
    removal_reason: str = QueenBee.RemovalReason.REPLACED,
) -> QueenBee:
    """Introduce a queen to ``hive``, retiring the current one in the same transaction.

    The retired queen keeps her record (removed_at, removal_reason): the hive's queen
    history. A ``queen_change`` event is logged on the hive.
    """
    require_hive(actor, hive)
    introduced_at = introduced_at or timezone.localdate()
    _check_mother(actor, mother)
    # Lock the hive so two concurrent introductions cannot both see "no current queen".
    Hive.objects.select_for_update().filter(pk=hive.pk).first()
    current = hive.queens.filter(is_current=True).first()
    if current is not None:
        if introduced_at < current.introduced_at:
            raise ValidationError(
                {
                    "introduced_at": f"The current queen was introduced on {current.introduced_at}; a successor cannot come earlier."
                }
            )
        if removal_reason not in QueenBee.RemovalReason.values:
            raise ValidationError(
                {"removal_reason": f"Choose one of {', '.join(QueenBee.RemovalReason.values)}."}
            )
        current.is_current = False
        current.removed_at = introduced_at
        current.removal_reason = removal_reason
        current.save(update_fields=["is_current", "removed_at", "removal_reason"])
    queen = QueenBee(
        hive=hive,
        introduced_at=introduced_at,
        year_born=year_born,
        marking_color=marking_color or marking_color_for_year(year_born),
        origin=origin,
        mother=mother,
        notes=notes,
        is_current=True,
    )
    full_clean_save(queen)
    Event.objects.create(
        hive=hive,
        type=Event.Type.QUEEN_CHANGE,
        occurred_at=timezone.make_aware(dt.datetime.combine(introduced_at, dt.time(12))),
        details={"queen_id": queen.pk, "previous_queen_id": current.pk if current else None},
        notes=f"Queen introduced{f' ({origin})' if origin else ''}.",
    )
    return queen


@transaction.atomic
def queen_update(*, queen: QueenBee, actor: Any, **fields: Any) -> QueenBee:
    require_hive(actor, queen.hive)
    _check_mother(actor, fields.get("mother"), queen)
    set_fields(queen, fields, QUEEN_FIELDS)
    if "year_born" in fields and "marking_color" not in fields:
        queen.marking_color = marking_color_for_year(queen.year_born) or queen.marking_color
    full_clean_save(queen)
    return queen


@transaction.atomic
def queen_retire(
    *, queen: QueenBee, actor: Any, removal_reason: str, removed_at: dt.date | None = None
) -> QueenBee:
    """Mark the current queen as gone (died, swarmed, ...) without a successor."""
    require_hive(actor, queen.hive)
    if not queen.is_current:
        raise ValidationError({"is_current": "This queen is already retired."})
    if removal_reason not in QueenBee.RemovalReason.values:
        raise ValidationError(
            {"removal_reason": f"Choose one of {', '.join(QueenBee.RemovalReason.values)}."}
        )
    removed_at = removed_at or timezone.localdate()
    if removed_at < queen.introduced_at:
        raise ValidationError(
            {
                "removed_at": f"The queen was introduced on {queen.introduced_at}; "
                "she cannot leave before that."
            }
        )
    queen.is_current = False
    queen.removed_at = removed_at
    queen.removal_reason = removal_reason
    full_clean_save(queen)
    return queen


@transaction.atomic
def queen_delete(*, queen: QueenBee, actor: Any) -> None:
    require_hive(actor, queen.hive)
    queen.delete()


# --- Events -----------------------------------------------------------------------------


def _event_parent(actor: Any, hive: Hive | None, apiary: Apiary | None) -> None:
    if (hive is None) == (apiary is None):
        raise ValidationError({"hive": "An event belongs to exactly one hive or one apiary."})
    if hive is not None:
        require_hive(actor, hive)
    else:
        require_apiary(actor, apiary)


@transaction.atomic
def event_create(
    *,
    actor: Any,
    type: str,  # noqa: A002 - the API field name
    occurred_at: dt.datetime,
    hive: Hive | None = None,
    apiary: Apiary | None = None,
    notes: str = "",
    details: dict[str, Any] | None = None,
) -> Event:
    _event_parent(actor, hive, apiary)
    if type not in Event.Type.values:
        raise ValidationError({"type": f"Choose one of {', '.join(Event.Type.values)}."})
    event = Event(hive=hive, apiary=apiary, type=type, occurred_at=occurred_at, notes=notes)
    event.details = _event_details(actor, event, details)
    full_clean_save(event)
    return event


EVENT_FIELDS = {"hive", "apiary", "type", "occurred_at", "notes", "details"}


@transaction.atomic
def event_update(*, event: Event, actor: Any, **fields: Any) -> Event:
    _event_parent(actor, event.hive, event.apiary)
    if "hive" in fields or "apiary" in fields:
        _event_parent(actor, fields.get("hive", event.hive), fields.get("apiary", event.apiary))
    stored = event.details if fields.get("type", event.type) == event.type else None
    set_fields(event, fields, EVENT_FIELDS)
    event.details = _event_details(actor, event, event.details, stored=stored)
    full_clean_save(event)
    return event


# A split names the hive it went into and that colony's queen: objects the actor sees.
_SPLIT_TARGETS = {
    "new_hive": lambda actor: hive_list_visible(user=actor),
    "new_queen": lambda actor: queen_list(user=actor),
}


def _event_details(
    actor: Any, event: Event, details: Any, *, stored: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``details`` validated for ``event`` (apiary.event_details). A split's hive and queen
    must be visible to the actor; an id already stored (``stored``: the details before an
    update of the same type) is kept unchecked, so an event stays editable after the hive
    it names was deleted or unshared."""
    cleaned = details_validate(event.type, details, occurred_at=event.occurred_at)
    if event.type != Event.Type.SPLIT:
        return cleaned
    for key, visible in _SPLIT_TARGETS.items():
        target = cleaned.get(key)
        if target is None or (stored is not None and stored.get(key) == target):
            continue
        if not visible(actor).filter(pk=target).exists():
            raise ValidationError({"details": [DetailError(key, NOT_FOUND)]})
        if key == "new_hive" and target == event.hive_id:
            raise ValidationError(
                {"details": [DetailError(key, "The new hive cannot be the hive that was split.")]}
            )
    return cleaned


@transaction.atomic
def event_delete(*, event: Event, actor: Any) -> None:
    _event_parent(actor, event.hive, event.apiary)
    event.delete()
