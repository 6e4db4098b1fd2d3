"""Topics, calls to connections by id and presence: in one process, and across workers
linked by a real Redis server (two servers in this process, each its own worker with its
own backplane, and worker processes where a test kills one)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from examples.chat import peer_generated
from examples.chat import service as chat
from examples.chat.client_generated import register_handlers
from examples.chat.peer_generated import ChatPeer
from tests.conftest import UNIT
from tests.helpers.backplane_app import Member, server_router
from tests.helpers.chat import Member as ChatMember
from tests.helpers.processes import ROOT
from tests.helpers.redis import RedisServer
from tests.helpers.waiting import eventually
from wsrpc_typed import (
    BackplaneUnavailable,
    CallTimeout,
    Client,
    ConnectionClosed,
    NoSuchPeer,
    ResponseTooLarge,
    Router,
    RpcError,
    Server,
    connect,
)
from wsrpc_typed.adapters.redis import RedisBackplane
from wsrpc_typed.asgi import RpcApp


@contextlib.asynccontextmanager
async def member(server: Server) -> AsyncIterator[tuple[Member, Client, str]]:
    m = Member()
    async with connect(server.url, router=m.router) as client:
        yield m, client, await client.call("me")


# -- in one process (the default, local backplane) ------------------------------------


@pytest.fixture
async def lone() -> AsyncIterator[Server]:
    async with Server(server_router(), port=0) as server:
        yield server


async def test_a_topic_reaches_its_members_once_each_and_no_one_else(lone: Server) -> None:
    async with member(lone) as (a, ca, ida), member(lone) as (b, cb, idb):
        assert await ca.call("enter", {"topic": "news"}) == ["news"]
        await ca.call("enter", {"topic": "news"})  # joining twice is joining once
        await cb.call("shout", {"topic": "news", "seq": 1})
        await eventually(lambda: len(a.heard) == 1)
        await ca.call("exit", {"topic": "news"})
        await cb.call("shout", {"topic": "news", "seq": 2})
        await cb.call("enter", {"topic": "news"})
        await ca.call("shout", {"topic": "news", "seq": 3})
        await eventually(lambda: len(b.heard) == 1)
        assert a.heard == [{"seq": 1, "by": idb}]
        assert b.heard == [{"seq": 3, "by": ida}]
        assert [p.topics for p in await lone.presence("news")] == [frozenset({"news"})]


async def test_a_connection_leaves_its_topics_when_it_ends(lone: Server) -> None:
    async with member(lone) as (_, ca, ida):
        await ca.call("enter", {"topic": "t"})
        assert [p.connection_id for p in await lone.presence("t")] == [ida]
    await eventually(lambda: not lone.connections)
    assert await lone.presence("t") == [] and await lone.presence() == []
    assert lone.hub.topics() == []


async def test_a_local_peer_by_id_and_an_unknown_id(lone: Server) -> None:
    async with member(lone) as (_, ca, ida), member(lone) as (b, _cb, idb):
        assert ida != idb and ida.split(".")[0] == lone.hub.worker_id
        params = {"target": idb, "method": "double", "params": {"x": 21}}
        assert await ca.call("ask", params) == 42
        await ca.call("tell", {"target": idb, "text": "hi"})
        await eventually(lambda: b.told == ["hi"])
        for unknown in (f"{lone.hub.worker_id}.999", "nodot"):
            with pytest.raises(NoSuchPeer):
                await lone.peer(unknown).call("double", {"x": 1})
            with pytest.raises(NoSuchPeer):
                await lone.peer(unknown).notify("told", {"text": "?"})


async def test_presence_lists_identities_and_topics() -> None:
    server = Server(server_router(), port=0, authenticate=lambda hs: {"user": "ann"})
    async with server, member(server) as (_, ca, ida):
        await ca.call("enter", {"topic": "b"})
        await ca.call("enter", {"topic": "a"})
        [present] = await server.presence()
        assert (present.connection_id, present.identity) == (ida, {"user": "ann"})
        assert present.topics == {"a", "b"}


# -- across workers, through a real Redis server --------------------------------------


def backplane(url: str, namespace: str) -> RedisBackplane:
    return RedisBackplane(url, namespace=namespace, heartbeat=0.1, ttl=0.5, call_timeout=UNIT)


@pytest.fixture
async def workers(redis_server: RedisServer) -> AsyncIterator[tuple[Server, Server]]:
    """Two workers of one deployment (a namespace of their own per test)."""
    namespace = f"test-{secrets.token_hex(4)}"
    async with (
        Server(server_router(), port=0, backplane=backplane(redis_server.url, namespace)) as a,
        Server(server_router(), port=0, backplane=backplane(redis_server.url, namespace)) as b,
    ):
        yield a, b


async def test_publish_reaches_every_member_on_every_worker_once_in_order(
    workers: tuple[Server, Server],
) -> None:
    wa, wb = workers
    async with (
        member(wa) as (a1, ca1, _),
        member(wa) as (a2, _ca2, _),
        member(wb) as (b1, cb1, idb1),
        member(wb) as (b2, cb2, _),
    ):
        for client in (ca1, cb1):
            await client.call("enter", {"topic": "room"})
        await cb2.call("enter", {"topic": "elsewhere"})
        for seq in range(200):
            await cb1.call("shout", {"topic": "room", "seq": seq})
        await eventually(lambda: len(a1.heard) == 200 and len(b1.heard) == 200)
        await asyncio.sleep(0.2)  # anything extra would have arrived by now
        expected = [{"seq": seq, "by": idb1} for seq in range(200)]
        assert a1.heard == expected and b1.heard == expected
        assert a2.heard == [] and b2.heard == []


async def test_addressed_calls_cross_workers_with_results_errors_and_deadlines(
    workers: tuple[Server, Server],
) -> None:
    wa, wb = workers
    async with member(wa) as (_, ca, _), member(wb) as (b, _cb, idb):
        ask = {"target": idb, "method": "double", "params": {"x": 21}}
        assert await ca.call("ask", ask) == 42
        # 200 concurrent calls: each gets its own answer.
        answers = await asyncio.gather(
            *(
                ca.call("ask", {"target": idb, "method": "double", "params": {"x": i}})
                for i in range(200)
            )
        )
        assert answers == [2 * i for i in range(200)]
        # A declared error comes back with its code and data (re-raised to our caller).
        with pytest.raises(RpcError) as raised:
            await ca.call("ask", {"target": idb, "method": "overdraw", "params": {"amount": 15}})
        assert (raised.value.code, raised.value.data) == (4001, {"short_by": 5})
        # The caller's deadline goes with the call, through the other worker to its client:
        # the client's handler is cancelled when the time is up, not after its nap.
        with pytest.raises(CallTimeout):
            await ca.call(
                "ask",
                {"target": idb, "method": "nap", "params": {"seconds": UNIT * 4}},
                timeout=0.3,
            )
        await asyncio.wait_for(b.nap_cancelled.wait(), UNIT / 2)
        # Notifications too.
        await ca.call("tell", {"target": idb, "text": "psst"})
        await eventually(lambda: b.told == ["psst"])


async def test_calls_from_the_server_object_and_no_such_peer_at_once(
    workers: tuple[Server, Server],
) -> None:
    wa, wb = workers
    async with member(wb) as (_, _cb, idb):
        assert await wa.peer(idb).call("double", {"x": 2}) == 4
        with pytest.raises(CallTimeout):
            await wa.peer(idb).call("nap", {"seconds": UNIT}, timeout=0.2)
        loop = asyncio.get_running_loop()
        for unknown in (f"{wb.hub.worker_id}.999", f"{secrets.token_hex(8)}.1", "nodot"):
            started = loop.time()
            with pytest.raises(NoSuchPeer):
                await wa.peer(unknown).call("double", {"x": 1})
            assert loop.time() - started < 0.1


async def test_messages_between_workers_are_capped_in_size(redis_server: RedisServer) -> None:
    """Redis drops a subscriber whose buffer overflows: nothing that large is sent."""
    namespace = f"test-{secrets.token_hex(4)}"

    def small() -> RedisBackplane:
        return RedisBackplane(redis_server.url, namespace=namespace, max_message_size=64 * 1024)

    async with (
        Server(server_router(), port=0, backplane=small()) as wa,
        Server(server_router(), port=0, backplane=small()) as wb,
        member(wb) as (b, cb, idb),
    ):
        await cb.call("enter", {"topic": "t"})
        with pytest.raises(ValueError, match="max_message_size"):
            await wa.publish("t", "heard", {"seq": 1, "by": "x" * 100_000})
        with pytest.raises(ValueError, match="max_message_size"):
            await wa.peer(idb).call("told", {"text": "x" * 100_000})
        with pytest.raises(ResponseTooLarge):
            await wa.peer(idb).call("blob", {"size": 100_000})
        assert await wa.peer(idb).call("blob", {"size": 10}) == "x" * 10  # still linked
        await wa.publish("t", "heard", {"seq": 2, "by": "y"})
        await eventually(lambda: b.heard == [{"seq": 2, "by": "y"}])


async def test_a_target_that_disconnects_mid_call_fails_the_call_promptly(
    workers: tuple[Server, Server],
) -> None:
    wa, wb = workers
    async with member(wb) as (b, cb, idb):
        call = asyncio.ensure_future(wa.peer(idb).call("nap", {"seconds": UNIT * 2}))
        await asyncio.wait_for(b.napping.wait(), UNIT)
        started = asyncio.get_running_loop().time()
        await cb.close()
        with pytest.raises(ConnectionClosed):
            await call
        assert asyncio.get_running_loop().time() - started < UNIT / 5


async def test_streams_cross_workers_with_credit_and_cancel_on_break(
    workers: tuple[Server, Server],
) -> None:
    wa, wb = workers
    async with member(wa) as (_, ca, _), member(wb) as (b, _cb, idb):
        assert await ca.call("take", {"target": idb, "n": 500}) == list(range(500))
        b.counting.clear()
        # Breaking off after 3 items cancels the generator on the client of the other worker.
        assert await ca.call("take", {"target": idb, "n": 10**9, "stop_at": 2}) == [0, 1, 2]
        await asyncio.wait_for(b.count_cancelled.wait(), UNIT)


async def test_presence_spans_workers(workers: tuple[Server, Server]) -> None:
    wa, wb = workers
    async with member(wa) as (_, ca, ida), member(wb) as (_, cb, idb):
        await cb.call("enter", {"topic": "x"})

        async def listed(topic: str | None = None) -> list[str]:
            return [p.connection_id for p in await wa.presence(topic)]

        want_all, want_x = sorted([ida, idb]), [idb]
        for _ in range(200):
            if await listed() == want_all and await listed("x") == want_x:
                break
            await asyncio.sleep(0.01)
        assert await listed() == want_all and await listed("x") == want_x
        await ca.close()
        for _ in range(200):
            if [p.connection_id for p in await wb.presence()] == [idb]:
                break
            await asyncio.sleep(0.01)
        assert [p.connection_id for p in await wb.presence()] == [idb]


WORKER = """
import asyncio, sys
from tests.helpers.backplane_app import server_router
from tests.test_backplane import backplane
from wsrpc_typed import Server

