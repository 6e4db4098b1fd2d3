"""Serve a router from an ASGI application: mount it in FastAPI or Starlette, run it under uvicorn.

:class:`RpcApp` is an ASGI 3 application around the same hub as
:class:`~wsrpc_typed.Server`: the same options (those that are not about
sockets), events, dialects, limits and drain::

    from fastapi import FastAPI
    from wsrpc_typed.asgi import RpcApp

    rpc = RpcApp(router)
    app = FastAPI(lifespan=rpc.lifespan)
    app.mount("/rpc", rpc)            # clients connect to ws://HOST/rpc/

or, in a route that runs the framework's dependencies first::

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, user: User = Depends(current_user)) -> None:
        await rpc.serve(websocket)

What the ASGI server does and what RpcApp does (see the README's table):
the server owns the socket, the WebSocket framing, keepalive pings and its
own message-size cap; RpcApp decides on the handshake, enforces our limits
(message size, calls in flight, batch and reply size, the send deadline)
and drains on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from .adapters.asgi import WRITE_LIMIT, Receive, Scope, Send, serve_websocket
from .connection import Connection
from .hub import Authenticate, Backplane, Hub, Peer, Present, ServerEvent
from .interceptors import Interceptor
from .registry import Router
from .security import OriginPolicy
from .transport import Refused

__all__ = ["RpcApp", "WebSocketLike"]

_SHUTTING_DOWN = Refused(503, "Server shutting down")
_NOT_WEBSOCKET = (
    b"This endpoint takes WebSocket connections (JSON-RPC 2.0 and the ws-promise dialects).\n"
)


class WebSocketLike(Protocol):
    """What :meth:`RpcApp.serve` needs of a framework's WebSocket (Starlette's, FastAPI's)."""

    @property
    def scope(self) -> Scope: ...

    async def receive(self) -> Any: ...

    async def send(self, message: Any, /) -> None: ...


