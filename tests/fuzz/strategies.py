"""Hypothesis strategies for hostile WebSocket frames, for every dialect.

Frames are built as a small tree and then written out by hand in the dialect's
codec (JSON text or msgpack bytes), so a frame can hold what no encoder writes:

* :class:`Pairs`: an object or map written key by key, so keys may repeat;
* :class:`Raw`: bytes spliced in as they are (``NaN``, ``1e999``, a lone
  surrogate escape, a 5,000-digit number, a msgpack ``str`` of invalid UTF-8,
  a map32 header claiming four billion entries...);
* :class:`Deep`: a value nested up to a few thousand levels deep.

Values come in three grades: plain (what the codec carries unchanged, for
valid frames and round trips), hostile (valid in the codec but chosen to hurt:
integer and float edges, odd unicode, huge and deeply nested containers,
msgpack bin, extension types, timestamps and non-string map keys) and broken
(something the codec's grammar or its parser's limits reject).

On top of that, :func:`frames` mixes for one dialect: its own envelopes with
a valid, almost valid, hostile or broken value in each member (and missing,
extra and repeated members, in any order), the other dialects' envelopes, bare
values, valid frames, frames after truncation, bit flips, insertions and
deletions, envelopes in the other codec, and random bytes.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import msgpack
import orjson
from hypothesis import currently_in_test_context, event
from hypothesis import strategies as st

from wsrpc_typed.dialects.detect import dialect_for_subprotocol
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
from wsrpc_typed.dialects.v2 import EXT_DATE
from wsrpc_typed.dialects.v2 import SUBPROTOCOL as V2_MSGPACK
from wsrpc_typed.dialects.v2 import SUBPROTOCOL_JSON as V2_JSON

__all__ = [
    "DIALECTS",
    "METHOD_NAMES",
    "Codec",
    "Deep",
    "Pairs",
    "Raw",
    "broken_values",
    "codec_of",
    "envelopes",
    "frames",
    "hostile_values",
    "note",
    "plain_values",
    "render",
    "valid_events",
]

Codec = Literal["json", "msgpack"]
Strategy = st.SearchStrategy

DIALECTS: tuple[str, ...] = (JSONRPC, LEGACY, V2_JSON, V2_MSGPACK)


def codec_of(dialect: str) -> Codec:
    """The codec a dialect's frames are written in."""
    return "msgpack" if dialect == V2_MSGPACK else "json"


