"""Alerts API: thin views over alerts.services and alerts.selectors."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from alerts import selectors, services
from alerts.api import filters
from alerts.api.serializers import (
    AlertRuleSerializer,
    AlertRuleUpdateSerializer,
    AlertSerializer,
    AlertSettingsSerializer,
    DeliverySerializer,
    InspectionSerializer,
    InspectionStartSerializer,
    WebhookCreatedSerializer,
    WebhookSerializer,
)
from alerts.models import Alert, AlertRule, Delivery, Webhook
from apiary.selectors import hive_get_visible
from core.api import SelectorViewSetMixin, validated
from core.strict import StrictQueryMixin


class AlertRuleViewSet(
    SelectorViewSetMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your alert rules. Every account starts with account-wide swarm, brood temperature
    and no-data rules; change their `params`, disable them, or add rules for one hive or
    one apiary (any role in it will do: rules notify only you)."""

    model = AlertRule
    selector = staticmethod(selectors.rule_list)
    serializer_class = AlertRuleSerializer
    filterset_class = filters.AlertRuleFilter
    ordering_fields = ["kind", "created_at"]

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.rule_create(
            actor=self.request.user, **serializer.validated_data
        )

    @extend_schema(request=AlertRuleUpdateSerializer, responses={200: AlertRuleSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change `params` (merged over the current ones) or `enabled`. Kind and scope are
        fixed. Disabling resolves the rule's active alerts."""
        rule = services.rule_update(
            rule=self.get_object(),
            actor=request.user,
            **validated(AlertRuleUpdateSerializer, request),
        )
        return Response(AlertRuleSerializer(rule, context={"request": request}).data)

    def perform_destroy(self, instance: AlertRule) -> None:
        services.rule_delete(rule=instance, actor=self.request.user)


class AlertViewSet(
    SelectorViewSetMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Alerts of your rules, newest first. At most one is active per rule and hive; it
    resolves by itself when the condition clears, except a swarm alert, which stays
    until acknowledged."""

    model = Alert
    selector = staticmethod(selectors.alert_list)
    serializer_class = AlertSerializer
    filterset_class = filters.AlertFilter
    ordering_fields = ["started_at"]

    @extend_schema(request=None, responses={200: AlertSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        """You have seen it: `acknowledged`. A swarm alert ends here; others resolve when
        their condition clears."""
        alert = services.alert_acknowledge(alert=self.get_object(), actor=request.user)
        return Response(AlertSerializer(alert).data)


class WebhookViewSet(
    SelectorViewSetMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Webhooks that receive every alert of yours as a signed JSON POST, retried with
    back-off (6 attempts over 18.5 minutes). Targets on internal addresses are refused."""

    model = Webhook
    selector = staticmethod(selectors.webhook_list)
    serializer_class = WebhookSerializer
    filterset_class = None
    nested_models = {"deliveries": Delivery}

    @extend_schema(responses={201: WebhookCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Add a webhook. The answer carries its `secret`, once."""
        webhook = services.webhook_create(
            actor=request.user, **validated(WebhookSerializer, request)
        )
        return Response(WebhookCreatedSerializer(webhook).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Webhook) -> None:
        services.webhook_delete(webhook=instance, actor=self.request.user)

    @extend_schema(responses={200: DeliverySerializer(many=True)})
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        """Alerts sent to this webhook, newest first, with every attempt and its result."""
        webhook = self.nested_parent()
        queryset = self.filter_queryset(selectors.delivery_list(webhook=webhook))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)


_HIVE_ID = OpenApiParameter("id", int, OpenApiParameter.PATH)


def _hive(request: Request, pk: int) -> Any:
    hive = hive_get_visible(user=request.user, hive_id=pk)
    if hive is None:
        raise NotFound("No such hive.")
    return hive


class InspectionStartView(StrictQueryMixin, APIView):
    schema_role_checked = True

    @extend_schema(
        operation_id="hive_inspection_start",
        parameters=[_HIVE_ID],
        request=InspectionStartSerializer,
        responses={201: InspectionSerializer},
        tags=["alerts"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """Open the hive (editor): weight changes raise no alert for `minutes` (default
        60, at most 240) plus a settle margin, and the swarm baseline restarts after.
        Starting again while open extends the window. It records no event: record the
        visit's findings as an inspection event."""
        hive = _hive(request, pk)
        inspection = services.inspection_start(
            hive=hive, actor=request.user, **validated(InspectionStartSerializer, request)
        )
        return Response(InspectionSerializer(inspection).data, status=status.HTTP_201_CREATED)


class InspectionStopView(StrictQueryMixin, APIView):
    schema_role_checked = True

    @extend_schema(
        operation_id="hive_inspection_stop",
        parameters=[_HIVE_ID],
        request=None,
        responses={
            200: InspectionSerializer,
            400: OpenApiResponse(description="No inspection is open on this hive."),
        },
        tags=["alerts"],
    )
    def post(self, request: Request, pk: int) -> Response:
        """Close the hive now (editor); weight alerts resume after the settle margin."""
        inspection = services.inspection_stop(hive=_hive(request, pk), actor=request.user)
        return Response(InspectionSerializer(inspection).data)


class AlertSettingsView(StrictQueryMixin, APIView):
    @extend_schema(operation_id="alert_settings_get", responses={200: AlertSettingsSerializer})
    def get(self, request: Request) -> Response:
        """Your delivery preferences."""
        setting = services.settings_get(actor=request.user)
        return Response({"email": setting.email})

    @extend_schema(
        operation_id="alert_settings_update",
        request=AlertSettingsSerializer,
        responses={200: AlertSettingsSerializer},
    )
    def patch(self, request: Request) -> Response:
        """Switch alert emails on or off."""
        setting = services.settings_update(
            actor=request.user, **validated(AlertSettingsSerializer, request)
        )
        return Response({"email": setting.email})
