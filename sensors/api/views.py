"""The sensors API: BEEP- and ThingSpeak-compatible ingest (a hive's device key), The
Things Network's uplink webhook (an integration key), the user's integrations, and a
hive's device status (what arrived, the field maps, how to connect).

Device-facing views authenticate with their own credential only (no JWT, no session, so
no CSRF) and answer like the service they stand in for; a rejected payload is recorded
for the hive's device status and stores nothing.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apiary.api.lookups import visible_hive
from apiary.models import Hive
from apiary.selectors import device_by_key
from core.api import SelectorViewSetMixin, validated
from core.parsers import JSONParser
from core.strict import StrictQueryMixin
from core.times import query_time
from sensors import selectors, services
from sensors.api import serializers as s
from sensors.models import Integration

THINGSPEAK_FIELDS = tuple(f"field{n}" for n in range(1, 9))
# ThingSpeak's "Write Data" parameters: the query string is the payload here.
THINGSPEAK_PARAMS = frozenset(
    {"api_key", "key", "created_at", "lat", "long", "elevation", "status", *THINGSPEAK_FIELDS}
)


def _json(code: int, body: Any, **headers: str) -> Response:
    return Response(body, status=code, headers=headers or None)


def _flat_body(request: Request) -> dict[str, Any]:
    """The body as a flat dict (a form's last value per key); a JSON body that is not an
    object is a 400."""
    data = request.data
    if isinstance(data, QueryDict):
        return {key: data.get(key) for key in data}
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": ["A JSON object is required."]})
    return dict(data)


def _unknown_key(name: str, header: str) -> Response:
    return _json(
        status.HTTP_401_UNAUTHORIZED,
        {"detail": f"A valid {name} is required.", "code": "invalid_device_key"},
        **{"WWW-Authenticate": header},
    )


def _ingested(result: services.SensorIngest) -> Response:
    return _json(
        status.HTTP_201_CREATED if result.accepted else status.HTTP_200_OK,
        {"accepted": result.accepted, "duplicates": result.duplicates, "unmapped": result.unmapped},
    )


_INGEST_RESPONSES = {
    201: s.SensorIngestResultSerializer,
    200: OpenApiResponse(s.SensorIngestResultSerializer, description="Only duplicates."),
    400: OpenApiResponse(
        description="A value that is not a number, a bad time, an invalid reading: the "
        "payload key at fault. Nothing is stored; the hive's device status shows the error."
    ),
    401: OpenApiResponse(description="Missing or unknown device key."),
}


class _DeviceView(StrictQueryMixin, APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser, FormParser]
    renderer_classes = [JSONRenderer]


class BeepSensorsView(_DeviceView):
    """``POST /api/sensors``: BEEP's measurement upload, for firmware written for BEEP."""

    query_params = frozenset({"key"})

    @extend_schema(
        operation_id="sensors_beep",
        summary="Send a measurement as to BEEP (device key)",
        description=(
            "BEEP's `POST /api/sensors`: a flat JSON or form body (`t_i`, `t`, `h`, "
            "`weight_kg`, `bv`, `s_tot`, `rssi`, `snr`, ...; see docs/sensors.md), `time` "
            "in Unix seconds (default: now). The hive's device key goes in `key` (body or "
            "query) or `X-Device-Key`. Keys no field map names are answered as `unmapped`."
        ),
        parameters=[
            OpenApiParameter("X-Device-Key", OpenApiTypes.STR, OpenApiParameter.HEADER),
            OpenApiParameter("key", OpenApiTypes.STR, description="The device key."),
        ],
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/x-www-form-urlencoded": OpenApiTypes.OBJECT,
        },
        responses=_INGEST_RESPONSES,
        auth=[],
        tags=["sensors"],
    )
    def post(self, request: Request) -> Response:
        data = _flat_body(request)
        key = (
            data.get("key")
            or request.query_params.get("key")
            or request.headers.get("X-Device-Key", "")
        )
        device = device_by_key(key=key) if isinstance(key, str) else None
        if device is None:
            return _unknown_key("device key (key or X-Device-Key)", "X-Device-Key")
        try:
            result = services.sensor_readings_ingest(
                device_id=device.device_id, adapter="beep", payload=data
            )
        except services.SensorIngestFailed as exc:
            return _json(status.HTTP_400_BAD_REQUEST, exc.errors)
        return _ingested(result)


