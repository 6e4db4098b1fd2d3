"""Oracles for the frames our side emits, written from docs/protocol.md, not from the encoders.

:func:`read_frame` parses a frame strictly (RFC 8259 JSON: valid UTF-8, no
``NaN``/``Infinity``, no lone surrogates, no duplicate keys; or msgpack with
UTF-8 strings) and checks that it has its dialect's envelope, in the key
order the original implementations write. :func:`wire_form` is what an
event must look like on the wire.
"""

from __future__ import annotations

import json
import math
import sys
from datetime import datetime
from typing import Any

import msgpack
import orjson

from wsrpc_typed.dialects.events import (
    Acknowledge,
    Cancel,
    Credit,
    ErrorResponse,
    Notification,
    Outgoing,
    Request,
    Response,
    StreamItem,
)
from wsrpc_typed.dialects.jsonrpc import SUBPROTOCOL as JSONRPC
from wsrpc_typed.dialects.legacy import SUBPROTOCOL as LEGACY
from wsrpc_typed.dialects.v2 import SUBPROTOCOL as V2_MSGPACK

__all__ = ["is_plain", "read_frame", "same", "strict_json", "wire_form"]


def _no_constant(name: str) -> Any:
    raise AssertionError(f"non-standard JSON constant {name} in a frame we sent")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    assert len(set(keys)) == len(keys), f"duplicate keys in a frame we sent: {keys}"
    return dict(pairs)


