"""Django's HTTP side under daphne with one thread hand-off per request.

Django's own ASGIHandler builds its middleware chain in async mode. BeeAPI's middleware
(and Django's) are synchronous, so under it each request would cross between the event
loop and a thread several times: the request_started signal, into the chain, back to the
loop for the innermost (async-capable) middleware, into a thread again for the view, and
once more for ``response.close()``. Each crossing wakes a thread and waits for the loop
under the GIL, and every request would start a thread of its own
(``ThreadSensitiveContext``).

This handler builds the chain in sync mode, as the WSGI handler does, and runs a whole
request (request_started, middleware, view, request_finished) in one call on a fixed pool
of ``HTTP_THREADS`` threads; the event loop only reads the body and writes the response.
A streaming response is written from the same thread, chunk by chunk as its iterator
yields, so a view's database connection stays with the thread that opened it.

Work a view hands to the event loop (live messages, monitoring.live.group_send) can wait
until the answer is written (:func:`after_response`), so an ingestion request does not
wait while the loop writes the frames of every live socket watching its hive. Blocking
work (database queries) can follow the answer on a worker thread
(:func:`after_response_in_thread`): the request that leads a batch of the telemetry
collector answers at its commit, as the others of the batch do, instead of after the
alert evaluation and live publish that follow it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, cast

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.db import close_old_connections
from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse
from django.urls import set_script_prefix

logger = logging.getLogger("beeapi")


class _AfterResponse:
    """A request's work for after its answer, shared by the loop's task and the worker
    thread (sync_to_async runs the thread in a copy of the task's context). Once taken,
    nothing more is accepted: a view still running after its request was abandoned
    does its work at once instead of into a list nobody reads."""

    def __init__(self, executor: ThreadPoolExecutor | None = None) -> None:
        self._lock = threading.Lock()
        self._work: list[Callable[[], Awaitable[Any]]] | None = []
        self.executor = executor  # the server's worker threads

    def add(self, start: Callable[[], Awaitable[Any]]) -> bool:
        with self._lock:
            if self._work is None:
                return False
            self._work.append(start)
            return True

    def start_all(self) -> None:
        with self._lock:
            work, self._work = self._work or [], None
        for start in work:
            asyncio.ensure_future(start()).add_done_callback(_log_failure)


_after: ContextVar[_AfterResponse | None] = ContextVar("beeapi_after_response", default=None)


def after_response(start: Callable[[], Awaitable[Any]]) -> bool:
    """Run ``start()`` on the server's event loop once the current request's answer has
    been handed to the server, in the order registered; it runs even if the client went
    away. False outside a request served by :class:`OneHopASGIHandler` (management
    commands, tests without a server) or after it: the caller does the work at once."""
    pending = _after.get()
    return pending is not None and pending.add(start)


def after_response_in_thread(work: Callable[[], None]) -> bool:
    """Run ``work()`` (blocking: database queries) on one of the server's worker threads
    once the current request's answer has been handed to the server, as
    :func:`after_response` does for the loop. The thread's database connections go back
    to their pools afterwards, as at the end of a request; a failure is logged. False
    where :func:`after_response` is: the caller does the work at once."""
    pending = _after.get()
    if pending is None or pending.executor is None:
        return False
    executor = pending.executor

    def run() -> None:
        close_old_connections()
        try:
            work()
        finally:
            close_old_connections()

    return pending.add(lambda: asyncio.get_running_loop().run_in_executor(executor, run))


class _Running:
    """How many requests are on this process's worker threads now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def add(self, delta: int) -> None:
        with self._lock:
            self.count += delta


_running = _Running()


def requests_running() -> int | None:
    """How many requests hold a worker thread of this server process now (the caller's
    included), or None outside a request served by :class:`OneHopASGIHandler`. A
    request waiting for others (telemetry's collector) knows from it that no further
    request can join it before one of these finishes."""
    return _running.count if _after.get() is not None else None


def _log_failure(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("work after a response failed", exc_info=task.exception())


class OneHopASGIHandler(ASGIHandler):
    """An ``ASGIHandler`` whose middleware and view run in one call on a worker thread."""

    def __init__(self) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.executor = ThreadPoolExecutor(
            max_workers=settings.HTTP_THREADS, thread_name_prefix="http"
        )
        self._respond_async = sync_to_async(
            self._respond, thread_sensitive=False, executor=self.executor
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        pending = _AfterResponse(self.executor)
        token = _after.set(pending)
        try:
            try:
                response, closed = await self._respond_async(scope, body_file, send)
            finally:
                body_file.close()
            if response is None:  # streamed from the worker thread
                return
            await self.send_response(response, send)
            if not closed:  # an async streaming response (BeeAPI has none): Django's way
                await sync_to_async(response.close, thread_sensitive=False)()
        finally:
            _after.reset(token)
            pending.start_all()

    # --- on a worker thread -----------------------------------------------------------

    def _respond(
        self, scope: dict[str, Any], body_file: Any, send: Any
    ) -> tuple[HttpResponseBase | None, bool]:
        """Answer the request. A complete response comes back closed, for the loop to
        write; a streaming one is written from here (None)."""
        _running.add(1)
        try:
            return self._respond_counted(scope, body_file, send)
        finally:
            _running.add(-1)

    def _respond_counted(
        self, scope: dict[str, Any], body_file: Any, send: Any
    ) -> tuple[HttpResponseBase | None, bool]:
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            # As Django's ASGIHandler sets it; the stubs do not declare the attribute.
            response._handler_class = self.__class__  # type: ignore[attr-defined]
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        # create_request returns an error response whenever it returns no request.
        assert response is not None
        if not response.streaming:
            # request_finished returns the connections to the pool here, on the thread
            # that used them, before the loop writes the bytes.
            response.close()
            return response, True
        response = cast(StreamingHttpResponse, response)  # response.streaming
        if response.is_async:
            return response, False
        push = async_to_sync(send)
        try:
            push(_start(response))
            for part in cast("Iterator[bytes]", response.streaming_content):  # not is_async
                for chunk, _ in self.chunk_bytes(part):
                    push({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            # Before the last message, as for a complete response: when the client has
            # the whole answer, the request is finished here.
            response.close()
        push({"type": "http.response.body", "body": b"", "more_body": False})
        return None, True


def _start(response: HttpResponseBase) -> dict[str, Any]:
    """The ``http.response.start`` message of ``response`` (ASGIHandler.send_response)."""
    headers = [
        (
            header.encode("ascii") if isinstance(header, str) else bytes(header),
            value.encode("latin1") if isinstance(value, str) else bytes(value),
        )
        for header, value in response.items()
    ]
    for cookie in response.cookies.values():
        headers.append((b"Set-Cookie", cookie.output(header="").encode("ascii").strip()))
    return {"type": "http.response.start", "status": response.status_code, "headers": headers}


def daphne_raw_post_bodies() -> None:
    """Have Twisted leave POST bodies to the application, as daphne does.

    Before daphne sees a request, Twisted parses the Content-Type of every POST (through
    the email package, about 60 µs on the bench machine, 3% of a device's one-reading
    POST) to decode form and multipart bodies into ``request.args``, which daphne never
    reads: it hands the raw body to the application (Django parses forms itself).
    Twisted has a switch for it (``parsePOSTFormSubmission``); daphne does not pass it.
    """
    import functools
    import inspect

    from daphne.http_protocol import WebRequest
    from twisted.web.http import Request

    init = WebRequest.__init__
    if getattr(init, "_raw_post_bodies", False):
        return
    if "parsePOSTFormSubmission" not in inspect.signature(Request.__init__).parameters:
        return  # an older Twisted, which always parses

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parsePOSTFormSubmission", False)
        init(self, *args, **kwargs)

    __init__._raw_post_bodies = True  # type: ignore[attr-defined]
    WebRequest.__init__ = __init__
