"""Cases 20-22: graceful drain, a drain that runs out of time, restarts and reconnection.

20 and 21 run ``wsrpc serve`` in a subprocess and stop it with SIGTERM, as a
process manager would; 22 restarts an in-process server under clients that
reconnect on their own.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import random
import re
import signal
from collections import Counter

import pytest

from tests.conftest import UNIT
from tests.helpers.waiting import eventually
from tests.reliability.limits_probes import LogWatch, StalledPeer, serving, task_count
from wsrpc_typed import (
    Backoff,
    CallTimeout,
    Client,
    Connection,
    ConnectionClosed,
    HandshakeFailed,
    Router,
    Server,
    ShuttingDown,
    connect,
)

APP = "tests.reliability.lifecycle_app:router"
#: What ``wsrpc serve`` uses: the Server's defaults.
GRACE = inspect.signature(Server).parameters["drain_timeout"].default
CLOSE_TIMEOUT = inspect.signature(Server).parameters["close_timeout"].default
ALARMS = re.compile(r"Traceback|Task exception was never retrieved|Task was destroyed")


def naps_that_ran(stderr: str) -> dict[str, str]:
    """How each ``nap`` ended, from the line the lifecycle app prints at exit."""
    match = re.search(r"lifecycle_app naps: (.*)", stderr)
    assert match, stderr
    naps: dict[str, str] = json.loads(match.group(1))
    return naps


def close_code(conn: Connection) -> int | None:
    return None if conn.ended is None else conn.ended.code


async def refused(url: str) -> bool:
    """Whether a new connection to ``url`` is refused (at TCP or at the handshake)."""
    try:
        client = await connect(url, open_timeout=UNIT)
    except (OSError, HandshakeFailed):
        return True
    await client.close()
    return False


async def wait_running(client: Client, count: int) -> None:
    """Wait until the server process has ``count`` naps in progress."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while await client.call("running") != count:
        assert loop.time() - started < UNIT, "the calls did not all start"
        await asyncio.sleep(0.01)


# -- 20: graceful drain ---------------------------------------------------------------


async def test_20_sigterm_lets_calls_in_flight_finish_and_refuses_new_work() -> None:
    calls, connections, spread = 200, 8, 2.0
    async with serving(APP) as served:
        clients = [await connect(served.url, timeout=UNIT * 2) for _ in range(connections)]
        idle = await connect(served.url)
        conns = [c.connection for c in (*clients, idle)]
        # Each call lasts a head start (so that all are in flight at the signal) plus 0-2 s.
        head_start = UNIT / 5
        in_flight = [
            asyncio.ensure_future(
                clients[i % connections].call("nap", [head_start + spread * i / calls, f"c{i}"])
            )
            for i in range(calls)
        ]
        await wait_running(idle, calls)
        loop = asyncio.get_running_loop()
        signalled = loop.time()
        served.proc.send_signal(signal.SIGTERM)
        await served.stderr_line("shutting down")

        for attempt in range(10):  # the listener closes at once (allow for a race or two)
            if await refused(served.url):
                break
            assert attempt < 9, "new connections are still accepted"
        with pytest.raises(ShuttingDown):
            await idle.call("nap", [0, "late"])
        with pytest.raises(ShuttingDown):
            await clients[0].call("echo", ["late"])

        results = await asyncio.gather(*in_flight)
        assert results == [f"c{i}" for i in range(calls)]  # 100 % delivered
        code, stderr = await served.finish(within=GRACE + 1)
        exited_after = loop.time() - signalled
        await asyncio.gather(*(c.close() for c in (*clients, idle)))

    print(f"\n20: {calls} calls delivered, exit {code} after {exited_after:.2f} s")
    assert code == 0
    assert exited_after < head_start + spread + 1  # it did not wait for the whole grace
    assert {close_code(conn) for conn in conns} == {1001}
    naps = naps_that_ran(stderr)
    assert "late" not in naps
    assert Counter(naps.values()) == {"finished": calls}
    assert not ALARMS.search(stderr), stderr


# -- 21: grace exceeded ---------------------------------------------------------------


