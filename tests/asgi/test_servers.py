"""RpcApp under real ASGI servers on 127.0.0.1: uvicorn (with each of its WebSocket
implementations: websockets' sans-I/O, its deprecated one on websockets' legacy API, wsproto)
and hypercorn.

Dialects and subprotocol negotiation, refused handshakes (the denial-response
extension, and the close-before-accept fallback), our limits, a client that
stops reading, and uvicorn's keepalive eviction reaching the hub.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed as WsConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import UNIT
from tests.helpers.apps import Events, build_router
from tests.helpers.asgi_servers import ASGI_SERVERS, run_asgi_server, run_uvicorn
from tests.helpers.waiting import eventually
from tests.reliability.hostile_support import masked_frame, upgrade_request
from tests.reliability.limits_probes import StalledPeer, rss
from tests.test_transcripts_live import Wire
from wsrpc_typed import (
    ConnectionClosed,
    Handshake,
    HandshakeRejected,
    InvalidRequest,
    Rejected,
    ResponseTooLarge,
    Router,
    ServerBusy,
    connect,
)
from wsrpc_typed.adapters.asgi import Receive, Scope, Send
from wsrpc_typed.asgi import RpcApp
from wsrpc_typed.dialects.detect import SUBPROTOCOLS

MiB = 2**20

each_server = pytest.mark.parametrize("server", ASGI_SERVERS)

# uvicorn's --ws websockets runs on websockets' legacy API, deprecated by both.
pytestmark = [
    pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated"),
    pytest.mark.filterwarnings("ignore:remove second argument of ws_handler:DeprecationWarning"),
]


# -- dialects ---------------------------------------------------------------------


def _jsonrpc_call(n: int) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": n, "method": "add", "params": [n, 1]})


@each_server
async def test_every_dialect_negotiated_and_detected(server: str) -> None:
    """Each dialect by its subprotocol, and each without one (detected from the first frame).

    The ``headers`` listeners add to the accept's headers on the way.
    """
    app = RpcApp(build_router())
    paths: list[str] = []

    def add_header(headers: dict[str, str], scope: Any) -> None:
        paths.append(scope["path"])
        headers["X-Served-By"] = "wsrpc"

    app.on("headers", add_header)
    async with run_asgi_server(server, app) as url:
        for name in SUBPROTOCOLS:
            for offered in (True, False):
                subprotocols = [Subprotocol(name)] if offered else None
                async with ws_connect(url, subprotocols=subprotocols) as ws:
                    assert ws.subprotocol == (name if offered else None)
                    assert ws.response is not None
                    assert ws.response.headers["X-Served-By"] == "wsrpc"
                    if name == "jsonrpc-2.0":
                        await ws.send(_jsonrpc_call(41))
                        reply = json.loads(await asyncio.wait_for(ws.recv(), UNIT))
                        assert reply == {"jsonrpc": "2.0", "id": 41, "result": 42}
                        continue
                    wire = Wire({"dialect": name})
                    frame = wire.sentinel(41)
                    await ws.send(frame)
                    answer = await asyncio.wait_for(ws.recv(), UNIT)
                    assert type(answer) is type(frame), (name, offered)
                    reply = wire.decode(answer)
                    assert reply["id"] == "sentinel-41", (name, offered, reply)
                    assert wire.reply_values(reply) == [42], (name, offered, reply)
        assert paths == ["/"] * 2 * len(SUBPROTOCOLS)


@each_server
async def test_our_client_calls_through_it(server: str) -> None:
    events = Events()
    app = RpcApp(build_router(events))
    async with run_asgi_server(server, app) as url, connect(url) as conn:
        assert await conn.call("add", [2, 3]) == 5
        (served,) = app.connections
        assert served.transport.subprotocol == "jsonrpc-2.0"
        results = await asyncio.gather(*(conn.call("add", [i, i]) for i in range(200)))
        assert results == [2 * i for i in range(200)]
        blob = "é" * 300_000  # 600 KB of UTF-8 each way, under the 1 MiB default
        assert await conn.call("echo", [blob]) == blob


# -- refused handshakes -----------------------------------------------------------


def _refusing_app(events: Events) -> RpcApp:
    def authenticate(handshake: Handshake) -> str:
        if handshake.query.get("token") != ["good"]:
            raise Rejected(401, "a token, please")
        return "someone"

    return RpcApp(build_router(events), authenticate=authenticate)


def _without_denial_extension(app: RpcApp) -> Callable[[Scope, Receive, Send], Any]:
    """The app as a server without the denial-response extension would run it."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope = dict(scope, extensions={})
        await app(scope, receive, send)

    return wrapped


