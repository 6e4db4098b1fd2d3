"""JSON-RPC 2.0 over a real WebSocket on 127.0.0.1: conformance and error codes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import UNIT
from tests.helpers.transports import Served


@pytest.fixture
def server(served: Served) -> Served:
    """This module's tests run on each server transport (the matrix of tests/conftest.py)."""
    return served


@pytest.fixture
async def raw(server: Served) -> AsyncIterator[ClientConnection]:
    async with ws_connect(server.url, subprotocols=["jsonrpc-2.0"]) as ws:  # type: ignore[list-item]
        yield ws


async def exchange(ws: ClientConnection, frame: Any) -> Any:
    await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), UNIT))


async def test_subprotocol_is_negotiated(raw: ClientConnection) -> None:
    assert raw.subprotocol == "jsonrpc-2.0"


async def test_named_and_positional_params(raw: ClientConnection) -> None:
    reply = await exchange(
        raw, {"jsonrpc": "2.0", "id": 1, "method": "add", "params": {"a": 1, "b": 2}}
    )
    assert reply == {"jsonrpc": "2.0", "id": 1, "result": 3}
    reply = await exchange(raw, {"jsonrpc": "2.0", "id": 2, "method": "add", "params": [40, 2]})
    assert reply == {"jsonrpc": "2.0", "id": 2, "result": 42}


@pytest.mark.parametrize("id_", ["abc", 7, 1.5, None, "ü-😀"])
async def test_ids_are_echoed_verbatim(raw: ClientConnection, id_: Any) -> None:
    reply = await exchange(raw, {"jsonrpc": "2.0", "id": id_, "method": "add", "params": [1, 1]})
    assert reply["id"] == id_ and reply["result"] == 2


async def test_parse_error(raw: ClientConnection) -> None:
    reply = await exchange(raw, '{"jsonrpc": "2.0", "method": "add", "params": [1')
    assert reply["id"] is None and reply["error"]["code"] == -32700


@pytest.mark.parametrize(
    "frame",
    [
        {"jsonrpc": "2.0", "method": 1, "params": "bar", "id": 1},
        {"jsonrpc": "1.0", "method": "add", "id": 1},
        {"jsonrpc": "2.0", "method": "add", "params": "x", "id": 1},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "method": "add", "id": [1]},
        1,
        '"a string"',
    ],
)
async def test_invalid_request(raw: ClientConnection, frame: Any) -> None:
    reply = await exchange(raw, frame)
    assert reply["error"]["code"] == -32600
    assert reply["id"] in (None, 1)


async def test_method_not_found(raw: ClientConnection) -> None:
    reply = await exchange(raw, {"jsonrpc": "2.0", "id": 1, "method": "nope"})
    assert reply["error"]["code"] == -32601 and reply["id"] == 1


async def test_invalid_params_lists_every_error_without_input(raw: ClientConnection) -> None:
    reply = await exchange(
        raw, {"jsonrpc": "2.0", "id": 1, "method": "add", "params": {"a": "s3cr3t", "c": 1}}
    )
    error = reply["error"]
    assert error["code"] == -32602
    assert {(tuple(e["loc"]), e["type"]) for e in error["data"]} == {
        (("a",), "int_parsing"),
        (("b",), "missing"),
        (("c",), "extra_forbidden"),
    }
    assert all(set(e) == {"loc", "msg", "type"} for e in error["data"])
    assert "s3cr3t" not in json.dumps(reply)


async def test_internal_error_is_opaque(
    raw: ClientConnection, caplog: pytest.LogCaptureFixture
) -> None:
    reply = await exchange(raw, {"jsonrpc": "2.0", "id": "r1", "method": "fail"})
    assert reply == {
        "jsonrpc": "2.0",
        "id": "r1",
        "error": {"code": -32603, "message": "Internal error"},
    }
    assert "secret internal detail" in caplog.text  # logged with its traceback, not sent
    assert "'r1'" in caplog.text


async def test_result_not_matching_declared_type_is_internal_error(raw: ClientConnection) -> None:
    reply = await exchange(raw, {"jsonrpc": "2.0", "id": 1, "method": "bad_result"})
    assert reply["error"] == {"code": -32603, "message": "Internal error"}


async def test_application_error_reaches_caller_as_is(raw: ClientConnection) -> None:
    reply = await exchange(raw, {"jsonrpc": "2.0", "id": 1, "method": "withdraw", "params": ["5"]})
    assert reply["error"] == {
        "code": 1001,
        "message": "Insufficient funds",
        "data": {"balance": "3.50", "requested": "5"},
    }


async def test_notifications_get_no_reply(raw: ClientConnection) -> None:
    await raw.send(json.dumps({"jsonrpc": "2.0", "method": "add", "params": [1, 2]}))
    await raw.send(json.dumps({"jsonrpc": "2.0", "method": "nope"}))
    await raw.send(json.dumps({"jsonrpc": "2.0", "method": "fail"}))
    reply = await exchange(
        raw, {"jsonrpc": "2.0", "id": "after", "method": "add", "params": [2, 2]}
    )
    assert reply["id"] == "after"  # nothing was sent for the three notifications


