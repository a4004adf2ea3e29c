"""Writes of the sensors app: readings from a sensor's own payload (mapped, then stored by
telemetry.services.readings_ingest like every reading), what each device last sent, a
hive's field map and DevEUI, the user's integrations, and the broker's device clients
brought in line with the hives (``broker_reconcile``).

Every adapter (BEEP, ThingSpeak, TTN, MQTT) records what arrived, on success and on
failure: readings are stored all or nothing on the telemetry database, the record is
written afterwards in its own transaction on the default database, so a rejected payload
leaves its error for the beekeeper to see and no reading.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F

from apiary.access import require_hive
from apiary.device_keys import device_key_hash
from apiary.models import Hive, Role
from apiary.selectors import HIVE_TABLE
from sensors import broker
from sensors.fieldmaps import (
    Mapped,
    PayloadInvalid,
    field_map_effective,
    field_map_errors,
    field_map_normalized,
    payload_map,
)
from sensors.models import DEV_EUI_PATTERN, PAYLOAD_MAX_CHARS, Integration, SensorLink
from sensors.selectors import dev_eui_in_use, field_maps_for, hive_for_uplink
from telemetry.services import readings_ingest
from telemetry.validation import ReadingsInvalid

INTEGRATION_KEY_PREFIX = "bi_"
# Payload keys that carry a credential: never stored in what a device last sent.
CREDENTIAL_KEYS = frozenset({"key", "api_key"})
# Where each adapter's reading time comes from, for errors about it.
_TIME_KEYS = {"kotori": "time", "beep": "time", "thingspeak": "created_at", "ttn": "received_at"}


@dataclass(frozen=True)
class DeviceActivity:
    """What one device sent once: ``error`` is None on success."""

    device_id: str
    adapter: str
    at: datetime
    payload_text: str
    mapped: Sequence[str]
    unmapped: Sequence[str]
    error: Any = None


@dataclass(frozen=True)
class SensorIngest:
    accepted: int
    duplicates: int
    mapped: list[str]
    unmapped: list[str]
    time: str | None  # the (first) reading's time
    entry_id: int | None = None  # ThingSpeak's entry id, when asked for


class SensorIngestFailed(Exception):
    """A payload that stored nothing: ``errors`` keyed by payload key (recorded)."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(errors)
        self.errors = errors


class UplinkHiveUnknown(Exception):
    """An uplink for no hive of the integration's owner (or for someone else's)."""


# --- What arrived ------------------------------------------------------------------------------


