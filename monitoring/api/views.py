"""Telemetry endpoints: device ingestion, the owner's ingestion, and the owner's queries.

Hives are looked up on ``default`` first (only the owner's: another user's hive is a 404),
then readings are read or written on ``telemetry`` by the hive's device_id. A telemetry
outage surfaces as django.db.OperationalError, which core.exceptions turns into 503.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from accounts.selectors import user_zone_name
from apiary.access import hive_require_role
from apiary.api.lookups import visible_hive
from apiary.models import Role
from apiary.selectors import device_by_key, hive_device_id_visible
from core.exceptions import body_too_large_body
from core.parsers import JSONParser
from core.renderers import CSVRenderer
from core.strict import StrictQueryMixin
from core.times import query_time
from monitoring.api import serializers as s
from telemetry.selectors import (
    DAILY_COLUMNS,
    HOURLY_COLUMNS,
    NET_COLUMNS,
    JsonPage,
    local_days,
    net_weight_json,
    net_weight_list,
    reading_latest,
    readings_daily_json,
    readings_daily_list,
    readings_hourly_json,
    readings_hourly_list,
    readings_list,
    readings_page_json,
)
from telemetry.services import readings_ingest, weight_explanations_collect
from telemetry.validation import METRICS, ReadingsInvalid, iso_time, timed_rows, wrong_device

READING_COLUMNS = ("time", *METRICS)
# A raw CSV without ?limit= holds every reading of its range (at most 31 days: 89,280
# readings at one every 30 s) up to this many.
RAW_CSV_MAX_ROWS = 100_000
TIME_PARAMS = ("start", "end", "before")


class BodyError(Exception):
    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status_code = status_code
        self.body = body


# --- Ingestion ------------------------------------------------------------------------

_INGEST_BODY = PolymorphicProxySerializer(
    component_name="TelemetryBody",
    serializers=[s.ReadingSerializer, s.ReadingBatchSerializer],
    resource_type_field_name=None,
)
_INGEST_RESPONSES = {
    201: s.IngestResultSerializer,
    200: OpenApiResponse(s.IngestResultSerializer, description="Every reading was a duplicate."),
    400: OpenApiResponse(
        description='Malformed JSON, or invalid readings: `{"readings": {"3": {"temperature":'
        ' ["..."]}}}` (a single reading: its field errors at the top level). Nothing is stored.'
    ),
    413: OpenApiResponse(description="More readings than TELEMETRY_MAX_BATCH in one request."),
}


def _readings_from_body(request: HttpRequest, device_id: str) -> tuple[list[Any], bool]:
    """The submitted readings and whether the body was a single reading.

    Parsed with orjson straight from the body (it refuses NaN, lone surrogates and JSON
    nested too deeply as malformed): a batch of thousands is validated in bulk by the
    service, not field by field by a serializer.
    """
    try:
        raw = request.body
    except RequestDataTooBig:
        raise BodyError(413, body_too_large_body()) from None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, {"detail": f"Malformed JSON: {exc}", "code": "parse_error"}) from None
    if not isinstance(body, dict):
        raise BodyError(
            400, {"non_field_errors": ['Send one reading object or {"readings": [...]}.']}
        )
    if "readings" not in body:
        return [body], True
    unknown = body.keys() - {"readings", "device_id"}
    if unknown:
        raise BodyError(400, {key: ["Unknown field."] for key in sorted(unknown)})
    problem = wrong_device(body, device_id)
    if problem:
        raise BodyError(400, {"device_id": [problem]})
    readings = body["readings"]
    if not isinstance(readings, list):
        raise BodyError(400, {"readings": ["Expected a list of readings."]})
    if not readings:
        raise BodyError(400, {"readings": ["At least one reading is required."]})
    if len(readings) > settings.TELEMETRY_MAX_BATCH:
        raise BodyError(413, _too_large())
    return readings, False


def _too_large() -> dict[str, Any]:
    limit = settings.TELEMETRY_MAX_BATCH
    return {
        "detail": f"Too many readings: at most {limit} per request. Split the batch.",
        "code": "batch_too_large",
        "max_batch": limit,
    }


def _ingest_result(request: HttpRequest, device_id: str) -> tuple[int, dict[str, Any]]:
    """Read, validate and store the body's readings: the status and body to answer."""
    try:
        readings, single = _readings_from_body(request, device_id)
        result = readings_ingest(device_id=device_id, readings=readings, collect=True)
    except BodyError as exc:
        return exc.status_code, exc.body
    except ReadingsInvalid as exc:
        return status.HTTP_400_BAD_REQUEST, exc.errors["0"] if single else {"readings": exc.errors}
    return (
        status.HTTP_201_CREATED if result.accepted else status.HTTP_200_OK,
        {"accepted": result.accepted, "duplicates": result.duplicates},
    )


