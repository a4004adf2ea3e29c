"""Lookups the API views of several apps share: one rule for "a hive of yours, or 404"."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from apiary.models import Hive
from apiary.selectors import hive_get_visible


def visible_hive(request: Request, pk: int) -> Hive:
    """The hive ``pk`` if the request's user may see it; else 404 ``No such hive.``,
    the same for a hive that does not exist and one of somebody else (nothing says
    which)."""
    hive = hive_get_visible(user=request.user, hive_id=pk)
    if hive is None:
        raise NotFound("No such hive.")
    return hive
