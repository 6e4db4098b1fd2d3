"""The server transports that the connection tests run against, as one pytest parameter.

Each entry of :data:`SERVER_TRANSPORTS` names a way to serve a router on
127.0.0.1 port 0; :func:`serve_on` starts it and yields an object with the
:class:`Served` members the tests use. A test module opts in by taking the
``server_transport`` fixture (``tests/conftest.py``), directly or through the
``server`` fixture, so that the matrix runs where it proves something and
nowhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any, Protocol, cast

from tests.helpers.asgi_servers import run_uvicorn
from wsrpc_typed import Router, Server
from wsrpc_typed.asgi import RpcApp
from wsrpc_typed.connection import Connection
from wsrpc_typed.transport import TransportName

__all__ = ["SERVER_TRANSPORTS", "Served", "serve_on"]

#: Every server transport, in the order the matrix runs them: our server on websockets and
#: on picows, and RpcApp under uvicorn (its default WebSocket implementation, websockets'
#: sans-I/O).
SERVER_TRANSPORTS: tuple[str, ...] = ("websockets", "picows", "uvicorn")

#: Server options that are the ASGI server's under uvicorn: their uvicorn.Config names.
_UVICORN_OPTIONS = {
    "ping_interval": "ws_ping_interval",
    "ping_timeout": "ws_ping_timeout",
}


class Served(Protocol):
    """What a test may use of a running server, whatever serves it."""

    @property
    def url(self) -> str: ...

    @property
    def connections(self) -> Collection[Connection]: ...

    def on(self, event: Any, callback: Callable[..., Any]) -> None: ...

    async def broadcast(
        self,
        method: str,
        params: Any = None,
        *,
        where: Callable[[Connection], bool] | None = None,
        timeout: float = 5.0,
    ) -> int: ...

    async def close(self) -> None: ...


class _Uvicorn:
    """RpcApp under uvicorn, with the members of :class:`Served`."""

    def __init__(self, app: RpcApp, url: str) -> None:
        self.app = app
        self.url = url
        self.on = app.on
        self.broadcast = app.broadcast

    @property
    def connections(self) -> Collection[Connection]:
        return self.app.connections

    async def close(self) -> None:
        await self.app.close()


@asynccontextmanager
async def serve_on(transport: str, router: Router, **options: Any) -> AsyncIterator[Served]:
    """Serve ``router`` with ``Server`` options on ``transport``, on 127.0.0.1 port 0."""
    if transport in ("websockets", "picows"):
        name = cast(TransportName, transport)
        async with Server(router, host="127.0.0.1", port=0, transport=name, **options) as srv:
            yield srv
    elif transport == "uvicorn":
        server_options = {
            _UVICORN_OPTIONS[name]: options.pop(name)
            for name in list(options)
            if name in _UVICORN_OPTIONS
        }
        if "max_size" in options:  # uvicorn's own cap above ours, so that ours is what acts
            server_options["ws_max_size"] = 2 * (options["max_size"] or 2**30)
        app = RpcApp(router, **options)
        async with run_uvicorn(app, **server_options) as (_, url):
            yield _Uvicorn(app, url)
    else:
        raise ValueError(f"unknown server transport {transport!r}; known: {SERVER_TRANSPORTS}")
