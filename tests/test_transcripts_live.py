"""The captured seed transcripts, replayed against our server over a real socket.

Each client frame the original JavaScript client sent is sent again, unchanged,
on a connection that offers no subprotocol (as the originals do), so the server
must detect the dialect. A reference application mirrors the original test
server: ``add``/``addTraced`` typed, ``echo`` and ``computePrimes`` seed-style.
Our reply to every call of those must equal the captured reply; a call of any
other method gets our error record (where the originals sent nothing); any other
frame (acknowledgements, replies, garbage) gets nothing but, at most, an error
record, and never stalls the connection.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgpack
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import UNIT
from wsrpc_typed import Connection, Message, Router, Server

TRANSCRIPTS = sorted((Path(__file__).resolve().parent / "transcripts").glob("*.json"))
KNOWN = {"add", "addTraced", "echo", "computePrimes"}


def reference_server() -> Server:
    router = Router()

    @router.method
    async def add(a: int, b: int) -> int:
        return a + b

    router.method(name="addTraced")(add)

    async def echo(message: Message) -> None:
        await message.reply(message.args[0] if message.args else None)

    async def compute_primes(message: Message) -> None:
        (n,) = message.args
        await message.reply(*(p for p in range(2, n) if all(p % d for d in range(2, p))))

    def on_connection(conn: Connection) -> None:
        conn.on("echo", echo)
        conn.on("computePrimes", compute_primes)

    server = Server(router, port=0, ack_timeout=UNIT)
    server.on("connection", on_connection)
    return server


class Wire:
    """Frames of one transcript: raw bytes on the wire and their decoded form."""

    def __init__(self, transcript: dict[str, Any]) -> None:
        self.binary = transcript["dialect"] == "ws-promise-v2"
        self.legacy = transcript["dialect"] == "ws-rpc-legacy"

    def raw(self, frame: dict[str, Any]) -> bytes | str | None:
        if "hex" in frame:
            return bytes.fromhex(frame["hex"])
        if "text" in frame:
            text: str = frame["text"]
            return text
        return None  # a frame captured only in part

    def decode(self, raw: bytes | str) -> Any:
        try:
            if isinstance(raw, bytes):
                return msgpack.unpackb(raw, raw=False, strict_map_key=False)
            return json.loads(raw)
        except ValueError:
            return None

    def call(self, obj: Any) -> str | None:
        """The method a frame calls, or None when it is not a call."""
        if type(obj) is not dict:
            return None
        if self.legacy:
            payload = obj.get("payload")
            if type(payload) is dict and type(payload.get("instruction")) is str:
                return str(payload["instruction"])
            return None
        instruction = obj.get("instruction")
        if type(instruction) is dict and instruction.get("type") == 0:
            command = instruction.get("command")
            return command if type(command) is str else None
        return None

    def args(self, obj: dict[str, Any]) -> list[Any]:
        args = (obj["payload"] if self.legacy else obj["instruction"]).get("args", [])
        return args if type(args) is list else [args]

    def reply_values(self, obj: Any) -> list[Any] | None:
        if type(obj) is not dict:
            return None
        if self.legacy:
            payload = obj.get("payload") or {}
            return payload.get("args") if payload.get("instruction") == 0 else None
        instruction = obj.get("instruction") or {}
        return instruction.get("args") if instruction.get("type") == 1 else None

    def is_error_record(self, obj: Any) -> bool:
        values = self.reply_values(obj)
        if not values or type(values[0]) is not dict or not values[0].get("error"):
            return False
        return bool(values[0].get("message")) and (self.legacy or bool(values[0].get("stack")))

    def sentinel(self, n: int) -> bytes | str:
        id_ = f"sentinel-{n}"
        if self.legacy:
            return json.dumps({"id": id_, "payload": {"instruction": "add", "args": [n, 1]}})
        obj = {"id": id_, "instruction": {"args": [n, 1], "command": "add", "type": 0}}
        packed: bytes = msgpack.packb(obj)
        return packed if self.binary else json.dumps(obj)


async def answers_to(ws: ClientConnection, wire: Wire, n: int) -> list[Any]:
    """Send a sentinel call; return what arrived before its reply."""
    await ws.send(wire.sentinel(n))
    before: list[Any] = []
    while True:
        obj = wire.decode(await asyncio.wait_for(ws.recv(), UNIT))
        if type(obj) is dict and obj.get("id") == f"sentinel-{n}":
            assert wire.reply_values(obj) == [n + 1], obj
            return before
        before.append(obj)


def own_reply(method: str, args: list[Any]) -> list[Any]:
    """The reference application's reply values, for frames the original never answered."""
    if method in ("add", "addTraced"):
        return [sum(args)]
    return [args[0] if args else None]  # echo


