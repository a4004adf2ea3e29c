"""``GET /apiaries/{id}/season`` and ``GET /hives/{id}/season``: the year's figures
(apiary.season), as JSON or ``?format=csv`` (one row per hive). Anyone who sees the
apiary or hive reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import user_zone_name
from apiary import selectors
from apiary.api.lookups import visible_hive
from apiary.season import CSV_COLUMNS, apiary_hives, apiary_totals, hives_season
from core.renderers import CSVRenderer
from core.strict import StrictQueryMixin

YEAR_MIN, YEAR_MAX = 2000, 2100


class SeasonQuerySerializer(serializers.Serializer):
    year = serializers.IntegerField(
        required=False,
        min_value=YEAR_MIN,
        max_value=YEAR_MAX,
        help_text="Calendar year in your time zone (default: this one).",
    )
    format = serializers.ChoiceField(choices=["json", "csv"], required=False)


class _SeasonView(StrictQueryMixin, APIView):
    renderer_classes = [JSONRenderer, CSVRenderer]
    query_params = frozenset({"year", "format"})
    csv_columns = CSV_COLUMNS

    def year(self, request: Request, tz: str) -> int:
        serializer = SeasonQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data.get("year") or datetime.now(ZoneInfo(tz)).year

    def answer(self, request: Request, hives: list[Any], **extra: Any) -> Response:
        tz = user_zone_name(request.user)
        year = self.year(request, tz)
        seasons = hives_season(hives=hives, year=year, tz=tz, now=datetime.now(UTC))
        if request.accepted_renderer.format == "csv":
            return Response({"results": [s.csv_row() for s in seasons]})
        return Response(
            {
                "year": year,
                "time_zone": tz,
                **extra,
                "totals": apiary_totals(seasons),
                "hives": [s.as_dict() for s in seasons],
            }
        )

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if response.status_code >= 400 and getattr(request, "accepted_renderer", None):
            if request.accepted_renderer.format == "csv":
                request.accepted_renderer = JSONRenderer()
                request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


_PARAMS: list[OpenApiParameter | type[serializers.Serializer]] = [
    OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH),
    SeasonQuerySerializer,
]
_DESCRIPTION = (
    "Per hive: honey harvested (kg, harvest events), the net weight gain (the scale's "
    "changes without boxes, harvests, feedings, inspections and tares; null without a "
    "scale), sugar fed (feeding events; syrup 1:1 = 0.5 kg sugar per kg or 0.615 per "
    "litre, 2:1 = 0.667 per kg or 0.887 per litre, fondant 0.85 per kg), treatments with "
    "their withdrawal periods, swarms, queen changes and inspections; and the totals. "
    "`?format=csv`: one row per hive."
)


class ApiarySeasonView(_SeasonView):
    @extend_schema(
        operation_id="apiary_season",
        summary="The season of an apiary",
        description=_DESCRIPTION,
        parameters=_PARAMS,
        responses={200: OpenApiResponse(), 404: OpenApiResponse(description="No such apiary.")},
        tags=["season"],
    )
    def get(self, request: Request, pk: int) -> Response:
        apiary = selectors.apiary_list(user=request.user).filter(pk=pk).first()
        if apiary is None:
            raise NotFound("No such apiary.")
        return self.answer(
            request, apiary_hives(apiary), apiary={"id": apiary.pk, "name": apiary.name}
        )


class HiveSeasonView(_SeasonView):
    @extend_schema(
        operation_id="hive_season",
        summary="The season of a hive",
        description=_DESCRIPTION,
        parameters=_PARAMS,
        responses={200: OpenApiResponse(), 404: OpenApiResponse(description="No such hive.")},
        tags=["season"],
    )
    def get(self, request: Request, pk: int) -> Response:
        return self.answer(request, [visible_hive(request, pk)])