async def test_21_calls_past_the_grace_are_cancelled_and_answered_shutting_down() -> None:
    calls = 10
    async with serving(APP) as served:
        client = await connect(served.url, timeout=None)
        conn = client.connection
        loop = asyncio.get_running_loop()

        async def long_call(tag: str) -> tuple[str, float]:
            try:
                await client.call("nap", [60, tag])
            except ShuttingDown:
                return "shutting down", loop.time()
            return "finished", loop.time()

        pending = [asyncio.ensure_future(long_call(f"l{i}")) for i in range(calls)]
        await wait_running(client, calls)
        signalled = loop.time()
        served.proc.send_signal(signal.SIGTERM)
        outcomes = await asyncio.wait_for(asyncio.gather(*pending), GRACE + 2)
        code, stderr = await served.finish(within=GRACE + CLOSE_TIMEOUT + 1)
        exited_after = loop.time() - signalled
        await client.close()

    answered_after = [at - signalled for _, at in outcomes]
    print(f"\n21: answered after {max(answered_after):.2f} s, exit after {exited_after:.2f} s")
    assert {kind for kind, _ in outcomes} == {"shutting down"}
    assert all(GRACE - 0.1 <= after <= GRACE + 1 for after in answered_after)
    assert code == 0 and exited_after <= GRACE + CLOSE_TIMEOUT + 1
    assert close_code(conn) == 1001
    assert Counter(naps_that_ran(stderr).values()) == {"cancelled": calls}
    assert not ALARMS.search(stderr), stderr


async def test_21_a_client_that_stopped_reading_cannot_hold_up_the_shutdown() -> None:
    """The grace ends, the stuck client's calls are cancelled, and close() returns in time."""
    grace, close_timeout = UNIT / 10, UNIT / 10
    events: Counter[str] = Counter()
    router = Router()

    @router.method
    async def slow(size: int) -> str:
        events["started"] += 1
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            events["cancelled"] += 1
            raise
        return "x" * size

    @router.method
    async def bulky(size: int) -> str:
        await asyncio.sleep(0)
        return "x" * size

    server = Server(router, port=0, drain_timeout=grace, close_timeout=close_timeout)
    await server.open()
    tasks_before = task_count()
    stalled = StalledPeer(server.url)
    await stalled.open()
    loop = asyncio.get_running_loop()
    frames = stalled.frames(
        json.dumps({"jsonrpc": "2.0", "id": i, "method": name, "params": [4096]})
        for i, name in enumerate(["slow"] * 5 + ["bulky"] * 5_000)
    )
    flood = asyncio.ensure_future(loop.sock_sendall(stalled.sock, frames))
    try:
        async with connect(server.url, timeout=None) as polite:
            long_calls = [asyncio.ensure_future(polite.call("slow", [1])) for _ in range(5)]
            port = stalled.sock.getsockname()[1]
            stuck = next(c for c in server.connections if c.remote_address[1] == port)
            # Its replies back up: the socket takes no more and its handlers wait to send.
            await eventually(lambda: stuck.in_flight == 64 and stuck.transport.send_backlog())
            await eventually(lambda: events["started"] == 10)
            started = loop.time()
            closing = asyncio.ensure_future(server.close())
            done, _ = await asyncio.wait([closing], timeout=grace + close_timeout + 1)
            took = loop.time() - started
            outcomes = await asyncio.gather(*long_calls, return_exceptions=True)
    finally:
        stalled.sock.close()  # lets a close() that is stuck on this client finish
        flood.cancel()
        await server.close()
    print(f"\n21: close() with a stalled client took {took:.2f} s")
    assert done, f"close() did not return within {grace + close_timeout + 1} s"
    assert events["cancelled"] == 10
    assert all(isinstance(o, ShuttingDown) for o in outcomes), outcomes
    await eventually(lambda: task_count() < tasks_before)  # no orphans (nor the watchdog)


# -- 22: restart and reconnect --------------------------------------------------------


