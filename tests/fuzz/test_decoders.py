"""Fuzzing the sans-I/O dialects: thousands of hostile frames per dialect.

The oracle, for every frame: ``decode`` returns (never raises) an event of the
dialect's declared types, with fields of their declared types; every reply a
server would send for that event (the Malformed reply, an error or a result
for a request, a v2 acknowledgement, a batch reply) encodes without raising,
into bytes that a strict parser accepts, with the dialect's envelope, the
request's id echoed verbatim, and that the dialect decodes back into the same
reply. Valid events round-trip exactly.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import UNIT
from tests.fuzz.strategies import (
    DIALECTS,
    Deep,
    Pairs,
    codec_of,
    frames,
    note,
    render,
    valid_events,
)
from tests.fuzz.wire import is_plain, read_frame, same, wire_form
from wsrpc_typed.dialects.detect import AutoDialect, dialect_for_subprotocol
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
    Request,
    Response,
    StreamItem,
)
from wsrpc_typed.dialects.jsonrpc import SUBPROTOCOL as JSONRPC
from wsrpc_typed.dialects.legacy import SUBPROTOCOL as LEGACY
from wsrpc_typed.dialects.v2 import SUBPROTOCOL as V2_MSGPACK
from wsrpc_typed.dialects.v2 import SUBPROTOCOL_JSON as V2_JSON

FUZZ = settings.get_profile("wsrpc-fuzz-decoders")
PROPERTIES = settings.get_profile("wsrpc-fuzz-properties")

SEED_EVENTS = (Request, Response, ErrorResponse, Acknowledge, Malformed)
JSONRPC_EVENTS = (Request, Notification, Response, ErrorResponse, Malformed, Batch)
JSONRPC_EXTENSIONS = (Cancel, StreamItem, Credit)
EVENT_TYPES: dict[str, tuple[type, ...]] = {
    JSONRPC: (*JSONRPC_EVENTS, *JSONRPC_EXTENSIONS),
    LEGACY: SEED_EVENTS,
    V2_JSON: SEED_EVENTS,
    V2_MSGPACK: SEED_EVENTS,
}
OUTGOING = (Request, Notification, Response, ErrorResponse, Acknowledge, Cancel, StreamItem, Credit)
BATCH_ITEMS = (Request, Notification, Response, ErrorResponse, Malformed)

FRAMES = {name: frames(name) for name in DIALECTS}
VALID = {name: valid_events(name) for name in DIALECTS}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _jsonrpc_id(value: Any) -> bool:
    return value is None or type(value) is str or _number(value)


# -- the oracle -------------------------------------------------------------------------


def astuple_shallow(event: Event) -> tuple[Any, ...]:
    """An event's fields, in order (dataclasses.astuple would copy every value deeply)."""
    return tuple(getattr(event, field.name) for field in dataclasses.fields(event))


def same_event(a: Event, b: Event) -> bool:
    """Same event type, and every field the same value of the same type."""
    return type(a) is type(b) and same(astuple_shallow(a), astuple_shallow(b))


def check_event(name: str, event: Event, *, in_batch: bool = False) -> None:
    """``event`` is one the dialect declares, and its fields have their declared types."""
    allowed = BATCH_ITEMS if in_batch else EVENT_TYPES[name]
    assert type(event) in allowed, f"{name} decoded a {type(event).__name__}"
    if isinstance(event, Request):
        assert type(event.method) is str
        # Seed dialects carry positional args only; JSON-RPC params may be named or absent.
        params_types = (list, dict, type(None)) if name == JSONRPC else (list,)
        assert type(event.params) in params_types
        assert event.timeout is None or _number(event.timeout)
        assert event.credit is None or (type(event.credit) is int and event.credit > 0)
        if name == JSONRPC:
            assert _jsonrpc_id(event.id)
    elif isinstance(event, Notification):
        assert type(event.method) is str and type(event.params) in (list, dict, type(None))
    elif isinstance(event, Response | Acknowledge):
        assert type(event.values) is tuple and type(event.method) is str
    elif isinstance(event, ErrorResponse):
        assert type(event.code) is int and type(event.message) is str
        assert type(event.method) is str
    elif isinstance(event, Malformed):
        assert type(event.reason) is str
        reply = event.reply
        assert reply is None or type(reply) is ErrorResponse
        if reply is not None:
            expected = (-32700, -32600) if name == JSONRPC else (-32600,)
            assert reply.code in expected and reply.message in ("Parse error", "Invalid Request")
            if name == JSONRPC:
                assert _jsonrpc_id(reply.id)
                if reply.code == -32700:
                    assert reply.id is None, "a parse error has no id to echo (§5.1)"
    elif isinstance(event, Batch):
        assert type(event.items) is tuple and event.items, "a batch is never empty"
        for item in event.items:
            check_event(name, item, in_batch=True)
    elif isinstance(event, Credit):
        assert type(event.credit) is int and event.credit > 0


