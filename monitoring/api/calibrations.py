"""``/hives/{id}/calibrations``: how a hive's sensor values are corrected when read.

Anyone who may read the hive lists its calibrations and fits a temperature coefficient;
editors add, tare, calibrate, apply a fit and delete. The rules live in
telemetry.services and telemetry.selectors (weight_temperature_fit).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import user_zone_name
from apiary.access import hive_require_role
from apiary.api.lookups import visible_hive
from apiary.models import Hive, Role
from core.parsers import JSONParser
from core.strict import StrictFieldsMixin, StrictQueryMixin
from monitoring.api.serializers import TimeZoneField, UtcDateTimeField
from telemetry.calibration import step_at, timeline_load
from telemetry.models import Calibration
from telemetry.selectors import weight_temperature_fit
from telemetry.services import (
    calibration_add,
    calibration_delete,
    calibration_span,
    calibration_tare,
    weight_explanations_collect,
)
from telemetry.validation import METRICS

FIT_DEFAULT_RANGE = timedelta(days=14)
FIT_MAX_RANGE = timedelta(days=92)
# Fewer points than this fit nothing worth applying.
FIT_MIN_POINTS = 30


class CalibrationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Calibration
        fields = [
            "id",
            "metric",
            "valid_from",
            "offset",
            "multiplier",
            "temperature_coefficient",
            "reference_temperature",
            "temperature_metric",
            "kind",
            "note",
            "created_at",
        ]
        read_only_fields = ["id", "kind", "created_at"]
        extra_kwargs = {
            "metric": {"help_text": f"One of: {', '.join(METRICS)}."},
            "valid_from": {"help_text": "From this time on (ISO 8601); default now."},
        }


class CalibrationCreateSerializer(StrictFieldsMixin, serializers.Serializer):
    metric = serializers.ChoiceField(choices=METRICS)
    valid_from = UtcDateTimeField(required=False)
    offset = serializers.FloatField(required=False, default=0.0)
    multiplier = serializers.FloatField(required=False, default=1.0)
    temperature_coefficient = serializers.FloatField(required=False, default=0.0)
    reference_temperature = serializers.FloatField(required=False, allow_null=True, default=None)
    temperature_metric = serializers.ChoiceField(
        choices=Calibration.TemperatureMetric.choices, required=False, default=""
    )
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)


class TareSerializer(StrictFieldsMixin, serializers.Serializer):
    metric = serializers.ChoiceField(choices=METRICS, required=False, default="weight")
    at = UtcDateTimeField(required=False, help_text="When the scale carried nothing (default now).")
    note = serializers.CharField(required=False, default="", allow_blank=True, max_length=200)


class CalibrateSerializer(TareSerializer):
    known = serializers.FloatField(help_text="The known mass on the scale (kg), or value.")
    at = UtcDateTimeField(
        required=False, help_text="When the known mass was on the scale (default now)."
    )


class FitSerializer(StrictFieldsMixin, serializers.Serializer):
    start = UtcDateTimeField(required=False, help_text="Default: 14 days before end.")
    end = UtcDateTimeField(required=False, help_text="Default: now.")
    temperature_metric = serializers.ChoiceField(
        choices=Calibration.TemperatureMetric.choices,
        required=False,
        default="outside_temperature",
    )
    night_from = serializers.IntegerField(min_value=0, max_value=23, required=False, default=22)
    night_to = serializers.IntegerField(min_value=0, max_value=23, required=False, default=5)
    tz = TimeZoneField(required=False, help_text="Whose hours the night hours are.")
    apply = serializers.BooleanField(
        required=False, default=False, help_text="Add the fitted calibration (editors)."
    )
    valid_from = UtcDateTimeField(
        required=False, help_text="With apply: from when the compensation holds (default now)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("end") or datetime.now(UTC)
        start = attrs.get("start") or end - FIT_DEFAULT_RANGE
        if start >= end:
            raise serializers.ValidationError({"end": ["Must be after start."]})
        if end - start > FIT_MAX_RANGE:
            raise serializers.ValidationError(
                {"start": [f"The window may span at most {FIT_MAX_RANGE.days} days."]}
            )
        if attrs["night_from"] == attrs["night_to"]:
            raise serializers.ValidationError(
                {"night_to": ["Must differ from night_from: the quiet hours need a length."]}
            )
        return {**attrs, "start": start, "end": end}


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _editable_hive(request: Request, pk: int) -> Hive:
    hive = visible_hive(request, pk)
    hive_require_role(actor=request.user, hive=hive, needed=Role.EDITOR)
    return hive


def _created(calibration: Calibration) -> Response:
    return Response(CalibrationSerializer(calibration).data, status=status.HTTP_201_CREATED)


_TAGS = ["calibrations"]
_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
_CALIBRATION_ID = OpenApiParameter("calibration_id", OpenApiTypes.INT, OpenApiParameter.PATH)
_NOT_FOUND = OpenApiResponse(description="No such hive among yours.")


class CalibrationListView(StrictQueryMixin, APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="hive_calibrations_list",
        summary="Calibrations of a hive's sensor",
        description="Newest first per metric. value = (raw + offset − temperature_coefficient"
        " × (T − reference_temperature)) × multiplier, from valid_from until the metric's "
        "next calibration; raw readings are never changed.",
        responses={200: CalibrationSerializer(many=True), 404: _NOT_FOUND},
        parameters=[_ID],
        tags=_TAGS,
    )
    def get(self, request: Request, pk: int) -> Response:
        hive = visible_hive(request, pk)
        rows = Calibration.objects.filter(device_id=hive.device_id)
        return Response(CalibrationSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="hive_calibrations_create",
        summary="Add a calibration (editors)",
        description="Applies at once to every answer about the readings from valid_from on "
        "(raw, hourly, daily, latest, CSV, live, alerts); one at the same instant is replaced.",
        request=CalibrationCreateSerializer,
        responses={201: CalibrationSerializer, 400: OpenApiResponse(), 404: _NOT_FOUND},
        parameters=[_ID],
        tags=_TAGS,
    )
    def post(self, request: Request, pk: int) -> Response:
        hive = _editable_hive(request, pk)
        data = _valid(CalibrationCreateSerializer, request.data)
        data["valid_from"] = data.get("valid_from") or datetime.now(UTC)
        return _created(calibration_add(device_id=hive.device_id, kind="manual", **data))


class CalibrationDetailView(StrictQueryMixin, APIView):
    @extend_schema(
        operation_id="hive_calibrations_delete",
        summary="Delete a calibration (editors)",
        parameters=[_ID, _CALIBRATION_ID],
        responses={204: None, 404: OpenApiResponse(description="No such calibration.")},
        tags=_TAGS,
    )
    def delete(self, request: Request, pk: int, calibration_id: int) -> Response:
        hive = _editable_hive(request, pk)
        calibration = Calibration.objects.filter(
            device_id=hive.device_id, pk=calibration_id
        ).first()
        if calibration is None:
            raise NotFound("No such calibration of this hive.")
        calibration_delete(calibration=calibration)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CalibrationTareView(StrictQueryMixin, APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="hive_calibrations_tare",
        summary="Tare: the scale carries nothing now (editors)",
        description="Adds a calibration from `at` whose offset makes the newest reading up "
        "to `at` (at most 30 minutes old) read 0; multiplier and temperature term stay.",
        request=TareSerializer,
        responses={201: CalibrationSerializer, 400: OpenApiResponse(), 404: _NOT_FOUND},
        parameters=[_ID],
        tags=_TAGS,
    )
    def post(self, request: Request, pk: int) -> Response:
        hive = _editable_hive(request, pk)
        data = _valid(TareSerializer, request.data)
        return _created(calibration_tare(device_id=hive.device_id, **data))


class CalibrationCalibrateView(StrictQueryMixin, APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="hive_calibrations_calibrate",
        summary="Calibrate: this known mass is on the scale now (editors)",
        description="Tare the empty scale first, then put the known mass on it and send "
        "it: a calibration from `at` whose multiplier makes the newest reading read `known`.",
        request=CalibrateSerializer,
        responses={201: CalibrationSerializer, 400: OpenApiResponse(), 404: _NOT_FOUND},
        parameters=[_ID],
        tags=_TAGS,
    )
    def post(self, request: Request, pk: int) -> Response:
        hive = _editable_hive(request, pk)
        data = _valid(CalibrateSerializer, request.data)
        return _created(calibration_span(device_id=hive.device_id, **data))


class CalibrationFitView(StrictQueryMixin, APIView):
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="hive_calibrations_fit",
        summary="Fit the weight's temperature coefficient",
        description="Least squares of the raw weight against `temperature_metric` over the "
        "quiet hours (`night_from` to `night_to`, local time of `tz`) between `start` and "
        "`end`, leaving out events and inspections, each night centred on its own means. "
        "Answers the coefficient (kg per °C), r², the points and nights used, and the "
        "calibration that applies it; `apply: true` adds that calibration (editors). "
        "See docs/calibration.md for when it helps.",
        request=FitSerializer,
        responses={200: OpenApiResponse(), 201: OpenApiResponse(), 400: OpenApiResponse()},
        parameters=[_ID],
        tags=_TAGS,
    )
    def post(self, request: Request, pk: int) -> Response:
        hive = visible_hive(request, pk)
        data = _valid(FitSerializer, request.data)
        if data["apply"]:
            hive_require_role(actor=request.user, hive=hive, needed=Role.EDITOR)
        tz = data.get("tz") or user_zone_name(request.user)
        fit = weight_temperature_fit(
            device_id=hive.device_id,
            start=data["start"],
            end=data["end"],
            temperature_metric=data["temperature_metric"],
            tz=tz,
            night_from=data["night_from"],
            night_to=data["night_to"],
            explanations=weight_explanations_collect(
                device_id=hive.device_id, start=data["start"], end=data["end"]
            ),
        )
        valid_from = data.get("valid_from") or datetime.now(UTC)
        current = step_at(timeline_load(hive.device_id).get("weight", []), valid_from)
        answer: dict[str, Any] = {
            "coefficient": None if fit.coefficient is None else round(fit.coefficient, 4),
            "r2": None if fit.r2 is None else round(fit.r2, 3),
            "points": fit.points,
            "nights": fit.nights,
            "temperature_metric": data["temperature_metric"],
            "reference_temperature": (
                None if fit.reference_temperature is None else round(fit.reference_temperature, 2)
            ),
            "calibration": None,
        }
        if fit.coefficient is None or fit.points < FIT_MIN_POINTS:
            if data["apply"]:
                raise serializers.ValidationError(
                    {
                        "start": [
                            f"Only {fit.points} quiet readings with weight and"
                            f" {data['temperature_metric']} in this window: at least"
                            f" {FIT_MIN_POINTS} are needed to apply a fit."
                        ]
                    }
                )
            return Response(answer)
        proposal = {
            "metric": "weight",
            "valid_from": valid_from,
            "offset": current.offset,
            "multiplier": current.multiplier,
            "temperature_coefficient": fit.coefficient,
            "reference_temperature": fit.reference_temperature,
            "temperature_metric": data["temperature_metric"],
        }
        if not data["apply"]:
            answer["calibration"] = {**proposal, "valid_from": valid_from.isoformat()}
            return Response(answer)
        calibration = calibration_add(device_id=hive.device_id, kind="fit", **proposal)
        answer["calibration"] = CalibrationSerializer(calibration).data
        return Response(answer, status=status.HTTP_201_CREATED)