# -- the frame tree ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Raw:
    """Bytes written into the frame as they are."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Pairs:
    """An object (a msgpack map) written pair by pair: a key may appear twice."""

    items: tuple[tuple[Any, Any], ...]


@dataclass(frozen=True, slots=True)
class Deep:
    """``leaf`` inside ``depth`` levels of arrays, of one-key objects, or of both in turn."""

    depth: int
    kind: Literal["array", "object", "mixed"]
    leaf: Any


def _layers(deep: Deep) -> list[bool]:
    """For each level of a Deep value, outermost first: whether it is an array."""
    if deep.kind == "mixed":
        return [i % 2 == 0 for i in range(deep.depth)]
    return [deep.kind == "array"] * deep.depth


def render(node: Any, codec: Codec) -> bytes:
    """Write a frame tree in ``codec``; Python values are written as their encoder would."""
    out: list[bytes] = []
    (_json if codec == "json" else _msgpack)(node, out)
    return b"".join(out)


def _json(node: Any, out: list[bytes]) -> None:
    if isinstance(node, Raw):
        out.append(node.data)
    elif isinstance(node, Deep):
        layers = _layers(node)
        out.extend(b"[" if array else b'{"k":' for array in layers)
        _json(node.leaf, out)
        out.extend(b"]" if array else b"}" for array in reversed(layers))
    elif isinstance(node, Pairs | dict):
        items = node.items if isinstance(node, Pairs) else tuple(node.items())
        out.append(b"{")
        for i, (key, value) in enumerate(items):
            if i:
                out.append(b",")
            _json(key, out)  # a key that is not a string makes the text invalid, on purpose
            out.append(b":")
            _json(value, out)
        out.append(b"}")
    elif isinstance(node, list | tuple):
        out.append(b"[")
        for i, item in enumerate(node):
            if i:
                out.append(b",")
            _json(item, out)
        out.append(b"]")
    elif isinstance(node, float) and node != node:
        out.append(b"NaN")
    elif isinstance(node, float) and node in (float("inf"), float("-inf")):
        out.append(b"Infinity" if node > 0 else b"-Infinity")
    elif type(node) is int:
        out.append(str(node).encode())  # any size: orjson.dumps stops at 64 bits
    else:
        out.append(orjson.dumps(node))


def _header(size: int, fix: int, small: int, large: int) -> bytes:
    if size < 16:
        return bytes([fix | size])
    if size < 2**16:
        return bytes([small]) + struct.pack(">H", size)
    return bytes([large]) + struct.pack(">I", size)


def _msgpack(node: Any, out: list[bytes]) -> None:
    if isinstance(node, msgpack.ExtType):  # a namedtuple, not an array
        out.append(msgpack.packb(node))
    elif isinstance(node, Raw):
        out.append(node.data)
    elif isinstance(node, Deep):
        out.extend(b"\x91" if array else b"\x81\xa1k" for array in _layers(node))
        _msgpack(node.leaf, out)
    elif isinstance(node, Pairs | dict):
        items = node.items if isinstance(node, Pairs) else tuple(node.items())
        out.append(_header(len(items), 0x80, 0xDE, 0xDF))
        for key, value in items:
            _msgpack(key, out)
            _msgpack(value, out)
    elif isinstance(node, list | tuple):
        out.append(_header(len(node), 0x90, 0xDC, 0xDD))
        for item in node:
            _msgpack(item, out)
    else:
        out.append(msgpack.packb(node, use_bin_type=True))


# -- values ---------------------------------------------------------------------------

INT_EDGES = (
    0,
    1,
    -1,
    127,
    128,
    255,
    -32,
    -33,
    2**16,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    2**32,
    2**53 - 1,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63),
    2**64 - 1,
)
FLOAT_EDGES = (
    0.0,
    -0.0,
    0.5,
    1.0,
    2.0,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    9007199254740993.0,
    2.0**63,
    2.0**64,
    1e21,
)
TEXT_EDGES = (
    "",
    " ",
    "\x00",
    "\t\n\r\x0b\x0c",
    "\x7f\x80\x9f",
    "\u00a0\u0085",
    "\u2028\u2029",
    "\ufeff",
    "\ufffe\uffff",
    "\U0010ffff",
    "\U0001f980\u200d\U0001f525",
    "e\u0301\u0301\u0301",
    "\u202eevil",
    "\u0430dd",  # Cyrillic a: a homoglyph of "add"
    "ǅİßﬀ",
    "\\",
    '"',
    "${jndi:ldap://x}",
    "%s%n%x{0}",
    "<script>",
    "__proto__",
    "constructor",
    "__class__",
    "__init__",
    "a.__globals__",
    "_private",
    "rpc.",
    "rpc.cancel",
    "rpc.item",
    "rpc.credit",
    "rpc.discover",
    "0",
    "1",
    "NaN",
    "null",
    "true",
    "2.0",
    "../../../../etc/passwd",
    "C:\\Windows\\system32",
)
#: JSON literals no JSON encoder writes: each is invalid JSON or at the edge of a parser's limits.
RAW_JSON = (
    b"NaN",
    b"-NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"-1e999",
    b"1e-999",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"01",
    b"1.",
    b".5",
    b"+1",
    b"0x10",
    b'"\\ud800"',
    b'"\\udfff"',
    b'"\\ud800\\u0041"',
    b'"\\udbff\\udfff"',
    b'"\\u0000"',
    b'"\xed\xa0\x80"',  # a surrogate written as UTF-8 bytes (CESU-8)
    b'"\xc0\x80"',  # an overlong NUL
    b'"\xff\xfe"',
    b'"\t"',
    b"'single'",
    b"undefined",
    b"True",
    b"nul",
    b"[",
    b"}",
    b"",
    b"\xef\xbb\xbf1",  # a BOM
    b"/*c*/1",
    b"[1,]",
    b'{"a":1,}',
    b'"unterminated',
)
#: msgpack items no msgpack encoder writes, or that sit at the edge of the unpacker's limits.
RAW_MSGPACK = (
    b"\xc1",  # never used
    b"\xd9\xff",  # str8 promising 255 bytes that are not there
    b"\xa2\xff\xfe",  # str of invalid UTF-8
    b"\xa3\xed\xa0\x80",  # str holding a surrogate
    b"\xa2\xc0\x80",
    b"\xdf\xff\xff\xff\xff",  # map32 of four billion entries
    b"\xdd\xff\xff\xff\xff",
    b"\xc6\xff\xff\xff\xff",
    b"\xc9\xff\xff\xff\xff\x05",
    b"\xcf" + b"\xff" * 8,
    b"\xd3\x80" + b"\x00" * 7,
    b"\xca\x7f\xc0\x00\x00",  # float32 NaN
    b"\xca\x7f\x80\x00\x00",  # float32 inf
    b"\xcb\x7f\xf8" + b"\x00" * 6,
    b"\xcb\x80" + b"\x00" * 7,  # -0.0
    b"\xd6\xff\xff\xff\xff\xff",  # timestamp32, the last second it holds
    b"\xd7\xff" + b"\xff" * 8,  # timestamp64 with nanoseconds over 10^9
    b"\xc7\x0c\xff" + b"\x00" * 4 + b"\x7f" + b"\xff" * 7,  # timestamp96 past year 9999
    b"\xc7\x01\xff\x00",  # timestamp of a length no timestamp has
    b"\xd4\x0d\xc0",  # Date ext whose payload is nil
    b"\xc7\x00\x0d",  # Date ext without payload
    b"\xd4\x80\x00",  # ext type -128, which msgpack.ExtType cannot write
    b"\xd4\xfe\x01",
)
#: Long runs that make a literal costly to parse: (prefix, repeated part, count, suffix).
#: Built on demand, so that the strategies' reprs (which hypothesis prints) stay short.
LONG_JSON = (
    (b"", b"1", 5000, b""),
    (b"-", b"9", 400, b""),
    (b"0.", b"0", 400, b"1"),
    (b'"', b"\\u0000", 2000, b'"'),
    (b'"', b"\\ud800", 500, b'"'),
    (b'"', b"a", 100_000, b'"'),
)
LONG_MSGPACK = (
    (b"\xdd\x00\x00\x27\x10", b"\xc0", 10_000, b""),
    (b"\xda\x75\x30", b"a", 30_000, b""),
    (b"\xdc\x00\x64", b"\xd4\x01\x00", 100, b""),
)


def _long(spec: tuple[bytes, bytes, int, bytes]) -> Raw:
    prefix, part, count, suffix = spec
    return Raw(prefix + part * count + suffix)


def text() -> Strategy[str]:
    """Text a JSON encoder can write (no lone surrogates), edge cases included."""
    # UTF-8 cannot encode lone surrogates, so this excludes them.
    return st.text(st.characters(codec="utf-8"), max_size=16) | st.sampled_from(TEXT_EDGES)


INTS = st.sampled_from(INT_EDGES) | st.integers(-(2**63), 2**64 - 1)
FINITE = st.sampled_from(FLOAT_EDGES) | st.floats(allow_nan=False, allow_infinity=False)
#: Around orjson's 254 levels, msgpack's and Python's 1,000 or so, and the parsers' 1,024.
DEPTHS = st.sampled_from(
    (2, 32, 128, 250, 252, 253, 254, 255, 256, 300, 511, 512, 900, 990, 999, 1000, 1020, 1023)
)
DEPTHS |= st.sampled_from((1024, 1025, 2000, 10_000))


def _date_ext() -> Strategy[msgpack.ExtType]:
    """msgpack-lite's Date (ext 0x0D), whose payload is a msgpack number, or anything else."""
    payload = st.floats() | INTS | text() | st.none() | st.binary(max_size=9)
    return payload.map(
        lambda value: msgpack.ExtType(EXT_DATE, msgpack.packb(value, use_bin_type=True))
    )


