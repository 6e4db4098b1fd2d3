"""Authentication at the handshake, scopes, origin checks and TLS, over real sockets."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
import trustme
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from wsrpc_gen.loaders import spec_from_document
from wsrpc_typed import (
    Context,
    Forbidden,
    Handshake,
    HandshakeRejected,
    Rejected,
    Router,
    Server,
    connect,
)
from wsrpc_typed.schema import api_spec, jsonschema_document, openrpc_document


def secured_router() -> Router:
    router = Router()

    @router.method
    async def whoami(ctx: Context) -> str:
        return str(ctx.identity["user"]) if ctx.identity else "anonymous"

    @router.method(scopes=["admin"])
    async def purge(everything: bool) -> str:
        return "purged"

    return router


def authenticate(handshake: Handshake) -> dict[str, Any]:
    token = handshake.bearer_token() or next(iter(handshake.query.get("token", [])), None)
    if token is None:
        raise Rejected(401, "Missing token")
    if token == "admin-token":
        return {"user": "ada", "scopes": ["admin"]}
    if token == "user-token":
        return {"user": "bob", "scopes": []}
    raise Rejected(403, "Unknown token")


async def test_authentication_accepts_and_rejects() -> None:
    async with Server(secured_router(), port=0, authenticate=authenticate) as server:
        with pytest.raises(HandshakeRejected) as missing:
            await connect(server.url)
        assert missing.value.status == 401
        assert missing.value.body == "Missing token\n"
        with pytest.raises(HandshakeRejected) as wrong:
            await connect(server.url, headers={"Authorization": "Bearer nope"})
        assert wrong.value.status == 403
        assert not server.connections  # nothing reached a handler
        async with connect(server.url, headers={"Authorization": "Bearer user-token"}) as conn:
            assert await conn.call("whoami") == "bob"
        async with connect(server.url + "/?token=admin-token") as conn:
            assert await conn.call("whoami") == "ada"


async def test_async_authenticate_hook() -> None:
    async def check(handshake: Handshake) -> dict[str, str]:
        if handshake.path != "/api":
            raise Rejected(403, "Wrong path")
        return {"user": "ok"}

    async with Server(secured_router(), port=0, authenticate=check) as server:
        with pytest.raises(HandshakeRejected):
            await connect(server.url + "/other")
        async with connect(server.url + "/api") as conn:
            assert await conn.call("whoami") == "ok"


async def test_scopes_are_checked_before_validation() -> None:
    async with Server(secured_router(), port=0, authenticate=authenticate) as server:
        async with connect(server.url, headers={"Authorization": "Bearer user-token"}) as conn:
            with pytest.raises(Forbidden) as info:
                await conn.call("purge", {"everything": "not even a bool"})
            assert info.value.code == -32003 and "admin" in info.value.message
        async with connect(server.url, headers={"Authorization": "Bearer admin-token"}) as conn:
            assert await conn.call("purge", {"everything": True}) == "purged"


@pytest.mark.parametrize(
    ("policy", "origin", "allowed"),
    [
        (None, None, True),  # non-browser clients send no Origin
        (None, "same", True),  # same-origin pages
        (None, "http://evil.example", False),  # Cross-Site WebSocket Hijacking
        (["https://app.example"], "https://app.example", True),
        (["https://app.example"], "http://evil.example", False),
        (["https://app.example"], None, False),
        (["https://app.example", None], None, True),
        ("*", "http://anything.example", True),
    ],
)
async def test_origin_policy(policy: Any, origin: str | None, allowed: bool) -> None:
    async with Server(secured_router(), port=0, origins=policy) as server:
        headers = {}
        if origin == "same":
            headers["Origin"] = f"http://127.0.0.1:{server.port}"
        elif origin is not None:
            headers["Origin"] = origin
        if allowed:
            async with ws_connect(server.url, additional_headers=headers):
                pass
        else:
            with pytest.raises(InvalidStatus) as info:
                await ws_connect(server.url, additional_headers=headers)
            assert info.value.response.status_code == 403


async def test_tls(tmp_path: Any) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    async with Server(secured_router(), port=0, ssl=server_context) as server:
        assert server.url.startswith("wss://127.0.0.1:")
        async with connect(server.url, ssl=client_context) as conn:
            assert await conn.call("whoami") == "anonymous"
        with pytest.raises(ssl.SSLError):
            await connect(server.url, ssl=ssl.create_default_context())  # untrusted CA


def test_scopes_appear_in_both_schema_documents() -> None:
    router = secured_router()
    jsonschema = jsonschema_document(router)
    openrpc = openrpc_document(router)
    assert jsonschema["properties"]["purge"]["x-scopes"] == ["admin"]
    purge = next(m for m in openrpc["methods"] if m["name"] == "purge")
    assert purge["x-scopes"] == ["admin"]
    for document in (jsonschema, openrpc):
        loaded = {m.name: m.scopes for m in spec_from_document(document).methods}
        assert loaded == {m.name: m.scopes for m in api_spec(router).methods}
