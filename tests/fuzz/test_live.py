"""Fuzzing a live server on 127.0.0.1: hostile frames, one connection per dialect.

Each example sends one to three hostile frames on the dialect's connection
(subprotocol offered, so the dialect is fixed), each followed by a probe call
(``add``) whose reply proves the frame was read and the connection still
serves. Every frame the server sends meanwhile must be valid per its dialect
(strict JSON or msgpack, the dialect's envelope, text or binary as the dialect
sends them). The server must close the connection with 1009 after a message
over ``max_size`` and with 1007 after a text message that is not UTF-8, and
must keep it open otherwise; after a close, the fuzzer reconnects and goes
on. A well-behaved client calls ``add`` on its own connection after every
example, and nothing is logged at WARNING or above but the failures the test
application's handlers raise on purpose.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import UNIT
from tests.fuzz.strategies import DIALECTS, Deep, codec_of, frames, note, render, text
from tests.fuzz.wire import read_frame
from tests.helpers.apps import build_router
from wsrpc_typed import Client, Server, connect
from wsrpc_typed.dialects.detect import dialect_for_subprotocol
from wsrpc_typed.dialects.events import ErrorResponse, Request, Response
from wsrpc_typed.dialects.v2 import SUBPROTOCOL as V2_MSGPACK

LIVE = settings.get_profile("wsrpc-fuzz-live")
MAX_SIZE = 64 * 2**10

#: Methods of the test application whose cost a frame cannot make unbounded (not sleep,
#: block, computePrimes, ask_client or the unbounded streams), and names no router has.
METHODS = (
    st.sampled_from(
        (
            "add",
            "mul",
            "echo",
            "fail",
            "withdraw",
            "shapes",
            "make_point",
            "bad_result",
            "whoami",
            "record",
            "wrong_items",
            "budget",
            "announce",
            "rpc.discover",
            "rpc.cancel",
            "rpc.credit",
            "rpc.item",
        )
    )
    | text()
)
#: Handlers of the test application that fail on purpose: the server logs those failures.
FAILING_ON_PURPOSE = {"fail", "bad_result", "wrong_items", "echo"}
ALLOWED_CLOSES = {1007, 1009}


def _as_sent(dialect: str) -> st.SearchStrategy[tuple[bytes, bool]]:
    """Frames with the flag the fuzzer sends them with: text, or (now and then) binary."""
    sends_text = codec_of(dialect) == "json"
    oversize = st.integers(MAX_SIZE + 1, MAX_SIZE + 4096).map(lambda n: b" " * n)
    flipped = st.integers(0, 7).map(lambda pick: pick == 0)  # one time in eight, the other kind
    return st.tuples(frames(dialect, METHODS) | oversize, flipped.map(lambda f: sends_text != f))


LIVE_FRAMES = {name: _as_sent(name) for name in DIALECTS}


def allowed_closes(frame: bytes, as_text: bool) -> set[int | None]:
    """How the server must end the connection after this message (None: it stays open).

    A message over ``max_size`` must close it with 1009; a text message that is
    not UTF-8, with 1007 (RFC 6455 §8.1). Anything else must leave it open.
    """
    if len(frame) > MAX_SIZE:
        return {1009}
    if as_text:
        try:
            frame.decode("utf-8")
        except UnicodeDecodeError:
            return {1007}
    return {None}


#: Where a failure would be logged: our server, websockets (a connection handler that
#: crashed) and asyncio (a task exception that was never retrieved).
LOGGERS = ("wsrpc_typed", "websockets", "asyncio")


class Errors(logging.Handler):
    """Log records at WARNING and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def check(self) -> None:
        """Only handlers that fail on purpose may have been logged."""
        records, self.records = self.records, []
        for record in records:
            exc = record.exc_info[1] if record.exc_info else None
            on_purpose = (
                record.msg
                in (
                    "handler for %r failed (request id %r)",
                    "handler for %r failed (a notification)",
                )
                and isinstance(record.args, tuple)
                and record.args[0] in FAILING_ON_PURPOSE
            )
            assert on_purpose, f"the server logged {record.levelname}: {record.msg} {exc!r:.300}"


