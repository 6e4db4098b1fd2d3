"""The chat example end to end over real sockets: both directions, a stream, a broadcast."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from examples.chat import service
from examples.chat.client_generated import (
    ChatClient,
    ChatMessage,
    NotInRoom,
    register_handlers,
)
from examples.chat.server import announce
from tests.conftest import UNIT
from tests.helpers.chat import Member, fresh_rooms
from tests.helpers.processes import ROOT, start_listening
from tests.helpers.redis import RedisServer
from wsrpc_typed import Client, Router, Server, connect

fresh_rooms = pytest.fixture(autouse=True)(fresh_rooms)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async with Server(service.router, host="127.0.0.1", port=0) as srv:
        yield srv


def _connect(server: Server, member: Member) -> Client:
    return connect(server.url, router=register_handlers(Router(), member))


async def test_two_members_chat_stream_history_confirm_and_get_announcements(
    server: Server,
) -> None:
    alice, bob = Member(answer=False), Member()
    async with _connect(server, alice) as a_conn, _connect(server, bob) as b_conn:
        a, b = ChatClient(a_conn), ChatClient(b_conn)
        assert await a.join(room="lobby", name="alice") == ["alice"]
        assert await b.join(room="lobby", name="bob") == ["alice", "bob"]

        # say -> the other member gets the typed notification; the sender does not.
        sent = await b.say(room="lobby", text="hi alice")
        assert sent == ChatMessage(room="lobby", seq=1, sender="bob", text="hi alice")
        assert await alice.next() == sent
        reply = await a.say(room="lobby", text="hi bob")
        assert await bob.next() == reply
        assert bob.inbox.empty()  # bob's own message came before alice's, if at all

        # history streams, typed, from any position.
        assert [m async for m in b.history(room="lobby")] == [sent, reply]
        assert [m.text async for m in b.history(room="lobby", after=1)] == ["hi bob"]

        with pytest.raises(NotInRoom):
            await a.say(room="kitchen", text="anyone?")

        # clear -> the server calls the caller's `confirm` through the peer stub.
        assert await a.clear(room="lobby") == 0  # alice answers no
        assert alice.questions == ["Delete the 2 messages of lobby?"]
        assert await b.clear(room="lobby") == 2  # bob answers yes
        assert bob.questions == ["Delete the 2 messages of lobby?"]
        assert [m async for m in a.history(room="lobby")] == []

        # Server.broadcast reaches the room's members, filtered by conn.state.
        await b.join(room="kitchen", name="bob")
        assert await announce(server, "maintenance at noon") == 3  # lobby x2, kitchen x1
        got_a = await alice.next()
        got_b = {(await bob.next()).room, (await bob.next()).room}
        assert (got_a.sender, got_a.seq, got_a.text) == ("server", 0, "maintenance at noon")
        assert got_b == {"lobby", "kitchen"}

        # A member who left is not pushed to any more: the next message alice gets
        # is the one bob sent after, in a room she is in.
        await a.leave(room="lobby")
        await b.say(room="lobby", text="gone?")
        await a.join(room="kitchen", name="alice")
        await b.say(room="kitchen", text="here?")
        assert (await alice.next()).text == "here?"


async def test_the_example_programs_run_against_each_other() -> None:
    # The server program and the client program, as a user runs them; an in-process
    # member in the same room sees the program's message arrive.
    server, url = await start_listening(sys.executable, "-m", "examples.chat.server", "--port", "0")
    try:
        carol = Member()
        async with connect(url, router=register_handlers(Router(), carol)) as conn:
            assert await ChatClient(conn).join(room="lobby", name="carol") == ["carol"]
            client = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "examples.chat.client", url),
                *("--name", "dave", "--room", "lobby", "--text", "hello carol"),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await asyncio.wait_for(client.communicate(), UNIT * 4)
            assert client.returncode == 0
            got = await carol.next()
            assert (got.sender, got.text, got.seq) == ("dave", "hello carol", 1)
        text = out.decode()
        assert "members: carol, dave" in text
        assert "sent #1" in text
        assert "history #1 dave: hello carol" in text
        assert "server asks: Delete the 1 messages of lobby? yes" in text
        assert "cleared 1 messages" in text
    finally:
        server.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(server.wait(), UNIT * 2) == 0


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["default", "sigint-ignored"])
async def test_the_example_server_stops_on_sigint_however_it_was_started(
    sigint_ignored: bool,
) -> None:
    """Started with SIGINT ignored (a script's background job), it must still stop on it."""
    proc, url = await start_listening(
        sys.executable, "-m", "examples.chat.server", "--port", "0", sigint_ignored=sigint_ignored
    )
    async with connect(url) as client:
        assert await ChatClient(client).join(room="lobby", name="ann") == ["ann"]
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), UNIT * 2) == 0


