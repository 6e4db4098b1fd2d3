"""The AsyncAPI document describes the real wire: the chat example over a real socket,
through a relay that records every frame both ways, and every frame is one of the
document's messages, in the direction of one of its operations.

The frames come from our own client and server (calls both ways, notifications both
ways, a stream with credit, a stream given up with rpc.cancel, a declared error, a
-32602); the schema is read from ``schemas/chat.asyncapi.json``, as a user would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from examples.chat import service
from examples.chat.client_generated import ChatClient, NotInRoom, register_handlers
from tests.helpers.chat import Member, fresh_rooms
from wsrpc_typed import Client, InvalidParams, Router, Server, connect

DOCUMENT = Path(__file__).resolve().parents[1] / "schemas" / "chat.asyncapi.json"
#: Params the server refuses with -32602 (the room's name has a pattern).
BAD_JOIN = {"room": "NOT A ROOM", "name": "alice"}
Frame = tuple[str, Any]  # ("client" or "server": who sent it, the decoded JSON)


fresh_rooms = pytest.fixture(autouse=True)(fresh_rooms)


async def _pump(
    source: ServerConnection | ClientConnection,
    target: ServerConnection | ClientConnection,
    sender: str,
    frames: list[Frame],
) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for frame in source:
            frames.append((sender, json.loads(frame)))
            await target.send(frame)


@contextlib.asynccontextmanager
async def recording_relay(upstream: str) -> AsyncIterator[tuple[str, list[Frame]]]:
    """A WebSocket relay to ``upstream`` on port 0, and the frames it passed on."""
    frames: list[Frame] = []

    async def relay(down: ServerConnection) -> None:
        offered = [down.subprotocol] if down.subprotocol is not None else None
        async with ws_connect(upstream, subprotocols=offered) as up:
            pumps = [
                asyncio.create_task(_pump(down, up, "client", frames)),
                asyncio.create_task(_pump(up, down, "server", frames)),
            ]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pumps:
                pump.cancel()

    subprotocols = [Subprotocol("jsonrpc-2.0")]
    async with serve(relay, "127.0.0.1", 0, subprotocols=subprotocols) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/", frames


async def chat_session(url: str) -> None:
    """Both directions of the chat, each kind of message at least once."""
    alice, bob = Member(), Member()
    a_conn: Client
    async with (
        connect(url, router=register_handlers(Router(), alice)) as a_conn,
        connect(url, router=register_handlers(Router(), bob)) as b_conn,
    ):
        a, b = ChatClient(a_conn), ChatClient(b_conn)
        await a.join(room="lobby", name="alice")
        await b.join(room="lobby", name="bob")
        for text in ("one", "two", "three"):
            await b.say(room="lobby", text=text)  # alice gets each as a notification
        for _ in range(3):
            await asyncio.wait_for(alice.inbox.get(), 5)
        with pytest.raises(NotInRoom):
            await a.say(room="attic", text="hello?")
        with pytest.raises(InvalidParams):
            await a_conn.call("join", BAD_JOIN)
        await a_conn.notify("leave", {"room": "attic"})
        items = a_conn.stream("history", {"room": "lobby"}, window=1)  # credit one at a time
        assert len([item async for item in items]) == 3
        async with contextlib.aclosing(a_conn.stream("history", {"room": "lobby"}, window=1)) as it:
            async for _ in it:
                break  # gives up early: rpc.cancel
        assert await a.clear(room="lobby") == 3  # the server asks alice to confirm


def _reply_keys(operation: dict[str, Any]) -> list[str]:
    return [m["$ref"].rsplit("/", 1)[1] for m in operation.get("reply", {}).get("messages", [])]


def _sent_keys(operation: dict[str, Any]) -> list[str]:
    return [m["$ref"].rsplit("/", 1)[1] for m in operation["messages"]]


def directions(doc: dict[str, Any]) -> dict[str, set[str]]:
    """The message keys each side may send, by the document's operations (the client's)."""
    sent: dict[str, set[str]] = {"client": set(), "server": set()}
    for operation in doc["operations"].values():
        own, other = ("client", "server") if operation["action"] == "send" else ("server", "client")
        sent[own].update(_sent_keys(operation))
        sent[other].update(_reply_keys(operation))
    return sent


def matching(doc: dict[str, Any], keys: set[str], frame: Any) -> list[str]:
    found = []
    for key in sorted(keys):
        root = {**doc, "$ref": f"#/components/messages/{key}/payload"}
        if jsonschema.Draft7Validator(root).is_valid(frame):
            found.append(key)
    return found


async def test_every_frame_of_a_chat_session_is_a_message_of_the_document() -> None:
    doc = json.loads(DOCUMENT.read_text())
    async with (
        Server(service.router, host="127.0.0.1", port=0) as server,
        recording_relay(server.url) as (url, frames),
    ):
        await chat_session(url)
    assert len(frames) > 30
    sent = directions(doc)
    call_of = {
        key: name
        for name, operation in doc["operations"].items()
        if "reply" in operation
        for key in _sent_keys(operation)
    }
    pending: dict[tuple[str, Any], str] = {}  # (caller, id) -> the operation called
    cancelled: set[tuple[str, Any]] = set()
    seen: set[str] = set()
    for sender, frame in frames:
        keys = matching(doc, sent[sender], frame)
        if frame.get("params") == BAD_JOIN:  # the server refuses it, and so does the document
            assert keys == [], keys
            pending[sender, frame["id"]] = "join"
            continue
        assert keys, (sender, frame)
        if "method" in frame:  # a request or a notification: its method names one message
            assert len(keys) == 1, (sender, frame, keys)
            if keys[0] in call_of:
                pending[sender, frame["id"]] = call_of[keys[0]]
            if keys[0] == "rpc.cancel":
                cancelled.add((sender, frame["params"]["id"]))
        else:  # a response: one of the replies of the call it answers
            caller = "server" if sender == "client" else "client"
            replies = _reply_keys(doc["operations"][pending.pop((caller, frame["id"]))])
            keys = [key for key in keys if key in replies]
            assert keys, (sender, frame, replies)
        seen.update(keys)
    assert cancelled and set(pending) <= cancelled  # a call given up gets no reply
    assert seen >= {
        "join.request",
        "join.result",
        "say.request",
        "say.result",
        "error.NotInRoom",
        "rpc.error",
        "leave.notification",
        "peer.message.notification",
        "history.request",
        "history.item",
        "history.end",
        "rpc.credit",
        "rpc.cancel",
        "clear.request",
        "clear.result",
        "peer.confirm.request",
        "peer.confirm.result",
    }


def test_a_frame_in_the_wrong_direction_matches_nothing() -> None:
    doc = json.loads(DOCUMENT.read_text())
    sent = directions(doc)
    item = {"jsonrpc": "2.0", "method": "rpc.item", "params": {"id": 1, "item": {}}}
    request = {"jsonrpc": "2.0", "id": 1, "method": "confirm", "params": {"question": "?"}}
    assert matching(doc, sent["client"], item) == []  # the server sends the items
    assert matching(doc, sent["client"], request) == []  # the server calls confirm
    assert matching(doc, sent["server"], request) == ["peer.confirm.request"]
