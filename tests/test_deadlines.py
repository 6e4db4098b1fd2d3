"""Cancellation and deadlines on the wire (JSON-RPC extensions), over a real socket."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import UNIT
from tests.helpers.apps import Events
from tests.helpers.transports import Served
from tests.helpers.waiting import eventually
from wsrpc_typed import CallTimeout, DeadlineExceeded, connect


@pytest.fixture
def server(served: Served) -> Served:
    """This module's tests run on each server transport (the matrix of tests/conftest.py)."""
    return served


async def test_cancelling_a_call_cancels_the_handler_within_a_second(
    server: Served, events: Events
) -> None:
    async with connect(server.url) as conn:
        task = asyncio.ensure_future(conn.call("sleep", [UNIT * 10, "c1"]))
        await eventually(lambda: "c1" in events.started, UNIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await eventually(lambda: "c1" in events.cancelled, 1.0) < 1.0
        assert await conn.call("add", [1, 1]) == 2


async def test_cancel_notification_stops_the_handler_and_nothing_is_sent(
    server: Served, events: Events
) -> None:
    async with ws_connect(server.url, subprotocols=["jsonrpc-2.0"]) as ws:  # type: ignore[list-item]
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 9, "method": "sleep", "params": [UNIT, "raw"]})
        )
        await eventually(lambda: "raw" in events.started, UNIT)
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "rpc.cancel", "params": {"id": 9}}))
        await eventually(lambda: "raw" in events.cancelled, 1.0)
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 10, "method": "add", "params": [1, 2]}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), UNIT))
        assert reply["id"] == 10  # nothing was sent for request 9


async def test_deadline_expiry_cancels_the_handler(server: Served, events: Events) -> None:
    async with connect(server.url) as conn:
        with pytest.raises(CallTimeout):
            await conn.call("sleep", [UNIT * 10, "d1"], timeout=UNIT / 25)
        assert await eventually(lambda: "d1" in events.cancelled, 1.0) < 1.0


async def test_deadline_travels_with_the_request(server: Served, events: Events) -> None:
    """A raw request with a timeout gets -32002 when its handler overruns it."""
    async with ws_connect(server.url, subprotocols=["jsonrpc-2.0"]) as ws:  # type: ignore[list-item]
        frame = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "sleep",
            "params": [UNIT, "d2"],
            "timeout": 0.05,
        }
        await ws.send(json.dumps(frame))
        reply = json.loads(await asyncio.wait_for(ws.recv(), UNIT))
        assert reply["error"]["code"] == -32002
        assert "d2" in events.cancelled


@pytest.mark.parametrize("timeout", [0, -1.5])
async def test_zero_or_negative_deadline_fails_at_once(
    server: Served, events: Events, timeout: float
) -> None:
    async with ws_connect(server.url, subprotocols=["jsonrpc-2.0"]) as ws:  # type: ignore[list-item]
        frame = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "sleep",
            "params": [0, "z"],
            "timeout": timeout,
        }
        await ws.send(json.dumps(frame))
        reply = json.loads(await asyncio.wait_for(ws.recv(), UNIT))
        assert reply["error"] == {"code": -32002, "message": "Deadline exceeded"}
    async with connect(server.url) as conn:
        with pytest.raises(CallTimeout):
            await conn.call("sleep", [0, "z"], timeout=timeout)
    assert "z" not in events.started  # the handler never ran


async def test_remaining_budget_is_visible_to_the_handler(server: Served) -> None:
    async with connect(server.url) as conn:
        remaining = await conn.call("budget", timeout=UNIT)
        assert UNIT * 0.5 < remaining <= UNIT
        assert await conn.call("budget", timeout=None) is None


def test_deadline_exceeded_is_a_standard_error() -> None:
    assert DeadlineExceeded.code == -32002
