"""Numbers from JavaScript peers on the v2 dialects, over a real socket on 127.0.0.1.

A JavaScript number has no integer type: msgpack-lite (the ws-promise 2.0.5
codec) sends integers outside the int32 range as float64, and any peer may send
``4.0`` for 4. docs/protocol.md ("v2") promises that integral floats validate
as ``int``; the handler must then see Python ints, and its ``int`` result go back
as an integer. A float with a fractional part is refused with the v2 error
record (README, "Errors on the wire"), which names the parameter but never
echoes the input and carries a one-line ``stack``, never a traceback.

The client here is a raw WebSocket that writes the frames the original client
writes: a SYN ``{"id": <uuid4>, "instruction": {"args", "command", "type": 0}}``,
then, when the ACK arrives, a SYN_ACK with the same id and command and no args.
"""

from __future__ import annotations

import asyncio
import enum
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, NamedTuple

import msgpack
import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from tests.conftest import UNIT
from wsrpc_typed import Router, Server

SYN, ACK, SYN_ACK = 0, 1, 2


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


def numbers_router() -> Router:
    router = Router()

    @router.method
    async def add(a: int, b: int) -> int:
        return a + b

    @router.method
    async def describe(n: int) -> str:
        # What the handler received, exactly: its type and repr.
        return f"{type(n).__name__}:{n!r}"

    @router.method
    async def pick(choice: Literal[1, 2]) -> str:
        return f"{type(choice).__name__}:{choice!r}"

    @router.method
    async def level(value: Level) -> str:
        return f"{type(value).__name__}:{value.name}:{int(value)!r}"

    return router


class Codec(NamedTuple):
    """How one subprotocol writes and reads frames, independently of our dialects."""

    subprotocol: str
    binary: bool
    dump: Callable[[Any], bytes | str]
    load: Callable[[bytes | str], Any]


def _pack(obj: Any) -> bytes:
    # Python floats pack as float64, as msgpack-lite packs non-int32 numbers.
    packed: bytes = msgpack.packb(obj, use_bin_type=True)
    return packed


def _unpack(raw: bytes | str) -> Any:
    assert isinstance(raw, bytes), "ws-promise-v2 replies go out as binary frames"
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def _dump_json(obj: Any) -> str:
    # orjson writes 4.0 as "4.0" and 2.0**40 as "1099511627776.0": floats on the wire.
    return orjson.dumps(obj).decode()


def _load_json(raw: bytes | str) -> Any:
    assert isinstance(raw, str), "ws-promise-v2-json replies go out as text frames"
    return json.loads(raw)


CODECS = {
    "msgpack": Codec("ws-promise-v2", True, _pack, _unpack),
    "json": Codec("ws-promise-v2-json", False, _dump_json, _load_json),
}


class V2Peer:
    """A raw ws-promise 2.0.5 style caller: SYN, wait for the ACK, SYN_ACK."""

    def __init__(self, ws: ClientConnection, codec: Codec) -> None:
        self.ws = ws
        self.codec = codec

    async def call(self, command: str, args: list[Any]) -> tuple[dict[str, Any], bytes | str]:
        """Call ``command``; return the ACK as parsed from the wire, and its raw frame."""
        id_ = str(uuid.uuid4())
        syn = {"id": id_, "instruction": {"args": args, "command": command, "type": SYN}}
        await self.ws.send(self.codec.dump(syn))
        async with asyncio.timeout(UNIT):
            raw = await self.ws.recv()
        ack = self.codec.load(raw)
        assert type(ack) is dict
        assert list(ack) == ["id", "instruction"], ack
        assert ack["id"] == id_
        assert list(ack["instruction"]) == ["args", "command", "type"], ack
        assert (ack["instruction"]["command"], ack["instruction"]["type"]) == (command, ACK)
        synack = {"id": id_, "instruction": {"args": [], "command": command, "type": SYN_ACK}}
        await self.ws.send(self.codec.dump(synack))
        return ack, raw

    async def values(self, command: str, args: list[Any]) -> list[Any]:
        """Call ``command``; return the reply values."""
        ack, _ = await self.call(command, args)
        values: list[Any] = ack["instruction"]["args"]
        return values


@pytest.fixture(params=sorted(CODECS))
def codec(request: pytest.FixtureRequest) -> Codec:
    return CODECS[request.param]


@pytest.fixture
async def peer(codec: Codec) -> AsyncIterator[V2Peer]:
    async with Server(numbers_router(), host="127.0.0.1", port=0) as server:
        protocols = [Subprotocol(codec.subprotocol)]
        async with ws_connect(server.url, subprotocols=protocols) as ws:
            assert ws.subprotocol == codec.subprotocol
            yield V2Peer(ws, codec)


def same_number(a: Any, b: Any) -> bool:
    """Equal and of the same type (6 and 6.0 differ here)."""
    return type(a) is type(b) and a == b


# -- integral floats are ints ------------------------------------------------------


async def test_integral_floats_add_up_to_an_integer(peer: V2Peer) -> None:
    ack, raw = await peer.call("add", [4.0, 2.0])
    (result,) = ack["instruction"]["args"]
    assert same_number(result, 6)
    if peer.codec.binary:
        assert isinstance(raw, bytes)
        assert msgpack.packb(6) in raw
        assert msgpack.packb(6.0) not in raw
    else:
        assert isinstance(raw, str)
        assert '"args":[6]' in raw.replace(" ", "")


