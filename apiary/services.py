"""Writes of the apiary domain, shared by the API, the admin and management commands.

Every function is keyword-only and runs in one transaction on the ``default`` database.
``actor`` is the user acting: objects of another beekeeper are treated as not existing
(superusers may act on everything). Errors are Django ``ValidationError``s keyed by field.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import normalize_email
from apiary.device_keys import device_key_generate, device_key_hash
from apiary.event_details import DetailError, details_validate
from apiary.models import Apiary, Device, Event, Hive, Membership, QueenBee, Role
from apiary.selectors import apiary_role, hive_list_owned, queen_list, role_allows
from beeapi.entity_cache import CacheUnavailable
from telemetry import live
from telemetry.selectors import device_has_readings, devices_with_readings
from telemetry.services import readings_purge

DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
NOT_FOUND = "Not found."

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


class RoleRequired(PermissionDenied):
    """The actor sees the object but their role does not allow the action (HTTP 403)."""

    def __init__(self, needed: str, role: str) -> None:
        article = "an" if role[:1] in "aeiou" else "a"
        super().__init__(f"This needs the {needed} role in this apiary; you are {article} {role}.")
        self.needed, self.role = needed, role
        self.code = "role_required"


def _require_role(
    actor: Any, apiary: Apiary | None, needed: str = Role.EDITOR, *, field: str = "apiary"
) -> str:
    """The actor's role in ``apiary`` when it allows ``needed``.

    An apiary the actor has no role in is "not found" (a field error: the object was
    named in a body; objects in a URL were looked up through the selectors already), a
    role too low is a 403 naming the role needed.
    """
    role = apiary_role(user=actor, apiary=apiary) if apiary is not None else None
    if role is None:
        raise ValidationError({field: NOT_FOUND})
    if not role_allows(role, needed):
        raise RoleRequired(needed, role)
    return role


def _require_apiary(
    actor: Any, apiary: Apiary | None, field: str = "apiary", needed: str = Role.EDITOR
) -> Apiary:
    _require_role(actor, apiary, needed, field=field)
    return apiary  # type: ignore[return-value]


def _require_hive(
    actor: Any, hive: Hive | None, field: str = "hive", needed: str = Role.EDITOR
) -> Hive:
    _require_role(actor, hive.apiary if hive is not None else None, needed, field=field)
    return hive  # type: ignore[return-value]


def hive_require_role(*, actor: Any, hive: Hive, needed: str) -> str:
    """For callers outside this module that act on a hive (posting its readings)."""
    return _require_role(actor, hive.apiary, needed, field="hive")


def _set(obj: Any, fields: dict[str, Any], allowed: set[str]) -> list[str]:
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({key: "This field cannot be changed." for key in sorted(unknown)})
    for key, value in fields.items():
        setattr(obj, key, value)
    return list(fields)


def _full_clean_save(obj: Any, *, exclude: list[str] | None = None) -> None:
    # full_clean runs the model's field and constraint validation, so the admin and the
    # API report the same field-level errors before the database would refuse the row.
    obj.full_clean(exclude=exclude)
    obj.save()


# --- Apiaries ---------------------------------------------------------------------------

APIARY_FIELDS = {"name", "latitude", "longitude", "address", "notes"}


@transaction.atomic
def apiary_create(*, owner: Any, name: str, **fields: Any) -> Apiary:
    apiary = Apiary(owner=owner, name=name)
    _set(apiary, fields, APIARY_FIELDS)
    _full_clean_save(apiary)
    return apiary


@transaction.atomic
def apiary_update(*, apiary: Apiary, actor: Any, **fields: Any) -> Apiary:
    _require_apiary(actor, apiary, needed=Role.OWNER)
    _set(apiary, fields, APIARY_FIELDS)
    _full_clean_save(apiary)
    return apiary


@transaction.atomic
def apiary_delete(*, apiary: Apiary, actor: Any) -> None:
    _require_apiary(actor, apiary, needed=Role.OWNER)
    apiary.delete()


# --- Hives ------------------------------------------------------------------------------

HIVE_FIELDS = {"apiary", "name", "device_id", "hive_type", "status", "installed_at", "notes"}
DEVICE_ID_FORMAT = (
    "Use 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit."
)
DEVICE_ID_UNAVAILABLE = (
    "This device_id is not available. Choose another, or leave it out to get a generated one."
)


class Conflict(ValidationError):
    """A request that contradicts what exists (HTTP 409), keyed by field like any error."""

    http_status = 409


class DeviceIdUnavailable(Conflict):
    """A device_id that belongs to another hive or beekeeper.

    The message never says whose it is: a device_id reveals nothing about other accounts.
    """

    def __init__(self, message: str = DEVICE_ID_UNAVAILABLE) -> None:
        super().__init__({"device_id": message}, code="device_id_unavailable")


def device_id_generate() -> str:
    """An unguessable device_id for a hive created without one."""
    return f"bee-{secrets.token_hex(12)}"


def _constraint_name(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def _device_claim(*, device_id: str, owner_id: int | None, hive: Hive) -> None:
    """Register ``device_id`` to ``owner_id`` (the hive's owner), or refuse it.

    A device_id stays with the first owner for as long as it is registered (see
    apiary.models.Device): one of theirs is free when no other hive uses it.
    """
    if not DEVICE_ID_RE.match(device_id or ""):
        raise ValidationError({"device_id": DEVICE_ID_FORMAT})
    device, _ = Device.objects.select_for_update().get_or_create(
        device_id=device_id, defaults={"owner_id": owner_id}
    )
    if device.owner_id != owner_id:
        raise DeviceIdUnavailable()
    other = Hive.objects.filter(device_id=device_id).exclude(pk=hive.pk).first()
    if other is not None:
        raise DeviceIdUnavailable(f"Your hive “{other.name}” already uses this device_id.")


def _save_hive(hive: Hive) -> None:
    try:
        with transaction.atomic():
            _full_clean_save(hive, exclude=["device_id"])
    except IntegrityError as exc:
        # A concurrent request took the same device_id between the check and the insert.
        if _constraint_name(exc) and "device_id" in _constraint_name(exc):
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
    role = _require_role(actor, apiary, Role.EDITOR)
    key = device_key_generate()
    hive = Hive(
        apiary=apiary,
        name=name,
        device_id=device_id or device_id_generate(),
        device_key_hash=device_key_hash(key),
        device_key_issued_to_id=apiary.owner_id,
    )
    _set(hive, fields, HIVE_FIELDS - {"apiary", "name", "device_id"})
    _device_claim(device_id=hive.device_id, owner_id=apiary.owner_id, hive=hive)
    _save_hive(hive)
    return hive, key if role == Role.OWNER else None


@transaction.atomic
def hive_update(*, hive: Hive, actor: Any, **fields: Any) -> Hive:
    stored = Hive.objects.select_related("apiary").get(pk=hive.pk)
    _require_hive(actor, stored)
    if "apiary" in fields and fields["apiary"] != stored.apiary:
        # Moving a hive: its readings and device id belong to its owner, so it moves only
        # between that owner's apiaries (a superuser may hand it to another beekeeper).
        target = fields["apiary"]
        _require_apiary(actor, target)
        if not actor.is_superuser and target.owner_id != stored.apiary.owner_id:
            raise ValidationError(
                {"apiary": "A hive moves only between apiaries of the same owner."}
            )
    _set(hive, fields, HIVE_FIELDS)
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
        _device_claim(device_id=hive.device_id, owner_id=owner_id, hive=hive)
        # The old id has no readings and no hive: nothing to keep it for.
        Device.objects.filter(device_id=stored.device_id).delete()
    elif owner_id != stored.apiary.owner_id:
        # A superuser moved the hive to another beekeeper: its history goes with it.
        Device.objects.filter(device_id=hive.device_id).update(owner_id=owner_id)
    _save_hive(hive)
    if hive.apiary_id != stored.apiary_id:
        # Sockets were opened with access to the old apiary; the new one may differ.
        transaction.on_commit(lambda: live.hive_streams_close(hive_id=hive.pk))
    return hive


@transaction.atomic
def hive_delete(*, hive: Hive, actor: Any, purge_telemetry: bool = False) -> int:
    """Delete a hive with its queens and events. Returns the number of readings purged.

    Its telemetry stays as a historical record, and its device_id stays registered to the
    owner, unless ``purge_telemetry``: then the readings are deleted too (in a transaction
    of the telemetry database) and the device_id is released. If the purge fails, this
    transaction rolls back and the hive stays.
    """
    _require_hive(actor, hive, needed=Role.OWNER)
    device_id, hive_id = hive.device_id, hive.pk
    hive.delete()
    transaction.on_commit(lambda: live.hive_streams_close(hive_id=hive_id))
    if not purge_telemetry:
        return 0
    purged = readings_purge(device_id=device_id)
    Device.objects.filter(device_id=device_id).delete()
    return purged


def devices_release_unused() -> list[str]:
    """Free the device ids of deleted hives whose readings are all gone (expired by the
    retention or purged): with no history left there is nothing to protect. Returns them.

    "All gone" means raw readings and hourly rows (devices_with_readings looks at both):
    the two expire by separate jobs, and whoever gets the id next must see neither.
    """
    no_hive = ~Exists(Hive.objects.filter(device_id=OuterRef("device_id")))
    orphaned = list(Device.objects.filter(no_hive).values_list("device_id", flat=True))
    free = sorted(set(orphaned) - devices_with_readings(device_ids=orphaned))
    # Filtered again: a hive may have taken one of them back in the meantime.
    Device.objects.filter(no_hive, device_id__in=free).delete()
    return free


DEVICE_KEY_NOT_REPLACED = (
    "The device key could not be replaced: the cache is unavailable. Try again."
)
DEVICE_KEYS_NOT_REPLACED = (
    "The device keys could not be replaced: the cache is unavailable. Try again."
)


def _device_key_replace(hive: Hive, *, owner_id: int) -> str:
    """A new key for ``hive``, issued under ``owner_id``. Saving it revokes the old key
    in the entities cache (apiary.signals), or raises CacheUnavailable: then the caller's
    transaction rolls back and the old key stays, unchanged and working."""
    key = device_key_generate()
    hive.device_key_hash = device_key_hash(key)
    hive.device_key_issued_to_id = owner_id
    hive.save(update_fields=["device_key_hash", "device_key_issued_to", "updated_at"])
    return key


def _locked_owner_id(apiary_id: int) -> int:
    # The owner under whom a key is issued: locked, so a handover committing meanwhile
    # cannot leave a key marked as issued under the new owner while the old one saw it.
    return Apiary.objects.select_for_update().values_list("owner_id", flat=True).get(pk=apiary_id)


@transaction.atomic
def hive_rotate_device_key(*, hive: Hive, actor: Any) -> str:
    """Replace the hive's device key; the old one stops working at once. Owner only.

    Fails as a whole (CacheUnavailable, 503) when the old key cannot be revoked in the
    entities cache: a replacement must never leave the old key working from the cache.
    """
    _require_hive(actor, hive, needed=Role.OWNER)
    try:
        return _device_key_replace(hive, owner_id=_locked_owner_id(hive.apiary_id))
    except CacheUnavailable as exc:
        raise CacheUnavailable(DEVICE_KEY_NOT_REPLACED) from exc


@transaction.atomic
def apiary_rotate_device_keys(*, apiary: Apiary, actor: Any) -> list[tuple[Hive, str]]:
    """Replace the device key of every hive of ``apiary`` (after a handover, say), in one
    transaction. Returns ``(hive, key)`` pairs; the keys are shown once. Owner only.

    All or nothing: when one old key cannot be revoked in the entities cache, no key is
    replaced (CacheUnavailable, 503).
    """
    _require_apiary(actor, apiary, needed=Role.OWNER)
    owner_id = _locked_owner_id(apiary.pk)
    hives = list(Hive.objects.select_for_update().filter(apiary=apiary).order_by("name", "id"))
    try:
        return [(hive, _device_key_replace(hive, owner_id=owner_id)) for hive in hives]
    except CacheUnavailable as exc:
        raise CacheUnavailable(DEVICE_KEYS_NOT_REPLACED) from exc


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
    _require_hive(actor, hive)
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
    _full_clean_save(queen)
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
    _require_hive(actor, queen.hive)
    _check_mother(actor, fields.get("mother"), queen)
    _set(queen, fields, QUEEN_FIELDS)
    if "year_born" in fields and "marking_color" not in fields:
        queen.marking_color = marking_color_for_year(queen.year_born) or queen.marking_color
    _full_clean_save(queen)
    return queen


@transaction.atomic
def queen_retire(
    *, queen: QueenBee, actor: Any, removal_reason: str, removed_at: dt.date | None = None
) -> QueenBee:
    """Mark the current queen as gone (died, swarmed, ...) without a successor."""
    _require_hive(actor, queen.hive)
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
    _full_clean_save(queen)
    return queen


@transaction.atomic
def queen_delete(*, queen: QueenBee, actor: Any) -> None:
    _require_hive(actor, queen.hive)
    queen.delete()


# --- Events -----------------------------------------------------------------------------


def _event_parent(actor: Any, hive: Hive | None, apiary: Apiary | None) -> None:
    if (hive is None) == (apiary is None):
        raise ValidationError({"hive": "An event belongs to exactly one hive or one apiary."})
    if hive is not None:
        _require_hive(actor, hive)
    else:
        _require_apiary(actor, apiary)


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
    _full_clean_save(event)
    return event


EVENT_FIELDS = {"hive", "apiary", "type", "occurred_at", "notes", "details"}


@transaction.atomic
def event_update(*, event: Event, actor: Any, **fields: Any) -> Event:
    _event_parent(actor, event.hive, event.apiary)
    if "hive" in fields or "apiary" in fields:
        _event_parent(actor, fields.get("hive", event.hive), fields.get("apiary", event.apiary))
    stored = event.details if fields.get("type", event.type) == event.type else None
    _set(event, fields, EVENT_FIELDS)
    event.details = _event_details(actor, event, event.details, stored=stored)
    _full_clean_save(event)
    return event


# A split names the hive it went into and that colony's queen: objects the actor sees.
_SPLIT_TARGETS = {
    "new_hive": lambda actor: hive_list_owned(user=actor),
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


# --- Members ----------------------------------------------------------------------------

MEMBER_ROLES = (Role.VIEWER, Role.EDITOR)


def _role_choice(role: str, allowed: tuple[str, ...]) -> str:
    if role not in allowed:
        raise ValidationError({"role": f"Choose one of {', '.join(allowed)}."})
    return role


@transaction.atomic
def member_invite(*, actor: Any, apiary: Apiary, email: str, role: str) -> Membership:
    """Give ``email`` a role in ``apiary``: a membership when an account has proven that
    address, otherwise an invitation that becomes one when an account verifies it
    (``invitations_accept``). Owner only.

    The result looks the same either way, so inviting reveals nobody's account.
    """
    _require_apiary(actor, apiary, needed=Role.OWNER)
    _role_choice(role, MEMBER_ROLES)
    email = normalize_email(email)
    if email == normalize_email(apiary.owner.email):
        raise ValidationError({"email": "This is the apiary's owner."})
    if Membership.objects.filter(apiary=apiary, email=email).exists():
        raise Conflict({"email": "This address is already a member or invited."})
    # Locked: a verification committing meanwhile either is seen here or, waiting for
    # this transaction, accepts the invitation it creates.
    account = get_user_model().objects.select_for_update().filter(email=email).first()
    user = account if account is not None and account.email_verified else None
    membership = Membership(apiary=apiary, user=user, email=email, role=role, invited_by=actor)
    try:
        with transaction.atomic():
            _full_clean_save(membership, exclude=["user"])
    except IntegrityError as exc:  # a concurrent invitation of the same address
        raise Conflict({"email": "This address is already a member or invited."}) from exc
    return membership


@transaction.atomic
def member_update(*, actor: Any, membership: Membership, role: str | None = None) -> Membership:
    """Change a member's role (None: no change); ``owner`` hands the apiary over. Owner
    only.

    Handing over makes the member the owner and the previous owner an editor; the
    device ids of the apiary's hives (and so their readings) go to the new owner. The
    hives' device keys stay as they are, marked as issued under the previous owner
    (selectors.hives_keyed_by_previous_owner), who may still know them: the new owner
    replaces them, one by one or all at once (apiary_rotate_device_keys).
    """
    apiary = membership.apiary
    _require_apiary(actor, apiary, needed=Role.OWNER)
    if role is None:
        return membership
    _role_choice(role, (*MEMBER_ROLES, Role.OWNER))
    if role != Role.OWNER:
        membership.role = role
        membership.save(update_fields=["role"])
        return membership
    if membership.user is None:
        raise ValidationError(
            {"role": "An invitation cannot own the apiary before it is accepted."}
        )
    Apiary.objects.select_for_update().filter(pk=apiary.pk).first()
    previous = apiary.owner
    apiary.owner = membership.user
    apiary.save(update_fields=["owner", "updated_at"])
    membership.user, membership.email, membership.role = previous, previous.email, Role.EDITOR
    membership.save(update_fields=["user", "email", "role"])
    Device.objects.filter(device_id__in=apiary.hives.values("device_id")).update(owner=apiary.owner)
    return membership


@transaction.atomic
def member_remove(*, actor: Any, membership: Membership) -> None:
    """Remove a member or an invitation (owner), or leave an apiary (the member).

    Takes effect at once: the member's next request is a 404, and their open live
    streams of the apiary's hives close (4404) when this commits.
    """
    leaving = membership.user_id is not None and membership.user_id == getattr(actor, "pk", None)
    if not leaving:
        _require_apiary(actor, membership.apiary, needed=Role.OWNER)
    apiary_id, user_id = membership.apiary_id, membership.user_id
    membership.delete()
    if user_id is not None:
        transaction.on_commit(lambda: live.access_revoked(apiary_id=apiary_id, user_id=user_id))


def invitations_accept(*, user: Any) -> int:
    """Turn the invitations of ``user``'s email into memberships, once the account has
    proven the address (apiary.signals, on accounts' ``email_verified``)."""
    if not user.email_verified:
        return 0
    invitations = Membership.objects.filter(user__isnull=True, email=normalize_email(user.email))
    # An account that changed its address may already be in (or own) an apiary that also
    # invited the new one: that invitation stays for the owner to remove.
    invitations = invitations.exclude(apiary__memberships__user=user).exclude(apiary__owner=user)
    return invitations.update(user=user)
