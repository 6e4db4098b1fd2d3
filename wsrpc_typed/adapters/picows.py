"""A transport over picows: WebSocket frames parsed in C, delivered by callbacks.

picows calls a listener (:class:`PicowsTransport`) for every frame it parses;
the listener reassembles messages, decodes text and pushes each whole message
to the connection's handler, in the same call: no task, future or coroutine
per message. :func:`serve` and :func:`connect` run the opening handshake.
Install it with ``pip install "wsrpc-typed[fast]"`` (picows and uvloop).

Rules of this module:

* The server's opening handshake is read by the websockets adapter's
  handshake code (the same request parser, HTTP error responses,
  ``open_timeout`` and :class:`~wsrpc_typed.transport.Acceptor` calls as
  :mod:`wsrpc_typed.adapters.websockets`): picows asks its listener factory
  synchronously, and the acceptor's decision may wait (an async
  ``authenticate``). Once the acceptor admits the request, the socket's
  protocol becomes picows' own and the request is replayed to it, so that
  picows answers the 101 (with the accepted subprotocol and the ``headers``
  listeners' headers) and parses every frame after it.
* picows checks frame sizes (``max_size``: close 1009) and the framing rules;
  this module checks the rest of RFC 6455 that the connection relies on:
  reserved bits (1002), continuation frames (1002), the size of fragmented
  messages (1009), UTF-8 of text messages (1007), and it answers close frames.
* picows answers pings; pongs acknowledge :meth:`PicowsTransport.ping`.
* Messages are framed here (RFC 6455 §5.2; the client masks with websockets'
  C ``apply_mask``) and coalesced as :mod:`wsrpc_typed.transport` describes:
  every ``COALESCE_FRAMES`` messages or ``COALESCE_BYTES`` bytes once a burst
  has started, and at the end of the loop iteration (or sooner: once the
  last frame of a read has been handled), in one ``writelines`` to the
  socket's transport. picows would write each frame with a system
  call of its own. Control frames (pings, close frames) go through picows,
  after the messages queued before them. Backpressure is asyncio's: between
  ``pause_writing`` and ``resume_writing`` :meth:`~PicowsTransport.send`
  returns a pending future.
* Closing: the close frame goes out, then the closing handshake and the TCP
  close get ``close_timeout`` seconds before the connection is aborted. The
  server closes TCP once close frames have crossed; the client waits for it.
* Library exceptions stop here: a closed connection is
  :class:`~wsrpc_typed.errors.ConnectionClosed`, a failed opening handshake
  :class:`~wsrpc_typed.errors.HandshakeFailed` (or ``HandshakeRejected``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl as ssl_module
import struct
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSFrame,
    WSHandshakeError,
    WSInvalidURL,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_connect,
)
from picows.picows import WSProtocol  # type: ignore[attr-defined]
from websockets.http11 import Response
from websockets.server import ServerProtocol

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

from ..errors import ConnectionClosed, HandshakeFailed, HandshakeRejected
from ..security import Headers
from ..transport import (
    COALESCE_BYTES,
    COALESCE_FRAMES,
    Accepted,
    Acceptor,
    TransportHandler,
    describe_close,
)
from .websockets import _select_accepted, _ServerSide

__all__ = ["PicowsTransport", "connect", "serve"]

logger = logging.getLogger("wsrpc_typed")


class _PicowsLog(logging.LoggerAdapter[logging.Logger]):
    """picows' log, one step quieter: a line per connection is debug, a peer's error info.

    picows logs each connection at info and a peer's protocol violation as an
    error; a server sees both all the time. Exceptions (``exc_info``: a bug of
    ours or of picows) keep their level. An adapter, not a logger: picows then
    makes no child logger per connection.
    """

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if level == logging.INFO:
            level = logging.DEBUG
        elif level == logging.ERROR and not kwargs.get("exc_info"):
            level = logging.INFO
        super().log(level, msg, *args, **kwargs)


_server_log = _PicowsLog(logging.getLogger("picows.server"))
_client_log = _PicowsLog(logging.getLogger("picows.client"))

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONT = WSMsgType.CONTINUATION
_PONG = WSMsgType.PONG
_CLOSE = WSMsgType.CLOSE
_NO_CODE = WSCloseCode.NO_INFO
#: Headers picows writes on a 101 itself.
_PICOWS_101_HEADERS = frozenset(("connection", "upgrade", "sec-websocket-accept"))
#: picows' read buffer starts at this size and doubles as messages need (picows' own
#: default, 16 KiB, is most of an idle connection's memory).
_READ_BUFFER = 4 * 1024
#: The first byte of a whole text or binary frame: FIN and the opcode (RFC 6455 §5.2).
_FIRST = (0x82, 0x81)
_HEADER_16 = struct.Struct("!BBH").pack
_HEADER_64 = struct.Struct("!BBQ").pack
_getrandbits = random.getrandbits


def _frame_header(text: bool, size: int, mask: int) -> bytes:
    """A frame's header for a payload of ``size`` bytes (``mask``: 0x80 when masked)."""
    first = _FIRST[text]
    if size < 126:
        return bytes((first, size | mask))
    if size < 65536:
        return _HEADER_16(first, 126 | mask, size)
    return _HEADER_64(first, 127 | mask, size)


