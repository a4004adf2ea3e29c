"""Writes of telemetry: every entry point (device API, owner API, simulator) ingests here,
so validation, idempotency and the live notification are the same for all of them."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, OperationalError, connections, transaction

from core.asgi_http import after_response_in_thread, requests_running
from core.databases import TELEMETRY_DB
from core.exceptions import is_unavailable
from telemetry.calibration import (
    COMPENSATED_METRIC,
    TEMPERATURE_SOURCES,
    Step,
    batches_calibrate,
    step_at,
    timeline_load,
)
from telemetry.collector import Collector
from telemetry.late_data import late_readings_note
from telemetry.models import Calibration, Reading
from telemetry.selectors import Explanations, devices_with_readings
from telemetry.signals import calibration_changed, readings_stored, weight_explanations
from telemetry.timescale import hourly_refresh
from telemetry.validation import METRICS, ReadingsInvalid, ValidReading, readings_validate

logger = logging.getLogger("telemetry")

_COLUMNS = ", ".join(("device_id", "time", *METRICS))
COPY_SQL = f"COPY readings ({_COLUMNS}) FROM STDIN (FORMAT BINARY)"
COPY_TYPES = ["varchar", "timestamptz", *(["float8"] * len(METRICS))]
# The path for a batch with readings already stored: one statement, one round trip (the
# readings as one array per column, any number of devices), conflicts skipped by the
# (device_id, time) primary key; it returns the keys of the rows it inserted.
INSERT_IGNORING_CONFLICTS_SQL = f"""
INSERT INTO readings ({_COLUMNS})
SELECT r.* FROM unnest(
    %s::varchar[], %s::timestamptz[], {", ".join(["%s::float8[]"] * len(METRICS))}
) AS r
ON CONFLICT (device_id, time) DO NOTHING
RETURNING device_id, time
"""


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


def readings_ingest(
    *,
    device_id: str,
    readings: Iterable[Any],
    now: datetime | None = None,
    collect: bool = False,
) -> IngestResult:
    """Validate and store a batch of readings of one device; re-sent readings are no-ops.

    The whole batch is rejected (telemetry.validation.ReadingsInvalid, nothing written)
    if any reading is invalid. After the commit the live stream gets the new readings,
    oldest first, in one message. Stored as readings_ingest_many stores its messages
    (_store).

    With ``collect`` (the HTTP ingest, one small request per device), the valid readings
    join those of the other requests of this process arriving within
    TELEMETRY_COLLECT_MS, and all are stored in one COPY and one commit (_collector);
    this returns once that commit is done, with this call's own result. Validation stays
    this call's own: an invalid batch never joins, so it never fails the others.
    """
    valid, duplicates = readings_validate(readings, device_id=device_id, now=now)
    batch = (device_id, valid, duplicates)
    window = settings.TELEMETRY_COLLECT_MS
    # Inside a transaction the caller commits, the readings must be in that transaction.
    if collect and window > 0 and now is None and not connections[TELEMETRY_DB].in_atomic_block:
        return _collector.submit(
            batch,
            size=len(valid),
            window=window / 1000,
            max_size=settings.TELEMETRY_COLLECT_MAX_READINGS,
        )
    (result,) = _store([batch], now)
    return result


def _store_collected(
    batches: list[tuple[str, list[ValidReading], int]],
    durable: Callable[[list[IngestResult]], None],
) -> list[IngestResult | BaseException]:
    """_store for the collector: the batches of several requests in one transaction,
    whose requests are answered once it commits (``durable``), before the reactions.
    Should the database refuse the transaction for anything but being unavailable (which
    fails every request: 503), each request's readings are stored on their own, so one
    request's problem is its own error and the others are stored."""
    try:
        return list(_store(batches, None, durable))
    except DatabaseError as exc:
        if len(batches) == 1 or is_unavailable(exc):
            raise
        logger.warning("a collected batch was refused (%s): storing its requests one by one", exc)
    results: list[IngestResult | BaseException] = []
    for batch in batches:
        try:
            results += _store([batch], None)
        except DatabaseError as exc:
            results.append(exc)
    return results


# One per process: the HTTP ingest's requests wait here for their shared commit.
_collector: Collector[tuple[str, list[ValidReading], int], IngestResult] = Collector(
    _store_collected, requests_running
)