async def test_22_clients_ride_through_restarts_and_never_resend() -> None:
    restarts, callers, period, deadline = 6, 10, 0.02, UNIT / 10  # 50 calls/s per caller
    backoff = Backoff(initial=0.02, factor=2.0, maximum=0.2)
    rng = random.Random(22)
    invocations: Counter[str] = Counter()
    router = Router()

    @router.method
    async def fetch(token: str) -> str:
        """An idempotent read; counts how often each token reaches a handler."""
        invocations[token] += 1
        await asyncio.sleep(0)
        return token

    loop = asyncio.get_running_loop()
    records: list[tuple[float, float, str]] = []  # start, end, outcome
    outages: list[tuple[float, float]] = []
    stop = asyncio.Event()

    async def caller(client: Client, name: str) -> None:
        for n in range(100_000):
            if stop.is_set():
                return
            token = f"{name}-{n}"
            started = loop.time()
            try:
                outcome = "ok" if await client.call("fetch", [token]) == token else "wrong"
            except (ConnectionClosed, CallTimeout, ShuttingDown) as exc:
                outcome = type(exc).__name__
            records.append((started, loop.time(), outcome))
            await asyncio.sleep(max(0.0, period - (loop.time() - started)))

    server = Server(router, port=0, drain_timeout=0.1)
    await server.open()
    port = server.port
    with LogWatch() as log:
        clients = [
            await connect(server.url, reconnect=backoff, timeout=deadline) for _ in range(callers)
        ]
        running = [asyncio.ensure_future(caller(c, f"c{i}")) for i, c in enumerate(clients)]
        try:
            for restart in range(restarts):
                await asyncio.sleep(rng.uniform(0.3, 0.8))  # up for a while
                down = loop.time()
                if restart % 2:  # a crash: sockets drop, nothing is answered
                    for conn in list(server.connections):
                        conn.transport.abort()
                    await server.close(drain_timeout=0)
                else:  # a graceful restart
                    await server.close()
                await asyncio.sleep(rng.uniform(0.05, 0.3))  # down for a while
                server = Server(router, port=port, drain_timeout=0.1)
                await server.open()
                outages.append((down, loop.time()))
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await asyncio.gather(*running)
            await asyncio.gather(*(c.close() for c in clients))
            await server.close()

    recovery = backoff.maximum + 0.1  # the longest a client waits before its next attempt

    def overlaps_outage(start: float, end: float) -> bool:
        return any(start <= up + recovery and end >= down for down, up in outages)

    outside = [outcome for start, end, outcome in records if not overlaps_outage(start, end)]
    failures = Counter(outcome for _, _, outcome in records if outcome != "ok")
    print(
        f"\n22: {len(records)} calls, {outside.count('ok')}/{len(outside)} ok outside "
        f"{len(outages)} outages; failures {dict(failures)}; "
        f"reconnects {[c.reconnects for c in clients]}"
    )
    assert len(outside) >= 1_000
    assert outside.count("ok") >= 0.999 * len(outside)
    assert "wrong" not in failures
    assert max(end - start for start, end, _ in records) <= deadline + 0.05  # fail fast
    assert max(invocations.values()) == 1  # never re-sent
    assert all(c.reconnects == restarts for c in clients)
    log.assert_clean()


async def test_22_reconnect_delays_grow_exponentially_with_jitter() -> None:
    backoff = Backoff(initial=0.02, factor=2.0, maximum=1.0)
    failures = 5
    router = Router()

    @router.method
    async def add(a: int, b: int) -> int:
        return a + b

    server = Server(router, port=0)
    await server.open()
    port = server.port
    with LogWatch(level=0, count_from=["wsrpc_typed"]) as log:
        async with connect(server.url, reconnect=backoff) as client:
            await server.close()
            await eventually(lambda: log.count("reconnecting to %s failed") == failures, UNIT)
            server = Server(router, port=port)
            await server.open()
            try:
                assert await client.call("add", [1, 2], timeout=UNIT) == 3
                assert client.reconnects == 1
            finally:
                await server.close()
    times = [r.created for r in log.records if str(r.msg).startswith("reconnecting to %s failed")]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    caps = [min(backoff.maximum, backoff.initial * backoff.factor**n) for n in range(1, failures)]
    print(f"\n22: gaps {[round(g, 3) for g in gaps]} for caps {caps}")
    for gap, cap in zip(gaps, caps, strict=True):
        assert cap / 2 <= gap <= cap + 0.05
    ratios = [gap / cap for gap, cap in zip(gaps, caps, strict=True)]
    assert max(ratios) - min(ratios) > 0.01  # jittered, not a fixed fraction
