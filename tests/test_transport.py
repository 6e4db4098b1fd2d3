"""WebsocketsTransport over real loopback sockets: write coalescing, order, backpressure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve

from tests.conftest import UNIT
from wsrpc_typed.errors import ConnectionClosed
from wsrpc_typed.transport import COALESCE_FRAMES, WebsocketsTransport


class Peer:
    """A websockets server on 127.0.0.1 that records what it receives (or stops reading)."""

    def __init__(self, *, read: bool = True) -> None:
        self.read = read
        self.received: list[str | bytes] = []
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self.release = asyncio.Event()

    async def handler(self, ws: ServerConnection) -> None:
        if not self.read:
            ws.transport.pause_reading()
            await self.release.wait()
            ws.transport.resume_reading()  # to see the client go, and end
            await ws.wait_closed()
            return
        try:
            async for message in ws:
                self.received.append(message)
        finally:
            self.close_code = ws.close_code
            self.closed.set()


@pytest.fixture
async def peer_url() -> AsyncIterator[tuple[Peer, str]]:
    peer = Peer()
    async with serve(peer.handler, "127.0.0.1", 0, compression=None) as server:
        yield peer, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


class CountingWrites:
    """Counts the socket writes of a websockets connection (wraps its transport's write)."""

    def __init__(self, ws: Any) -> None:
        self.sizes: list[int] = []
        write = ws.transport.write

        def counting(data: Any) -> None:
            self.sizes.append(len(data))
            write(data)

        ws.transport.write = counting


async def test_a_lone_message_goes_out_alone(peer_url: tuple[Peer, str]) -> None:
    peer, url = peer_url
    async with ws_connect(url, compression=None) as ws:
        transport = WebsocketsTransport(ws)
        writes = CountingWrites(ws)
        await transport.send(b'{"n":1}', text=True)
        await asyncio.sleep(0)  # the end of the loop iteration
        assert len(writes.sizes) == 1
        await asyncio.sleep(0)
        await transport.send(b'{"n":2}', text=True)
        await asyncio.sleep(0)
        assert len(writes.sizes) == 2
    await asyncio.wait_for(peer.closed.wait(), UNIT)
    assert peer.received == ['{"n":1}', '{"n":2}']


async def test_a_burst_is_written_in_groups_in_order(peer_url: tuple[Peer, str]) -> None:
    peer, url = peer_url
    count = 2 * COALESCE_FRAMES + 3
    async with ws_connect(url, compression=None) as ws:
        transport = WebsocketsTransport(ws)
        writes = CountingWrites(ws)
        for n in range(count):  # one loop iteration: send never suspends here
            await transport.send(b'{"n":%d}' % n, text=True)
        assert len(writes.sizes) == 2  # two full groups so far; the rest waits for the end
        await asyncio.sleep(0)
        assert len(writes.sizes) == 3
        await transport.send(b"binary", text=False)
    await asyncio.wait_for(peer.closed.wait(), UNIT)
    assert peer.received == [*(f'{{"n":{n}}}' for n in range(count)), b"binary"]
    assert peer.close_code == 1000


async def test_messages_queued_before_a_close_arrive_before_it(
    peer_url: tuple[Peer, str],
) -> None:
    peer, url = peer_url
    ws = await ws_connect(url, compression=None)
    transport = WebsocketsTransport(ws)
    for n in range(5):
        await transport.send(b"%d" % n, text=True)
    await transport.close(1000, "bye")  # in the same loop iteration as the sends
    await asyncio.wait_for(peer.closed.wait(), UNIT)
    assert peer.received == ["0", "1", "2", "3", "4"]
    assert peer.close_code == 1000


async def test_send_on_a_closed_connection_raises(peer_url: tuple[Peer, str]) -> None:
    _, url = peer_url
    ws = await ws_connect(url, compression=None)
    transport = WebsocketsTransport(ws)
    await transport.close()
    with pytest.raises(ConnectionClosed) as caught:
        await transport.send(b"late", text=True)
    assert (caught.value.code, str(caught.value)) == (1000, "connection closed (1000)")


async def test_send_waits_while_the_peer_does_not_read() -> None:
    peer = Peer(read=False)
    chunk = b"x" * (256 * 1024)
    async with serve(peer.handler, "127.0.0.1", 0, compression=None) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        async with ws_connect(url, compression=None, close_timeout=0.5) as ws:
            transport = WebsocketsTransport(ws)
            blocked = False
            for _ in range(400):  # at most 100 MiB: far beyond any socket buffer
                try:
                    await asyncio.wait_for(transport.send(chunk, text=False), 0.5)
                except TimeoutError:
                    blocked = True
                    break
            assert blocked, "send never waited although the peer stopped reading"
            assert ws.paused
            backlog = transport.send_backlog()
            assert backlog is not None and backlog > 0
            transport.abort()
            peer.release.set()