def readings_ingest_many(
    messages: Sequence[tuple[str, Any]], *, now: datetime | None = None
) -> list[IngestResult | ReadingsInvalid]:
    """Validate and store many small messages of many devices at once (an MQTT consumer's
    backlog): each message is ``(device_id, list of reading dicts)``.

    Each message is validated on its own, as readings_ingest validates a batch: an
    invalid one gets its ReadingsInvalid at its index in the result and stores nothing,
    and never keeps the others from being stored. The valid messages' readings go into
    the database together, in one transaction (_store); a reading whose (device_id, time)
    an earlier message of the call holds is a duplicate of that one. After the commit
    each device's new readings (of all its messages, oldest first) are announced once.

    Raises OperationalError, with nothing stored, when the database is unavailable.
    """
    results: list[IngestResult | ReadingsInvalid | None] = [None] * len(messages)
    batches: list[tuple[str, list[ValidReading], int]] = []
    indexes: list[int] = []
    for index, (device_id, readings) in enumerate(messages):
        if not isinstance(readings, list | tuple):
            problem = {"non_field_errors": ["Expected a list of readings."]}
            results[index] = ReadingsInvalid({"readings": problem})
            continue
        try:
            valid, duplicates = readings_validate(readings, device_id=device_id, now=now)
        except ReadingsInvalid as exc:
            results[index] = exc
            continue
        batches.append((device_id, valid, duplicates))
        indexes.append(index)
    for index, result in zip(indexes, _store(batches, now), strict=True):
        results[index] = result
    return [result for result in results if result is not None]


def _store(
    batches: list[tuple[str, list[ValidReading], int]],
    now: datetime | None,
    durable: Callable[[list[IngestResult]], None] | None = None,
) -> list[IngestResult]:
    """Store validated batches ``(device_id, readings, in-batch duplicates)`` in one
    transaction; what each batch added.

    A (device_id, time) that an earlier batch holds is a duplicate. Storing is idempotent
    without paying for INSERT ... ON CONFLICT on every row: devices mostly send readings
    that are new, so everything goes in optimistically by one binary COPY, the fastest
    way into PostgreSQL. If any reading is already stored (a retry, an overlap, another
    request racing this one), the primary key refuses the COPY, the transaction (or
    savepoint, inside an outer transaction) rolls back and the readings are inserted once
    more with ON CONFLICT DO NOTHING, which tells exactly which were new. After the
    commit, ``durable`` (if given) gets the results, then readings_stored is sent once,
    with each device's new readings.
    """
    if len(batches) == 1:
        unique = [batches[0][1]]  # readings_validate has removed in-batch duplicates
    else:
        seen: set[tuple[str, datetime]] = set()
        unique = []
        for device_id, readings, _ in batches:
            keep = []
            for reading in readings:
                key = (device_id, reading.time)
                if key not in seen:
                    seen.add(key)
                    keep.append(reading)
            unique.append(keep)
    rows = [
        (device_id, readings) for (device_id, _, _), readings in zip(batches, unique, strict=True)
    ]
    if not any(readings for _, readings in rows):
        return [IngestResult(0, len(valid) + dups) for _, valid, dups in batches]
    try:
        with transaction.atomic(using=TELEMETRY_DB):
            _copy(rows)
            new = rows
            _on_commit(batches, new, now, durable)
    except IntegrityError:
        with transaction.atomic(using=TELEMETRY_DB):
            inserted = _insert_ignoring_conflicts(rows)
            new = [
                (device_id, [r for r in readings if (device_id, r.time) in inserted])
                for device_id, readings in rows
            ]
            if inserted:
                _on_commit(batches, new, now, durable)
    return _results(batches, new)


def _results(
    batches: list[tuple[str, list[ValidReading], int]], new: list[tuple[str, list[ValidReading]]]
) -> list[IngestResult]:
    return [
        IngestResult(accepted=len(added), duplicates=dups + len(valid) - len(added))
        for (_, valid, dups), (_, added) in zip(batches, new, strict=True)
    ]


