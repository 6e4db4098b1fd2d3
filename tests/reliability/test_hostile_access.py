"""Cases 11-13: who gets in, and what they reach (research/reliability.md section 7).

11 abusive opening handshakes (huge or many headers, long URLs, wrong method or
version, slow and silent sockets) while a legitimate client works; 12 the
Origin and Host policy (Cross-Site WebSocket Hijacking, DNS rebinding); 13
dispatch: only registered methods are reachable, whatever the name, and params
never bind to anything but declared parameters.

Handshakes are written by hand on raw TCP, so nothing a client library checks
gets in the way. A refused handshake carries a WebSocket frame calling a
counting handler right behind it: were the server to accept the handshake
anyway, the call would run, so a counter that stays at 0 proves the refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import selectors
import socket
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import UNIT
from tests.helpers.transports import Served, serve_on
from tests.reliability.hostile_support import (
    SCALE,
    exchange,
    masked_frame,
    open_jsonrpc,
    strict_loads,
    upgrade_request,
)
from tests.reliability.limits_probes import LogWatch
from wsrpc_typed import Context, Router, Server, connect

COUNT_CALL = masked_frame(b'{"jsonrpc": "2.0", "id": 1, "method": "count"}')


class Tally:
    """Handler calls and RPC connections a server saw."""

    def __init__(self) -> None:
        self.calls = 0
        self.connections = 0


def counting_router(tally: Tally) -> Router:
    router = Router()

    @router.method
    async def count(ctx: Context, label: str = "") -> int:
        tally.calls += 1
        return tally.calls

    @router.method(name="public")
    async def _private_impl() -> str:
        tally.calls += 1
        return "public"

    return router


@contextlib.asynccontextmanager
async def counting_server(
    tally: Tally, transport: str = "websockets", **options: Any
) -> AsyncIterator[Served]:
    """The counting router served on ``transport``; ``tally.connections`` counts connections."""

    def connected(conn: object) -> None:
        tally.connections += 1

    async with serve_on(transport, counting_router(tally), **options) as server:
        server.on("connection", connected)
        yield server


def port_of(server: Served) -> int:
    port = urlsplit(server.url).port
    assert port is not None
    return port


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One unmasked (server-to-client) frame's payload."""
    _, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    elif size == 127:
        size = int.from_bytes(await reader.readexactly(8), "big")
    return await reader.readexactly(size)


