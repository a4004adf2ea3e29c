"""Apiary API: thin views. Input serializer -> service -> output serializer."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from apiary import devices, members, selectors, services
from apiary.api import filters
from apiary.api.serializers import (
    ApiarySerializer,
    DeviceKeySerializer,
    DeviceKeysSerializer,
    EventSerializer,
    HiveCreatedSerializer,
    HiveSerializer,
    MemberInviteSerializer,
    MemberSerializer,
    MemberUpdatedSerializer,
    MemberUpdateSerializer,
    NestedEventSerializer,
    NestedHiveSerializer,
    PurgeQuerySerializer,
    QueenIntroduceSerializer,
    QueenRetireSerializer,
    QueenSerializer,
)
from apiary.event_csv import CSV_MAX_EVENTS, EVENT_CSV_COLUMNS, event_csv_rows
from apiary.models import Apiary, Event, Hive, QueenBee
from core.api import SelectorViewSetMixin, validated
from core.renderers import CSVRenderer


def _parent_fields_check(request: Request, **expected: int | None) -> None:
    """A nested POST's parent comes from the URL: the body may repeat it, not contradict it.

    ``expected`` maps a parent field to the URL's id, or to None for a field the body must
    leave out (an event under a hive has no apiary).
    """
    data = request.data if isinstance(request.data, dict) else {}
    errors: dict[str, list[str]] = {}
    for name, pk in expected.items():
        if name not in data or data[name] is None:
            continue
        if pk is None:
            errors[name] = [f"Leave {name} out: the parent is given by the URL."]
        elif str(data[name]) != str(pk):
            errors[name] = [f"Given by the URL: leave it out or send {pk}."]
    if errors:
        raise ValidationError(errors)


# /apiaries/{id}/events and /hives/{id}/events: the same action on either parent.
_EVENTS_ACTION: dict[str, Any] = {
    "detail": True,
    "methods": ["get", "post"],
    "filterset_class": filters.EventFilter,
    "ordering_fields": ["occurred_at"],
    "search_fields": ["notes"],
}


def _instance(serializer: BaseSerializer) -> Any:
    """The object an update's serializer was built with (DRF sets it for every update)."""
    assert serializer.instance is not None
    return serializer.instance


def _list_and_create_schema(request: Any, listed: Any, created: Any) -> Any:
    """A nested GET/POST action: GET lists (with its filters), POST creates (no filters)."""

    def decorate(view: Any) -> Any:
        view = extend_schema(methods=["GET"], responses={200: listed(many=True)})(view)
        return extend_schema(
            methods=["POST"], request=request, responses={201: created}, filters=False
        )(view)

    return decorate


_events_schema = _list_and_create_schema(NestedEventSerializer, EventSerializer, EventSerializer)


def _nested_events(view: SelectorViewSetMixin, request: Request, **parent: Any) -> Response:
    """GET lists the events of ``parent`` (an apiary or a hive), POST records one there."""
    if request.method == "GET":
        return view.paginated(
            selectors.event_list(user=request.user).filter(**parent), EventSerializer
        )
    _parent_fields_check(
        request, **{name: (obj.pk if obj else None) for name, obj in parent.items()}
    )
    data = validated(NestedEventSerializer, request)
    event = services.event_create(actor=request.user, **parent, **data)
    return Response(
        EventSerializer(event, context={"request": request}).data,
        status=status.HTTP_201_CREATED,
    )


