"""The transport adapters over real loopback sockets, against websockets' own peers.

Each test of the Transport contract runs on every adapter (the ``adapter``
fixture): websockets' sans-I/O protocol and picows. Compression is the
websockets adapter's alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

from tests.conftest import UNIT
from tests.reliability.hostile_support import masked_frame
from wsrpc_typed.adapters import picows as picows_adapter
from wsrpc_typed.adapters import websockets as websockets_adapter
from wsrpc_typed.adapters.picows import PicowsTransport
from wsrpc_typed.adapters.websockets import WebsocketsProtocol, connect
from wsrpc_typed.errors import ConnectionClosed, HandshakeFailed, HandshakeRejected
from wsrpc_typed.security import Handshake
from wsrpc_typed.transport import COALESCE_FRAMES, Accepted, Refused, Transport


@dataclass(frozen=True)
class Adapter:
    """One adapter's ``serve`` and ``connect``."""

    name: str
    serve: Callable[..., Awaitable[asyncio.Server]]
    connect: Callable[..., Awaitable[Any]]


ADAPTERS = {
    "websockets": Adapter("websockets", websockets_adapter.serve, websockets_adapter.connect),
    "picows": Adapter("picows", picows_adapter.serve, picows_adapter.connect),
}


@pytest.fixture(params=sorted(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> Adapter:
    """Each adapter in turn."""
    return ADAPTERS[request.param]


def socket_transport(transport: Any) -> Any:
    """The asyncio transport under one of our transports."""
    if isinstance(transport, PicowsTransport):
        assert transport._ws is not None
        return transport._ws.underlying_transport
    return transport._transport


class Recorder:
    """A TransportHandler that records what it gets; optionally echoes or pauses."""

    def __init__(self, transport: Transport | None = None, *, echo: bool = False) -> None:
        self.transport = transport
        self.echo = echo
        self.messages: list[bytes | str] = []
        self.lost: list[ConnectionClosed] = []
        self.ended = asyncio.Event()
        self.arrived = asyncio.Event()
        self.pause_after: int | None = None

    def message_received(self, message: bytes | str, /) -> None:
        assert not self.lost, "a message after connection_lost"
        self.messages.append(message)
        self.arrived.set()
        if self.echo and self.transport is not None:
            data = message.encode() if isinstance(message, str) else message
            self.transport.send(data, text=isinstance(message, str))
        if self.pause_after is not None and len(self.messages) == self.pause_after:
            assert self.transport is not None
            self.transport.pause_reading()

    def connection_lost(self, exc: ConnectionClosed, /) -> None:
        self.lost.append(exc)
        self.ended.set()

    async def until(self, count: int) -> None:
        """Wait until ``count`` messages have arrived."""
        async with asyncio.timeout(UNIT):
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()


class Hub:
    """An Acceptor: accepts a subprotocol it knows (or refuses), records the transports."""

    def __init__(
        self,
        *,
        subprotocols: tuple[str, ...] = (),
        refuse: Refused | None = None,
        start: bool = True,
        echo: bool = False,
    ) -> None:
        self.subprotocols = subprotocols
        self.refuse = refuse
        self.start = start
        self.echo = echo
        self.handshakes: list[Handshake] = []
        self.attached: asyncio.Queue[tuple[Any, Recorder]] = asyncio.Queue()

    async def handshake(self, handshake: Handshake, /) -> Accepted | Refused:
        self.handshakes.append(handshake)
        if self.refuse is not None:
            return self.refuse
        chosen = next((s for s in handshake.subprotocols if s in self.subprotocols), None)
        return Accepted(chosen, identity="someone")

    def response_headers(self, headers: MutableMapping[str, str], request: Any, /) -> None:
        headers["X-Hub"] = "yes"

    def attach(self, transport: Any, accepted: Accepted, /) -> None:
        assert isinstance(transport, WebsocketsProtocol | PicowsTransport)
        recorder = Recorder(transport, echo=self.echo)
        if self.start:
            transport.start(recorder)
        self.attached.put_nowait((transport, recorder))

    async def next(self) -> tuple[Any, Recorder]:
        return await asyncio.wait_for(self.attached.get(), UNIT)


async def _listen(
    hub: Hub, adapter: Adapter = ADAPTERS["websockets"], **options: Any
) -> tuple[asyncio.Server, str]:
    server = await adapter.serve(hub, "127.0.0.1", 0, **options)
    return server, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def hub_url(adapter: Adapter) -> AsyncIterator[tuple[Hub, str]]:
    hub = Hub(subprotocols=("a", "b"))
    server, url = await _listen(hub, adapter)
    async with server:
        yield hub, url


class WsPeer:
    """A websockets server that records what it receives, echoes, or stops reading."""

    def __init__(self, *, read: bool = True, echo: bool = False) -> None:
        self.read = read
        self.echo = echo
        self.received: list[str | bytes] = []
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self.release = asyncio.Event()

    async def handler(self, ws: ServerConnection) -> None:
        try:
            if not self.read:
                ws.transport.pause_reading()
                await self.release.wait()
                ws.transport.resume_reading()
            async for message in ws:
                self.received.append(message)
                if self.echo:
                    await ws.send(message)
        finally:
            self.close_code = ws.close_code
            self.closed.set()


async def _ws_peer(peer: WsPeer, **options: Any) -> tuple[Any, str]:
    server = await ws_serve(peer.handler, "127.0.0.1", 0, compression=None, **options)
    return server, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


class CountingWrites:
    """Counts the socket writes of our transport (wraps its asyncio transport's writes)."""

    def __init__(self, proto: Any) -> None:
        self.sizes: list[int] = []
        transport: Any = socket_transport(proto)
        write, writelines = transport.write, transport.writelines

        def counting(data: Any) -> None:
            self.sizes.append(len(data))
            write(data)

        def counting_lines(lines: Any) -> None:
            self.sizes.append(sum(len(line) for line in lines))
            writelines(lines)

        transport.write, transport.writelines = counting, counting_lines


# Receiving (our server, websockets' client)


async def test_messages_arrive_in_order_text_as_str_binary_as_bytes(
    hub_url: tuple[Hub, str],
) -> None:
    hub, url = hub_url
    async with ws_connect(url, compression=None) as ws:
        _, recorder = await hub.next()
        for n in range(20):
            await ws.send(f"t{n}" if n % 3 else b"b%d" % n)
    await asyncio.wait_for(recorder.ended.wait(), UNIT)
    assert recorder.messages == [f"t{n}" if n % 3 else b"b%d" % n for n in range(20)]
    assert {type(m) for m in recorder.messages} == {str, bytes}
    assert [(e.code, str(e)) for e in recorder.lost] == [(1000, "connection closed (1000)")]


async def test_a_fragmented_message_is_reassembled(hub_url: tuple[Hub, str]) -> None:
    hub, url = hub_url

    async def fragments() -> AsyncIterator[str]:
        for part in ("frag", "ment", "ed ✓"):
            yield part

    async def binary() -> AsyncIterator[bytes]:
        for part in (b"\x00", b"\x01", b"\x02"):
            yield part

    async with ws_connect(url, compression=None) as ws:
        _, recorder = await hub.next()
        await ws.send(fragments())
        await ws.send(binary())
        await ws.send("after")
    await asyncio.wait_for(recorder.ended.wait(), UNIT)
    assert recorder.messages == ["fragmented ✓", b"\x00\x01\x02", "after"]


async def test_messages_before_start_are_delivered_at_start_then_the_end(
    adapter: Adapter,
) -> None:
    hub = Hub(start=False)
    server, url = await _listen(hub, adapter)
    async with server:
        async with ws_connect(url, compression=None) as ws:
            transport, recorder = await hub.next()
            for n in range(3):
                await ws.send(f"m{n}")
        await asyncio.wait_for(transport.wait_closed(), UNIT)
        assert recorder.messages == []
        transport.start(recorder)
        assert recorder.messages == ["m0", "m1", "m2"]
        assert [e.code for e in recorder.lost] == [1000]


async def test_server_close_1001_with_reason(hub_url: tuple[Hub, str]) -> None:
    hub, url = hub_url
    async with ws_connect(url, compression=None) as ws:
        transport, recorder = await hub.next()
        await asyncio.wait_for(transport.close(1001, "server shutting down"), UNIT)
        await asyncio.wait_for(ws.wait_closed(), UNIT)
        assert (ws.close_code, ws.close_reason) == (1001, "server shutting down")
    assert [(e.code, e.reason, str(e)) for e in recorder.lost] == [
        (1001, "server shutting down", "connection closed (1001: server shutting down)")
    ]
    await transport.close()  # idempotent
    with pytest.raises(ConnectionClosed) as caught:
        transport.send(b"late", text=True)
    assert caught.value.code == 1001


async def test_eof_without_a_close_frame_is_1006(hub_url: tuple[Hub, str]) -> None:
    hub, url = hub_url
    ws = await ws_connect(url, compression=None)
    _, recorder = await hub.next()
    ws.transport.close()  # TCP FIN, no close frame
    await asyncio.wait_for(recorder.ended.wait(), UNIT)
    assert [(e.code, str(e)) for e in recorder.lost] == [
        (1006, "connection closed abnormally (1006)")
    ]


async def test_abort_drops_at_once_and_reports_once(hub_url: tuple[Hub, str]) -> None:
    hub, url = hub_url
    async with ws_connect(url, compression=None) as ws:
        transport, recorder = await hub.next()
        transport.abort()
        await asyncio.wait_for(ws.wait_closed(), UNIT)
        assert ws.close_code == 1006
    await asyncio.wait_for(recorder.ended.wait(), UNIT)
    await asyncio.sleep(0.05)
    assert [e.code for e in recorder.lost] == [1006]


async def test_max_size_closes_with_1009(adapter: Adapter) -> None:
    hub = Hub()
    server, url = await _listen(hub, adapter, max_size=1024)
    async with server, ws_connect(url, compression=None) as ws:
        _, recorder = await hub.next()
        await ws.send("x" * 1000)

        async def big() -> AsyncIterator[str]:
            for _ in range(3):
                yield "y" * 500  # each fragment fits, the message does not

        await ws.send(big())
        await asyncio.wait_for(ws.wait_closed(), UNIT)
        assert ws.close_code == 1009
    await asyncio.wait_for(recorder.ended.wait(), UNIT)
    assert recorder.messages == ["x" * 1000]
    assert [e.code for e in recorder.lost] == [1009]


async def test_invalid_utf8_in_a_text_frame_closes_with_1007(
    hub_url: tuple[Hub, str], adapter: Adapter
) -> None:
    hub, url = hub_url
    client = await adapter.connect(url)
    _, recorder = await hub.next()
    mine = Recorder()
    client.start(mine)
    client.send(b"fine", text=True)
    client.send(b"\xff\xfe not utf-8", text=True)  # we trust callers to send UTF-8
    await asyncio.wait_for(mine.ended.wait(), UNIT)
    assert recorder.messages == ["fine"]
    assert [e.code for e in mine.lost] == [1007]
    assert [e.code for e in recorder.lost] == [1007]


async def test_pause_reading_stops_delivery_and_tcp_reading(hub_url: tuple[Hub, str]) -> None:
    hub, url = hub_url
    async with ws_connect(url, compression=None) as ws:
        transport, recorder = await hub.next()
        recorder.pause_after = 1
        await ws.send("one")
        await asyncio.wait_for(recorder.arrived.wait(), UNIT)
        for n in range(5):
            await ws.send(f"more{n}")
        await asyncio.sleep(0.2)
        assert recorder.messages == ["one"]
        tcp = socket_transport(transport)
        assert not tcp.is_reading()
        transport.resume_reading()
        assert tcp.is_reading()
        await recorder.until(6)
        assert recorder.messages == ["one", *(f"more{n}" for n in range(5))]


async def test_peers_pings_are_answered(hub_url: tuple[Hub, str]) -> None:
    hub, url = hub_url
    async with ws_connect(url, compression=None) as ws:
        await hub.next()
        pong = await ws.ping()
        await asyncio.wait_for(pong, UNIT)


async def test_subprotocol_and_response_headers(hub_url: tuple[Hub, str]) -> None:
    hub, url = hub_url
    async with ws_connect(
        url + "/path?x=1",
        subprotocols=["zz", "b", "a"],  # type: ignore[list-item]
        compression=None,
        additional_headers={"Authorization": "Bearer t0k"},
    ) as ws:
        transport, _ = await hub.next()
        assert ws.subprotocol == "b" == transport.subprotocol
        assert ws.response is not None
        assert ws.response.headers["X-Hub"] == "yes"
        assert "Server" not in ws.response.headers
        assert transport.request_headers["authorization"] == "Bearer t0k"
        assert transport.remote_address[0] == "127.0.0.1"
    (handshake,) = hub.handshakes
    assert (handshake.path, handshake.query, handshake.subprotocols) == (
        "/path",
        {"x": ["1"]},
        ("zz", "b", "a"),
    )
    assert handshake.bearer_token() == "t0k"


@pytest.mark.parametrize("client", sorted(ADAPTERS))
async def test_a_refused_handshake_is_handshake_rejected(adapter: Adapter, client: str) -> None:
    hub = Hub(refuse=Refused(401, "Who are you?"))
    server, url = await _listen(hub, adapter)
    async with server:
        with pytest.raises(HandshakeRejected) as caught:
            await ADAPTERS[client].connect(url)
        assert (caught.value.status, caught.value.body) == (401, "Who are you?\n")
        assert caught.value.headers["content-type"].startswith("text/plain")
        assert hub.attached.empty()


async def test_a_plain_http_request_gets_websockets_error_response(
    hub_url: tuple[Hub, str],
) -> None:
    _, url = hub_url
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    response = await asyncio.wait_for(reader.read(), UNIT)
    writer.close()
    assert response.startswith(b"HTTP/1.1 426 ")


async def test_the_server_drops_a_silent_connection_after_open_timeout(adapter: Adapter) -> None:
    hub = Hub()
    server, url = await _listen(hub, adapter, open_timeout=0.2)
    async with server:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), UNIT) == b""
        writer.close()