def _on_commit(
    batches: list[tuple[str, list[ValidReading], int]],
    new: list[tuple[str, list[ValidReading]]],
    now: datetime | None,
    durable: Callable[[list[IngestResult]], None] | None,
) -> None:
    # ``durable`` first: the requests waiting on this commit are answered before the
    # reactions to it (live publish, alerts). Those run once the leader's own answer is
    # written, on a worker thread of the server (core.asgi_http), so the leader is
    # answered at the commit as the others are; elsewhere (no server) on this thread.
    if durable is not None:
        transaction.on_commit(lambda: durable(_results(batches, new)), using=TELEMETRY_DB)

        def react() -> None:
            if not after_response_in_thread(lambda: _committed(new, now)):
                _committed(new, now)

        transaction.on_commit(react, using=TELEMETRY_DB)
        return
    transaction.on_commit(lambda: _committed(new, now), using=TELEMETRY_DB)


def _copy(rows: list[tuple[str, list[ValidReading]]]) -> None:
    connection = connections[TELEMETRY_DB]
    # Django's cursor wrapper has no copy(); the wrapper below still maps psycopg errors
    # to django.db's (IntegrityError, OperationalError -> 503).
    with connection.cursor() as cursor, connection.wrap_database_errors:
        with cursor.cursor.copy(COPY_SQL) as copy:
            copy.set_types(COPY_TYPES)
            write = copy.write_row
            for device_id, readings in rows:
                for reading in readings:
                    write((device_id, *reading[:-1]))  # not .stamp


def _insert_ignoring_conflicts(
    rows: list[tuple[str, list[ValidReading]]],
) -> set[tuple[str, datetime]]:
    devices = [device_id for device_id, readings in rows for _ in readings]
    # time and the metrics, one list each (not .stamp)
    columns = [list(column) for column in zip(*(r for _, rs in rows for r in rs), strict=True)]
    with connections[TELEMETRY_DB].cursor() as cursor:
        cursor.execute(INSERT_IGNORING_CONFLICTS_SQL, [devices, *columns[:-1]])
        return {(device_id, time) for device_id, time in cursor.fetchall()}


def _committed(rows: list[tuple[str, list[ValidReading]]], now: datetime | None) -> None:
    # Readings below readings_hourly's watermark need their hours refreshed (TimescaleDB);
    # free for recent readings, the refresh itself runs on a background thread.
    late_readings_note([reading.time for _, readings in rows for reading in readings])
    by_device: dict[str, list[ValidReading]] = defaultdict(list)
    messages: dict[str, int] = defaultdict(int)
    for device_id, readings in rows:
        by_device[device_id].extend(readings)
        messages[device_id] += 1
    batches = []
    for device_id, readings in by_device.items():
        if not readings:
            continue
        if messages[device_id] > 1:
            readings.sort()  # the readings of several messages, oldest first
        batches.append((device_id, readings))
    if batches:
        # What the live stream and the alerts see are calibrated values (one query for
        # every device of the commit). Should it fail, the readings are stored all the
        # same: nobody is told of them rather than told raw values as calibrated ones.
        try:
            calibrated = batches_calibrate(batches)
        except DatabaseError:
            logger.exception("calibrations unavailable: new readings not announced")
            return
        # Once for the whole commit, however many devices: the live stream
        # (monitoring.signals) publishes, then alerts evaluate (alerts.signals), each in
        # bulk; receivers log their own failures: the readings are stored whatever they do.
        readings_stored.send(sender=readings_ingest, batches=calibrated, now=now)


def readings_purge(*, device_id: str) -> int:
    """Delete every reading of ``device_id`` (the owner asked for it); returns how many.

    Hourly rows follow: in plain mode the rollup's delete trigger removes them; in
    TimescaleDB mode the continuous aggregate is refreshed over the purged range so the
    device's hourly history goes too. A caller that frees the device id relies on that:
    if hourly rows of the device remain (the refresh could not run here, inside a
    transaction), this raises OperationalError (a 503 for the API, whose transaction
    then keeps the hive and the id) rather than let another owner of the id see them.
    Running it again, the raw readings already gone, retries the refresh.
    """
    with transaction.atomic(using=TELEMETRY_DB), connections[TELEMETRY_DB].cursor() as cursor:
        cursor.execute(
            "WITH gone AS (DELETE FROM readings WHERE device_id = %s RETURNING time)"
            " SELECT count(*), min(time), max(time) FROM gone",
            [device_id],
        )
        count, first, last = cursor.fetchone()
        calibrations_drop(device_ids=[device_id])
    if count:
        hourly_refresh(first.replace(minute=0, second=0, microsecond=0), last + timedelta(hours=1))
    if devices_with_readings(device_ids=[device_id]):
        # Purged before (and the refresh failed then) or purged inside a transaction.
        now = datetime.now(UTC)
        hourly_refresh(now, now)
        if devices_with_readings(device_ids=[device_id]):
            raise OperationalError(
                f"readings or hourly rows of {device_id} remain after the purge"
                " (readings_hourly could not be refreshed); try again"
            )
    return count


