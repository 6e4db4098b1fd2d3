"""The transport interface a connection talks to, and its websockets implementation.

A transport moves whole WebSocket messages: send one, receive one, close. The
connection layer uses nothing else, so other transports (ASGI, picows) can be
added without touching dispatch.

Rules of :class:`WebsocketsTransport` (write coalescing):

* Messages sent during an event-loop iteration (a burst: the replies to the
  requests read from one socket read, or the calls that many tasks make when
  their replies arrive together) are framed at once and written together:
  every ``COALESCE_FRAMES`` messages or ``COALESCE_BYTES`` bytes, and at the
  end of the iteration (a ``call_soon`` callback, not a timer). A lone message
  waits only for the rest of the current iteration.
* A burst of small messages costs one system call per group instead of one per
  message. Groups, not whole bursts: writing a whole burst at once makes the
  two peers take turns instead of working at the same time. Nor does the first
  message of an iteration go out alone: lone first messages split the groups
  further at every round trip until nothing is coalesced (both measured).
* Frames go through websockets' own protocol object in the order they were
  sent, and websockets writes whatever it has queued whenever it writes
  (pings, pongs, the close frame), so nothing overtakes a queued message.
* Backpressure is unchanged: while the socket's write buffer is over its high
  mark, ``send`` waits, as websockets' own ``send`` does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import websockets
from websockets.asyncio.connection import Connection as WebSocket
from websockets.protocol import CLOSED, OPEN

from .errors import ConnectionClosed

if TYPE_CHECKING:
    from .security import Handshake

__all__ = [
    "Accepted",
    "Acceptor",
    "Refused",
    "Transport",
    "TransportHandler",
    "WebsocketsTransport",
    "closed_error",
    "describe_close",
]

logger = logging.getLogger("wsrpc_typed")

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
    """The server refuses a handshake: answer with this HTTP status and text body."""

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

    def attach(self, transport: Transport, accepted: Accepted, /) -> None:
        """Serve an accepted connection from now on (the hub calls ``transport.start``)."""
        ...


class WebsocketsTransport:
    """A :class:`Transport` over a ``websockets`` asyncio connection (server or client side)."""

    __slots__ = (
        "_bursting",
        "_closed",
        "_loop",
        "_protocol",
        "_pump",
        "_queued",
        "_queued_bytes",
        "_reading",
        "_sent",
        "_ws",
    )

    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws
        self._protocol = ws.protocol
        self._loop = asyncio.get_running_loop()
        #: Whether a message was sent in this loop iteration (a flush is scheduled).
        self._bursting = False
        self._queued = 0
        self._queued_bytes = 0
        #: What ``send`` returns when it need not wait: an already completed future.
        self._sent: asyncio.Future[None] = self._loop.create_future()
        self._sent.set_result(None)
        self._reading: asyncio.Future[None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._closed: ConnectionClosed | None = None

    def start(self, handler: TransportHandler, /) -> None:
        self._pump = asyncio.ensure_future(self._deliver(handler))

    async def _deliver(self, handler: TransportHandler) -> None:
        # Text frames come back as str: websockets decodes them, and fails the
        # connection with 1007 when one is not UTF-8 (RFC 6455 §8.1).
        recv = self._ws.recv
        received = handler.message_received
        ended: asyncio.Future[None] | None = None
        try:
            while True:
                if self._reading is not None:
                    # Paused, but an ending connection must still be noticed.
                    if ended is None:
                        ended = asyncio.ensure_future(self._ws.wait_closed())
                    await asyncio.wait((self._reading, ended), return_when=asyncio.FIRST_COMPLETED)
                    if not ended.done():
                        ended.cancel()
                        ended = None
                        continue
                received(await recv())
        except websockets.ConnectionClosed as exc:
            self._closed = closed_error(exc)
        except BaseException:
            self._closed = ConnectionClosed("connection reader stopped")
            handler.connection_lost(self._closed)
            raise
        finally:
            if ended is not None:
                ended.cancel()
        handler.connection_lost(self._closed)

    def pause_reading(self) -> None:
        if self._reading is None:
            self._reading = self._loop.create_future()

    def resume_reading(self) -> None:
        reading, self._reading = self._reading, None
        if reading is not None and not reading.done():
            reading.set_result(None)

    def send(self, message: bytes, /, *, text: bool) -> asyncio.Future[None]:
        """Send one message (see the module rules).

        Raises:
            ConnectionClosed: the connection is closed (or closing).
        """
        ws = self._ws
        protocol = self._protocol
        if protocol.state is not OPEN:
            if self._closed is not None:
                raise self._closed
            if protocol.state is CLOSED:
                raise closed_error(protocol.close_exc)
            raise ConnectionClosed("the connection is closing")
        if ws.send_in_progress is not None:  # pragma: no cover - we never fragment
            return asyncio.ensure_future(self._send_later(message, text))
        if text:
            protocol.send_text(message)
        else:
            protocol.send_binary(message)
        if not self._bursting:
            self._bursting = True
            self._loop.call_soon(self._end_burst)
        self._queued += 1
        self._queued_bytes += len(message)
        if self._queued >= COALESCE_FRAMES or self._queued_bytes >= COALESCE_BYTES:
            self._flush()
        return asyncio.ensure_future(self._drain()) if ws.paused else self._sent

    async def _send_later(self, message: bytes, text: bool) -> None:
        try:
            await self._ws.send(message, text=text)
        except websockets.ConnectionClosed as exc:
            raise closed_error(exc) from None

    async def _drain(self) -> None:
        try:
            await self._ws.drain()
        except websockets.ConnectionClosed as exc:
            raise closed_error(exc) from None

    def ping(self) -> asyncio.Future[None]:
        return asyncio.ensure_future(self._ping())

    async def _ping(self) -> None:
        try:
            pong = await self._ws.ping()
            await pong
        except websockets.ConnectionClosed as exc:
            raise closed_error(exc) from None

    def _end_burst(self) -> None:
        self._bursting = False
        self._flush()

    def _flush(self) -> None:
        """Write every frame the protocol holds, in one write."""
        self._queued = self._queued_bytes = 0
        writes = self._protocol.data_to_send()
        if not writes:
            return  # websockets wrote them already (with a ping, say)
        transport = self._ws.transport
        try:
            transport.write(b"".join(writes))
            if b"" not in writes:
                return
            # End of stream (only the closing handshake queues it, and websockets
            # writes that itself): after what precedes it, half-close.
            if transport.can_write_eof():
                transport.write_eof()
            else:  # pragma: no cover - TLS
                transport.close()
        except Exception:  # as websockets does: a failed write ends the connection
            logger.debug("error while sending data", exc_info=True)
            transport.abort()

    @property
    def websocket(self) -> WebSocket:
        """The underlying ``websockets`` connection."""
        return self._ws

    @property
    def remote_address(self) -> Any:
        return self._ws.remote_address

    @property
    def request_headers(self) -> Mapping[str, str]:
        request = self._ws.request
        return request.headers if request is not None else {}

    @property
    def subprotocol(self) -> str | None:
        return self._ws.subprotocol

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)
        if self._pump is not None:
            await asyncio.shield(self._pump)

    async def wait_closed(self) -> None:
        await self._ws.wait_closed()

    def send_backlog(self) -> int | None:
        if not self._ws.paused:
            return None
        size: int = self._ws.transport.get_write_buffer_size()
        return size

    def abort(self) -> None:
        self._ws.transport.abort()


def describe_close(frame: Any) -> str:
    """A short description of why a connection closed, from the close frame it ended with."""
    if frame is None:
        return "connection closed abnormally (1006)"
    return f"connection closed ({frame.code}{': ' + frame.reason if frame.reason else ''})"


def closed_error(exc: websockets.ConnectionClosed) -> ConnectionClosed:
    """Our ConnectionClosed for websockets' own."""
    frame = exc.rcvd or exc.sent
    if frame is None:
        return ConnectionClosed(describe_close(None))
    return ConnectionClosed(describe_close(frame), frame.code, frame.reason)
