"""The ws-promise v2 dialect, msgpack and JSON (seed-protocol.md §2, §4 "v2")."""

from __future__ import annotations

import datetime
import decimal
import enum
import math
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import msgpack
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsrpc_typed.dialects.events import (
    Acknowledge,
    ErrorResponse,
    Event,
    Malformed,
    Notification,
    Request,
    Response,
)
from wsrpc_typed.dialects.v2 import (
    SUBPROTOCOL,
    SUBPROTOCOL_JSON,
    V2Dialect,
    V2JsonDialect,
    V2MsgpackDialect,
)

MSGPACK = V2MsgpackDialect()
JSON = V2JsonDialect()
EVENT_TYPES = (Request, Response, ErrorResponse, Acknowledge, Malformed)


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def unpack(raw: bytes) -> Any:
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


class Codec(NamedTuple):
    """A dialect, and how to write and read its frames independently of it."""

    dialect: V2Dialect
    dump: Callable[[Any], bytes]
    load: Callable[[bytes], Any]


CODECS = {
    "msgpack": Codec(MSGPACK, pack, unpack),
    "json": Codec(JSON, orjson.dumps, orjson.loads),
}


@pytest.fixture(params=sorted(CODECS))
def codec(request: pytest.FixtureRequest) -> Codec:
    return CODECS[request.param]


def msg(id_: Any, args: Any, command: Any, type_: Any) -> dict[str, Any]:
    return {"id": id_, "instruction": {"args": args, "command": command, "type": type_}}


def assert_uuid4(value: Any) -> None:
    assert type(value) is str
    assert str(uuid.UUID(value)) == value
    assert uuid.UUID(value).version == 4


def test_names_and_frame_types() -> None:
    assert (MSGPACK.name, MSGPACK.text) == (SUBPROTOCOL, False) == ("ws-promise-v2", False)
    assert (JSON.name, JSON.text) == (SUBPROTOCOL_JSON, True) == ("ws-promise-v2-json", True)


# -- decoding ---------------------------------------------------------------------


def test_syn(codec: Codec) -> None:
    dialect, dump, _ = codec
    assert dialect.decode(dump(msg("i", [1, 2], "add", 0))) == Request("i", "add", [1, 2])


def test_key_order_does_not_matter(codec: Codec) -> None:
    dialect, dump, _ = codec
    raw = dump({"instruction": {"type": 0, "command": "add", "args": [1, 2]}, "id": "k"})
    assert dialect.decode(raw) == Request("k", "add", [1, 2])


@pytest.mark.parametrize("id_", ["my-own-id", 1, 1.5, None, [1], {"k": 1}, False])
def test_id_is_verbatim(codec: Codec, id_: Any) -> None:
    dialect, dump, _ = codec
    event = dialect.decode(dump(msg(id_, [], "f", 0)))
    assert type(event) is Request
    assert event.id == id_
    assert type(event.id) is type(id_)


def test_syn_without_id_gets_a_fresh_uuid4(codec: Codec) -> None:
    dialect, dump, _ = codec
    raw = dump({"instruction": {"args": [1, 2], "command": "add", "type": 0}})
    first, second = dialect.decode(raw), dialect.decode(raw)
    assert type(first) is Request
    assert type(second) is Request
    assert_uuid4(first.id)
    assert first.id != second.id


def test_ack(codec: Codec) -> None:
    dialect, dump, _ = codec
    event = dialect.decode(dump(msg("i", [2, 3, 5], "computePrimes", 1)))
    assert event == Response("i", (2, 3, 5), "computePrimes")


def test_ack_with_float_type(codec: Codec) -> None:
    dialect, dump, _ = codec
    assert dialect.decode(dump(msg("i", [3], "add", 1.0))) == Response("i", (3,), "add")


def test_syn_ack(codec: Codec) -> None:
    dialect, dump, _ = codec
    assert dialect.decode(dump(msg("i", [], "add", 2))) == Acknowledge("i", (), "add")
    thanks = dialect.decode(dump(msg("i", ["thanks"], "add", 2)))
    assert thanks == Acknowledge("i", ("thanks",), "add")