def _scalars(codec: Codec) -> Strategy[Any]:
    """Scalars the codec can carry: edges of every type, msgpack's extension types."""
    common = st.none() | st.booleans() | INTS | FINITE | text()
    if codec == "json":
        return common
    return (
        common
        | st.floats()
        | st.binary(max_size=24)
        | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=16))
        | _date_ext()
        | st.builds(msgpack.Timestamp, st.integers(-(2**34), 2**34), st.integers(0, 999_999_999))
        | st.sampled_from(LONG_MSGPACK).map(_long)
    )


def _broken_scalars(codec: Codec) -> Strategy[Any]:
    """Items the codec's grammar (or its parser's limits) rejects."""
    if codec == "json":
        non_finite = st.sampled_from((float("nan"), float("inf"), float("-inf")))
        return (
            non_finite | st.sampled_from(RAW_JSON).map(Raw) | st.sampled_from(LONG_JSON).map(_long)
        )
    return st.sampled_from(RAW_MSGPACK).map(Raw)


def _keys(codec: Codec) -> Strategy[Any]:
    if codec == "json":
        return text()
    return (
        st.none()
        | st.booleans()
        | INTS
        | st.floats()
        | text()
        | st.binary(max_size=8)
        | st.builds(msgpack.ExtType, st.just(1), st.binary(max_size=4))
    )


