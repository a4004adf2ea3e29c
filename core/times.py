"""Times as BeeAPI writes and reads them in text.

One form out: UTC ISO 8601 with a ``Z`` (``2025-06-01T12:00:00Z``, microseconds only when
there are any), as DRF renders datetimes, in every JSON answer, live message, alert value
and page. One repair in: a query string's unencoded ``+`` is a space once decoded, so
``?start=2025-06-01T12:00:00+02:00`` arrives as ``...T12:00:00 02:00``.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_time(value: datetime) -> str:
    """UTC ISO 8601 with a ``Z``, as DRF renders datetimes (an aware ``value``)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat()[:-6] + "Z"


def query_time(value: str) -> str:
    """A time from a query string with the ``+`` of its UTC offset given back: an ISO
    8601 time holds no space, so every space is a ``+`` the client did not encode."""
    return value.replace(" ", "+")
