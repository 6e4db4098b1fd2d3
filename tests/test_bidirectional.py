"""Both directions: the server calls the client, events, and broadcast."""

from __future__ import annotations

import asyncio
import socket
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import UNIT
from tests.helpers.apps import Price
from tests.helpers.transports import Served
from wsrpc_typed import Client, Connection, Router, Server, connect


@pytest.fixture
def server(served: Served) -> Served:
    """This module's tests run on each server transport (the matrix of tests/conftest.py)."""
    return served


class Arrival(NamedTuple):
    seq: int
    at: float


def client_router(log: list[Any]) -> Router:
    router = Router()

    @router.method
    async def shout(text: str) -> str:
        return text.upper()

    @router.method
    async def price(symbol: str, value: Decimal) -> None:
        log.append(Price(symbol=symbol, value=value))

    @router.method
    async def news(seq: int, blob: str) -> None:
        log.append(Arrival(seq, asyncio.get_running_loop().time()))

    return router


async def test_handler_calls_the_client_through_its_context(server: Served) -> None:
    async with connect(server.url, router=client_router([])) as conn:
        assert await conn.call("ask_client", {"text": "hey"}, timeout=UNIT) == "client said HEY"


async def test_typed_events_from_server_to_client(server: Served) -> None:
    log: list[object] = []
    async with connect(server.url, router=client_router(log)) as conn:
        await conn.call("announce", {"symbol": "ACME"})
        for _ in range(100):
            if log:
                break
            await asyncio.sleep(0.01)
    assert log == [Price(symbol="ACME", value=Decimal("1.50"))]


async def stuck_client(url: str) -> tuple[socket.socket, object]:
    """A client that stops reading: a tiny receive buffer and a one-frame queue."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = url.removeprefix("ws://").split(":")
    sock.connect((host, int(port)))
    ws = await ws_connect(
        url, sock=sock, max_queue=1, close_timeout=0.1, additional_headers={"X-Stuck": "1"}
    )
    return sock, ws


def shrink_send_buffer(conn: Connection) -> None:
    """Server side of the stuck client: a small kernel send buffer, so it fills quickly."""
    if conn.request_headers.get("x-stuck"):
        transport = conn.transport._transport  # type: ignore[attr-defined]
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)


async def test_broadcast_reaches_99_clients_when_one_never_reads(router: Router) -> None:
    server = Server(router, port=0)
    server.on("connection", shrink_send_buffer)
    async with server:
        logs: list[list[Arrival]] = [[] for _ in range(99)]
        clients: list[Client] = list(
            await asyncio.gather(*(connect(server.url, router=client_router(log)) for log in logs))
        )
        sock, stuck = await stuck_client(server.url)
        for _ in range(100):
            if len(server.connections) == 100:
                break
            await asyncio.sleep(0.01)
        assert len(server.connections) == 100
        loop = asyncio.get_running_loop()
        blob = "x" * 32768
        counts = []
        sent_at = []
        for seq in range(16):
            sent_at.append(loop.time())
            counts.append(
                await server.broadcast("news", {"seq": seq, "blob": blob}, timeout=UNIT / 10)
            )
        for _ in range(500):
            if all(len(log) == 16 for log in logs):
                break
            await asyncio.sleep(0.01)
        assert all([a.seq for a in log] == list(range(16)) for log in logs)
        # The stuck client was dropped; everyone else got every message.
        assert counts[0] == 100 and counts[-1] == 99
        assert len(server.connections) == 99
        # No message reached the readers later than one delivery timeout after it was sent.
        for log in logs:
            for arrival in log:
                assert arrival.at - sent_at[arrival.seq] < UNIT / 10 + 1.0
        for client in clients:
            await client.close()
        await stuck.close()  # type: ignore[attr-defined]
        sock.close()


async def test_broadcast_filter(router: Router) -> None:
    server = Server(router, port=0)
    async with server:
        log_a: list[object] = []
        log_b: list[object] = []
        async with (
            connect(server.url, router=client_router(log_a), headers={"X-User": "a"}) as a,
            connect(server.url, router=client_router(log_b), headers={"X-User": "b"}) as b,
        ):
            await a.call("whoami")
            await b.call("whoami")
            n = await server.broadcast(
                "price",
                Price(symbol="X", value=Decimal(2)),
                where=lambda c: c.request_headers.get("x-user") == "a",
            )
            assert n == 1
            await a.call("add", [0, 0])
            await b.call("add", [0, 0])
            for _ in range(100):
                if log_a:
                    break
                await asyncio.sleep(0.01)
    assert log_a == [Price(symbol="X", value=Decimal(2))] and log_b == []