async def _chat_workers(*argv: str) -> tuple[asyncio.subprocess.Process, str]:
    return await start_listening(
        sys.executable, "-m", "wsrpc_typed.cli", "serve", "examples.chat.service:router",
        "--port", "0", "--log-level", "warning", *argv,
    )  # fmt: skip


async def test_the_chat_on_two_workers_shares_its_rooms_through_redis(tmp_path: Path) -> None:
    """Two workers (as on two machines) with one Redis: members of one room on both."""
    redis = RedisServer(tmp_path)
    redis.start()
    procs = []
    try:
        for _ in range(2):
            procs.append(await _chat_workers("--backplane", redis.url))
        (_, url_a), (_, url_b) = procs
        alice, bob = Member(), Member()
        async with (
            connect(url_a, router=register_handlers(Router(), alice)) as a_conn,
            connect(url_b, router=register_handlers(Router(), bob)) as b_conn,
        ):
            a, b = ChatClient(a_conn), ChatClient(b_conn)
            assert await a.join(room="lobby", name="alice") == ["alice"]
            assert await b.join(room="lobby", name="bob") == ["alice", "bob"]
            sent = await b.say(room="lobby", text="hi from worker b")
            assert (sent.seq, await alice.next()) == (1, sent)
            reply = await a.say(room="lobby", text="hi from worker a")
            assert (reply.seq, await bob.next()) == (2, reply)
            assert alice.inbox.empty() and bob.inbox.empty()  # nobody hears themselves
            # One history, whichever worker is asked.
            assert [m async for m in a.history(room="lobby")] == [sent, reply]
            assert [m.seq async for m in b.history(room="lobby", after=1)] == [2]
            with pytest.raises(NotInRoom):
                await a.say(room="kitchen", text="anyone?")
            assert await b.clear(room="lobby") == 2  # bob's own confirm answers yes
            assert [m async for m in a.history(room="lobby")] == []
        # A member that leaves (here: disconnects) leaves the room's names.
        async with connect(url_a, router=register_handlers(Router(), Member())) as c_conn:
            for _ in range(100):
                names = await ChatClient(c_conn).join(room="lobby", name="carol")
                if names == ["carol"]:
                    break
                await asyncio.sleep(0.02)
            assert names == ["carol"]
    finally:
        for proc, _ in procs:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in procs:
            assert await asyncio.wait_for(proc.wait(), UNIT * 2) == 0
        redis.stop()


async def test_the_chat_serves_with_workers_on_one_port(tmp_path: Path) -> None:
    """``wsrpc serve ... --workers 2 --backplane``: eight members, one message to all."""
    redis = RedisServer(tmp_path)
    redis.start()
    proc, url = await _chat_workers("--workers", "2", "--backplane", redis.url)
    try:
        members = [Member() for _ in range(8)]
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                ChatClient(
                    await stack.enter_async_context(
                        connect(url, router=register_handlers(Router(), m))
                    )
                )
                for m in members
            ]
            for i, client in enumerate(clients):
                await client.join(room="lobby", name=f"m{i}")
            sent = await clients[0].say(room="lobby", text="to everyone")
            for member in members[1:]:
                assert await member.next() == sent
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), UNIT * 2) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        redis.stop()
