"""A transport over one ASGI 3 WebSocket connection, and the handshake around it.

:func:`serve_websocket` runs one ``websocket`` scope: it reads the
``websocket.connect`` event, reports the handshake to an
:class:`~wsrpc_typed.transport.Acceptor` (the hub), answers with
``websocket.accept`` or a refusal, and then serves the connection through an
:class:`AsgiTransport` until it ends. :class:`wsrpc_typed.asgi.RpcApp` is the
ASGI application around it.

Rules of this module:

* Only the ASGI 3 WebSocket messages and the ``websocket.http.response``
  extension are used: nothing here imports an ASGI server or framework.
* A refused handshake is answered with its HTTP status and text body
  through the denial-response extension when the server advertises it in
  ``scope["extensions"]``; otherwise with ``websocket.close`` (code 1008)
  before accepting, which the server turns into an HTTP 403. No handler runs
  either way.
* One reader task pulls events from ``receive`` and pushes each message to
  the handler synchronously; while reading is paused it does not call
  ``receive``, so the server stops reading the socket (uvicorn and hypercorn
  both pause their transport when the application does not take events).
  Messages larger than ``max_size`` close the connection with 1009; the
  server's own limit (uvicorn's ``ws_max_size``, hypercorn's
  ``websocket_max_message_size``) bounds what it buffers before that.
* One writer task sends queued messages one ``send`` at a time, in order;
  the application's coroutine waits until the connection has ended. ASGI
  has no write backpressure of its own: ``send`` returns once the server
  took the message, and uvicorn and hypercorn make it wait while their
  transport's buffer is over its high-water mark. Messages queued behind it
  count against ``write_limit``: past it :meth:`AsgiTransport.send` returns
  a pending future (the backpressure of the transport contract) until the
  queue is down to a quarter of it, and :meth:`AsgiTransport.send_backlog`
  reports the queued bytes, so the hub's send watchdog drops a peer that
  takes nothing for ``send_timeout``.
* ASGI cannot ping, nor drop a TCP connection: keepalive is the server's
  (uvicorn's ``ws_ping_interval``), and :meth:`AsgiTransport.abort` ends the
  connection for us at once (the handler sees 1006), discards what was
  queued, and returns from the application, after which the server closes
  the socket.
* Library exceptions stop here: whatever ``send`` raises after the peer left
  (uvicorn's ``ClientDisconnected``, Starlette's ``WebSocketDisconnect``)
  ends the connection as :class:`~wsrpc_typed.errors.ConnectionClosed`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from ..errors import ConnectionClosed
from ..security import Handshake, Headers
from ..transport import Accepted, Acceptor, Refused, TransportHandler, describe_close

__all__ = ["WRITE_LIMIT", "AsgiTransport", "Receive", "Scope", "Send", "refuse", "serve_websocket"]

logger = logging.getLogger("wsrpc_typed")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

#: Bytes queued behind the server's ``send`` before :meth:`AsgiTransport.send` makes
#: callers wait (and the send watchdog starts to count).
WRITE_LIMIT = 64 * 1024

_DENIAL = "websocket.http.response"
_CLOSE = object()  # in the write queue: send websocket.close


class AsgiTransport:
    """A :class:`~wsrpc_typed.transport.Transport` over an accepted ASGI WebSocket.

    Made by :func:`serve_websocket`; see the module rules.

    Args:
        scope: The connection's ASGI scope.
        receive: The ASGI ``receive`` callable.
        send: The ASGI ``send`` callable.
        max_size: Largest incoming message in bytes (larger closes with 1009).
        close_timeout: Seconds the closing handshake may take before the
            connection is dropped (``None``: no limit).
        write_limit: Bytes queued for ``send`` before senders wait.
        subprotocol: The subprotocol the connection was accepted with.
        headers: The request headers, when already parsed from the scope.
    """

    __slots__ = (
        "_close_sent",
        "_close_timer",
        "_closed",
        "_drain_waiters",
        "_handler",
        "_headers",
        "_loop",
        "_lost",
        "_paused",
        "_pending",
        "_queue",
        "_queued_bytes",
        "_reader",
        "_receive",
        "_resumed",
        "_send",
        "_sent",
        "_subprotocol",
        "_wake",
        "_writer",
        "close_timeout",
        "max_size",
        "scope",
        "write_limit",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        max_size: int | None = 2**20,
        close_timeout: float | None = 10.0,
        write_limit: int = WRITE_LIMIT,
        subprotocol: str | None = None,
        headers: Headers | None = None,
    ) -> None:
        self.scope = scope
        """The connection's ASGI scope (path, headers, client, state, what middleware set)."""
        self.max_size = max_size
        self.close_timeout = close_timeout
        self.write_limit = write_limit
        self._receive = receive
        self._send = send
        self._loop = asyncio.get_running_loop()
        self._headers = headers if headers is not None else _headers_of(scope)
        self._subprotocol = subprotocol
        self._handler: TransportHandler | None = None
        #: Messages kept until ``start``; ``None``: deliver at once.
        self._pending: list[bytes | str] | None = []
        self._paused = False
        self._resumed: asyncio.Future[None] | None = None
        self._queue: collections.deque[tuple[Any, bool]] = collections.deque()
        self._queued_bytes = 0
        self._wake: asyncio.Future[None] | None = None
        self._drain_waiters: list[asyncio.Future[None]] | None = None
        self._sent: asyncio.Future[None] = self._loop.create_future()
        self._sent.set_result(None)
        self._close_sent: tuple[int, str] | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._closed: ConnectionClosed | None = None
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    # -- running ----------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it ends: a reader task and a writer task.

        Returns once the connection has ended (closed by either side, or
        aborted); cancelled (the server's shutdown), it ends the connection.
        """
        loop = self._loop
        self._reader = loop.create_task(self._read())
        self._writer = loop.create_task(self._write())
        try:
            await self._lost
        finally:
            self._ended(1006, "")  # (a no-op unless cancelled)
            for task in (self._reader, self._writer):
                if not task.done():
                    task.cancel()

    async def _read(self) -> None:
        receive = self._receive
        while self._closed is None:
            if self._paused:
                self._resumed = self._loop.create_future()
                await self._resumed
                continue
            try:
                event = await receive()
            except Exception as exc:  # a framework's wrapper that refuses once closed
                self._ended(1006, "", exc)
                return
            kind = event["type"]
            if kind == "websocket.receive":
                text = event.get("text")
                message: bytes | str = text if text is not None else event.get("bytes") or b""
                if self._close_sent is not None:
                    continue  # closing: what the peer still sends is dropped
                if self.max_size is not None and _too_large(message, self.max_size):
                    self._start_close(1009, "message too big")
                    continue
                pending = self._pending
                if pending is None:
                    assert self._handler is not None
                    self._handler.message_received(message)
                else:
                    pending.append(message)
            elif kind == "websocket.disconnect":
                code = int(event.get("code", 1005))
                self._ended(code, event.get("reason") or "")
                return

    async def _write(self) -> None:
        queue = self._queue
        send = self._send
        while self._closed is None:
            if not queue:
                self._wake = self._loop.create_future()
                await self._wake
                continue
            message, text = queue[0]
            try:
                if message is _CLOSE:
                    code, reason = self._close_sent or (1000, "")
                    await send({"type": "websocket.close", "code": code, "reason": reason})
                elif text:
                    await send({"type": "websocket.send", "text": message.decode()})
                else:
                    await send({"type": "websocket.send", "bytes": message})
            except Exception as exc:  # the peer left: the server refuses to send
                self._ended(1006, "", exc)
                return
            if not queue:
                return  # aborted meanwhile
            queue.popleft()
            if message is not _CLOSE:
                self._queued_bytes -= len(message)
                if self._drain_waiters is not None and self._queued_bytes <= self.write_limit // 4:
                    self._release_waiters(None)

    def _start_close(self, code: int, reason: str) -> None:
        if self._close_sent is not None or self._closed is not None:
            return
        self._close_sent = (code, reason)
        self._queue.append((_CLOSE, False))
        self._wakeup()
        if self.close_timeout is not None:
            self._close_timer = self._loop.call_later(self.close_timeout, self.abort)

    def _ended(self, code: int, reason: str, cause: BaseException | None = None) -> None:
        """The connection is over: report it once, release everyone who waits."""
        if self._closed is not None:
            return
        if self._close_sent is not None and code in (1000, 1005, 1006):
            code, reason = self._close_sent  # ours, where the server did not echo it
        closed = ConnectionClosed(describe_close(code, reason), code, reason)
        if cause is not None:
            closed.__cause__ = cause
        self._closed = closed
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._release_waiters(closed)
        if not self._lost.done():
            self._lost.set_result(None)
        if self._resumed is not None and not self._resumed.done():
            self._resumed.set_result(None)
        self._wakeup()
        if self._pending is None:
            assert self._handler is not None
            self._handler.connection_lost(closed)

    def _wakeup(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _release_waiters(self, exc: ConnectionClosed | None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, None
        for waiter in waiters or ():
            if waiter.done():
                continue
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)
                waiter.exception()  # nobody need await it

    # -- the Transport contract -------------------------------------------------------

    def start(self, handler: TransportHandler, /) -> None:
        """Deliver messages to ``handler`` from now on (those kept first, in order)."""
        self._handler = handler
        pending, self._pending = self._pending, None
        for message in pending or ():
            handler.message_received(message)
        if self._closed is not None:
            handler.connection_lost(self._closed)

    def send(self, message: bytes, /, *, text: bool) -> asyncio.Future[None]:
        """Queue one message; the future waits while over ``write_limit`` bytes are queued.

        Raises:
            ConnectionClosed: the connection is closed or closing.
        """
        if self._closed is not None:
            raise self._closed
        if self._close_sent is not None:
            raise ConnectionClosed("the connection is closing")
        self._queue.append((message, text))
        self._queued_bytes += len(message)
        self._wakeup()
        if self._drain_waiters is None and self._queued_bytes <= self.write_limit:
            return self._sent
        waiter = self._loop.create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)
        return waiter

    def pause_reading(self) -> None:
        """Stop taking events from ``receive`` until :meth:`resume_reading`."""
        self._paused = True

    def resume_reading(self) -> None:
        """Take events from ``receive`` again."""
        self._paused = False
        resumed = self._resumed
        if resumed is not None and not resumed.done():
            resumed.set_result(None)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send ``websocket.close`` after what is queued; wait until the connection ended.

        The server's closing handshake gets ``close_timeout`` seconds, then the
        connection is dropped (:meth:`abort`). Idempotent.
        """
        self._start_close(code, reason)
        await self.wait_closed()

    def abort(self) -> None:
        """End the connection now: drop what is queued and return from the application."""
        self._queue.clear()
        self._queued_bytes = 0
        self._ended(1006, "")

    async def wait_closed(self) -> None:
        """Wait until the connection has ended."""
        await asyncio.shield(self._lost)

    def ping(self) -> Awaitable[None]:
        """ASGI has no ping: the server keeps connections alive (uvicorn's ``ws_ping_interval``).

        Raises:
            ConnectionClosed: the connection is closed.
            NotImplementedError: always, while it is open.
        """
        if self._closed is not None:
            raise self._closed
        raise NotImplementedError("ASGI has no ping; the ASGI server sends keepalive pings")

    def send_backlog(self) -> int | None:
        """Bytes queued for ``send`` while writes are paused, else ``None``.

        Writes pause when over ``write_limit`` bytes are queued, and flow again
        once the queue is down to a quarter of it.
        """
        if self._drain_waiters is None or self._closed is not None:
            return None
        return self._queued_bytes

    @property
    def remote_address(self) -> Any:
        """The client's ``(host, port)`` from the scope, or ``None``."""
        client = self.scope.get("client")
        return tuple(client) if client is not None else None

    @property
    def request_headers(self) -> Mapping[str, str]:
        """Headers of the opening handshake request (case-insensitive)."""
        return self._headers

    @property
    def subprotocol(self) -> str | None:
        """The accepted subprotocol, if any."""
        return self._subprotocol


def _too_large(message: bytes | str, limit: int) -> bool:
    if isinstance(message, bytes):
        return len(message) > limit
    size = len(message)  # characters: at most the UTF-8 size, at least a quarter of it
    return size > limit or (size > limit // 4 and len(message.encode()) > limit)


def _headers_of(scope: Scope) -> Headers:
    return Headers(
        (name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]
    )


def _handshake_of(scope: Scope, headers: Headers) -> Handshake:
    query = scope.get("query_string", b"").decode("latin-1")
    client = scope.get("client")
    return Handshake(
        scope.get("path", "/"),
        parse_qs(query),
        headers,
        tuple(client) if client is not None else None,
        tuple(scope.get("subprotocols", ())),
        scope,
    )


async def refuse(scope: Scope, send: Send, refusal: Refused) -> None:
    """Answer a handshake with ``refusal``: its status and body, else a close before accept."""
    if _DENIAL in (scope.get("extensions") or {}):
        body = (refusal.body + "\n").encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": refusal.status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": refusal.body[:120]})


