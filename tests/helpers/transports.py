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

from wsrpc_typed import Router, Server
from wsrpc_typed.connection import Connection
from wsrpc_typed.transport import TransportName

__all__ = ["SERVER_TRANSPORTS", "Served", "serve_on"]

#: Every server transport, in the order the matrix runs them.
SERVER_TRANSPORTS: tuple[str, ...] = ("websockets", "picows")


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


@asynccontextmanager
async def serve_on(transport: str, router: Router, **options: Any) -> AsyncIterator[Served]:
    """Serve ``router`` with ``Server`` options on ``transport``, on 127.0.0.1 port 0."""
    if transport in ("websockets", "picows"):
        name = cast(TransportName, transport)
        async with Server(router, host="127.0.0.1", port=0, transport=name, **options) as srv:
            yield srv
    else:
        raise ValueError(f"unknown server transport {transport!r}; known: {SERVER_TRANSPORTS}")