# --- Calibrations ------------------------------------------------------------------------

# A tare or a calibration reads the scale as it is: the newest reading at or before the
# moment given, no older than this.
CALIBRATION_READING_MAX_AGE = timedelta(minutes=30)


def _calibration_validate(
    *,
    metric: str,
    valid_from: Any,
    offset: float,
    multiplier: float,
    temperature_coefficient: float,
    reference_temperature: float | None,
    temperature_metric: str,
) -> None:
    errors: dict[str, str] = {}
    if metric not in METRICS:
        errors["metric"] = f"Unknown metric. Choose one of: {', '.join(METRICS)}."
    if not isinstance(valid_from, datetime) or valid_from.tzinfo is None:
        errors["valid_from"] = "A time with its UTC offset is required."
    for name, value in (
        ("offset", offset),
        ("multiplier", multiplier),
        ("temperature_coefficient", temperature_coefficient),
    ):
        if not isinstance(value, int | float) or value != value or abs(value) > 1e6:
            errors[name] = "A finite number up to 1,000,000 in size is required."
    if "multiplier" not in errors and multiplier == 0:
        errors["multiplier"] = "The multiplier cannot be 0: every value would read 0."
    if temperature_coefficient:
        if metric != COMPENSATED_METRIC:
            errors["temperature_coefficient"] = "Only the weight has a temperature term."
        if reference_temperature is None:
            errors["reference_temperature"] = "Required with a temperature coefficient."
        if temperature_metric not in TEMPERATURE_SOURCES:
            errors["temperature_metric"] = f"Choose one of: {', '.join(TEMPERATURE_SOURCES)}."
    if errors:
        raise ValidationError(errors)


def calibration_add(
    *,
    device_id: str,
    metric: str,
    valid_from: datetime,
    offset: float = 0.0,
    multiplier: float = 1.0,
    temperature_coefficient: float = 0.0,
    reference_temperature: float | None = None,
    temperature_metric: str = "",
    kind: str = "manual",
    note: str = "",
) -> Calibration:
    """Add a calibration of ``metric`` of ``device_id`` from ``valid_from`` on (replacing
    one at that very instant). It applies at once to every answer about the readings from
    then on; raw readings stay as they are. Raises ValidationError naming the field."""
    _calibration_validate(
        metric=metric,
        valid_from=valid_from,
        offset=offset,
        multiplier=multiplier,
        temperature_coefficient=temperature_coefficient,
        reference_temperature=reference_temperature,
        temperature_metric=temperature_metric,
    )
    if temperature_coefficient and not temperature_metric:
        temperature_metric = "temperature"
    with transaction.atomic(using=TELEMETRY_DB):
        calibration, _ = Calibration.objects.update_or_create(
            device_id=device_id,
            metric=metric,
            valid_from=valid_from,
            defaults={
                "offset": float(offset),
                "multiplier": float(multiplier),
                "temperature_coefficient": float(temperature_coefficient),
                "reference_temperature": reference_temperature,
                "temperature_metric": temperature_metric if temperature_coefficient else "",
                "kind": kind,
                "note": note,
            },
        )
        transaction.on_commit(
            lambda: calibration_changed.send(
                sender=Calibration, device_id=device_id, metric=metric, valid_from=valid_from
            ),
            using=TELEMETRY_DB,
        )
    return calibration


def calibration_delete(*, calibration: Calibration) -> None:
    device_id, metric, valid_from = (
        calibration.device_id,
        calibration.metric,
        calibration.valid_from,
    )
    with transaction.atomic(using=TELEMETRY_DB):
        calibration.delete()
        transaction.on_commit(
            lambda: calibration_changed.send(
                sender=Calibration, device_id=device_id, metric=metric, valid_from=valid_from
            ),
            using=TELEMETRY_DB,
        )