Reply = Response | ErrorResponse | Acknowledge


def replies_to(name: str, event: Event) -> list[Reply]:
    """The replies a server can send for ``event``, echoing whatever the peer sent."""
    if isinstance(event, Malformed):
        return [] if event.reply is None else [event.reply]
    if isinstance(event, Request):
        return [
            ErrorResponse(
                event.id, -32601, f"Method not found: {event.method}", None, event.method
            ),
            ErrorResponse(event.id, -32603, "Internal error", None, event.method),
            Response(event.id, (None,), event.method),
        ]
    if isinstance(event, Response | ErrorResponse) and name in (V2_JSON, V2_MSGPACK):
        return [Acknowledge(event.id, (), event.method)]  # the caller confirms every reply
    return []


def batch_reply(event: Batch) -> list[Response | ErrorResponse]:
    """The reply to a batch when every call in it fails: one entry per call (§6)."""
    replies: list[Response | ErrorResponse] = []
    for item in event.items:
        if isinstance(item, Request):
            replies.append(ErrorResponse(item.id, -32601, "Method not found", None, item.method))
        elif isinstance(item, Malformed) and item.reply is not None:
            replies.append(item.reply)
    return replies


def _without_stack(obj: Any) -> Any:
    args = obj["instruction"]["args"]
    record = {key: value for key, value in args[0].items() if key != "stack"}
    return {**obj, "instruction": {**obj["instruction"], "args": [record]}}


def check_reply(name: str, dialect: Dialect, reply: Reply) -> None:
    """A reply encodes, reads back strictly as the dialect's message, and means what it meant."""
    raw = dialect.encode(reply)
    error = isinstance(reply, ErrorResponse)
    obj = read_frame(name, raw, text=dialect.text, error=error)
    plain = is_plain(astuple_shallow(reply))
    if plain:
        expected = wire_form(name, reply)
        if error and name in (V2_JSON, V2_MSGPACK):
            obj = _without_stack(obj)
        assert same(obj, expected), f"{obj!r:.300} != {expected!r:.300}"
    back = dialect.decode(raw)
    assert type(back) is type(reply), f"{type(reply).__name__} read back as {back!r:.300}"
    assert isinstance(back, Response | ErrorResponse | Acknowledge)
    if plain:
        assert same(back.id, reply.id)
    if isinstance(back, ErrorResponse):
        assert isinstance(reply, ErrorResponse)
        assert (back.code, back.message) == (reply.code, reply.message)


def check_batch_reply(dialect: Dialect, replies: list[Response | ErrorResponse]) -> None:
    raw = dialect.encode_batch(replies)
    obj = read_frame(JSONRPC, raw, text=True)
    assert type(obj) is list and len(obj) == len(replies)
    for item, reply in zip(obj, replies, strict=True):
        if is_plain(astuple_shallow(reply)):
            assert same(item, wire_form(JSONRPC, reply))


def decode_and_check(dialect: Dialect, frame: bytes | str) -> Event:
    """Decode one frame and check the event and every reply to it."""
    event = dialect.decode(frame)
    name = dialect.name  # an AutoDialect is, from now on, the dialect it detected
    note(f"decoded {type(event).__name__}")
    check_event(name, event)
    for reply in replies_to(name, event):
        check_reply(name, dialect, reply)
    if isinstance(event, Batch):
        for item in event.items:
            for reply in replies_to(name, item):
                check_reply(name, dialect, reply)
        replies = batch_reply(event)
        if replies:
            check_batch_reply(dialect, replies)
    return event


# -- decode never raises ----------------------------------------------------------------