def _broken_keys(codec: Codec) -> Strategy[Any]:
    if codec == "json":  # JSON object keys are strings
        return st.sampled_from((Raw(b"1"), Raw(b"null"), Raw(b"[]"), Raw(b'"\\ud800"')))
    return st.tuples(INTS)  # an array as a map key: unhashable once decoded


def _containers(scalars: Strategy[Any], keys: Strategy[Any]) -> Strategy[Any]:
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5)
            | st.lists(st.tuples(keys, children), max_size=5).map(lambda kv: Pairs(tuple(kv)))
        ),
        max_leaves=12,
    )


@functools.cache
def hostile_values(codec: Codec) -> Strategy[Any]:
    """Values the codec carries, chosen to hurt: edges, odd keys, huge and deep containers."""
    scalars = _scalars(codec)
    big = st.integers(500, 5_000)
    return st.one_of(
        scalars,
        _containers(scalars, _keys(codec)),
        _deep(codec),
        st.tuples(st.just(codec), st.sampled_from(_BIG), big).map(_big),
    )


@functools.cache
def broken_values(codec: Codec) -> Strategy[Any]:
    """Values with something in them that the codec's grammar or its parser rejects."""
    broken = _broken_scalars(codec)
    scalars = _scalars(codec) | broken
    return st.one_of(
        broken,
        _containers(scalars, _keys(codec) | _broken_keys(codec)),
        st.builds(Deep, DEPTHS, st.sampled_from(("array", "object", "mixed")), broken),
    )


@functools.cache
def _deep(codec: Codec) -> Strategy[Deep]:
    return st.builds(Deep, DEPTHS, st.sampled_from(("array", "object", "mixed")), _scalars(codec))


_BIG = ("long array", "long text", "many keys", "one key many times")


