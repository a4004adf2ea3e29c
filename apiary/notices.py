"""Signals the apiary sends for the layers above it to react to without the apiary
knowing them (the live streams close their sockets on them; the MQTT broker's device
clients follow the device keys).

- ``hive_access_changed`` (``hive_id``): a hive was deleted or moved to another apiary;
  whoever watched it under its old apiary's access must stop.
- ``member_access_revoked`` (``apiary_id``, ``user_id``): a user's role in an apiary
  was removed.

They are sent after the change commits. They are announcements, not the rule: the live
streams also re-check access against the database (monitoring.live_access), so a
receiver that fails loses nothing for good.

- ``device_key_issued`` (``hive``, ``key``, ``replaced``): a hive got a new device key,
  at its creation (``replaced`` False) or replacing its old one (True). ``key`` is the
  plaintext key, which exists only at this moment (the apiary keeps its hash). Sent
  inside the change's transaction, before it commits: a receiver that raises (a key
  that could not be revoked elsewhere) rolls the change back as a whole.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

hive_access_changed = Signal()
member_access_revoked = Signal()
device_key_issued = Signal()


def announce_on_commit(signal: Signal, **kwargs: object) -> None:
    """Send ``signal`` with ``kwargs`` once the current transaction commits."""
    transaction.on_commit(lambda: signal.send(sender=signal, **kwargs))
