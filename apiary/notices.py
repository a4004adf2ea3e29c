"""Signals the apiary sends after a change commits, for the layers above it to react
to without the apiary knowing them (the live streams close their sockets on them).

- ``hive_access_changed`` (``hive_id``): a hive was deleted or moved to another apiary;
  whoever watched it under its old apiary's access must stop.
- ``member_access_revoked`` (``apiary_id``, ``user_id``): a user's role in an apiary
  was removed.

They are announcements, not the rule: the live streams also re-check access against the
database (monitoring.live_access), so a receiver that fails loses nothing for good.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

hive_access_changed = Signal()
member_access_revoked = Signal()


def announce_on_commit(signal: Signal, **kwargs: object) -> None:
    """Send ``signal`` with ``kwargs`` once the current transaction commits."""
    transaction.on_commit(lambda: signal.send(sender=signal, **kwargs))
