"""Reads of the sensors app: a hive's sensor link, the field maps of devices, the
integrations a user owns, and which hive an uplink of a user's integration is for."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse

from apiary.device_keys import device_key_hash
from apiary.models import Hive
from core.databases import DEFAULT_DB
from sensors import broker
from sensors.fieldmaps import DEFAULT_MAPS, field_map_effective, field_map_json
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
    """The integration a key belongs to, or None (also when its owner's account is
    deactivated); read from the primary, so a replaced key stops at once."""
    if not key:
        return None
    return (
        Integration.objects.using(DEFAULT_DB)
        .select_related("owner")
        .filter(key_hash=device_key_hash(key), owner__is_active=True)
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


# --- A hive's device -----------------------------------------------------------------

# The adapters whose field maps a device status shows (the others take readings as they are).
ADAPTERS_SHOWN = ("kotori", "beep", "thingspeak", "ttn")


def device_connect(*, hive: Hive, absolute_url: Callable[[str], str]) -> dict[str, Any]:
    """How a device of this hive connects: each adapter's URL (made absolute by
    ``absolute_url``, e.g. the request's build_absolute_uri), credential and topics."""

    def url(name: str) -> str:
        return absolute_url(reverse(name))

    device_id = hive.device_id
    return {
        "telemetry": {
            "url": url("telemetry-ingest"),
            "method": "POST",
            "credential": "X-Device-Key header: the hive's device key",
        },
        "beep": {
            "url": url("sensors-beep"),
            "method": "POST",
            "credential": "key (body or query) or X-Device-Key: the hive's device key",
        },
        "thingspeak": {
            "url": url("sensors-thingspeak-update-json"),
            "text_url": url("sensors-thingspeak-update"),
            "method": "POST (or GET on the text URL)",
            "credential": "api_key (write key): the hive's device key",
        },
        "ttn": {
            "url": url("sensors-ttn-uplink"),
            "method": "POST (TTN v3 webhook, uplink message)",
            "credential": "Authorization: Bearer <integration key> (POST /integrations)",
            "device": f"end_device_ids.dev_eui = the hive's dev_eui, or device_id = {device_id!r}",
        },
        "mqtt": {
            "broker": (settings.MQTT_PUBLIC_URL or settings.MQTT_URL) or None,
            # False: no client at the broker (created while it was down, or a changed
            # device_id): replacing the device key gives the device one.
            "client": broker.device_client_exists(device_id=device_id),
            "username": device_id,
            "password": "the hive's device key",
            "topics": {
                "telemetry": f"beeapi/devices/{device_id}/readings",
                "kotori": f"beeapi/devices/{device_id}/data.json",
            },
        },
    }


def device_status(*, hive: Hive, absolute_url: Callable[[str], str]) -> dict[str, Any]:
    """What GET /hives/{id}/device and the hive's console page show: what the device last
    sent, the field maps in force, and how to connect it."""
    link = sensor_link_get(hive_id=hive.pk)
    user_map = link.field_map if link else None
    return {
        "hive": hive.pk,
        "device_id": hive.device_id,
        "dev_eui": link.dev_eui if link else None,
        "last_adapter": (link.last_adapter or None) if link else None,
        "last_seen_at": link.last_seen_at if link else None,
        "last_payload": (link.last_payload or None) if link else None,
        "last_mapped": link.last_mapped if link else [],
        "last_unmapped": link.last_unmapped if link else [],
        "last_error": link.last_error if link else None,
        "last_error_at": link.last_error_at if link else None,
        "field_map": user_map,
        "field_maps": {
            adapter: field_map_json(field_map_effective(adapter, user_map))
            for adapter in ADAPTERS_SHOWN
            if adapter in DEFAULT_MAPS
        },
        "connect": device_connect(hive=hive, absolute_url=absolute_url),
    }