class Fuzzer:
    """One raw connection in one dialect, reopened after each close."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.dialect = dialect_for_subprotocol(name)
        self.ws: ClientConnection | None = None
        self.probes = 0

    async def open(self) -> ClientConnection:
        self.ws = await ws_connect(
            self.url, subprotocols=[Subprotocol(self.name)], max_size=None, ping_interval=None
        )
        assert self.ws.subprotocol == self.name
        return self.ws

    async def exchange(self, frame: bytes, as_text: bool) -> None:
        """Send one hostile frame, then probe; check what comes back and how it ends."""
        ws = self.ws or await self.open()
        closed: ConnectionClosed | None = None
        try:
            await ws.send(frame, text=as_text)
            await self.probe(ws)
        except ConnectionClosed as exc:
            closed = exc
        code = self.close_code(closed)
        allowed = allowed_closes(frame, as_text)
        assert code in allowed, f"the connection ended with {code}, not {allowed}"
        if code is not None:
            await self.open()

    def close_code(self, closed: ConnectionClosed | None) -> int | None:
        """The code the server closed the connection with (None: it is open)."""
        if closed is None:
            return None
        assert closed.rcvd is not None and closed.rcvd_then_sent is not False, (
            f"our side closed the connection: {closed!r}"
        )
        code = closed.rcvd.code
        note(f"{self.name} closed with {code}")
        assert code in ALLOWED_CLOSES, f"the server closed with {code}: {closed.rcvd.reason}"
        return code

    async def probe(self, ws: ClientConnection) -> None:
        """Call add and read until its reply arrives, checking every frame on the way."""
        self.probes += 1
        probe_id = f"probe-{self.probes}"
        dialect = self.dialect
        await ws.send(dialect.encode(Request(probe_id, "add", [self.probes, 1])), text=dialect.text)
        async with asyncio.timeout(UNIT):
            while True:
                message = await ws.recv()
                raw = message.encode() if isinstance(message, str) else message
                read_frame(self.name, raw, text=isinstance(message, str))
                reply = dialect.decode(raw)
                if isinstance(reply, Response | ErrorResponse) and reply.id == probe_id:
                    assert isinstance(reply, Response), reply
                    assert reply.values == (self.probes + 1,)
                    return


class Harness:
    """The live server, the well-behaved client and the fuzzers."""

    def __init__(self, server: Server, good: Client, errors: Errors) -> None:
        self.server = server
        self.good = good
        self.errors = errors
        self.fuzzers: dict[str, Fuzzer] = {}
        self.calls = 0

    def fuzzer(self, name: str) -> Fuzzer:
        return self.fuzzers.setdefault(name, Fuzzer(self.server.url, name))

    async def check_good_client(self) -> None:
        self.calls += 1
        assert await self.good.call("add", [self.calls, 1], timeout=UNIT) == self.calls + 1


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    errors = Errors()
    for name in LOGGERS:
        logging.getLogger(name).addHandler(errors)
    try:
        async with (
            Server(build_router(), port=0, max_size=MAX_SIZE) as server,
            connect(server.url, timeout=UNIT) as good,
        ):
            harness = Harness(server, good, errors)
            yield harness
            for fuzzer in harness.fuzzers.values():
                if fuzzer.ws is not None:
                    await fuzzer.ws.close()
    finally:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(errors)


@pytest.mark.parametrize("name", DIALECTS)
@settings(LIVE)
@given(data=st.data())
async def test_hostile_frames_on_a_live_server(
    harness: Harness, name: str, data: st.DataObject
) -> None:
    fuzzer = harness.fuzzer(name)
    for frame, as_text in data.draw(st.lists(LIVE_FRAMES[name], min_size=1, max_size=3)):
        await fuzzer.exchange(frame, as_text)
    await harness.check_good_client()
    harness.errors.check()


# -- regressions: what the fuzzers found ----------------------------------------------------


async def _reply_to(server: Server, name: str, frame_for: Any) -> Any:
    dialect = dialect_for_subprotocol(name)
    async with ws_connect(server.url, subprotocols=[Subprotocol(name)]) as ws:
        await ws.send(frame_for(dialect), text=dialect.text)
        async with asyncio.timeout(UNIT):
            message = await ws.recv()
    raw = message.encode() if isinstance(message, str) else message
    read_frame(name, raw, text=isinstance(message, str))
    return dialect.decode(raw)


@pytest.mark.parametrize("name", DIALECTS)
async def test_a_result_beyond_64_bits_gets_an_answer(server: Server, name: str) -> None:
    """add(2**63, 2**63) is 2**64: a result, or an opaque error; never silence.

    The JSON dialects used to send nothing: orjson refuses integers beyond 64 bits.
    """
    reply = await _reply_to(server, name, lambda d: d.encode(Request(1, "add", [2**63, 2**63])))
    assert isinstance(reply, Response | ErrorResponse), reply
    if isinstance(reply, ErrorResponse):
        assert (reply.code, reply.message) == (-32603, "Internal error")
    elif name == V2_MSGPACK:
        assert reply.values == (float(2**64),)  # msgpack-lite's way: beyond 64 bits, a float
    else:
        assert reply.values == (2**64,)


@pytest.mark.parametrize("name", DIALECTS)
async def test_a_result_nested_past_the_encoder_gets_an_answer(server: Server, name: str) -> None:
    """echo() of an array 254 levels deep: a result, or an opaque error; never silence.

    The JSON dialects used to send nothing: orjson writes at most 254 levels.
    """
    deep = Deep(254, "array", 1)

    def frame_for(dialect: Any) -> bytes:
        call: Any
        if name == "jsonrpc-2.0":
            call = {"jsonrpc": "2.0", "id": 1, "method": "echo", "params": [deep]}
        elif name == "ws-rpc-legacy":
            call = {"id": 1, "payload": {"instruction": "echo", "args": [deep]}}
        else:
            call = {"id": 1, "instruction": {"args": [deep], "command": "echo", "type": 0}}
        return render(call, codec_of(name))

    reply = await _reply_to(server, name, frame_for)
    assert isinstance(reply, Response | ErrorResponse), reply
    if isinstance(reply, ErrorResponse):
        assert (reply.code, reply.message) == (-32603, "Internal error")