async def handshake(port: int, request: bytes, then: bytes = b"") -> tuple[int, Any]:
    """Send a handshake (and ``then``, at once); return the status and the reply to ``then``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request + then)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), UNIT)
        status = int(head.split(b" ", 2)[1])
        if status == 101 and then:
            return status, strict_loads(await asyncio.wait_for(read_frame(reader), UNIT))
        return status, None
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


# -- case 11: handshake abuse ------------------------------------------------------------------

OPEN_TIMEOUT = 2.0


async def closed_after(reader: asyncio.StreamReader, started: float) -> float:
    """Seconds from ``started`` until the server closes the socket (all it sent is dropped)."""
    with contextlib.suppress(ConnectionError):
        while await reader.read(4096):
            pass
    return asyncio.get_running_loop().time() - started


def open_silent(port: int, count: int) -> list[tuple[socket.socket, float]]:
    """Connect ``count`` sockets that will never send a byte; note when each connected.

    Blocking connects from a worker thread: the attacker is not this event loop,
    which also serves, so the server accepts while the sockets keep coming.
    """
    opened = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        opened.append((sock, time.monotonic()))
    return opened


def until_closed(opened: list[tuple[socket.socket, float]], timeout: float) -> list[float]:
    """Seconds each socket stayed open until the server closed it (those closed in time)."""
    selector = selectors.DefaultSelector()
    for sock, started in opened:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, (sock, started))
    lifetimes: list[float] = []
    deadline = time.monotonic() + timeout
    while len(lifetimes) < len(opened) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.05):
            sock, started = key.data
            try:
                data = sock.recv(4096)
            except ConnectionError:
                data = b""
            if not data:
                lifetimes.append(time.monotonic() - started)
                selector.unregister(sock)
    for sock, _ in opened:
        sock.close()
    selector.close()
    return lifetimes


async def slowloris(port: int, request: bytes) -> float:
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = loop.time()

    async def trickle() -> None:
        for i in range(len(request)):
            writer.write(request[i : i + 1])
            await asyncio.sleep(1.0)  # the attack: a byte a second

    dripping = asyncio.create_task(trickle())
    try:
        return await closed_after(reader, started)
    finally:
        dripping.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await dripping
        writer.close()


async def test_11_handshake_abuse(socket_transport: str) -> None:
    tally = Tally()
    loop = asyncio.get_running_loop()
    with LogWatch() as log:
        async with counting_server(tally, socket_transport, open_timeout=OPEN_TIMEOUT) as server:
            port = port_of(server)
            host = f"127.0.0.1:{port}"
            opened = await asyncio.to_thread(open_silent, port, 500)
            silent = asyncio.ensure_future(
                asyncio.to_thread(until_closed, opened, OPEN_TIMEOUT + 2 * UNIT)
            )
            slow = asyncio.create_task(slowloris(port, upgrade_request(host)))
            abusive = {
                "256 headers": upgrade_request(host, extra=[(f"X-H{i}", "v") for i in range(256)]),
                "10 KiB header": upgrade_request(host, extra=[("X-Big", "a" * 10240)]),
                "10 KiB URL": upgrade_request(host, target="/" + "a" * 10240),
                "HTTP/1.0": upgrade_request(host, version="HTTP/1.0"),
                "POST": upgrade_request(host, method="POST"),
            }
            statuses = dict(
                zip(
                    abusive,
                    await asyncio.gather(
                        *(handshake(port, request, COUNT_CALL) for request in abusive.values())
                    ),
                    strict=True,
                )
            )
            # While 500 sockets and a slow one hold handshakes open, a client gets through.
            started = loop.time()
            async with connect(server.url) as legit:
                assert await legit.call("count") == 1
            legit_took = loop.time() - started
            closed = await silent
            slow_closed = await slow
    assert {name: status for name, (status, _) in statuses.items()} == {
        "256 headers": 431,
        "10 KiB header": 431,
        "10 KiB URL": 414,
        "HTTP/1.0": 505,
        "POST": 405,
    }
    assert legit_took < 1.0 * SCALE, legit_took
    low, high = OPEN_TIMEOUT - 1, OPEN_TIMEOUT + 1 * SCALE
    assert len(closed) == 500, f"{500 - len(closed)} silent sockets were never closed"
    late = sorted(t for t in closed if not low <= t <= high)
    assert not late, (
        f"{len(late)} of 500 silent sockets closed after {late[0]:.2f}-{late[-1]:.2f} s"
    )
    assert low <= slow_closed <= high, slow_closed
    assert tally.calls == 1 and tally.connections == 1  # only the legitimate client's
    log.assert_clean()


# -- case 12: Origin and Host ------------------------------------------------------------------

SAME = "http://127.0.0.1:{port}"
#: (row, Host headers, Origin headers, statuses accepted) with the default policy;
#: "{host}" is the server's own host:port, "{port}" its port.
DEFAULT_POLICY: list[tuple[str, Sequence[str], Sequence[str], set[int]]] = [
    ("no Origin (not a browser)", ["{host}"], [], {101}),
    ("same origin", ["{host}"], [SAME], {101}),
    ("same origin by name", ["localhost:{port}"], ["http://localhost:{port}"], {101}),
    ("another site", ["{host}"], ["https://evil.example"], {403}),
    ("null origin", ["{host}"], ["null"], {403}),
    ("two Origin headers", ["{host}"], [SAME, SAME], {403}),
    ("another port", ["{host}"], ["http://127.0.0.1:1"], {403}),
    ("suffix trick", ["{host}"], [SAME + ".evil.example"], {403}),
    ("userinfo trick", ["{host}"], [SAME + "@evil.example"], {403}),
    ("foreign Host", ["attacker.example"], [], {403}),
    ("foreign Host and port", ["attacker.example:{port}"], [], {403}),
    ("rebinding, same origin", ["evil.example:{port}"], ["http://evil.example:{port}"], {403}),
    ("loopback-looking Host", ["127.0.0.1.attacker.example"], [], {403}),
    ("no Host", [], [], {400, 403}),
    ("two Host headers", ["{host}", "attacker.example"], [], {400, 403}),
]


def headers_for(
    hosts: Sequence[str], origins: Sequence[str], port: int
) -> tuple[str, list[tuple[str, str]]]:
    fill = {"host": f"127.0.0.1:{port}", "port": port}
    values = [h.format(**fill) for h in hosts]
    extra = [("Host", h) for h in values[1:]] + [("Origin", o.format(**fill)) for o in origins]
    return (values[0] if values else ""), extra


def without_host(request: bytes) -> bytes:
    return b"\r\n".join(line for line in request.split(b"\r\n") if line != b"Host: ")


@pytest.mark.parametrize(
    ("hosts", "origins", "statuses"),
    [row[1:] for row in DEFAULT_POLICY],
    ids=[row[0] for row in DEFAULT_POLICY],
)
async def test_12_default_origin_and_host_policy(
    hosts: Sequence[str], origins: Sequence[str], statuses: set[int], socket_transport: str
) -> None:
    tally = Tally()
    with LogWatch() as log:
        async with counting_server(tally, socket_transport) as server:
            host, extra = headers_for(hosts, origins, port_of(server))
            request = upgrade_request(host, extra=extra)
            if not hosts:
                request = without_host(request)
            status, reply = await handshake(port_of(server), request, COUNT_CALL)
    assert status in statuses
    if status == 101:
        assert reply == {"jsonrpc": "2.0", "id": 1, "result": 1}  # the probe does reach
    else:
        assert tally.calls == 0 and tally.connections == 0
    log.assert_clean()


ALLOW_LIST: list[tuple[str, list[str | None], str | None, int]] = [
    ("listed", ["https://app.example"], "https://app.example", 101),
    ("not listed", ["https://app.example"], "https://evil.example", 403),
    ("null", ["https://app.example"], "null", 403),
    ("same origin, not listed", ["https://app.example"], SAME, 403),
    ("no Origin, not admitted", ["https://app.example"], None, 403),
    ("no Origin, admitted", ["https://app.example", None], None, 101),
    ("not listed, None admitted", ["https://app.example", None], "https://evil.example", 403),
]


@pytest.mark.parametrize(
    ("policy", "origin", "status"),
    [row[1:] for row in ALLOW_LIST],
    ids=[row[0] for row in ALLOW_LIST],
)
async def test_12_origin_allow_list(
    policy: list[str | None], origin: str | None, status: int, socket_transport: str
) -> None:
    tally = Tally()
    async with counting_server(tally, socket_transport, origins=policy) as server:
        port = port_of(server)
        host = f"127.0.0.1:{port}"
        extra = [] if origin is None else [("Origin", origin.format(port=port))]
        got, _ = await handshake(port, upgrade_request(host, extra=extra), COUNT_CALL)
    assert got == status
    assert tally.calls == (1 if status == 101 else 0)


# -- case 13: dispatch hardening -----------------------------------------------------------------

UNREACHABLE = [
    "__init__",
    "__class__",
    "__dict__",
    "__call__",
    "__getattribute__",
    "__globals__",
    "_private",
    "_private_impl",  # the Python name of the handler registered as "public"
    "_methods",
    "_discover",
    "_compile",
    "add",  # Router.add
    "get",
    "include",
    "method",
    "methods",
    "peer",
    "a.__globals__",
    "count.__globals__",
    "count.__code__",
    "count.func",
    "public.__init__",
    "rpc.discover.__globals__",
    "rpc.Discover",
    "rpc.listMethods",
    "system.listMethods",
    "rpc.",
    "rpc.cancel",
    "rpc.item",
    "COUNT",
    "Count",
    " count",
    "count ",
    "count\x00",
    "count\u200b",  # zero-width space
    "\uff43\uff4f\uff55\uff4e\uff54",  # fullwidth, NFKC-equal to "count"
    "\u0441ount",  # Cyrillic es
    "coun\u0442",  # Cyrillic te
    "m" * 10240,
    "__init__." * 1138,
]


def snapshot(router: Router) -> dict[str, Any]:
    """What dispatch must never change: the registry and its handlers' attributes."""
    return {
        "router": dict(vars(router)),
        "methods": dict(router.methods),
        "handlers": {
            name: (
                method.func,
                dict(vars(method.func)),
                method.func.__defaults__,
                method.func.__kwdefaults__,
            )
            for name, method in router.methods.items()
        },
    }