def _ingest(request: Request, device_id: str) -> Response:
    code, body = _ingest_result(request, device_id)
    return Response(body, status=code)


def _json(code: int, body: dict[str, Any], **headers: str) -> HttpResponse:
    return HttpResponse(
        orjson.dumps(body), status=code, content_type="application/json", headers=headers
    )


class DeviceTelemetryView(StrictQueryMixin, APIView):
    """``POST /telemetry``: a sensor gateway sends readings with its hive's device key."""

    # The device key is the only credential here: no JWT, no session (so no CSRF).
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="telemetry_ingest",
        summary="Send readings (device key)",
        description=(
            "Authenticate with the hive's device key in `X-Device-Key` (returned once by "
            '`POST /hives`). The body is one reading or `{"readings": [...]}` with up to '
            "TELEMETRY_MAX_BATCH (default 5000) readings. Re-sent readings (same time) are "
            "ignored and counted as duplicates, so devices can retry safely. A batch with "
            "any invalid reading is rejected whole."
        ),
        parameters=[
            OpenApiParameter(
                "X-Device-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True
            )
        ],
        request=_INGEST_BODY,
        responses={
            **_INGEST_RESPONSES,
            401: OpenApiResponse(description="Missing or unknown device key."),
        },
        auth=[],
        tags=["telemetry"],
    )
    def post(self, request: Request) -> Response:
        # Served by dispatch() below; here for the schema and for requests it hands on.
        return self._device_post(request)

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """The ingestion fast path: a POST of JSON without query parameters is answered
        here, without DRF's request wrapper, content negotiation and renderer (this is
        the one endpoint devices hit all day, with thousands of readings per request).
        Everything else (other methods, query parameters, another content type) goes
        through APIView, so its answers and errors are the same as every other view's."""
        if request.method != "POST" or request.GET or request.content_type != "application/json":
            return super().dispatch(request, *args, **kwargs)
        return self._device_post(request)

    @staticmethod
    def _device_post(request: HttpRequest) -> HttpResponse:
        device = device_by_key(key=request.headers.get("X-Device-Key", ""))
        if device is None:
            return _json(
                status.HTTP_401_UNAUTHORIZED,
                {
                    "detail": "A valid X-Device-Key header is required.",
                    "code": "invalid_device_key",
                },
                **{"WWW-Authenticate": "X-Device-Key"},
            )
        return _json(*_ingest_result(request, device.device_id))


# --- Queries --------------------------------------------------------------------------


def _visible_device_id(request: Request, pk: int) -> str:
    """The device_id of a hive the user may read; what the read views need of it."""
    device_id = hive_device_id_visible(user=request.user, hive_id=pk)
    if device_id is None:
        raise NotFound("No such hive.")
    return device_id


