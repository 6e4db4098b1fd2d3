"""Server lifecycle, events and seed-style handlers over real sockets."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import UNIT
from tests.helpers.waiting import eventually
from wsrpc_typed import (
    AckTimeout,
    Connection,
    ConnectionClosed,
    InternalError,
    Message,
    Router,
    Server,
    ServerBusy,
    connect,
)


async def test_open_binds_port_and_close_frees_it(router: Router) -> None:
    server = Server(router, host="127.0.0.1", port=0)
    await server.open()
    port = server.port
    assert port > 0 and server.url == f"ws://127.0.0.1:{port}"
    async with connect(server.url) as conn:
        assert await conn.call("add", [1, 2]) == 3
        await server.close()
        with pytest.raises(ConnectionClosed):
            await conn.call("add", [1, 2])
    with socket.socket() as probe:  # the port is free again (TIME_WAIT aside, as servers bind)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()


async def test_close_disconnects_clients_with_1001(server: Server) -> None:
    async with ws_connect(server.url) as ws:
        await server.close()
        await asyncio.wait_for(ws.wait_closed(), UNIT)
        assert ws.close_code == 1001


async def test_open_raises_when_the_port_is_taken(server: Server, router: Router) -> None:
    with pytest.raises(OSError):
        await Server(router, port=server.port).open()


async def test_connection_close_and_headers_events(router: Router) -> None:
    seen: list[Any] = []
    server = Server(router, port=0)
    server.on("connection", lambda conn: seen.append(("connection", type(conn).__name__)))
    server.on("close", lambda conn: seen.append(("close", conn.closed)))
    server.on("headers", lambda headers, request: headers.__setitem__("X-Served-By", "wsrpc"))
    async with server:
        async with ws_connect(server.url) as ws:
            assert ws.response is not None
            assert ws.response.headers["X-Served-By"] == "wsrpc"
        for _ in range(100):
            if len(seen) == 2:
                break
            await asyncio.sleep(0.01)
    assert seen == [("connection", "Connection"), ("close", True)]


async def test_error_event_reports_handler_failures(server: Server) -> None:
    errors: list[BaseException] = []
    server.on("error", errors.append)
    async with connect(server.url) as conn:
        with pytest.raises(InternalError, match="Internal error"):
            await conn.call("fail")
    assert len(errors) == 1 and "secret internal detail" in str(errors[0])


async def test_async_connection_listener_runs_before_first_frame(router: Router) -> None:
    server = Server(router, port=0)

    async def on_connection(conn: Connection) -> None:
        await asyncio.sleep(0.01)
        conn.state["ready"] = True
        conn.on("ready", lambda m: m.reply(m.connection.state.get("ready")))

    server.on("connection", on_connection)
    async with server, connect(server.url) as conn:
        assert await conn.call("ready") is True


async def test_seed_style_handlers_on_jsonrpc(router: Router) -> None:
    """The seed README's example, in Python, spoken over JSON-RPC."""
    replied: list[tuple[Any, ...]] = []
    server = Server(router, port=0)

    async def compute_primes(message: Message) -> None:
        (n,) = message.args
        primes = [p for p in range(2, n) if all(p % d for d in range(2, int(p**0.5) + 1))]
        replied.append(await message.reply(*primes))  # resolves once sent (no ack in JSON-RPC)

    async def silent(message: Message) -> None:
        return None  # never replies: an empty reply is sent for it

    async def broken(message: Message) -> None:
        raise RuntimeError("do not leak me")

    def on_connection(rpc: Connection) -> None:
        rpc.on("computePrimes", compute_primes)
        rpc.on("silent", silent)
        rpc.on("broken", broken)

    server.on("connection", on_connection)
    async with server, connect(server.url) as conn:
        assert await conn.call("computePrimes", [20]) == [2, 3, 5, 7, 11, 13, 17, 19]
        assert await conn.call("silent") is None
        with pytest.raises(InternalError, match="Internal error") as info:
            await conn.call("broken")
        assert "leak" not in str(info.value)
    assert replied == [()]


async def test_message_reply_waits_for_v2_acknowledgement(router: Router) -> None:
    """On v2, ``await message.reply()`` resolves when the SYN_ACK arrives, and times out without."""
    outcomes: list[Any] = []
    server = Server(router, port=0, ack_timeout=UNIT / 10)

    async def greet(message: Message) -> None:
        try:
            outcomes.append(await message.reply("hello", 7))
        except AckTimeout as exc:
            outcomes.append(exc)

    server.on("connection", lambda rpc: rpc.on("greet", greet))
    async with server, ws_connect(server.url, subprotocols=["ws-promise-v2-json"]) as ws:  # type: ignore[list-item]
        syn = {"id": "a1", "instruction": {"args": [], "command": "greet", "type": 0}}
        await ws.send(json.dumps(syn))
        ack = json.loads(await ws.recv())
        assert ack == {
            "id": "a1",
            "instruction": {"args": ["hello", 7], "command": "greet", "type": 1},
        }
        await asyncio.sleep(UNIT / 50)
        assert outcomes == []  # still waiting for the acknowledgement
        synack = {"id": "a1", "instruction": {"args": ["thanks"], "command": "greet", "type": 2}}
        await ws.send(json.dumps(synack))
        for _ in range(100):
            if outcomes:
                break
            await asyncio.sleep(0.01)
        assert outcomes == [("thanks",)]
        # Without an acknowledgement, reply() raises AckTimeout.
        await ws.send(json.dumps({**syn, "id": "a2"}))
        await ws.recv()
        for _ in range(200):
            if len(outcomes) == 2:
                break
            await asyncio.sleep(0.01)
        assert isinstance(outcomes[1], AckTimeout)


async def test_max_in_flight_stops_reading(router: Router, events: Any) -> None:
    server = Server(router, port=0, max_in_flight=4)
    async with server, connect(server.url) as conn:
        calls = [asyncio.ensure_future(conn.call("sleep", [UNIT / 10, f"c{i}"])) for i in range(10)]
        await asyncio.sleep(UNIT / 50)
        (server_conn,) = server.connections
        assert server_conn.in_flight == 4 and len(events.started) == 4
        results = await asyncio.gather(*calls)
        assert results == [f"c{i}" for i in range(10)]


async def test_server_calls_client(router: Router) -> None:
    """Either side can call the other over one connection (JSON-RPC)."""
    client_router = Router()

    @client_router.method
    async def shout(text: str) -> str:
        return text.upper()

    server = Server(router, port=0)
    async with server, connect(server.url, router=client_router) as conn:
        await conn.call("add", [0, 0])
        (server_conn,) = server.connections
        assert await server_conn.call("shout", {"text": "hey"}, result_type=str) == "HEY"
        assert await server_conn.call("shout", ["positional"]) == "POSITIONAL"


async def test_server_wide_cap_answers_busy(router: Router, events: Any) -> None:
    server = Server(router, port=0, max_calls=3)
    async with server, connect(server.url) as one, connect(server.url) as two:
        slow = [asyncio.ensure_future(one.call("sleep", [UNIT / 5, f"s{i}"])) for i in range(2)]
        slow.append(asyncio.ensure_future(two.call("sleep", [UNIT / 5, "s2"])))
        await eventually(lambda: len(events.started) == 3)
        with pytest.raises(ServerBusy):
            await two.call("sleep", [0, "refused"])
        assert await two.call("add", [1, 2]) == 3  # inline handlers take no task
        assert await asyncio.gather(*slow) == ["s0", "s1", "s2"]
        assert await one.call("sleep", [0, "after"]) == "after"
    assert "refused" not in events.started