class _ThingSpeakView(_DeviceView):
    """ThingSpeak's "Write Data": ``api_key`` and ``field1``..``field8`` from the query
    string, a form or JSON body (HoneyPi posts them as query parameters). Success answers
    the entry id; a payload that stores nothing answers ``0`` with HTTP 200, as ThingSpeak
    does, and the hive's device status shows why."""

    query_params = THINGSPEAK_PARAMS
    as_json = True

    def update(self, request: Request) -> Response | HttpResponse:
        data: dict[str, Any] = {key: request.query_params.get(key) for key in request.query_params}
        if isinstance(data.get("created_at"), str):
            data["created_at"] = query_time(data["created_at"])  # an unencoded "+"
        if request.method == "POST":
            data.update(_flat_body(request))
        key = (
            data.get("api_key")
            or data.get("key")
            or request.headers.get("THINGSPEAKAPIKEY")
            or request.headers.get("X-Device-Key", "")
        )
        device = device_by_key(key=key) if isinstance(key, str) else None
        if device is None:
            return _unknown_key("write key (api_key or THINGSPEAKAPIKEY)", "THINGSPEAKAPIKEY")
        try:
            result = services.sensor_readings_ingest(
                device_id=device.device_id, adapter="thingspeak", payload=data, count_entry=True
            )
        except services.SensorIngestFailed:
            return self.answer("0", 0)
        entry_id = result.entry_id or 0
        if not self.as_json:
            return self.answer(str(entry_id), entry_id)
        return Response(
            {
                "channel_id": device.hive_id,
                "created_at": result.time,
                "entry_id": entry_id,
                **{f: _text(data.get(f)) for f in THINGSPEAK_FIELDS},
                "latitude": _text(data.get("lat")),
                "longitude": _text(data.get("long")),
                "elevation": _text(data.get("elevation")),
                "status": _text(data.get("status")),
            }
        )

    def answer(self, text: str, number: int) -> Response | HttpResponse:
        if self.as_json:
            return Response(number)
        return HttpResponse(text, content_type="text/plain; charset=utf-8")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


_TS_DESCRIPTION = (
    "ThingSpeak's update: `api_key` (query, form or JSON, or the `THINGSPEAKAPIKEY` "
    "header) is the hive's device key; `field1`..`field8` map through the hive's field "
    "map (default: HoneyPi's example assignment, see docs/sensors.md); `created_at` ISO "
    "8601 (no zone: UTC). A payload that stores nothing is answered `0` with HTTP 200, "
    "as ThingSpeak does; the error is in the hive's device status."
)
_TS_401 = OpenApiResponse(description="Missing or unknown write key.")
_TS_PARAMS = [
    OpenApiParameter("THINGSPEAKAPIKEY", OpenApiTypes.STR, OpenApiParameter.HEADER),
    OpenApiParameter("api_key", OpenApiTypes.STR, description="The hive's device key."),
    OpenApiParameter("key", OpenApiTypes.STR, description="Another name for api_key."),
    *(
        OpenApiParameter(
            f, OpenApiTypes.STR, description="A number (text), mapped by the field map."
        )
        for f in THINGSPEAK_FIELDS
    ),
    OpenApiParameter("created_at", OpenApiTypes.STR, description="ISO 8601; no zone: UTC."),
    *(
        OpenApiParameter(name, OpenApiTypes.STR, description="Taken and reported unmapped.")
        for name in ("lat", "long", "elevation", "status")
    ),
]


class ThingSpeakUpdateJsonView(_ThingSpeakView):
    """``POST /update.json``."""

    @extend_schema(
        operation_id="sensors_thingspeak_update_json",
        summary="Send fields as to ThingSpeak (device key), JSON answer",
        description=_TS_DESCRIPTION,
        parameters=_TS_PARAMS,
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/x-www-form-urlencoded": OpenApiTypes.OBJECT,
        },
        responses={
            200: OpenApiResponse(
                s.ThingSpeakEntrySerializer, description="The entry, or `0` if nothing was stored."
            ),
            401: _TS_401,
        },
        auth=[],
        tags=["sensors"],
    )
    def post(self, request: Request) -> Response | HttpResponse:
        return self.update(request)


class ThingSpeakUpdateView(_ThingSpeakView):
    """``GET/POST /update``: the entry id as plain text."""

    as_json = False
    renderer_classes = [JSONRenderer]

    _schema = extend_schema(
        summary="Send fields as to ThingSpeak (device key), plain-text answer",
        description=_TS_DESCRIPTION,
        parameters=_TS_PARAMS,
        responses={
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR, description="The entry id, or `0` if nothing was stored."
            ),
            401: _TS_401,
        },
        auth=[],
        tags=["sensors"],
    )

    @extend_schema(operation_id="sensors_thingspeak_update_get")
    @_schema
    def get(self, request: Request) -> Response | HttpResponse:
        return self.update(request)

    @extend_schema(
        operation_id="sensors_thingspeak_update",
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/x-www-form-urlencoded": OpenApiTypes.OBJECT,
        },
    )
    @_schema
    def post(self, request: Request) -> Response | HttpResponse:
        return self.update(request)


# --- The Things Network -------------------------------------------------------------------------


