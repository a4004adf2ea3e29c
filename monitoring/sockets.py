"""The base of every live socket (``WS /ws/hive/{id}/telemetry``, ``WS /ws/alerts``): one
signed-in user's stream, pushed from the server.

What every stream shares, and what a subclass's ``stream_open`` builds on:
- Authentication through the scope (monitoring.ws_auth): the socket is accepted first, so
  browsers see the close codes, then closed with 4401 when no user signed in.
- Limits: at most LIVE_MAX_SOCKETS_PER_USER sockets per user and
  LIVE_MAX_SOCKETS_PER_PROCESS per server process (4429 beyond them).
- Expiry: the socket closes with 4401 when its token expires, or its session does.
- The channel-layer groups it joins (``join_group``), all left at disconnect; a layer
  that fails or does not answer closes it with 4503, and one the hub knows is down
  refuses it with 4503 before the consumer starts.
- The live hub's watch (monitoring.live_hub): its access is rechecked against the
  database periodically (4401 for a lost sign-in, 4404 for a lost hive), it re-joins its
  groups when the layer comes back, and is then told of the gap.
- A client ``{"type": "ping"}`` gets ``{"type": "pong"}``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any, cast

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError

from monitoring.live_access import LOST_SIGN_IN, AccessClaim, access_verdicts, session_expiry
from monitoring.live_hub import LAYER_CALL_TIMEOUT_SECONDS, LayerUnavailable, LiveHub, live_hub

logger = logging.getLogger("telemetry.live")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429
CLOSE_UNAVAILABLE = 4503  # daphne refuses to send 1011 from the server side

# Open sockets of this process, in total and per user.
_open_by_user: Counter[int] = Counter()


def open_sockets() -> int:
    return sum(_open_by_user.values())


async def _refuse(receive: Any, send: Any, code: int) -> None:
    """Accept the handshake and close with ``code`` without a consumer (browsers see
    the code), then wait for the client to be gone, as a consumer would."""
    message = await receive()
    if message.get("type") != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code})
    while (await receive()).get("type") != "websocket.disconnect":
        pass


class UserSocketConsumer(AsyncJsonWebsocketConsumer):
    """One user's live stream; subclasses open it in ``stream_open``."""

    user_id: int | None = None
    # The session that authenticated the socket (None for a token).
    session_key: str | None = None
    # The process's live hub while the socket is admitted and open (None once closed).
    hub: LiveHub | None = None
    _expiry: asyncio.TimerHandle | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every group this socket joined (join_group), all left at disconnect.
        self.groups_joined: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Channels' consumer, closing with 4503 when the channel layer is unreachable.

        Channels creates the socket's channel before the handshake; with Redis down
        that raised, and the client saw a server error. While the hub knows of an
        outage the layer is not even tried.
        """
        layer = get_channel_layer(self.channel_layer_alias)
        hub = live_hub(layer) if layer is not None else None
        if hub is not None and hub.down_since is not None:
            await _refuse(receive, send, CLOSE_UNAVAILABLE)
            return
        try:
            await super().__call__(scope, receive, send)
        except Exception as exc:
            # Only a failure to create the socket's channel is refused here: past that
            # the consumer handles the layer's failures itself.
            if hub is None or getattr(self, "channel_name", None) is not None:
                raise
            hub.layer_failed(exc)
            await _refuse(receive, send, CLOSE_UNAVAILABLE)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections()`` before every message.

        Channels 4.2+ hands each message to the one thread-sensitive worker thread first,
        to close stale database connections. These consumers reach the database only
        through ``database_sync_to_async``, which closes them itself before and after
        each call; the hop would queue every live frame of every socket for that one
        thread (docs/scaling.md).
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- Opening the stream ----------------------------------------------------------------

    async def connect(self) -> None:
        try:
            await self.stream_open()
        except LayerUnavailable:
            await self.close(code=CLOSE_UNAVAILABLE)

    async def stream_open(self) -> None:
        """Authenticate (``authenticated_user``), admit (``admit``), join the stream's
        groups (``join_group``), start watching (``hub``) and send the first frame."""
        raise NotImplementedError

    async def authenticated_user(self) -> Any:
        """The socket's authenticated user (the socket is accepted first, so browsers see
        close codes), or None after closing with 4401."""
        await self.accept()
        user = self.scope.get("user")
        if self.scope.get("auth_failed") or user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return None
        return user

    async def admit(self, user: Any) -> bool:
        """Count the socket against the per-user and per-process limits (4429 beyond them)
        and close it when its token or session expires."""
        if (
            _open_by_user[user.pk] >= settings.LIVE_MAX_SOCKETS_PER_USER
            or open_sockets() >= settings.LIVE_MAX_SOCKETS_PER_PROCESS
        ):
            await self.close(code=CLOSE_TOO_MANY)
            return False
        self.user_id = user.pk
        _open_by_user[user.pk] += 1
        if "token_exp" not in self.scope:
            session = self.scope.get("session")
            self.session_key = getattr(session, "session_key", None)
        self.hub = live_hub(self.channel_layer)
        try:
            await self._schedule_expiry()
        except DatabaseError as exc:
            logger.warning("live stream of user %s: database unavailable: %s", user.pk, exc)
            await self.close(code=CLOSE_UNAVAILABLE)
            return False
        return True

    async def join_group(self, group: str) -> None:
        """Join ``group``; every group joined is left at disconnect. Raises
        LayerUnavailable (the socket then closes with 4503)."""
        try:
            await asyncio.wait_for(
                self.channel_layer.group_add(group, self.channel_name), LAYER_CALL_TIMEOUT_SECONDS
            )
        except Exception as exc:
            if self.hub is not None:
                self.hub.layer_failed(exc)
            raise LayerUnavailable from exc
        if group not in self.groups_joined:
            self.groups_joined.append(group)

    # --- Closing ---------------------------------------------------------------------------

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # No frame may follow the close (expiry, revoked access): leave the hub first.
        await self.leave_hub()
        await super().close(code=code, reason=reason)

    async def leave_hub(self) -> None:
        hub, self.hub = self.hub, None
        if hub is not None:
            hub.unwatch(self)
            await self.hub_left(hub)

    async def hub_left(self, hub: LiveHub) -> None:
        """Leave what the socket joined at ``hub`` besides its watch (its device's
        readings, for a hive's stream)."""

    async def disconnect(self, code: int) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        await self.leave_hub()
        groups, self.groups_joined = self.groups_joined, []
        for group in groups:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception as exc:  # noqa: BLE001 - the layer's trouble; the socket is gone
                live_hub(self.channel_layer).layer_failed(exc)
        if self.user_id is not None:
            _open_by_user[self.user_id] -= 1
            if _open_by_user[self.user_id] <= 0:
                del _open_by_user[self.user_id]
            self.user_id = None

    # --- Expiry ----------------------------------------------------------------------------

    async def _schedule_expiry(self, at_least: float = 0.0) -> None:
        """Close the socket with 4401 when its token expires, or when its session does
        (then the stored expiry is read again first: activity may have extended it).
        A session without a readable expiry is left to the periodic check."""
        expires = cast("float | None", self.scope.get("token_exp"))
        if expires is None and self.session_key is not None:
            stored = await database_sync_to_async(session_expiry)(self.session_key)
            expires = stored.timestamp() if stored is not None else None
        if expires is None:
            return
        delay = max(at_least, expires - time.time())
        expired = self._expired if self.session_key is not None else self._token_expired
        self._expiry = asyncio.get_running_loop().call_later(
            delay, lambda: asyncio.ensure_future(expired())
        )

    async def _token_expired(self) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def _expired(self) -> None:
        if self.hub is None:
            return  # closed meanwhile
        try:
            [verdict] = await database_sync_to_async(access_verdicts)(
                [AccessClaim(user_id=self.user_id or 0, session_key=self.session_key)]
            )
            if verdict is None:  # extended meanwhile
                await self._schedule_expiry(at_least=1.0)
                return
        except DatabaseError:
            return  # the periodic check closes it once the database answers
        await self.close(code=CLOSE_UNAUTHENTICATED)

    # --- What the live hub asks of a socket (monitoring.live_hub.Watched) ------------------

    def access_claim(self) -> AccessClaim:
        return AccessClaim(user_id=self.user_id or 0, session_key=self.session_key)

    async def access_lost(self, verdict: str) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED if verdict == LOST_SIGN_IN else CLOSE_NOT_FOUND)

    async def rejoin(self) -> None:
        for group in list(self.groups_joined):
            await self.join_group(group)

    async def gap(self, since: str) -> None:
        await self.send_json({"type": "gap", "since": since})

    # --- From the client -------------------------------------------------------------------

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The stream is one-way; a client "ping" gets a "pong" for liveness checks.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
