"""In-process cost of the RPC layer per call, without sockets: low noise, for A/B work.

Usage::

    .venv/bin/python -m benchmarks.bench_layers [--calls N] [--repeat R]

``bench_rpc`` measures whole pairs over loopback, where syscalls, websockets framing and
the scheduler dominate and a shared machine adds noise. This measures only what our
layer adds, on one core, in one process: a :class:`wsrpc_typed.Connection` over a fake
transport that hands over pre-built frames and swallows replies.

* ``server/*``: the server's work for one request frame (decode, dispatch, validate,
  call ``add``, serialise, encode, send), against the same loop written by hand
  (``server/echo``: receive and send back; ``server/rpc_orjson``: orjson loads, add,
  orjson dumps, the anchors' thin layer). ``server/wsrpc`` gets what our client sends
  (with its default 30 s ``timeout`` member); ``server/wsrpc-no-timeout`` gets the same
  request without it.
* ``client/*``: one call on a connection with 64 calls in flight: ``Client.call`` and
  everything under it (encode, send, the reader settling the reply). The client is
  opened with ``Client.open()`` as is, only the handshake and the socket swapped for
  the fake peer, so its connection has the client's real options. The fake peer answers
  each request at once (it parses it with orjson to get the id: the same cost for every
  client row). ``client/rpc_orjson`` is the anchors' minimal client.

Reported: CPU ns per call, median of ``--repeat`` runs (process CPU time), and the
difference to the hand-written baseline. Run it in a modified copy of the package to
A/B a change: ``cd COPY && PYTHONPATH=/path/to/repo python -m benchmarks.bench_layers``
(``COPY`` holds the modified ``wsrpc_typed/``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import orjson

IN_FLIGHT = 64


class _Closed(Exception):
    pass


#: Frames handed over per event-loop iteration (as from one socket read under pipe64 load).
BATCH = 64


class FakeServerTransport:
    """Pushes ``frames`` to its handler, yielding to the event loop every ``BATCH``, then ends.

    Yielding matters: the loop's housekeeping (such as dropping cancelled timers) runs
    between iterations, as it does over a real socket.
    """

    def __init__(self, frames: list[bytes], closed: Callable[[str], Exception]) -> None:
        self._frames = frames
        self._closed = closed
        self._done: asyncio.Future[None] | None = None
        self.sent = 0
        self.remote_address: Any = ("127.0.0.1", 0)
        self.request_headers: Mapping[str, str] = {}
        self.subprotocol: str | None = None

    def start(self, handler: Any) -> None:
        self._done = asyncio.ensure_future(self._push(handler))

    async def _push(self, handler: Any) -> None:
        received = handler.message_received
        for i, frame in enumerate(self._frames, 1):
            received(frame)
            if i % BATCH == 0:
                await asyncio.sleep(0)
        handler.connection_lost(self._closed("done"))

    def send(self, frame: bytes, *, text: bool = True) -> asyncio.Future[None]:
        self.sent += 1
        return _done()

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    async def close(self, code: int = 1000, reason: str = "") -> None:
        pass

    def abort(self) -> None:
        pass


class FakePeerTransport:
    """A client's transport whose peer answers every JSON-RPC request with ``2``, in the
    next event-loop iteration (as replies come from a socket)."""

    def __init__(self, closed: Callable[[str], Exception]) -> None:
        self._closed = closed
        self._handler: Any = None
        self._replies: list[bytes] = []
        self.remote_address: Any = ("127.0.0.1", 0)
        self.request_headers: Mapping[str, str] = {}
        self.subprotocol: str | None = "jsonrpc-2.0"

    def start(self, handler: Any) -> None:
        self._handler = handler

    def send(self, frame: bytes, *, text: bool = True) -> asyncio.Future[None]:
        request = orjson.loads(frame)
        if not self._replies:
            asyncio.get_running_loop().call_soon(self._deliver)
        self._replies.append(b'{"jsonrpc":"2.0","id":%d,"result":2}' % request["id"])
        return _done()

    def _deliver(self) -> None:
        replies, self._replies = self._replies, []
        received = self._handler.message_received
        for reply in replies:
            received(reply)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._handler is not None:
            handler, self._handler = self._handler, None
            handler.connection_lost(self._closed("done"))

    def abort(self) -> None:
        pass


_DONE: list[asyncio.Future[None]] = []


def _done_future() -> None:
    """Make what the fakes' ``send`` returns: a future that is done already (one per run)."""
    future = asyncio.get_running_loop().create_future()
    future.set_result(None)
    _DONE[:] = [future]