class ApiaryViewSet(SelectorViewSetMixin, viewsets.ModelViewSet):
    model = Apiary
    # Schema: a hive's device_id may be taken, an address already invited (409).
    conflict_actions = {"hives", "members"}
    nested_models = {"hives": Hive, "events": Event}
    selector = staticmethod(selectors.apiary_list)
    serializer_class = ApiarySerializer
    filterset_class = filters.ApiaryFilter
    search_fields = ["name", "address", "notes"]
    ordering_fields = ["name", "created_at", "updated_at"]

    def perform_create(self, serializer: BaseSerializer) -> None:
        apiary = services.apiary_create(owner=self.request.user, **serializer.validated_data)
        # Answered as listed: with the caller's role (a selector annotation).
        serializer.instance = self.get_queryset().get(pk=apiary.pk)

    def perform_update(self, serializer: BaseSerializer) -> None:
        apiary = services.apiary_update(
            apiary=_instance(serializer), actor=self.request.user, **serializer.validated_data
        )
        serializer.instance = self.get_queryset().get(pk=apiary.pk)

    def perform_destroy(self, instance: Apiary) -> None:
        services.apiary_delete(apiary=instance, actor=self.request.user)

    @_list_and_create_schema(NestedHiveSerializer, HiveSerializer, HiveCreatedSerializer)
    @action(
        detail=True,
        methods=["get", "post"],
        filterset_class=filters.HiveFilter,
        ordering_fields=["name", "created_at"],
        search_fields=["name", "device_id"],
    )
    def hives(self, request: Request, pk: str | None = None) -> Response:
        """Hives of this apiary (GET), or add one to it (POST; answers the device key once)."""
        apiary = self.nested_parent()
        if request.method == "GET":
            return self.paginated(
                selectors.hive_list(user=request.user).filter(apiary=apiary), HiveSerializer
            )
        _parent_fields_check(request, apiary=apiary.pk)
        return _hive_created(request, apiary=apiary, data=validated(NestedHiveSerializer, request))

    @_events_schema
    @action(**_EVENTS_ACTION)
    def events(self, request: Request, pk: str | None = None) -> Response:
        """Events of the apiary itself (GET), or record one (POST)."""
        return _nested_events(self, request, apiary=self.nested_parent(), hive=None)

    @_list_and_create_schema(MemberInviteSerializer, MemberSerializer, MemberSerializer)
    @action(
        detail=True,
        methods=["get", "post"],
        filterset_class=None,
        search_fields=[],
        ordering_fields=["email", "role", "created_at"],
    )
    def members(self, request: Request, pk: str | None = None) -> Response:
        """Who shares this apiary besides its owner (GET, any member), or share it (POST,
        owner): `{"email", "role": "viewer" | "editor"}`. An address without an account
        gets an invitation that becomes a membership when it registers; the answer is the
        same either way."""
        apiary = self.nested_parent()
        if request.method == "GET":
            return self.paginated(selectors.member_list(apiary=apiary), MemberSerializer)
        membership = members.member_invite(
            actor=request.user, apiary=apiary, **validated(MemberInviteSerializer, request)
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("member_id", int, OpenApiParameter.PATH)],
        request=MemberUpdateSerializer,
        responses={200: MemberUpdatedSerializer, 204: OpenApiResponse(description="Removed.")},
    )
    @action(detail=True, methods=["patch", "delete"], url_path=r"members/(?P<member_id>[0-9]+)")
    def member(self, request: Request, pk: str | None = None, member_id: str = "") -> Response:
        """Change a member's role (PATCH, owner; `owner` hands the apiary over and makes
        you an editor), or remove them (DELETE, owner; a member may remove themselves to
        leave). A removed member's open live streams close at once (4404). The answer
        lists `keys_from_previous_owner`: after a handover, every hive whose device key the
        previous owner may still know, for the new owner to replace."""
        membership = get_object_or_404(
            selectors.member_list(apiary=self.nested_parent()), pk=member_id
        )
        if request.method == "DELETE":
            members.member_remove(actor=request.user, membership=membership)
            return Response(status=status.HTTP_204_NO_CONTENT)
        membership = members.member_update(
            actor=request.user, membership=membership, **validated(MemberUpdateSerializer, request)
        )
        return Response(MemberUpdatedSerializer(membership).data)

    @extend_schema(request=None, responses={201: DeviceKeysSerializer})
    @action(detail=True, methods=["post"], url_path="device-keys")
    def device_keys(self, request: Request, pk: str | None = None) -> Response:
        """Replace the device key of every hive of the apiary at once (owner; after a
        handover, say). The new keys are shown once; the old ones stop working. All or
        nothing: 503 and no key replaced when the old keys cannot be revoked."""
        replaced = devices.apiary_rotate_device_keys(
            apiary=self.nested_parent(), actor=request.user
        )
        return Response(DeviceKeysSerializer.answer(replaced), status=status.HTTP_201_CREATED)