def _query(request: Request, serializer_class: type[Serializer]) -> dict[str, Any]:
    # A "+" in an unencoded offset (…T12:00:00+02:00) arrives as a space.
    params = {
        key: (query_time(value) if key in TIME_PARAMS else value)
        for key, value in request.query_params.items()
    }
    serializer = serializer_class(data=params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _wants_json(request: Request) -> bool:
    return request.accepted_renderer.format == "json"


def _next_url(request: Request, oldest: str | None) -> str | None:
    """The URL of the next (older) page of a full page whose oldest reading is ``oldest``."""
    if oldest is None:
        return None
    return replace_query_param(request.build_absolute_uri(), "before", oldest)


def _link(next_url: str | None) -> dict[str, str]:
    """The ``Link`` header of a page that has a next one (none otherwise)."""
    return {"Link": f'<{next_url}>; rel="next"'} if next_url else {}


def _json_response(
    device_id: str, page: JsonPage, *, next_url: str | None = None, paged: bool = False
) -> HttpResponse:
    """``{"device_id", "results"[, "next"]}`` with the page's JSON rows spliced in as they
    are (telemetry.selectors._json_page), the same JSON a serializer would write."""
    parts = [b'{"device_id":', orjson.dumps(device_id), b',"results":', page.rows]
    if paged:
        parts += [b',"next":', orjson.dumps(next_url)]
    parts.append(b"}")
    return HttpResponse(b"".join(parts), content_type="application/json", headers=_link(next_url))


class _TelemetryQueryView(StrictQueryMixin, APIView):
    """JSON, or CSV with ``?format=csv``; errors are always JSON."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer, CSVRenderer]
    csv_columns: tuple[str, ...] = ()
    csv_name = "telemetry"
    query_serializer: type[s._RangeQuerySerializer]

    def page(
        self,
        request: Request,
        device_id: str,
        as_json: Callable[..., JsonPage],
        as_rows: Callable[..., list[tuple[Any, ...]]],
        **window: Any,
    ) -> HttpResponse:
        """The whole window: as JSON PostgreSQL wrote (``as_json``), or for CSV as rows
        (``as_rows``) keyed by csv_columns; only the one the client asked for runs."""
        if _wants_json(request):
            return _json_response(device_id, as_json(device_id=device_id, **window))
        rows = as_rows(device_id=device_id, **window)
        return Response({"device_id": device_id, "results": timed_rows(self.csv_columns, rows)})

    def allowed_query_params(self, request: Request) -> set[str]:
        return set(self.query_serializer().fields) if request.method == "GET" else set()

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            raise ValidationError({"format": ["Choose json or csv."]}) from None

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if response.status_code >= 400 and getattr(request, "accepted_renderer", None):
            if request.accepted_renderer.format == "csv":
                request.accepted_renderer = JSONRenderer()
                request.accepted_media_type = JSONRenderer.media_type
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code == 200 and request.accepted_renderer.format == "csv":
            name = f"hive-{kwargs.get('pk')}-{self.csv_name}.csv"
            response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


_FORMAT_PARAM = OpenApiParameter(
    "format", OpenApiTypes.STR, enum=["json", "csv"], description="csv: a spreadsheet download"
)
_ID_PARAM = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
_CSV = OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row.")
_NOT_FOUND = OpenApiResponse(description="No such hive among yours.")
_UNAVAILABLE = OpenApiResponse(description="The telemetry database is unavailable; retry.")


class HiveTelemetryView(_TelemetryQueryView):
    """``GET/POST /hives/{id}/telemetry``: the raw readings (any role reads, editors post)."""

    schema_role_checked = True

    csv_columns = READING_COLUMNS
    query_serializer = s.TelemetryQuerySerializer

    @extend_schema(
        operation_id="hive_telemetry_list",
        summary="Raw readings of a hive",
        description=(
            "Newest first, by default the last 24 hours, at most 31 days per query and "
            f"`limit` (default {s.RAW_DEFAULT_LIMIT}, at most {s.RAW_MAX_LIMIT}) readings per "
            "page; `next` is the URL of the following (older) page. With `?format=csv` the "
            "readings come as CSV: the whole range (up to 100,000 readings) unless `limit` "
            "is given; a cut download has an `X-Truncated` header and the rest in `Link`."
        ),
        parameters=[_ID_PARAM, s.TelemetryQuerySerializer, _FORMAT_PARAM],
        responses={
            (200, "application/json"): s.TelemetryPageSerializer,
            (200, "text/csv"): _CSV,
            404: _NOT_FOUND,
            503: _UNAVAILABLE,
        },
        tags=["telemetry"],
    )
    def get(self, request: Request, pk: int) -> Response:
        device_id = _visible_device_id(request, pk)
        query = _query(request, s.TelemetryQuerySerializer)
        window = {
            "device_id": device_id,
            "start": query["start"],
            "end": query.get("end"),
            "before": query.get("before"),
            "limit": query["limit"],
            "calibrated": query["calibrated"],
        }
        if _wants_json(request):
            page = readings_page_json(**window)
            next_url = _next_url(request, page.oldest if page.count == query["limit"] else None)
            return _json_response(device_id, page, next_url=next_url, paged=True)
        # A spreadsheet download holds the whole range unless a page size is asked for
        # (a download cut at the JSON page's 500 rows looked complete); a cut one says so
        # in X-Truncated and names the rest in Link.
        if "limit" not in request.query_params:
            window["limit"] = RAW_CSV_MAX_ROWS
        rows = readings_list(**window)
        oldest = iso_time(rows[-1][0]) if len(rows) == window["limit"] else None
        next_url = _next_url(request, oldest)
        headers = _link(next_url)
        if next_url:
            headers["X-Truncated"] = f"true; {len(rows)} rows, the rest from the Link URL"
        return Response(
            {
                "device_id": device_id,
                "results": timed_rows(READING_COLUMNS, rows),
                "next": next_url,
            },
            headers=headers,
        )

    @extend_schema(
        operation_id="hive_telemetry_create",
        summary="Send readings for a hive (owner)",
        description="For gateways and imports: the hive's owner posts readings with a JWT. "
        "Same body and rules as `POST /telemetry`.",
        parameters=[_ID_PARAM],
        request=_INGEST_BODY,
        responses={**_INGEST_RESPONSES, 404: _NOT_FOUND},
        tags=["telemetry"],
    )
    def post(self, request: Request, pk: int) -> Response:
        hive = visible_hive(request, pk)
        hive_require_role(actor=request.user, hive=hive, needed=Role.EDITOR)
        return _ingest(request, hive.device_id)


class HiveTelemetryHourlyView(_TelemetryQueryView):
    """``GET /hives/{id}/telemetry/hourly``: hourly avg/min/max per metric."""

    csv_columns = HOURLY_COLUMNS
    csv_name = "hourly"
    query_serializer = s.HourlyQuerySerializer

    @extend_schema(
        operation_id="hive_telemetry_hourly",
        summary="Hourly aggregates of a hive",
        description="From `readings_hourly`, newest hour first; by default the last 7 days, at "
        "most 366 days per query. The current hour is included (real-time aggregation).",
        parameters=[_ID_PARAM, s.HourlyQuerySerializer, _FORMAT_PARAM],
        responses={
            (200, "application/json"): s.HourlyPageSerializer,
            (200, "text/csv"): _CSV,
            404: _NOT_FOUND,
            503: _UNAVAILABLE,
        },
        tags=["telemetry"],
    )
    def get(self, request: Request, pk: int) -> Response:
        device_id = _visible_device_id(request, pk)
        query = _query(request, s.HourlyQuerySerializer)
        # A bucket is named by the start of its hour: include the hour `start` falls in.
        start = query["start"].replace(minute=0, second=0, microsecond=0)
        return self.page(
            request,
            device_id,
            readings_hourly_json,
            readings_hourly_list,
            start=start,
            end=query.get("end"),
            calibrated=query["calibrated"],
        )


class HiveTelemetryDailyView(_TelemetryQueryView):
    """``GET /hives/{id}/telemetry/daily``: per UTC day, avg/min/max per metric, the
    reading count and the weight change."""

    csv_columns = DAILY_COLUMNS
    csv_name = "daily"
    query_serializer = s.DailyQuerySerializer

    @extend_schema(
        operation_id="hive_telemetry_daily",
        summary="Daily figures of a hive",
        description="Per local day of `tz` (default: your time zone), newest first: "
        "avg/min/max of each metric, the number of readings, `weight_change`, the day's last "
        "weight minus its first, and `net_weight_change`, the day's changes without those the "
        "beekeeper's work explains (the nectar flow). By default the last 30 days; every "
        "day from the one `start` falls in to the one `end` falls in, whole; at most 366 days per query. Computed from the raw "
        "readings, so today is included and late readings count.",
        parameters=[_ID_PARAM, s.DailyQuerySerializer, _FORMAT_PARAM],
        responses={
            (200, "application/json"): s.DailyPageSerializer,
            (200, "text/csv"): _CSV,
            404: _NOT_FOUND,
            503: _UNAVAILABLE,
        },
        tags=["telemetry"],
    )
    def get(self, request: Request, pk: int) -> Response:
        device_id = _visible_device_id(request, pk)
        query = _query(request, s.DailyQuerySerializer)
        tz = _time_zone(request, query)
        query = _local_dates(request, query, tz)
        first, until = local_days(query["start"], query.get("end"), tz)
        return self.page(
            request,
            device_id,
            readings_daily_json,
            readings_daily_list,
            start=query["start"],
            end=query.get("end"),
            tz=tz,
            calibrated=query["calibrated"],
            explanations=weight_explanations_collect(
                device_id=device_id, start=first, end=min(until, datetime.now(UTC))
            ),
        )


class HiveTelemetryLatestView(StrictQueryMixin, APIView):
    """``GET /hives/{id}/telemetry/latest``: the newest reading."""

    def allowed_query_params(self, request: Request) -> set[str]:
        return {"calibrated"}

    @extend_schema(
        operation_id="hive_telemetry_latest",
        summary="Newest reading of a hive",
        parameters=[_ID_PARAM, s.LatestQuerySerializer],
        responses={
            200: s.LatestReadingSerializer,
            404: OpenApiResponse(description="No such hive among yours, or no readings yet."),
            503: _UNAVAILABLE,
        },
        tags=["telemetry"],
    )
    def get(self, request: Request, pk: int) -> Response:
        device_id = _visible_device_id(request, pk)
        query = _query(request, s.LatestQuerySerializer)
        row = reading_latest(device_id=device_id, calibrated=query["calibrated"])
        if row is None:
            raise NotFound("This hive has no readings yet.")
        return Response({"device_id": device_id, **timed_rows(READING_COLUMNS, [row])[0]})


def _time_zone(request: Request, query: dict[str, Any]) -> str:
    """The query's ``tz``, else the user's time zone, else UTC."""
    return query.get("tz") or user_zone_name(request.user)


def _local_dates(request: Request, query: dict[str, Any], tz: str) -> dict[str, Any]:
    """``query`` with a ``start`` or ``end`` given as a bare date (YYYY-MM-DD) taken as
    that date's local midnight in ``tz``: ``?start=2026-06-01`` is June 1st of the days
    asked for, not the local day that 00:00 UTC falls in (May 31st west of Greenwich)."""
    query = dict(query)
    for name in ("start", "end"):
        raw = request.query_params.get(name, "")
        if len(raw) == 10 and query.get(name) is not None:
            day = query[name].astimezone(UTC).date()
            query[name] = datetime.combine(day, time(0), tzinfo=ZoneInfo(tz))
    return query


class HiveNetWeightView(_TelemetryQueryView):
    """``GET /hives/{id}/telemetry/net-weight``: the weight without the beekeeper's jumps."""

    csv_columns = NET_COLUMNS
    csv_name = "net-weight"
    query_serializer = s.NetWeightQuerySerializer

    @extend_schema(
        operation_id="hive_telemetry_net_weight",
        summary="Net weight of a hive",
        description="Per hour or local day (`interval`), newest first: the last weight, the "
        "net weight and the changes kept and left out. The net weight starts at the range's "
        "first weight and adds each change between two readings except those the "
        "beekeeper's work explains: boxes added or removed, harvests and feedings (events, "
        "WEIGHT_EVENT_MARGIN_MINUTES either side), inspection windows, calibrations (a "
        "tare), and jumps larger than NET_WEIGHT_MAX_JUMP_KG within NET_WEIGHT_JUMP_MINUTES "
        "that no swarm alert or swarm event holds. From the raw readings (calibrated unless "
        "`calibrated=false`): by default the last 30 days, at most 366.",
        parameters=[_ID_PARAM, s.NetWeightQuerySerializer, _FORMAT_PARAM],
        responses={
            (200, "application/json"): s.NetWeightPageSerializer,
            (200, "text/csv"): _CSV,
            404: _NOT_FOUND,
            503: _UNAVAILABLE,
        },
        tags=["telemetry"],
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        device_id = _visible_device_id(request, pk)
        query = _query(request, s.NetWeightQuerySerializer)
        tz = _time_zone(request, query)
        query = _local_dates(request, query, tz)
        interval = query["interval"]
        if interval == "day":
            start, until = local_days(query["start"], query.get("end"), tz)
        else:
            start = query["start"].replace(minute=0, second=0, microsecond=0)
            end = query.get("end")
            until = end + timedelta(microseconds=1) if end else datetime.max.replace(tzinfo=UTC)
        explanations = weight_explanations_collect(
            device_id=device_id, start=start, end=min(until, datetime.now(UTC))
        )
        return self.page(
            request,
            device_id,
            net_weight_json,
            net_weight_list,
            start=start,
            until=until,
            interval=interval,
            tz=tz,
            calibrated=query["calibrated"],
            explanations=explanations,
        )
