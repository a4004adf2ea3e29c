"""Rules on dates and times shared by models, filters and query parameters.

PostgreSQL stores ``timestamptz`` for any year from 4713 BC, but a beekeeping record dated
year 1 is a typo, and PostgreSQL refuses a UTC offset beyond ±15:59 that Python accepts,
which would surface as a 500. Values are checked (and converted to UTC) before any query.
A user's time zone is an IANA name the system's zone database knows.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo

from django.core.exceptions import ValidationError
from django.utils import timezone

EARLIEST_YEAR = 1900
# Far enough for "everything until ..." queries, and far from datetime.max, so adding a
# day or an hour to a bound never overflows.
LATEST_YEAR = 9000
MAX_UTC_OFFSET = dt.timedelta(hours=15, minutes=59)
# Events may be planned ahead (a treatment's end, a feeding); not by more than this.
EVENT_FUTURE_LIMIT = dt.timedelta(days=366)


def utc_datetime(value: dt.datetime) -> dt.datetime:
    """An aware datetime converted to UTC, or a ValidationError saying what is wrong."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ValidationError("The UTC offset must be between -15:59 and +15:59.")
    if offset is None:
        value = timezone.make_aware(value, dt.UTC)
    try:
        value = value.astimezone(dt.UTC)
    except OverflowError:
        raise ValidationError("The time is out of range.") from None
    if value.year < EARLIEST_YEAR:
        raise ValidationError(f"Give a time in {EARLIEST_YEAR} or later.")
    if value.year > LATEST_YEAR:
        raise ValidationError(f"Give a time before the year {LATEST_YEAR + 1}.")
    return value


def validate_event_time(value: dt.datetime) -> None:
    """When something happened in an apiary: not before 1900, at most a year ahead."""
    utc_datetime(value)
    if value > timezone.now() + EVENT_FUTURE_LIMIT:
        raise ValidationError("Give a time at most a year from now.")


def validate_past_date(value: dt.date) -> None:
    """A date of something that has happened (an introduction, an installation)."""
    if value.year < EARLIEST_YEAR:
        raise ValidationError(f"Give a date in {EARLIEST_YEAR} or later.")
    # Tomorrow is allowed: the beekeeper's "today" may be ahead of UTC.
    if value > timezone.now().date() + dt.timedelta(days=1):
        raise ValidationError("This date is in the future.")


@functools.cache
def time_zone_names() -> frozenset[str]:
    """The IANA time zones this system knows (``Europe/Berlin``, ``UTC``)."""
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    """An IANA time zone name, as a browser gives it (``Intl…resolvedOptions().timeZone``)."""
    if value not in time_zone_names():
        raise ValidationError(
            "Unknown time zone: give an IANA name such as Europe/Berlin or America/New_York."
        )
