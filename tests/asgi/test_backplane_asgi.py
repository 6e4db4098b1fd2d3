"""RpcApp with a Redis backplane: two apps under uvicorn in this process (two workers), and
``uvicorn --workers 2`` as a user runs it, against a real Redis server."""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import pytest

from tests.conftest import UNIT
from tests.helpers.asgi_servers import run_uvicorn, uvicorn_subprocess
from tests.helpers.backplane_app import Member, server_router
from tests.helpers.redis import RedisServer
from tests.helpers.waiting import eventually
from wsrpc_typed import NoSuchPeer, connect
from wsrpc_typed.adapters.redis import RedisBackplane
from wsrpc_typed.asgi import RpcApp


def linked_app(url: str, namespace: str) -> RpcApp:
    backplane = RedisBackplane(url, namespace=namespace, heartbeat=0.1, ttl=0.5)
    return RpcApp(server_router(), backplane=backplane)


async def test_two_apps_under_uvicorn_publish_call_and_list_each_others_clients(
    redis_server: RedisServer,
) -> None:
    namespace = f"test-{secrets.token_hex(4)}"
    app_a, app_b = linked_app(redis_server.url, namespace), linked_app(redis_server.url, namespace)
    async with run_uvicorn(app_a) as (_, url_a), run_uvicorn(app_b) as (server_b, url_b):
        a, b = Member(), Member()
        async with (
            connect(url_a, router=a.router) as ca,
            connect(url_b, router=b.router) as cb,
        ):
            ida, idb = await ca.call("me"), await cb.call("me")
            assert ida.split(".")[0] != idb.split(".")[0]
            await cb.call("enter", {"topic": "t"})
            await ca.call("shout", {"topic": "t", "seq": 7})
            await eventually(lambda: b.heard == [{"seq": 7, "by": ida}])
            assert await app_a.peer(idb).call("double", {"x": 21}) == 42
            params = {"target": ida, "method": "double", "params": {"x": 2}}
            assert await cb.call("ask", params) == 4

            async def listed() -> list[str]:
                return [p.connection_id for p in await app_a.presence()]

            for _ in range(200):
                if await listed() == sorted([ida, idb]):
                    break
                await asyncio.sleep(0.01)
            assert await listed() == sorted([ida, idb])
        # App b's lifespan shutdown takes it out of the deployment at once.
        server_b.should_exit = True
        loop = asyncio.get_running_loop()
        for _ in range(200):
            if await app_a.presence() == []:
                break
            await asyncio.sleep(0.01)
        assert await app_a.presence() == []
        started = loop.time()
        with pytest.raises(NoSuchPeer):
            await app_a.peer(idb).call("double", {"x": 1})
        assert loop.time() - started < 0.1


async def test_uvicorn_workers_share_one_backplane(redis_server: RedisServer) -> None:
    """``uvicorn ...:app --workers 2``: each worker its own app, one deployment."""
    namespace = f"test-{secrets.token_hex(4)}"
    env = {"TEST_REDIS_URL": redis_server.url, "TEST_NAMESPACE": namespace}
    async with uvicorn_subprocess("tests.helpers.backplane_asgi_app:app", 2, env) as http:
        url = http.replace("http://", "ws://")
        members = [Member() for _ in range(8)]
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(connect(url, router=m.router)) for m in members
            ]
            ids = [await c.call("me") for c in clients]
            for client in clients:
                await client.call("enter", {"topic": "all"})
            await clients[0].call("shout", {"topic": "all", "seq": 1})
            await eventually(lambda: all(m.heard for m in members), UNIT)
            assert all(m.heard == [{"seq": 1, "by": ids[0]}] for m in members)
            # Every worker lists every worker's connections; each client answers by id.
            for _ in range(200):
                if sorted(await clients[-1].call("who")) == sorted(ids):
                    break
                await asyncio.sleep(0.01)
            assert sorted(await clients[-1].call("who")) == sorted(ids)
            for target in ids:
                params = {"target": target, "method": "double", "params": {"x": 5}}
                assert await clients[0].call("ask", params) == 10