def payload_text(payload: Any) -> str:
    """A payload as stored for the device's status: JSON without credentials, at most
    PAYLOAD_MAX_CHARS characters."""
    if isinstance(payload, Mapping):
        payload = {k: v for k, v in payload.items() if k not in CREDENTIAL_KEYS}
    try:
        text = json.dumps(payload, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = str(payload)
    return text[:PAYLOAD_MAX_CHARS]


_LINK_TABLE = SensorLink._meta.db_table
_RECORD_SQL = f"""
INSERT INTO {_LINK_TABLE} AS s (
    hive_id, field_map, dev_eui, last_adapter, last_seen_at, last_payload, last_mapped,
    last_unmapped, last_error, last_error_at, entry_count
)
SELECT h.id, NULL, NULL, r.adapter, r.at, r.payload, r.mapped::jsonb, r.unmapped::jsonb,
       r.error::jsonb, r.error_at, 0
FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::timestamptz[])
     AS r(device_id, adapter, at, payload, mapped, unmapped, error, error_at)
JOIN {HIVE_TABLE} h ON h.device_id = r.device_id
ON CONFLICT (hive_id) DO UPDATE SET
    last_adapter = EXCLUDED.last_adapter,
    last_seen_at = EXCLUDED.last_seen_at,
    last_payload = EXCLUDED.last_payload,
    last_mapped = EXCLUDED.last_mapped,
    last_unmapped = EXCLUDED.last_unmapped,
    last_error = COALESCE(EXCLUDED.last_error, s.last_error),
    last_error_at = COALESCE(EXCLUDED.last_error_at, s.last_error_at)
WHERE s.last_seen_at IS NULL OR s.last_seen_at <= EXCLUDED.last_seen_at
"""


def device_activity_record(*, records: Sequence[DeviceActivity]) -> None:
    """Record what devices sent, many at once (one statement for the batch). A device
    with no hive is skipped. The newest record of a device wins; a success keeps the
    device's last error (and its time) so the beekeeper still sees it, and an older
    record than the one stored changes nothing."""
    latest: dict[str, DeviceActivity] = {}
    errors: dict[str, DeviceActivity] = {}
    for record in records:
        if record.device_id not in latest or latest[record.device_id].at <= record.at:
            latest[record.device_id] = record
        if record.error is not None and (
            record.device_id not in errors or errors[record.device_id].at <= record.at
        ):
            errors[record.device_id] = record
    if not latest:
        return
    rows = []
    for device_id, record in latest.items():
        failed = errors.get(device_id)
        rows.append(
            (
                device_id,
                record.adapter,
                record.at,
                record.payload_text[:PAYLOAD_MAX_CHARS],
                json.dumps(list(record.mapped)),
                json.dumps(list(record.unmapped)),
                None if failed is None else json.dumps(failed.error, default=str),
                None if failed is None else failed.at,
            )
        )
    columns = [list(column) for column in zip(*rows, strict=True)]
    alias = router.db_for_write(SensorLink)
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute(_RECORD_SQL, columns)


# --- Readings from a sensor's payload ---------------------------------------------------------------


def _sources(adapter: str, field_map: dict | None, mapped: Mapped) -> dict[str, str]:
    """metric -> the payload key it came from (for errors about the reading)."""
    targets = field_map_effective(adapter, field_map)
    sources: dict[str, str] = {"time": _TIME_KEYS.get(adapter, "time")}
    for key in mapped.mapped:
        if key.startswith("rx_metadata."):
            sources[key.removeprefix("rx_metadata.")] = key
            continue
        target = targets.get(key.removeprefix("decoded_payload."))
        if target is not None:
            sources[target.metric] = key
    return sources


def payload_errors(
    adapter: str, field_map: dict | None, mapped: Mapped, errors: dict
) -> dict[str, Any]:
    """readings_ingest's errors (ReadingsInvalid.errors) in the payload's own words: the
    payload key each metric came from."""
    if adapter == "telemetry":
        return errors["0"] if len(mapped.readings) == 1 and "0" in errors else {"readings": errors}
    sources = _sources(adapter, field_map, mapped)
    named: dict[str, Any] = {}
    for field, messages in errors.get("0", {}).items():
        named[sources.get(field, field)] = messages
    return named


def sensor_readings_ingest(
    *,
    device_id: str,
    adapter: str,
    payload: Any,
    now: datetime | None = None,
    count_entry: bool = False,
) -> SensorIngest:
    """Map a payload of ``adapter`` with the hive's field map, store its readings through
    readings_ingest (same validation, idempotency, live stream and alerts as POST
    /telemetry) and record what arrived. ``count_entry``: number the update (ThingSpeak's
    entry_id). Raises SensorIngestFailed (recorded, nothing stored) for a payload that
    cannot be mapped or whose readings are invalid."""
    at = now or datetime.now(UTC)
    field_map = field_maps_for(device_ids=[device_id])[device_id]
    text = payload_text(payload)
    mapped: Mapped | None = None
    try:
        mapped = payload_map(adapter=adapter, payload=payload, field_map=field_map, now=at)
        readings = mapped.readings
        result = readings_ingest(device_id=device_id, readings=readings, now=now)
    except PayloadInvalid as exc:
        errors: dict[str, Any] = exc.errors
    except ReadingsInvalid as exc:
        assert mapped is not None
        errors = payload_errors(adapter, field_map, mapped, exc.errors)
    else:
        kept, unmapped = mapped.mapped, mapped.unmapped
        record = DeviceActivity(device_id, adapter, at, text, kept, unmapped)
        entry_id = None
        with transaction.atomic(using=router.db_for_write(SensorLink)):
            device_activity_record(records=[record])
            if count_entry:
                links = SensorLink.objects.filter(hive__device_id=device_id)
                links.update(entry_count=F("entry_count") + 1)
                entry_id = links.values_list("entry_count", flat=True).first()
        first = readings[0] if readings and isinstance(readings[0], dict) else {}
        return SensorIngest(
            accepted=result.accepted,
            duplicates=result.duplicates,
            mapped=kept,
            unmapped=unmapped,
            time=first.get("time") if isinstance(first.get("time"), str) else None,
            entry_id=entry_id,
        )
    device_activity_record(
        records=[
            DeviceActivity(
                device_id,
                adapter,
                at,
                text,
                mapped.mapped if mapped else [],
                mapped.unmapped if mapped else [],
                errors,
            )
        ]
    )
    raise SensorIngestFailed(errors)


# --- The Things Network ------------------------------------------------------------------------------


def ttn_uplink_ingest(*, integration: Integration, payload: Any) -> tuple[Hive, SensorIngest]:
    """An uplink message a user's TTN integration sent, for one of the user's own hives
    (raises UplinkHiveUnknown otherwise, whether or not the device exists elsewhere)."""
    ids = payload.get("end_device_ids") if isinstance(payload, dict) else None
    if not isinstance(ids, dict):
        raise SensorIngestFailed({"end_device_ids": ["The end device's identifiers are required."]})
    device_id = ids.get("device_id") if isinstance(ids.get("device_id"), str) else None
    dev_eui = ids.get("dev_eui") if isinstance(ids.get("dev_eui"), str) else None
    if not device_id and not dev_eui:
        raise SensorIngestFailed({"end_device_ids": ["A device_id or dev_eui is required."]})
    hive = hive_for_uplink(owner_id=integration.owner_id, device_id=device_id, dev_eui=dev_eui)
    Integration.objects.filter(pk=integration.pk).update(last_used_at=datetime.now(UTC))
    if hive is None:
        raise UplinkHiveUnknown()
    return hive, sensor_readings_ingest(device_id=hive.device_id, adapter="ttn", payload=payload)


def _integration_key() -> str:
    return INTEGRATION_KEY_PREFIX + secrets.token_urlsafe(32)


@transaction.atomic
def integration_create(*, owner: Any, kind: str, name: str = "") -> tuple[Integration, str]:
    """A new integration of ``owner`` and its key (shown once; only the hash is kept)."""
    if kind not in Integration.Kind.values:
        raise ValidationError({"kind": [f"Choose one of: {', '.join(Integration.Kind.values)}."]})
    key = _integration_key()
    integration = Integration(owner=owner, kind=kind, name=name, key_hash=device_key_hash(key))
    integration.full_clean()
    integration.save()
    return integration, key


@transaction.atomic
def integration_key_replace(*, integration: Integration) -> str:
    """A new key for the integration; the old one stops working when this commits."""
    key = _integration_key()
    integration.key_hash = device_key_hash(key)
    integration.save(update_fields=["key_hash"])
    return key


@transaction.atomic
def integration_delete(*, integration: Integration) -> None:
    integration.delete()


# --- A hive's sensor link ------------------------------------------------------------------------------


_UNSET: Any = object()


def dev_eui_normalized(value: Any) -> str | None:
    """A DevEUI as stored (upper-case, separators removed), None for none; raises
    ValidationError naming dev_eui."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError({"dev_eui": ["Must be a string of 16 hexadecimal characters."]})
    cleaned = re.sub(r"[\s:-]", "", value).upper()
    if not re.fullmatch(DEV_EUI_PATTERN, cleaned):
        raise ValidationError({"dev_eui": ["A DevEUI is 16 hexadecimal characters."]})
    return cleaned


@transaction.atomic
def sensor_link_update(
    *, actor: Any, hive: Hive, field_map: Any = _UNSET, dev_eui: Any = _UNSET
) -> SensorLink:
    """Change a hive's field map or DevEUI (an editor of the hive's apiary may)."""
    require_hive(actor, hive, needed=Role.EDITOR)
    link, _ = SensorLink.objects.select_for_update().get_or_create(hive=hive)
    if field_map is not _UNSET:
        problems = field_map_errors(field_map)
        if problems:
            raise ValidationError({"field_map": problems})
        link.field_map = field_map_normalized(field_map)
    if dev_eui is not _UNSET:
        link.dev_eui = dev_eui_normalized(dev_eui)
        if link.dev_eui and dev_eui_in_use(dev_eui=link.dev_eui, hive_id=hive.pk):
            raise ValidationError({"dev_eui": ["This DevEUI is in use by another hive."]})
    try:
        with transaction.atomic():
            link.save()
    except IntegrityError:
        # Another hive took the DevEUI between the check and the save.
        raise ValidationError({"dev_eui": ["This DevEUI is in use by another hive."]}) from None
    return link


# --- The MQTT broker's device clients -------------------------------------------------


@dataclass(frozen=True)
class Reconciled:
    removed: list[str]  # device clients of no hive, deleted at the broker
    missing: list[Hive]  # hives without a device client: their key must be replaced


def broker_reconcile() -> Reconciled:
    """Set the broker up (broker.broker_setup), delete the device clients whose device_id
    belongs to no hive, and name the hives that have no client.

    A hive has no client when it was created while MQTT was off or the broker was down,
    or its device_id changed; BeeAPI keeps only its key's hash, so only a new key (a
    replacement) gives it one. Raises BrokerError when the broker does not answer.
    """
    broker.broker_setup()
    clients = set(broker.device_clients())
    hives = list(Hive.objects.select_related("apiary").order_by("apiary__name", "name", "pk"))
    in_use = {hive.device_id for hive in hives}
    removed = sorted(clients - in_use)
    for device_id in removed:
        broker.device_client_delete(device_id=device_id)
    return Reconciled(
        removed=removed, missing=[hive for hive in hives if hive.device_id not in clients]
    )
