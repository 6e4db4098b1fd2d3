"""Nothing reaches a client that it should not see.

A battery of failing calls runs over every dialect (JSON-RPC through our
client and as raw frames, legacy, v2 JSON and v2 msgpack as raw frames):
handlers that fail unexpectedly in every way a handler can (on the inline,
task and thread paths, in a stream half-way through, in an interceptor, in a
seed-style ``conn.on`` handler, while serialising the result), with messages
full of paths and secrets; application errors with data; invalid params made
of secret-looking input. Meanwhile the transport records every frame the
server sends. The test then checks that

* every error reply to an unexpected failure is exactly the dialect's opaque
  internal error, and application errors arrive with their code, message and data;
* no frame holds a traceback, a file path, this repository's path, "secret",
  the class name or the message of any exception the server reported, or the
  input of invalid params;
* each unexpected failure did happen: the server reported it and logged its
  traceback under the request id.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pytest
from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from tests.conftest import UNIT
from tests.fuzz.wire import read_frame, same
from tests.helpers.apps import InsufficientFunds, Point, build_router
from wsrpc_typed import (
    Call,
    Client,
    Connection,
    Handshake,
    HandshakeRejected,
    InternalError,
    InvalidParams,
    Message,
    Router,
    RpcError,
    Server,
    connect,
)
from wsrpc_typed.adapters.websockets import WebsocketsProtocol
from wsrpc_typed.dialects.detect import dialect_for_subprotocol
from wsrpc_typed.dialects.events import ErrorResponse, Request, Response

REPO = str(Path(__file__).resolve().parents[1])
JSONRPC, LEGACY, V2_JSON, V2_MSGPACK = (
    "jsonrpc-2.0",
    "ws-rpc-legacy",
    "ws-promise-v2-json",
    "ws-promise-v2",
)
DIALECTS = (JSONRPC, LEGACY, V2_JSON, V2_MSGPACK)


# -- an application that fails in every way ---------------------------------------------


class LeakyError(Exception):
    """An application exception: its name must not travel either."""


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("secret: even printing this error fails")


def _read_missing_file() -> str:
    return Path(REPO, "no", "such", "secret.txt").read_text()


class Secretive(BaseModel):
    value: int


def leaky_router() -> Router:
    router = Router()

    @router.method
    async def raise_key_error() -> None:
        {"public": 1}["secret_key /etc/shadow"]

    @router.method
    async def raise_zero_division(a: int = 1) -> float:
        return a / 0  # no await: runs inline, where the frame is read

    @router.method
    async def raise_runtime() -> None:
        await asyncio.sleep(0)  # suspends: runs in a task
        raise RuntimeError(f"secret state in {REPO}/wsrpc_typed/connection.py line 42")

    @router.method
    def raise_in_thread() -> None:
        raise FileNotFoundError(2, "No such file or directory", "/etc/secret/passwd")

    @router.method(thread=False)
    def raise_inline_sync() -> None:
        raise AttributeError("'NoneType' object has no attribute 'secret_token'")

    @router.method
    async def raise_assertion() -> None:
        raise AssertionError("secret invariant broken: balance < 0")

    @router.method
    async def raise_custom() -> None:
        raise LeakyError("secret custom failure for user ada@example.com")

    @router.method
    async def raise_chained() -> None:
        try:
            _read_missing_file()
        except OSError as exc:
            raise ValueError("secret wrapper around an OSError") from exc

    @router.method
    async def raise_group() -> None:
        raise ExceptionGroup("secret group", [TypeError("secret type"), IndexError("secret idx")])

    @router.method
    async def raise_unicode() -> str:
        return b"secret \xff".decode()

    @router.method
    async def raise_recursion() -> None:
        def down(n: int) -> int:
            return down(n + 1)

        down(0)

    @router.method
    async def raise_huge() -> None:
        raise ValueError("secret " * 10_000)

    @router.method
    async def raise_unprintable() -> None:
        raise UnprintableError()

    @router.method
    async def raise_stop_iteration() -> None:
        raise StopIteration("secret stop")  # becomes RuntimeError inside a coroutine

    @router.method
    async def raise_timeout() -> None:
        raise TimeoutError("secret upstream timed out after 30 s")  # no deadline of ours

    @router.method
    async def raise_not_implemented() -> None:
        raise NotImplementedError("secret feature flag")

    @router.method
    async def raise_validation() -> int:
        # A pydantic ValidationError from inside the handler is a bug, not invalid params.
        return Secretive.model_validate({"value": "secret-not-an-int"}).value

    @router.method
    async def unserialisable() -> object:
        return object()

    @router.method
    async def bad_model() -> Point:
        return Point.model_construct(x="secret", y=1)  # type: ignore[arg-type]

    @router.method
    async def raise_rpc_plain() -> None:
        raise RpcError("Custom app message", code=-32050)

    @router.method
    async def intercepted() -> str:
        return "the interceptor fails before this runs"

    @router.method
    async def leaky_stream(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i
        raise ValueError(f"secret mid-stream failure in {REPO}")

    return router


async def failing_interceptor(call: Call, proceed: Callable[[], Awaitable[Any]]) -> Any:
    if call.method == "intercepted":
        raise RuntimeError("secret interceptor failure /etc/passwd")
    return await proceed()


def seed_handlers(conn: Connection) -> None:
    def fail_sync(message: Message) -> None:
        raise KeyError(f"secret seed key {message.args!r}")

    async def fail_async(message: Message) -> None:
        raise RuntimeError(f"secret seed failure in {REPO}")

    async def refuse(message: Message) -> None:
        raise InsufficientFunds(data={"balance": "0.00", "requested": "1"})

    conn.on("seedFailSync", fail_sync)
    conn.on("seedFailAsync", fail_async)
    conn.on("seedRefuse", refuse)


# -- the battery ----------------------------------------------------------------------------

#: Calls whose handler fails unexpectedly: the reply must be the opaque internal error.
UNEXPECTED: list[tuple[str, list[Any]]] = [
    ("fail", []),
    ("bad_result", []),
    ("raise_key_error", []),
    ("raise_zero_division", [1]),
    ("raise_runtime", []),
    ("raise_in_thread", []),
    ("raise_inline_sync", []),
    ("raise_assertion", []),
    ("raise_custom", []),
    ("raise_chained", []),
    ("raise_group", []),
    ("raise_unicode", []),
    ("raise_recursion", []),
    ("raise_huge", []),
    ("raise_unprintable", []),
    ("raise_stop_iteration", []),
    ("raise_timeout", []),
    ("raise_not_implemented", []),
    ("raise_validation", []),
    ("unserialisable", []),
    ("bad_model", []),
    ("intercepted", []),
    ("seedFailSync", ["secret argument"]),
    ("seedFailAsync", []),
]
#: Application errors: they travel with their code, message and data.
EXPECTED: list[tuple[str, list[Any], int, str, Any]] = [
    ("withdraw", ["1.5"], 1001, "Insufficient funds", {"balance": "3.50", "requested": "1.5"}),
    ("raise_rpc_plain", [], -32050, "Custom app message", None),
    ("seedRefuse", [], 1001, "Insufficient funds", {"balance": "0.00", "requested": "1"}),
]
SECRET_SHAPES = {
    "point": {"x": "secret-x", "y": "secret /etc/passwd"},
    "tree": {"value": "secret", "children": [{"value": "secret-child"}]},
    "pet": {"kind": "secret-tag /etc/passwd"},
    "span": {"start": "secret", "end": 1},
    "labels": {"name": ["secret"], "tags": "secret"},
    "color": "secret-color",
    "mode": "secret-mode",
    "when": "secret-when",
    "day": "secret-day",
    "ident": "secret-uuid",
    "price": "secret-price",
    "blob": 12345,
    "pair": ["secret", "secret"],
    "unique": "secret-set",
    "mapping": {"key": "secret-value"},
    "maybe": "secret-maybe",
    "either": ["secret-either"],
}
#: Invalid params made of secret-looking input: -32602, and the input must not come back.
INVALID: list[tuple[str, list[Any]]] = [
    ("add", ["secret /etc/passwd", 1]),
    ("add", [1]),
    ("add", [1, 2, "secret extra positional"]),
    ("mul", [{"secret": "value"}]),
    ("computePrimes", ["secret"]),
    ("computePrimes", [-1]),
    ("withdraw", ["secret-decimal"]),
    ("shapes", [SECRET_SHAPES[name] for name in SECRET_SHAPES]),
]


def opaque(name: str, id_: Any, method: str) -> Any:
    """The dialect's opaque internal error for the call ``id_`` to ``method``, on the wire."""
    if name == JSONRPC:
        return {"jsonrpc": "2.0", "id": id_, "error": {"code": -32603, "message": "Internal error"}}
    if name == LEGACY:
        record = {"error": True, "code": -32603, "message": "Internal error"}
        return {"id": id_, "payload": {"instruction": 0, "args": [record]}}
    record = {
        "error": True,
        "message": "Internal error",
        "stack": "InternalError: Internal error (code -32603)",
        "code": -32603,
    }
    return {"id": id_, "instruction": {"args": [record], "command": method, "type": 1}}