def jsonrpc_error(obj: Any) -> bool:
    return type(obj) is dict and obj.get("jsonrpc") == "2.0" and "error" in obj


async def reply_to(ws: ClientConnection, wire: Wire, sent: Any) -> Any:
    """Receive until the reply to ``sent`` (by id; any reply when it had no id) arrives."""
    while True:
        obj = wire.decode(await asyncio.wait_for(ws.recv(), UNIT))
        if wire.reply_values(obj) is not None and ("id" not in sent or obj["id"] == sent["id"]):
            return obj


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
async def test_replayed_client_frames_get_the_captured_replies(path: Path) -> None:
    transcript = json.loads(path.read_text())  # noqa: ASYNC240 - a small local file
    wire = Wire(transcript)
    compared = 0
    async with reference_server() as server:
        for probe in transcript["probes"]:
            sockets: dict[int, ClientConnection] = {}
            switched: set[int] = set()
            try:
                frames = probe["frames"]
                for index, frame in enumerate(frames):
                    raw = wire.raw(frame)
                    if frame["dir"] != "C->S" or raw is None:
                        continue
                    if frame["conn"] in switched:
                        continue
                    first = frame["conn"] not in sockets
                    if first:
                        sockets[frame["conn"]] = await ws_connect(server.url)
                    ws = sockets[frame["conn"]]
                    await ws.send(raw)
                    if isinstance(raw, bytes) != wire.binary:
                        # A probe in the other codec (msgpack at a JSON server, JSON at a
                        # msgpack server): the original choked on it; we detect the codec
                        # of the first frame and answer in it.
                        assert first
                        answer = await asyncio.wait_for(ws.recv(), UNIT)
                        assert isinstance(answer, bytes) == isinstance(raw, bytes)
                        reply = wire.decode(answer)
                        assert reply["instruction"]["type"] == 1, reply
                        switched.add(frame["conn"])
                        continue
                    sent = wire.decode(raw)
                    method = wire.call(sent)
                    where = f"{path.stem}/{probe['name']} frame {index}: {raw!r}"
                    if method in KNOWN:
                        answer = await reply_to(ws, wire, sent)
                        assert await answers_to(ws, wire, index) == [], where
                        captured = [
                            wire.decode(r)
                            for f in frames[index + 1 :]
                            if f["dir"] == "S->C" and (r := wire.raw(f)) is not None
                        ]
                        expected = next(
                            (
                                c
                                for c in captured
                                if wire.reply_values(c) is not None
                                and (c.get("id") == sent.get("id") or "id" not in sent)
                            ),
                            None,
                        )
                        if expected is not None:
                            assert wire.reply_values(answer) == wire.reply_values(expected), where
                            compared += 1
                        elif wire.is_error_record(answer):  # we refuse what the original choked on
                            assert "args" not in (sent.get("instruction") or {}), where
                        else:  # the original never answered (it choked on this frame)
                            assert wire.reply_values(answer) == own_reply(method, wire.args(sent))
                        continue
                    answers = await answers_to(ws, wire, index)
                    if method is not None:
                        assert len(answers) == 1 and wire.is_error_record(answers[0]), where
                    elif first:
                        # Garbage as a first frame says nothing of the dialect: it is
                        # answered as JSON-RPC would answer it, detection goes on.
                        assert all(jsonrpc_error(a) or wire.is_error_record(a) for a in answers)
                    else:
                        assert all(wire.is_error_record(a) for a in answers), (where, answers)
            finally:
                for ws in sockets.values():
                    await ws.close()
    assert compared >= 10