@each_server
async def test_refused_handshakes_get_their_status_and_body(server: str) -> None:
    events = Events()
    async with run_asgi_server(server, _refusing_app(events)) as url:
        with pytest.raises(HandshakeRejected) as info:
            await connect(url + "/?token=bad", timeout=UNIT)
        assert (info.value.status, info.value.body) == (401, "a token, please\n")
        with pytest.raises(HandshakeRejected) as info:
            await connect(url + "/?token=good", headers={"Origin": "https://evil.example"})
        assert (info.value.status, info.value.body) == (403, "Origin not allowed\n")
        async with connect(url + "/?token=good") as conn:
            assert await conn.call("add", [1, 1]) == 2
    assert events.started == []  # nothing ran for the refused ones


@each_server
async def test_a_host_not_allowed_gets_403(server: str) -> None:
    app = RpcApp(build_router(), allowed_hosts=["127.0.0.1"])
    async with run_asgi_server(server, app) as url:
        host, port = url.removeprefix("ws://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(upgrade_request("rebound.example"))
        response = b""
        async with asyncio.timeout(UNIT):  # until the body is in (or the server closes)
            while not response.endswith(b"allowed\n"):
                chunk = await reader.read(4096)
                if not chunk:
                    break
                response += chunk
        writer.close()
        assert response.startswith(b"HTTP/1.1 403"), response
        assert response.endswith(b"Host not allowed\n"), response
        async with connect(url) as conn:  # Host: 127.0.0.1:PORT
            assert await conn.call("add", [1, 1]) == 2


@each_server
async def test_without_the_extension_a_refusal_closes_before_accept(server: str) -> None:
    events = Events()
    async with run_asgi_server(server, _without_denial_extension(_refusing_app(events))) as url:
        with pytest.raises(HandshakeRejected) as info:
            await connect(url + "/?token=bad", timeout=UNIT)
        assert info.value.status == 403  # the server's answer to websocket.close (1008)
        async with connect(url + "/?token=good") as conn:
            assert await conn.call("add", [1, 1]) == 2


# -- limits -----------------------------------------------------------------------


@each_server
async def test_our_limits_hold(server: str) -> None:
    app = RpcApp(build_router(), max_size=10_000, max_batch=3, max_reply_size=1_000)
    async with run_asgi_server(server, app) as url:
        async with connect(url) as conn:
            with pytest.raises(ResponseTooLarge):
                await conn.call("echo", ["x" * 2_000])
            assert await conn.call("echo", ["x" * 500]) == "x" * 500
        async with ws_connect(url, subprotocols=[Subprotocol("jsonrpc-2.0")]) as ws:
            await ws.send(json.dumps([json.loads(_jsonrpc_call(i)) for i in range(4)]))
            reply = json.loads(await asyncio.wait_for(ws.recv(), UNIT))
            assert reply["error"]["code"] == InvalidRequest.code, reply
            # Ours, not the server's (16 MiB by default): a message over max_size closes 1009.
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": 1, "method": "echo", "params": ["y" * 20_000]})
            )
            with pytest.raises(WsConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), UNIT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        await eventually(lambda: not app.connections)


@each_server
async def test_calls_in_flight_are_capped_per_connection(server: str) -> None:
    events = Events()
    app = RpcApp(build_router(events), max_in_flight=3)
    async with run_asgi_server(server, app) as url, connect(url) as conn:
        calls = asyncio.gather(*(conn.call("sleep", [0.2, str(i)]) for i in range(10)))
        await eventually(lambda: len(events.started) == 3)
        (served,) = app.connections
        most = 0
        while not calls.done():
            most = max(most, served.in_flight)
            await asyncio.sleep(0.005)
        assert await calls == [str(i) for i in range(10)]
        assert most == 3


def _bulky_router() -> Router:
    router = Router()

    @router.method
    async def bulky(size: int) -> str:
        return "z" * size

    return router


