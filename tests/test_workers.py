"""`wsrpc serve --workers 3 --backplane redis://...`: three processes on one port, linked by
a real Redis server, under 60 clients that reconnect; one worker killed with SIGKILL, Redis
stopped and started again, then SIGTERM."""

from __future__ import annotations

import asyncio
import collections
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import UNIT
from tests.helpers.backplane_app import Member
from tests.helpers.processes import ROOT
from tests.helpers.redis import RedisServer
from tests.helpers.waiting import eventually
from wsrpc_typed import Client, RpcError, connect

T = TypeVar("T")
CLIENTS = 60
TTL = 1.5


def doubling(target: str, x: int) -> dict[str, Any]:
    """Params of ``ask``: call ``double(x)`` on the client ``target``."""
    return {"target": target, "method": "double", "params": {"x": x}}


def worker_of(connection_id: str) -> str:
    return connection_id.rpartition(".")[0]


class Fleet:
    """The clients, each with its handlers, current connection id and topic."""

    def __init__(self) -> None:
        self.members: list[Member] = []
        self.clients: list[Client] = []
        self.ids: list[str] = []

    async def refresh(self) -> None:
        self.ids = [await client.call("me") for client in self.clients]

    def on(self, worker: str) -> list[int]:
        return [i for i, cid in enumerate(self.ids) if worker_of(cid) == worker]


@asynccontextmanager
async def supervisor(
    *argv: str, log: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "wsrpc_typed.cli", "serve", *argv,
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=err,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), UNIT * 4)).decode()
            match = re.search(r"(ws://127\.0\.0\.1:\d+) with 3 workers", line)
            assert match, line
            yield proc, match.group(1)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