class RpcApp:
    """An ASGI 3 application that serves a :class:`Router` on ``websocket`` scopes.

    Mount it (``app.mount("/rpc", RpcApp(router))``), run it alone
    (``uvicorn module:rpc_app``), or call :meth:`serve` from a route. Plain
    HTTP requests get ``426 Upgrade Required``. The ``lifespan`` scope starts
    it and, on shutdown, drains it like :meth:`Server.close`; a mounted app
    gets no lifespan of its own from Starlette, so pass :meth:`lifespan` to
    the parent app (``FastAPI(lifespan=rpc.lifespan)``).

    Handlers see the ASGI scope as ``ctx.scope`` (and ``authenticate`` as
    ``handshake.scope``); ``ctx.headers`` and ``ctx.remote_address`` come from it.

    The options mean what they mean for :class:`~wsrpc_typed.Server`;
    those about sockets (host, port, TLS, backlog, compression, open and ping
    timeouts) belong to the ASGI server. The differences:

    Args:
        router: The typed methods to serve (optional: seed-style handlers alone work too).
        max_size: Our largest incoming message in bytes (larger closes with 1009).
            The server buffers a whole message before the application sees it,
            up to its own cap (uvicorn's ``--ws-max-size``, default 16 MiB): set
            that too, to bound its memory.
        allowed_hosts: ``Host`` header names accepted (without port); ``None``
            (default) accepts any, as the ASGI framework does (behind a proxy the
            Host is the public name; use the framework's ``TrustedHostMiddleware``
            or list them here).
        write_limit: Bytes queued per connection behind the server's ``send``
            before replies wait and the send watchdog counts (see the README on
            what bounds the buffered bytes).
        backplane: What links this app to the other workers of a deployment,
            for :meth:`publish`, :meth:`peer` and :meth:`presence` (default: none,
            this process is the deployment;
            :class:`~wsrpc_typed.adapters.redis.RedisBackplane` links workers,
            ``uvicorn --workers N`` included: each worker's app has its own; a
            ``redis://`` URL makes one). It
            connects at the lifespan startup (or the first connection, under a
            server without lifespan) and leaves at the shutdown.

    Keepalive: ASGI cannot ping; the server does (uvicorn's ``--ws-ping-interval``
    and ``--ws-ping-timeout``, 20 s each by default, drop a peer that does not
    answer).
    """

    def __init__(
        self,
        router: Router | None = None,
        *,
        default_dialect: str = "auto",
        max_in_flight: int = 64,
        max_calls: int | None = 1024,
        timeout: float | None = 30.0,
        ack_timeout: float = 30.0,
        max_size: int | None = 2**20,
        close_timeout: float | None = 10.0,
        origins: OriginPolicy = None,
        authenticate: Authenticate | None = None,
        interceptors: Sequence[Interceptor] = (),
        max_batch: int = 100,
        max_reply_size: int | None = 4 * 2**20,
        send_timeout: float | None = 10.0,
        allowed_hosts: Sequence[str] | None = None,
        drain_timeout: float = 10.0,
        write_limit: int = WRITE_LIMIT,
        backplane: Backplane | str | None = None,
    ) -> None:
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
            ping_interval=None,  # the ASGI server pings; ASGI has no ping for us
            ping_timeout=None,
            close_timeout=close_timeout,
            origins=origins,
            authenticate=authenticate,
            interceptors=interceptors,
            max_batch=max_batch,
            max_reply_size=max_reply_size,
            send_timeout=send_timeout,
            allowed_hosts=allowed_hosts,
            loopback=False,
            drain_timeout=drain_timeout,
            backplane=backplane,
        )
        """The transport-neutral core: connections, events, broadcast."""
        self.router = self.hub.router
        self._serve_options: dict[str, Any] = {
            "max_size": max_size,
            "close_timeout": close_timeout,
            "write_limit": write_limit,
        }
        self._started = False
        self._opening: asyncio.Task[None] | None = None
        self._closing = False
        self.connections: set[Connection] = self.hub.connections
        """The open connections (of this worker)."""

    # -- ASGI -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3 entry point: ``websocket``, ``lifespan`` and (refused) ``http`` scopes."""
        kind = scope["type"]
        if kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "http":
            await send(
                {
                    "type": "http.response.start",
                    "status": 426,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(_NOT_WEBSOCKET)).encode()),
                        (b"upgrade", b"websocket"),
                        (b"connection", b"Upgrade"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _NOT_WEBSOCKET})
        else:
            raise ValueError(f"RpcApp serves websocket, lifespan and http scopes, not {kind!r}")

    async def serve(self, websocket: WebSocketLike) -> None:
        """Serve a framework's WebSocket (not yet accepted) until it ends.

        For a route that runs the framework's dependencies or checks first::

            @app.websocket("/rpc")
            async def rpc_route(websocket: WebSocket) -> None:
                await rpc.serve(websocket)

        The handshake policy (origins, ``authenticate``) still decides; the
        connection's ``ctx.scope`` is the route's scope, with what middleware
        and dependencies set in it.
        """
        await self._websocket(websocket.scope, websocket.receive, websocket.send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._started and not self._closing:
            await self._start()
        await serve_websocket(
            self.hub,
            scope,
            receive,
            send,
            refusal=_SHUTTING_DOWN if self._closing else None,
            **self._serve_options,
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._closing = False
                try:
                    await self._start()
                except Exception as exc:  # the backplane cannot connect: the server says so
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """Start on entry, drain on exit: for a parent app's ``lifespan=``.

        ``FastAPI(lifespan=rpc.lifespan)``, or inside your own lifespan:
        ``async with rpc.lifespan(app): yield``.
        """
        self._closing = False
        await self._start()
        try:
            yield
        finally:
            await self.close()

    async def _start(self) -> None:
        """Connect the backplane (once, however many connections ask), then start the hub."""
        if self._opening is None or _failed(self._opening):
            self._opening = asyncio.ensure_future(self.hub.backplane.open())
        await asyncio.shield(self._opening)
        if not self._started:
            self._started = True
            self.hub.start()

    # -- the seed's API ---------------------------------------------------------------

    def on(self, event: ServerEvent, callback: Callable[..., Any]) -> None:
        """Listen to a server event, as :meth:`wsrpc_typed.Server.on`.

        ``"headers"`` listeners get the ``websocket.accept`` headers (a mutable
        dict) and the ASGI scope.
        """
        self.hub.on(event, callback)

    async def close(self, drain_timeout: float | None = None) -> None:
        """Drain and close every connection, as :meth:`wsrpc_typed.Server.close`.

        New handshakes are refused with 503 from now on; new calls on open
        connections get :class:`ShuttingDown`; calls in flight get
        ``drain_timeout`` seconds (default: the app's); then every connection
        closes with 1001. The lifespan shutdown calls this.
        """
        self._closing = True
        self._started = False
        await self.hub.close(drain_timeout)
        opening, self._opening = self._opening, None
        if opening is not None and opening.done() and not _failed(opening):
            await self.hub.backplane.close()

    async def broadcast(
        self,
        method: str,
        params: Any = None,
        *,
        where: Callable[[Connection], bool] | None = None,
        timeout: float = 5.0,
    ) -> int:
        """Send a notification to every connection, as :meth:`wsrpc_typed.Server.broadcast`."""
        return await self.hub.broadcast(method, params, where=where, timeout=timeout)

    async def publish(
        self, topic: str, method: str, params: Any = None, *, skip: str | None = None
    ) -> None:
        """Notify every member of ``topic``, on every worker (see ``Server.publish``)."""
        await self.hub.publish(topic, method, params, skip=skip)

    def peer(self, connection_id: str) -> Peer:
        """A handle for calls to one client on any worker, as :meth:`wsrpc_typed.Server.peer`."""
        return self.hub.peer(connection_id)

    async def presence(self, topic: str | None = None) -> list[Present]:
        """Every worker's connections (in ``topic``), as :meth:`wsrpc_typed.Server.presence`."""
        return await self.hub.presence(topic)

    async def wait_closed(self) -> None:
        """Wait until every connection open now has ended."""
        await asyncio.gather(*(conn.wait_closed() for conn in list(self.connections)))


def _failed(task: asyncio.Task[None]) -> bool:
    """Whether ``task`` ended without success (cancelled, or with an exception)."""
    return task.done() and (task.cancelled() or task.exception() is not None)
