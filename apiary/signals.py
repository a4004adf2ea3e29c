"""Keep the device-key cache (apiary.selectors.device_by_key) true to the hives table,
and turn an address's invitations into memberships when accounts says it is verified.

Every change of a hive goes through the ORM (services, the admin, cascades from a deleted
apiary or account), so the model signals see them all. A key that stops opening what the
cache says it opens is revoked (core.entity_cache.revoke) inside the change's
transaction: a replaced key, the key of a deleted hive, and the key of a hive whose
device_id changed. A tombstone overwrites whatever the cache holds and readers cannot
overwrite it, so the old key is refused as soon as the change commits. When the cache
cannot take the tombstone the change fails as a whole (CacheUnavailable, 503) rather
than leave a stale entry that would authenticate the old key once the cache is back.
Saves that change neither the key nor the device_id touch no cache.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from accounts.signals import email_verified
from apiary import members
from apiary.models import Hive
from apiary.selectors import device_key_cache_key
from core import entity_cache
from telemetry.selectors import Explanations
from telemetry.signals import weight_explanations


def device_keys_revoke(*hashes: str, detail: str | None = None) -> None:
    """Tombstone these keys' cache entries, or raise CacheUnavailable (with ``detail``)."""
    keys = [device_key_cache_key(h) for h in dict.fromkeys(hashes) if h]
    entity_cache.revoke(*keys, detail=detail)


def _not_changed(hive: Hive) -> str:
    return (
        f"Nothing was changed: the device key of hive {hive.name} ({hive.device_id}) "
        "could not be revoked, the cache is unavailable. Try again."
    )


@receiver(pre_save, sender=Hive)
def _remember_stored_key(sender: Any, instance: Hive, **kwargs: Any) -> None:
    instance._stored_key = (
        Hive.objects.filter(pk=instance.pk).values_list("device_key_hash", "device_id").first()
        if instance.pk
        else None
    )


@receiver(post_save, sender=Hive)
def _revoke_saved(sender: Any, instance: Hive, **kwargs: Any) -> None:
    stored = getattr(instance, "_stored_key", None)
    if stored is None:
        return  # a new hive: its key was never looked up (unknown keys are not cached)
    stored_hash, stored_device_id = stored
    revoked = []
    if stored_hash != instance.device_key_hash:
        revoked.append(stored_hash)
    if stored_device_id != instance.device_id:
        revoked.append(instance.device_key_hash)  # its cached answer names the old id
    device_keys_revoke(*revoked, detail=_not_changed(instance))


@receiver(post_delete, sender=Hive)
def _revoke_deleted(sender: Any, instance: Hive, **kwargs: Any) -> None:
    device_keys_revoke(instance.device_key_hash, detail=_not_changed(instance))


@receiver(email_verified, dispatch_uid="apiary.accept_invitations")
def _accept_invitations(sender: Any, user: Any, **kwargs: Any) -> None:
    # Apiaries shared with the address before it was proven become the account's.
    members.invitations_accept(user=user)


@receiver(weight_explanations, dispatch_uid="apiary_weight_events")
def _weight_events(
    sender: Any, device_id: str, start: Any, end: Any, **kwargs: Any
) -> Explanations:
    """The hive's events that put weight on the scale or took it off explain changes
    WEIGHT_EVENT_MARGIN_MINUTES either side of them; a recorded swarm keeps its loss."""
    from apiary.selectors import weight_event_windows

    return weight_event_windows(device_id=device_id, start=start, end=end)
