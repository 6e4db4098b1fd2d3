"""Shared fixtures: servers on 127.0.0.1 port 0 (each server transport), one timeout unit."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.helpers.apps import Events, build_router
from tests.helpers.redis import RedisServer
from tests.helpers.transports import SERVER_TRANSPORTS, Served, serve_on
from wsrpc_typed import Router, Server
from wsrpc_typed.transport import TransportName

#: One timeout unit in seconds; raise WSRPC_TEST_TIME_SCALE on slow machines.
UNIT = 5.0 * float(os.environ.get("WSRPC_TEST_TIME_SCALE", "1"))


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def router(events: Events) -> Router:
    return build_router(events)


#: The transports a ``Server`` runs on: the ``server`` fixture runs on each.
SERVER_LIBRARIES: tuple[TransportName, ...] = ("websockets", "picows")


@pytest.fixture(params=SERVER_LIBRARIES)
async def server(router: Router, request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    """The test router on a ``Server``, on each transport in turn."""
    async with Server(router, host="127.0.0.1", port=0, transport=request.param) as srv:
        yield srv


@pytest.fixture(params=SERVER_TRANSPORTS)
def server_transport(request: pytest.FixtureRequest) -> str:
    """Each server transport in turn: the matrix parameter."""
    transport: str = request.param
    return transport


@pytest.fixture(params=SERVER_LIBRARIES)
def socket_transport(request: pytest.FixtureRequest) -> str:
    """Each transport whose sockets are ours (``Server``'s), for the reliability cases of
    the socket itself: frames, handshakes, slow readers, keepalive. Under ASGI those are
    the ASGI server's; ``tests/asgi`` checks what RpcApp does with what it is given."""
    transport: str = request.param
    return transport


@pytest.fixture
async def served(router: Router, server_transport: str) -> AsyncIterator[Served]:
    """The test router served on each server transport in turn."""
    async with serve_on(server_transport, router) as srv:
        yield srv


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real Redis server for the session (tests keep apart by namespace)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()
