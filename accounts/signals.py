"""What accounts tells the apps above it, and the cached users kept true to the table.

``email_verified`` is sent (with ``user``) when an account's address is proven, inside
the transaction that records it: apps that give an address something (apiary's
invitations) listen, so accounts imports none of them.

The cached users (accounts.authentication): users change through the ORM (registration,
password changes, the admin, deletion with its cascades), so the model signals see every
change. Each one forgets the user at once and again after the commit
(core.entity_cache.forget_now_and_after_commit).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import router
from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from accounts.selectors import user_cache_key
from core import entity_cache

User = get_user_model()

email_verified = Signal()


def _forget(user_id: Any) -> None:
    entity_cache.forget_now_and_after_commit(
        user_cache_key(user_id), using=router.db_for_write(User)
    )


@receiver(post_save, sender=User, dispatch_uid="accounts.forget_saved_user")
def _forget_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    _forget(instance.pk)


@receiver(post_delete, sender=User, dispatch_uid="accounts.forget_deleted_user")
def _forget_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    _forget(instance.pk)
