"""Choosing a dialect by subprotocol or from the first frame (seed-protocol.md §4, end)."""

from __future__ import annotations

import ast
from pathlib import Path

import msgpack
import orjson
import pytest

import wsrpc_typed.dialects
from wsrpc_typed.dialects.detect import (
    SUBPROTOCOLS,
    AutoDialect,
    detect_dialect,
    dialect_for_subprotocol,
)
from wsrpc_typed.dialects.events import (
    Dialect,
    ErrorResponse,
    Malformed,
    Notification,
    Request,
    Response,
)
from wsrpc_typed.dialects.jsonrpc import JsonRpcDialect
from wsrpc_typed.dialects.legacy import LegacyDialect
from wsrpc_typed.dialects.v2 import V2JsonDialect, V2MsgpackDialect

LEGACY_FRAME = b'{"id":"a","payload":{"instruction":"add","args":[1,2]}}'
V2_JSON_FRAME = b'{"id":"a","instruction":{"args":[1,2],"command":"add","type":0}}'
V2_MSGPACK_FRAME = msgpack.packb(
    {"id": "a", "instruction": {"args": [1, 2], "command": "add", "type": 0}}
)
JSONRPC_FRAME = b'{"jsonrpc":"2.0","id":"a","method":"add","params":[1,2]}'


def test_subprotocols() -> None:
    assert SUBPROTOCOLS == ("jsonrpc-2.0", "ws-promise-v2", "ws-promise-v2-json", "ws-rpc-legacy")


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("jsonrpc-2.0", JsonRpcDialect),
        ("ws-promise-v2", V2MsgpackDialect),
        ("ws-promise-v2-json", V2JsonDialect),
        ("ws-rpc-legacy", LegacyDialect),
    ],
)
def test_dialect_for_subprotocol(name: str, cls: type) -> None:
    dialect = dialect_for_subprotocol(name)
    assert type(dialect) is cls
    assert dialect.name == name
    assert dialect_for_subprotocol(name) is dialect  # shared, stateless


def test_no_subprotocol_means_detection() -> None:
    first, second = dialect_for_subprotocol(None), dialect_for_subprotocol(None)
    assert type(first) is AutoDialect
    assert first is not second  # per connection


def test_unknown_subprotocol() -> None:
    with pytest.raises(ValueError, match=r"unknown dialect 'soap'.*jsonrpc-2\.0"):
        dialect_for_subprotocol("soap")


@pytest.mark.parametrize(
    ("frame", "name"),
    [
        (LEGACY_FRAME, "ws-rpc-legacy"),
        (LEGACY_FRAME.decode(), "ws-rpc-legacy"),
        (b'{"id":"r4","payload":{}}', "ws-rpc-legacy"),
        (V2_JSON_FRAME, "ws-promise-v2-json"),
        (V2_JSON_FRAME.decode(), "ws-promise-v2-json"),
        (b'{"instruction":{"type":0,"command":"add","args":[1,2]},"id":"k"}', "ws-promise-v2-json"),
        (V2_MSGPACK_FRAME, "ws-promise-v2"),
        (bytearray(V2_MSGPACK_FRAME), "ws-promise-v2"),
        (b"\x80", "ws-promise-v2"),
        (b"\x8f", "ws-promise-v2"),
        (b"\xde\x00\x00", "ws-promise-v2"),
        (b"\xdf\x00\x00\x00\x00", "ws-promise-v2"),
        (JSONRPC_FRAME, "jsonrpc-2.0"),
        (b'[{"jsonrpc":"2.0","id":1,"method":"a"}]', "jsonrpc-2.0"),
        (b"[]", "jsonrpc-2.0"),
        (b'{"jsonrpc":"2.0","method":"a","payload":{}}', "jsonrpc-2.0"),
        (b'{"id":"r4"}', "jsonrpc-2.0"),
        (b'{"payload":[1]}', "jsonrpc-2.0"),
        (b'{"instruction":0}', "jsonrpc-2.0"),
        (b"not json", "jsonrpc-2.0"),
        (b"", "jsonrpc-2.0"),
        ("", "jsonrpc-2.0"),
        (b"\x91\x01", "jsonrpc-2.0"),  # a msgpack array is not a v2 message
        (b"\xff", "jsonrpc-2.0"),
    ],
)
def test_detect_dialect(frame: bytes | str, name: str) -> None:
    assert detect_dialect(frame).name == name


@pytest.mark.parametrize(
    ("frame", "name", "text", "event"),
    [
        (LEGACY_FRAME, "ws-rpc-legacy", True, Request("a", "add", [1, 2])),
        (V2_JSON_FRAME, "ws-promise-v2-json", True, Request("a", "add", [1, 2])),
        (V2_MSGPACK_FRAME, "ws-promise-v2", False, Request("a", "add", [1, 2])),
        (JSONRPC_FRAME, "jsonrpc-2.0", True, Request("a", "add", [1, 2])),
    ],
)
def test_auto_dialect_detects_on_the_first_frame(
    frame: bytes, name: str, text: bool, event: Request
) -> None:
    auto = AutoDialect()
    assert (auto.name, auto.text, auto.detected) == ("jsonrpc-2.0", True, None)
    assert auto.decode(frame) == event
    assert auto.detected is dialect_for_subprotocol(name)
    assert (auto.name, auto.text) == (name, text)
    assert auto.decode(frame) == event