# Client side (ours) against websockets' server


async def test_client_round_trip_ping_and_close(adapter: Adapter) -> None:
    peer = WsPeer(echo=True)
    server, url = await _ws_peer(peer)
    async with server:
        client = await adapter.connect(url)
        recorder = Recorder()
        client.start(recorder)
        client.send(b"hello", text=True)
        client.send(b"\x00bin", text=False)
        await asyncio.wait_for(client.ping(), UNIT)
        await recorder.until(2)
        await asyncio.wait_for(client.close(), UNIT)
        await asyncio.wait_for(peer.closed.wait(), UNIT)
    assert recorder.messages == ["hello", b"\x00bin"]
    assert type(recorder.messages[1]) is bytes
    assert peer.close_code == 1000
    assert [e.code for e in recorder.lost] == [1000]
    with pytest.raises(ConnectionClosed):
        client.ping()


async def test_client_messages_before_start_are_kept(adapter: Adapter) -> None:
    async def greet(ws: ServerConnection) -> None:
        await ws.send("hi")
        await ws.send("there")
        await ws.close(1000, "done")

    async with ws_serve(greet, "127.0.0.1", 0, compression=None) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        client = await adapter.connect(url)
        await asyncio.wait_for(client.wait_closed(), UNIT)
        recorder = Recorder()
        client.start(recorder)
    assert recorder.messages == ["hi", "there"]
    assert [(e.code, e.reason) for e in recorder.lost] == [(1000, "done")]