def _done() -> asyncio.Future[None]:
    return _DONE[0]


def _request_frames(n: int, timeout: bool) -> list[bytes]:
    extra = ',"timeout":30.0' if timeout else ""
    return [
        b'{"jsonrpc":"2.0","id":%d,"method":"add","params":{"a":%d,"b":1}%s}'
        % (i, i, extra.encode())
        for i in range(1, n + 1)
    ]


# -- server rows ------------------------------------------------------------------------


async def server_wsrpc(frames: list[bytes]) -> int:
    from wsrpc_typed import Connection, Router
    from wsrpc_typed.dialects.jsonrpc import JsonRpcDialect
    from wsrpc_typed.errors import ConnectionClosed

    router = Router()

    @router.method
    async def add(a: int, b: int) -> int:
        return a + b

    transport = FakeServerTransport(frames, ConnectionClosed)
    # cast: the fake duck-types the Transport protocol, whose exact shape may change.
    conn = Connection(cast(Any, transport), JsonRpcDialect(), router)
    conn.start()
    await conn.wait_closed()
    return transport.sent


class _Handler:
    """The hand-written baselines' receiving side: ``on_message`` for each frame."""

    def __init__(self, on_message: Callable[[bytes], None]) -> None:
        self.message_received = on_message
        self.ended = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception) -> None:
        self.ended.set_result(None)


async def server_echo(frames: list[bytes]) -> int:
    transport = FakeServerTransport(frames, _Closed)
    send = transport.send

    def on_message(frame: bytes) -> None:
        send(frame, text=True)

    handler = _Handler(on_message)
    transport.start(handler)
    await handler.ended
    return transport.sent


async def server_rpc_orjson(frames: list[bytes]) -> int:
    transport = FakeServerTransport(frames, _Closed)
    send, loads, dumps = transport.send, orjson.loads, orjson.dumps

    def on_message(frame: bytes) -> None:
        request = loads(frame)
        params = request["params"]
        reply = {"jsonrpc": "2.0", "id": request["id"], "result": params["a"] + params["b"]}
        send(dumps(reply), text=True)

    handler = _Handler(on_message)
    transport.start(handler)
    await handler.ended
    return transport.sent


# -- client rows ------------------------------------------------------------------------


async def _drive(call: Callable[[int], Awaitable[Any]], calls: int) -> None:
    per_caller = calls // IN_FLIGHT

    async def caller(k: int) -> None:
        for i in range(k * per_caller, (k + 1) * per_caller):
            await call(i)

    await asyncio.gather(*(caller(k) for k in range(IN_FLIGHT)))


async def _client_wsrpc(calls: int, typed: bool) -> int:
    from wsrpc_typed import Client
    from wsrpc_typed.errors import ConnectionClosed

    transport = FakePeerTransport(ConnectionClosed)

    class FakeClient(Client):
        async def _open_transport(self) -> Any:
            return transport

    # Client.open() as is (so the Connection gets exactly the client's options), with the
    # handshake and the socket swapped for the fake peer.
    client = await FakeClient("ws://127.0.0.1:1").open()

    async def untyped(i: int) -> Any:
        return await client.call("add", {"a": i, "b": 1})

    async def typed_call(i: int) -> int:
        return await client.call("add", {"a": i, "b": 1}, result_type=int)

    await _drive(typed_call if typed else untyped, calls)
    await client.close()
    return calls


async def client_wsrpc(calls: int) -> int:
    return await _client_wsrpc(calls, typed=False)


