"""Pieces the apps' API views share: a serializer's validated input, a related field and a
viewset whose rows come from a selector (what the requesting user may see).

Views stay thin: input serializer (``validated``) -> service -> output serializer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework import serializers
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from core.strict import StrictQueryMixin

if TYPE_CHECKING:
    from rest_framework.viewsets import GenericViewSet

    _ViewSet = GenericViewSet
else:
    _ViewSet = object


def validated(
    serializer_class: type, request: Request, *, partial: bool = False, **kwargs: Any
) -> dict[str, Any]:
    """The request body validated by ``serializer_class``: its validated data, or a 400."""
    serializer = serializer_class(
        data=request.data, partial=partial, context={"request": request}, **kwargs
    )
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class VisibleRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign key whose choices are what ``selector(user=...)`` lets the requesting user
    see: an id outside them is answered like an id that does not exist."""

    def __init__(self, selector: Any, **kwargs: Any) -> None:
        self.selector = selector
        super().__init__(**kwargs)

    def get_queryset(self) -> Any:
        return self.selector(user=self.context["request"].user)


class SelectorViewSetMixin(StrictQueryMixin, _ViewSet):
    # A viewset whose rows are ``selector(user=request.user)``: what the user may see, so
    # another user's id is a 404. It reads only the query parameters its action uses.
    schema_role_checked = True  # schema: a role too low for an action is a 403
    selector: Any
    model: Any
    # Model listed by each nested action (/apiaries/{id}/events lists events).
    nested_models: dict[str, Any] = {}

    # Query parameters of a single object's operations, per action.
    detail_query_params: dict[str, set[str]] = {}

    def allowed_query_params(self, request: Request) -> set[str]:
        """What this action reads from the query string; anything else is a 400."""
        action = self.action or ""
        if request.method != "GET" or action == "retrieve":
            return self.detail_query_params.get(action, set())
        filterset = getattr(self, "filterset_class", None)
        allowed = set(filterset.base_filters) if filterset else set()
        if getattr(self, "search_fields", None):
            allowed.add("search")
        if getattr(self, "ordering_fields", None):
            allowed.add("ordering")
        return allowed | {"page", "page_size"}

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return self.nested_models.get(self.action or "", self.model).objects.none()
        return self.selector(user=self.request.user)

    def nested_parent(self) -> Any:
        """The object of the URL's ``pk``, for a nested action (/apiaries/{id}/hives)."""
        # Not get_object(): that would apply the nested action's filters (for events, say)
        # to this viewset's own queryset.
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def paginated(self, queryset: Any, serializer_class: type) -> Response:
        """A page of ``queryset``, filtered by the query string, in ``serializer_class``."""
        queryset = self.filter_queryset(queryset)
        page = self.paginate_queryset(queryset)
        data = serializer_class(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)
