"""The error boundary around handlers, over real sockets on 127.0.0.1.

Whatever a handler raises (SystemExit, a CancelledError of its own, a bare
BaseException) becomes an opaque error for its caller; the connection and the
server go on. Handlers that run inline are isolated as a task would be.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from tests.conftest import UNIT
from tests.helpers.waiting import eventually
from wsrpc_typed import (
    ConnectionClosed,
    Context,
    InternalError,
    Message,
    Router,
    RpcError,
    Server,
    connect,
)
from wsrpc_typed.logs import CallFilter

user: contextvars.ContextVar[str] = contextvars.ContextVar("user", default="nobody")


class Custom(BaseException):
    pass


def failing_router() -> Router:
    router = Router()

    @router.method
    async def own_cancel_inline() -> int:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.cancel()
        return future.result()  # raises CancelledError: not a cancellation of anything

    @router.method
    async def own_cancel_task() -> int:
        await asyncio.sleep(0)
        raise asyncio.CancelledError

    @router.method
    async def exits() -> int:
        await asyncio.sleep(0)
        sys.exit(3)

    @router.method
    def exits_in_thread() -> int:
        raise SystemExit(4)

    @router.method
    async def custom() -> int:
        raise Custom

    @router.method
    async def own_cancel_stream() -> AsyncIterator[int]:
        yield 1
        raise asyncio.CancelledError

    @router.method
    async def login(name: str) -> str:
        user.set(name)
        return user.get()

    @router.method
    async def whoami_inline() -> str:
        return user.get()

    @router.method
    async def whoami_task() -> str:
        await asyncio.sleep(0)
        return user.get()

    @router.method
    async def add(a: int, b: int) -> int:
        return a + b

    @router.method
    async def unencodable_error_inline() -> int:
        raise RpcError("no wire form for this data", data=object())

    @router.method
    async def unencodable_error_task() -> int:
        await asyncio.sleep(0)
        raise RpcError("no wire form for this data", data={1j: "complex key"})

    @router.method
    async def logs(ctx: Context) -> str:
        logging.getLogger("app").info("handled %s", ctx.method)
        return ctx.connection.id

    @router.method
    async def logs_task(ctx: Context) -> str:
        await asyncio.sleep(0)
        logging.getLogger("app").info("handled %s", ctx.method)
        return ctx.connection.id

    return router


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with Server(failing_router(), port=0) as srv:
        yield srv


@pytest.mark.parametrize(
    "method",
    [
        *("own_cancel_inline", "own_cancel_task", "exits", "exits_in_thread", "custom"),
        # An error whose data has no JSON form: the caller still gets an answer, at once.
        *("unencodable_error_inline", "unencodable_error_task"),
    ],
)
async def test_any_exception_of_a_handler_is_an_internal_error(
    server: Server, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="wsrpc_typed")
    async with connect(server.url) as conn:
        with pytest.raises(InternalError):
            await conn.call(method, timeout=UNIT)
        assert await conn.call("add", [1, 2]) == 3  # the connection goes on
    async with connect(server.url) as other:  # and so does the server
        assert await other.call("add", [2, 2]) == 4
    assert any(record.args == (method, 1) and record.exc_info for record in caplog.records), (
        "the failure was not logged with its traceback under the request id"
    )


async def test_a_stream_that_raises_cancelled_error_on_its_own_ends_with_an_error(
    server: Server,
) -> None:
    async with connect(server.url) as conn:
        items: list[int] = []

        async def consume() -> None:
            async for item in conn.stream("own_cancel_stream", item_type=int, timeout=UNIT):
                items.append(item)

        with pytest.raises(InternalError):
            await consume()
        assert items == [1]


async def test_inline_handlers_do_not_leak_context_variables(server: Server) -> None:
    async with connect(server.url) as conn:
        assert await conn.call("login", ["alice"]) == "alice"
        assert await conn.call("whoami_inline") == "nobody"
        assert await conn.call("whoami_task") == "nobody"


async def test_a_failing_notification_is_logged_as_a_notification(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="wsrpc_typed")
    async with connect(server.url) as conn:
        await conn.notify("custom")
        await eventually(lambda: any(r.exc_info for r in caplog.records))
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.getMessage() == "handler for 'custom' failed (a notification)"


async def test_v2_reply_raises_connection_closed_when_the_caller_leaves() -> None:
    outcome: asyncio.Future[BaseException | tuple[Any, ...]] = (
        asyncio.get_running_loop().create_future()
    )

    async def greet(message: Message) -> None:
        try:
            outcome.set_result(await message.reply("hello"))
        except BaseException as exc:  # what the handler sees, whatever it is
            outcome.set_result(exc)
            raise

    server = Server(Router(), port=0, ack_timeout=UNIT)
    server.on("connection", lambda rpc: rpc.on("greet", greet))
    async with server:
        ws = await ws_connect(server.url, subprotocols=[Subprotocol("ws-promise-v2-json")])
        syn = {"id": "a1", "instruction": {"args": [], "command": "greet", "type": 0}}
        await ws.send(json.dumps(syn))
        await ws.recv()  # the reply (ACK); leave without the SYN_ACK
        await ws.close()
        seen = await asyncio.wait_for(outcome, UNIT)
    assert isinstance(seen, ConnectionClosed), repr(seen)


async def test_a_handler_calling_the_peer_sees_connection_closed_when_it_leaves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="wsrpc_typed")
    router = Router()
    seen: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    @router.method
    async def ask(ctx: Context) -> str:
        try:
            return str(await ctx.peer.call("never_answers"))
        except BaseException as exc:
            seen.set_result(exc)
            raise

    client_router = Router()
    started = asyncio.Event()

    @client_router.method
    async def never_answers() -> str:
        started.set()
        await asyncio.Event().wait()
        return ""

    async with Server(router, port=0) as server:
        conn = await connect(server.url, router=client_router)
        call = asyncio.ensure_future(conn.call("ask"))
        await asyncio.wait_for(started.wait(), UNIT)
        await conn.close()
        assert isinstance(await asyncio.wait_for(seen, UNIT), ConnectionClosed)
        with pytest.raises(ConnectionClosed):
            await call
    assert not [r for r in caplog.records if r.exc_info], "a disconnect was logged as a failure"


async def test_seed_handlers_in_a_batch_and_as_notifications(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="wsrpc_typed")
    replied: list[tuple[Any, ...]] = []

    async def greet(message: Message) -> None:
        replied.append(await message.reply(f"hi {message.args[0]}"))

    server = Server(failing_router(), port=0)
    server.on("connection", lambda rpc: rpc.on("greet", greet))
    async with server, ws_connect(server.url, subprotocols=[Subprotocol("jsonrpc-2.0")]) as ws:
        batch = [
            {"jsonrpc": "2.0", "id": 1, "method": "greet", "params": ["ada"]},
            {"jsonrpc": "2.0", "id": 2, "method": "add", "params": [1, 2]},
            {"jsonrpc": "2.0", "method": "greet", "params": ["nobody"]},
        ]
        await ws.send(orjson.dumps(batch).decode())
        answer = orjson.loads(await asyncio.wait_for(ws.recv(), UNIT))
        assert sorted(answer, key=lambda r: r["id"]) == [
            {"jsonrpc": "2.0", "id": 1, "result": "hi ada"},
            {"jsonrpc": "2.0", "id": 2, "result": 3},
        ]
        # Nothing else arrives: the seed handler's reply went into the batch's reply.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), UNIT / 20)
    assert sorted(replied) == [(), ()]  # the notification's reply() sent nothing
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_batch_with_an_error_that_cannot_be_encoded_answers_every_item(
    server: Server,
) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "unencodable_error_task"},
        {"jsonrpc": "2.0", "id": 2, "method": "add", "params": [1, 2]},
    ]
    async with ws_connect(server.url, subprotocols=[Subprotocol("jsonrpc-2.0")]) as ws:
        await ws.send(json.dumps(batch))
        replies = {r["id"]: r for r in json.loads(await asyncio.wait_for(ws.recv(), UNIT))}
    assert replies[1]["error"]["code"] == InternalError.code
    assert replies[2]["result"] == 3


@pytest.mark.parametrize("method", ["logs", "logs_task"])
async def test_log_records_of_a_handler_name_its_connection_and_request(
    server: Server, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app")
    caplog.handler.addFilter(CallFilter())
    async with connect(server.url) as conn:
        conn_id = await conn.call(method)
        await conn.notify(method)
        await eventually(lambda: len([r for r in caplog.records if r.name == "app"]) == 2)
    called, notified = (r for r in caplog.records if r.name == "app")
    assert (called.connection, called.request) == (conn_id, 1)  # type: ignore[attr-defined]
    assert (notified.connection, notified.request) == (conn_id, "-")  # type: ignore[attr-defined]
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "outside", None, None)
    CallFilter().filter(outside)
    assert (outside.connection, outside.request) == ("-", "-")  # type: ignore[attr-defined]