def test_ack_with_original_error_record(codec: Codec) -> None:
    dialect, dump, _ = codec
    record = {"error": True, "message": "fail() was called", "stack": "Error: fail()\n    at x"}
    event = dialect.decode(dump(msg("i", [record], "failReply", 1)))
    assert event == ErrorResponse("i", -32000, "fail() was called", None, "failReply")


@pytest.mark.parametrize(
    ("record", "code", "message", "data"),
    [
        ({"error": True, "message": "m", "code": -32601}, -32601, "m", None),
        ({"error": True, "message": "m", "code": 2.0**40}, 2**40, "m", None),
        ({"error": True, "message": "m", "code": 1.5}, -32000, "m", None),
        ({"error": True, "message": "m", "data": {"k": [1]}}, -32000, "m", {"k": [1]}),
        ({"error": 1, "message": ["x"]}, -32000, "Remote error", None),  # not turned into text
    ],
)
def test_ack_with_error_record(
    codec: Codec, record: dict[str, Any], code: int, message: str, data: Any
) -> None:
    dialect, dump, _ = codec
    event = dialect.decode(dump(msg("i", [record], "f", 1)))
    assert event == ErrorResponse("i", code, message, data, "f")


@pytest.mark.parametrize(
    "record",
    [{"error": False, "message": "m"}, {"error": True, "message": ""}, {"error": True}, {}],
)
def test_ack_with_something_else_than_an_error_record(codec: Codec, record: Any) -> None:
    dialect, dump, _ = codec
    assert dialect.decode(dump(msg("i", [record], "f", 1))) == Response("i", (record,), "f")


@pytest.mark.parametrize(
    ("obj", "reply_id"),
    [
        (msg("t9", [], "add", 9), "t9"),
        (msg("t9", [], "add", True), "t9"),
        (msg("t9", [], "add", "0"), "t9"),
        (msg("t9", [], "add", None), "t9"),
        ({"id": "noargs", "instruction": {"command": "add", "type": 0}}, "noargs"),
        (msg("s", "abc", "add", 0), "s"),
        (msg("s", {"a": 1}, "add", 0), "s"),
    ],
)
def test_malformed_syn_with_id_and_command_gets_a_reply(
    codec: Codec, obj: dict[str, Any], reply_id: str
) -> None:
    dialect, dump, _ = codec
    event = dialect.decode(dump(obj))
    assert type(event) is Malformed
    assert event.reply is not None
    assert (event.reply.id, event.reply.code, event.reply.method) == (reply_id, -32600, "add")


@pytest.mark.parametrize(
    "obj",
    [
        [1, 2],
        "text",
        {"id": "x"},
        {"id": "x", "instruction": [0]},
        {"id": "x", "instruction": {"args": [], "type": 0}},
        {"id": "x", "instruction": {"args": [], "command": 5, "type": 0}},
        {"instruction": {"args": [], "command": "add", "type": 9}},
        msg("x", None, "add", 1),  # never answer a reply
        msg("x", None, "add", 2),
    ],
)
def test_malformed_without_reply(codec: Codec, obj: Any) -> None:
    dialect, dump, _ = codec
    event = dialect.decode(dump(obj))
    assert type(event) is Malformed
    assert event.reply is None
    assert event.reason


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xc1",  # never used in msgpack
        b"\x92\x01",  # truncated
        b"\x81\xa1a\x01\x00",  # extra data
        b"\x81\x91\x00\x00",  # unhashable key
        b"\xa2\xff\xfe",  # invalid UTF-8 in str
        b"\x91" * 5000 + b"\x00",  # too deep
        b"\xdd\xff\xff\xff\xff",  # array32 longer than the frame
        b"\xd6\xff\x00",  # bad timestamp
    ],
)
def test_msgpack_garbage(raw: bytes) -> None:
    event = MSGPACK.decode(raw)
    assert type(event) is Malformed
    assert event.reply is None


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"[" * 5000 + b"]" * 5000, b"\xff"])
def test_json_garbage(raw: bytes) -> None:
    event = JSON.decode(raw)
    assert type(event) is Malformed
    assert event.reply is None