class TtnUplinkView(StrictQueryMixin, APIView):
    """``POST /integrations/ttn/uplink``: a TTN v3 webhook's uplink message."""

    authentication_classes: list = []  # the integration key, not a JWT
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="sensors_ttn_uplink",
        summary="A TTN v3 uplink message (integration key)",
        description=(
            "Set this URL as the uplink message path of a TTN v3 webhook with the header "
            "`Authorization: Bearer <key>` (`POST /integrations`). The hive is the key "
            "owner's own hive whose DevEUI is `end_device_ids.dev_eui`, else whose "
            "device_id is `end_device_ids.device_id`. Values come from "
            "`uplink_message.decoded_payload` (a payload formatter is needed) through the "
            "hive's field map, RSSI and SNR from the best gateway, the time from "
            "`received_at`. Other message types (join accept, ...) are not taken here."
        ),
        request=OpenApiTypes.OBJECT,
        responses={
            **_INGEST_RESPONSES,
            401: OpenApiResponse(description="Missing or unknown integration key."),
            404: OpenApiResponse(description="No such device among the key owner's hives."),
        },
        auth=[],
        tags=["sensors"],
    )
    def post(self, request: Request) -> Response:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        integration = (
            selectors.integration_by_key(key=key.strip()) if scheme.lower() == "bearer" else None
        )
        if integration is None or integration.kind != Integration.Kind.TTN:
            return _json(
                status.HTTP_401_UNAUTHORIZED,
                {
                    "detail": "A valid integration key is required (Authorization: Bearer <key>).",
                    "code": "invalid_integration_key",
                },
                **{"WWW-Authenticate": "Bearer"},
            )
        payload = request.data
        if not isinstance(payload, dict):
            raise ValidationError({"non_field_errors": ["A JSON object is required."]})
        if "uplink_message" not in payload:
            other = sorted(
                k
                for k in payload
                if k.endswith(
                    (
                        "join_accept",
                        "downlink_ack",
                        "downlink_nack",
                        "downlink_sent",
                        "downlink_failed",
                        "downlink_queued",
                        "location_solved",
                        "service_data",
                    )
                )
            )
            detail = f" (this is a {other[0]} message)" if other else ""
            raise ValidationError(
                {"uplink_message": [f"Only uplink messages are taken here{detail}."]}
            )
        try:
            _, result = services.ttn_uplink_ingest(integration=integration, payload=payload)
        except services.UplinkHiveUnknown:
            raise NotFound("No such device among your hives.") from None
        except services.SensorIngestFailed as exc:
            return _json(status.HTTP_400_BAD_REQUEST, exc.errors)
        return _ingested(result)


class IntegrationViewSet(
    SelectorViewSetMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your integrations with networks (The Things Network v3): each has a key its
    webhook sends; only a hash is kept, the key is shown once."""

    model = Integration
    selector = staticmethod(selectors.integration_list)
    serializer_class = s.IntegrationSerializer
    filterset_class = None
    lookup_value_regex = "[0-9]+"

    @extend_schema(request=s.IntegrationSerializer, responses={201: s.IntegrationKeySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Add an integration (`kind`: `ttn`). The answer carries its `key`, once."""
        data = validated(s.IntegrationSerializer, request)
        integration, key = services.integration_create(
            owner=request.user, kind=data["kind"], name=data.get("name", "")
        )
        return Response(_with_key(integration, key), status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Integration) -> None:
        services.integration_delete(integration=instance)

    @extend_schema(request=None, responses={200: s.IntegrationKeySerializer})
    @action(detail=True, methods=["post"])
    def key(self, request: Request, pk: str | None = None) -> Response:
        """Replace the integration's key: the old one stops working at once."""
        integration = self.get_object()
        key = services.integration_key_replace(integration=integration)
        return Response(_with_key(integration, key))


def _with_key(integration: Integration, key: str) -> dict[str, Any]:
    data = s.IntegrationSerializer(integration).data
    return {name: data[name] for name in ("id", "kind", "name", "created_at")} | {"key": key}


# --- A hive's device ----------------------------------------------------------------------------


def _status(request: Request, hive: Hive) -> dict[str, Any]:
    return selectors.device_status(hive=hive, absolute_url=request.build_absolute_uri)


_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


class HiveDeviceView(StrictQueryMixin, APIView):
    """``GET/PATCH /hives/{id}/device``: what the hive's device last sent, its field maps
    and DevEUI, and how to connect it."""

    schema_role_checked = True
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(
        operation_id="hive_device_status",
        summary="A hive's device: what arrived, field maps, how to connect",
        parameters=[_ID],
        responses={
            200: s.DeviceStatusSerializer,
            404: OpenApiResponse(description="No such hive."),
        },
        tags=["sensors"],
    )
    def get(self, request: Request, pk: int) -> Response:
        hive = visible_hive(request, pk)
        return Response(s.DeviceStatusSerializer(_status(request, hive)).data)

    @extend_schema(
        operation_id="hive_device_update",
        summary="Change a hive's field map or DevEUI (editor)",
        parameters=[_ID],
        request=s.DevicePatchSerializer,
        responses={
            200: s.DeviceStatusSerializer,
            404: OpenApiResponse(description="No such hive."),
        },
        tags=["sensors"],
    )
    def patch(self, request: Request, pk: int) -> Response:
        hive = visible_hive(request, pk)
        data = validated(s.DevicePatchSerializer, request)
        services.sensor_link_update(actor=request.user, hive=hive, **data)
        return Response(s.DeviceStatusSerializer(_status(request, hive)).data)
