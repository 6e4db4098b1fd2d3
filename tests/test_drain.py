"""Graceful drain on close: in-flight calls finish, new calls are refused, then 1001."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import UNIT
from tests.helpers.apps import Events
from tests.helpers.waiting import eventually
from wsrpc_typed import Router, Server, ShuttingDown, connect


async def test_close_drains_in_flight_calls_and_refuses_new_ones(
    router: Router, events: Events
) -> None:
    server = Server(router, port=0, drain_timeout=UNIT)
    await server.open()
    async with connect(server.url) as conn:
        slow = asyncio.ensure_future(conn.call("sleep", [UNIT / 10, "inflight"]))
        await eventually(lambda: "inflight" in events.started)
        closing = asyncio.ensure_future(server.close())
        await asyncio.sleep(UNIT / 100)
        with pytest.raises(ShuttingDown):
            await conn.call("add", [1, 2])
        assert await slow == "inflight"  # finished within the grace period
        await asyncio.wait_for(closing, UNIT)
    assert events.cancelled == []


async def test_grace_period_expiry_cancels_the_rest_and_closes_with_1001(
    router: Router, events: Events
) -> None:
    server = Server(router, port=0, drain_timeout=UNIT / 25)
    await server.open()
    async with ws_connect(server.url) as ws:
        async with connect(server.url) as conn:
            slow = asyncio.ensure_future(conn.call("sleep", [UNIT * 10, "stuck"]))
            await eventually(lambda: "stuck" in events.started)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await server.close()
            assert loop.time() - started < UNIT / 2
            with pytest.raises(ShuttingDown):  # cancelled at the grace, and told so
                await slow
        await asyncio.wait_for(ws.wait_closed(), UNIT)
        assert ws.close_code == 1001
    assert events.cancelled == ["stuck"]
