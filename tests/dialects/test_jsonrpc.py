"""The JSON-RPC 2.0 dialect, sans I/O: bytes and str in, events out, and back.

The examples follow the rules in the module docstring of
``wsrpc_typed/dialects/jsonrpc.py`` (JSON-RPC 2.0 specification, §4-§6) and
docs/protocol.md ("JSON-RPC 2.0", "Extensions", "Decisions where the
specification leaves room").
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from wsrpc_typed.dialects.events import (
    Acknowledge,
    Batch,
    Cancel,
    Credit,
    Dialect,
    ErrorResponse,
    Event,
    Malformed,
    Notification,
    Outgoing,
    Request,
    Response,
    StreamItem,
)
from wsrpc_typed.dialects.jsonrpc import SUBPROTOCOL, JsonRpcDialect

DIALECT: Dialect = JsonRpcDialect()


def frame(obj: Any) -> bytes:
    return orjson.dumps(obj)


def invalid_request(event: Event, id_: Any = None) -> ErrorResponse:
    """The -32600 reply a Malformed event carries (failing the test if it is anything else)."""
    assert type(event) is Malformed, event
    reply = event.reply
    assert reply is not None, event
    assert (reply.id, reply.code, reply.message) == (id_, -32600, "Invalid Request")
    assert type(reply.id) is type(id_)
    assert type(reply.data) is str and reply.data, reply
    return reply


def test_name_and_frame_type() -> None:
    assert DIALECT.name == SUBPROTOCOL == "jsonrpc-2.0"
    assert DIALECT.text is True
    assert DIALECT.extensions is True


# -- requests and notifications (§4) ----------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1,"b":2}}',
        '{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1,"b":2}}',
    ],
)
def test_request_with_named_params_from_bytes_and_str(raw: bytes | str) -> None:
    assert DIALECT.decode(raw) == Request(1, "add", {"a": 1, "b": 2})


@pytest.mark.parametrize(
    "raw",
    [
        b'{"jsonrpc":"2.0","id":"r1","method":"subtract","params":[42,23]}',
        '{"jsonrpc":"2.0","id":"r1","method":"subtract","params":[42,23]}',
    ],
)
def test_request_with_positional_params_from_bytes_and_str(raw: bytes | str) -> None:
    assert DIALECT.decode(raw) == Request("r1", "subtract", [42, 23])


def test_key_order_does_not_matter() -> None:
    raw = b'{"params":[1],"method":"f","id":7,"jsonrpc":"2.0"}'
    assert DIALECT.decode(raw) == Request(7, "f", [1])


def test_request_without_params() -> None:
    event = DIALECT.decode(b'{"jsonrpc":"2.0","id":3,"method":"ping"}')
    assert event == Request(3, "ping", None)
    assert type(event) is Request
    assert event.params is None


def test_empty_params_stay_empty_containers() -> None:
    assert DIALECT.decode(frame({"jsonrpc": "2.0", "id": 1, "method": "f", "params": []})) == (
        Request(1, "f", [])
    )
    assert DIALECT.decode(frame({"jsonrpc": "2.0", "id": 1, "method": "f", "params": {}})) == (
        Request(1, "f", {})
    )


@pytest.mark.parametrize(
    "id_",
    ["abc", "", 0, -5, 42, 2**63 - 1, 1.5, -0.25, 1e300, None],
    ids=repr,
)
def test_request_id_is_kept_verbatim(id_: Any) -> None:
    event = DIALECT.decode(frame({"jsonrpc": "2.0", "id": id_, "method": "f", "params": [1]}))
    assert event == Request(id_, "f", [1])
    assert type(event) is Request
    assert type(event.id) is type(id_)


def test_integral_float_id_stays_a_float() -> None:
    # 1.0 and 1 are different ids on the wire; the reply must echo 1.0.
    event = DIALECT.decode(b'{"jsonrpc":"2.0","id":1.0,"method":"f"}')
    assert type(event) is Request
    assert type(event.id) is float
    assert event.id == 1.0


def test_id_beyond_64_bits_is_the_nearest_float() -> None:
    # README "Wire dialects": integers beyond 64 bits arrive as the nearest float.
    event = DIALECT.decode(b'{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"f"}')
    assert type(event) is Request
    assert type(event.id) is float
    assert event.id == 1.2345678901234568e29


@pytest.mark.parametrize(
    ("params", "expected"),
    [([1, "a", None], [1, "a", None]), ({"x": [1]}, {"x": [1]}), (None, None)],
    ids=["positional", "named", "absent"],
)
def test_notification(params: Any, expected: Any) -> None:
    obj: dict[str, Any] = {"jsonrpc": "2.0", "method": "update"}
    if params is not None:
        obj["params"] = params
    event = DIALECT.decode(frame(obj))
    assert event == Notification("update", expected)
    assert type(event) is Notification


def test_null_id_is_a_request_not_a_notification() -> None:
    # §4: an absent id means notification; a null id is a (discouraged) request.
    assert DIALECT.decode(b'{"jsonrpc":"2.0","id":null,"method":"f"}') == Request(None, "f", None)


def test_unknown_members_are_ignored() -> None:
    raw = b'{"jsonrpc":"2.0","id":1,"method":"f","params":[1],"extra":{"k":true}}'
    assert DIALECT.decode(raw) == Request(1, "f", [1])


# -- parse errors and invalid requests (§5.1) -------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b'{"jsonrpc":"2.0","method":"foobar,"params":"bar","baz]',
        "{'single': 'quotes'}",
        b"NaN",
        b'{"jsonrpc":"2.0","id":1,"method":"f"} trailing',
        b"\xff\xfe",
    ],
)
def test_invalid_json_is_a_parse_error_with_null_id(raw: bytes | str) -> None:
    event = DIALECT.decode(raw)
    assert type(event) is Malformed
    reply = event.reply
    assert reply is not None
    assert (reply.id, reply.code, reply.message) == (None, -32700, "Parse error")
    assert type(reply.data) is str
    assert reply.data.startswith("invalid JSON")
    assert event.reason == reply.data


@pytest.mark.parametrize("raw", [b"1", b'"text"', b"null", b"true", "3.5"])
def test_a_frame_that_is_not_an_object_is_invalid(raw: bytes | str) -> None:
    reply = invalid_request(DIALECT.decode(raw))
    assert reply.data == "a message must be a JSON object"


@pytest.mark.parametrize(
    "obj",
    [
        {"id": 9, "method": "f"},
        {"jsonrpc": "1.0", "id": 9, "method": "f"},
        {"jsonrpc": 2.0, "id": 9, "method": "f", "params": [1]},
        {"jsonrpc": None, "id": 9, "method": "f"},
        {"jsonrpc": "2.0 ", "id": 9, "method": "f", "params": {}},
    ],
    ids=["missing", "1.0", "number", "null", "padded"],
)
def test_wrong_jsonrpc_member_echoes_a_valid_id(obj: dict[str, Any]) -> None:
    reply = invalid_request(DIALECT.decode(frame(obj)), 9)
    assert reply.data == '"jsonrpc" must be exactly "2.0"'


def test_wrong_jsonrpc_member_echoes_a_string_id() -> None:
    reply = invalid_request(DIALECT.decode(b'{"id":"s-1","method":"f"}'), "s-1")
    assert reply.data == '"jsonrpc" must be exactly "2.0"'


@pytest.mark.parametrize("id_", [True, False, {"k": 1}, {}, [1], []], ids=repr)
def test_bool_object_or_array_id_is_invalid_with_null_id(id_: Any) -> None:
    event = DIALECT.decode(frame({"jsonrpc": "2.0", "id": id_, "method": "f", "params": [1]}))
    reply = invalid_request(event, None)
    assert reply.data == "id must be a string, a number or null"


def test_invalid_id_wins_over_a_wrong_jsonrpc_member() -> None:
    # The id cannot be echoed, so the reply's id is null whatever else is wrong.
    invalid_request(DIALECT.decode(b'{"jsonrpc":"1.0","id":true,"method":"f"}'), None)


@pytest.mark.parametrize("params", [3, 2.5, "bar", True, None], ids=repr)
def test_params_that_are_not_array_or_object_are_invalid(params: Any) -> None:
    event = DIALECT.decode(frame({"jsonrpc": "2.0", "id": "p", "method": "f", "params": params}))
    reply = invalid_request(event, "p")
    assert reply.data == "params must be an array or an object"


@pytest.mark.parametrize("params", [3, "bar", None], ids=repr)
def test_notification_with_bad_params_is_invalid_with_null_id(params: Any) -> None:
    event = DIALECT.decode(frame({"jsonrpc": "2.0", "method": "f", "params": params}))
    reply = invalid_request(event, None)
    assert reply.data == "params must be an array or an object"


@pytest.mark.parametrize("method", [1, None, True, ["f"], {"name": "f"}], ids=repr)
def test_method_that_is_not_a_string_is_invalid(method: Any) -> None:
    event = DIALECT.decode(frame({"jsonrpc": "2.0", "id": 4, "method": method, "params": []}))
    reply = invalid_request(event, 4)
    assert reply.data == "method must be a string"


def test_spec_example_method_number_params_string() -> None:
    # §7: {"jsonrpc": "2.0", "method": 1, "params": "bar"} -> -32600, id null.
    invalid_request(DIALECT.decode(b'{"jsonrpc":"2.0","method":1,"params":"bar"}'), None)


@pytest.mark.parametrize(
    ("obj", "id_"),
    [({"jsonrpc": "2.0"}, None), ({"jsonrpc": "2.0", "id": 5}, 5), ({"id": "x"}, "x")],
    ids=["bare", "id-only", "no-jsonrpc"],
)
def test_neither_request_nor_response_is_invalid(obj: dict[str, Any], id_: Any) -> None:
    reply = invalid_request(DIALECT.decode(frame(obj)), id_)
    assert reply.data == "not a request or a response"


# -- batches (§6) -----------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"[]", "[]", b" [ ] "])
def test_empty_batch_is_one_invalid_request(raw: bytes | str) -> None:
    event = DIALECT.decode(raw)
    assert type(event) is Malformed  # one error, not a Batch and not an empty array
    reply = invalid_request(event, None)
    assert reply.data == "empty batch"


def test_batch_of_one() -> None:
    event = DIALECT.decode(b'[{"jsonrpc":"2.0","id":1,"method":"f","params":[1]}]')
    assert event == Batch((Request(1, "f", [1]),))


def test_batch_with_mixed_valid_and_invalid_items() -> None:
    # The §7 example "rpc call Batch", item for item.
    raw = b"""[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"},
        1,
        {"jsonrpc": "2.0", "id": true, "method": "f"},
        {"jsonrpc": "2.0", "id": 10, "method": "f", "params": "x"}
    ]"""
    event = DIALECT.decode(raw)
    assert type(event) is Batch
    assert len(event.items) == 9
    assert event.items[0] == Request("1", "sum", [1, 2, 4])
    assert event.items[1] == Notification("notify_hello", [7])
    assert event.items[2] == Request("2", "subtract", [42, 23])
    assert invalid_request(event.items[3]).data == "not a request or a response"
    assert event.items[4] == Request("5", "foo.get", {"name": "myself"})
    assert event.items[5] == Request("9", "get_data", None)
    assert invalid_request(event.items[6]).data == "a message must be a JSON object"
    assert invalid_request(event.items[7]).data == "id must be a string, a number or null"
    assert invalid_request(event.items[8], 10).data == "params must be an array or an object"


def test_batch_of_invalid_items_is_one_error_each() -> None:
    # §7: [1,2,3] -> three -32600 errors with id null.
    event = DIALECT.decode(b"[1,2,3]")
    assert type(event) is Batch
    assert len(event.items) == 3
    for item in event.items:
        invalid_request(item, None)


def test_batch_of_responses() -> None:
    # A client reads the server's reply to its batch.
    raw = (
        b'[{"jsonrpc":"2.0","id":1,"result":3},'
        b'{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found"}}]'
    )
    assert DIALECT.decode(raw) == Batch(
        (Response(1, (3,)), ErrorResponse(2, -32601, "Method not found", None))
    )


# -- extensions: deadlines, cancellation, streams ----------------------------------


def test_cancel_notification() -> None:
    event = DIALECT.decode(b'{"jsonrpc":"2.0","method":"rpc.cancel","params":{"id":4}}')
    assert event == Cancel(4)
    assert type(event) is Cancel


def test_stream_item_notification() -> None:
    raw = '{"jsonrpc":"2.0","method":"rpc.item","params":{"id":"s","item":{"seq":0}}}'
    event = DIALECT.decode(raw)
    assert event == StreamItem("s", {"seq": 0})
    assert type(event) is StreamItem


def test_stream_item_without_item_member_carries_null() -> None:
    raw = b'{"jsonrpc":"2.0","method":"rpc.item","params":{"id":5}}'
    assert DIALECT.decode(raw) == StreamItem(5, None)


def test_credit_notification() -> None:
    event = DIALECT.decode(b'{"jsonrpc":"2.0","method":"rpc.credit","params":{"id":5,"credit":3}}')
    assert event == Credit(5, 3)
    assert type(event) is Credit


@pytest.mark.parametrize("credit", [0, -1, 1.5, "2", True, None], ids=repr)
def test_credit_that_is_not_a_positive_integer_is_not_a_grant(credit: Any) -> None:
    params = {"id": 5, "credit": credit}
    event = DIALECT.decode(frame({"jsonrpc": "2.0", "method": "rpc.credit", "params": params}))
    assert event == Notification("rpc.credit", params)


@pytest.mark.parametrize("method", ["rpc.cancel", "rpc.item", "rpc.credit"])
def test_extension_notification_without_an_id_is_a_plain_notification(method: str) -> None:
    event = DIALECT.decode(frame({"jsonrpc": "2.0", "method": method, "params": {"x": 1}}))
    assert event == Notification(method, {"x": 1})


def test_extension_name_with_an_id_is_an_ordinary_request() -> None:
    raw = b'{"jsonrpc":"2.0","id":8,"method":"rpc.cancel","params":{"id":4}}'
    assert DIALECT.decode(raw) == Request(8, "rpc.cancel", {"id": 4})


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("rpc.cancel", {"id": 4}),
        ("rpc.item", {"id": 4, "item": [1]}),
        ("rpc.credit", {"id": 4, "credit": 2}),
    ],
)
def test_extension_notifications_are_malformed_inside_a_batch(
    method: str, params: dict[str, Any]
) -> None:
    call = {"jsonrpc": "2.0", "method": method, "params": params}
    # Outside a batch the same object is a control event.
    assert type(DIALECT.decode(frame(call))) in (Cancel, StreamItem, Credit)
    event = DIALECT.decode(frame([{"jsonrpc": "2.0", "id": 1, "method": "f"}, call]))
    assert type(event) is Batch
    assert event.items[0] == Request(1, "f", None)
    malformed = event.items[1]
    assert type(malformed) is Malformed
    assert malformed.reply is None  # a notification is never answered, even in error
    assert malformed.reason == "extension notifications are not allowed in a batch"


@pytest.mark.parametrize(
    ("members", "timeout", "credit"),
    [
        ({"timeout": 0.5}, 0.5, None),
        ({"timeout": 5}, 5, None),
        ({"timeout": 0}, 0, None),
        ({"timeout": -1.5}, -1.5, None),
        ({"credit": 2}, None, 2),
        ({"timeout": 2.5, "credit": 10}, 2.5, 10),
        ({"timeout": "5"}, None, None),
        ({"timeout": True}, None, None),
        ({"timeout": None}, None, None),
        ({"credit": 0}, None, None),
        ({"credit": -3}, None, None),
        ({"credit": 2.0}, None, None),
        ({"credit": True}, None, None),
        ({"timeout": "1", "credit": 4}, None, 4),
    ],
    ids=repr,
)
def test_request_timeout_and_credit_members(
    members: dict[str, Any], timeout: float | None, credit: int | None
) -> None:
    obj = {"jsonrpc": "2.0", "id": 1, "method": "ticks", "params": {"n": 3}, **members}
    event = DIALECT.decode(frame(obj))
    assert event == Request(1, "ticks", {"n": 3}, timeout, credit)
    assert type(event) is Request
    assert type(event.timeout) is type(timeout)
    assert type(event.credit) is type(credit)


def test_timeout_and_credit_with_a_float_id_and_no_params() -> None:
    raw = b'{"jsonrpc":"2.0","id":2.5,"method":"slow","timeout":0.25,"credit":1}'
    assert DIALECT.decode(raw) == Request(2.5, "slow", None, 0.25, 1)


def test_timeout_and_credit_are_not_read_from_notifications() -> None:
    raw = b'{"jsonrpc":"2.0","method":"f","params":[],"timeout":1.0,"credit":2}'
    assert DIALECT.decode(raw) == Notification("f", [])


# -- responses (§5) ----------------------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [3, "ok", None, [1, 2], {"k": [None]}, 0.5, False],
    ids=repr,
)
def test_response_with_result(result: Any) -> None:
    event = DIALECT.decode(frame({"jsonrpc": "2.0", "id": "c1", "result": result}))
    assert event == Response("c1", (result,))
    assert type(event) is Response
    assert type(event.values[0]) is type(result)


def test_response_with_null_id() -> None:
    assert DIALECT.decode(b'{"jsonrpc":"2.0","id":null,"result":1}') == Response(None, (1,))


def test_error_response_with_data() -> None:
    raw = (
        b'{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"Invalid params",'
        b'"data":[{"loc":["a"],"msg":"Field required","type":"missing"}]}}'
    )
    assert DIALECT.decode(raw) == ErrorResponse(
        2, -32602, "Invalid params", [{"loc": ["a"], "msg": "Field required", "type": "missing"}]
    )


def test_error_response_without_data() -> None:
    raw = '{"jsonrpc":"2.0","id":"x","error":{"code":1001,"message":"Insufficient funds"}}'
    event = DIALECT.decode(raw)
    assert event == ErrorResponse("x", 1001, "Insufficient funds", None)
    assert type(event) is ErrorResponse
    assert event.data is None


def test_error_response_to_an_unreadable_request_has_null_id() -> None:
    raw = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}'
    assert DIALECT.decode(raw) == ErrorResponse(None, -32700, "Parse error", None)


@pytest.mark.parametrize(
    "obj",
    [
        {"jsonrpc": "2.0", "id": 1, "error": "boom"},
        {"jsonrpc": "2.0", "id": 1, "error": None},
        {"jsonrpc": "2.0", "id": 1, "error": [1, "x"]},
        {"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "m"}, "result": 1},
        {"jsonrpc": "2.0", "id": 1, "error": {"message": "m"}},
        {"jsonrpc": "2.0", "id": 1, "error": {"code": 1}},
        {"jsonrpc": "2.0", "id": 1, "error": {"code": "1", "message": "m"}},
        {"jsonrpc": "2.0", "id": 1, "error": {"code": 1.0, "message": "m"}},
        {"jsonrpc": "2.0", "id": 1, "error": {"code": True, "message": "m"}},
        {"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": None}},
    ],
    ids=[
        "string",
        "null",
        "array",
        "with-result",
        "no-code",
        "no-message",
        "string-code",
        "float-code",
        "bool-code",
        "null-message",
    ],
)
def test_malformed_error_member_gets_no_reply(obj: dict[str, Any]) -> None:
    event = DIALECT.decode(frame(obj))
    assert type(event) is Malformed
    assert event.reply is None  # never answer a response
    assert event.reason


def test_response_without_jsonrpc_member_is_invalid() -> None:
    reply = invalid_request(DIALECT.decode(b'{"id":1,"result":2}'), None)
    assert reply.data == '"jsonrpc" must be exactly "2.0"'


# -- encoding -----------------------------------------------------------------------


def test_encode_response() -> None:
    raw = DIALECT.encode(Response(1, (3,)))
    assert type(raw) is bytes
    assert orjson.loads(raw) == {"jsonrpc": "2.0", "id": 1, "result": 3}


@pytest.mark.parametrize(
    ("values", "result"),
    [((), None), ((None,), None), ((1, 2), [1, 2]), (([1, 2],), [1, 2])],
    ids=["none", "null", "several", "one-list"],
)
def test_encode_response_values(values: tuple[Any, ...], result: Any) -> None:
    obj = orjson.loads(DIALECT.encode(Response("r", values)))
    assert obj == {"jsonrpc": "2.0", "id": "r", "result": result}


def test_encode_error_response_with_data() -> None:
    raw = DIALECT.encode(ErrorResponse(7, -32602, "Invalid params", [{"loc": ["a"]}]))
    assert orjson.loads(raw) == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": -32602, "message": "Invalid params", "data": [{"loc": ["a"]}]},
    }


def test_encode_error_response_omits_data_when_none() -> None:
    raw = DIALECT.encode(ErrorResponse(None, -32601, "Method not found"))
    obj = orjson.loads(raw)
    assert obj == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32601, "message": "Method not found"},
    }
    assert "data" not in obj["error"]
    assert "id" in obj  # a response always has an id, null when unknown (§5)


@pytest.mark.parametrize("data", [0, False, "", [], {}], ids=repr)
def test_encode_error_response_keeps_falsy_data(data: Any) -> None:
    obj = orjson.loads(DIALECT.encode(ErrorResponse(1, 5, "m", data)))
    assert obj["error"] == {"code": 5, "message": "m", "data": data}


def test_encode_request_members() -> None:
    assert orjson.loads(DIALECT.encode(Request(1, "f", None))) == {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "f",
    }
    assert orjson.loads(DIALECT.encode(Request("a", "g", [1], 0.5, 8))) == {
        "jsonrpc": "2.0",
        "id": "a",
        "method": "g",
        "params": [1],
        "timeout": 0.5,
        "credit": 8,
    }


def test_encode_notification_has_no_id() -> None:
    assert orjson.loads(DIALECT.encode(Notification("tick", {"n": 1}))) == {
        "jsonrpc": "2.0",
        "method": "tick",
        "params": {"n": 1},
    }
    assert orjson.loads(DIALECT.encode(Notification("tick", None))) == {
        "jsonrpc": "2.0",
        "method": "tick",
    }


def test_encode_extension_notifications() -> None:
    assert orjson.loads(DIALECT.encode(Cancel(4))) == {
        "jsonrpc": "2.0",
        "method": "rpc.cancel",
        "params": {"id": 4},
    }
    assert orjson.loads(DIALECT.encode(StreamItem(5, {"seq": 0}))) == {
        "jsonrpc": "2.0",
        "method": "rpc.item",
        "params": {"id": 5, "item": {"seq": 0}},
    }
    assert orjson.loads(DIALECT.encode(Credit(5, 1))) == {
        "jsonrpc": "2.0",
        "method": "rpc.credit",
        "params": {"id": 5, "credit": 1},
    }


ROUND_TRIPS: list[Outgoing] = [
    Response(1, (3,)),
    Response("s", ({"nested": [1, None, "x"]},)),
    Response(None, (None,)),
    Response(2.5, ([1, 2],)),
    ErrorResponse(1, -32602, "Invalid params", [{"loc": ["a"], "msg": "m", "type": "t"}]),
    ErrorResponse("e", 1001, "Insufficient funds", {"balance": 3}),
    ErrorResponse(None, -32700, "Parse error", None),
    ErrorResponse(3, -32603, "Internal error"),
    Request(1, "add", {"a": 1, "b": 2}),
    Request("r", "sub", [42, 23]),
    Request(None, "f", None),
    Request(0.5, "slow", [], 1.5, None),
    Request(9, "ticks", {"n": 3}, None, 2),
    Request(10, "ticks", {"n": 3}, 0.25, 16),
    Notification("update", [1, 2]),
    Notification("ping", None),
    Notification("named", {"k": "v"}),
    Cancel(4),
    Cancel("abc"),
    Credit(5, 1),
    Credit("s", 100),
    StreamItem(5, {"seq": 0}),
    StreamItem("t", None),
    StreamItem(6, [1, [2]]),
]


@pytest.mark.parametrize("event", ROUND_TRIPS, ids=repr)
def test_encode_decode_round_trip(event: Outgoing) -> None:
    raw = DIALECT.encode(event)
    assert DIALECT.decode(raw) == event
    assert DIALECT.decode(raw.decode()) == event


def test_encode_batch_is_a_json_array_in_order() -> None:
    replies: list[Response | ErrorResponse] = [
        Response("1", (7,)),
        ErrorResponse(None, -32600, "Invalid Request", "a message must be a JSON object"),
        ErrorResponse("5", -32601, "Method not found"),
        Response("9", (["hello", 5],)),
    ]
    raw = DIALECT.encode_batch(replies)
    assert type(raw) is bytes
    assert orjson.loads(raw) == [
        {"jsonrpc": "2.0", "id": "1", "result": 7},
        {
            "jsonrpc": "2.0",
            "id": None,
            "error": {
                "code": -32600,
                "message": "Invalid Request",
                "data": "a message must be a JSON object",
            },
        },
        {"jsonrpc": "2.0", "id": "5", "error": {"code": -32601, "message": "Method not found"}},
        {"jsonrpc": "2.0", "id": "9", "result": ["hello", 5]},
    ]
    assert DIALECT.decode(raw) == Batch(tuple(replies))


def test_encode_batch_of_one_is_still_an_array() -> None:
    assert orjson.loads(DIALECT.encode_batch([Response(1, (None,))])) == [
        {"jsonrpc": "2.0", "id": 1, "result": None}
    ]


def test_malformed_reply_encodes_to_its_wire_form() -> None:
    # What the server sends back for a parse error is a well-formed JSON-RPC error.
    event = DIALECT.decode(b"{")
    assert type(event) is Malformed
    assert event.reply is not None
    obj = orjson.loads(DIALECT.encode(event.reply))
    assert obj["jsonrpc"] == "2.0"
    assert obj["id"] is None
    assert obj["error"]["code"] == -32700
    assert obj["error"]["message"] == "Parse error"


def test_encode_refuses_events_json_rpc_has_no_message_for() -> None:
    with pytest.raises(TypeError, match="Acknowledge"):
        DIALECT.encode(Acknowledge(1))
