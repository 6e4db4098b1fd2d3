"""The Python client against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import random
import uuid
from typing import Any, assert_type

import pytest

from tests.conftest import UNIT
from tests.helpers.apps import Events, Point
from tests.helpers.waiting import eventually
from wsrpc_typed import (
    Backoff,
    CallTimeout,
    ConnectionClosed,
    InternalError,
    InvalidParams,
    MethodNotFound,
    RpcError,
    Server,
    connect,
)
from wsrpc_typed.limits import CallWindow


async def test_call_named_positional_and_typed(server: Server) -> None:
    async with connect(server.url) as conn:
        assert await conn.call("add", {"a": 1, "b": 2}) == 3
        assert await conn.call("add", [1, 2]) == 3
        typed = await conn.call("add", {"a": 20, "b": 22}, result_type=int)
        assert_type(typed, int)
        assert typed == 42
        point = await conn.call("make_point", {"x": 1, "y": 2.5}, result_type=Point)
        assert_type(point, Point)
        assert point == Point(x=1, y=2.5)
        primes = await conn.call("computePrimes", [30], result_type=list[int])
        assert primes == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]


async def test_awaiting_connect_without_context_manager(server: Server) -> None:
    conn = await connect(server.url)
    try:
        assert await conn.call("add", [2, 3]) == 5
    finally:
        await conn.close()
    await conn.close()  # idempotent


async def test_every_pydantic_type_round_trips(server: Server) -> None:
    ident = uuid.uuid4()
    params: dict[str, Any] = {
        "point": {"x": 1, "y": 2},
        "tree": {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]},
        "pet": {"kind": "dog"},
        "span": {"start": 3, "end": 10},
        "labels": {"name": "n", "tags": ["a"]},
        "color": "green",
        "mode": "fast",
        "when": "2026-11-28T10:00:00+00:00",
        "day": "2026-11-28",
        "ident": str(ident),
        "price": "1.25",
        "blob": "AP8=",
        "pair": [1, "x"],
        "unique": [3, 1, 3],
        "mapping": {"a": 1, "b": 2},
    }
    async with connect(server.url) as conn:
        result = await conn.call("shapes", params)
        assert result == {
            "point": {"x": 1.0, "y": 2.0},
            "depth": 3,
            "pet": "Dog",
            "span": 7,
            "labels": "n",
            "color": "green",
            "mode": "fast",
            "when": dt.datetime(2026, 11, 28, 10, tzinfo=dt.UTC).isoformat(),
            "day": "2026-11-28",
            "ident": str(ident),
            "price": str(decimal.Decimal("2.50")),
            "blob": "00ff",
            "pair": [1, "x"],
            "unique": [1, 3],
            "mapping": 3,
            "maybe": None,
            "either": 0,
        }
        with pytest.raises(InvalidParams) as info:
            await conn.call("shapes", {**params, "pet": {"kind": "fish"}, "mode": "medium"})
        locs = {tuple(e["loc"]) for e in info.value.data}
        assert ("pet",) in locs and ("mode",) in locs


async def test_errors_map_to_exception_classes(server: Server) -> None:
    async with connect(server.url) as conn:
        with pytest.raises(MethodNotFound):
            await conn.call("nope")
        with pytest.raises(InvalidParams) as invalid:
            await conn.call("add", {"a": 1})
        assert invalid.value.data == [{"loc": ["b"], "msg": "Field required", "type": "missing"}]
        with pytest.raises(InternalError) as internal:
            await conn.call("fail")
        assert "secret" not in str(internal.value)
        with pytest.raises(RpcError) as app:
            await conn.call("withdraw", {"amount": "5"})
        assert app.value.code == 1001 and app.value.data["balance"] == "3.50"
        assert await conn.call("add", [1, 1]) == 2  # the connection is still fine


async def test_notify(server: Server, events: Events) -> None:
    async with connect(server.url) as conn:
        await conn.notify("record", {"item": "n1"})
        await conn.notify("record", ["n2"])
        await conn.call("add", [0, 0])
        for _ in range(50):
            if len(events.notified) == 2:
                break
            await asyncio.sleep(0.01)
    assert events.notified == ["n1", "n2"]


async def test_per_call_and_default_timeouts(server: Server) -> None:
    async with connect(server.url, timeout=UNIT / 25) as conn:
        with pytest.raises(CallTimeout):
            await conn.call("sleep", [UNIT, "t1"])
        with pytest.raises(TimeoutError):  # CallTimeout is a TimeoutError
            await conn.call("sleep", [UNIT, "t2"], timeout=UNIT / 50)
        assert await conn.call("sleep", [UNIT / 50, "ok"], timeout=UNIT) == "ok"


async def test_pending_calls_fail_promptly_when_the_socket_drops(router: Any) -> None:
    server = Server(router, port=0)
    await server.open()
    async with connect(server.url) as conn:
        calls = [asyncio.ensure_future(conn.call("sleep", [UNIT * 4, f"p{i}"])) for i in range(5)]
        await asyncio.sleep(UNIT / 50)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for server_side in server.connections:
            server_side.transport.abort()  # the socket drops: no close frame, no reply
        await server.close(drain_timeout=0)
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(r, ConnectionClosed) for r in results), results
        assert loop.time() - started < UNIT
        with pytest.raises(ConnectionClosed):
            await conn.call("add", [1, 2])


async def test_disconnect_cancels_running_handlers(server: Server, events: Events) -> None:
    async with connect(server.url) as conn:
        task = asyncio.ensure_future(conn.call("sleep", [UNIT * 4, "doomed"]))
        for _ in range(100):
            if "doomed" in events.started:
                break
            await asyncio.sleep(0.01)
    with pytest.raises(ConnectionClosed):
        await task
    for _ in range(100):
        if "doomed" in events.cancelled:
            break
        await asyncio.sleep(0.01)
    assert events.cancelled == ["doomed"]


async def test_auto_reconnect_with_backoff(router: Any) -> None:
    server = Server(router, port=0)
    await server.open()
    port = server.port
    backoff = Backoff(initial=0.02, factor=2, maximum=0.2)
    async with connect(server.url, reconnect=backoff) as conn:
        assert await conn.call("add", [1, 2]) == 3
        await server.close()
        server = Server(router, port=port)
        await server.open()
        try:
            # Waits for the reconnection, then succeeds.
            assert await conn.call("add", [2, 3], timeout=UNIT) == 5
            assert conn.reconnects == 1
        finally:
            await server.close()


def test_backoff_is_exponential_with_jitter() -> None:
    backoff = Backoff(initial=1, factor=2, maximum=10)
    for attempt, cap in [(0, 1), (1, 2), (2, 4), (3, 8), (4, 10), (9, 10)]:
        delays = {backoff.delay(attempt) for _ in range(50)}
        assert all(cap / 2 <= d <= cap for d in delays)
        assert len(delays) > 1  # jittered


async def test_context_headers_and_state(server: Server) -> None:
    async with connect(server.url, headers={"X-User": "ada"}) as conn:
        assert await conn.call("whoami") == "hi ada #1"
        assert await conn.call("whoami", {"greeting": "hey"}) == "hey ada #2"
    async with connect(server.url) as other:
        assert await other.call("whoami") == "hi ? #1"  # state is per connection


async def test_concurrent_calls_on_one_connection(server: Server) -> None:
    async with connect(server.url) as conn:
        results = await asyncio.gather(*(conn.call("add", [i, i]) for i in range(200)))
        assert results == [2 * i for i in range(200)]


def test_backoff_jitter_ignores_the_global_random_seed() -> None:
    backoff = Backoff(initial=1, factor=2, maximum=10)
    delays = set()
    for _ in range(20):
        random.seed(1234)  # an application or a test tool seeding the global generator
        delays.add(backoff.delay(2))
    assert len(delays) > 1


async def test_max_calls_out_keeps_calls_back_in_order() -> None:
    from wsrpc_typed import Router

    router = Router()
    running: list[int] = []
    peak = 0
    release = asyncio.Event()

    @router.method
    async def hold(n: int) -> int:
        nonlocal peak
        running.append(n)
        peak = max(peak, len(running))
        await release.wait()
        running.remove(n)
        return n

    async with Server(router, port=0) as srv, connect(srv.url, max_calls_out=2) as conn:
        calls = [asyncio.ensure_future(conn.call("hold", [n])) for n in range(6)]
        await eventually(lambda: len(running) == 2)
        # A call waiting its turn times out on its own budget, and one cancelled while
        # waiting gives up its turn: neither takes a place from the others.
        with pytest.raises(CallTimeout):
            await conn.call("hold", [98], timeout=0.2)
        waiting = asyncio.ensure_future(conn.call("hold", [99]))
        await asyncio.sleep(0.05)
        waiting.cancel()
        assert sorted(running) == [0, 1]  # the server saw only the first two
        release.set()
        assert await asyncio.wait_for(asyncio.gather(*calls), UNIT) == list(range(6))
        assert peak == 2
        assert await conn.call("hold", [7]) == 7  # every place came back


async def test_call_window_hands_places_over_first_come_first_served() -> None:
    window = CallWindow(1)
    assert window.take()
    assert not window.take()
    order: list[int] = []

    async def waiter(n: int) -> None:
        await window.wait()
        order.append(n)

    tasks = [asyncio.ensure_future(waiter(n)) for n in range(4)]
    await asyncio.sleep(0)
    window.release()  # handed to waiter 0, not back to the pool
    assert not window.take()
    await asyncio.sleep(0)
    assert order == [0]
    tasks[1].cancel()  # cancelled while waiting: leaves the queue
    window.release()  # handed to waiter 2...
    tasks[2].cancel()  # ...which is cancelled before it runs: it passes the place on
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert order == [0, 3]
    window.release()
    assert window.take()  # nobody waits: the place went back to the pool
    assert tasks[1].cancelled() and tasks[2].cancelled()


async def test_keepalive_drops_a_server_that_stopped_answering() -> None:
    from websockets.asyncio.server import ServerConnection, serve

    frozen = asyncio.Event()

    async def frozen_server(ws: ServerConnection) -> None:
        ws.transport.pause_reading()  # reads nothing more: no pong ever comes back
        frozen.set()
        await ws.wait_closed()

    async with serve(frozen_server, "127.0.0.1", 0, close_timeout=0.1) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        lively = await connect(url, ping_interval=UNIT / 50, ping_timeout=UNIT / 50)
        silent = await connect(url, ping_interval=None)
        await frozen.wait()
        conn = lively.connection
        await eventually(lambda: conn.closed, UNIT)
        assert conn.ended is not None and conn.ended.code == 1006
        assert not silent.connection.closed  # without keepalive nobody notices
        silent.connection.transport.abort()  # (a closing handshake would wait for nothing)
        await silent.close()
        await lively.close()