def _big(spec: tuple[Codec, str, int]) -> Raw:
    """A large value, written directly (a tree of thousands of nodes is slow to render)."""
    codec, kind, n = spec
    if codec == "json":
        if kind == "long array":
            return Raw(b"[" + b"0," * (n - 1) + b"0]")
        if kind == "long text":
            return Raw(b'"' + b"x" * (n * 20) + b'"')
        if kind == "many keys":
            return Raw(orjson.dumps({str(i): i for i in range(n)}))
        return Raw(b"{" + b",".join([b'"same":1'] * n) + b"}")
    if kind == "long array":
        return Raw(msgpack.packb([0] * n))
    if kind == "long text":
        return Raw(msgpack.packb("x" * (n * 20)))
    if kind == "many keys":
        return Raw(msgpack.packb({str(i): i for i in range(n)}))
    return Raw(_header(n, 0x80, 0xDE, 0xDF) + b"\xa4same\x01" * n)


@functools.cache
def plain_values(codec: Codec, max_leaves: int = 8) -> Strategy[Any]:
    """Values the codec carries unchanged: for round trips and for valid frames."""
    scalars: Strategy[Any] = st.none() | st.booleans() | INTS | FINITE | text()
    keys: Strategy[Any] = text()
    if codec == "msgpack":
        scalars |= st.binary(max_size=16)
        keys |= INTS | st.binary(max_size=8) | st.none()
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4)
        ),
        max_leaves=max_leaves,
    )


# -- envelopes --------------------------------------------------------------------------

#: Methods of the test application, the JSON-RPC extensions, and names no router has.
METHOD_NAMES: tuple[str, ...] = (
    "add",
    "echo",
    "fail",
    "withdraw",
    "shapes",
    "bad_result",
    "record",
    "wrong_items",
    "rpc.discover",
    "rpc.cancel",
    "rpc.item",
    "rpc.credit",
    "nope",
)


class Field(NamedTuple):
    """One member of an envelope."""

    key: str
    valid: Strategy[Any]
    required: bool = True
    near: Strategy[Any] | None = None
    """Values that are almost valid (``1.0`` for ``1``, ``"2"`` for ``"2.0"``)."""


_PRESENCE = st.integers(0, 31)
_PICK = st.integers(0, 31)
_PLACE = st.integers(0, 15)


def _object(fields: Sequence[Field], codec: Codec) -> Strategy[Pairs]:
    """An envelope whose members are each valid, or (three times in 32) almost valid,
    hostile or broken, or missing now and then; with extra and repeated keys, in any order."""
    hostile, broken = hostile_values(codec), broken_values(codec)
    names = st.sampled_from([field.key for field in fields])
    extras = st.lists(st.tuples(_keys(codec), hostile), max_size=2)
    duplicates = st.lists(
        st.tuples(names, hostile | st.one_of(*(field.valid for field in fields))), max_size=2
    )

    @st.composite
    def draw_object(draw: st.DrawFn) -> Pairs:
        pairs: list[tuple[Any, Any]] = []
        for key, valid, required, near in fields:
            presence = draw(_PRESENCE)
            if presence == 0 if required else presence < 12:
                continue
            pick = draw(_PICK)
            odd = {0: broken, 1: hostile if near is None else near, 2: hostile}.get(pick, valid)
            pairs.append((key, draw(odd)))
        pairs += draw(extras)
        if draw(_PICK) < 2:
            pairs += draw(duplicates)
        if len(pairs) > 1 and draw(st.booleans()):
            places = [draw(_PLACE) for _ in pairs]  # a stable sort by these: any order
            pairs = [pair for _, pair in sorted(zip(places, pairs, strict=True), key=_first)]
        return Pairs(tuple(pairs))

    return draw_object()


def _first(item: tuple[int, Any]) -> int:
    return item[0]


