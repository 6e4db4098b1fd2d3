"""Cases 23-24: a soak and connection churn, scaled to run in CI in seconds.

23 many connections calling for many iterations: no failure, no slow
iteration, flat memory and file descriptors; 24 thousands of short-lived
connections, some of them reset in the middle of a handshake or of a call:
everything they held is given back and nothing is logged.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import socket
import struct
import time
from collections.abc import Awaitable, Callable

from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from tests.conftest import UNIT
from tests.helpers.waiting import eventually
from tests.reliability.limits_probes import LogWatch, open_fds, rss, task_count
from wsrpc_typed import Client, Router, Server, connect

MiB = 2**20


class Seen:
    """The ``nap`` calls a handler started, and those that were cancelled."""

    def __init__(self) -> None:
        self.started: set[str] = set()
        self.cancelled: set[str] = set()


def soak_router(seen: Seen | None = None) -> Router:
    """``add``, ``echo`` and ``nap``; ``nap`` records itself in ``seen``, if given."""
    router = Router()

    @router.method
    async def add(a: int, b: int) -> int:
        return a + b

    @router.method
    async def echo(value: object = None) -> object:
        return value

    @router.method
    async def nap(seconds: float, tag: str = "") -> str:
        if seen is None:
            await asyncio.sleep(seconds)
            return tag
        seen.started.add(tag)
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            seen.cancelled.add(tag)
            raise
        return tag

    return router


async def one_iteration(client: Client, worker: int, n: int) -> None:
    """One call of a rotating mix (inline, payload, timer); each checks its own result."""
    kind = n % 3
    if kind == 0:
        assert await client.call("add", [worker, n]) == worker + n
    elif kind == 1:
        payload = {"worker": worker, "n": n, "blob": "y" * 1000, "list": list(range(20))}
        assert await client.call("echo", [payload]) == payload
    else:
        assert await client.call("nap", [0.001, f"{worker}.{n}"]) == f"{worker}.{n}"


# -- 23: soak -------------------------------------------------------------------------


async def test_23_soak_many_connections_for_many_iterations() -> None:
    connections, warm_up, iterations, max_latency = 50, 200, 1_000, UNIT / 50
    slowest = 0.0
    failures: list[BaseException] = []

    async def worker(client: Client, index: int, first: int, stop: int) -> None:
        nonlocal slowest
        for n in range(first, stop):
            started = time.perf_counter()
            try:
                await one_iteration(client, index, n)
            except Exception as exc:  # counted, not raised: the soak runs to the end
                failures.append(exc)
            slowest = max(slowest, time.perf_counter() - started)

    with LogWatch() as log:
        async with Server(soak_router(), port=0) as server:
            fds_idle = open_fds()
            clients = [await connect(server.url, timeout=UNIT) for _ in range(connections)]

            async def phase(first: int, stop: int) -> tuple[int, int]:
                await asyncio.gather(*(worker(c, i, first, stop) for i, c in enumerate(clients)))
                gc.collect()
                return rss(), open_fds()

            rss_warm, fds_warm = await phase(0, warm_up)
            slowest = 0.0  # the first iterations pay for imports and caches
            # Server and clients share this process: keep the long-lived objects of the
            # warm-up out of the cyclic collector, whose full passes would stall both.
            gc.freeze()
            try:
                rss_end, fds_end = await phase(warm_up, iterations)
            finally:
                gc.unfreeze()
            await asyncio.gather(*(c.close() for c in clients))
            await eventually(lambda: not server.connections)
            fds_closed = open_fds()

    drift = (rss_end - rss_warm) / rss_warm
    print(
        f"\n23: {connections * iterations} calls, {len(failures)} failures, slowest "
        f"{slowest * 1e3:.1f} ms, RSS {rss_warm / MiB:.1f} -> {rss_end / MiB:.1f} MiB "
        f"({drift:+.1%}), fds {fds_warm} -> {fds_end}"
    )
    assert failures == []
    assert slowest <= max_latency
    assert drift < 0.05
    assert fds_end == fds_warm and fds_closed == fds_idle
    log.assert_clean()


# -- 24: connection churn -------------------------------------------------------------


def linger_zero(sock: socket.socket) -> None:
    """Make ``close()`` send a TCP reset instead of a FIN (SO_LINGER with a zero timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def reset_during_handshake(url: str, n: int, seen: Seen) -> None:
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", int(url.rsplit(":", 1)[1])))
    await loop.sock_sendall(sock, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
    linger_zero(sock)
    sock.close()


async def reset_after_handshake(url: str, n: int, seen: Seen) -> None:
    ws = await ws_connect(url, subprotocols=[Subprotocol("jsonrpc-2.0")])
    linger_zero(ws.transport.get_extra_info("socket"))
    ws.transport.abort()


async def reset_during_a_call(url: str, n: int, seen: Seen) -> None:
    ws = await ws_connect(url, subprotocols=[Subprotocol("jsonrpc-2.0")])
    tag = f"reset-{n}"
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "nap", "params": [60, tag]}))
    await eventually(lambda: tag in seen.started)
    linger_zero(ws.transport.get_extra_info("socket"))
    ws.transport.abort()


RESETS: list[Callable[[str, int, Seen], Awaitable[None]]] = [
    reset_during_handshake,
    reset_after_handshake,
    reset_during_a_call,
]


async def test_24_connection_churn_gives_everything_back() -> None:
    cycles, resets, workers, warm_up = 10_000, 500, 20, 100
    every = cycles // resets  # a reset after every 20th cycle, rotating over RESETS
    seen = Seen()
    counter = itertools.count()

    async def cycle(server: Server) -> None:
        n = next(counter)
        async with connect(server.url, timeout=UNIT) as client:
            assert await client.call("add", [n, 1]) == n + 1

    async def churn(server: Server, count: int, with_resets: bool) -> None:
        async def worker(index: int) -> None:
            for k in range(index, count, workers):
                await cycle(server)
                if with_resets and k % every == 0:
                    await RESETS[k // every % len(RESETS)](server.url, k, seen)

        await asyncio.gather(*(worker(i) for i in range(workers)))

    with LogWatch() as log:
        async with Server(soak_router(seen), port=0) as server:
            await churn(server, warm_up, with_resets=False)
            await eventually(lambda: not server.connections)
            gc.collect()
            fds_before, tasks_before, rss_before = open_fds(), task_count(), rss()
            loop = asyncio.get_running_loop()
            began = loop.time()
            await churn(server, cycles, with_resets=True)
            took = loop.time() - began
            await eventually(lambda: not server.connections, UNIT)
            await eventually(lambda: abs(task_count() - tasks_before) <= 5, UNIT)
            await eventually(lambda: abs(open_fds() - fds_before) <= 5, UNIT)
            gc.collect()
            fds_after, tasks_after, rss_after = open_fds(), task_count(), rss()
        assert next(counter) == warm_up + cycles  # every cycle ran (and checked its call)

    print(
        f"\n24: {cycles} cycles and {resets} resets in {took:.1f} s "
        f"({len(seen.started)} mid-call); fds {fds_before} -> {fds_after}, "
        f"tasks {tasks_before} -> {tasks_after}, RSS {(rss_after - rss_before) / MiB:+.1f} MiB"
    )
    mid_call = sum(1 for j in range(resets) if RESETS[j % len(RESETS)] is reset_during_a_call)
    assert len(seen.started) == mid_call and seen.cancelled == seen.started
    assert rss_after - rss_before < 10 * MiB
    log.assert_clean()
