"""The load test: 1,000 concurrent connections making pipelined calls.

The server runs in its own process (``wsrpc serve``), so its resident memory
is its own: the test reports the memory it takes per connection, idle and
after the calls. Every call carries its own coordinates and checks that the
reply it got is its own: nothing lost, nothing crossed.
"""

from __future__ import annotations

import asyncio
import resource
import signal

from tests.conftest import UNIT
from tests.reliability.limits_probes import rss, serving
from wsrpc_typed import Client, connect

KiB = 1024
APP = "tests.reliability.lifecycle_app:router"


def raise_fd_limit(needed: int) -> None:
    """Raise this process's soft limit on open files (the server subprocess inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        limit = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


async def test_load_1000_connections_with_pipelined_calls() -> None:
    connections, in_flight, rounds, opening = 1_000, 10, 5, 100
    raise_fd_limit(connections + 1_024)
    async with serving(APP) as served:
        pid = served.proc.pid
        async with connect(served.url) as first:  # the server's imports and caches, warmed
            assert await first.call("echo", ["warm"]) == "warm"
        rss_idle_server = rss(pid)

        gate = asyncio.Semaphore(opening)  # at most this many handshakes at a time

        async def open_one() -> Client:
            async with gate:
                return await connect(served.url, timeout=UNIT * 6)

        loop = asyncio.get_running_loop()
        began = loop.time()
        clients = await asyncio.gather(*(open_one() for _ in range(connections)))
        opened_in = loop.time() - began
        rss_open = rss(pid)

        async def pipeline(client: Client, c: int) -> tuple[int, int]:
            """Rounds of calls sent together; (replies that were right, that were not)."""
            right = wrong = 0
            for r in range(rounds):
                sent = [{"c": c, "r": r, "k": k} for k in range(in_flight)]
                replies = await asyncio.gather(*(client.call("echo", [s]) for s in sent))
                for reply, expected in zip(replies, sent, strict=True):
                    if reply == expected:
                        right += 1
                    else:
                        wrong += 1
            return right, wrong

        began = loop.time()
        outcomes = await asyncio.gather(
            *(pipeline(client, c) for c, client in enumerate(clients)), return_exceptions=True
        )
        called_in = loop.time() - began
        rss_busy = rss(pid)
        await asyncio.gather(*(client.close() for client in clients))

        served.proc.send_signal(signal.SIGTERM)
        code, _ = await served.finish(within=UNIT * 2)

    failed = [o for o in outcomes if isinstance(o, BaseException)]
    counts = [o for o in outcomes if not isinstance(o, BaseException)]
    right = sum(r for r, _ in counts)
    wrong = sum(w for _, w in counts)
    per_connection_idle = (rss_open - rss_idle_server) / connections
    per_connection_busy = (rss_busy - rss_idle_server) / connections
    print(
        f"\nload: {connections} connections opened in {opened_in:.1f} s; "
        f"{right} of {connections * in_flight * rounds} calls right in {called_in:.1f} s "
        f"({wrong} crossed, {len(failed)} connections failed); server memory per connection: "
        f"{per_connection_idle / KiB:.1f} KiB open, {per_connection_busy / KiB:.1f} KiB after calls"
    )
    assert failed == [] and wrong == 0
    assert right == connections * in_flight * rounds
    assert per_connection_idle < 100 * KiB and per_connection_busy < 100 * KiB
    assert code == 0
