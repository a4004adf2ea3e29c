"""Reads of the sensors app: a hive's sensor link, the field maps of devices, the
integrations a user owns, and which hive an uplink of a user's integration is for."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django.db.models import QuerySet

from apiary.device_keys import device_key_hash
from apiary.models import Hive
from core.databases import DEFAULT_DB
from sensors.models import Integration, SensorLink


def sensor_link_get(*, hive_id: int) -> SensorLink | None:
    return SensorLink.objects.filter(hive_id=hive_id).first()


def field_maps_for(*, device_ids: Collection[str]) -> dict[str, dict | None]:
    """The hive's own field map of each device (None: the adapter's default), in one
    query; a device without a hive or link maps to None."""
    found = dict(
        SensorLink.objects.filter(hive__device_id__in=list(device_ids)).values_list(
            "hive__device_id", "field_map"
        )
    )
    return {device_id: found.get(device_id) for device_id in device_ids}


def dev_eui_in_use(*, dev_eui: str, hive_id: int) -> bool:
    """Whether a hive other than ``hive_id`` (anyone's) has the DevEUI."""
    return SensorLink.objects.filter(dev_eui=dev_eui).exclude(hive_id=hive_id).exists()


def integration_list(*, user: Any) -> QuerySet[Integration]:
    """The user's own integrations (nobody else's, a superuser's neither)."""
    return Integration.objects.filter(owner_id=user.pk)


def integration_by_key(*, key: str) -> Integration | None:
    """The integration a key belongs to, or None; read from the primary, so a replaced
    key stops at once."""
    if not key:
        return None
    return (
        Integration.objects.using(DEFAULT_DB)
        .select_related("owner")
        .filter(key_hash=device_key_hash(key))
        .first()
    )


def hive_for_uplink(*, owner_id: int, device_id: str | None, dev_eui: str | None) -> Hive | None:
    """The hive an uplink is for, among the hives of apiaries ``owner_id`` owns (shared
    apiaries do not count): the one whose DevEUI is the uplink's, else the one whose
    device_id is the end device's ID."""
    own = Hive.objects.using(DEFAULT_DB).filter(apiary__owner_id=owner_id)
    if dev_eui:
        hive = own.filter(sensor_link__dev_eui=dev_eui.upper()).first()
        if hive is not None:
            return hive
    if device_id:
        return own.filter(device_id=device_id).first()
    return None


def device_ids_with_hive(*, device_ids: Collection[str]) -> set[str]:
    """Those of ``device_ids`` that a hive has (one query)."""
    return set(
        Hive.objects.filter(device_id__in=list(device_ids)).values_list("device_id", flat=True)
    )