def test_cross_codec_frames_are_malformed() -> None:
    json_frame = orjson.dumps(msg("x", [1, 1], "add", 0))
    msgpack_frame = pack(msg("x", [1, 1], "add", 0))
    assert type(MSGPACK.decode(json_frame)) is Malformed
    assert type(MSGPACK.decode(json_frame.decode())) is Malformed
    assert type(JSON.decode(msgpack_frame)) is Malformed


# -- msgpack values ---------------------------------------------------------------


def test_msgpack_lite_numbers() -> None:
    # msgpack-lite: int32 range as ints, the rest as float64; left as floats here.
    raw = bytes.fromhex("82a26964a178ab696e737472756374696f6e83a461726773")
    raw += bytes.fromhex("94cb3ff8000000000000f9cb4270000000000000cb433fffffffffffff")
    raw += bytes.fromhex("a7636f6d6d616e64a46563686fa47479706500")
    event = MSGPACK.decode(raw)
    assert event == Request("x", "echo", [1.5, -7, 1099511627776.0, 9007199254740991.0])
    assert type(event) is Request
    assert isinstance(event.params, list)
    assert type(event.params[2]) is float


def date_ext(ms: float) -> msgpack.ExtType:
    # msgpack-lite's Date: ext 0x0D around msgpack.encode(Number(date)).
    return msgpack.ExtType(0x0D, pack(ms))


@pytest.mark.parametrize(
    ("ext", "expected"),
    [
        (date_ext(1700000000123.0), datetime.datetime(2023, 11, 14, 22, 13, 20, 123000)),
        (date_ext(0), datetime.datetime(1970, 1, 1)),
        (date_ext(-86400000), datetime.datetime(1969, 12, 31)),
        (date_ext(1000), datetime.datetime(1970, 1, 1, 0, 0, 1)),
    ],
)
def test_msgpack_date_extension(ext: msgpack.ExtType, expected: datetime.datetime) -> None:
    event = MSGPACK.decode(pack(msg(1, [ext], "when", 0)))
    assert type(event) is Request
    assert event.params == [expected.replace(tzinfo=datetime.UTC)]


def test_msgpack_date_extension_exact_bytes() -> None:
    # new Date(Date.UTC(2024, 0, 2)) through msgpack-lite: c7 09 0d cb <float64 ms>.
    raw = bytes.fromhex("82a26964a178ab696e737472756374696f6e83a46172677391")
    raw += bytes.fromhex("c7090dcb4278cc7785000000")
    raw += bytes.fromhex("a7636f6d6d616e64a46563686fa47479706500")
    assert MSGPACK.decode(raw) == Request(
        "x", "echo", [datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)]
    )


@pytest.mark.parametrize(
    "ext",
    [
        date_ext(math.nan),  # an invalid Date
        date_ext(8.64e15),  # beyond Python's year 9999
        msgpack.ExtType(0x0D, b"\xa1x"),  # not a number
        msgpack.ExtType(0x0D, b"\xc1"),  # not msgpack
        msgpack.ExtType(0x12, b"\x01\x02\x03"),  # Uint8Array
        msgpack.ExtType(0x0E, pack({"name": "Error", "message": "x"})),  # nested Error
        msgpack.ExtType(0x0D, pack(msgpack.ExtType(0x0D, pack(0)))),  # no recursion
    ],
)
def test_msgpack_other_extensions_become_payload_bytes(ext: msgpack.ExtType) -> None:
    event = MSGPACK.decode(pack(msg(1, [ext], "f", 0)))
    assert event == Request(1, "f", [ext.data])


def test_msgpack_bin_and_map_keys() -> None:
    event = MSGPACK.decode(pack(msg(1, [b"\x00\x01", {1: "a", None: "b"}], "f", 0)))
    assert event == Request(1, "f", [b"\x00\x01", {1: "a", None: "b"}])


# -- encoding ---------------------------------------------------------------------


def test_encode_response_is_byte_identical_to_the_original() -> None:
    raw = MSGPACK.encode(Response(1, (42,), "add"))
    expected = (
        "82a2696401ab696e737472756374696f6e83a461726773912aa7636f6d6d616e64a3616464a47479706501"
    )
    assert raw.hex() == expected