async def test_three_workers_sixty_clients_a_kill_and_a_redis_restart(
    tmp_path: Path,
) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    log = tmp_path / "serve.log"
    argv = ["tests.helpers.backplane_app:router", "--workers", "3", "--port", "0"]
    argv += ["--backplane", redis.url, "--backplane-ttl", str(TTL), "--drain-timeout", "2"]
    fleet = Fleet()
    try:
        async with supervisor(*argv, log=log) as (proc, url):
            async with AsyncExitStack() as stack:

                async def rejoin(client: Client) -> None:
                    await client.call("enter", {"topic": "all"})

                for _ in range(CLIENTS):
                    member = Member()
                    client = await stack.enter_async_context(
                        connect(url, router=member.router, reconnect=True, on_reconnect=rejoin)
                    )
                    fleet.members.append(member)
                    fleet.clients.append(client)
                await fleet.refresh()
                workers = collections.Counter(worker_of(cid) for cid in fleet.ids)
                assert len(workers) >= 2, workers  # the kernel spread them

                # Publish: every member on every worker gets each message once, in order.
                await asyncio.gather(*(rejoin(client) for client in fleet.clients))
                for seq in range(20):
                    await fleet.clients[0].call("shout", {"topic": "all", "seq": seq})
                await eventually(lambda: all(len(m.heard) >= 20 for m in fleet.members), UNIT * 2)
                await asyncio.sleep(0.3)  # anything extra would have come by now
                for member in fleet.members:
                    assert [h["seq"] for h in member.heard] == list(range(20))

                # 1,000 addressed calls from handlers on one worker to clients on the others.
                caller = fleet.clients[0]
                home = worker_of(fleet.ids[0])
                others = [i for i in range(CLIENTS) if worker_of(fleet.ids[i]) != home]
                assert others

                async def ask(n: int) -> int:
                    target = fleet.ids[others[n % len(others)]]
                    result: int = await caller.call("ask", doubling(target, n))
                    return result

                answers = await asyncio.gather(*(ask(n) for n in range(1000)))
                assert answers == [2 * n for n in range(1000)]

                # An id no worker has: refused at once.
                loop = asyncio.get_running_loop()
                for unknown in (f"{home}.99999", "0123456789abcdef.1"):
                    started = loop.time()
                    with pytest.raises(RpcError) as raised:
                        await caller.call(
                            "ask", {"target": unknown, "method": "double", "params": {"x": 1}}
                        )
                    assert raised.value.data == "NoSuchPeer"
                    assert loop.time() - started < 0.1

                # kill -9 one worker (not the caller's): its clients reconnect, presence forgets
                # their old ids within the TTL, and the other clients notice nothing.
                victim = next(w for w in workers if w != home)
                doomed = fleet.on(victim)
                survivors = [i for i in range(CLIENTS) if i not in doomed]
                victim_pid = await fleet.clients[doomed[0]].call("pid")
                old_ids = {fleet.ids[i] for i in doomed}
                failures: list[BaseException] = []
                calm = asyncio.Event()

                async def keep_calling(i: int) -> None:
                    while not calm.is_set():
                        try:
                            assert await fleet.clients[i].call("me") == fleet.ids[i]
                        except BaseException as exc:
                            failures.append(exc)
                            return
                        await asyncio.sleep(0.02)

                chatter = [asyncio.ensure_future(keep_calling(i)) for i in survivors]
                os.kill(victim_pid, signal.SIGKILL)

                async def reconnected(i: int) -> None:
                    while True:
                        try:
                            await fleet.clients[i].call("me")
                            return
                        except Exception:
                            await asyncio.sleep(0.05)

                await asyncio.wait_for(asyncio.gather(*(reconnected(i) for i in doomed)), UNIT * 4)
                took = await eventually_async(
                    lambda: caller.call("who"), lambda ids: not old_ids & set(ids), UNIT * 2
                )
                assert took < TTL + 1.5
                calm.set()
                await asyncio.gather(*chatter)
                assert failures == []
                await fleet.refresh()
                assert not old_ids & set(fleet.ids)
                await eventually(lambda: "starting another" in log.read_text())

                # Redis stops: cross-worker calls fail at once; it starts: they work again.
                target = next(
                    fleet.ids[i] for i in range(CLIENTS) if worker_of(fleet.ids[i]) != home
                )
                redis.stop()
                await asyncio.sleep(0.3)  # the workers notice
                started = loop.time()
                with pytest.raises(RpcError) as raised:
                    await caller.call(
                        "ask", {"target": target, "method": "double", "params": {"x": 1}}
                    )
                assert raised.value.data == "BackplaneUnavailable"
                assert loop.time() - started < 0.5
                assert await caller.call("me") == fleet.ids[0]  # local work goes on
                redis.start()

                async def asked() -> object:
                    try:
                        return await caller.call("ask", doubling(target, 4))
                    except RpcError:
                        return None

                await eventually_async(asked, lambda result: result == 8, UNIT * 2)
                assert "backplane restored" in log.read_text()

            # SIGTERM: every worker drains and the command exits 0.
            pids = {int(p) for p in re.findall(r"\(pid (\d+)\) serving", log.read_text())}
            assert len(pids) == 4 and victim_pid in pids  # three, and the replacement
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), UNIT * 2) == 0
            for pid in pids:  # (a pid is not reused this soon)
                with pytest.raises(ProcessLookupError):
                    os.kill(pid, 0)
    finally:
        redis.stop()


async def eventually_async(
    fetch: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float
) -> float:
    """Fetch until ``accept(result)``; return how long that took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not accept(await fetch()):
        if loop.time() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)
    return loop.time() - start


async def test_workers_do_not_outlive_a_killed_supervisor(tmp_path: Path) -> None:
    """SIGKILL leaves the supervisor no time to stop them: the kernel tells them instead."""
    log = tmp_path / "serve.log"
    argv = ["tests.helpers.backplane_app:router", "--workers", "3", "--port", "0"]
    async with supervisor(*argv, log=log) as (proc, url):
        async with connect(url) as client:
            assert await client.call("pid")
        pids = {int(p) for p in re.findall(r"\(pid (\d+)\) serving", log.read_text())}
        assert len(pids) == 3
        proc.kill()
        await proc.wait()

        def gone(pid: int) -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return False

        await eventually(lambda: all(gone(pid) for pid in pids), UNIT)
