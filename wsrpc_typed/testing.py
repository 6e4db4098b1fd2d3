"""Test your handlers without sockets: an in-memory transport pair and a test client.

::

    from wsrpc_typed.testing import TestClient

    async def test_add() -> None:
        async with TestClient(router) as client:
            assert await client.call("add", {"a": 1, "b": 2}) == 3

:class:`TestClient` is a :class:`~wsrpc_typed.Client` whose connection runs
over :func:`memory_pair` to a server's hub in the same event loop: the same
handshake policy (``authenticate``, origins, host check), dialects,
validation, interceptors, streams and calls back to the client, without a
port or a thread. Wrap it in a generated client class as you would a real
one: ``api = BankClient(client)``.

Rules of this module:

* A message sent on one end is delivered to the other end in a later
  event-loop iteration, never inside ``send``, as a socket would.
* Messages are delivered in order. While the receiving end is paused, they
  wait; once more than ``high_water`` of them wait, ``send`` returns a pending
  future until the receiver takes them (backpressure).
* ``close()`` ends both ends after the messages sent before it were
  delivered; ``abort()`` ends both at once (code 1006). Each end's handler
  gets ``connection_lost`` once.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Mapping
from typing import Any

from .client import Client
from .dialects.jsonrpc import SUBPROTOCOL as JSONRPC
from .errors import ConnectionClosed, HandshakeRejected
from .hub import Hub
from .registry import Router
from .security import Handshake, Headers
from .server import Server
from .transport import Refused, Transport, TransportHandler, describe_close

__all__ = ["MemoryTransport", "TestClient", "memory_pair"]

#: The peer address both ends report.
MEMORY_ADDRESS = ("memory", 0)


class _End:
    """Marks the end of the stream: what follows ``close()``."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


