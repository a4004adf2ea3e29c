"""Reads of the apiary domain. Every query is scoped to the requesting user."""

from __future__ import annotations

from django.db.models import QuerySet

from apiary.device_keys import device_key_hash
from apiary.models import Hive


def hive_list_owned(*, user) -> QuerySet[Hive]:  # noqa: ANN001
    if getattr(user, "is_superuser", False):
        return Hive.objects.all()
    return Hive.objects.filter(apiary__owner=user)


def hive_get_owned(*, user, hive_id: int) -> Hive | None:  # noqa: ANN001
    """The user's hive, or None: another user's hive is indistinguishable from none."""
    return hive_list_owned(user=user).filter(pk=hive_id).first()


def hive_by_device_key(*, key: str) -> Hive | None:
    if not key:
        return None
    return Hive.objects.filter(device_key_hash=device_key_hash(key)).first()