@pytest.fixture
def tally() -> Tally:
    return Tally()


@pytest.fixture
async def guarded(tally: Tally) -> AsyncIterator[Server]:
    server = Server(counting_router(tally), host="127.0.0.1", port=0)
    server.on("connection", lambda conn: setattr(tally, "connections", tally.connections + 1))
    async with server:
        yield server


async def test_13_only_registered_methods_are_reachable(guarded: Server, tally: Tally) -> None:
    before = snapshot(guarded.router)
    async with open_jsonrpc(guarded.url) as ws:
        for name in UNREACHABLE:
            reply = await exchange(ws, {"jsonrpc": "2.0", "id": 1, "method": name})
            assert reply["error"]["code"] == -32601, (name[:40], reply)
            # Not part of the case's criterion, but the same rule as case 4: an error
            # does not reflect what the peer sent, so its size does not grow with it.
            size = len(json.dumps(reply))
            assert size <= 1024, f"a {len(name)}-character name is echoed back ({size} bytes)"
        assert tally.calls == 0
        # The probe can tell: the registered names do reach their handlers.
        assert (await exchange(ws, {"jsonrpc": "2.0", "id": 2, "method": "count"}))["result"] == 1
        assert (await exchange(ws, {"jsonrpc": "2.0", "id": 3, "method": "public"}))["result"]
    assert snapshot(guarded.router) == before


