"""Strict input for every API view: what a client sends is used, or refused with a 400.

DRF and django-filter silently ignore what they do not know: a misspelt body field, an
unknown query parameter, an ``ordering`` on a field that cannot be sorted, a
``page_size`` that is not a number. A client then gets an answer to a question it did
not ask. These pieces answer 400 naming the parameter instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.http import Http404
from rest_framework import filters, serializers
from rest_framework.exceptions import APIException, MethodNotAllowed, ValidationError
from rest_framework.request import Request

# DRF's format override (?format=csv): a query parameter of the views that answer more
# than one format, and of those only (core.strict.accepted_query_params).
FORMAT_PARAM = "format"
# Keys of the error body itself (beeapi.schema.ERROR_SCHEMA), never field names.
_RESERVED_KEYS = frozenset({"detail", "code"})


class BadQuery(APIException):
    status_code = 400
    default_code = "bad_query"


# (Comments, not docstrings, on the mixins: drf-spectacular would show an inherited
# docstring as the description of every serializer and operation using them.)


def json_type_problem(field: serializers.Field, value: Any) -> str | None:
    """Why ``value`` has the wrong JSON type for ``field``, or None.

    DRF coerces: 5 becomes "5" for a text field, "5" becomes 5 for a number, "yes" becomes
    true. The schema promises types, so a value of another type is refused as the schema
    says, not silently converted. (bool is an int in Python: refused for numbers.)
    """
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else "Must be true or false."
    if isinstance(field, serializers.IntegerField | serializers.PrimaryKeyRelatedField):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "Must be a whole number."
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "Must be a number."
    if isinstance(
        field,
        serializers.CharField
        | serializers.ChoiceField
        | serializers.DateField
        | serializers.DateTimeField,
    ):
        if not isinstance(value, str):
            return "Must be a string."
        # The limit applies to what was sent: DRF would trim surrounding white space first
        # and let a string longer than the schema's maxLength through.
        limit = getattr(field, "max_length", None)
        if limit is not None and len(value) > limit:
            return f"Ensure this field has no more than {limit} characters."
    return None


class StrictFieldsMixin:
    # A serializer that refuses body keys it has no field for (typos, stale clients) and
    # values of another JSON type than its fields'. Read-only fields are accepted and
    # ignored, so a client may send back what it read.

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            fields = self.fields  # type: ignore[attr-defined]
            errors = {key: ["Unknown field."] for key in sorted(set(data) - set(fields))}
            for key, value in data.items():
                field = fields.get(key)
                if field is None or field.read_only or value is None:
                    continue
                problem = json_type_problem(field, value)
                if problem:
                    errors[key] = [problem]
            if errors:
                raise ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


def query_params_check(request: Request, allowed: Iterable[str]) -> None:
    """400 for any query parameter not in ``allowed``."""
    allowed = set(allowed)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        hint = ", ".join(sorted(allowed)) or "none"
        if any(key in _RESERVED_KEYS or not key.strip() for key in unknown):
            # Errors are keyed by parameter; "detail", "code" or a blank name cannot be.
            names = ", ".join(repr(key) for key in unknown)
            raise BadQuery(f"Unknown query parameter(s) {names}. This endpoint takes: {hint}.")
        raise ValidationError(
            {key: [f"Unknown query parameter. This endpoint takes: {hint}."] for key in unknown}
        )
    # An empty value (?status=) would silently mean "no filter": say so instead.
    empty = sorted(
        key for key, values in request.query_params.lists() if any(v == "" for v in values)
    )
    if empty:
        raise ValidationError({key: ["Give a value, or leave the parameter out."] for key in empty})


class StrictOrderingFilter(filters.OrderingFilter):
    """``?ordering=`` with a field that cannot be sorted on is a 400, not ignored."""

    def get_ordering(self, request: Request, queryset: Any, view: Any) -> Any:
        params = request.query_params.get(self.ordering_param)
        if params:
            fields = [param.strip() for param in params.split(",")]
            valid = {
                name for name, _ in self.get_valid_fields(queryset, view, {"request": request})
            }
            invalid = [field for field in fields if field.lstrip("-") not in valid]
            if invalid:
                raise ValidationError(
                    {
                        self.ordering_param: [
                            f"Cannot order by {', '.join(invalid)}. Choose from: "
                            + ", ".join(sorted(valid))
                            + " (prefix - for descending)."
                        ]
                    }
                )
        return super().get_ordering(request, queryset, view)


class StrictQueryMixin:
    # An APIView that answers 400 for query parameters it does not read. ``query_params``
    # names them; views whose parameters depend on the action override
    # ``allowed_query_params``. What is checked and what the schema documents both come
    # from accepted_query_params(), so the two cannot disagree.

    query_params: frozenset[str] = frozenset()

    def allowed_query_params(self, request: Request) -> set[str]:
        return set(self.query_params)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # A method the view does not implement (TRACE, BREW, PUT on a list) is a 405 with
        # its Allow header, whoever asks and whatever the query says. DRF would look the
        # handler up only after authentication and this query check: TRACE /hives?page=1
        # would be a 400 "Unknown query parameter", anonymous TRACE a 401.
        if not implements_method(self, request.method or ""):
            raise MethodNotAllowed(request.method or "")
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        query_params_check(request, accepted_query_params(self, request))

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # ?format= that no renderer of this view offers: DRF raises Http404, a 404 that
        # says nothing (and that operations without an {id} do not document).
        try:
            return super().perform_content_negotiation(request, force)  # type: ignore[misc]
        except Http404:
            # A view with one format does not take the parameter at all: say that.
            query_params_check(request, accepted_query_params(self, request))
            formats = ", ".join(view_formats(self))
            raise ValidationError({FORMAT_PARAM: [f"Choose from: {formats}."]}) from None


def accepted_query_params(view: Any, request: Request) -> set[str]:
    """Every query parameter ``view`` reads for ``request`` (its method and action).

    The one list behind both the strict check (anything else is a 400) and the schema
    (beeapi.schema.AutoSchema documents exactly these): the view's own
    ``allowed_query_params``, plus ``format`` where it chooses between formats.
    """
    accepted = set(view.allowed_query_params(request))
    if len(view_formats(view)) > 1:
        accepted.add(FORMAT_PARAM)
    return accepted


def implements_method(view: Any, method: str) -> bool:
    """Whether the DRF view has a handler for ``method`` (as APIView.dispatch decides)."""
    name = method.lower()
    return name in view.http_method_names and callable(getattr(view, name, None))


def view_formats(view: Any) -> list[str]:
    """The formats a view answers in, as the schema documents them (the browsable API, an
    HTML page for people, is left out as drf-spectacular does)."""
    from rest_framework.renderers import BrowsableAPIRenderer

    return list(
        dict.fromkeys(
            renderer.format
            for renderer in view.get_renderers()
            if not isinstance(renderer, BrowsableAPIRenderer)
        )
    )