@functools.cache
def _envelopes(dialect: str, codec: Codec, methods: Strategy[str]) -> Strategy[Pairs]:
    hostile = hostile_values(codec)
    values = plain_values(codec) | hostile
    args = st.lists(values, max_size=4)
    truthy = st.sampled_from((True, 1, "yes", [0]))
    record = _object(
        [
            Field("error", truthy, near=st.sampled_from((False, 0, None, ""))),
            Field("code", INTS, near=FINITE | text()),
            Field("message", text().filter(bool) | hostile | _deep(codec)),
            Field("stack", text(), required=False),
            Field("data", values, required=False),
        ],
        codec,
    )
    reply_args = args | st.lists(record, min_size=1, max_size=2)
    if dialect == LEGACY:
        odd = st.sampled_from((0.0, 1.0, -0.0, True, False, 2, -1, "0", None))
        payload = _object(
            [
                Field("instruction", methods | st.sampled_from((0, 1)), near=odd),
                Field("args", reply_args, required=False),
            ],
            codec,
        )
        return _object([Field("id", values), Field("payload", payload)], codec)
    if dialect in (V2_JSON, V2_MSGPACK):
        odd = st.sampled_from((0.0, 1.0, 2.0, -0.0, True, False, 3, -1, 9, "0", None))
        inner = _object(
            [
                Field("args", reply_args),
                Field("command", methods),
                Field("type", st.sampled_from((0, 1, 2)), near=odd),
            ],
            codec,
        )
        return _object([Field("id", values), Field("instruction", inner)], codec)
    ids = st.none() | text() | INTS | FINITE
    version = Field(
        "jsonrpc", st.just("2.0"), near=st.sampled_from(("2", "2.0 ", "1.0", 2.0, "", None))
    )
    params = st.lists(values, max_size=4) | st.dictionaries(text(), values, max_size=4)
    timeout = FINITE | INTS | st.sampled_from((0, -1, 1e-300, 1e300))
    error = _object(
        [Field("code", INTS), Field("message", text()), Field("data", values, required=False)],
        codec,
    )
    control = _object(
        [
            Field("id", values),
            Field("item", values, required=False),
            Field("credit", INTS, required=False),
        ],
        codec,
    )
    control_method = st.sampled_from(("rpc.cancel", "rpc.item", "rpc.credit"))
    shapes: list[list[Field]] = [
        [
            version,
            Field("id", ids, near=values),
            Field("method", methods),
            Field("params", params, required=False, near=st.none() | text()),
            Field("timeout", timeout, required=False),
            Field("credit", INTS, required=False),
        ],
        [version, Field("method", methods), Field("params", params, required=False)],
        [version, Field("method", control_method), Field("params", control)],
        [version, Field("id", ids), Field("result", values)],
        [version, Field("id", ids), Field("error", error)],
    ]
    return st.one_of(*(_object(fields, codec) for fields in shapes))


def _jsonrpc_batches(single: Strategy[Any], hostile: Strategy[Any]) -> Strategy[Any]:
    request = Pairs((("jsonrpc", "2.0"), ("id", 1), ("method", "add"), ("params", [1, 2])))
    return st.lists(single | hostile, max_size=6) | st.integers(95, 130).map(
        lambda n: [request] * n
    )


@functools.cache
def envelopes(dialect: str, codec: Codec, methods: Strategy[str]) -> Strategy[Any]:
    """The dialect's message shapes (JSON-RPC: and batches of them), with hostile values."""
    single = _envelopes(dialect, codec, methods)
    if dialect != JSONRPC:
        return single
    return single | _jsonrpc_batches(single, hostile_values(codec))


# -- valid events and frames -----------------------------------------------------------------


def _not_an_error_record(values: tuple[Any, ...]) -> bool:
    # A first value with a truthy "error" and "message" decodes as an error (seed dialects).
    first = values[0] if values else None
    return not (type(first) is dict and first.get("error") and first.get("message"))