@pytest.mark.parametrize(
    "params",
    [
        {"self": 1},
        {"websocket": "x"},
        {"context": {}},
        {"ctx": {"identity": "admin"}},
        {"label": "a", "ctx": None},
        {"__class__": "x"},
        {"__dict__": {}},
        {"label": "a", "transport": 1},
        ["a", "ctx"],
    ],
)
async def test_13_params_never_bind_to_internals(
    guarded: Server, tally: Tally, params: Any
) -> None:
    before = snapshot(guarded.router)
    async with open_jsonrpc(guarded.url) as ws:
        request = {"jsonrpc": "2.0", "id": 1, "method": "count", "params": params}
        reply = await exchange(ws, request)
    assert reply["error"]["code"] == -32602, reply
    assert tally.calls == 0
    assert snapshot(guarded.router) == before


async def test_13_seed_dialects_dispatch_only_registered_methods(
    guarded: Server, tally: Tally
) -> None:
    # The legacy dialect (detected from the first frame) shares the registry.
    async with ws_connect(guarded.url) as ws:
        for name in ["__init__", "_private_impl", "count.__globals__", "rpc.Discover"]:
            await ws.send(f'{{"id": "x", "payload": {{"instruction": "{name}", "args": []}}}}')
            reply = strict_loads(await asyncio.wait_for(ws.recv(), UNIT))
            (record,) = reply["payload"]["args"]
            assert record["error"] is True and record["code"] == -32601, (name, reply)
    assert tally.calls == 0