async def test_a_burst_is_written_in_groups_in_order(adapter: Adapter) -> None:
    peer = WsPeer()
    server, url = await _ws_peer(peer)
    async with server:
        client = await adapter.connect(url)
        client.start(Recorder())
        writes = CountingWrites(client)
        client.send(b"alone", text=True)
        assert writes.sizes == []
        await asyncio.sleep(0)
        assert len(writes.sizes) == 1
        count = 2 * COALESCE_FRAMES + 3
        for n in range(count):
            client.send(b"%d" % n, text=True)
        assert len(writes.sizes) == 3  # two full groups; the rest waits for the end
        await asyncio.sleep(0)
        assert len(writes.sizes) == 4
        await client.close()
        await asyncio.wait_for(peer.closed.wait(), UNIT)
    assert peer.received == ["alone", *(str(n) for n in range(count))]


async def test_send_waits_while_the_peer_does_not_read(adapter: Adapter) -> None:
    peer = WsPeer(read=False)
    server, url = await _ws_peer(peer)
    async with server:
        client = await adapter.connect(url, close_timeout=0.5)
        client.start(Recorder())
        chunk = b"x" * (256 * 1024)
        waiting = None
        for _ in range(400):  # at most 100 MiB: far beyond any socket buffer
            future = client.send(chunk, text=False)
            if not future.done():
                waiting = future
                break
            await asyncio.sleep(0)
        assert waiting is not None, "send never waited although the peer stopped reading"
        backlog = client.send_backlog()
        assert backlog is not None and backlog > 0
        peer.release.set()
        await asyncio.wait_for(waiting, UNIT)
        assert client.send_backlog() is None
        await client.close()


