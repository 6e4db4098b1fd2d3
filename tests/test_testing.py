"""The public test kit: the in-memory transport pair, TestClient and the pytest plugin.

None of these tests opens a socket: that is the point of the kit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from examples.primes.client_generated import PrimesClient, PrimeStats
from examples.primes.client_generated import TooLarge as ClientTooLarge
from examples.primes.service import router as primes_router
from tests.conftest import UNIT
from tests.helpers.waiting import eventually
from wsrpc_typed import (
    Connection,
    ConnectionClosed,
    Context,
    Handshake,
    HandshakeRejected,
    InvalidParams,
    MethodNotFound,
    Rejected,
    Router,
    Server,
)
from wsrpc_typed.dialects.detect import SUBPROTOCOLS
from wsrpc_typed.dialects.events import Notification
from wsrpc_typed.hub import Hub, LocalBackplane, Where
from wsrpc_typed.testing import MemoryTransport, TestClient, memory_pair


def build_router() -> Router:
    router = Router()

    @router.method
    async def add(a: int, b: int) -> int:
        return a + b

    @router.method
    async def whoami(ctx: Context) -> Any:
        return ctx.identity

    @router.method
    async def count(upto: int) -> AsyncIterator[int]:
        for i in range(upto):
            yield i

    @router.method
    async def ask_back(ctx: Context, x: int) -> int:
        doubled: int = await ctx.connection.call("double", [x])
        return doubled + 1

    return router


class Recorder:
    """A transport handler that keeps what it gets."""

    def __init__(self) -> None:
        self.messages: list[bytes | str] = []
        self.lost: list[ConnectionClosed] = []

    def message_received(self, message: bytes | str, /) -> None:
        self.messages.append(message)

    def connection_lost(self, exc: ConnectionClosed, /) -> None:
        self.lost.append(exc)


# -- TestClient ------------------------------------------------------------------------


async def test_a_router_answers_in_memory_with_validation_and_errors() -> None:
    async with TestClient(build_router()) as client:
        assert await client.call("add", {"a": 1, "b": 2}) == 3
        assert await client.call("add", [2, 3], result_type=int) == 5
        with pytest.raises(InvalidParams):
            await client.call("add", {"a": "x", "b": 2})
        with pytest.raises(MethodNotFound):
            await client.call("nope")
        assert [i async for i in client.stream("count", {"upto": 4})] == [0, 1, 2, 3]


@pytest.mark.parametrize("subprotocol", SUBPROTOCOLS)
async def test_every_dialect_runs_over_the_memory_pair(subprotocol: str) -> None:
    async with TestClient(build_router(), subprotocol=subprotocol) as client:
        assert await client.call("add", [20, 22]) == 42
        (served,) = client.hub.connections
        assert served.dialect.name == client.connection.dialect.name == subprotocol


async def test_a_generated_client_wraps_a_test_client() -> None:
    async with TestClient(primes_router) as client:
        api = PrimesClient(client)
        assert await api.computePrimes(n=20) == [2, 3, 5, 7, 11, 13, 17, 19]
        stats = await api.stats(limit=10)
        assert isinstance(stats, PrimeStats) and stats.count == 4
        with pytest.raises(ClientTooLarge) as caught:
            await api.stats(limit=10**9)
        assert caught.value.data == {"maximum": 10_000_000}


async def test_the_server_can_call_the_test_client_back() -> None:
    peer = Router()

    @peer.method
    async def double(x: int) -> int:
        return 2 * x

    async with TestClient(build_router(), router=peer) as client:
        assert await client.call("ask_back", {"x": 20}) == 41


async def test_a_server_need_not_be_open_and_its_policy_applies() -> None:
    def authenticate(handshake: Handshake) -> dict[str, Any]:
        if handshake.bearer_token() != "sesame":
            raise Rejected(401, "a token, please")
        return {"user": "ali", "path": handshake.path, "q": handshake.query}

    server = Server(build_router(), authenticate=authenticate)
    with pytest.raises(HandshakeRejected) as caught:
        await TestClient(server).open()
    assert (caught.value.status, caught.value.body) == (401, "a token, please\n")
    headers = {"Authorization": "Bearer sesame"}
    async with TestClient(server, headers=headers, path="/rpc?room=1") as client:
        assert await client.call("whoami") == {"user": "ali", "path": "/rpc", "q": {"room": ["1"]}}
        assert len(server.connections) == 1
    await eventually(lambda: not server.connections)


async def test_closing_a_test_client_closes_its_own_hub() -> None:
    client = TestClient(build_router())
    async with client:
        conn = next(iter(client.hub.connections))
        assert client.hub.connection(conn.id) is conn
    assert not client.hub.connections
    assert conn.closed


# -- the hub ---------------------------------------------------------------------------


async def test_connections_get_distinct_ids_and_broadcast_goes_through_the_backplane() -> None:
    class CountingBackplane(LocalBackplane):
        def __init__(self) -> None:
            super().__init__()
            self.events: list[Notification] = []

        async def broadcast(self, event: Notification, where: Where | None, timeout: float) -> int:
            self.events.append(event)
            return await super().broadcast(event, where, timeout)

    backplane = CountingBackplane()
    hub = Hub(build_router(), backplane=backplane, ping_interval=None)
    heard: list[list[str]] = [[], [], []]

    def listener(log: list[str]) -> Router:
        peer = Router()

        @peer.method
        async def news(text: str) -> None:
            log.append(text)

        return peer

    clients = [await TestClient(hub, router=listener(log)).open() for log in heard]
    try:
        ids = {conn.id for conn in hub.connections}
        assert len(ids) == 3
        first = clients[0].connection
        # The client's connection has its own id; the server's is the hub's.
        server_side = [c for c in hub.connections if c.transport.peer is first.transport]  # type: ignore[attr-defined]
        assert len(server_side) == 1 and hub.connection(server_side[0].id) is server_side[0]
        assert await hub.broadcast("news", {"text": "hello"}) == 3
        target = server_side[0].id
        assert await hub.broadcast("news", {"text": "one"}, where=lambda c: c.id == target) == 1
        await eventually(lambda: [len(log) for log in heard] == [2, 1, 1])
        assert [e.method for e in backplane.events] == ["news", "news"]
    finally:
        for client in clients:
            await client.close()
        await hub.close()


async def test_rpc_discover_is_the_hubs_and_follows_the_router() -> None:
    router = build_router()
    async with TestClient(router) as client:
        document = await client.call("rpc.discover")
        assert "add" in [m["name"] for m in document["methods"]]

        @router.method
        async def later() -> None: ...

        document = await client.call("rpc.discover")
        assert "later" in [m["name"] for m in document["methods"]]
    assert router.get("rpc.discover") is None  # the router itself knows only its own


# -- the memory pair -------------------------------------------------------------------


async def test_messages_arrive_in_order_later_never_inside_send() -> None:
    left, right = memory_pair()
    got = Recorder()
    right.start(got)
    left.send(b"one", text=True)
    left.send(b"\x00two", text=False)
    assert got.messages == []  # not inside send
    await asyncio.sleep(0)
    assert got.messages == ["one", b"\x00two"]


async def test_messages_before_start_are_kept() -> None:
    left, right = memory_pair()
    left.send(b"early", text=True)
    await asyncio.sleep(0)
    got = Recorder()
    right.start(got)
    await asyncio.sleep(0)
    assert got.messages == ["early"]


async def test_a_paused_reader_makes_the_sender_wait() -> None:
    left, right = memory_pair(high_water=4)
    got = Recorder()
    right.start(got)
    right.pause_reading()
    futures = [left.send(b"m%d" % i, text=True) for i in range(6)]
    assert [f.done() for f in futures] == [True] * 4 + [False] * 2
    assert left.send_backlog() == 6
    await asyncio.sleep(0)
    assert got.messages == []
    right.resume_reading()
    await asyncio.wait_for(futures[-1], UNIT)
    assert got.messages == [f"m{i}" for i in range(6)]
    assert left.send_backlog() is None


async def test_close_delivers_what_was_sent_first_and_ends_both_once() -> None:
    left, right = memory_pair()
    got_left, got_right = Recorder(), Recorder()
    left.start(got_left)
    right.start(got_right)
    left.send(b"last words", text=True)
    await left.close(1001, "going away")
    await right.wait_closed()
    assert got_right.messages == ["last words"]
    for got in (got_left, got_right):
        assert [(e.code, e.reason, str(e)) for e in got.lost] == [
            (1001, "going away", "connection closed (1001: going away)")
        ]
    with pytest.raises(ConnectionClosed):
        left.send(b"late", text=True)
    left.abort()  # after the end: nothing more happens
    assert len(got_left.lost) == 1


async def test_abort_ends_both_at_once_with_1006() -> None:
    left, right = memory_pair()
    got = Recorder()
    right.start(got)
    left.send(b"never read", text=True)
    left.abort()
    await asyncio.sleep(0)
    assert got.messages == []
    assert [e.code for e in got.lost] == [1006]
    with pytest.raises(ConnectionClosed):
        right.ping()


async def test_a_connection_runs_over_a_pair_without_a_hub() -> None:
    left, right = memory_pair(subprotocol="jsonrpc-2.0")
    from wsrpc_typed.dialects.jsonrpc import JsonRpcDialect

    server = Connection(right, JsonRpcDialect(), build_router())
    client = Connection(left, JsonRpcDialect())
    server.start()
    client.start()
    assert await client.call("add", [1, 1]) == 2
    await client.close()
    await server.wait_closed()
    assert isinstance(left, MemoryTransport) and server.closed


# -- the pytest plugin -----------------------------------------------------------------


@pytest.fixture
def wsrpc_app() -> Router:
    return build_router()


async def test_the_plugins_fixture_is_a_connected_test_client(wsrpc_client: TestClient) -> None:
    assert isinstance(wsrpc_client, TestClient)
    assert await wsrpc_client.call("add", [2, 2]) == 4


def test_the_plugin_is_installed_with_the_package(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("wsrpc_typed")