def _no_lone_surrogates(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is str:
            assert not any("\ud800" <= c <= "\udfff" for c in item), "a lone surrogate"
        elif type(item) is list:
            stack.extend(item)
        elif type(item) is dict:
            stack.extend(item)
            stack.extend(item.values())


def strict_json(raw: bytes) -> Any:
    """Parse ``raw`` as RFC 8259 JSON, or fail the test."""
    text = raw.decode("utf-8")  # strict: invalid UTF-8 and UTF-8-encoded surrogates fail
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # the json module recurses once per level
    try:
        value = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    finally:
        sys.setrecursionlimit(limit)
    _no_lone_surrogates(value)
    orjson.loads(raw)  # a second parser, which also refuses escaped lone surrogates
    return value


def _unpack(raw: bytes) -> Any:
    # raw=False: every str must be valid UTF-8.
    return msgpack.unpackb(raw, raw=False, strict_map_key=False, use_list=True)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _jsonrpc_id(value: Any) -> bool:
    return value is None or type(value) is str or _number(value)


def _check_jsonrpc_object(obj: Any) -> None:
    assert type(obj) is dict, f"a JSON-RPC message must be an object: {obj!r:.200}"
    assert obj.get("jsonrpc") == "2.0", "jsonrpc must be exactly 2.0"
    if "method" in obj:  # a call the server makes (rpc.item, a notification, a callback)
        assert set(obj) <= {"jsonrpc", "id", "method", "params", "timeout", "credit"}, obj.keys()
        assert type(obj["method"]) is str
        assert type(obj.get("params", [])) in (list, dict)
        assert _jsonrpc_id(obj.get("id")), "invalid id"
        assert obj.get("timeout") is None or _number(obj["timeout"])
        assert obj.get("credit") is None or (type(obj["credit"]) is int and obj["credit"] > 0)
        return
    assert "id" in obj, "a response must have an id (null when unknown)"
    assert _jsonrpc_id(obj["id"]), "invalid id"
    assert set(obj) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"}), obj.keys()
    if "error" in obj:
        error = obj["error"]
        assert type(error) is dict and set(error) <= {"code", "message", "data"}, error
        assert type(error["code"]) is int, "error code must be an integer"
        assert type(error["message"]) is str, "error message must be a string"


def _check_jsonrpc(obj: Any) -> None:
    if type(obj) is list:
        assert obj, "an empty batch reply must not be sent (§6)"
        for item in obj:
            _check_jsonrpc_object(item)
            assert "method" not in item, "a batch reply holds responses only"
    else:
        _check_jsonrpc_object(obj)


def _check_error_record(record: Any, *, stack: bool) -> None:
    keys = (
        ["error", "message", "stack", "code", "data"]
        if stack
        else ["error", "code", "message", "data"]
    )
    assert list(record) in (keys, keys[:-1]), f"error record keys {list(record)}"
    assert record["error"] is True
    assert type(record["message"]) is str and record["message"], "an empty message"
    assert type(record["code"]) is int
    if stack:
        # The original client raises RemoteError only for a truthy stack (§2.6); ours is a
        # one-line summary, "<ErrorName>: <message> (code <code>)", never a traceback.
        summary = record["stack"]
        assert type(summary) is str, "the stack must be a string"
        one_line = " ".join(record["message"].splitlines())
        assert summary == f"{summary.partition(':')[0]}: {one_line} (code {record['code']})"
        assert len(summary.splitlines()) == 1, summary
        assert summary.partition(":")[0].isidentifier(), summary


_LEGACY_RECORD = {"error", "code", "message", "data"}
_V2_RECORD = {"error", "message", "stack", "code", "data"}


def _our_record(args: list[Any], keys: set[str]) -> bool:
    """Whether a reply's values look like our error record (a result may be any value)."""
    if len(args) != 1 or type(args[0]) is not dict:
        return False
    record = args[0]
    return record.get("error") is True and set(record) <= keys and keys - {"data"} <= set(record)


def _check_legacy(obj: Any, error: bool | None) -> None:
    assert type(obj) is dict and list(obj) == ["id", "payload"], f"legacy frame {obj!r:.200}"
    payload = obj["payload"]
    assert type(payload) is dict and list(payload) == ["instruction", "args"], payload
    instruction, args = payload["instruction"], payload["args"]
    assert type(instruction) is str or (type(instruction) is int and instruction in (0, 1))
    assert type(args) is list
    if error or (error is None and instruction == 0 and _our_record(args, _LEGACY_RECORD)):
        assert instruction == 0 and len(args) == 1
        _check_error_record(args[0], stack=False)


def _check_v2(obj: Any, error: bool | None) -> None:
    assert type(obj) is dict and list(obj) == ["id", "instruction"], f"v2 frame {obj!r:.200}"
    inner = obj["instruction"]
    assert type(inner) is dict and list(inner) == ["args", "command", "type"], inner
    args, kind = inner["args"], inner["type"]
    assert type(args) is list
    assert type(inner["command"]) is str
    assert type(kind) is int and kind in (0, 1, 2)
    if error or (error is None and kind == 1 and _our_record(args, _V2_RECORD)):
        assert kind == 1 and len(args) == 1
        _check_error_record(args[0], stack=True)


def read_frame(
    dialect: str, raw: bytes, *, text: bool | None = None, error: bool | None = None
) -> Any:
    """Parse a frame our side sent, check its envelope, and return it.

    Args:
        dialect: The dialect's subprotocol name.
        raw: The frame's payload.
        text: Whether it went out as a text frame (``None``: unknown).
        error: Whether it must be an error reply (``None``: unknown; error
            records are then checked when they look like ours).
    """
    if dialect == V2_MSGPACK:
        assert text is not True, "v2 msgpack frames go out as binary frames"
        obj = _unpack(raw)
    else:
        assert text is not False, f"{dialect} frames go out as text frames"
        obj = strict_json(raw)
    if dialect == JSONRPC:
        _check_jsonrpc(obj)
        if error:
            assert type(obj) is dict and "error" in obj
    elif dialect == LEGACY:
        _check_legacy(obj, error)
    else:
        _check_v2(obj, error)
    return obj


def is_plain(value: Any) -> bool:
    """Whether a value goes on the wire unchanged (no datetime to turn into text, no NaN)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, datetime) or (type(item) is float and math.isnan(item)):
            return False
        if type(item) is list or type(item) is tuple:
            stack.extend(item)
        elif type(item) is dict:
            stack.extend(item)
            stack.extend(item.values())
    return True


def same(a: Any, b: Any) -> bool:
    """Equality that also compares types (``1``, ``1.0`` and ``True`` differ); lists equal tuples.

    Iterative: the values may be nested a thousand levels deep.
    """
    seq = (list, tuple)
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if type(x) in seq and type(y) in seq:
            if len(x) != len(y):
                return False
            pending.extend(zip(x, y, strict=True))
        elif type(x) is not type(y):
            return False
        elif type(x) is dict:
            if len(x) != len(y):
                return False
            for key, value in x.items():
                match = [other for other in y if other == key and type(other) is type(key)]
                if not match:
                    return False
                pending.append((value, y[match[0]]))
        elif type(x) is float and math.isnan(x):
            if not math.isnan(y):
                return False
        elif x != y:
            return False
    return True


def wire_form(dialect: str, event: Outgoing) -> Any:
    """What a reply or call is on the wire, per docs/protocol.md (``None``: not one of those).

    For v2 error records, compare without ``stack``: :func:`read_frame` checks its form.
    """
    if dialect == JSONRPC:
        return _jsonrpc_form(event)
    args: list[Any]
    legacy: int | str
    if isinstance(event, ErrorResponse):
        record: dict[str, Any] = {"error": True, "code": event.code, "message": event.message}
        if event.data is not None:
            record["data"] = event.data
        args, legacy, v2 = [record], 0, 1
    elif isinstance(event, Response):
        args, legacy, v2 = list(event.values), 0, 1
    elif isinstance(event, Acknowledge):
        args, legacy, v2 = list(event.values), 1, 2
    elif isinstance(event, Request):
        params = event.params
        args = params if type(params) is list else ([] if params is None else [params])
        legacy, v2 = event.method, 0
    else:
        return None
    if dialect == LEGACY:
        return {"id": event.id, "payload": {"instruction": legacy, "args": args}}
    return {"id": event.id, "instruction": {"args": args, "command": event.method, "type": v2}}


def _jsonrpc_form(event: Outgoing) -> Any:
    head: dict[str, Any] = {"jsonrpc": "2.0"}
    if isinstance(event, Response):
        return {**head, "id": event.id, "result": event.values[0]}
    if isinstance(event, ErrorResponse):
        error: dict[str, Any] = {"code": event.code, "message": event.message}
        if event.data is not None:
            error["data"] = event.data
        return {**head, "id": event.id, "error": error}
    if isinstance(event, Request | Notification):
        call = {**head, "id": event.id} if isinstance(event, Request) else head
        call = {**call, "method": event.method}
        if event.params is not None:
            call["params"] = event.params
        if isinstance(event, Request) and event.timeout is not None:
            call["timeout"] = event.timeout
        if isinstance(event, Request) and event.credit is not None:
            call["credit"] = event.credit
        return call
    if isinstance(event, Cancel):
        return {**head, "method": "rpc.cancel", "params": {"id": event.id}}
    if isinstance(event, StreamItem):
        return {**head, "method": "rpc.item", "params": {"id": event.id, "item": event.item}}
    if isinstance(event, Credit):
        return {**head, "method": "rpc.credit", "params": {"id": event.id, "credit": event.credit}}
    return None
