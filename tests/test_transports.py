"""Every client transport against every server transport, through the whole stack.

The server side runs on the ``served`` matrix (``tests/helpers/transports.py``);
each test also runs with each client transport, so a client on one library
talks to a server on the other.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest
import trustme
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

from tests.conftest import UNIT
from tests.helpers.transports import Served, serve_on
from tests.helpers.waiting import eventually
from wsrpc_typed import (
    Client,
    ConnectionClosed,
    HandshakeRejected,
    InvalidParams,
    Rejected,
    Router,
    connect,
)
from wsrpc_typed.security import Handshake

CLIENT_TRANSPORTS = ("websockets", "picows")


@pytest.fixture(params=CLIENT_TRANSPORTS)
def client_transport(request: pytest.FixtureRequest) -> Any:
    """Each client transport in turn."""
    return request.param


def client_router(seen: list[str]) -> Router:
    router = Router()

    @router.method
    async def shout(text: str) -> str:
        return text.upper()

    @router.method
    async def news(headline: str) -> None:
        seen.append(headline)

    return router


async def test_calls_errors_streams_and_large_messages(
    served: Served, client_transport: Any
) -> None:
    async with connect(served.url, transport=client_transport, timeout=UNIT) as conn:
        assert conn.transport == client_transport
        assert await conn.call("add", {"a": 2, "b": 3}) == 5
        assert await conn.call("add", [40, 2], result_type=int) == 42
        with pytest.raises(InvalidParams):
            await conn.call("add", {"a": "x", "b": 1})
        results = await asyncio.gather(*(conn.call("add", [n, 1]) for n in range(300)))
        assert results == [n + 1 for n in range(300)]
        ticks = [tick async for tick in conn.stream("ticks", {"n": 5})]
        assert [tick["seq"] for tick in ticks] == list(range(5))
        # Larger than a socket buffer, and than picows' first read buffer, both ways.
        blob = "é" * 300_000
        assert await conn.call("echo", [blob]) == blob


async def test_the_server_calls_the_client_and_broadcasts(
    served: Served, client_transport: Any
) -> None:
    seen: list[str] = []
    router = client_router(seen)
    async with connect(served.url, router=router, transport=client_transport) as conn:
        assert await conn.call("ask_client", {"text": "hey"}, timeout=UNIT) == "client said HEY"
        await eventually(lambda: len(served.connections) == 1)
        assert await served.broadcast("news", {"headline": "extra"}) == 1
        await eventually(lambda: seen == ["extra"])


async def test_server_close_reaches_the_client_as_1001(
    router: Router, server_transport: str, client_transport: Any
) -> None:
    async with serve_on(server_transport, router) as server:
        client = await connect(server.url, transport=client_transport)
        assert await client.call("add", [1, 1]) == 2
        conn = client.connection
        await server.close()
        await asyncio.wait_for(conn.wait_closed(), UNIT)
        with pytest.raises(ConnectionClosed):
            await client.call("add", [1, 1])
        await client.close()
    assert conn.ended is not None
    assert (conn.ended.code, conn.ended.reason) == (1001, "server shutting down")


async def test_authenticate_refuses_with_401_and_admits_with_identity(
    router: Router, server_transport: str, client_transport: Any
) -> None:
    async def authenticate(handshake: Handshake) -> str:
        await asyncio.sleep(0)  # an async hook: picows' own handshake could not wait for it
        if handshake.bearer_token() != "s3cret":
            raise Rejected(401, "Bearer token required")
        return "alice"

    async with serve_on(server_transport, router, authenticate=authenticate) as server:
        with pytest.raises(HandshakeRejected) as caught:
            await connect(server.url, transport=client_transport)
        assert (caught.value.status, caught.value.body) == (401, "Bearer token required\n")
        headers = {"Authorization": "Bearer s3cret", "X-User": "alice"}
        async with connect(server.url, transport=client_transport, headers=headers) as conn:
            assert await conn.call("whoami") == "hi alice #1"
            assert await conn.call("budget") is not None
        refused = {"Origin": "https://evil.example"}
        with pytest.raises(HandshakeRejected) as caught:
            await connect(server.url, transport=client_transport, headers=refused)
        assert caught.value.status == 403


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


async def test_tls_both_ways(
    authority: trustme.CA, router: Router, socket_transport: str, client_transport: Any
) -> None:
    """(Under ASGI, TLS is the ASGI server's.)"""
    server_transport = socket_transport
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    authority.configure_trust(client_ctx)
    async with serve_on(server_transport, router, ssl=server_ctx) as server:
        assert server.url.startswith("wss://")
        async with connect(server.url, transport=client_transport, ssl=client_ctx) as conn:
            blob = "x" * 200_000
            assert await conn.call("echo", [blob]) == blob
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            await connect(server.url, transport=client_transport)


async def test_the_client_drops_a_server_that_never_answers_pings(
    client_transport: Any,
) -> None:
    release = asyncio.Event()

    async def deaf(ws: ServerConnection) -> None:
        ws.transport.pause_reading()  # reads nothing more: our pings go unanswered
        await release.wait()
        ws.transport.resume_reading()  # and sees that the client has gone

    async with ws_serve(deaf, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        interval = UNIT / 20
        client = Client(
            url,
            subprotocol="jsonrpc-2.0",
            ping_interval=interval,
            ping_timeout=interval,
            transport=client_transport,
        )
        await client.open()
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(client.connection.wait_closed(), UNIT)
        elapsed = asyncio.get_running_loop().time() - started
        release.set()
        await client.close()
    assert 2 * interval * 0.9 <= elapsed < 2 * interval + UNIT / 5, elapsed
