"""Interceptors around calls, server and client side, and the logging interceptor."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.helpers.apps import InsufficientFunds
from tests.helpers.transports import serve_on
from wsrpc_typed import (
    Call,
    Forbidden,
    InternalError,
    InvalidParams,
    LoggingInterceptor,
    MethodNotFound,
    Router,
    RpcError,
    Server,
    connect,
)
from wsrpc_typed.interceptors import Proceed


async def test_server_interceptors_run_in_order_and_can_short_circuit(
    router: Router, server_transport: str
) -> None:
    seen: list[str] = []

    async def outer(call: Call, proceed: Proceed) -> Any:
        seen.append(f"outer>{call.method}")
        result = await proceed()
        seen.append(f"outer<{result!r}")
        return result

    async def guard(call: Call, proceed: Proceed) -> Any:
        seen.append(f"guard {call.side} {call.params}")
        if call.method == "mul":
            raise Forbidden("no multiplying today")
        return await proceed()

    async with (
        serve_on(server_transport, router, interceptors=[outer, guard]) as server,
        connect(server.url) as conn,
    ):
        assert await conn.call("add", [1, 2]) == 3
        with pytest.raises(Forbidden, match="no multiplying"):
            await conn.call("mul", [2, 3])
        assert await conn.call("whoami") == "hi ? #1"  # the context is not a param
        with pytest.raises(MethodNotFound):
            await conn.call("nope")  # no method, no interceptor
    assert seen[:4] == ["outer>add", "guard server {'a': 1, 'b': 2}", "outer<3", "outer>mul"]
    assert "guard server {}" in seen  # whoami's context is not among the params


async def test_client_interceptors(server: Server) -> None:
    seen: list[tuple[str, Any]] = []

    async def record(call: Call, proceed: Proceed) -> Any:
        seen.append((call.method, call.params))
        return await proceed()

    async with connect(server.url, interceptors=[record]) as conn:
        assert await conn.call("add", {"a": 2, "b": 2}) == 4
    assert seen == [("add", {"a": 2, "b": 2})]


async def test_logging_interceptor_logs_one_line_per_call(
    router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wsrpc_typed.calls")
    async with (
        Server(router, port=0, interceptors=[LoggingInterceptor()]) as server,
        connect(server.url) as conn,
    ):
        await conn.call("add", [1, 2])
        with pytest.raises(InvalidParams, match="Invalid params"):
            await conn.call("add", ["secret-value", 2])  # rejected before interceptors
        with pytest.raises(RpcError, match="Insufficient") as declined:
            await conn.call("withdraw", ["7"])
        assert declined.value.code == InsufficientFunds.code
        with pytest.raises(InternalError, match="Internal"):
            await conn.call("fail")
    lines = [r.getMessage() for r in caplog.records if r.name == "wsrpc_typed.calls"]
    assert len(lines) == 3
    assert lines[0].startswith("server add ok ") and lines[0].endswith("ms")
    assert lines[1].startswith("server withdraw error 1001 ")
    assert lines[2].startswith("server fail exception ValueError ")
    assert not any("secret" in line or "7" in line.split()[3:4] for line in lines)
