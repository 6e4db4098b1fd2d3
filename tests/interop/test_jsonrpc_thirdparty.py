"""A third-party JSON-RPC 2.0 WebSocket client (jsonrpc-websocket, on aiohttp) against our server.

The client offers no subprotocol, so the server must recognise JSON-RPC from
the first frame (``wsrpc_typed.dialects.detect``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from jsonrpc_base import ProtocolError
from jsonrpc_websocket import Server as JsonRpcClient

from tests.conftest import UNIT
from tests.helpers.apps import Events
from wsrpc_typed import Server


@pytest.fixture
async def client(server: Server) -> AsyncIterator[Any]:
    rpc = JsonRpcClient(server.url, timeout=UNIT)
    reader = await rpc.ws_connect()
    try:
        yield rpc
    finally:
        await rpc.close()
        await asyncio.wait_for(reader, UNIT)


def _error(info: pytest.ExceptionInfo[Any]) -> tuple[int, str, dict[str, Any]]:
    """ProtocolError(code, message, response) -> (code, message, the response's error object)."""
    code, message, response = info.value.args
    return code, message, response["error"]


async def test_detected_as_jsonrpc_without_subprotocol(client: Any, server: Server) -> None:
    assert await client.add(1, 2) == 3
    (conn,) = server.connections
    assert conn.transport.subprotocol is None
    assert conn.dialect.name == "jsonrpc-2.0"


async def test_positional_and_named_params(client: Any) -> None:
    assert await client.add(40, 2) == 42
    assert await client.add(a=1, b=-1) == 0
    assert await client.mul(a=1.5) == 3.0
    assert await client.computePrimes(20) == [2, 3, 5, 7, 11, 13, 17, 19]
    payload = {"ü€😀": [1, 2.5, None, True, {"nested": [2**53 - 1]}]}
    assert await client.echo(payload) == payload
    assert await client.echo() is None


async def test_concurrent_calls(client: Any) -> None:
    results = await asyncio.gather(*(client.add(i, i) for i in range(50)))
    assert results == [2 * i for i in range(50)]


async def test_unknown_method(client: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        await client.noSuchMethod(1)
    code, message, _ = _error(info)
    assert code == -32601
    assert "noSuchMethod" in message


async def test_invalid_params_list_every_error(client: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        await client.add(a="one", b=[2])
    code, message, error = _error(info)
    assert (code, message) == (-32602, "Invalid params")
    data = error["data"]
    assert [(entry["loc"], entry["type"]) for entry in data] == [
        (["a"], "int_parsing"),
        (["b"], "int_type"),
    ]
    for entry in data:
        assert set(entry) == {"loc", "msg", "type"} and entry["msg"], entry
    assert "one" not in json.dumps(data), "the input was echoed back"


async def test_handler_failure_is_opaque(client: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        await client.fail()
    code, message, error = _error(info)
    assert (code, message) == (-32603, "Internal error")
    text = json.dumps(error)
    for leak in ("Traceback", 'File "', "secret", "/etc/passwd", "ValueError"):
        assert leak not in text, error


async def test_application_error(client: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        await client.withdraw("5.00")
    code, message, error = _error(info)
    assert (code, message) == (1001, "Insufficient funds")
    assert error["data"] == {"balance": "3.50", "requested": "5.00"}


async def test_notification(client: Any, events: Events) -> None:
    assert await client.record({"k": [1, "ü"]}, _notification=True) is None
    # A notification gets no reply; a call after it on the same connection
    # is answered after the notification was handled (frames are read in order).
    assert await client.add(1, 1) == 2
    assert events.notified == [{"k": [1, "ü"]}]


async def test_connection_survives_errors(client: Any) -> None:
    for call in (client.noSuchMethod, client.fail):
        with pytest.raises(ProtocolError):
            await call()
    assert await client.add(2, 3) == 5
