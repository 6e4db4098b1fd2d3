"""The legacy ws-rpc-client dialect (seed-protocol.md §1, §4 "Legacy")."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsrpc_typed.dialects.events import (
    Acknowledge,
    Dialect,
    ErrorResponse,
    Event,
    Malformed,
    Notification,
    Request,
    Response,
)
from wsrpc_typed.dialects.legacy import SUBPROTOCOL, LegacyDialect

DIALECT: Dialect = LegacyDialect()
EVENT_TYPES = (Request, Response, ErrorResponse, Acknowledge, Malformed)


def frame(obj: Any) -> bytes:
    return orjson.dumps(obj)


def assert_uuid4(value: Any) -> None:
    assert type(value) is str
    assert len(value) == 36
    assert uuid.UUID(value).version == 4
    assert str(uuid.UUID(value)) == value


def test_name_and_text() -> None:
    assert DIALECT.name == SUBPROTOCOL == "ws-rpc-legacy"
    assert DIALECT.text is True


# -- decoding requests ---------------------------------------------------------


def test_request() -> None:
    event = DIALECT.decode(b'{"id":"a","payload":{"instruction":"add","args":[1,2]}}')
    assert event == Request("a", "add", [1, 2])


def test_request_from_str() -> None:
    event = DIALECT.decode('{"id":"a","payload":{"instruction":"add","args":[1,2]}}')
    assert event == Request("a", "add", [1, 2])


@pytest.mark.parametrize(
    ("payload", "params"),
    [
        ({"instruction": "echo"}, []),
        ({"instruction": "echo", "args": []}, []),
        ({"instruction": "echo", "args": "scalar"}, ["scalar"]),
        ({"instruction": "echo", "args": None}, [None]),
        ({"instruction": "echo", "args": {"k": 1}}, [{"k": 1}]),
        ({"instruction": "echo", "args": [[1, 2]]}, [[1, 2]]),
        ({"instruction": "echo", "args": [1], "timeout": 5}, [1]),
    ],
)
def test_request_args_shapes(payload: dict[str, Any], params: list[Any]) -> None:
    assert DIALECT.decode(frame({"id": "x", "payload": payload})) == Request("x", "echo", params)


@pytest.mark.parametrize("id_", ["my-own-id", 42, 1.5, None, [1], {"k": "v"}, True])
def test_request_id_is_verbatim(id_: Any) -> None:
    event = DIALECT.decode(frame({"id": id_, "payload": {"instruction": "f", "args": []}}))
    assert type(event) is Request
    assert event.id == id_
    assert type(event.id) is type(id_)


def test_request_without_id_gets_a_fresh_uuid4() -> None:
    first = DIALECT.decode(b'{"payload":{"instruction":"add","args":[1,1]}}')
    second = DIALECT.decode(b'{"payload":{"instruction":"add","args":[1,1]}}')
    assert type(first) is Request
    assert type(second) is Request
    assert_uuid4(first.id)
    assert first.id != second.id
    assert (first.method, first.params) == ("add", [1, 1])


@pytest.mark.parametrize("name", ["0", "1", "close", "message", ""])
def test_any_string_instruction_is_a_method_name(name: str) -> None:
    event = DIALECT.decode(frame({"id": 1, "payload": {"instruction": name, "args": []}}))
    assert event == Request(1, name, [])


def test_extra_fields_are_ignored() -> None:
    raw = b'{"id":"r3","payload":{"instruction":"add","args":[1,1]},"extra":true}'
    assert DIALECT.decode(raw) == Request("r3", "add", [1, 1])


# -- decoding replies and acknowledgements ---------------------------------------


def test_reply_with_several_values() -> None:
    raw = b'{"id":"p","payload":{"instruction":0,"args":[2,3,5,7]}}'
    assert DIALECT.decode(raw) == Response("p", (2, 3, 5, 7))


def test_reply_carrying_an_error_object_is_a_plain_value() -> None:
    # JSON.stringify(new Error("x")) is {} (§1.1).
    raw = b'{"id":"e","payload":{"instruction":0,"args":[{}]}}'
    assert DIALECT.decode(raw) == Response("e", ({},))


def test_reply_with_float_zero_instruction() -> None:
    raw = b'{"id":"p","payload":{"instruction":0.0,"args":[1]}}'
    assert DIALECT.decode(raw) == Response("p", (1,))


def test_reply_without_id_gets_a_fresh_uuid4() -> None:
    event = DIALECT.decode(b'{"payload":{"instruction":0,"args":[1]}}')
    assert type(event) is Response
    assert_uuid4(event.id)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"error": True, "message": "boom"}, ErrorResponse("i", -32000, "boom")),
        (
            {"error": True, "code": -32601, "message": "Method not found", "data": [1]},
            ErrorResponse("i", -32601, "Method not found", [1]),
        ),
        ({"error": True, "code": 1001.0, "message": "m"}, ErrorResponse("i", 1001, "m")),
        ({"error": True, "code": "x", "message": "m"}, ErrorResponse("i", -32000, "m")),
        ({"error": 1, "message": 7}, ErrorResponse("i", -32000, "7")),
    ],
)
def test_reply_with_error_record(record: dict[str, Any], expected: ErrorResponse) -> None:
    raw = frame({"id": "i", "payload": {"instruction": 0, "args": [record, "ignored"]}})
    assert DIALECT.decode(raw) == expected


@pytest.mark.parametrize(
    "record",
    [
        {"error": False, "message": "boom"},
        {"error": True},
        {"error": True, "message": ""},
        {"message": "boom"},
    ],
)
def test_reply_with_something_else_than_an_error_record(record: dict[str, Any]) -> None:
    raw = frame({"id": "i", "payload": {"instruction": 0, "args": [record]}})
    assert DIALECT.decode(raw) == Response("i", (record,))


def test_error_record_only_counts_as_first_value() -> None:
    record = {"error": True, "message": "boom"}
    raw = frame({"id": "i", "payload": {"instruction": 0, "args": [1, record]}})
    assert DIALECT.decode(raw) == Response("i", (1, record))


def test_acknowledgement() -> None:
    raw = b'{"id":"ack-1","payload":{"instruction":1,"args":[]}}'
    assert DIALECT.decode(raw) == Acknowledge("ack-1", ())


def test_acknowledgement_without_args() -> None:
    assert DIALECT.decode(b'{"id":1,"payload":{"instruction":1}}') == Acknowledge(1, ())


# -- malformed frames -------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1,2]", b'"text"', b"", b"{", b"\xff\xfe", b'{"payload":{}}', b"null"],
)
def test_malformed_without_id_gets_no_reply(raw: bytes) -> None:
    event = DIALECT.decode(raw)
    assert type(event) is Malformed
    assert event.reply is None
    assert event.reason


@pytest.mark.parametrize(
    "obj",
    [
        {"id": "r4"},
        {"id": "r4", "payload": [1]},
        {"id": "r4", "payload": {"args": [1]}},
        {"id": "r4", "payload": {"instruction": None}},
        {"id": "r4", "payload": {"instruction": 2}},
        {"id": "r4", "payload": {"instruction": True}},
        {"id": "r4", "payload": {"instruction": -1.5}},
        {"id": "r4", "payload": {"instruction": ["add"]}},
    ],
)
def test_malformed_with_id_gets_an_invalid_request_reply(obj: dict[str, Any]) -> None:
    event = DIALECT.decode(frame(obj))
    assert type(event) is Malformed
    assert event.reply is not None
    assert (event.reply.id, event.reply.code) == ("r4", -32600)


# -- encoding ---------------------------------------------------------------------


def test_encode_request_writes_keys_in_the_original_order() -> None:
    raw = DIALECT.encode(Request("88be", "add", [1, 2]))
    assert raw == b'{"id":"88be","payload":{"instruction":"add","args":[1,2]}}'


@pytest.mark.parametrize(
    ("params", "args"), [(None, []), ([], []), ([1, "a"], [1, "a"]), ({"k": 1}, [{"k": 1}])]
)
def test_encode_request_params(params: Any, args: list[Any]) -> None:
    assert orjson.loads(DIALECT.encode(Request(7, "m", params))) == {
        "id": 7,
        "payload": {"instruction": "m", "args": args},
    }


def test_encode_notification_is_a_request_with_a_fresh_id() -> None:
    first = orjson.loads(DIALECT.encode(Notification("tick", [1])))
    second = orjson.loads(DIALECT.encode(Notification("tick", [1])))
    assert first["payload"] == {"instruction": "tick", "args": [1]}
    assert_uuid4(first["id"])
    assert first["id"] != second["id"]


def test_encode_response() -> None:
    raw = DIALECT.encode(Response("d0", (2, 3, 5), "computePrimes"))
    assert raw == b'{"id":"d0","payload":{"instruction":0,"args":[2,3,5]}}'


def test_encode_response_without_values() -> None:
    raw = DIALECT.encode(Response(None, ()))
    assert raw == b'{"id":null,"payload":{"instruction":0,"args":[]}}'


def test_encode_error_response_is_an_error_record_reply() -> None:
    raw = DIALECT.encode(ErrorResponse("x", -32601, "Method not found", method="nope"))
    assert raw == (
        b'{"id":"x","payload":{"instruction":0,"args":'
        b'[{"error":true,"code":-32601,"message":"Method not found"}]}}'
    )


def test_encode_error_response_with_data() -> None:
    obj = orjson.loads(DIALECT.encode(ErrorResponse(1, 1001, "Insufficient funds", {"b": 3})))
    assert obj["payload"]["args"] == [
        {"error": True, "code": 1001, "message": "Insufficient funds", "data": {"b": 3}}
    ]


@pytest.mark.parametrize(
    "event",
    [
        ErrorResponse("x", -32601, "Method not found"),
        ErrorResponse(3, 1001, "Insufficient funds", {"balance": 3}),
        ErrorResponse(None, -32603, "Internal error"),
    ],
)
def test_error_response_round_trip(event: ErrorResponse) -> None:
    assert DIALECT.decode(DIALECT.encode(event)) == event


def test_encode_acknowledge() -> None:
    raw = DIALECT.encode(Acknowledge("a", ()))
    assert raw == b'{"id":"a","payload":{"instruction":1,"args":[]}}'


def test_encode_pydantic_dumped_values() -> None:
    value = {
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "day": datetime.date(2024, 1, 2),
        "uid": uuid.UUID(int=1),
        "amount": decimal.Decimal("1.10"),
        "tags": {"a"},
        "pair": (1, 2),
        1: "non-str key",
    }
    args = orjson.loads(DIALECT.encode(Response(1, (value,))))["payload"]["args"]
    assert args == [
        {
            "when": "2024-01-02T03:04:05+00:00",
            "day": "2024-01-02",
            "uid": "00000000-0000-0000-0000-000000000001",
            "amount": "1.10",
            "tags": ["a"],
            "pair": [1, 2],
            "1": "non-str key",
        }
    ]


def test_encode_batch_is_not_supported() -> None:
    with pytest.raises(TypeError, match="no batches"):
        DIALECT.encode_batch([Response(1, (1,))])


def test_encode_rejects_other_events() -> None:
    with pytest.raises(TypeError, match="Malformed"):
        DIALECT.encode(Malformed(None, "x"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "event",
    [
        Request("a", "add", [1, 2]),
        Request(1, "m", []),
        Request(None, "0", [{"k": [None, 1.5]}]),
        Response("r", (1, "two", None)),
        Acknowledge("a", ()),
        Acknowledge("a", ("thanks",)),
    ],
)
def test_round_trip(event: Request | Response | Acknowledge) -> None:
    assert DIALECT.decode(DIALECT.encode(event)) == event


# -- decode never raises ---------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)
INSTRUCTIONS = st.sampled_from([0, 1, 2, 0.0, 1.0, True, False, None, "0", "add"]) | JSON_VALUES
PAYLOADS = st.fixed_dictionaries(
    {}, optional={"instruction": INSTRUCTIONS, "args": JSON_VALUES, "timeout": JSON_VALUES}
)
FRAMES = st.fixed_dictionaries({}, optional={"id": JSON_VALUES, "payload": PAYLOADS | JSON_VALUES})


def check(event: Event) -> None:
    assert isinstance(event, EVENT_TYPES)
    if type(event) is Malformed:
        assert event.reply is None or type(event.reply) is ErrorResponse


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    check(DIALECT.decode(raw))


@settings(max_examples=500, deadline=None)
@given(JSON_VALUES)
def test_arbitrary_json_never_raises(value: Any) -> None:
    check(DIALECT.decode(orjson.dumps(value)))


@settings(max_examples=500, deadline=None)
@given(FRAMES)
def test_frame_shaped_json_never_raises(obj: dict[str, Any]) -> None:
    event = DIALECT.decode(orjson.dumps(obj))
    check(event)
    if type(event) is Request:
        assert type(event.params) is list


def test_deep_nesting_does_not_raise() -> None:
    check(DIALECT.decode(b"[" * 100_000 + b"]" * 100_000))
    nested = b'{"id":1,"payload":{"instruction":"f","args":' + b"[" * 5000 + b"]" * 5000 + b"}}"
    check(DIALECT.decode(nested))