def test_encode_json_response_writes_keys_in_the_original_order() -> None:
    raw = JSON.encode(Response("k", (3,), "add"))
    assert raw == b'{"id":"k","instruction":{"args":[3],"command":"add","type":1}}'


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (Request("i", "add", [1, 2]), msg("i", [1, 2], "add", 0)),
        (Request("i", "add", None), msg("i", [], "add", 0)),
        (Request("i", "add", {"a": 1}), msg("i", [{"a": 1}], "add", 0)),
        (Response("i", (2, 3), "primes"), msg("i", [2, 3], "primes", 1)),
        (Response("i", ()), msg("i", [], "", 1)),
        (Acknowledge("i", ()), msg("i", [], "", 2)),
        (Acknowledge("i", ("thanks",)), msg("i", ["thanks"], "", 2)),
    ],
)
def test_encode(codec: Codec, event: Any, expected: dict[str, Any]) -> None:
    dialect, _, load = codec
    assert load(dialect.encode(event)) == expected


def test_encode_notification_is_a_syn_with_a_fresh_id(codec: Codec) -> None:
    dialect, _, load = codec
    first = load(dialect.encode(Notification("tick", [1])))
    second = load(dialect.encode(Notification("tick", [1])))
    assert first["instruction"] == {"args": [1], "command": "tick", "type": 0}
    assert_uuid4(first["id"])
    assert first["id"] != second["id"]


@pytest.mark.parametrize(
    "event",
    [
        ErrorResponse("i", -32601, "Method not found: frobnicate", None, "frobnicate"),
        ErrorResponse("i", -32602, "Invalid params", [{"loc": ["a"], "msg": "x"}], "add"),
        ErrorResponse("i", -32603, "Internal error", None, "add"),
        ErrorResponse(None, -32600, "Invalid Request", "type must be 0, 1 or 2", "add"),
        ErrorResponse(7, 1001, "Insufficient funds", {"balance": 3}, "pay"),
        ErrorResponse(7, 1001, "", None, "pay"),
    ],
)
def test_encode_error_satisfies_the_remote_error_rule(codec: Codec, event: ErrorResponse) -> None:
    dialect, _, load = codec
    obj = load(dialect.encode(event))
    assert obj["id"] == event.id
    assert obj["instruction"]["type"] == 1
    assert obj["instruction"]["command"] == event.method
    [record] = obj["instruction"]["args"]
    # The original client throws RemoteError only when all three are truthy (§2.6).
    assert record["error"] is True
    assert record["message"]
    assert record["stack"]
    assert type(record["stack"]) is str
    assert record["code"] == event.code
    assert ("data" in record) is (event.data is not None)
    # A one-line summary: no traceback, no file path.
    stack = record["stack"]
    assert "\n" not in stack
    assert "/" not in stack
    assert "\\" not in stack
    assert " at " not in stack
    assert "Traceback" not in stack
    assert ".py" not in stack
    assert list(record) == ["error", "message", "stack", "code", *(["data"] if event.data else [])]


def test_encode_error_stack_names_the_error() -> None:
    record = orjson.loads(JSON.encode(ErrorResponse(1, -32601, "Method not found", None, "x")))
    stack = record["instruction"]["args"][0]["stack"]
    assert stack == "MethodNotFound: Method not found (code -32601)"


def test_error_round_trip(codec: Codec) -> None:
    dialect, _, _ = codec
    event = ErrorResponse(9, 1001, "Insufficient funds", {"balance": 3}, "pay")
    assert dialect.decode(dialect.encode(event)) == event


class Colour(enum.Enum):
    RED = "red"


PYDANTIC_DUMPED = {
    "when": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    "day": datetime.date(2024, 1, 2),
    "at": datetime.time(3, 4, 5),
    "uid": uuid.UUID(int=1),
    "amount": decimal.Decimal("1.10"),
    "tags": frozenset({"a"}),
    "colour": Colour.RED,
    "pair": (1, 2),
}
PYDANTIC_JSONABLE = {
    "day": "2024-01-02",
    "at": "03:04:05",
    "uid": "00000000-0000-0000-0000-000000000001",
    "amount": "1.10",
    "tags": ["a"],
    "colour": "red",
    "pair": [1, 2],
}


