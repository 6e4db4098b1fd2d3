"""The server: a router served over WebSockets, with the seed's API in Python form."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl as ssl_module
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Literal

from .adapters.websockets import serve as serve_websockets
from .connection import Connection
from .hub import Authenticate, Backplane, Hub, Peer, Present, ServerEvent
from .interceptors import Interceptor
from .registry import Router
from .security import OriginPolicy
from .transport import TransportName

__all__ = ["Server", "ServerEvent"]

TRANSPORTS: tuple[TransportName, ...] = ("websockets", "picows")

logger = logging.getLogger("wsrpc_typed")


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
        reuse_port: Bind with ``SO_REUSEPORT`` (Linux, BSD): several processes
            serving the same port share it, the kernel spreading connections
            over them (what ``wsrpc serve --workers`` does).
        sock: A listening socket to serve on, instead of binding ``host:port``
            (for example one inherited from a parent process).
        backplane: What links this server to the other workers of a deployment,
            for :meth:`publish`, :meth:`peer` and :meth:`presence`: by default
            none (this server is the deployment);
            :class:`~wsrpc_typed.adapters.redis.RedisBackplane` links workers
            through Redis, and a ``redis://`` or ``rediss://`` URL makes one
            (password and TLS options in the URL, as redis-py reads them).
        transport: ``"websockets"`` (default) or ``"picows"``, the faster one
            (``pip install "wsrpc-typed[fast]"``; no ``compression``). Both serve
            every feature and dialect alike; run picows under uvloop for its speed.
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
        reuse_port: bool = False,
        sock: socket.socket | None = None,
        backplane: Backplane | str | None = None,
        transport: TransportName = "websockets",
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r}; choose from {TRANSPORTS}")
        if transport == "picows" and compression is not None:
            raise ValueError("the picows transport has no compression (use compression=None)")
        self.transport: TransportName = transport
        """Which library serves the sockets: ``"websockets"`` or ``"picows"``."""
        if isinstance(backplane, str):  # a Redis URL
            from .adapters.redis import RedisBackplane

            backplane = RedisBackplane(backplane)
        self.hub = Hub(
            router,
            default_dialect=default_dialect,
            max_in_flight=max_in_flight,
            max_calls=max_calls,
            timeout=timeout,
            ack_timeout=ack_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            origins=origins,
            authenticate=authenticate,
            interceptors=interceptors,
            max_batch=max_batch,
            max_reply_size=max_reply_size,
            send_timeout=send_timeout,
            allowed_hosts=allowed_hosts,
            loopback=host in _LOOPBACK_NAMES,
            drain_timeout=drain_timeout,
            backplane=backplane,
        )
        """The server's transport-neutral core: connections, events, broadcast."""
        self.router = self.hub.router
        self.host = host
        self._port = port
        self.backlog = backlog
        self._ssl = ssl
        self._sock = sock
        self._ws_options: dict[str, Any] = {
            "max_size": max_size,
            "compression": compression,
            "open_timeout": open_timeout,
            "close_timeout": close_timeout,
            "reuse_port": reuse_port,
        }
        self._server: asyncio.Server | None = None
        self.connections: set[Connection] = self.hub.connections
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
        * ``"backplane"``: ``callback(state, exception)`` when the link to the other
          workers is ``"lost"`` (with the exception) and when it is ``"restored"``
          (with ``None``).
        """
        self.hub.on(event, callback)

    async def open(self) -> None:
        """Start listening; resolves once the server accepts connections.

        Raises:
            OSError: the address is in use or cannot be bound.
        """
        if self._server is not None:
            raise RuntimeError("the server is already open")
        serve = serve_websockets
        if self.transport == "picows":
            from .adapters.picows import serve as serve_picows

            serve = serve_picows
        await self.hub.backplane.open()
        try:
            self._server = await serve(
                self.hub,
                self.host,
                self._port,
                ssl=self._ssl,
                backlog=self.backlog,
                sock=self._sock,
                **self._ws_options,
            )
        except BaseException:
            await self.hub.backplane.close()
            raise
        self.hub.start()

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
        server.close()  # stop listening; the hub closes the connections
        try:
            await self.hub.close(drain_timeout)
            await server.wait_closed()
        finally:
            await self.hub.backplane.close()

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
        return await self.hub.broadcast(method, params, where=where, timeout=timeout)

    async def publish(
        self, topic: str, method: str, params: Any = None, *, skip: str | None = None
    ) -> None:
        """Notify every connection that joined ``topic`` (``ctx.join``), on every worker.

        Each member but ``skip`` (a connection id: the sender, say) gets it once;
        one publisher's notifications arrive in the order it published them.
        With several workers this goes through the ``backplane``;
        :meth:`broadcast` is the local form, with any filter.

        Raises:
            BackplaneUnavailable: the backplane cannot be reached.
        """
        await self.hub.publish(topic, method, params, skip=skip)

    def peer(self, connection_id: str) -> Peer:
        """A handle for calls to one client, on whichever worker its connection is.

        It has the calls of a :class:`Connection` (``call``, ``notify``,
        ``stream``), so a generated peer stub wraps it:
        ``ChatPeer(server.peer(cid))``. Results, typed errors and deadlines
        travel across workers; an id that no worker has raises
        :class:`~wsrpc_typed.NoSuchPeer` at once.
        """
        return self.hub.peer(connection_id)

    async def presence(self, topic: str | None = None) -> list[Present]:
        """The open connections of every worker (or those in ``topic``), ordered by id."""
        return await self.hub.presence(topic)

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


_LOOPBACK_NAMES = frozenset(("127.0.0.1", "localhost", "::1"))