async def test_batch_mixed(raw: ClientConnection) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "add", "params": [1, 2], "id": "1"},
        {"jsonrpc": "2.0", "method": "record", "params": [7]},
        {"jsonrpc": "2.0", "method": "sleep", "params": [0.05, "s"], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "nope", "id": "5"},
        {"jsonrpc": "2.0", "method": "add", "params": {"a": "x"}, "id": "9"},
    ]
    replies = await exchange(raw, batch)
    assert isinstance(replies, list)
    by_id = {r["id"]: r for r in replies}
    assert by_id["1"]["result"] == 3
    assert by_id["2"]["result"] == "s"
    assert by_id["5"]["error"]["code"] == -32601
    assert by_id["9"]["error"]["code"] == -32602
    assert by_id[None]["error"]["code"] == -32600
    assert len(replies) == 5


async def test_empty_batch_is_a_single_invalid_request(raw: ClientConnection) -> None:
    reply = await exchange(raw, [])
    assert reply == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "Invalid Request", "data": "empty batch"},
    }


async def test_invalid_batch_items(raw: ClientConnection) -> None:
    replies = await exchange(raw, [1, 2])
    assert [r["error"]["code"] for r in replies] == [-32600, -32600]


async def test_all_notification_batch_gets_nothing(raw: ClientConnection) -> None:
    await raw.send(
        json.dumps([{"jsonrpc": "2.0", "method": "record", "params": [i]} for i in range(3)])
    )
    reply = await exchange(raw, {"jsonrpc": "2.0", "id": "next", "method": "add", "params": [0, 0]})
    assert reply["id"] == "next"


async def test_slow_handler_does_not_block_others(raw: ClientConnection) -> None:
    await raw.send(
        json.dumps(
            {"jsonrpc": "2.0", "id": "slow", "method": "sleep", "params": [UNIT / 5, "slow"]}
        )
    )
    await raw.send(json.dumps({"jsonrpc": "2.0", "id": "fast", "method": "add", "params": [1, 1]}))
    first = json.loads(await asyncio.wait_for(raw.recv(), UNIT))
    second = json.loads(await asyncio.wait_for(raw.recv(), UNIT))
    assert (first["id"], second["id"]) == ("fast", "slow")


async def test_plain_def_runs_in_a_thread_without_blocking_the_loop(raw: ClientConnection) -> None:
    await raw.send(
        json.dumps({"jsonrpc": "2.0", "id": "b", "method": "block", "params": [UNIT / 5]})
    )
    await raw.send(json.dumps({"jsonrpc": "2.0", "id": "fast", "method": "add", "params": [1, 1]}))
    first = json.loads(await asyncio.wait_for(raw.recv(), UNIT))
    assert first["id"] == "fast"
    second = json.loads(await asyncio.wait_for(raw.recv(), UNIT))
    assert second == {"jsonrpc": "2.0", "id": "b", "result": UNIT / 5}


async def test_bad_frames_do_not_disturb_other_connections(server: Served) -> None:
    async with (
        ws_connect(server.url, subprotocols=["jsonrpc-2.0"]) as bad,  # type: ignore[list-item]
        ws_connect(server.url, subprotocols=["jsonrpc-2.0"]) as good,  # type: ignore[list-item]
    ):
        for junk in ["{", "[", "null", '{"jsonrpc":"2.0"}', "\x00" * 10, "[[[]]]"]:
            await bad.send(junk)
        await bad.send(b"\x82\xa1a\x01")  # a binary frame on a JSON-RPC connection
        for _ in range(7):
            await asyncio.wait_for(bad.recv(), UNIT)
        reply = await exchange(good, {"jsonrpc": "2.0", "id": 1, "method": "add", "params": [1, 2]})
        assert reply["result"] == 3
        reply = await exchange(bad, {"jsonrpc": "2.0", "id": 2, "method": "add", "params": [1, 2]})
        assert reply["result"] == 3


async def test_results_beyond_64_bits_are_sent(raw: ClientConnection) -> None:
    reply = await exchange(
        raw, {"jsonrpc": "2.0", "id": 1, "method": "add", "params": [2**63, 2**63]}
    )
    assert reply["result"] == 2**64


@pytest.mark.parametrize(("depth", "echoed"), [(250, True), (300, False)])
async def test_deeply_nested_values(raw: ClientConnection, depth: int, echoed: bool) -> None:
    """Past the serialisers' depth (about 255 levels) a result is an internal error."""
    nested = "[" * depth + '"bottom"' + "]" * depth
    await raw.send('{"jsonrpc":"2.0","id":7,"method":"echo","params":[' + nested + "]}")
    reply = await asyncio.wait_for(raw.recv(), UNIT)
    assert isinstance(reply, str)
    if echoed:
        assert reply.endswith('"result":' + nested + "}")
    else:
        assert json.loads(reply)["error"] == {"code": -32603, "message": "Internal error"}
    reply = await exchange(raw, {"jsonrpc": "2.0", "id": 8, "method": "add", "params": [1, 2]})
    assert reply["result"] == 3


async def test_invalid_union_tags_are_not_echoed(raw: ClientConnection) -> None:
    params = {"point": {}, "pet": {"kind": "s3cr3t-tag"}}
    reply = await exchange(raw, {"jsonrpc": "2.0", "id": 1, "method": "shapes", "params": params})
    assert reply["error"]["code"] == -32602
    assert "s3cr3t" not in json.dumps(reply)