def app_error(name: str, id_: Any, method: str, code: int, message: str, data: Any) -> Any:
    """An application error on the wire (the v2 stack names the generic RpcError class)."""
    if name == JSONRPC:
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        return {"jsonrpc": "2.0", "id": id_, "error": error}
    if name == LEGACY:
        record: dict[str, Any] = {"error": True, "code": code, "message": message}
        if data is not None:
            record["data"] = data
        return {"id": id_, "payload": {"instruction": 0, "args": [record]}}
    record = {
        "error": True,
        "message": message,
        "stack": f"RpcError: {message} (code {code})",
        "code": code,
    }
    if data is not None:
        record["data"] = data
    return {"id": id_, "instruction": {"args": [record], "command": method, "type": 1}}


class RawPeer:
    """A raw connection in one dialect: sends calls, returns the reply frames."""

    def __init__(self, ws: ClientConnection, name: str) -> None:
        self.ws = ws
        self.name = name
        self.dialect = dialect_for_subprotocol(name)
        self.ids = iter(range(1, 10**6))

    async def call(self, method: str, args: list[Any]) -> tuple[Any, Any]:
        """Call ``method``; return the request id and the reply as parsed from the wire."""
        id_ = f"{self.name}-{next(self.ids)}"
        await self.ws.send(self.dialect.encode(Request(id_, method, args)), text=self.dialect.text)
        async with asyncio.timeout(UNIT):
            while True:
                message = await self.ws.recv()
                raw = message.encode() if isinstance(message, str) else message
                obj = read_frame(self.name, raw, text=isinstance(message, str))
                event = self.dialect.decode(raw)
                if isinstance(event, Response | ErrorResponse) and event.id == id_:
                    return id_, obj