async def test_large_integral_floats_add_up_to_an_integer(peer: V2Peer) -> None:
    # msgpack-lite sends 2**40 as a float64: it is outside the int32 range.
    (result,) = await peer.values("add", [2.0**40, 2.0**31])
    assert same_number(result, 2**40 + 2**31)


async def test_integral_float_and_int_mixed(peer: V2Peer) -> None:
    (result,) = await peer.values("add", [-3.0, 10])
    assert same_number(result, 7)


@pytest.mark.parametrize(
    ("sent", "seen"),
    [
        (4.0, "int:4"),
        (0.0, "int:0"),
        (-0.0, "int:0"),
        (-7.0, "int:-7"),
        (2.0**31, "int:2147483648"),
        (-(2.0**31) - 1, "int:-2147483649"),
        (2.0**40, "int:1099511627776"),
        (2.0**53, "int:9007199254740992"),
        (-(2.0**53), "int:-9007199254740992"),
        (1e15, "int:1000000000000000"),
    ],
    ids=repr,
)
async def test_handler_receives_a_python_int(peer: V2Peer, sent: float, seen: str) -> None:
    assert await peer.values("describe", [sent]) == [seen]


async def test_handler_receives_a_python_int_for_an_int(peer: V2Peer) -> None:
    # The control: an integer on the wire is an int, too.
    assert await peer.values("describe", [4]) == ["int:4"]


@pytest.mark.parametrize("sent", [2.0**63, -(2.0**64)], ids=repr)
async def test_integral_float_beyond_64_bits_is_refused_for_an_int(
    peer: V2Peer, sent: float
) -> None:
    # docs/protocol.md: integral floats validate as int within ±2^63 (pydantic's range for
    # them). Past 2^53 a JavaScript number is no longer an exact integer anyway, so a
    # clear refusal beats a value the sender may not have meant.
    (record,) = await peer.values("describe", [sent])
    assert record["code"] == -32602
    assert [(e["loc"], e["type"]) for e in record["data"]] == [(["n"], "int_parsing_size")]


# -- Literal and IntEnum ------------------------------------------------------------


@pytest.mark.parametrize(("sent", "seen"), [(1.0, "int:1"), (2.0, "int:2"), (1, "int:1")])
async def test_literal_accepts_an_integral_float(peer: V2Peer, sent: float, seen: str) -> None:
    assert await peer.values("pick", [sent]) == [seen]


@pytest.mark.parametrize(
    ("sent", "seen"),
    [(1.0, "Level:LOW:1"), (2.0, "Level:HIGH:2"), (2, "Level:HIGH:2")],
)
async def test_int_enum_accepts_an_integral_float(peer: V2Peer, sent: float, seen: str) -> None:
    assert await peer.values("level", [sent]) == [seen]


@pytest.mark.parametrize(
    ("command", "sent", "error"),
    [
        ("pick", 3.0, (["choice"], "literal_error")),
        ("pick", 1.5, (["choice"], "literal_error")),
        ("level", 3.0, (["value"], "enum")),
        ("level", 1.5, (["value"], "enum")),
    ],
)
async def test_literal_and_enum_refuse_other_numbers(
    peer: V2Peer, command: str, sent: float, error: tuple[list[str], str]
) -> None:
    (record,) = await peer.values(command, [sent])
    assert (record["error"], record["code"], record["message"]) == (True, -32602, "Invalid params")
    assert [(entry["loc"], entry["type"]) for entry in record["data"]] == [error]


# -- a fractional float is invalid params, in the v2 error shape ---------------------


async def test_fractional_float_for_an_int_is_a_v2_error_record(peer: V2Peer) -> None:
    ack, raw = await peer.call("add", [4.5, 2.0])
    assert ack["instruction"]["type"] == ACK
    (record,) = ack["instruction"]["args"]
    assert record == {
        "error": True,
        "message": "Invalid params",
        "stack": "InvalidParams: Invalid params (code -32602)",
        "code": -32602,
        "data": [
            {
                "loc": ["a"],
                "msg": "Input should be a valid integer, got a number with a fractional part",
                "type": "int_from_float",
            }
        ],
    }
    # The key order the original server writes; a one-line stack, no trace, no input.
    assert list(record) == ["error", "message", "stack", "code", "data"]
    assert "\n" not in record["stack"]
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    assert "Traceback" not in text
    assert ".py" not in text
    assert "4.5" not in text
    if peer.codec.binary:
        assert isinstance(raw, bytes)
        assert msgpack.packb(4.5) not in raw


async def test_every_fractional_param_is_reported(peer: V2Peer) -> None:
    (record,) = await peer.values("add", [0.5, -1.25])
    assert (record["error"], record["code"], record["message"]) == (True, -32602, "Invalid params")
    assert [(entry["loc"], entry["type"]) for entry in record["data"]] == [
        (["a"], "int_from_float"),
        (["b"], "int_from_float"),
    ]


async def test_connection_still_serves_after_an_invalid_call(peer: V2Peer) -> None:
    (record,) = await peer.values("add", [4.5, 2.0])
    assert record["code"] == -32602
    (result,) = await peer.values("add", [4.0, 2.0])
    assert same_number(result, 6)