def calibrations_drop(*, device_ids: list[str]) -> int:
    """Delete the calibrations of ``device_ids`` (their readings are gone: the ids may go
    to someone else); returns how many."""
    deleted, _ = Calibration.objects.filter(device_id__in=device_ids).delete()
    return deleted


def _scale_now(device_id: str, metric: str, at: datetime) -> tuple[float, dict[str, Any], Step]:
    """(raw value, the reading's values, the step in force) of the newest reading of
    ``metric`` at or before ``at``; ValidationError when there is none recent enough."""
    row = (
        Reading.objects.filter(
            device_id=device_id,
            time__lte=at,
            time__gte=at - CALIBRATION_READING_MAX_AGE,
            **{f"{metric}__isnull": False},
        )
        .order_by("-time")
        .values("time", *METRICS)
        .first()
    )
    if row is None:
        minutes = int(CALIBRATION_READING_MAX_AGE.total_seconds() // 60)
        raise ValidationError(
            {
                "at": f"No {metric} reading in the {minutes} minutes up to this time: the"
                " scale must be sending to be tared or calibrated."
            }
        )
    step = step_at(timeline_load(device_id).get(metric, []), at)
    return row[metric], row, step


def calibration_tare(
    *, device_id: str, metric: str = "weight", at: datetime | None = None, note: str = ""
) -> Calibration:
    """ "The scale carries nothing now": a calibration from ``at`` (now by default) whose
    offset makes the newest reading read 0, keeping the multiplier and temperature term
    in force."""
    if metric not in METRICS:
        raise ValidationError({"metric": f"Unknown metric. Choose one of: {', '.join(METRICS)}."})
    at = at or datetime.now(UTC)
    raw, values, step = _scale_now(device_id, metric, at)
    # (raw + offset - k (T - Tref)) × m = 0
    offset = -(step.apply(raw, values) / step.multiplier - step.offset)
    return calibration_add(
        device_id=device_id,
        metric=metric,
        valid_from=at,
        offset=offset,
        multiplier=step.multiplier,
        temperature_coefficient=step.temperature_coefficient,
        reference_temperature=step.reference_temperature,
        temperature_metric=step.temperature_metric,
        kind="tare",
        note=note,
    )


def calibration_span(
    *,
    device_id: str,
    known: float,
    metric: str = "weight",
    at: datetime | None = None,
    note: str = "",
) -> Calibration:
    """ "This known mass is on the scale now" (tared before it was put on): a calibration
    from ``at`` whose multiplier makes the newest reading read ``known``, keeping the
    offset and temperature term in force."""
    if metric not in METRICS:
        raise ValidationError({"metric": f"Unknown metric. Choose one of: {', '.join(METRICS)}."})
    if not isinstance(known, int | float) or known != known or not 0 < abs(known) <= 1e6:
        raise ValidationError({"known": "A non-zero finite number is required."})
    at = at or datetime.now(UTC)
    raw, values, step = _scale_now(device_id, metric, at)
    uncalibrated = step.apply(raw, values) / step.multiplier  # raw + offset - k (T - Tref)
    if abs(uncalibrated) < 1e-9:
        raise ValidationError(
            {
                "known": "The scale reads exactly its tare: put the known mass on it (after"
                " taring it empty) and try again."
            }
        )
    return calibration_add(
        device_id=device_id,
        metric=metric,
        valid_from=at,
        offset=step.offset,
        multiplier=known / uncalibrated,
        temperature_coefficient=step.temperature_coefficient,
        reference_temperature=step.reference_temperature,
        temperature_metric=step.temperature_metric,
        kind="calibrate",
        note=note,
    )


def weight_explanations_collect(*, device_id: str, start: datetime, end: datetime) -> Explanations:
    """Why ``device_id``'s weight jumped between ``start`` and ``end``, as the apps above
    telemetry know it (the weight_explanations signal's receivers)."""
    explained: list[tuple[datetime, datetime]] = []
    kept: list[tuple[datetime, datetime]] = []
    for _, response in weight_explanations.send(
        sender=Calibration, device_id=device_id, start=start, end=end
    ):
        answer = cast("Explanations | None", response)
        if answer:
            explained.extend(answer.explained)
            kept.extend(answer.kept)
    return Explanations(explained, kept)
