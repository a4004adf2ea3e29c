"""The garbage collector of a server process (daphne running ``beeapi.asgi``).

Python runs a full collection, which walks every tracked object, whenever enough young
objects have survived into the oldest generation. A server process holds some 130,000
objects from startup (Django, DRF, the URL and model registries) that never become
garbage, plus the state of every open WebSocket. Live fan-out keeps each socket's
pending receive task and futures alive from one message to the next, so they survive
into the oldest generation at every post. With many sockets open, full collections
then come often and each takes long, and every request and socket waits through each
one.

:func:`tune` collects once and freezes what startup left (``gc.freeze()``: those
objects are never scanned again). It also raises the young generation's threshold
from 700 to ``SERVER_GC_GEN0`` allocations, so far fewer short-lived objects are
promoted only because a collection happened to run while they were alive. Cycles
created after startup are still collected. ``SERVER_GC_GEN0=0`` leaves Python's
defaults.
"""

from __future__ import annotations

import gc
import logging

from django.conf import settings

logger = logging.getLogger("beeapi")


def tune() -> bool:
    """Freeze startup's objects and raise the young-generation threshold.

    Returns whether anything was changed.
    """
    gen0 = settings.SERVER_GC_GEN0
    if gen0 == 0:
        return False
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0, gen1, gen2)
    logger.debug(
        "garbage collector: %d startup objects frozen, thresholds %s",
        gc.get_freeze_count(),
        gc.get_threshold(),
    )
    return True