async def serve_websocket(
    acceptor: Acceptor,
    scope: Scope,
    receive: Receive,
    send: Send,
    *,
    max_size: int | None = 2**20,
    close_timeout: float | None = 10.0,
    write_limit: int = WRITE_LIMIT,
    refusal: Refused | None = None,
) -> None:
    """Run one ASGI ``websocket`` scope: handshake, then serve it until it ends.

    Args:
        acceptor: Decides on the handshake and serves the connection (the hub).
        scope: The ``websocket`` scope.
        receive: The ASGI ``receive`` callable.
        send: The ASGI ``send`` callable.
        max_size: Largest incoming message in bytes (larger closes with 1009).
        close_timeout: Seconds allowed for the closing handshake.
        write_limit: Bytes queued for ``send`` before senders wait.
        refusal: Refuse this handshake without asking the acceptor (a server
            that is shutting down).
    """
    event = await receive()
    if event["type"] != "websocket.connect":
        return  # the client left before the handshake
    headers = _headers_of(scope)
    decision: Accepted | Refused
    if refusal is not None:
        decision = refusal
    else:
        try:
            decision = await acceptor.handshake(_handshake_of(scope, headers))
        except Exception:
            logger.exception("the handshake acceptor failed")
            decision = Refused(500, "Internal Server Error")
    try:
        if isinstance(decision, Refused):
            await refuse(scope, send, decision)
            return
        response: dict[str, str] = {}
        acceptor.response_headers(response, scope)
        accept: dict[str, Any] = {
            "type": "websocket.accept",
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in response.items()
            ],
        }
        if decision.subprotocol is not None:
            accept["subprotocol"] = decision.subprotocol
        await send(accept)
    except Exception:  # the client left meanwhile (uvicorn's, Starlette's disconnect errors)
        logger.debug("the client left during the handshake", exc_info=True)
        return
    transport = AsgiTransport(
        scope,
        receive,
        send,
        max_size=max_size,
        close_timeout=close_timeout,
        write_limit=write_limit,
        subprotocol=decision.subprotocol,
        headers=headers,
    )
    acceptor.attach(transport, decision)
    await transport.run()