async def client_wsrpc_typed(calls: int) -> int:
    return await _client_wsrpc(calls, typed=True)


async def client_rpc_orjson(calls: int) -> int:
    transport = FakePeerTransport(_Closed)
    pending: dict[int, asyncio.Future[Any]] = {}
    ids = itertools.count(1)
    loads = orjson.loads

    def on_reply(frame: bytes) -> None:
        reply = loads(frame)
        future = pending.pop(reply["id"], None)
        if future is not None and not future.done():
            future.set_result(reply["result"])

    handler = _Handler(on_reply)
    transport.start(handler)

    async def call(i: int) -> Any:
        id_ = next(ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pending[id_] = future
        request = {"jsonrpc": "2.0", "id": id_, "method": "add", "params": {"a": i, "b": 1}}
        transport.send(orjson.dumps(request), text=True)
        return await future

    await _drive(call, calls)
    await transport.close()
    await handler.ended
    return calls


# -- runner -----------------------------------------------------------------------------

Row = tuple[str, str, Callable[[int], Awaitable[int]]]


def _rows() -> list[Row]:
    frames_t: dict[int, list[bytes]] = {}
    frames_n: dict[int, list[bytes]] = {}

    def with_frames(fn: Callable[[list[bytes]], Awaitable[int]], timeout: bool) -> Any:
        cache = frames_t if timeout else frames_n

        def run(n: int) -> Awaitable[int]:
            if n not in cache:
                cache[n] = _request_frames(n, timeout)
            return fn(cache[n])

        return run

    return [
        ("server/echo", "", with_frames(server_echo, True)),
        ("server/rpc_orjson", "server/echo", with_frames(server_rpc_orjson, True)),
        ("server/wsrpc", "server/rpc_orjson", with_frames(server_wsrpc, True)),
        ("server/wsrpc-no-timeout", "server/rpc_orjson", with_frames(server_wsrpc, False)),
        ("client/rpc_orjson", "", client_rpc_orjson),
        ("client/wsrpc", "client/rpc_orjson", client_wsrpc),
        ("client/wsrpc_typed", "client/rpc_orjson", client_wsrpc_typed),
    ]


def _measure(fn: Callable[[int], Awaitable[int]], calls: int) -> float:
    async def main() -> float:
        _done_future()
        t0 = time.process_time_ns()
        done = await fn(calls)
        elapsed = time.process_time_ns() - t0
        assert done == calls, (done, calls)
        return elapsed / calls

    return asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_layers", description=__doc__)
    parser.add_argument("--calls", type=int, default=64 * 1000, help="calls per run")
    parser.add_argument("--repeat", type=int, default=7, help="runs per row (interleaved)")
    parser.add_argument("--only", default="", help="comma-separated row name prefixes")
    args = parser.parse_args(argv)
    calls = max(IN_FLIGHT, args.calls // IN_FLIGHT * IN_FLIGHT)
    rows = [r for r in _rows() if not args.only or r[0].startswith(tuple(args.only.split(",")))]
    for _, _, fn in rows:  # warm up: imports, adapters, caches
        _measure(fn, IN_FLIGHT * 10)
    samples: dict[str, list[float]] = {name: [] for name, _, _ in rows}
    for _ in range(args.repeat):
        for name, _, fn in rows:
            samples[name].append(_measure(fn, calls))
    import wsrpc_typed

    print(f"wsrpc_typed from {wsrpc_typed.__file__}; {calls} calls x {args.repeat} runs")
    print(f"{'row':<26} {'ns/call':>9} {'spread':>7}  {'vs':<20} {'+ns/call':>9}")
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, baseline, _ in rows:
        values = samples[name]
        spread = (max(values) - min(values)) / medians[name]
        delta = f"{medians[name] - medians[baseline]:>+9,.0f}" if baseline in medians else ""
        print(
            f"{name:<26} {medians[name]:>9,.0f} {spread:>7.0%}  {baseline:<20} {delta}",
            flush=True,
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