def _as_received(frame: bytes, as_str: bool) -> bytes | str:
    """The frame as the transport hands it over: bytes for a binary frame, str for a text
    frame (websockets has checked its UTF-8); decode() also takes any str, lone surrogates
    included."""
    if not as_str:
        return frame
    try:
        return frame.decode("utf-8")
    except UnicodeDecodeError:
        return frame.decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("name", DIALECTS)
@settings(FUZZ)
@given(data=st.data())
def test_hostile_frames(name: str, data: st.DataObject) -> None:
    frame = data.draw(FRAMES[name], label="frame")
    as_str = data.draw(st.booleans(), label="as str")
    decode_and_check(dialect_for_subprotocol(name), _as_received(frame, as_str))


ANY_FRAME = st.sampled_from(DIALECTS).flatmap(FRAMES.__getitem__)


@settings(FUZZ, max_examples=max(1, FUZZ.max_examples // 3))
@given(frames=st.lists(ANY_FRAME, min_size=1, max_size=3))
def test_detection_from_hostile_first_frames(frames: list[bytes]) -> None:
    auto = AutoDialect()
    for frame in frames:
        before = auto.detected
        decode_and_check(auto, frame)
        if before is not None:
            assert auto.detected is before, "a detected dialect never changes"
    if auto.detected is not None:
        assert auto.name == auto.detected.name and auto.text == auto.detected.text


# -- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("name", DIALECTS)
@settings(PROPERTIES)
@given(data=st.data())
def test_valid_events_round_trip(name: str, data: st.DataObject) -> None:
    """decode(encode(e)) == e, encode(decode(x)) == x, and x is what docs/protocol.md says."""
    event = data.draw(VALID[name], label="event")
    dialect = dialect_for_subprotocol(name)
    raw = dialect.encode(event)
    obj = read_frame(name, raw, text=dialect.text, error=isinstance(event, ErrorResponse))
    expected = wire_form(name, event)
    assert expected is not None
    if isinstance(event, ErrorResponse) and name in (V2_JSON, V2_MSGPACK):
        obj = _without_stack(obj)
    assert same(obj, expected), f"{obj!r:.300} != {expected!r:.300}"
    back = dialect.decode(raw)
    assert same_event(back, event), f"{back!r:.300} != {event!r:.300}"
    assert isinstance(back, OUTGOING)
    assert dialect.encode(back) == raw


@pytest.mark.parametrize("name", DIALECTS)
@settings(PROPERTIES)
@given(data=st.data())
def test_key_order_and_unknown_members_do_not_matter(name: str, data: st.DataObject) -> None:
    """A valid frame written in any key order, with members we do not know, decodes the same."""
    event = data.draw(VALID[name], label="event")
    obj = wire_form(name, event)
    if isinstance(event, ErrorResponse) and name in (V2_JSON, V2_MSGPACK):
        obj["instruction"]["args"][0]["stack"] = "Error: x"  # as the original client writes it
    inner_key = {JSONRPC: None, LEGACY: "payload"}.get(name, "instruction")
    extra = data.draw(st.sampled_from(("zz", "__proto__", "timeout_", "ID")), label="extra")

    def shuffled(mapping: dict[str, Any]) -> Pairs:
        pairs = [*mapping.items(), (extra, [1, {"x": None}])]
        return Pairs(tuple(data.draw(st.permutations(pairs), label="order")))

    if inner_key is not None:
        obj = {**obj, inner_key: shuffled(obj[inner_key])}
    frame = render(shuffled(obj), codec_of(name))
    dialect = dialect_for_subprotocol(name)
    back = dialect.decode(frame)
    assert same_event(back, event), f"{back!r:.300} != {event!r:.300}"
    assert isinstance(back, OUTGOING)
    assert dialect.encode(back) == dialect.encode(event)


# -- pathological inputs (research/reliability.md §7, case 9) -----------------------------------

DEEP = 10**5
PATHOLOGICAL: dict[str, bytes] = {
    "array depth 1e3": b"[" * 1000 + b"]" * 1000,
    "array depth 1e5": b"[" * DEEP + b"]" * DEEP,
    "array depth 1e6": b"[" * 10**6 + b"]" * 10**6,
    "object depth 1e5": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "open arrays 1e6": b"[" * 10**6,
    "100,000-digit integer": b"1" * 100_000,
    "1e999999": b"1e999999",
    "NaN": b'{"jsonrpc":"2.0","id":NaN,"method":"add","params":[NaN,Infinity]}',
    "duplicate keys": b'{"jsonrpc":"2.0","id":1,"method":"add","id":{"a":1},"method":5}',
    "lone surrogate": b'{"jsonrpc":"2.0","id":"\\ud800","method":"add"}',
    "1 MiB of NUL escapes": b'"' + b"\\u0000" * (2**20 // 6) + b'"',
    "BOM": b'\xef\xbb\xbf{"jsonrpc":"2.0","id":1,"method":"add"}',
    "empty": b"",
    "whitespace": b" \t\r\n",
    "msgpack array depth 1e5": b"\x91" * DEEP + b"\xc0",
    "msgpack map depth 1e5": b"\x81\xa1k" * DEEP + b"\xc0",
    "msgpack array32 of 4G": b"\xdd\xff\xff\xff\xff",
    "msgpack map32 of 4G": b"\xdf\xff\xff\xff\xff",
    "msgpack bin32 of 4G": b"\xc6\xff\xff\xff\xff",
    "msgpack 1e5 nils": b"\xdd\x00\x01\x86\xa0" + b"\xc0" * DEEP,
}


@pytest.mark.parametrize("name", [*DIALECTS, "auto"])
@pytest.mark.parametrize("case", sorted(PATHOLOGICAL))
def test_pathological_input(name: str, case: str) -> None:
    dialect = AutoDialect() if name == "auto" else dialect_for_subprotocol(name)
    started = time.perf_counter()
    event = decode_and_check(dialect, PATHOLOGICAL[case])
    assert time.perf_counter() - started < UNIT / 10
    if name == JSONRPC and not case.startswith(("msgpack", "duplicate", "BOM")):
        # §9: each gets a JSON-RPC error (a batch of arrays: one per item).
        items = event.items if isinstance(event, Batch) else (event,)
        for item in items:
            assert isinstance(item, Malformed) and item.reply is not None
            assert item.reply.code in (-32700, -32600)
    if name == JSONRPC and case == "duplicate keys":  # the last wins: a method that is 5
        assert isinstance(event, Malformed) and event.reply is not None
        assert (event.reply.code, event.reply.id) == (-32600, None)


# -- regressions: what the fuzzers found ------------------------------------------------------


def _deep_error_reply(name: str, depth: int) -> bytes:
    record = Pairs((("error", True), ("message", Deep(depth, "array", "x")), ("stack", "s")))
    if name == LEGACY:
        frame = Pairs((("id", 1), ("payload", Pairs((("instruction", 0), ("args", [record]))))))
    else:
        inner = Pairs((("args", [record]), ("command", "add"), ("type", 1)))
        frame = Pairs((("id", 1), ("instruction", inner)))
    return render(frame, codec_of(name))


@pytest.mark.parametrize("name", [LEGACY, V2_JSON, V2_MSGPACK])
def test_error_record_with_a_deeply_nested_message(name: str) -> None:
    """An error record whose message is an array 1,000 levels deep (each codec allows 1,024).

    decode() used to raise RecursionError: it turned the message into text with str().
    """
    decode_and_check(dialect_for_subprotocol(name), _deep_error_reply(name, 1000))


@pytest.mark.parametrize("name", [LEGACY, V2_JSON])
def test_every_id_the_decoder_accepts_can_be_answered(name: str) -> None:
    """A call whose id is nested 300 levels deep: answer it, or refuse it as malformed.

    Its reply used to be lost: orjson writes at most 254 levels and encode() raised.
    """
    call: Any
    if name == LEGACY:
        call = Pairs((("instruction", "add"), ("args", [1, 2])))
        frame = Pairs((("id", Deep(300, "array", 1)), ("payload", call)))
    else:
        call = Pairs((("args", [1, 2]), ("command", "add"), ("type", 0)))
        frame = Pairs((("id", Deep(300, "array", 1)), ("instruction", call)))
    event = decode_and_check(dialect_for_subprotocol(name), render(frame, "json"))
    assert isinstance(event, Request) or (isinstance(event, Malformed) and event.reply is None)
