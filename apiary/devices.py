"""The device registry and device keys: which beekeeper a device id belongs to, and
the key a hive's sensor gateway sends. Writes shared by the API, the admin and commands."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from apiary.access import Conflict, require_apiary, require_hive
from apiary.device_keys import device_key_generate, device_key_hash
from apiary.models import Apiary, Device, Hive, Role, validate_device_id
from apiary.notices import device_key_issued
from core.entity_cache import CacheUnavailable
from telemetry.selectors import devices_with_readings
from telemetry.services import calibrations_drop

DEVICE_ID_UNAVAILABLE = (
    "This device_id is not available. Choose another, or leave it out to get a generated one."
)


class DeviceIdUnavailable(Conflict):
    """A device_id that belongs to another hive or beekeeper.

    The message never says whose it is: a device_id reveals nothing about other accounts.
    """

    def __init__(self, message: str = DEVICE_ID_UNAVAILABLE) -> None:
        super().__init__({"device_id": message}, code="device_id_unavailable")


def device_id_generate() -> str:
    """An unguessable device_id for a hive created without one."""
    return f"bee-{secrets.token_hex(12)}"


def constraint_name(exc: IntegrityError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def device_claim(*, device_id: str, owner_id: int | None, hive: Hive) -> None:
    """Register ``device_id`` to ``owner_id`` (the hive's owner), or refuse it.

    A device_id stays with the first owner for as long as it is registered (see
    apiary.models.Device): one of theirs is free when no other hive uses it.
    """
    try:
        validate_device_id(device_id or "")
    except ValidationError as exc:
        raise ValidationError({"device_id": exc.messages}) from None
    device, _ = Device.objects.select_for_update().get_or_create(
        device_id=device_id, defaults={"owner_id": owner_id}
    )
    if device.owner_id != owner_id:
        raise DeviceIdUnavailable()
    other = Hive.objects.filter(device_id=device_id).exclude(pk=hive.pk).first()
    if other is not None:
        raise DeviceIdUnavailable(f"Your hive “{other.name}” already uses this device_id.")


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
    released = list(
        Device.objects.filter(no_hive, device_id__in=free).values_list("device_id", flat=True)
    )
    Device.objects.filter(no_hive, device_id__in=released).delete()
    # Their calibrations were the last of them: whoever gets an id next starts raw.
    calibrations_drop(device_ids=released)
    return free


DEVICE_KEY_NOT_REPLACED = (
    "The device key could not be replaced: the cache is unavailable. Try again."
)
DEVICE_KEYS_NOT_REPLACED = (
    "The device keys could not be replaced: the cache is unavailable. Try again."
)


def _device_key_replace(hive: Hive, *, owner_id: int) -> str:
    """A new key for ``hive``, issued under ``owner_id``. Saving it revokes the old key
    in the entities cache (apiary.signals), or raises CacheUnavailable; the receivers of
    ``device_key_issued`` (the MQTT broker's client, sensors.signals) may refuse it the
    same way. Then the caller's transaction rolls back and the old key stays, unchanged
    and working."""
    key = device_key_generate()
    hive.device_key_hash = device_key_hash(key)
    hive.device_key_issued_to_id = owner_id
    hive.save(update_fields=["device_key_hash", "device_key_issued_to", "updated_at"])
    device_key_issued.send(sender=Hive, hive=hive, key=key, replaced=True)
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
    require_hive(actor, hive, needed=Role.OWNER)
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
    require_apiary(actor, apiary, needed=Role.OWNER)
    owner_id = _locked_owner_id(apiary.pk)
    hives = list(Hive.objects.select_for_update().filter(apiary=apiary).order_by("name", "id"))
    try:
        return [(hive, _device_key_replace(hive, owner_id=owner_id)) for hive in hives]
    except CacheUnavailable as exc:
        raise CacheUnavailable(DEVICE_KEYS_NOT_REPLACED) from exc