async def main() -> None:
    async with Server(server_router(), port=0, backplane=backplane(sys.argv[1], sys.argv[2])) as s:
        print(s.url, flush=True)
        await asyncio.Future()

asyncio.run(main())
"""


async def test_a_killed_worker_drops_out_of_presence_and_its_calls_fail(
    redis_server: RedisServer,
) -> None:
    namespace = f"test-{secrets.token_hex(4)}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WORKER,
        redis_server.url,
        namespace,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), UNIT * 2)).decode().strip()
        async with (
            Server(server_router(), port=0, backplane=backplane(redis_server.url, namespace)) as wa,
            connect(url, router=(victim_member := Member()).router) as victim,
        ):
            vid = await victim.call("me")
            await eventually(lambda: wa.hub.backplane is not None)
            for _ in range(200):
                if [p.connection_id for p in await wa.presence()] == [vid]:
                    break
                await asyncio.sleep(0.01)
            assert [p.connection_id for p in await wa.presence()] == [vid]
            call = asyncio.ensure_future(wa.peer(vid).call("nap", {"seconds": UNIT * 4}))
            await asyncio.wait_for(victim_member.napping.wait(), UNIT)
            proc.kill()  # kill -9: no goodbye
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(ConnectionClosed):
                await call
            assert loop.time() - started < 2.0  # the TTL is 0.5 s
            assert await wa.presence() == []
            with pytest.raises(NoSuchPeer):
                await wa.peer(vid).call("double", {"x": 1})
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_redis_down_fails_fast_and_recovery_is_reported(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    namespace = f"test-{secrets.token_hex(4)}"
    events: list[str] = []
    try:
        async with (
            Server(server_router(), port=0, backplane=backplane(redis.url, namespace)) as wa,
            Server(server_router(), port=0, backplane=backplane(redis.url, namespace)) as wb,
            member(wa) as (a, ca, _),
            member(wb) as (_, cb, idb),
        ):
            wa.on("backplane", lambda state, exc: events.append(state))
            await ca.call("enter", {"topic": "r"})
            redis.stop()
            await eventually(lambda: events == ["lost"])
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(BackplaneUnavailable):
                await wa.peer(idb).call("double", {"x": 1})
            with pytest.raises(BackplaneUnavailable):
                await wa.publish("r", "heard", {"seq": 0, "by": "x"})
            with pytest.raises(BackplaneUnavailable):
                await wa.presence()
            assert loop.time() - started < 0.5
            # Local work goes on meanwhile.
            assert await ca.call("me")
            redis.start()
            await eventually(lambda: events == ["lost", "restored"], UNIT * 2)
            assert await wa.peer(idb).call("double", {"x": 4}) == 8
            # The topic was subscribed again: a publication from the other worker arrives.
            await eventually(lambda: wb.hub.backplane is not None)
            for seq in range(3):
                await cb.call("shout", {"topic": "r", "seq": seq})
            await eventually(lambda: [h["seq"] for h in a.heard] == [0, 1, 2])
    finally:
        redis.stop()


async def test_a_server_does_not_start_without_its_redis(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)  # never started: nothing listens on its port
    server = Server(server_router(), port=0, backplane=backplane(redis.url, "x"))
    with pytest.raises(BackplaneUnavailable):
        await server.open()


async def test_a_generated_peer_stub_calls_a_client_of_another_worker(
    redis_server: RedisServer,
) -> None:
    """``ChatPeer(server.peer(cid))``: typed calls and declared types across workers."""
    namespace = f"test-{secrets.token_hex(4)}"
    alice = ChatMember()
    async with (
        Server(chat.router, port=0, backplane=backplane(redis_server.url, namespace)) as wa,
        Server(chat.router, port=0, backplane=backplane(redis_server.url, namespace)) as wb,
        connect(wb.url, router=register_handlers(Router(), alice)),
    ):
        [conn] = wb.connections
        peer = ChatPeer(wa.peer(conn.id))
        assert await peer.confirm(question="Still there?") is True
        assert alice.questions == ["Still there?"]
        sent = peer_generated.ChatMessage(room="lobby", seq=1, sender="bob", text="hi")
        await peer.message(message=sent)
        assert (await alice.next()).model_dump() == sent.model_dump()
        with pytest.raises(NoSuchPeer):
            await ChatPeer(wa.peer(f"{wb.hub.worker_id}.999")).confirm(question="?")


async def test_a_redis_url_is_a_backplane(redis_server: RedisServer) -> None:
    """``Server(backplane="redis://...")`` and the same on RpcApp."""
    assert isinstance(
        RpcApp(server_router(), backplane=redis_server.url).hub.backplane, RedisBackplane
    )
    async with (
        Server(server_router(), port=0, backplane=redis_server.url) as wa,
        Server(server_router(), port=0, backplane=redis_server.url) as wb,
        member(wb) as (_, _cb, idb),
    ):
        assert isinstance(wa.hub.backplane, RedisBackplane)
        assert await wa.peer(idb).call("double", {"x": 8}) == 16


class SlowToSubscribe(RedisBackplane):
    """Takes 0.3 s to subscribe to a topic, as a busy Redis might."""

    async def joined(self, topic: str) -> None:
        await asyncio.sleep(0.3)
        await super().joined(topic)


async def test_members_who_join_a_new_topic_at_once_all_wait_for_its_subscription(
    redis_server: RedisServer,
) -> None:
    namespace = f"test-{secrets.token_hex(4)}"
    slow = SlowToSubscribe(redis_server.url, namespace=namespace)
    async with (
        Server(server_router(), port=0, backplane=backplane(redis_server.url, namespace)) as wa,
        Server(server_router(), port=0, backplane=slow) as wb,
        member(wb) as (_, first, _),
        member(wb) as (second, c2, _),
    ):
        # The first asks to join; the second asks while that subscription is on its way.
        # Once its answer is back, a publication from the other worker must reach it.
        joining = asyncio.ensure_future(first.call("enter", {"topic": "fresh"}))
        await asyncio.sleep(0.1)
        await c2.call("enter", {"topic": "fresh"})
        await wa.publish("fresh", "heard", {"seq": 1, "by": "a"})
        await joining
        await eventually(lambda: second.heard == [{"seq": 1, "by": "a"}])
