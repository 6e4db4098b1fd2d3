"""Streaming results over a real socket: items, end, errors, flow control, early exit."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tests.conftest import UNIT
from tests.helpers.apps import Events, Tick
from tests.helpers.transports import Served
from tests.helpers.waiting import eventually
from wsrpc_typed import (
    Backoff,
    Client,
    ConnectionClosed,
    InternalError,
    Router,
    RpcError,
    Server,
    connect,
)


async def test_stream_items_then_end(served: Served) -> None:
    async with connect(served.url) as conn:
        items = [tick async for tick in conn.stream("ticks", {"n": 5}, item_type=Tick)]
        assert items == [Tick(seq=i, label="t") for i in range(5)]
        untyped = [t async for t in conn.stream("ticks", {"n": 2, "label": "u"})]
        assert untyped == [{"seq": 0, "label": "u"}, {"seq": 1, "label": "u"}]
        empty = [t async for t in conn.stream("ticks", {"n": 0})]
        assert empty == []


async def test_error_in_the_middle_is_distinct_from_the_end(served: Served) -> None:
    async with connect(served.url) as conn:
        received: list[int] = []

        async def consume(method: str) -> None:
            async for i in conn.stream(
                method, [3] if method == "broken_stream" else None, item_type=int
            ):
                received.append(i)

        with pytest.raises(RpcError) as info:
            await consume("broken_stream")
        assert received == [0, 1, 2]
        assert info.value.code == 1001 and info.value.data == {"after": 3}
        received.clear()
        with pytest.raises(InternalError):  # an item that does not match the item type
            await consume("wrong_items")
        assert received == [1]


async def test_slow_consumer_bounds_the_producer(served: Served, events: Events) -> None:
    """10,000 items consumed slowly: produced - consumed never exceeds the window."""
    window = 8
    worst = 0
    async with connect(served.url) as conn:
        consumed = 0
        async for tick in conn.stream("ticks", {"n": 10_000}, item_type=Tick, window=window):
            assert tick.seq == consumed
            consumed += 1
            worst = max(worst, events.produced - consumed)
            if consumed % 500 == 0:
                await asyncio.sleep(0.02)  # a slow consumer: let the producer run ahead if it could
                worst = max(worst, events.produced - consumed)
        assert consumed == 10_000
    assert worst <= window, worst


async def test_producer_waits_for_credit(served: Served, events: Events) -> None:
    async with connect(served.url) as conn:
        items = conn.stream("ticks", {"n": 100, "label": "w"}, item_type=Tick, window=4)
        first = await anext(items)
        assert first.seq == 0
        await asyncio.sleep(UNIT / 25)  # the consumer pauses
        assert events.produced == 4  # the window, not 100
        await items.aclose()
    await eventually(lambda: "w" in events.cancelled)


async def test_leaving_the_loop_early_cancels_the_producer(served: Served, events: Events) -> None:
    async with connect(served.url) as conn:
        loop = asyncio.get_running_loop()
        async for tick in conn.stream("ticks", {"n": 1000, "label": "early", "delay": 0.01}):
            if tick["seq"] == 2:
                left = loop.time()
                break
        await eventually(lambda: "early" in events.cancelled, timeout=1.0)
        assert loop.time() - left < 1.0
        assert await conn.call("add", [1, 2]) == 3  # the connection is fine


async def test_cancelling_the_consuming_task_cancels_the_producer(
    served: Served, events: Events
) -> None:
    async with connect(served.url) as conn:

        async def consume() -> None:
            async for _ in conn.stream("ticks", {"n": 1000, "label": "task", "delay": 0.01}):
                pass

        task = asyncio.ensure_future(consume())
        await eventually(lambda: events.produced >= 3)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await eventually(lambda: "task" in events.cancelled, timeout=1.0)


async def test_streaming_methods_must_be_called_as_streams(served: Served, events: Events) -> None:
    async with connect(served.url) as conn:
        with pytest.raises(RpcError) as info:
            await conn.call("ticks", {"n": 1})
        assert info.value.code == -32600 and "call it as a stream" in info.value.message
    assert events.produced == 0


async def test_reconnect_resumes_streams_through_the_hook(router: Router, events: Events) -> None:
    """With auto-reconnect, the stream fails on the drop and the hook re-opens it."""
    server = Server(router, port=0)
    await server.open()
    port = server.port
    reconnected = asyncio.Event()
    backoff = Backoff(initial=0.02, factor=2, maximum=0.2)

    async def on_reconnect(client: Client) -> None:
        reconnected.set()

    async with connect(server.url, reconnect=backoff, on_reconnect=on_reconnect) as conn:
        got: list[object] = []

        async def consume_until_the_server_stops() -> None:
            async for tick in conn.stream("ticks", {"n": 1000, "delay": 0.01}):
                got.append(tick)
                if len(got) == 3:  # the server goes away: its sockets drop
                    for server_side in server.connections:
                        server_side.transport.abort()
                    await server.close(drain_timeout=0)

        in_flight = asyncio.ensure_future(conn.call("sleep", [UNIT * 4, "once"]))
        with pytest.raises(ConnectionClosed):
            await consume_until_the_server_stops()
        with pytest.raises(ConnectionClosed):
            await in_flight  # never re-sent on its own
        server = Server(router, port=port)
        await server.open()
        try:
            await asyncio.wait_for(reconnected.wait(), UNIT)
            resumed = [t async for t in conn.stream("ticks", {"n": 2, "label": "again"})]
            assert [t["label"] for t in resumed] == ["again", "again"]
        finally:
            await server.close()
    assert events.started.count("once") == 1
