"""Group commit for small concurrent writes: the requests that arrive within a few
milliseconds share one store (one COPY, one commit) instead of paying a commit each.

Leader and followers, on the server's worker threads: the first request of a window
opens a batch and becomes its leader; requests arriving while the batch is open join it
and wait. The leader waits until the window ends or the batch holds ``max_size`` items'
worth, closes it (later requests open the next one), stores every item with its own
thread's database connection and wakes the followers as soon as it commits, each with
its own result: a request is answered only after the commit that holds its readings,
while the leader goes on with what follows the commit (for ingest: the live publish and
the alerts, once per batch). Should the store fail, every request of the batch gets the
error, and the transaction holds nothing.

A batch also closes as soon as it holds every request the server is working on
(``running``) but leaders busy after their own commit: a request alone is stored at
once, as without a collector, and a busy process stops waiting when every request that
could still join has joined. The followers of a batch being stored are counted as
coming: once answered, their clients send again.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

# How often a waiting leader looks again whether its batch holds every request served.
POLL_SECONDS = 0.002

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Batch(Generic[Item, Result]):
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.size = 0
        self.full = threading.Event()  # the leader need not wait out the window
        self.done = threading.Event()  # stored (or failed): the followers may answer
        self.results: list[Result | BaseException] = []
        self.error: BaseException | None = None


Deliver = Callable[[list[Result]], None]


class Collector(Generic[Item, Result]):
    """Batches of items stored together by ``store(items, deliver)``, which returns one
    result per item (or an exception for an item that failed on its own) and raises when
    the whole batch failed. It may call ``deliver(results)`` as soon as they are durable
    (on commit), to answer the followers before it goes on with work of its own."""

    def __init__(
        self,
        store: Callable[[list[Item], Deliver[Result]], list[Result | BaseException]],
        running: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._store = store
        self._running = running
        self._lock = threading.Lock()
        self._open: _Batch[Item, Result] | None = None
        self.batches = 0  # stored so far (figures for tests and benchmarks)
        # Leaders whose batch is answered (or failed), busy with what follows its commit:
        # their requests are not coming to the open batch. (The followers of a batch
        # being stored are: once answered, their clients send again.)
        self._finishing = 0

    def submit(self, item: Item, *, size: int, window: float, max_size: int) -> Result:
        """Store ``item`` (``size`` units of work, readings) with the items submitted
        within ``window`` seconds of the batch's first; its result once stored."""
        with self._lock:
            batch = self._open
            leader = batch is None
            if batch is None:
                batch = self._open = _Batch()
            index = len(batch.items)
            batch.items.append(item)
            batch.size += size
            if batch.size >= max_size:
                self._close()
            else:
                self._close_if_all_in()
        if leader:
            # In slices: a request that ends elsewhere (a leader's answer written) is
            # noticed here, as no join would tell.
            deadline = time.monotonic() + window
            while not batch.full.wait(min(POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
                with self._lock:
                    if self._open is batch:
                        if time.monotonic() >= deadline:
                            self._close()
                        else:
                            self._close_if_all_in()
            self._run(batch)
        else:
            batch.done.wait()
        if batch.error is not None:
            raise batch.error if leader else _again(batch.error)
        result = batch.results[index]
        if isinstance(result, BaseException):
            raise result
        return result

    def _close(self) -> None:
        """Close the open batch (under the lock): the next item opens the next one."""
        assert self._open is not None
        self._open.full.set()
        self._open = None

    def _close_if_all_in(self) -> None:
        """Close the open batch if it holds every request on the server's threads but
        the finishing leaders': none could join before one of them is answered, so
        waiting would only idle the process (a request alone is stored at once)."""
        running = self._running()
        if self._open is not None and running is not None:
            if len(self._open.items) >= running - self._finishing:
                self._close()

    def _finish(self, count: int) -> None:
        with self._lock:
            self._finishing += count
            self._close_if_all_in()

    def _run(self, batch: _Batch[Item, Result]) -> None:
        def deliver(results: Sequence[Result | BaseException]) -> None:
            if not batch.done.is_set():
                batch.results = list(results)
                batch.done.set()
                self._finish(1)

        try:
            deliver(self._store(batch.items, deliver))
        except BaseException as exc:
            if not batch.done.is_set():  # nothing committed: every request answers it (503)
                batch.error = exc
                batch.done.set()
                self._finish(1)
            # Else committed and delivered, then the leader's own work after the commit
            # failed: the followers have their results; the leader answers the error, as
            # a request storing alone would.
            raise
        finally:
            with self._lock:
                self.batches += batch.error is None
            self._finish(-1)


def _again(error: BaseException) -> BaseException:
    """A follower's own copy of the leader's error (one exception object raised on
    several threads at once would share its traceback), caused by the original."""
    try:
        mine = copy.copy(error)
    except Exception:  # noqa: BLE001 - an exception that cannot be copied is raised as is
        return error
    mine.__cause__ = error
    mine.__traceback__ = None
    return mine