def test_auto_dialect_keeps_the_first_dialect() -> None:
    auto = AutoDialect()
    auto.decode(LEGACY_FRAME)
    assert type(auto.decode(JSONRPC_FRAME)) is Malformed  # read as legacy
    assert auto.name == "ws-rpc-legacy"
    reply = orjson.loads(auto.encode(Response("a", (3,), "add")))
    assert reply == {"id": "a", "payload": {"instruction": 0, "args": [3]}}


def test_auto_dialect_encodes_json_rpc_before_detection() -> None:
    auto = AutoDialect()
    assert orjson.loads(auto.encode(Notification("hello", ["world"]))) == {
        "jsonrpc": "2.0",
        "method": "hello",
        "params": ["world"],
    }
    batch: list[Response | ErrorResponse] = [Response(1, (2,)), ErrorResponse(2, -32601, "x")]
    assert len(orjson.loads(auto.encode_batch(batch))) == 2
    assert auto.detected is None


def test_auto_dialect_encodes_with_the_detected_dialect() -> None:
    auto = AutoDialect()
    auto.decode(V2_MSGPACK_FRAME)
    raw = auto.encode(Response("a", (3,), "add"))
    expected = {"id": "a", "instruction": {"args": [3], "command": "add", "type": 1}}
    assert msgpack.unpackb(raw) == expected
    with pytest.raises(TypeError, match="no batches"):
        auto.encode_batch([Response("a", (3,), "add")])


def test_auto_dialect_garbage_first_frame_means_json_rpc() -> None:
    auto = AutoDialect()
    event = auto.decode(b"not json")
    assert type(event) is Malformed
    assert event.reply is not None
    assert event.reply.code == -32700
    assert auto.name == "jsonrpc-2.0"


def test_every_dialect_satisfies_the_protocol() -> None:
    # Checked by mypy: each assignment must type-check against the Dialect protocol.
    dialects: list[Dialect] = [
        JsonRpcDialect(),
        LegacyDialect(),
        V2MsgpackDialect(),
        V2JsonDialect(),
        AutoDialect(),
    ]
    for dialect in dialects:
        assert isinstance(dialect.name, str)
        assert isinstance(dialect.text, bool)


# -- sans-I/O -----------------------------------------------------------------------

DIALECTS_DIR = Path(wsrpc_typed.dialects.__file__).parent
FORBIDDEN = {"asyncio", "websockets"}


def imported_roots(source: str) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_imported_roots_sees_every_import_form() -> None:
    source = "import asyncio.tasks\nfrom websockets import x\nif 1:\n    import trio as t\n"
    assert imported_roots(source) == {"asyncio", "websockets", "trio"}


@pytest.mark.parametrize("path", sorted(DIALECTS_DIR.glob("*.py")), ids=lambda path: path.name)
def test_dialects_are_sans_io(path: Path) -> None:
    assert not imported_roots(path.read_text(encoding="utf-8")) & FORBIDDEN


PACKAGE_DIR = DIALECTS_DIR.parent
#: Sans-I/O modules beside the dialects, and the layers above them they must not import.
CORE = ("protocol.py", "registry.py", "schema.py", "errors.py")
UPPER = {"connection", "serving", "hub", "server", "client", "transport", "testing", "cli"}


def relative_imports(source: str) -> set[str]:
    """The package modules imported relatively (``from .x import y``, ``from . import x``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                names.add(node.module.split(".")[0])
            else:
                names.update(alias.name for alias in node.names)
    return names


def test_relative_imports_sees_both_forms() -> None:
    assert relative_imports("from .hub import Hub\nfrom . import server\n") == {"hub", "server"}


@pytest.mark.parametrize("name", CORE)
def test_the_protocol_core_is_sans_io(name: str) -> None:
    source = (PACKAGE_DIR / name).read_text(encoding="utf-8")
    assert not imported_roots(source) & FORBIDDEN
    assert not relative_imports(source) & UPPER


def test_all_dialect_modules_are_checked() -> None:
    names = {path.stem for path in DIALECTS_DIR.glob("*.py")}
    assert {"__init__", "events", "jsonrpc", "legacy", "v2", "detect"} <= names


@pytest.mark.parametrize("garbage", [b"not json", b"[1,2]", b"[]", b"42", b'{"id":"r4"}'])
def test_garbage_does_not_settle_the_dialect(garbage: bytes) -> None:
    auto = AutoDialect()
    event = auto.decode(garbage)
    assert event == JsonRpcDialect().decode(garbage)  # answered as JSON-RPC would
    assert auto.detected is None
    legacy = b'{"id":1,"payload":{"instruction":"add","args":[1,2]}}'
    assert auto.decode(legacy) == Request(1, "add", [1, 2])
    assert auto.name == "ws-rpc-legacy"


def test_a_batch_settles_json_rpc() -> None:
    auto = AutoDialect()
    auto.decode(b'[{"jsonrpc":"2.0","method":"x"}]')
    assert auto.name == "jsonrpc-2.0"
