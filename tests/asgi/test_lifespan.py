"""Shutdown under ASGI servers: RpcApp drains like ``Server.close()`` when it is told first.

Draining means: new calls get ShuttingDown and never run, calls in flight
finish within the grace, then every connection closes with 1001.

Neither server sends the lifespan shutdown while WebSockets are open: on
SIGTERM uvicorn closes every WebSocket with 1012 at once, and hypercorn
serves them on for its ``graceful_timeout``, then cancels them (1011); only
then comes the lifespan shutdown. So draining takes a server run from code
that drains first: a ``uvicorn.Server`` whose ``shutdown`` awaits
``rpc.close()``, or a hypercorn ``shutdown_trigger`` that does (the README's
recipes, tested here). The stock behaviour is tested too, as documented, and
RpcApp's own lifespan handler drains when the shutdown event comes while
WebSockets are open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from tests.conftest import UNIT
from tests.helpers.apps import Events, build_router
from tests.helpers.asgi_servers import run_hypercorn, run_uvicorn
from tests.helpers.waiting import eventually
from wsrpc_typed import Client, ConnectionClosed, HandshakeRejected, ShuttingDown, connect
from wsrpc_typed.asgi import RpcApp


class DrainingServer(uvicorn.Server):
    """uvicorn, draining RpcApp before uvicorn closes the WebSockets (the README's recipe)."""

    rpc: RpcApp

    async def shutdown(self, sockets: Any = None) -> None:
        await self.rpc.close()
        await super().shutdown(sockets)


async def _refused_from_now_on(client: Client) -> None:
    """Call until a call is refused with ShuttingDown (each answered at once)."""
    while True:
        try:
            assert await client.call("add", [1, 1], timeout=UNIT) == 2
        except ShuttingDown:
            return
        await asyncio.sleep(0.01)


async def _drains(
    rpc: RpcApp, events: Events, url: str, shut_down: Callable[[], Awaitable[None] | None]
) -> None:
    """Start a long call, shut down, and check the drain (see the module docstring)."""
    ended: list[ConnectionClosed | None] = []
    rpc.on("close", lambda conn: ended.append(conn.ended))
    async with connect(url, timeout=4 * UNIT) as client:
        conn = client.connection
        long = asyncio.ensure_future(client.call("sleep", [1.5, "long"]))
        await eventually(lambda: events.started == ["long"])
        outcome = shut_down()
        if outcome is not None:
            await outcome
        await asyncio.wait_for(_refused_from_now_on(client), 2 * UNIT)
        assert not long.done()
        assert await long == "long"  # finished within the grace
        await eventually(lambda: ended, 2 * UNIT)
        await eventually(lambda: conn.closed)
        closed = conn.ended
        assert closed is not None and closed.code == 1001, closed
    assert ended[0] is not None and ended[0].code == 1001
    assert events.started.count("long") == 1 and events.cancelled == []


async def test_hypercorn_drains_with_a_shutdown_trigger_that_drains_first() -> None:
    events = Events()
    rpc = RpcApp(build_router(events), drain_timeout=2 * UNIT)
    app = FastAPI(lifespan=rpc.lifespan)
    app.mount("/rpc", rpc)
    signal = asyncio.Event()  # stands for SIGTERM

    async def shutdown_trigger() -> None:
        await signal.wait()
        await rpc.close()

    async with run_hypercorn(app, shutdown_trigger=shutdown_trigger) as url:
        await _drains(rpc, events, url + "/rpc/", signal.set)


async def test_stock_hypercorn_serves_on_for_its_grace_then_cancels() -> None:
    events = Events()
    rpc = RpcApp(build_router(events))
    stop = asyncio.Event()
    async with run_hypercorn(rpc, stop=stop, graceful_timeout=0.5) as url, connect(url) as client:
        conn = client.connection
        long = asyncio.ensure_future(client.call("sleep", [30, "long"]))
        await eventually(lambda: events.started == ["long"])
        stop.set()
        assert await client.call("add", [1, 1]) == 2  # not refused: nothing told the app
        await eventually(lambda: conn.closed, 2 * UNIT)
        ended = conn.ended
        assert ended is not None and ended.code == 1011, ended
        with contextlib.suppress(ConnectionClosed):
            await long
        await eventually(lambda: events.cancelled == ["long"])


async def test_uvicorn_drains_with_a_server_that_drains_first() -> None:
    events = Events()
    rpc = RpcApp(build_router(events), drain_timeout=2 * UNIT)

    def server(config: uvicorn.Config) -> uvicorn.Server:
        draining = DrainingServer(config)
        draining.rpc = rpc
        return draining

    async with run_uvicorn(rpc, server_class=server) as (uvicorn_server, url):

        def shut_down() -> None:
            uvicorn_server.should_exit = True

        await _drains(rpc, events, url, shut_down)


async def test_while_draining_new_handshakes_get_503() -> None:
    events = Events()
    rpc = RpcApp(build_router(events), drain_timeout=2 * UNIT)
    async with run_uvicorn(rpc) as (_, url), connect(url) as client:
        long = asyncio.ensure_future(client.call("sleep", [1.0, "long"]))
        await eventually(lambda: events.started == ["long"])
        closing = asyncio.ensure_future(rpc.close())
        with pytest.raises(HandshakeRejected) as info:
            await connect(url, timeout=UNIT)
        assert (info.value.status, info.value.body) == (503, "Server shutting down\n")
        assert await long == "long"
        await asyncio.wait_for(closing, 2 * UNIT)


async def test_stock_uvicorn_closes_with_1012_and_cancels_handlers() -> None:
    """What plain ``uvicorn app:app`` does on SIGTERM: the limitation the docs describe."""
    events = Events()
    rpc = RpcApp(build_router(events))
    async with run_uvicorn(rpc) as (uvicorn_server, url), connect(url) as client:
        conn = client.connection
        long = asyncio.ensure_future(client.call("sleep", [30, "long"]))
        await eventually(lambda: events.started == ["long"])
        uvicorn_server.should_exit = True
        await eventually(lambda: conn.closed, 2 * UNIT)
        ended = conn.ended
        assert ended is not None and ended.code == 1012, ended
        with contextlib.suppress(ConnectionClosed):
            await long
        await eventually(lambda: events.cancelled == ["long"])


async def test_the_lifespan_shutdown_event_drains() -> None:
    """RpcApp's own lifespan protocol, for a server that sends the shutdown while
    WebSockets are open: here uvicorn serves them, and the test plays the lifespan."""
    events = Events()
    rpc = RpcApp(build_router(events), drain_timeout=2 * UNIT)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: list[str] = []

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: Any) -> None:
        outbox.append(message["type"])

    lifespan = asyncio.ensure_future(rpc({"type": "lifespan"}, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    await eventually(lambda: outbox == ["lifespan.startup.complete"])
    async with run_uvicorn(rpc, lifespan="off") as (_, url):

        async def shut_down() -> None:
            await inbox.put({"type": "lifespan.shutdown"})

        await _drains(rpc, events, url, shut_down)
        await asyncio.wait_for(lifespan, UNIT)
    assert outbox == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