def _hive_created(request: Request, *, apiary: Apiary, data: dict[str, Any]) -> Response:
    hive, key = services.hive_create(actor=request.user, apiary=apiary, **data)
    hive = selectors.hive_list(user=request.user).get(pk=hive.pk)
    hive.device_key = key  # type: ignore[attr-defined]  # HiveCreatedSerializer's one-time field
    return Response(
        HiveCreatedSerializer(hive, context={"request": request}).data,
        status=status.HTTP_201_CREATED,
    )


class HiveViewSet(SelectorViewSetMixin, viewsets.ModelViewSet):
    model = Hive
    conflict_actions = {"create", "update", "partial_update"}
    nested_models = {"queens": QueenBee, "events": Event}
    selector = staticmethod(selectors.hive_list)
    serializer_class = HiveSerializer
    filterset_class = filters.HiveFilter
    search_fields = ["name", "device_id", "apiary__name", "notes"]
    ordering_fields = [
        "name",
        "device_id",
        "status",
        "installed_at",
        "created_at",
        "last_inspection_at",
    ]

    @extend_schema(responses={201: HiveCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Create a hive. The answer carries `device_key` for the sensor gateway, once."""
        data = validated(HiveSerializer, request)
        return _hive_created(request, apiary=data.pop("apiary"), data=data)

    def perform_update(self, serializer: BaseSerializer) -> None:
        hive = services.hive_update(
            hive=_instance(serializer), actor=self.request.user, **serializer.validated_data
        )
        serializer.instance = self.get_queryset().get(pk=hive.pk)

    detail_query_params = {"destroy": {"purge_telemetry"}}

    @extend_schema(
        parameters=[PurgeQuerySerializer],
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete the hive with its queens and events. Its readings stay (and its device_id
        stays yours, so nobody else can read them) unless `purge_telemetry=true`, which
        deletes them too and frees the device_id."""
        query = PurgeQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        services.hive_delete(
            hive=self.get_object(),
            actor=request.user,
            purge_telemetry=query.validated_data["purge_telemetry"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={201: DeviceKeySerializer})
    @action(detail=True, methods=["post"], url_path="device-key")
    def device_key(self, request: Request, pk: str | None = None) -> Response:
        """Replace the hive's device key. The new key is shown once; the old one stops working."""
        hive = self.get_object()
        key = devices.hive_rotate_device_key(hive=hive, actor=request.user)
        return Response(
            {"device_id": hive.device_id, "device_key": key}, status=status.HTTP_201_CREATED
        )

    @_list_and_create_schema(QueenIntroduceSerializer, QueenSerializer, QueenSerializer)
    @action(
        detail=True,
        methods=["get", "post"],
        filterset_class=filters.QueenFilter,
        ordering_fields=["introduced_at"],
        search_fields=["origin"],
    )
    def queens(self, request: Request, pk: str | None = None) -> Response:
        """Queen history of the hive, newest first (GET); introduce a queen (POST), which
        retires the current one in the same transaction."""
        hive = self.nested_parent()
        if request.method == "GET":
            return self.paginated(
                selectors.queen_list(user=request.user).filter(hive=hive), QueenSerializer
            )
        queen = services.queen_introduce(
            actor=request.user, hive=hive, **validated(QueenIntroduceSerializer, request)
        )
        return Response(
            QueenSerializer(queen, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )

    @_events_schema
    @action(**_EVENTS_ACTION)
    def events(self, request: Request, pk: str | None = None) -> Response:
        """Events of the hive (GET), or record one (POST)."""
        return _nested_events(self, request, hive=self.nested_parent(), apiary=None)


class QueenViewSet(
    SelectorViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """All queens of the user's hives. Introduce queens with POST /hives/{id}/queens."""

    model = QueenBee
    selector = staticmethod(selectors.queen_list)
    serializer_class = QueenSerializer
    filterset_class = filters.QueenFilter
    search_fields = ["origin", "notes", "hive__name"]
    ordering_fields = ["introduced_at", "year_born", "removed_at"]

    def perform_update(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.queen_update(
            queen=_instance(serializer), actor=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance: QueenBee) -> None:
        services.queen_delete(queen=instance, actor=self.request.user)

    @extend_schema(request=QueenRetireSerializer, responses={200: QueenSerializer})
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, pk: str | None = None) -> Response:
        """The current queen is gone (died, swarmed, ...) and no successor is introduced yet."""
        queen = services.queen_retire(
            queen=self.get_object(), actor=request.user, **validated(QueenRetireSerializer, request)
        )
        return Response(QueenSerializer(queen, context={"request": request}).data)


_FORMAT_PARAM = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=["json", "csv"],
    description="csv: every matching event (not a page) as a spreadsheet download, at "
    f"most {CSV_MAX_EVENTS}; columns {', '.join(EVENT_CSV_COLUMNS)}.",
)
_CSV = OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row.")


class EventViewSet(SelectorViewSetMixin, viewsets.ModelViewSet):
    model = Event
    selector = staticmethod(selectors.event_list)
    serializer_class = EventSerializer
    filterset_class = filters.EventFilter
    search_fields = ["notes"]
    ordering_fields = ["occurred_at", "type", "created_at"]
    csv_columns = EVENT_CSV_COLUMNS

    # The list also answers CSV (?format=csv); errors stay JSON, as telemetry's.

    def get_renderers(self) -> list[Any]:
        renderers = super().get_renderers()
        if getattr(self, "action", None) == "list":
            renderers.append(CSVRenderer())
        return renderers

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            if self.action != "list":
                raise
            raise ValidationError({"format": ["Choose json or csv."]}) from None

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        csv = getattr(getattr(request, "accepted_renderer", None), "format", None) == "csv"
        if csv and response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        response = super().finalize_response(request, response, *args, **kwargs)
        if csv and response.status_code == 200:
            response["Content-Disposition"] = 'attachment; filename="events.csv"'
        return response

    @extend_schema(
        description="Events of your apiaries and hives and of those shared with you, newest "
        "first. With `?format=csv` every matching event comes as one CSV file (same filters, "
        "no pages; `page` and `page_size` are refused), or a 400 when more than "
        f"{CSV_MAX_EVENTS} match: narrow it with `occurred_after` and `occurred_before`.",
        parameters=[_FORMAT_PARAM],
        responses={
            (200, "application/json"): EventSerializer(many=True),
            (200, "text/csv"): _CSV,
        },
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if request.accepted_renderer.format != "csv":
            return super().list(request, *args, **kwargs)
        paging = sorted({"page", "page_size"} & set(request.query_params))
        if paging:
            raise ValidationError(
                {name: ["A CSV has every matching event: leave it out."] for name in paging}
            )
        queryset = self.filter_queryset(self.get_queryset()).select_related("hive__apiary")
        events = list(queryset[: CSV_MAX_EVENTS + 1])
        if len(events) > CSV_MAX_EVENTS:
            raise ValidationError(
                {
                    "format": [
                        f"More than {CSV_MAX_EVENTS} events match, the most a CSV holds. "
                        "Export a shorter period (occurred_after, occurred_before) at a time."
                    ]
                }
            )
        return Response({"results": event_csv_rows(user=request.user, events=events)})

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.event_create(
            actor=self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.event_update(
            event=_instance(serializer), actor=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance: Event) -> None:
        services.event_delete(event=instance, actor=self.request.user)
