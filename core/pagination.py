from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class PageNumberPagination(pagination.PageNumberPagination):
    """``{"count", "next", "previous", "results"}`` with a client-chosen page size.

    A ``page`` or ``page_size`` that is not a whole number in range is a 400 naming it
    (DRF would fall back to the default size, or answer 404 "Invalid page").
    A page past the end is still a 404.
    """

    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int | None:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = _whole_number(raw)
        if size is None or not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {"page_size": [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return size

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and raw not in self.last_page_strings:
            number = _whole_number(raw)
            if number is None or number < 1:
                raise ValidationError({"page": ["A whole number from 1 (or 'last')."]})
        return super().paginate_queryset(queryset, request, view)


def _whole_number(raw: str) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
