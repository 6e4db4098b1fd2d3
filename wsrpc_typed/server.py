"""The server: a router served over WebSockets, with the seed's API in Python form."""

from __future__ import annotations

import asyncio
import inspect
import logging
import ssl as ssl_module
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal

from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse
from websockets.typing import Subprotocol

from .calling import wire_params
from .connection import Connection
from .dialects.detect import SUBPROTOCOLS, AutoDialect, dialect_for_subprotocol
from .dialects.events import Notification
from .errors import ConnectionClosed
from .interceptors import Interceptor
from .limits import CallBudget
from .registry import Router
from .security import Handshake, OriginPolicy, Rejected, origin_allowed
from .transport import Transport, WebsocketsTransport

__all__ = ["Server", "ServerEvent"]

logger = logging.getLogger("wsrpc_typed")

ServerEvent = Literal["connection", "error", "headers", "close"]
#: ``authenticate(handshake) -> identity`` (or an awaitable of it); raises Rejected to refuse.
Authenticate = Callable[[Handshake], Any]


class Server:
    """Serve a :class:`Router` over WebSockets.

    Mirrors the seed's API::

        server = Server(router, host="127.0.0.1", port=8765)
        await server.open()          # resolves once listening; raises if the port is taken
        server.on("connection", lambda rpc: rpc.on("computePrimes", handler))
        ...
        await server.close()         # disconnects every client; resolves once the port is free

    or ``async with Server(router, port=0) as server: print(server.url)``.

    The wire dialect is chosen per connection from the WebSocket subprotocol
    the client offers (``jsonrpc-2.0``, ``ws-rpc-legacy``, ``ws-promise-v2``,
    ``ws-promise-v2-json``); a client that offers none gets ``default_dialect``,
    which by default (``"auto"``) detects the dialect from the first frame.

    Args:
        router: The typed methods to serve (optional: seed-style handlers alone work too).
        host: Interface to bind (default: loopback only).
        port: Port to bind; 0 picks a free port (read it from :attr:`port` after open).
        default_dialect: Dialect for clients that offer no subprotocol, or ``"auto"``.
        max_in_flight: Handler tasks per connection before the server stops reading.
        max_calls: Handler tasks across all connections; past it, new calls get
            :class:`ServerBusy` (-32001) at once (``None``: no server-wide cap).
        timeout: Default timeout of calls the server makes to clients.
        ack_timeout: How long ``message.reply()`` waits for a v2 acknowledgement.
        max_size: Largest incoming message in bytes (larger closes with 1009).
        compression: ``None`` (default) or ``"deflate"``.
        ping_interval: Seconds between keepalive pings (``None`` disables them).
        ping_timeout: Seconds to wait for a pong before closing.
        open_timeout: Seconds allowed for the opening handshake.
        close_timeout: Seconds allowed for the closing handshake.
        origins: Which browser origins may connect: ``None`` (default) admits
            clients that send no ``Origin`` (non-browser clients) and same-origin
            pages; ``"*"`` admits any; a list admits exactly those (add ``None`` to
            the list to admit clients without ``Origin``). Others get HTTP 403.
        authenticate: Called with the :class:`Handshake` before the connection is
            accepted (may be async); returns the connection's identity, or raises
            :class:`Rejected` for a 401/403 response. Handlers read the identity as
            ``ctx.identity``; methods declared with ``scopes=`` check it.
        interceptors: Hooks around every handler call (see :mod:`wsrpc_typed.interceptors`).
        max_batch: Largest JSON-RPC batch accepted (larger gets one -32600 error).
        max_reply_size: Largest encoded result sent; a larger one is replaced by
            :class:`ResponseTooLarge` (-32005).
        send_timeout: A client whose socket takes no data for this long (it
            stopped reading while the server has replies for it) is
            disconnected; ``None`` disables the check. WebSocket keepalive alone
            does not catch this: its pings queue behind the blocked data.
        allowed_hosts: ``Host`` header names accepted (without port); ``None``
            (default) accepts only loopback names when the server is bound to a
            loopback address (against DNS rebinding), and any name otherwise.
        drain_timeout: On :meth:`close`, seconds calls in flight may take to finish.
        ssl: A server-side SSL context: serve ``wss://``.
        backlog: Connections the kernel queues before the server accepts them. A
            burst larger than this (asyncio's default is 100) waits for the
            client's TCP retransmission, a second or more, legitimate clients too.
    """

    def __init__(
        self,
        router: Router | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        default_dialect: str = "auto",
        max_in_flight: int = 64,
        max_calls: int | None = 1024,
        timeout: float | None = 30.0,
        ack_timeout: float = 30.0,
        max_size: int | None = 2**20,
        compression: Literal["deflate"] | None = None,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        open_timeout: float | None = 10.0,
        close_timeout: float | None = 10.0,
        origins: OriginPolicy = None,
        authenticate: Authenticate | None = None,
        interceptors: Sequence[Interceptor] = (),
        max_batch: int = 100,
        max_reply_size: int | None = 4 * 2**20,
        send_timeout: float | None = 10.0,
        allowed_hosts: Sequence[str] | None = None,
        drain_timeout: float = 10.0,
        ssl: ssl_module.SSLContext | None = None,
        backlog: int = 1024,
    ) -> None:
        if default_dialect != "auto":
            dialect_for_subprotocol(default_dialect)  # fail early on an unknown name
        self.router = router if router is not None else Router()
        self.host = host
        self._port = port
        self.default_dialect = default_dialect
        self._conn_options: dict[str, Any] = {
            "timeout": timeout,
            "ack_timeout": ack_timeout,
            "max_in_flight": max_in_flight,
            "max_batch": max_batch,
            "max_reply_size": max_reply_size,
            "interceptors": tuple(interceptors),
            "budget": None if max_calls is None else CallBudget(max_calls),
        }
        self.origins = origins
        self.authenticate = authenticate
        self.drain_timeout = drain_timeout
        self.backlog = backlog
        self.send_timeout = send_timeout
        self.allowed_hosts: frozenset[str] | None = (
            frozenset(allowed_hosts)
            if allowed_hosts is not None
            else (_LOOPBACK_NAMES if host in _LOOPBACK_NAMES else None)
        )
        self._watchdog: asyncio.Task[None] | None = None
        self._ssl = ssl
        self._identities: dict[ServerConnection, Any] = {}
        # Keepalive is ours (see _keepalive): websockets' own would wait close_timeout
        # more for a peer that has just shown it does not answer.
        self._keepalive_every = (ping_interval, ping_timeout)
        self._ws_options: dict[str, Any] = {
            "max_size": max_size,
            "compression": compression,
            "ping_interval": None,
            "open_timeout": open_timeout,
            "close_timeout": close_timeout,
        }
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self._server: WsServer | None = None
        self.connections: set[Connection] = set()
        """The open connections."""

    # -- the seed's API -------------------------------------------------------------

    def on(self, event: ServerEvent, callback: Callable[..., Any]) -> None:
        """Listen to a server event.

        * ``"connection"``: ``callback(connection)`` once a client is connected, before
          its first frame is read (register seed-style handlers here). May be async.
        * ``"close"``: ``callback(connection)`` once a connection has ended.
        * ``"error"``: ``callback(exception)`` for every unexpected handler failure.
        * ``"headers"``: ``callback(headers, request)`` with the handshake response's
          mutable headers, before they are sent.
        """
        if event not in ("connection", "error", "headers", "close"):
            raise ValueError(f"unknown server event {event!r}")
        self._listeners.setdefault(event, []).append(callback)

    async def open(self) -> None:
        """Start listening; resolves once the server accepts connections.

        Raises:
            OSError: the address is in use or cannot be bound.
        """
        if self._server is not None:
            raise RuntimeError("the server is already open")
        self._server = await serve(
            self._serve_connection,
            self.host,
            self._port,
            subprotocols=[Subprotocol(name) for name in SUBPROTOCOLS],
            select_subprotocol=_select_subprotocol,
            process_request=self._process_request,
            process_response=self._process_response,
            server_header=None,
            ssl=self._ssl,
            backlog=self.backlog,
            **self._ws_options,
        )
        if self.send_timeout is not None:
            self._watchdog = asyncio.create_task(self._watch_senders(self.send_timeout))

    async def close(self, drain_timeout: float | None = None) -> None:
        """Shut down gracefully.

        Stops accepting connections, answers new calls on open connections with
        :class:`ShuttingDown`, lets calls in flight finish for up to
        ``drain_timeout`` seconds (default: the server's), then cancels what is
        left (answering those calls with :class:`ShuttingDown` too) and closes
        every connection with code 1001. Resolves once the port is free and
        every handler is done.
        """
        server, self._server = self._server, None
        if server is None:
            return
        if self._watchdog is not None:
            self._watchdog.cancel()
        server.close(close_connections=False)
        connections = list(self.connections)
        for conn in connections:
            conn.drain()
        grace = self.drain_timeout if drain_timeout is None else drain_timeout
        close_timeout = self._ws_options["close_timeout"]
        try:
            async with asyncio.timeout(grace):
                await asyncio.gather(*(conn.wait_idle() for conn in connections))
        except TimeoutError:
            await asyncio.gather(*(conn.abandon_calls(close_timeout) for conn in connections))
        await asyncio.gather(
            *(conn.close(1001, "server shutting down", close_timeout) for conn in connections),
            return_exceptions=True,
        )
        await server.wait_closed()

    async def __aenter__(self) -> Server:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def serve_forever(self) -> None:
        """Open (if needed) and serve until cancelled, then close."""
        if self._server is None:
            await self.open()
        try:
            await asyncio.Future()
        finally:
            await self.close()

    async def broadcast(
        self,
        method: str,
        params: Any = None,
        *,
        where: Callable[[Connection], bool] | None = None,
        timeout: float = 5.0,
    ) -> int:
        """Send a notification to every connection, or to those ``where`` accepts.

        Deliveries run concurrently, so a client that stopped reading never
        delays the others; a client that cannot take the message within
        ``timeout`` is disconnected (see :meth:`Connection.deliver`).

        Args:
            method: The notification's method (a handler in the client's router).
            params: Named (dict or pydantic model) or positional (list) params.
            where: A filter on connections (for example on ``conn.state``).
            timeout: Seconds one delivery may take.

        Returns:
            How many connections the notification was handed to.
        """
        event = Notification(method, wire_params(params))
        targets = [c for c in self.connections if not c.closed and (where is None or where(c))]
        delivered = await asyncio.gather(*(conn.deliver(event, timeout) for conn in targets))
        return sum(delivered)

    # -- facts ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with ``port=0``)."""
        if self._server is None:
            raise RuntimeError("the server is not open")
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """``ws://HOST:PORT`` (``wss://`` with TLS) of the open server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'wss' if self._ssl else 'ws'}://{host}:{self.port}"

    # -- internals ------------------------------------------------------------------

    def _emit(self, event: str, *args: Any) -> list[Any]:
        outcomes = []
        for callback in self._listeners.get(event, ()):
            try:
                outcomes.append(callback(*args))
            except Exception as exc:
                logger.exception("%r listener failed", event)
                if event != "error":
                    self._emit("error", exc)
        return outcomes

    def _report(self, exc: BaseException) -> None:
        self._emit("error", exc)

    async def _watch_senders(self, send_timeout: float) -> None:
        """Disconnect clients that take no data for ``send_timeout`` while replies wait."""
        loop = asyncio.get_running_loop()
        stalled: dict[Connection, tuple[float, int]] = {}  # since when, backlog then
        while True:
            await asyncio.sleep(max(0.05, min(1.0, send_timeout / 4)))
            now = loop.time()
            for conn in list(self.connections):
                backlog = conn.transport.send_backlog()
                if backlog is None or conn.closed:
                    stalled.pop(conn, None)
                    continue
                since, before = stalled.get(conn, (now, backlog))
                if backlog < before:
                    since = now  # it is slow, but it reads
                stalled[conn] = (since, backlog)
                if now - since >= send_timeout:
                    logger.warning(
                        "dropping %s: it took no data for %.1f s", conn.remote_address, now - since
                    )
                    stalled.pop(conn)
                    conn.transport.abort()
            for conn in [c for c in stalled if c not in self.connections]:
                del stalled[conn]

    async def _process_request(
        self, ws: ServerConnection, request: HttpRequest
    ) -> HttpResponse | None:
        headers = request.headers
        hosts = headers.get_all("Host")
        if len(hosts) > 1:
            return ws.respond(400, "One Host header, please\n")  # RFC 9112 §3.2
        host = hosts[0] if hosts else None
        if self.allowed_hosts is not None and _host_name(host) not in self.allowed_hosts:
            return ws.respond(403, "Host not allowed\n")
        if not origin_allowed(headers.get_all("Origin"), host, self.origins):
            return ws.respond(403, "Origin not allowed\n")
        if self.authenticate is None:
            return None
        handshake = Handshake.from_target(request.path, headers, ws.remote_address)
        try:
            identity = self.authenticate(handshake)
            if inspect.isawaitable(identity):
                identity = await identity
        except Rejected as exc:
            return ws.respond(exc.status, exc.reason + "\n")
        except Exception as exc:
            logger.exception("authenticate hook failed")
            self._report(exc)
            return ws.respond(500, "Internal Server Error\n")
        self._identities[ws] = identity
        return None

    def _process_response(
        self, ws: ServerConnection, request: HttpRequest, response: HttpResponse
    ) -> None:
        if response.status_code == 101:
            self._emit("headers", response.headers, request)

    async def _serve_connection(self, ws: ServerConnection) -> None:
        if ws.subprotocol is not None:
            dialect: Any = dialect_for_subprotocol(ws.subprotocol)
        elif self.default_dialect == "auto":
            dialect = AutoDialect()
        else:
            dialect = dialect_for_subprotocol(self.default_dialect)
        transport = WebsocketsTransport(ws)
        conn = Connection(
            transport,
            dialect,
            self.router,
            on_error=self._report,
            identity=self._identities.pop(ws, None),
            **self._conn_options,
        )
        self.connections.add(conn)
        interval, timeout = self._keepalive_every
        keepalive = (
            None
            if interval is None
            else asyncio.create_task(_keepalive(transport, interval, timeout))
        )
        try:
            for outcome in self._emit("connection", conn):
                if inspect.isawaitable(outcome):
                    try:
                        await outcome
                    except Exception as exc:
                        logger.exception("'connection' listener failed")
                        self._report(exc)
            conn.start()
            await conn.wait_closed()
        finally:
            if keepalive is not None:
                keepalive.cancel()
            self.connections.discard(conn)
            self._emit("close", conn)


async def _keepalive(transport: Transport, interval: float, timeout: float | None) -> None:
    """Ping every ``interval`` seconds; drop a peer that sends no pong within ``timeout``.

    Dropping it at once ends the connection, so its handlers are cancelled now,
    not after a closing handshake the peer will not answer either.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            # As websockets does, the ping may wait behind data the peer has not taken
            # yet (a slow reader is send_timeout's business); the pong may not.
            async with asyncio.timeout(timeout):
                await transport.ping()
        except TimeoutError:
            logger.info("dropping %s: no pong within %s s", transport.remote_address, timeout)
            transport.abort()
            return
        except ConnectionClosed:
            return


_LOOPBACK_NAMES = frozenset(("127.0.0.1", "localhost", "::1"))


def _host_name(host: str | None) -> str | None:
    """The name of a ``Host`` header, without port or IPv6 brackets."""
    if host is None:
        return None
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _select_subprotocol(ws: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    # The client's order of preference wins; no match means no subprotocol, and the
    # server's default dialect applies (the original seed clients offer none).
    for name in offered:
        if name in SUBPROTOCOLS:
            return name
    return None