async def raw_battery(peer: RawPeer) -> list[tuple[str, Any]]:
    """Run every call of the battery; return (method, request id) of the unexpected failures."""
    failed = []
    for method, args in UNEXPECTED:
        id_, obj = await peer.call(method, args)
        assert same(obj, opaque(peer.name, id_, method)), f"{method}: {obj!r:.500}"
        failed.append((method, id_))
    for method, args, code, message, data in EXPECTED:
        id_, obj = await peer.call(method, args)
        assert same(obj, app_error(peer.name, id_, method, code, message, data)), obj
    for method, args in INVALID:
        id_, obj = await peer.call(method, args)
        error = obj["error"] if peer.name == JSONRPC else _record(peer.name, obj)
        assert (error["code"], error["message"]) == (-32602, "Invalid params"), obj
        for entry in error["data"]:
            assert set(entry) == {"loc", "msg", "type"}, entry
    return failed


def _record(name: str, obj: Any) -> Any:
    args = obj["payload"]["args"] if name == LEGACY else obj["instruction"]["args"]
    return args[0]


async def client_battery(url: str) -> None:
    """JSON-RPC through our own client: what the application sees."""
    async with connect(url, timeout=UNIT) as conn:
        for method, args in UNEXPECTED:
            with pytest.raises(InternalError) as info:
                await conn.call(method, args)
            assert (info.value.message, info.value.data) == ("Internal error", None)
        for method, args, code, message, data in EXPECTED:
            with pytest.raises(RpcError) as refused:
                await conn.call(method, args)
            assert (refused.value.code, refused.value.message, refused.value.data) == (
                code,
                message,
                data,
            )
        for method, args in INVALID:
            with pytest.raises(InvalidParams):
                await conn.call(method, args)
        for stream, params, expected in (
            ("leaky_stream", {"n": 3}, [0, 1, 2]),
            ("wrong_items", {}, [1]),
        ):
            items: list[Any] = []
            with pytest.raises(InternalError) as failed:
                await _consume(conn, stream, params, items)
            assert items == expected and failed.value.data is None
        items = []
        with pytest.raises(RpcError) as refused_stream:
            await _consume(conn, "broken_stream", {"n": 2}, items)
        assert items == [0, 1] and refused_stream.value.code == 1001


async def _consume(conn: Client, method: str, params: dict[str, Any], into: list[Any]) -> None:
    async for item in conn.stream(method, params):
        into.append(item)


async def raw_stream_failure(url: str) -> None:
    """A stream failing half-way, as raw frames: its items, then exactly the opaque error."""
    async with ws_connect(url, subprotocols=[Subprotocol(JSONRPC)]) as ws:
        call = {"jsonrpc": "2.0", "id": "s1", "method": "leaky_stream", "params": {"n": 2}}
        await ws.send(orjson.dumps({**call, "credit": 10}).decode())
        frames: list[Any] = []
        async with asyncio.timeout(UNIT):
            while not frames or "id" not in frames[-1]:
                frames.append(read_frame(JSONRPC, str(await ws.recv()).encode(), text=True))
    items = [
        {"jsonrpc": "2.0", "method": "rpc.item", "params": {"id": "s1", "item": i}} for i in (0, 1)
    ]
    assert frames == [*items, opaque(JSONRPC, "s1", "leaky_stream")]


