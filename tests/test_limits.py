"""Limits: a client that stopped reading, oversized results, Host checks, oversized frames."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.exceptions import InvalidStatus

from tests.conftest import UNIT
from tests.helpers.waiting import eventually
from wsrpc_typed import ResponseTooLarge, Router, Server, connect


async def test_a_client_that_stopped_reading_is_dropped(router: Router) -> None:
    server = Server(router, port=0, send_timeout=UNIT / 10)
    async with server, connect(server.url) as healthy:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck = await ws_connect(server.url, sock=sock, max_queue=1, close_timeout=0.1)
        request = {"jsonrpc": "2.0", "method": "echo", "params": ["x" * 65536]}
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def flood() -> None:
            for i in range(2000):  # replies pile up: the client never reads them
                await stuck.send(json.dumps({**request, "id": i}))

        with pytest.raises(WsClosed):
            await flood()
        await eventually(lambda: len(server.connections) == 1, UNIT)
        assert loop.time() - started < UNIT / 10 + 3
        assert await healthy.call("add", [1, 2]) == 3  # nobody else noticed
        sock.close()


async def test_oversized_results_become_an_error(router: Router) -> None:
    server = Server(router, port=0, max_reply_size=1000)
    async with server, connect(server.url) as conn:
        with pytest.raises(ResponseTooLarge):
            await conn.call("echo", ["y" * 2000])
        assert await conn.call("echo", ["small"]) == "small"
        async with ws_connect(server.url, subprotocols=["jsonrpc-2.0"]) as ws:  # type: ignore[list-item]
            batch = [
                {"jsonrpc": "2.0", "id": 1, "method": "echo", "params": ["z" * 2000]},
                {"jsonrpc": "2.0", "id": 2, "method": "echo", "params": ["ok"]},
            ]
            await ws.send(json.dumps(batch))
            replies = {r["id"]: r for r in json.loads(await ws.recv())}
            assert replies[1]["error"]["code"] == -32005 and replies[2]["result"] == "ok"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [("127.0.0.1", True), ("localhost", True), ("[::1]", True), ("attacker.example", False)],
)
async def test_loopback_servers_accept_only_loopback_host_names(
    router: Router, host: str, allowed: bool
) -> None:
    async with Server(router, port=0) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        uri = f"ws://{host}:{server.port}/"
        if allowed:
            async with ws_connect(uri, sock=sock):
                pass
        else:
            with pytest.raises(InvalidStatus) as info:
                await ws_connect(uri, sock=sock)
            assert info.value.response.status_code == 403
        sock.close()


async def test_oversized_frames_close_with_1009_and_spare_others(router: Router) -> None:
    async with Server(router, port=0, max_size=2**16) as server, connect(server.url) as other:
        async with ws_connect(server.url, max_size=None) as ws:
            await ws.send("x" * (2**16 + 1))
            await asyncio.wait_for(ws.wait_closed(), UNIT)
            assert ws.close_code == 1009
        assert await other.call("add", [2, 2]) == 4