class MemoryTransport:
    """One end of an in-memory connection: a :class:`~wsrpc_typed.transport.Transport`.

    Make them in pairs with :func:`memory_pair`.
    """

    __slots__ = (
        "_closed",
        "_closing",
        "_done",
        "_drained",
        "_handler",
        "_inbox",
        "_loop",
        "_paused",
        "_scheduled",
        "high_water",
        "peer",
        "request_headers",
        "subprotocol",
    )

    def __init__(
        self,
        *,
        subprotocol: str | None = None,
        request_headers: Mapping[str, str] | None = None,
        high_water: int = 64,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.peer: MemoryTransport = self
        self.subprotocol = subprotocol
        self.request_headers: Mapping[str, str] = request_headers or Headers()
        self.high_water = high_water
        self._handler: TransportHandler | None = None
        self._inbox: collections.deque[bytes | str | _End] = collections.deque()
        self._paused = False
        self._scheduled = False
        self._closed: ConnectionClosed | None = None
        self._closing = False
        self._drained: asyncio.Future[None] | None = None
        self._done = self._loop.create_future()

    # -- receiving --------------------------------------------------------------------

    def start(self, handler: TransportHandler, /) -> None:
        self._handler = handler
        self._schedule()

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        self._paused = False
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled and self._inbox:
            self._scheduled = True
            self._loop.call_soon(self._deliver)

    def _deliver(self) -> None:
        self._scheduled = False
        inbox = self._inbox
        while inbox and self._handler is not None and not self._paused and self._closed is None:
            item = inbox.popleft()
            if isinstance(item, _End):
                self._lost(item.code, item.reason)
                self.peer._lost(item.code, item.reason)
                break
            self._handler.message_received(item)
        self.peer._wake_sender()

    def _lost(self, code: int, reason: str) -> None:
        if self._closed is not None:
            return
        self._closed = ConnectionClosed(describe_close(code, reason), code, reason)
        self._inbox.clear()
        if self._drained is not None and not self._drained.done():
            self._drained.set_exception(self._closed)
            self._drained.exception()  # nobody need await it
        if not self._done.done():
            self._done.set_result(None)
        if self._handler is not None:
            self._handler.connection_lost(self._closed)

    # -- sending ----------------------------------------------------------------------

    def send(self, message: bytes, /, *, text: bool) -> asyncio.Future[None]:
        if self._closed is not None:
            raise self._closed
        if self._closing:
            raise ConnectionClosed("the connection is closing")
        peer = self.peer
        peer._inbox.append(bytes(message).decode() if text else bytes(message))
        peer._schedule()
        if len(peer._inbox) <= self.high_water:
            return _done(self._loop)
        if self._drained is None or self._drained.done():
            self._drained = self._loop.create_future()
        return self._drained

    def _wake_sender(self) -> None:
        drained = self._drained
        if drained is not None and not drained.done() and len(self.peer._inbox) <= self.high_water:
            drained.set_result(None)

    def send_backlog(self) -> int | None:
        waiting = len(self.peer._inbox)
        return waiting if waiting > self.high_water else None

    def ping(self) -> asyncio.Future[None]:
        if self._closed is not None:
            raise self._closed
        return _done(self._loop)

    # -- ending -----------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closed is None and not self._closing:
            self._closing = True
            self.peer._inbox.append(_End(code, reason))
            self.peer._paused = False  # the closing handshake gets through
            self.peer._schedule()
        await self.wait_closed()

    def abort(self) -> None:
        self._lost(1006, "")
        self.peer._lost(1006, "")

    async def wait_closed(self) -> None:
        await asyncio.shield(self._done)

    @property
    def remote_address(self) -> Any:
        return MEMORY_ADDRESS


def _done(loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    future = loop.create_future()
    future.set_result(None)
    return future


def memory_pair(
    *,
    subprotocol: str | None = None,
    request_headers: Mapping[str, str] | None = None,
    high_water: int = 64,
) -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected in-memory transports: (client end, server end).

    Args:
        subprotocol: What both ends report as the negotiated subprotocol.
        request_headers: The handshake headers both ends report.
        high_water: Messages waiting at a paused receiver before ``send`` waits.
    """
    options: dict[str, Any] = {
        "subprotocol": subprotocol,
        "request_headers": request_headers,
        "high_water": high_water,
    }
    client, server = MemoryTransport(**options), MemoryTransport(**options)
    client.peer, server.peer = server, client
    return client, server


class TestClient(Client):
    """A client connected in memory to a router, a :class:`~wsrpc_typed.Server` or a hub.

    ``async with TestClient(app) as client:`` opens it: the handshake goes
    through the server's policy (a refusal raises
    :class:`~wsrpc_typed.HandshakeRejected`, as ``connect`` does), then calls run
    over a :func:`memory_pair`. A :class:`Server` need not be open: its hub
    serves the connection. A router gets a hub of its own with the server's
    defaults, closed with the client.

    Args:
        app: What to test: a :class:`Router`, a :class:`Server` or a :class:`Hub`.
        subprotocol: The dialect to speak (default JSON-RPC 2.0).
        headers: Handshake headers (for example ``Authorization`` for ``authenticate``).
        path: The handshake's request target, with its query string.
        **options: Any other :class:`~wsrpc_typed.Client` option (``router``,
            ``timeout``, ``interceptors``, ...).
    """

    __test__ = False  # not a test class, whatever pytest's naming rules say

    def __init__(
        self,
        app: Router | Server | Hub,
        *,
        subprotocol: str = JSONRPC,
        headers: Mapping[str, str] | None = None,
        path: str = "/",
        **options: Any,
    ) -> None:
        super().__init__("ws://localhost/", subprotocol=subprotocol, **options)
        if isinstance(app, Server):
            self.hub, self._own_hub = app.hub, False
        elif isinstance(app, Hub):
            self.hub, self._own_hub = app, False
        else:
            self.hub, self._own_hub = Hub(app, ping_interval=None, send_timeout=None), True
        self._subprotocol = subprotocol
        self._headers = Headers([("Host", "localhost"), *(headers or {}).items()])
        self._path = path

    async def _open_transport(self) -> Transport:
        handshake = Handshake.from_target(
            self._path, self._headers, MEMORY_ADDRESS, [self._subprotocol]
        )
        decision = await self.hub.handshake(handshake)
        if isinstance(decision, Refused):
            raise HandshakeRejected(decision.status, decision.body + "\n")  # as on the wire
        client, server = memory_pair(
            subprotocol=decision.subprotocol, request_headers=self._headers
        )
        self.hub.attach(server, decision)
        return client

    async def close(self) -> None:
        """Close the connection, and the hub if it was made for this client."""
        await super().close()
        if self._own_hub:
            await self.hub.close()