# -- the test -----------------------------------------------------------------------------


def _forbidden(reported: list[BaseException]) -> list[str]:
    """Texts no frame may hold: paths, traceback markers, and the reported exceptions."""
    texts = ["Traceback", 'File "', "site-packages", ".py", "/etc/", REPO, sys.prefix, " at 0x"]
    pending = list(reported)
    seen: set[int] = set()
    while pending:
        exc = pending.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        texts.append(type(exc).__name__)
        try:
            message = str(exc)
        except Exception:
            message = ""
        texts.extend(part for part in (message, *map(str, exc.args)) if len(part) >= 6)
        pending.extend(e for e in (exc.__cause__, exc.__context__) if e is not None)
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
    return texts


def _text_of(frame: bytes, name: str) -> str:
    """The frame as text to grep: as sent, and its content with every escape undone."""
    if name == V2_MSGPACK:
        value = msgpack.unpackb(frame, raw=False, strict_map_key=False)
        return repr(frame) + "\n" + orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return frame.decode() + "\n" + orjson.dumps(orjson.loads(frame)).decode()


async def test_nothing_reaches_a_client_that_it_should_not_see(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sent: list[tuple[str, bytes, bool]] = []
    original = WebsocketsProtocol.send
    server_side: set[Any] = set()  # the server's transports: what it sends is recorded

    def recording(self: WebsocketsProtocol, message: bytes, /, *, text: bool) -> Awaitable[None]:
        if self in server_side:
            sent.append((self.subprotocol or "auto", bytes(message), text))
        return original(self, message, text=text)

    monkeypatch.setattr(WebsocketsProtocol, "send", recording)
    caplog.set_level("ERROR", logger="wsrpc_typed")

    router = build_router()
    router.include(leaky_router())
    reported: list[BaseException] = []
    failed: list[tuple[str, Any]] = []
    async with Server(router, port=0, interceptors=[failing_interceptor]) as server:
        server.on("error", reported.append)
        server.on("connection", lambda conn: server_side.add(conn.transport))
        server.on("connection", seed_handlers)
        await client_battery(server.url)
        await raw_stream_failure(server.url)
        for name in DIALECTS:
            async with ws_connect(server.url, subprotocols=[Subprotocol(name)]) as ws:
                failed += await raw_battery(RawPeer(ws, name))
    # Without interceptors, handlers that cannot suspend run inline: a path of its own.
    async with Server(router, port=0) as server:
        server.on("error", reported.append)
        server.on("connection", seed_handlers)
        for name in DIALECTS:
            async with ws_connect(server.url, subprotocols=[Subprotocol(name)]) as ws:
                peer = RawPeer(ws, name)
                for method, args in UNEXPECTED:
                    if method == "intercepted":
                        continue
                    id_, obj = await peer.call(method, args)
                    assert same(obj, opaque(name, id_, method)), f"{method}: {obj!r:.500}"
                    failed.append((method, id_))

    # Every unexpected failure happened, was reported, and was logged with its traceback
    # under its request id (the seed-style handlers log the same way).
    logged = {
        (record.args[0], record.args[1])
        for record in caplog.records
        if record.exc_info and isinstance(record.args, tuple) and len(record.args) == 2
    }
    for method, id_ in failed:
        assert (method, id_) in logged, f"no traceback logged for {method} (request {id_!r})"
    assert {method for method, _ in failed} == {method for method, _ in UNEXPECTED}
    assert {"leaky_stream", "wrong_items"} <= {method for method, _ in logged}
    assert len(reported) >= len(logged)

    # Every frame sent, grepped.
    assert {name for name, _, _ in sent} >= set(DIALECTS)
    forbidden = _forbidden(reported)
    secret = re.compile("secret", re.IGNORECASE)
    for name, frame, _ in sent:
        text = _text_of(frame, name)
        assert not secret.search(text), f"'secret' in a {name} frame: {text[:500]}"
        for needle in forbidden:
            assert needle not in text, f"{needle[:80]!r} in a {name} frame: {text[:500]}"


async def test_a_failing_authenticate_hook_answers_an_opaque_500() -> None:
    def authenticate(handshake: Handshake) -> Any:
        raise RuntimeError(f"secret database password in {REPO}/settings.py")

    reported: list[BaseException] = []
    async with Server(port=0, authenticate=authenticate) as server:
        server.on("error", reported.append)
        with pytest.raises(HandshakeRejected) as refused:
            await connect(server.url)
    assert (refused.value.status, refused.value.body) == (500, "Internal Server Error\n")
    headers = "\n".join(f"{key}: {value}" for key, value in refused.value.headers.items())
    for needle in ("secret", REPO, "RuntimeError", "Traceback"):
        assert needle not in headers
    assert [type(exc) for exc in reported] == [RuntimeError]
