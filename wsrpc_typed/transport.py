"""The transport contract: what the connection driver and the hub need of a connection.

A transport moves whole WebSocket messages: it pushes each one it receives to
its handler, sends one, pauses reading, closes. The connection layer uses
nothing else, so adapters for websockets (:mod:`wsrpc_typed.adapters.websockets`),
ASGI servers or picows, and the in-memory pair of :mod:`wsrpc_typed.testing`
are interchangeable under it. The server side adds the handshake: an adapter
reports it to an :class:`Acceptor` (the hub), which answers :class:`Accepted`
or :class:`Refused`.

Rules of this module:

* Nothing here imports a WebSocket library: library exceptions stop at the
  adapter, which reports a closed connection as
  :class:`~wsrpc_typed.errors.ConnectionClosed` with the close code and reason
  (described by :func:`describe_close`).
* Adapters that write to a socket coalesce: messages sent during one
  event-loop iteration are framed at once and written together, every
  ``COALESCE_FRAMES`` messages or ``COALESCE_BYTES`` bytes and at the end of
  the iteration (a ``call_soon`` callback, not a timer). A lone message waits
  only for the rest of the current iteration. A burst of small messages then
  costs one system call per group instead of one per message. Groups, not
  whole bursts: writing a whole burst at once makes the two peers take turns
  instead of working at the same time. Nor does the first message of an
  iteration go out alone: lone first messages split the groups further at
  every round trip until nothing is coalesced (both measured).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from .errors import ConnectionClosed

if TYPE_CHECKING:
    from .security import Handshake

__all__ = [
    "Accepted",
    "Acceptor",
    "Refused",
    "Transport",
    "TransportHandler",
    "TransportName",
    "describe_close",
]

#: The libraries that :class:`~wsrpc_typed.Server` and :func:`~wsrpc_typed.connect`
#: can run their sockets on (``transport=``).
TransportName = Literal["websockets", "picows"]

#: Messages written together, at most, once a burst has started (see the module rules).
COALESCE_FRAMES = 8
#: Bytes of queued messages that make a burst write at once.
COALESCE_BYTES = 64 * 1024


class TransportHandler(Protocol):
    """What a transport delivers to: the connection driver, or anything that reads messages.

    Both methods are called from the event loop, never concurrently, and never
    after :meth:`connection_lost`.
    """

    def message_received(self, message: bytes | str, /) -> None:
        """One whole WebSocket message: a text frame as ``str`` (valid UTF-8), else bytes."""
        ...

    def connection_lost(self, exc: ConnectionClosed, /) -> None:
        """The connection has ended (closed by either side, or dropped); called once."""
        ...


class Transport(Protocol):
    """One message-oriented, bidirectional connection: the contract every adapter meets.

    The connection driver uses nothing else, so websockets, ASGI servers,
    picows and the in-memory pair of :mod:`wsrpc_typed.testing` are
    interchangeable under it. Library exceptions stop at the adapter: a closed
    connection is always :class:`~wsrpc_typed.errors.ConnectionClosed`, with
    the close code and reason.

    Messages are pushed (:meth:`start`), not pulled: a push costs no future or
    coroutine per message, and callback-driven libraries (picows, asyncio
    protocols) deliver that way anyway. Pull-based ones (ASGI's ``receive``)
    run one loop that pushes.
    """

    def start(self, handler: TransportHandler, /) -> None:
        """Deliver messages to ``handler`` from now on.

        Messages that arrived before are delivered first, in order; if the
        connection has already ended, ``handler.connection_lost`` follows them.
        Called once.
        """
        ...

    def send(self, message: bytes, /, *, text: bool) -> asyncio.Future[None]:
        """Queue one message: a text frame when ``text``, else a binary frame.

        Messages go out in the order they were queued. The returned future is
        done at once, or, while the peer is not taking data (the write buffer
        is over its high-water mark), once it drains: awaiting it is the
        backpressure. Nobody need await it.

        Raises:
            ConnectionClosed: the connection is closed or closing (raised at the
                call, and by the future if it ends while waiting).
        """
        ...

    def pause_reading(self) -> None:
        """Deliver no more messages until :meth:`resume_reading` (backpressure to the peer).

        Messages already read from the socket may still be delivered; the
        socket itself is no longer read, so the peer's sends stall in TCP.
        """
        ...

    def resume_reading(self) -> None:
        """Deliver messages again after :meth:`pause_reading`."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake and wait until the connection has ended.

        A closing handshake that takes longer than the transport's close timeout
        drops the connection. Idempotent.
        """
        ...

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake.

        For a peer that stopped reading: a closing handshake could not get through.
        """
        ...

    async def wait_closed(self) -> None:
        """Wait until the connection has ended (closed by either side, or dropped)."""
        ...

    def ping(self) -> Awaitable[None]:
        """Send a ping; the awaitable completes when its pong arrives.

        Raises:
            ConnectionClosed: the connection is closed (at the call or while waiting).
        """
        ...

    def send_backlog(self) -> int | None:
        """Bytes waiting to be sent while the peer is not taking them, else ``None``.

        ``None`` means writes flow; a number means writes are paused (the
        buffers are full) with that many bytes queued.
        """
        ...

    @property
    def remote_address(self) -> Any:
        """The peer's address (``(host, port)`` for TCP), or ``None`` when unknown."""
        ...

    @property
    def request_headers(self) -> Mapping[str, str]:
        """Headers of the opening handshake request (case-insensitive)."""
        ...

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol, if any."""
        ...


@dataclass(frozen=True, slots=True)
class Accepted:
    """The server admits a handshake: answer 101 with this subprotocol (``None``: none)."""

    subprotocol: str | None
    identity: Any = None
    """Who the peer is, as the ``authenticate`` hook said."""


@dataclass(frozen=True, slots=True)
class Refused:
    """The server refuses a handshake: answer with this HTTP status and text body.

    ``body`` is one line of text; adapters send it with a final newline.
    """

    status: int
    body: str


class Acceptor(Protocol):
    """What a server adapter hands its connections to: the server's hub.

    For each opening handshake the adapter calls :meth:`handshake`, answers as
    it says, calls :meth:`response_headers` just before it sends a 101, and
    then :meth:`attach` with the connection's transport.
    """

    async def handshake(self, handshake: Handshake, /) -> Accepted | Refused:
        """Decide on one handshake (host check, origins, ``authenticate``, subprotocol)."""
        ...

    def response_headers(self, headers: MutableMapping[str, str], request: Any, /) -> None:
        """Let listeners adjust the 101 response's headers (``request``: the adapter's own)."""
        ...

    def attach(self, transport: Transport, accepted: Accepted, /) -> object:
        """Serve an accepted connection from now on (the hub calls ``transport.start``).

        What it returns (the hub: the connection) is the acceptor's business.
        """
        ...


def describe_close(code: int, reason: str = "") -> str:
    """A short description of how a connection closed: ``connection closed (1001: bye)``.

    1006 (no close frame: the connection dropped) reads ``connection closed abnormally (1006)``.
    """
    if code == 1006:
        return "connection closed abnormally (1006)"
    return f"connection closed ({code}{': ' + reason if reason else ''})"