def _max_frame(max_size: int | None) -> int:
    return sys.maxsize if max_size is None else max_size


class PicowsTransport(WSListener):
    """A :class:`~wsrpc_typed.transport.Transport` over one picows connection.

    Made by :func:`serve` (server side) and :func:`connect` (client side);
    see the module rules.

    Args:
        client: Whether this is the client side of the connection.
        max_size: Largest incoming message in bytes (larger closes with 1009).
        close_timeout: Seconds the closing handshake (and the TCP close) may take
            before the connection is dropped (``None``: no limit).
    """

    __slots__ = (
        "_bursting",
        "_client",
        "_close_timer",
        "_closed",
        "_drain_waiters",
        "_failed",
        "_fragment_size",
        "_fragment_text",
        "_fragments",
        "_handler",
        "_loop",
        "_lost",
        "_lost_reported",
        "_paused_reading",
        "_pending",
        "_pings",
        "_queue",
        "_queued",
        "_queued_bytes",
        "_remote",
        "_request_headers",
        "_sent",
        "_subprotocol",
        "_write_paused",
        "_ws",
        "close_timeout",
        "max_size",
    )

    def __init__(
        self,
        *,
        client: bool,
        max_size: int | None = 2**20,
        close_timeout: float | None = 10.0,
    ) -> None:
        self._client = client
        self.max_size = max_size
        self.close_timeout = close_timeout
        self._loop = asyncio.get_running_loop()
        self._ws: WSTransport | None = None
        self._remote: Any = None
        self._request_headers: Mapping[str, str] = Headers()
        self._subprotocol: str | None = None
        self._handler: TransportHandler | None = None
        #: Messages kept until ``start`` or ``resume_reading``; ``None``: deliver at once.
        self._pending: list[bytes | str] | None = []
        self._paused_reading = False
        self._fragments: list[bytes] | None = None
        self._fragment_text = False
        self._fragment_size = 0
        self._failed = False
        #: Frames queued in this loop iteration (see the coalescing rules).
        self._queue: list[bytes] = []
        self._queued = 0
        self._queued_bytes = 0
        self._bursting = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] | None = None
        #: What ``send`` returns when it need not wait: an already completed future.
        self._sent: asyncio.Future[None] = self._loop.create_future()
        self._sent.set_result(None)
        self._pings: dict[bytes, asyncio.Future[None]] | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._closed: ConnectionClosed | None = None
        self._lost: asyncio.Future[None] | None = None
        self._lost_reported = False

    # picows' callbacks

    def on_ws_connected(self, transport: WSTransport) -> None:
        """Called by picows once the opening handshake is done."""
        self._ws = transport
        self._remote = transport.underlying_transport.get_extra_info("peername")
        if self._paused_reading:
            transport.underlying_transport.pause_reading()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """Called by picows with each frame it parsed (pings are answered by picows)."""
        msg_type = frame.msg_type
        if self._failed:
            if msg_type is _CLOSE:  # the answer to ours: the closing handshake is done
                self._close_received(transport)
            return
        if frame.rsv1 or frame.rsv2 or frame.rsv3:
            # RFC 6455 §5.2: no extension was negotiated, so the reserved bits must be 0.
            self._fail(1002, "reserved bits must be 0")
        elif msg_type is _TEXT or msg_type is _BINARY:
            if self._fragments is not None:
                self._fail(1002, "expected a continuation frame")  # RFC 6455 §5.4
            elif frame.fin:
                self._message(frame, msg_type is _TEXT)
            else:
                self._fragments = [frame.get_payload_as_bytes()]
                self._fragment_text = msg_type is _TEXT
                self._fragment_size = frame.payload_size
        elif msg_type is _CONT:
            fragments = self._fragments
            if fragments is None:
                self._fail(1002, "unexpected continuation frame")  # RFC 6455 §5.4
                return
            self._fragment_size += frame.payload_size
            max_size = self.max_size
            if max_size is not None and self._fragment_size > max_size:
                self._fail(1009, f"message over {max_size} bytes")
                return
            fragments.append(frame.get_payload_as_bytes())
            if frame.fin:
                self._fragments = None
                self._joined(b"".join(fragments), self._fragment_text)
        elif msg_type is _PONG:
            self._pong(frame.get_payload_as_bytes())
        elif msg_type is _CLOSE:
            self._close_received(transport)
        if frame.last_in_buffer and self._queue:
            # What the frames just read were answered with inline ends this burst: the
            # next bytes come from a later read, so waiting for the iteration's end
            # would only add a turn of the loop to every round trip (measured).
            self._flush()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        """Called by picows once the TCP connection is closed: report the end, once."""
        self._queue = []
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._closed = closed = self._close_error()
        waiters, self._drain_waiters = self._drain_waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_exception(closed)
                waiter.exception()  # nobody need await it: no "never retrieved" warning
        pings, self._pings = self._pings, None
        for pong in (pings or {}).values():
            if not pong.done():
                pong.set_exception(closed)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        if self._pending is None:
            self._pending = []  # so that _deliver_pending reports the end
        self._deliver_pending()

    def pause_writing(self) -> None:
        """Called when the write buffer is over its high-water mark."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """Called when the write buffer has drained below its low-water mark."""
        self._write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    # Receiving

    def _message(self, frame: WSFrame, text: bool) -> None:
        message: bytes | str
        if text:
            try:
                message = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError as exc:
                self._invalid_text(exc)
                return
        else:
            message = frame.get_payload_as_bytes()
        pending = self._pending
        if pending is None:
            assert self._handler is not None
            self._handler.message_received(message)
        else:
            pending.append(message)

    def _joined(self, data: bytes, text: bool) -> None:
        message: bytes | str = data
        if text:
            try:
                message = data.decode()
            except UnicodeDecodeError as exc:
                self._invalid_text(exc)
                return
        pending = self._pending
        if pending is None:
            assert self._handler is not None
            self._handler.message_received(message)
        else:
            pending.append(message)

    def _invalid_text(self, exc: UnicodeDecodeError) -> None:
        # RFC 6455 §8.1: a text message that is not UTF-8 fails the connection.
        self._fail(1007, f"{exc.reason} at position {exc.start}")

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 §7.1.7): a close frame, and read nothing more."""
        self._failed = True
        self._fragments = None
        ws = self._ws
        if ws is not None and not ws.is_close_frame_sent:
            self._flush()
            ws.send_close(WSCloseCode(code), reason.encode())
        self._expect_close()

    def _close_received(self, transport: WSTransport) -> None:
        if not transport.is_close_frame_sent:
            self._flush()
            # RFC 6455 §5.5.1: answer with the code received (1000 for none).
            received = transport.close_handshake.recv
            code = received.code if received is not None else _NO_CODE
            transport.send_close(WSCloseCode.OK if code is _NO_CODE else code)
        if self._client:
            self._expect_close()  # RFC 6455 §7.1.1: the server closes TCP first
        else:
            transport.disconnect()

    def _deliver_pending(self) -> None:
        """Deliver kept messages, then ``connection_lost`` if the connection has ended.

        While reading is paused delivery stops, unless the connection has ended:
        then everything kept is delivered, so that ``connection_lost`` comes promptly.
        """
        handler = self._handler
        pending = self._pending
        if handler is None or pending is None:
            return
        index = 0
        while index < len(pending) and (not self._paused_reading or self._closed is not None):
            message = pending[index]
            index += 1
            handler.message_received(message)
        del pending[:index]
        if pending or (self._paused_reading and self._closed is None):
            return
        self._pending = None
        if self._closed is not None and not self._lost_reported:
            self._lost_reported = True
            handler.connection_lost(self._closed)

    def _close_error(self) -> ConnectionClosed:
        ws = self._ws
        handshake = ws.close_handshake if ws is not None else None
        info = None
        if handshake is not None:
            info = handshake.recv or handshake.sent
        if info is None or info.code is _NO_CODE:
            if ws is None or ws.is_disconnected:
                return ConnectionClosed(describe_close(1006))
            return ConnectionClosed("the connection is closing")
        code: int = info.code.value
        reason = info.reason or ""
        return ConnectionClosed(describe_close(code, reason), code, reason)

    def _expect_close(self) -> None:
        """The TCP connection should close soon: drop it if it does not within close_timeout."""
        if self._close_timer is None and self.close_timeout is not None and self._closed is None:
            self._close_timer = self._loop.call_later(self.close_timeout, self.abort)

    # The Transport contract

    def start(self, handler: TransportHandler, /) -> None:
        """Deliver messages to ``handler`` from now on.

        Messages that arrived before are delivered first, in order; if the
        connection has already ended, ``handler.connection_lost`` follows them.
        Called once.
        """
        self._handler = handler
        self._deliver_pending()

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
        ws = self._ws
        if ws is None or self._closed is not None or ws.is_close_frame_sent:
            raise self._closed or self._close_error()
        size = len(message)
        queue = self._queue
        if self._client:
            # RFC 6455 §5.3: a client masks every frame, with a key of its own per frame.
            key = _getrandbits(32).to_bytes(4, "little")
            queue.append(_frame_header(text, size, 0x80) + key)
            queue.append(apply_mask(message, key))
        else:
            queue.append(_frame_header(text, size, 0))
            queue.append(message)
        if not self._bursting:
            self._bursting = True
            self._loop.call_soon(self._end_burst)
        self._queued += 1
        self._queued_bytes += size
        if self._queued >= COALESCE_FRAMES or self._queued_bytes >= COALESCE_BYTES:
            self._flush()
        if not self._write_paused:
            return self._sent
        waiter = self._loop.create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)
        return waiter

    def _flush(self) -> None:
        """Write the queued frames, in one call."""
        queue = self._queue
        if not queue:
            return
        self._queue = []
        self._queued = self._queued_bytes = 0
        ws = self._ws
        if ws is None or ws.is_disconnected:
            return
        try:
            ws.underlying_transport.writelines(queue)
        except Exception:  # as websockets does: a failed write ends the connection
            logger.debug("error while sending data", exc_info=True)
            ws.disconnect(graceful=False)

    def _end_burst(self) -> None:
        self._bursting = False
        self._flush()

    def pause_reading(self) -> None:
        """Deliver no more messages until :meth:`resume_reading` (backpressure to the peer).

        Messages already read from the socket are kept; the socket itself is no
        longer read, so the peer's sends stall in TCP.
        """
        if self._paused_reading:
            return
        self._paused_reading = True
        if self._pending is None:
            self._pending = []
        ws = self._ws
        if ws is not None and self._closed is None:
            ws.underlying_transport.pause_reading()

    def resume_reading(self) -> None:
        """Deliver messages again after :meth:`pause_reading`."""
        if not self._paused_reading:
            return
        self._paused_reading = False
        ws = self._ws
        if ws is not None and self._closed is None:
            ws.underlying_transport.resume_reading()
        if self._handler is not None:
            # Not from inside the caller (often the handler itself): next iteration,
            # which runs before the loop hands over newly read bytes.
            self._loop.call_soon(self._deliver_pending)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake and wait until the connection has ended.

        A closing handshake that takes longer than ``close_timeout`` drops the
        connection. Idempotent.
        """
        ws = self._ws
        if ws is not None and self._closed is None and not ws.is_close_frame_sent:
            self._flush()
            ws.send_close(WSCloseCode(code), reason.encode())
            self._expect_close()
        await self.wait_closed()

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake."""
        if self._ws is not None:
            self._ws.disconnect(graceful=False)

    async def wait_closed(self) -> None:
        """Wait until the connection has ended (closed by either side, or dropped)."""
        if self._closed is not None:
            return
        if self._lost is None:
            self._lost = self._loop.create_future()
        await asyncio.shield(self._lost)

    def ping(self) -> asyncio.Future[None]:
        """Send a ping; the future completes when its pong arrives.

        Raises:
            ConnectionClosed: the connection is closed (at the call or while waiting).
        """
        ws = self._ws
        if ws is None or self._closed is not None or ws.is_close_frame_sent:
            raise self._closed or self._close_error()
        pings = self._pings
        if pings is None:
            pings = self._pings = {}
        data = random.getrandbits(32).to_bytes(4, "big")
        while data in pings:  # pragma: no cover - 1 in 2**32
            data = random.getrandbits(32).to_bytes(4, "big")
        pong = pings[data] = self._loop.create_future()
        self._flush()
        ws.send_ping(data)
        return pong

    def _pong(self, data: bytes) -> None:
        """A pong acknowledges its ping and every ping sent before it (RFC 6455 §5.5.3)."""
        pings = self._pings
        if not pings or data not in pings:
            return
        for key in list(pings):
            pong = pings.pop(key)
            if not pong.done():
                pong.set_result(None)
            if key == data:
                break

    def send_backlog(self) -> int | None:
        """Bytes waiting to be sent while the peer is not taking them, else ``None``.

        ``None`` means writes flow; a number means writes are paused (the
        buffers are full) with that many bytes queued.
        """
        if not self._write_paused or self._ws is None:
            return None
        size: int = self._ws.underlying_transport.get_write_buffer_size()
        return size

    @property
    def remote_address(self) -> Any:
        """The peer's address (``(host, port)`` for TCP), or ``None`` when unknown."""
        return self._remote

    @property
    def request_headers(self) -> Mapping[str, str]:
        """Headers of the opening handshake request (case-insensitive).

        On the client side, the headers this side sent.
        """
        return self._request_headers

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol, if any."""
        return self._subprotocol


class _Handshake(_ServerSide):
    """Reads the opening request and asks the acceptor, then hands the socket to picows."""

    __slots__ = ("_max_size", "_raw")

    def __init__(
        self,
        acceptor: Acceptor,
        *,
        max_size: int | None,
        open_timeout: float | None,
        close_timeout: float | None,
    ) -> None:
        # websockets only reads the request here: frames are picows' business.
        protocol = ServerProtocol(select_subprotocol=_select_accepted, max_size=max_size)
        super().__init__(protocol, acceptor, open_timeout=open_timeout, close_timeout=close_timeout)
        self._max_size = max_size
        #: Every byte read so far: replayed to picows once the request is accepted.
        self._raw: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        if self._opening is not None:
            self._raw.append(data)
        super().data_received(data)

    def _upgrade(self, response: Response, accepted: Accepted, early: list[Any]) -> None:
        transport = self._transport
        assert transport is not None
        self._opening = None
        listener = PicowsTransport(
            client=False, max_size=self._max_size, close_timeout=self.close_timeout
        )
        listener._request_headers = self._request_headers
        listener._subprotocol = accepted.subprotocol
        headers = [
            (name, value)
            for name, value in response.headers.raw_items()
            if name.lower() not in _PICOWS_101_HEADERS
        ]
        upgrade = WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_101_response(headers), listener
        )
        protocol = WSProtocol(
            None,  # host and port: the client side's
            None,  # path: the client side's
            False,  # the server side
            lambda _request: upgrade,
            _server_log,
            True,  # a failing callback of ours fails the connection (1011)
            None,  # the handshake timeout: open_timeout ran until here
            False,  # no automatic pings: the hub keeps the connections alive
            20.0,
            20.0,
            WSAutoPingStrategy.PING_WHEN_IDLE,
            True,  # answer pings
            _max_frame(self._max_size),
            None,  # extra headers: the client side's
            _READ_BUFFER,
        )
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        raw, self._raw = self._raw, []
        for data in raw:
            _feed(protocol, data)
        if listener._ws is None:
            return  # picows refused the request (it answered 400)
        if not listener._paused_reading:
            transport.resume_reading()
        self._acceptor.attach(listener, accepted)


def _feed(protocol: asyncio.BufferedProtocol, data: bytes) -> None:
    """Hand ``data`` to a buffered protocol as if the socket had read it."""
    view = memoryview(data)
    while view:
        buffer = memoryview(protocol.get_buffer(len(view)))
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        protocol.buffer_updated(size)
        view = view[size:]


async def serve(
    acceptor: Acceptor,
    host: str,
    port: int,
    *,
    ssl: ssl_module.SSLContext | None = None,
    backlog: int = 1024,
    max_size: int | None = 2**20,
    compression: Literal["deflate"] | None = None,
    open_timeout: float | None = 10.0,
    close_timeout: float | None = 10.0,
    reuse_port: bool = False,
    sock: socket.socket | None = None,
) -> asyncio.Server:
    """Listen for WebSocket connections over picows; hand each accepted one to ``acceptor``.

    The opening handshake is decided as with
    :func:`wsrpc_typed.adapters.websockets.serve` (same options, same answers).

    Args:
        acceptor: Decides on handshakes and serves accepted connections (the hub).
        host: The interface to bind.
        port: The port to bind (0: any free port).
        ssl: A server-side SSL context: serve ``wss://``.
        backlog: Connections the kernel queues before they are accepted.
        max_size: Largest incoming message in bytes (larger closes with 1009).
        compression: Must be ``None``: picows has no per-message deflate.
        open_timeout: Seconds allowed for the opening handshake.
        close_timeout: Seconds allowed for the closing handshake.
        reuse_port: Bind with ``SO_REUSEPORT`` (processes that all do share the port).
        sock: A listening socket to serve on, instead of binding ``host:port``.

    Returns:
        The listening asyncio server.

    Raises:
        ValueError: ``compression`` is not ``None``.
    """
    if compression is not None:
        raise ValueError("the picows transport has no compression (use compression=None)")
    loop = asyncio.get_running_loop()

    def factory() -> _Handshake:
        return _Handshake(
            acceptor, max_size=max_size, open_timeout=open_timeout, close_timeout=close_timeout
        )

    if sock is not None:
        return await loop.create_server(factory, sock=sock, ssl=ssl, backlog=backlog)
    return await loop.create_server(
        factory, host, port, ssl=ssl, backlog=backlog, reuse_port=reuse_port or None
    )


async def connect(
    url: str,
    *,
    subprotocols: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    max_size: int | None = 2**20,
    compression: Literal["deflate"] | None = None,
    open_timeout: float | None = 10.0,
    close_timeout: float | None = 10.0,
    ssl: ssl_module.SSLContext | None = None,
) -> PicowsTransport:
    """Open a WebSocket connection to ``url`` (``ws://`` or ``wss://``) over picows.

    Messages that arrive once it is open are kept until ``start``.

    Args:
        url: The server's URL.
        subprotocols: Subprotocols to offer, in order of preference.
        headers: Extra headers for the opening request.
        max_size: Largest incoming message in bytes (larger closes with 1009).
        compression: Must be ``None``: picows has no per-message deflate.
        open_timeout: Seconds allowed for the TCP connection and the opening handshake.
        close_timeout: Seconds allowed for the closing handshake.
        ssl: A client-side SSL context (``wss://`` uses a default one when ``None``).

    Returns:
        The open connection's transport.

    Raises:
        HandshakeRejected: The server answered with an HTTP status other than 101.
        HandshakeFailed: Any other failed handshake (invalid response, timeout,
            connection lost during the handshake).
        OSError: The server could not be reached.
        ValueError: The URL is not a valid ``ws://`` or ``wss://`` URL, or
            ``compression`` is not ``None``.
    """
    if compression is not None:
        raise ValueError("the picows transport has no compression (use compression=None)")
    if not url.startswith(("ws://", "wss://")):
        raise ValueError(f"{url} isn't a valid URI: scheme isn't ws or wss")
    if url.startswith("ws://") and ssl is not None:
        raise ValueError("ssl is incompatible with a ws:// URL")
    extra: list[tuple[str, str]] = list((headers or {}).items())
    if subprotocols:
        extra.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    listener = PicowsTransport(client=True, max_size=max_size, close_timeout=close_timeout)

    def factory() -> PicowsTransport:
        return listener

    try:
        async with asyncio.timeout(open_timeout):
            ws, _ = await ws_connect(
                factory,
                url,
                ssl_context=ssl,
                websocket_handshake_timeout=None,
                enable_auto_ping=False,
                enable_auto_pong=True,
                max_frame_size=_max_frame(max_size),
                extra_headers=extra,
                max_redirects=0,
                logger_name=_client_log,
            )
    except TimeoutError as exc:
        listener.abort()
        raise HandshakeFailed("timed out during the opening handshake") from exc
    except WSInvalidURL as exc:
        raise ValueError(str(exc)) from None
    except WSHandshakeError as exc:
        response = exc.response
        if response is not None and response.status != 101:
            body = (exc.raw_body or response.body or b"").decode(errors="replace")
            raise HandshakeRejected(
                int(response.status), body, Headers(list(response.headers.items()))
            ) from exc
        raise HandshakeFailed(f"the opening handshake failed: {exc}") from exc
    except ConnectionError as exc:
        if isinstance(exc, ConnectionRefusedError):
            raise
        raise HandshakeFailed("the connection closed during the opening handshake") from exc
    if listener._ws is None or ws.is_disconnected:
        raise HandshakeFailed("the connection closed during the opening handshake")
    chosen = ws.response.headers.get("Sec-WebSocket-Protocol")
    if chosen is not None and chosen not in subprotocols:
        ws.disconnect(graceful=False)
        raise HandshakeFailed(f"the server chose a subprotocol that was not offered: {chosen}")
    listener._subprotocol = chosen
    listener._request_headers = Headers(list(ws.request.headers.items()))
    return listener
