"""Times as BeeAPI writes and reads them in text.

One form out: UTC ISO 8601 with a ``Z`` (``2025-06-01T12:00:00Z``, microseconds only when
there are any), as DRF renders datetimes, in every JSON answer, live message, alert value
and page. One repair in: a query string's unencoded ``+`` is a space once decoded, so
``?start=2025-06-01T12:00:00+02:00`` arrives as ``...T12:00:00 02:00``.

For people (the console's pages, emails) one other form: ``2026-12-07 13:35`` in the
reader's time zone (settings' DATETIME_FORMAT, beeapi/formats), see ``local_text``.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def iso_time(value: datetime) -> str:
    """UTC ISO 8601 with a ``Z``, as DRF renders datetimes (an aware ``value``)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat()[:-6] + "Z"


def query_time(value: str) -> str:
    """A time from a query string with the ``+`` of its UTC offset given back: an ISO
    8601 time holds no space, so every space is a ``+`` the client did not encode."""
    return value.replace(" ", "+")


def local_text(value: datetime, zone: tzinfo | None = None, *, with_zone: bool = False) -> str:
    """``2026-12-07 13:35`` (DATETIME_FORMAT) in ``zone``, the active one by default.

    ``with_zone`` adds the zone's abbreviation (``CET``, or an offset such as ``+03`` where
    the zone has none): for text read away from the console, such as an email, where
    nothing else says which zone the time is in.
    """
    from django.utils import dateformat, formats, timezone

    local = timezone.localtime(value, zone)
    text = dateformat.format(local, formats.get_format("DATETIME_FORMAT"))
    return f"{text} {local.tzname()}" if with_zone else text