async def test_the_closing_handshake_times_out_and_aborts(adapter: Adapter) -> None:
    peer = WsPeer(read=False)  # never reads our close frame
    server, url = await _ws_peer(peer)
    async with server:
        client = await adapter.connect(url, close_timeout=0.3)
        recorder = Recorder()
        client.start(recorder)
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(client.close(), UNIT)
        elapsed = asyncio.get_running_loop().time() - started
        assert 0.25 < elapsed < UNIT / 2
        assert len(recorder.lost) == 1
        peer.release.set()


async def test_handshake_against_a_non_websocket_responder_fails(adapter: Adapter) -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()
        writer.close()

    for responder, rejected in ((plain, True), (garbage, False)):
        server = await asyncio.start_server(responder, "127.0.0.1", 0)
        async with server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            with pytest.raises(HandshakeFailed) as caught:
                await adapter.connect(url)
            assert isinstance(caught.value, HandshakeRejected) is rejected
            assert caught.value.__cause__ is not None


async def test_handshake_timeout_and_unreachable_server(adapter: Adapter) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(HandshakeFailed):
            await adapter.connect(f"ws://127.0.0.1:{port}", open_timeout=0.2)
    with pytest.raises(ConnectionRefusedError):
        await adapter.connect(f"ws://127.0.0.1:{port}")


