"""A transport over websockets' sans-I/O protocol objects, driven by an asyncio protocol.

:class:`WebsocketsProtocol` is an :class:`asyncio.Protocol`: the event loop
calls it with the bytes it reads, it feeds them to a ``ServerProtocol`` or
``ClientProtocol`` of websockets, and it writes what that object has to send.
:func:`serve` and :func:`connect` run the opening handshake around it.

Rules of this module:

* Only websockets' documented sans-I/O API is used (``receive_data``,
  ``events_received``, ``data_to_send``, ``send_*``, ``fail``,
  ``close_expected``, ``state``, ...). websockets frames and parses; this
  module does the I/O, reassembles fragmented messages, decodes text, and
  keeps the timers.
* Messages are delivered synchronously from ``data_received`` to the
  handler: no task, future or coroutine per message. Messages that arrive
  before :meth:`~WebsocketsProtocol.start`, or while reading is paused, are
  kept and delivered in order.
* Writes are coalesced as :mod:`wsrpc_typed.transport` describes: every
  ``COALESCE_FRAMES`` messages or ``COALESCE_BYTES`` bytes once a burst has
  started, and at the end of the loop iteration (``call_soon``), in one
  ``transport.write`` of the joined frames. Every frame the protocol object
  queues (pings, pongs, the close frame) goes out in the same stream, in the
  order queued, so nothing overtakes a message.
* Backpressure is asyncio's: between ``pause_writing`` and ``resume_writing``
  :meth:`~WebsocketsProtocol.send` returns a pending future.
* Closing: the close frame goes out, then the closing handshake and the TCP
  close get ``close_timeout`` seconds before the connection is aborted. The
  server side half-closes TCP when websockets says so (``SEND_EOF``).
* Library exceptions stop here: a closed connection is
  :class:`~wsrpc_typed.errors.ConnectionClosed`, a failed opening handshake
  :class:`~wsrpc_typed.errors.HandshakeFailed` (or ``HandshakeRejected``).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import socket
import ssl as ssl_module
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, cast

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHeader, InvalidStatus, InvalidURI
from websockets.extensions.permessage_deflate import (
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from websockets.frames import Opcode
from websockets.headers import parse_subprotocol
from websockets.http11 import Request, Response
from websockets.protocol import CLOSED, CONNECTING, OPEN
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from ..errors import ConnectionClosed, HandshakeFailed, HandshakeRejected
from ..security import Handshake, Headers
from ..transport import (
    COALESCE_BYTES,
    COALESCE_FRAMES,
    Accepted,
    Acceptor,
    Refused,
    TransportHandler,
    describe_close,
)

__all__ = ["WebsocketsProtocol", "connect", "serve"]

logger = logging.getLogger("wsrpc_typed")

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_PONG = Opcode.PONG

#: The subprotocol the acceptor chose, read by the ``select_subprotocol`` hook
#: while ``ServerProtocol.accept`` runs (synchronously) for that connection.
_ACCEPTED_SUBPROTOCOL: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "wsrpc_accepted_subprotocol", default=None
)


def _select_accepted(_protocol: ServerProtocol, _offered: Sequence[Subprotocol]) -> Any:
    return _ACCEPTED_SUBPROTOCOL.get()


def _compression_extensions(compression: str | None, side: Literal["server", "client"]) -> Any:
    if compression is None:
        return None
    if compression != "deflate":
        raise ValueError(f"unsupported compression: {compression!r}")
    if side == "server":
        return enable_server_permessage_deflate(None)
    return enable_client_permessage_deflate(None)


class WebsocketsProtocol(asyncio.Protocol):
    """A :class:`~wsrpc_typed.transport.Transport` over websockets' sans-I/O protocol.

    Made by :func:`serve` (server side) and :func:`connect` (client side);
    see the module rules.

    Args:
        protocol: websockets' ``ServerProtocol`` or ``ClientProtocol`` for this connection.
        close_timeout: Seconds the closing handshake (and the TCP close) may take
            before the connection is dropped (``None``: no limit).
    """

    __slots__ = (
        "_bursting",
        "_close_timer",
        "_closed",
        "_drain_waiters",
        "_fragment_text",
        "_fragments",
        "_handler",
        "_loop",
        "_lost",
        "_lost_reported",
        "_opening",
        "_paused_reading",
        "_pending",
        "_pings",
        "_queued",
        "_queued_bytes",
        "_remote",
        "_request_headers",
        "_sent",
        "_transport",
        "_write_paused",
        "_ws",
        "close_timeout",
    )

    def __init__(
        self, protocol: ServerProtocol | ClientProtocol, *, close_timeout: float | None = 10.0
    ) -> None:
        self._ws = protocol
        self.close_timeout = close_timeout
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._remote: Any = None
        self._request_headers: Mapping[str, str] = Headers()
        #: Before the connection opens: the method that takes the bytes read.
        self._opening: Callable[[bytes], None] | None = None
        self._handler: TransportHandler | None = None
        #: Messages kept until ``start`` or ``resume_reading``; ``None``: deliver at once.
        self._pending: list[bytes | str] | None = []
        self._paused_reading = False
        self._fragments: list[bytes] | None = None
        self._fragment_text = False
        self._bursting = False
        self._queued = 0
        self._queued_bytes = 0
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

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Called by asyncio when the TCP (or TLS) connection is established."""
        self._transport = cast(asyncio.Transport, transport)
        self._remote = transport.get_extra_info("peername")

    def data_received(self, data: bytes) -> None:
        """Called by asyncio with the bytes read: parse them, answer, deliver messages."""
        if self._opening is not None:
            self._opening(data)
            return
        ws = self._ws
        ws.receive_data(data)
        events = ws.events_received()
        # Pongs and close frames websockets queued in answer go out at once,
        # after any message queued before them.
        self._flush()
        if ws.close_expected():
            self._expect_close()
        if events:
            self._process(events)

    def eof_received(self) -> None:
        """Called by asyncio when the peer half-closes: the connection ends."""
        ws = self._ws
        ws.receive_eof()
        events = ws.events_received()
        self._flush()
        if self._opening is not None and events:
            self._opened(events)
        # Returning None closes the transport: WebSocket peers never write after EOF.

    def connection_lost(self, exc: Exception | None) -> None:
        """Called by asyncio once the connection is closed: report the end, once."""
        ws = self._ws
        ws.receive_eof()  # idempotent: the protocol's state becomes CLOSED
        ws.data_to_send()
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._closed = closed = self._close_error()
        if exc is not None:
            closed.__cause__ = exc
        if self._opening is not None:
            self._opening = None
            self._handshake_lost(closed)
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
        """Called by asyncio when the write buffer is over its high-water mark."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """Called by asyncio when the write buffer has drained below its low-water mark."""
        self._write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    # Receiving

    def _process(self, events: list[Any]) -> None:
        for frame in events:
            opcode = frame.opcode
            if opcode is _TEXT or opcode is _BINARY:
                if frame.fin:
                    if not self._message(frame.data, opcode is _TEXT):
                        return
                else:
                    self._fragments = [frame.data]
                    self._fragment_text = opcode is _TEXT
            elif opcode is _CONT:
                fragments = self._fragments
                if fragments is None:  # pragma: no cover - websockets refuses it first
                    continue
                fragments.append(frame.data)
                if frame.fin:
                    self._fragments = None
                    if not self._message(b"".join(fragments), self._fragment_text):
                        return
            elif opcode is _PONG:
                self._pong(bytes(frame.data))
            # PING: websockets queued the pong (flushed already); CLOSE: connection_lost follows.

    def _message(self, data: bytes, text: bool) -> bool:
        """Deliver (or keep) one whole message; ``False`` if it failed the connection."""
        message: bytes | str
        if text:
            try:
                message = data.decode()
            except UnicodeDecodeError as exc:
                # RFC 6455 §8.1: a text message that is not UTF-8 fails the connection.
                self._ws.fail(1007, f"{exc.reason} at position {exc.start}")
                self._flush()
                self._expect_close()
                return False
        else:
            # Frames read without a mask (the client side) carry a bytearray.
            message = data if type(data) is bytes else bytes(data)
        pending = self._pending
        if pending is None:
            assert self._handler is not None
            self._handler.message_received(message)
        else:
            pending.append(message)
        return True

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

    # Sending

    def _flush(self) -> None:
        """Write every frame the protocol holds, in one write."""
        self._queued = self._queued_bytes = 0
        writes = self._ws.data_to_send()
        if not writes:
            return
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        try:
            transport.write(b"".join(writes))
            if b"" not in writes:
                return
            # End of stream (websockets' SEND_EOF): after what precedes it, half-close.
            if transport.can_write_eof():
                transport.write_eof()
            else:  # TLS cannot half-close
                transport.close()
        except Exception:  # as websockets does: a failed write ends the connection
            logger.debug("error while sending data", exc_info=True)
            transport.abort()

    def _end_burst(self) -> None:
        self._bursting = False
        self._flush()

    def _wrote(self, size: int) -> None:
        """Account one queued frame (see the coalescing rules)."""
        if not self._bursting:
            self._bursting = True
            self._loop.call_soon(self._end_burst)
        self._queued += 1
        self._queued_bytes += size
        if self._queued >= COALESCE_FRAMES or self._queued_bytes >= COALESCE_BYTES:
            self._flush()

    def _close_error(self) -> ConnectionClosed:
        ws = self._ws
        frame = ws.close_rcvd or ws.close_sent
        if frame is None:
            if ws.state is CLOSED:
                return ConnectionClosed(describe_close(1006))
            return ConnectionClosed("the connection is closing")
        return ConnectionClosed(describe_close(frame.code, frame.reason), frame.code, frame.reason)

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
        if ws.state is not OPEN:
            raise self._closed or self._close_error()
        if text:
            ws.send_text(message)
        else:
            ws.send_binary(message)
        self._wrote(len(message))
        if not self._write_paused:
            return self._sent
        waiter = self._loop.create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)
        return waiter

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
        if self._transport is not None and self._opening is None and self._closed is None:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Deliver messages again after :meth:`pause_reading`."""
        if not self._paused_reading:
            return
        self._paused_reading = False
        if self._transport is not None and self._opening is None and self._closed is None:
            self._transport.resume_reading()
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
        if ws.state is OPEN:
            ws.send_close(code, reason)
            self._flush()
            self._expect_close()
        elif ws.state is CONNECTING:
            self.abort()
        await self.wait_closed()

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake."""
        if self._transport is not None:
            self._transport.abort()

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
        if ws.state is not OPEN:
            raise self._closed or self._close_error()
        pings = self._pings
        if pings is None:
            pings = self._pings = {}
        data = random.getrandbits(32).to_bytes(4, "big")
        while data in pings:  # pragma: no cover - 1 in 2**32
            data = random.getrandbits(32).to_bytes(4, "big")
        pong = pings[data] = self._loop.create_future()
        ws.send_ping(data)
        self._wrote(len(data))
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
        if not self._write_paused or self._transport is None:
            return None
        return self._transport.get_write_buffer_size()

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
        return self._ws.subprotocol

    # The opening handshake (overridden by the server side)

    def _opened(self, events: list[Any]) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _handshake_lost(self, closed: ConnectionClosed) -> None:  # pragma: no cover
        raise NotImplementedError


class _ServerSide(WebsocketsProtocol):
    """The server side: reads the request, asks the acceptor, answers, then serves."""

    __slots__ = ("_accepting", "_acceptor", "_held", "_open_timer")

    def __init__(
        self,
        protocol: ServerProtocol,
        acceptor: Acceptor,
        *,
        open_timeout: float | None,
        close_timeout: float | None,
    ) -> None:
        super().__init__(protocol, close_timeout=close_timeout)
        self._acceptor = acceptor
        self._opening = self._read_request
        #: Bytes read while the acceptor decides (fed to the protocol after the 101).
        self._held: list[bytes] | None = None
        self._open_timer: asyncio.TimerHandle | None = None
        #: The task that runs the acceptor's decision (referenced: tasks are weak in the loop).
        self._accepting: asyncio.Task[None] | None = None
        if open_timeout is not None:
            self._open_timer = self._loop.call_later(open_timeout, self.abort)

    def _read_request(self, data: bytes) -> None:
        ws = self._ws
        ws.receive_data(data)
        events = ws.events_received()
        self._flush()  # websockets' own error response, if the request is not HTTP
        if ws.close_expected():
            self._expect_close()
        if events:
            self._opened(events)

    def _opened(self, events: list[Any]) -> None:
        request = events[0]
        if not isinstance(request, Request):  # pragma: no cover - the parser yields it first
            return
        self._opening = self._hold
        self._accepting = self._loop.create_task(self._accept(request, events[1:]))
        self._accepting.add_done_callback(self._accepted)

    def _accepted(self, task: asyncio.Task[None]) -> None:
        self._accepting = None
        if not task.cancelled() and task.exception() is not None:
            logger.error("opening handshake failed", exc_info=task.exception())
            self.abort()

    def _hold(self, data: bytes) -> None:
        # The client should wait for the 101: keep what it sent early, read no further.
        if self._held is None:
            self._held = []
        self._held.append(data)
        if self._transport is not None:
            self._transport.pause_reading()

    def _handshake_lost(self, closed: ConnectionClosed) -> None:
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None

    async def _accept(self, request: Request, early: list[Any]) -> None:
        ws = cast(ServerProtocol, self._ws)
        offered: list[str] = []
        try:
            for value in request.headers.get_all("Sec-WebSocket-Protocol"):
                offered.extend(parse_subprotocol(value))
        except InvalidHeader:
            offered = []  # accept() answers 400 for it
        self._request_headers = headers = Headers(request.headers.raw_items())
        handshake = Handshake.from_target(request.path, headers, self._remote, offered)
        try:
            decision = await self._acceptor.handshake(handshake)
        except Exception:
            logger.exception("the handshake acceptor failed")
            decision = Refused(500, "Internal Server Error")
        if self._closed is not None:
            return  # the peer went away meanwhile
        if isinstance(decision, Refused):
            response = ws.reject(decision.status, decision.body + "\n")
        else:
            token = _ACCEPTED_SUBPROTOCOL.set(decision.subprotocol)
            try:
                response = ws.accept(request)
            finally:
                _ACCEPTED_SUBPROTOCOL.reset(token)
            if response.status_code == 101:
                if "Server" in response.headers:
                    del response.headers["Server"]
                self._acceptor.response_headers(response.headers, request)
        if response.status_code != 101:
            ws.send_response(response)
            self._flush()
            self._expect_close()
            return
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        self._upgrade(response, cast(Accepted, decision), early)

    def _upgrade(self, response: Response, accepted: Accepted, early: list[Any]) -> None:
        """Send the 101 ``response`` and serve the connection (another adapter may take over)."""
        cast(ServerProtocol, self._ws).send_response(response)
        self._flush()
        self._opening = None
        if early:
            self._process(early)
        held, self._held = self._held, None
        transport = self._transport
        assert transport is not None
        if not self._paused_reading:
            transport.resume_reading()
        for data in held or ():
            self.data_received(data)
        self._acceptor.attach(self, accepted)


class _ClientSide(WebsocketsProtocol):
    """The client side: sends the request and waits for the response."""

    __slots__ = ("_handshake",)

    def __init__(self, protocol: ClientProtocol, *, close_timeout: float | None) -> None:
        super().__init__(protocol, close_timeout=close_timeout)
        self._opening = self._read_response
        self._handshake: asyncio.Future[None] = self._loop.create_future()

    def _read_response(self, data: bytes) -> None:
        ws = self._ws
        ws.receive_data(data)
        events = ws.events_received()
        self._flush()
        if events:
            self._opened(events)
        elif ws.handshake_exc is not None:
            self._fail_handshake(ws.handshake_exc)

    def _opened(self, events: list[Any]) -> None:
        ws = self._ws
        exc = ws.handshake_exc
        if exc is not None:
            self._fail_handshake(exc)
            return
        self._opening = None
        if not self._handshake.done():
            self._handshake.set_result(None)
        if len(events) > 1:
            self._process(events[1:])
        if ws.close_expected():
            self._expect_close()

    def _fail_handshake(self, exc: Exception) -> None:
        self._opening = None
        if self._handshake.done():
            return
        error: HandshakeFailed
        if isinstance(exc, InvalidStatus):
            response = exc.response
            error = HandshakeRejected(
                response.status_code,
                bytes(response.body or b"").decode(errors="replace"),
                Headers(response.headers.raw_items()),
            )
        else:
            error = HandshakeFailed(f"the opening handshake failed: {exc}")
        error.__cause__ = exc
        self._handshake.set_exception(error)
        self._handshake.exception()
        self.abort()

    def _handshake_lost(self, closed: ConnectionClosed) -> None:
        if not self._handshake.done():
            error = HandshakeFailed("the connection closed during the opening handshake")
            error.__cause__ = self._ws.handshake_exc or closed
            self._handshake.set_exception(error)
            self._handshake.exception()


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
    """Listen for WebSocket connections and hand each accepted one to ``acceptor``.

    For each connection the opening request is read (within ``open_timeout``,
    else the connection is dropped), ``acceptor.handshake`` decides, and the
    answer is a 101 with the accepted subprotocol (then ``acceptor.attach``)
    or the refusal's status and text body. Requests that are not a valid
    WebSocket upgrade get websockets' own error responses.

    Args:
        acceptor: Decides on handshakes and serves accepted connections (the hub).
        host: The interface to bind.
        port: The port to bind (0: any free port).
        ssl: A server-side SSL context: serve ``wss://``.
        backlog: Connections the kernel queues before they are accepted.
        max_size: Largest incoming message in bytes (larger closes with 1009).
        compression: ``None`` or ``"deflate"`` (per-message deflate, websockets' defaults).
        open_timeout: Seconds allowed for the opening handshake.
        close_timeout: Seconds allowed for the closing handshake.
        reuse_port: Bind with ``SO_REUSEPORT``: processes that all do share the
            port, and the kernel spreads connections over them.
        sock: A listening socket to serve on, instead of binding ``host:port``.

    Returns:
        The listening asyncio server.
    """
    extensions = _compression_extensions(compression, "server")
    loop = asyncio.get_running_loop()

    def factory() -> _ServerSide:
        protocol = ServerProtocol(
            extensions=extensions,
            select_subprotocol=_select_accepted,
            max_size=max_size,
        )
        return _ServerSide(
            protocol, acceptor, open_timeout=open_timeout, close_timeout=close_timeout
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
) -> WebsocketsProtocol:
    """Open a WebSocket connection to ``url`` (``ws://`` or ``wss://``).

    Messages that arrive once it is open are kept until ``start``.

    Args:
        url: The server's URL.
        subprotocols: Subprotocols to offer, in order of preference.
        headers: Extra headers for the opening request.
        max_size: Largest incoming message in bytes (larger closes with 1009).
        compression: ``None`` or ``"deflate"`` (per-message deflate, websockets' defaults).
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
        ValueError: The URL is not a valid ``ws://`` or ``wss://`` URL.
    """
    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise ValueError(str(exc)) from None
    if uri.secure:
        if ssl is None:
            ssl = ssl_module.create_default_context()
    elif ssl is not None:
        raise ValueError("ssl is incompatible with a ws:// URL")
    protocol = ClientProtocol(
        uri,
        subprotocols=[Subprotocol(name) for name in subprotocols] or None,
        extensions=_compression_extensions(compression, "client"),
        max_size=max_size,
    )
    request = protocol.connect()
    for name, value in (headers or {}).items():
        request.headers[name] = value
    loop = asyncio.get_running_loop()
    side = _ClientSide(protocol, close_timeout=close_timeout)
    side._request_headers = Headers(request.headers.raw_items())
    try:
        async with asyncio.timeout(open_timeout):
            await loop.create_connection(
                lambda: side, uri.host, uri.port, ssl=ssl, server_hostname=uri.host if ssl else None
            )
            protocol.send_request(request)
            side._flush()
            await asyncio.shield(side._handshake)
    except TimeoutError as exc:
        side.abort()
        raise HandshakeFailed("timed out during the opening handshake") from exc
    except BaseException:
        side.abort()
        raise
    return side