def test_encode_pydantic_dumped_values_msgpack() -> None:
    [value] = unpack(MSGPACK.encode(Response(1, (PYDANTIC_DUMPED,), "f")))["instruction"]["args"]
    assert value == {"when": "2024-01-02T03:04:05Z", **PYDANTIC_JSONABLE}


def test_encode_pydantic_dumped_values_json() -> None:
    [value] = orjson.loads(JSON.encode(Response(1, (PYDANTIC_DUMPED,), "f")))["instruction"]["args"]
    assert value == {"when": "2024-01-02T03:04:05+00:00", **PYDANTIC_JSONABLE}


def test_encode_msgpack_bytes_and_huge_integers() -> None:
    [raw, big, small] = unpack(MSGPACK.encode(Response(1, (b"\x00", 2**70, -(2**63)), "f")))[
        "instruction"
    ]["args"]
    assert raw == b"\x00"
    assert big == float(2**70)  # msgpack-lite, too, sends it as a float64
    assert small == -(2**63)


def test_encode_json_non_str_keys() -> None:
    obj = orjson.loads(JSON.encode(Response(1, ({1: "a"},), "f")))
    assert obj["instruction"]["args"] == [{"1": "a"}]


def test_encode_batch_is_not_supported(codec: Codec) -> None:
    dialect, _, _ = codec
    with pytest.raises(TypeError, match="no batches"):
        dialect.encode_batch([Response(1, (1,))])


def test_encode_rejects_other_events(codec: Codec) -> None:
    dialect, _, _ = codec
    with pytest.raises(TypeError, match="Malformed"):
        dialect.encode(Malformed(None, "x"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "event",
    [
        Request("a", "add", [1, 2]),
        Request(1, "m", []),
        Response("r", (1, "two", None, [1.5]), "m"),
        Acknowledge("a", ()),
        Acknowledge("a", ("thanks",)),
    ],
)
def test_round_trip(codec: Codec, event: Request | Response | Acknowledge) -> None:
    dialect, _, _ = codec
    assert dialect.decode(dialect.encode(event)) == event


# -- decode never raises ---------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
MSGPACK_SCALARS = (
    JSON_SCALARS
    | st.floats()
    | st.binary(max_size=10)
    | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=12))
    | st.builds(msgpack.ExtType, st.just(0x0D), st.binary(max_size=10))
    | st.builds(date_ext, st.floats() | st.integers(-(2**63), 2**63 - 1))
)


def values(scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[Any]) -> Any:
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=16,
    )


JSON_VALUES = values(JSON_SCALARS, st.text(max_size=8))
MSGPACK_VALUES = values(
    MSGPACK_SCALARS, st.text(max_size=8) | st.integers(-(2**63), 2**63 - 1) | st.none()
)
TYPES = st.sampled_from([0, 1, 2, 9, 0.0, 1.0, True, None, "0"])


def frames(vals: Any) -> Any:
    instruction = st.fixed_dictionaries(
        {}, optional={"args": vals, "command": st.text(max_size=5) | vals, "type": TYPES | vals}
    )
    return st.fixed_dictionaries({}, optional={"id": vals, "instruction": instruction | vals})


def check(event: Event) -> None:
    assert isinstance(event, EVENT_TYPES)
    if type(event) is Malformed:
        assert event.reply is None or type(event.reply) is ErrorResponse
    if type(event) is Request:
        assert type(event.params) is list


@pytest.mark.parametrize("dialect", [MSGPACK, JSON], ids=["msgpack", "json"])
@settings(max_examples=500, deadline=None)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(dialect: V2Dialect, raw: bytes) -> None:
    check(dialect.decode(raw))


@settings(max_examples=500, deadline=None)
@given(MSGPACK_VALUES | frames(MSGPACK_VALUES))
def test_arbitrary_msgpack_never_raises(value: Any) -> None:
    check(MSGPACK.decode(pack(value)))


@settings(max_examples=500, deadline=None)
@given(JSON_VALUES | frames(JSON_VALUES))
def test_arbitrary_json_never_raises(value: Any) -> None:
    check(JSON.decode(orjson.dumps(value)))