def valid_events(dialect: str, methods: Strategy[str] | None = None) -> Strategy[Outgoing]:
    """Events the dialect encodes and decodes back unchanged (methods: METHOD_NAMES)."""
    methods = st.sampled_from(METHOD_NAMES) if methods is None else methods
    codec = codec_of(dialect)
    values = plain_values(codec)
    message = text().filter(bool)
    code = st.integers(-(2**63), 2**63 - 1)
    if dialect == JSONRPC:
        ids = st.none() | text() | INTS | FINITE
        params = st.none() | st.lists(values, max_size=4) | st.dictionaries(text(), values)
        calls = methods.filter(lambda name: not name.startswith("rpc."))
        return st.one_of(
            st.builds(
                Request,
                ids,
                methods,
                params,
                st.none() | FINITE,
                st.none() | st.integers(1, 2**64 - 1),
            ),
            st.builds(Notification, calls, params),
            st.builds(Response, ids, st.tuples(values)),
            st.builds(ErrorResponse, ids, code, text(), st.none() | values),
            st.builds(Cancel, values),
            st.builds(StreamItem, values, values),
            st.builds(Credit, values, st.integers(1, 2**64 - 1)),
        )
    reply_values = st.lists(values, max_size=3).map(tuple).filter(_not_an_error_record)
    method = methods if dialect != LEGACY else st.just("")
    args = st.lists(values, max_size=4)
    return st.one_of(
        st.builds(Request, values, methods, args),
        st.builds(Response, values, reply_values, method),
        st.builds(Acknowledge, values, reply_values, method),
        st.builds(ErrorResponse, values, code, message, st.none() | values, method),
    )


# -- mutations and the mix ------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, frames: Strategy[bytes]) -> bytes:
    """A frame after one to four truncations, bit flips, insertions, deletions or repeats."""
    data = bytearray(draw(frames))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("truncate", "flip", "insert", "delete", "repeat", "set")))
        at = draw(st.integers(0, len(data)))
        if op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" or op == "repeat":
            span = bytes(data[at : at + draw(st.integers(1, 16))])
            data[at : at + len(span)] = span * 2 if op == "repeat" else b""
        elif at < len(data):
            if op == "flip":
                data[at] ^= 1 << draw(st.integers(0, 7))
            else:
                data[at] = draw(st.sampled_from((0x00, 0x22, 0x5C, 0x7B, 0x80, 0xC0, 0xFF)))
    return bytes(data)


_ANY_METHOD = st.sampled_from(METHOD_NAMES) | text()


def _encoded(dialect: str, methods: Strategy[str]) -> Strategy[bytes]:
    return valid_events(dialect, methods).map(dialect_for_subprotocol(dialect).encode)


def frames(dialect: str, methods: Strategy[str] | None = None) -> Strategy[bytes]:
    """Hostile and valid frames for one dialect (as the transport hands them over: bytes).

    ``methods``: the method names to call (default: METHOD_NAMES and any text).
    """
    methods = _ANY_METHOD if methods is None else methods
    codec = codec_of(dialect)
    other_codec: Codec = "json" if codec == "msgpack" else "msgpack"
    write: Callable[[Any], bytes] = lambda node: render(node, codec)  # noqa: E731
    own = envelopes(dialect, codec, methods)
    others = st.one_of(*(envelopes(d, codec, methods) for d in DIALECTS if d != dialect))
    structured = st.one_of(own, others, broken_values(codec)).map(write)
    valid = _encoded(dialect, methods)
    foreign = _envelopes(dialect, other_codec, methods).map(lambda n: render(n, other_codec))
    # Weights, roughly: 40% the dialect's own envelopes, 10% each of the rest.
    return st.one_of(
        *[own.map(write)] * 4,
        valid,
        mutated(valid | structured),
        others.map(write),
        (hostile_values(codec) | broken_values(codec)).map(write),
        foreign,
        st.binary(max_size=64),
    )


def note(text: str) -> None:
    """Count ``text`` in hypothesis' statistics (``--hypothesis-show-statistics``), in a test."""
    if currently_in_test_context():
        event(text)
