"""Cases 18-19: deadlines are enforced on both sides; a vanished client cancels its work.

18 calls with a 100 ms deadline to a 1 s handler, and calls whose deadline has
already passed; 19 a client whose TCP connection ends without a close frame,
and a client process that is frozen with SIGSTOP.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import struct
import sys
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from tests.conftest import UNIT
from tests.helpers.transports import Served, serve_on
from tests.helpers.waiting import eventually
from tests.reliability.limits_probes import LogWatch, percentile, task_count
from wsrpc_typed import CallTimeout, Client, DeadlineExceeded, Router, connect


class Timeline:
    """When each handler of :func:`linger_router` started, was cancelled or finished."""

    def __init__(self) -> None:
        self.started: dict[int, float] = {}
        self.cancelled: dict[int, float] = {}
        self.finished: set[int] = set()


def linger_router(timeline: Timeline) -> Router:
    router = Router()

    @router.method
    async def linger(seconds: float, tag: int) -> int:
        loop = asyncio.get_running_loop()
        timeline.started[tag] = loop.time()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            timeline.cancelled[tag] = loop.time()
            raise
        timeline.finished.add(tag)
        return tag

    @router.method
    async def add(a: int, b: int) -> int:
        return a + b

    return router


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


@pytest.fixture
async def server(timeline: Timeline, socket_transport: str) -> AsyncIterator[Served]:
    # A short drain: a failing case (handlers left running) still ends quickly.
    router = linger_router(timeline)
    options = {"max_in_flight": 100, "drain_timeout": UNIT / 10}
    async with serve_on(socket_transport, router, **options) as srv:
        yield srv


# -- 18: deadline enforcement and propagation -----------------------------------------


async def test_18_deadlines_end_calls_on_both_sides(server: Served, timeline: Timeline) -> None:
    deadline, slack, calls, connections = 0.1, UNIT / 100, 100, 4  # slack: 50 ms at scale 1
    loop = asyncio.get_running_loop()
    sent: dict[int, float] = {}

    async def one(client: Client, tag: int) -> tuple[str, float]:
        sent[tag] = loop.time()
        try:
            await client.call("linger", [1.0, tag], timeout=deadline)
        except (CallTimeout, DeadlineExceeded) as exc:
            return type(exc).__name__, loop.time() - sent[tag]
        return "answered", loop.time() - sent[tag]

    with LogWatch(count_from=["wsrpc_typed"]) as log:
        clients = [await connect(server.url) for _ in range(connections)]
        try:
            outcomes = await asyncio.gather(
                *(one(clients[tag % connections], tag) for tag in range(calls))
            )
            await eventually(lambda: len(timeline.cancelled) == calls, 1.0)
            for client in clients:  # replies sent after the expired ones: all were read
                assert await client.call("add", [1, 1]) == 2
            pending = [len(c.connection.protocol.pending) for c in clients]
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    kinds = [kind for kind, _ in outcomes]
    waited = [took for _, took in outcomes]
    cancelled_after = [timeline.cancelled[tag] - sent[tag] for tag in range(calls)]
    print(
        f"\n18: client errors p99 {percentile(waited, 99) * 1e3:.0f} ms, server-side "
        f"cancellations p99 {percentile(cancelled_after, 99) * 1e3:.0f} ms after sending"
    )
    assert set(kinds) <= {"CallTimeout", "DeadlineExceeded"}
    assert percentile(waited, 99) <= deadline + slack
    assert min(waited) >= deadline - 0.002  # not early either (loop clock resolution)
    assert sum(took <= deadline + slack for took in cancelled_after) >= 99
    assert timeline.finished == set()
    # The server's own -32002 replies arrive after the client gave up: dropped.
    assert log.count("reply to an unknown or expired call id") == kinds.count("CallTimeout")
    assert pending == [0] * connections


@pytest.mark.parametrize("timeout", [0, -1.5])
async def test_18_a_deadline_that_has_passed_fails_at_once_without_running_the_handler(
    server: Served, timeline: Timeline, timeout: float
) -> None:
    loop = asyncio.get_running_loop()
    async with ws_connect(server.url, subprotocols=[Subprotocol("jsonrpc-2.0")]) as ws:
        frame = {"jsonrpc": "2.0", "id": 1, "method": "linger", "params": [0, 1]}
        started = loop.time()
        await ws.send(json.dumps({**frame, "timeout": timeout}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), UNIT))
        assert loop.time() - started < 0.05
        assert reply == {
            "jsonrpc": "2.0",
            "id": 1,
            "error": {"code": -32002, "message": "Deadline exceeded"},
        }
    async with connect(server.url) as client:
        started = loop.time()
        with pytest.raises(CallTimeout):  # nothing is even sent
            await client.call("linger", [0, 2], timeout=timeout)
        assert loop.time() - started < 0.01
        assert await client.call("add", [1, 2]) == 3
    assert timeline.started == {}


# -- 19: disconnect cancels work ------------------------------------------------------


@pytest.mark.parametrize("ending", ["fin", "rst"])
async def test_19_a_connection_that_ends_without_a_close_frame_cancels_its_handlers(
    server: Served, timeline: Timeline, ending: str
) -> None:
    calls = 100  # the server's max_in_flight: the connection is at its cap
    tasks_before = task_count()
    with LogWatch() as log:
        ws = await ws_connect(server.url, subprotocols=[Subprotocol("jsonrpc-2.0")])
        for tag in range(calls):
            call = {"jsonrpc": "2.0", "id": tag, "method": "linger", "params": [UNIT * 10, tag]}
            await ws.send(json.dumps(call))
        await eventually(lambda: len(timeline.started) == calls)
        loop = asyncio.get_running_loop()
        eof = loop.time()
        if ending == "fin":
            ws.transport.close()  # FIN, no close frame
        else:
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ws.transport.abort()  # RST
        await eventually(lambda: len(timeline.cancelled) == calls, 1.0)
        print(f"\n19: {calls} handlers cancelled {loop.time() - eof:.3f} s after {ending}")
        await eventually(lambda: not server.connections and task_count() <= tasks_before)
    assert timeline.finished == set()
    log.assert_clean()


CLIENT = """
import asyncio, sys
from wsrpc_typed import connect

async def main(url: str, calls: int) -> None:
    async with connect(url, timeout=None) as client:
        pending = [client.call("linger", [60, tag]) for tag in range(calls)]
        await asyncio.gather(*pending, return_exceptions=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_19_a_frozen_client_process_is_detected_by_keepalive_and_its_work_cancelled(
    timeline: Timeline, socket_transport: str
) -> None:
    calls, ping_interval, ping_timeout = 50, UNIT / 10, UNIT / 10
    router = linger_router(timeline)
    options = {"ping_interval": ping_interval, "ping_timeout": ping_timeout}
    async with serve_on(socket_transport, router, **options) as server:
        tasks_before = task_count()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLIENT, server.url, str(calls)
        )
        try:
            await eventually(lambda: len(timeline.started) == calls, UNIT * 2)
            proc.send_signal(signal.SIGSTOP)
            loop = asyncio.get_running_loop()
            stopped = loop.time()
            bound = ping_interval + ping_timeout + 2
            await eventually(lambda: len(timeline.cancelled) == calls, bound)
            print(f"\n19: frozen client's handlers cancelled after {loop.time() - stopped:.2f} s")
            await eventually(lambda: not server.connections)
            assert task_count() <= tasks_before
        finally:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            await proc.wait()
    assert timeline.finished == set()