# Ours against ours


async def test_compression_deflate_round_trip() -> None:
    hub = Hub(echo=True)
    server, url = await _listen(hub, compression="deflate")
    async with server:
        client = await connect(url, compression="deflate", subprotocols=["a"])
        transport, _ = await hub.next()
        assert "permessage-deflate" in transport.request_headers["Sec-WebSocket-Extensions"]
        recorder = Recorder()
        client.start(recorder)
        text = "compress me " * 1000
        client.send(text.encode(), text=True)
        writes = CountingWrites(client)
        client.send(b"\x00" * 5000, text=False)
        await asyncio.sleep(0)
        assert sum(writes.sizes) < 1000  # compressed on the wire
        await recorder.until(2)
        assert recorder.messages == [text, b"\x00" * 5000]
        await client.close()


@pytest.mark.parametrize("client_side", sorted(ADAPTERS))
async def test_subprotocol_negotiated_between_ours(adapter: Adapter, client_side: str) -> None:
    hub = Hub(subprotocols=("v2", "v1"), echo=True)
    server, url = await _listen(hub, adapter)
    async with server:
        client = await ADAPTERS[client_side].connect(
            url, subprotocols=["v1", "v2"], headers={"X-Me": "1"}
        )
        transport, _ = await hub.next()
        assert client.subprotocol == "v1" == transport.subprotocol
        assert client.request_headers["x-me"] == "1"
        await client.close(1000, "bye")
        await asyncio.wait_for(transport.wait_closed(), UNIT)


async def test_a_lone_message_goes_out_alone_at_the_end_of_the_iteration(adapter: Adapter) -> None:
    peer = WsPeer()
    server, url = await _ws_peer(peer)
    async with server:
        client = await adapter.connect(url)
        client.start(Recorder())
        writes = CountingWrites(client)
        client.send(b'{"n":1}', text=True)
        await asyncio.sleep(0)
        assert len(writes.sizes) == 1
        client.send(b'{"n":2}', text=True)
        await asyncio.sleep(0)
        assert len(writes.sizes) == 2
        await client.close()
        await asyncio.wait_for(peer.closed.wait(), UNIT)
    assert peer.received == ['{"n":1}', '{"n":2}']


async def test_messages_sent_before_a_close_arrive_before_it_and_later_sends_raise(
    adapter: Adapter,
) -> None:
    peer = WsPeer()
    server, url = await _ws_peer(peer)
    async with server:
        client = await adapter.connect(url)
        client.start(Recorder())
        for n in range(5):
            client.send(b"%d" % n, text=True)
        await client.close(1000, "bye")  # in the same loop iteration as the sends
        await asyncio.wait_for(peer.closed.wait(), UNIT)
        with pytest.raises(ConnectionClosed) as caught:
            client.send(b"late", text=True)
    assert peer.received == ["0", "1", "2", "3", "4"]
    assert peer.close_code == 1000
    assert (caught.value.code, caught.value.reason) == (1000, "bye")


# picows' own


async def test_picows_has_no_compression() -> None:
    with pytest.raises(ValueError, match="no compression"):
        await picows_adapter.serve(Hub(), "127.0.0.1", 0, compression="deflate")
    with pytest.raises(ValueError, match="no compression"):
        await picows_adapter.connect("ws://127.0.0.1:1", compression="deflate")


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "ws://"])
async def test_picows_refuses_an_invalid_url(url: str) -> None:
    with pytest.raises(ValueError):
        await picows_adapter.connect(url)


async def test_picows_refuses_frames_out_of_order(hub_url: tuple[Hub, str]) -> None:
    """RFC 6455 §5.4: a continuation with no message begun, or a message inside another."""
    hub, url = hub_url
    for frames in (
        masked_frame(b"orphan", opcode=0x0),
        masked_frame(b"be", fin=False) + masked_frame(b"gun"),
    ):
        async with ws_connect(url, compression=None) as ws:
            _, recorder = await hub.next()
            await ws.send("before")
            ws.transport.write(frames)
            await asyncio.wait_for(ws.wait_closed(), UNIT)
            assert ws.close_code == 1002
        await asyncio.wait_for(recorder.ended.wait(), UNIT)
        assert recorder.messages == ["before"]
        assert [e.code for e in recorder.lost] == [1002]
