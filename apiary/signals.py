"""Keep the device-key cache (apiary.selectors.device_by_key) true to the hives table.

Every change of a hive goes through the ORM (services, the admin, cascades from a deleted
apiary or account), so the model signals see them all. A save forgets the key stored
before it and the one after (a replaced key, a changed device_id); a delete forgets the
hive's key. Both forget again after the commit: between the save and the commit another
request may have read the old row back into the cache.
"""

from __future__ import annotations

from typing import Any

from django.db import router
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from apiary.models import Hive
from apiary.selectors import device_key_cache_key
from beeapi import entity_cache


def _forget(*hashes: str) -> None:
    entity_cache.forget_now_and_after_commit(
        *(device_key_cache_key(h) for h in hashes if h), using=router.db_for_write(Hive)
    )


@receiver(pre_save, sender=Hive)
def _remember_stored_key(sender: Any, instance: Hive, **kwargs: Any) -> None:
    instance._stored_key_hash = (
        Hive.objects.filter(pk=instance.pk).values_list("device_key_hash", flat=True).first()
        if instance.pk
        else None
    )


@receiver(post_save, sender=Hive)
def _forget_saved(sender: Any, instance: Hive, **kwargs: Any) -> None:
    _forget(instance.device_key_hash, getattr(instance, "_stored_key_hash", None) or "")


@receiver(post_delete, sender=Hive)
def _forget_deleted(sender: Any, instance: Hive, **kwargs: Any) -> None:
    _forget(instance.device_key_hash)
