"""RpcApp inside FastAPI and Starlette apps under uvicorn: mounts, routes, ``serve(websocket)``,
what handlers see of the scope, plain HTTP beside it, and a third-party JSON-RPC client."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from typing import Any

import pytest
from fastapi import Depends, FastAPI, WebSocket, WebSocketException
from jsonrpc_websocket import Server as JsonRpcClient
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    SimpleUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.routing import Mount, WebSocketRoute

from tests.conftest import UNIT
from tests.helpers.apps import build_router
from tests.helpers.asgi_servers import run_uvicorn
from wsrpc_typed import Context, Forbidden, HandshakeRejected, Rejected, Router, connect
from wsrpc_typed.asgi import RpcApp


def _scope_router() -> Router:
    router = build_router()

    @router.method
    async def where(ctx: Context) -> dict[str, Any]:
        scope = ctx.scope
        assert scope is not None
        user = scope.get("user")
        return {
            "path": scope["path"],
            "root_path": scope["root_path"],
            "client": list(ctx.remote_address),
            "agent": ctx.headers.get("user-agent"),
            "user": user.display_name if user is not None else None,
            "tenant": scope.get("state", {}).get("tenant"),
        }

    @router.method(scopes=["admin"])
    async def admin_only() -> str:
        return "ok"

    return router


def _http_get(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=UNIT) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


async def test_fastapi_mount_beside_http_routes() -> None:
    rpc = RpcApp(_scope_router())
    app = FastAPI(lifespan=rpc.lifespan)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.mount("/rpc", rpc)
    app.router.routes.append(WebSocketRoute("/exact", rpc))
    async with run_uvicorn(app) as (_, url):
        http = url.replace("ws://", "http://")
        status, body, _ = await asyncio.to_thread(_http_get, http + "/health")
        assert (status, body) == (200, '{"status":"ok"}')
        status, body, headers = await asyncio.to_thread(_http_get, http + "/rpc/")
        assert status == 426 and "WebSocket" in body and headers["upgrade"] == "websocket"
        async with connect(url + "/rpc/", headers={"User-Agent": "probe/1"}) as conn:
            assert await conn.call("add", [1, 2]) == 3
            seen = await conn.call("where")
            assert seen["path"] == "/rpc/" and seen["root_path"] == "/rpc"
            assert seen["client"][0] == "127.0.0.1" and seen["agent"] == "probe/1"
            (served,) = rpc.connections
            assert served.remote_address == tuple(seen["client"])
        async with connect(url + "/exact") as conn:  # a route matches its path exactly
            assert await conn.call("add", [2, 2]) == 4
        # A Mount matches "/rpc/..." only: "/rpc" itself is Starlette's "no route" (403).
        with pytest.raises(HandshakeRejected) as info:
            await connect(url + "/rpc", timeout=UNIT)
        assert info.value.status == 403


class _TokenBackend(AuthenticationBackend):
    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser] | None:
        token = conn.query_params.get("token")
        if token is None:
            return None
        return AuthCredentials(["authenticated"]), SimpleUser(token)


async def test_starlette_mount_and_route_with_authentication_middleware() -> None:
    """Middleware's ``user`` reaches ``ctx.scope`` and ``authenticate``; the route is exact."""

    def authenticate(handshake: Any) -> dict[str, Any]:
        user = handshake.scope["user"]
        if not user.is_authenticated:
            raise Rejected(401, "log in first")
        return {
            "name": user.display_name,
            "scopes": ["admin"] if user.display_name == "root" else [],
        }

    rpc = RpcApp(_scope_router(), authenticate=authenticate)
    app = Starlette(
        routes=[WebSocketRoute("/ws", rpc), Mount("/rpc", app=rpc)],
        middleware=[Middleware(AuthenticationMiddleware, backend=_TokenBackend())],
        lifespan=rpc.lifespan,
    )
    async with run_uvicorn(app) as (_, url):
        with pytest.raises(HandshakeRejected) as info:
            await connect(url + "/ws", timeout=UNIT)
        assert (info.value.status, info.value.body) == (401, "log in first\n")
        async with connect(url + "/ws?token=ann") as conn:
            seen = await conn.call("where")
            assert (seen["path"], seen["root_path"], seen["user"]) == ("/ws", "", "ann")
            with pytest.raises(Forbidden):
                await conn.call("admin_only")
        async with connect(url + "/rpc/?token=root") as conn:
            assert (await conn.call("where"))["user"] == "root"
            assert await conn.call("admin_only") == "ok"


async def test_serve_websocket_from_a_fastapi_route_after_its_dependencies() -> None:
    rpc = RpcApp(_scope_router())

    async def tenant(websocket: WebSocket) -> str:
        name = websocket.query_params.get("tenant")
        if name is None:
            raise WebSocketException(code=1008, reason="which tenant?")
        websocket.scope.setdefault("state", {})["tenant"] = name
        return name

    app = FastAPI(lifespan=rpc.lifespan)

    @app.websocket("/tenants/rpc")
    async def rpc_route(websocket: WebSocket, name: str = Depends(tenant)) -> None:
        await rpc.serve(websocket)

    async with run_uvicorn(app) as (_, url):
        with pytest.raises(HandshakeRejected) as info:  # the dependency refused it
            await connect(url + "/tenants/rpc", timeout=UNIT)
        assert info.value.status == 403
        assert not rpc.connections
        async with connect(url + "/tenants/rpc?tenant=acme") as conn:
            seen = await conn.call("where")
            assert seen["tenant"] == "acme" and seen["path"] == "/tenants/rpc"
            assert await conn.call("add", [2, 2]) == 4
            assert len(rpc.connections) == 1
            assert await rpc.broadcast("ping", {"n": 1}) == 1


async def test_a_third_party_json_rpc_client_through_the_mount() -> None:
    rpc = RpcApp(build_router())
    app = FastAPI(lifespan=rpc.lifespan)
    app.mount("/rpc", rpc)
    async with run_uvicorn(app) as (_, url):
        client = JsonRpcClient(url + "/rpc/", timeout=UNIT)
        reader = await client.ws_connect()
        try:
            assert await client.add(1, 2) == 3
            (conn,) = rpc.connections
            assert conn.transport.subprotocol is None  # none offered: detected
            assert conn.dialect.name == "jsonrpc-2.0"
            assert await client.add(a=40, b=2) == 42
            results = await asyncio.gather(*(client.add(i, i) for i in range(20)))
            assert results == [2 * i for i in range(20)]
        finally:
            await client.close()
            await asyncio.wait_for(reader, UNIT)