@each_server
async def test_a_client_that_stops_reading_is_dropped_with_bounded_memory(server: str) -> None:
    """50,000 calls of 4 KB replies (200 MB unread) from a client that never reads."""
    send_timeout = UNIT / 10
    app = RpcApp(_bulky_router(), send_timeout=send_timeout)
    async with run_asgi_server(server, app) as url:
        stalled = StalledPeer(url)
        await stalled.open()
        flood = stalled.frames(
            json.dumps({"jsonrpc": "2.0", "id": i, "method": "bulky", "params": [4096]})
            for i in range(50_000)
        )
        await eventually(lambda: len(app.connections) == 1)
        (conn,) = app.connections
        loop = asyncio.get_running_loop()
        before = peak = rss()
        peak_backlog = 0
        started = loop.time()
        sending = asyncio.ensure_future(loop.sock_sendall(stalled.sock, flood))
        while not conn.closed and loop.time() - started < 2 * UNIT:
            peak = max(peak, rss())
            peak_backlog = max(peak_backlog, conn.transport.send_backlog() or 0)
            await asyncio.sleep(0.01)
        dropped_after = loop.time() - started
        assert conn.closed, "the stalled client was not dropped"
        assert dropped_after < send_timeout + UNIT / 2, dropped_after
        # What bounds it: replies of the handlers in flight (64 x 4 KB) plus write_limit.
        assert peak_backlog <= 64 * 4200 + 64 * 1024, peak_backlog
        assert peak - before < 32 * MiB, (peak - before) / MiB
        sending.cancel()
        stalled.sock.close()
        await eventually(lambda: not app.connections)


# -- keepalive (the server's) ------------------------------------------------------


@pytest.mark.parametrize("server", ["uvicorn-websockets", "uvicorn-wsproto"])
async def test_uvicorn_keepalive_drops_a_peer_that_does_not_answer_pings(server: str) -> None:
    ws = "websockets-sansio" if server == "uvicorn-websockets" else "wsproto"
    events = Events()
    app = RpcApp(build_router(events))
    closed: list[ConnectionClosed | None] = []
    app.on("close", lambda conn: closed.append(conn.ended))
    async with run_uvicorn(app, ws=ws, ws_ping_interval=0.2, ws_ping_timeout=0.3) as (_, url):
        silent = StalledPeer(url)  # never reads, so never answers a ping
        await silent.open()
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(
            silent.sock,
            silent.frames(
                [json.dumps({"jsonrpc": "2.0", "id": 1, "method": "sleep", "params": [30, "k"]})]
            ),
        )
        await eventually(lambda: events.started == ["k"])
        await eventually(lambda: closed, 2 * UNIT)
        assert events.cancelled == ["k"]  # its handler was cancelled with it
        silent.sock.close()


async def test_calls_in_flight_are_capped_per_app() -> None:
    events = Events()
    app = RpcApp(build_router(events), max_calls=2)
    async with (
        run_asgi_server("uvicorn-websockets", app) as url,
        connect(url) as one,
        connect(url) as two,
    ):
        first = asyncio.ensure_future(one.call("sleep", [0.3, "a"]))
        second = asyncio.ensure_future(two.call("sleep", [0.3, "b"]))
        await eventually(lambda: len(events.started) == 2)
        with pytest.raises(ServerBusy):
            await one.call("sleep", [0.3, "c"])
        assert [await first, await second] == ["a", "b"]
        assert await two.call("sleep", [0, "d"]) == "d"


@each_server
async def test_invalid_utf8_closes_that_connection_only(server: str) -> None:
    """RFC 6455 §8.1: the server fails the connection; RpcApp sees it end.

    uvicorn's websockets implementations send a close frame with 1007; the
    wsproto-based servers (uvicorn's wsproto, hypercorn) close the socket
    without one.
    """
    app = RpcApp(build_router())
    ended: list[ConnectionClosed | None] = []
    app.on("close", lambda conn: ended.append(conn.ended))
    async with run_asgi_server(server, app) as url, connect(url) as healthy:
        bad = StalledPeer(url)
        await bad.open()
        await eventually(lambda: len(app.connections) == 2)
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(bad.sock, masked_frame(b'{"x": "\xff\xfe"}'))
        data = b""
        async with asyncio.timeout(UNIT):
            while len(data) < 4 and (chunk := await loop.sock_recv(bad.sock, 4096)):
                data += chunk
        bad.sock.close()
        if server.startswith("uvicorn-websockets"):  # a close frame (opcode 8), code 1007
            assert data[:1] == b"\x88" and data[2:4] == (1007).to_bytes(2, "big"), data
        else:
            assert data == b"", data  # the socket closed, no frame
        await eventually(lambda: len(ended) == 1)
        assert await healthy.call("add", [1, 2]) == 3
