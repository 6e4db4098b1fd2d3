"""The two benchmark processes: a server and a load-generating client.

``bench_rpc`` spawns them; they can also be run by hand::

    python -m benchmarks.worker server --kind wsrpc --cpu 0
    # prints the port, then serves until stdin closes (or --lifetime runs out)
    python -m benchmarks.worker client --target wsrpc --workload seq \\
        --url ws://127.0.0.1:PORT --server-pid PID --cpu 1

The client runs the warm-up and the measured window itself, reads the server
process's CPU time (``/proc/PID/task/*/schedstat``, nanoseconds) and the machine's
busy time (``/proc/stat``) at the exact window edges, and prints one JSON object.

Rules of this module:

* Everything binds to and connects to 127.0.0.1; the server uses port 0 and
  prints the bound port on stdout as its readiness signal.
* Compression is off on every server and client.
* Every loop is bounded: the server by ``--lifetime`` and stdin EOF, the client
  by its window plus a fixed drain timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import statistics
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

HOST = "127.0.0.1"

#: The ws_echo payload: a 58-byte, request-sized text message (as in the anchors).
ECHO_MESSAGE = '{"id":1,"method":"add","params":{"a":1,"b":1},"pad":"xxx"}'
assert len(ECHO_MESSAGE.encode()) == 58
#: The ``echo100k`` payload: a 102,400-character string, echoed (as in the anchors).
BIG = "x" * 102_400

#: The server process each target runs against.
SERVER_KIND = {
    "ws_echo": "ws_echo",
    "wsrpc": "wsrpc",
    "wsrpc_typed": "wsrpc",
    # picows, both sides under uvloop: picows' own echo (a listener that sends back each
    # frame it gets, and a client that matches replies FIFO), and our typed calls on it.
    "picows_echo": "picows_echo",
    "wsrpc_picows": "wsrpc_picows",
    # Diagnostic targets (not run by default): a minimal hand-written orjson JSON-RPC
    # layer (the anchors' rpc_orjson), and each half of wsrpc against the other half of
    # it, to tell the cost of our server from the cost of our client.
    "rpc_orjson": "rpc_orjson",
    "wsrpc_server": "wsrpc",
    "wsrpc_client": "rpc_orjson",
    # RpcApp under uvicorn (its default WebSocket implementation, this event loop),
    # called by our client: what mounting in an ASGI app costs.
    "rpcapp_uvicorn": "rpcapp_uvicorn",
    # The peer library people pick today for RPC over WebSockets in FastAPI:
    # fastapi-websocket-rpc, its server under uvicorn and its client (the `bench` extra).
    "fastapi_ws_rpc": "fastapi_ws_rpc",
}
TARGETS = tuple(SERVER_KIND)
DEFAULT_TARGETS = ("ws_echo", "wsrpc", "wsrpc_typed", "picows_echo", "wsrpc_picows")
#: Targets whose server and client run under uvloop (on picows).
UVLOOP_TARGETS = frozenset(("picows_echo", "wsrpc_picows"))


@dataclass(frozen=True, slots=True)
class Workload:
    """Connections, calls in flight on each, and whether each call carries ``BIG``."""

    connections: int
    depth: int
    big: bool = False


WORKLOADS = {
    "seq": Workload(1, 1),
    "pipe64": Workload(1, 64),
    "conn32x8": Workload(32, 8),
    "echo100k": Workload(1, 1, big=True),
}

#: How long the client waits for its in-flight calls once the window is over.
DRAIN_TIMEOUT = 10.0

Call = Callable[[int], Awaitable[Any]]


# -- CPU accounting (Linux /proc; the fallbacks keep it portable) -----------------------


def _clock_ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):  # pragma: no cover - non-POSIX
        return 100


CLK_TCK = _clock_ticks()


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) of process ``pid`` so far, in seconds.

    Sums ``/proc/PID/task/*/schedstat`` (nanoseconds on CPU); falls back to the
    tick-resolution ``utime + stime`` of ``/proc/PID/stat``.
    """
    try:
        total = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            with (
                contextlib.suppress(FileNotFoundError, ProcessLookupError),
                open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f,
            ):
                total += int(f.read().split()[0])
        return total / 1e9
    except (FileNotFoundError, PermissionError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat", "rb") as f:
            # Fields after the parenthesised command name; utime and stime are 14 and 15.
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> tuple[float, float]:
    """Busy CPU seconds of the whole machine (all CPUs) and steal seconds, from /proc/stat."""
    try:
        with open("/proc/stat", "rb") as f:
            cpu = f.readline().split()
    except OSError:  # pragma: no cover - no /proc
        return (0.0, 0.0)
    values = [int(v) for v in cpu[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
    busy = sum(values[:8]) - values[3] - values[4]
    steal = values[7] if len(values) > 7 else 0
    return (busy / CLK_TCK, steal / CLK_TCK)


@dataclass(frozen=True, slots=True)
class Snapshot:
    wall: float
    client_cpu: float
    server_cpu: float
    machine_busy: float
    steal: float
    calls: int


def snapshot(server_pid: int, calls: int) -> Snapshot:
    busy, steal = machine_busy_seconds()
    return Snapshot(
        wall=time.perf_counter(),
        client_cpu=time.process_time(),
        server_cpu=process_cpu_seconds(server_pid),
        machine_busy=busy,
        steal=steal,
        calls=calls,
    )


def pin(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


# -- servers ------------------------------------------------------------------------------


async def _echo(ws: ServerConnection) -> None:
    # The documented websockets echo server.
    async for message in ws:
        await ws.send(message)


async def _rpc_orjson(ws: ServerConnection) -> None:
    # The anchors' rpc_orjson server: one loop per connection, the handler inline.
    recv, send, loads, dumps = ws.recv, ws.send, orjson.loads, orjson.dumps
    with contextlib.suppress(ConnectionClosed):
        while True:
            request = loads(await recv(decode=False))
            params = request["params"]
            result = params["s"] if request["method"] == "echo" else params["a"] + params["b"]
            reply = {"jsonrpc": "2.0", "id": request["id"], "result": result}
            await send(dumps(reply), text=True)


def _picows_echo_listener() -> Any:
    """picows' echo server listener: each text frame goes back as it came."""
    from picows import WSListener, WSMsgType

    text = WSMsgType.TEXT

    class Echo(WSListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type is text:
                transport.send(text, frame.get_payload_as_bytes())
            elif frame.msg_type is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    return Echo()


def _bench_router() -> Any:
    """The benchmark's router: ``add`` and ``echo``."""
    from wsrpc_typed import Router

    router = Router()

    @router.method
    async def add(a: int, b: int) -> int:
        return a + b

    @router.method
    async def echo(s: str) -> str:
        return s

    return router


async def start_wsrpc_server(transport: str = "websockets") -> Any:
    """Our server with the benchmark's router (port 0); the caller closes it."""
    from wsrpc_typed import Server

    server = Server(_bench_router(), host=HOST, port=0, compression=None, transport=transport)  # type: ignore[arg-type]
    await server.open()
    return server


async def start_uvicorn(app: Any) -> tuple[Any, asyncio.Task[None], int]:
    """``app`` under uvicorn on 127.0.0.1 port 0: the server, its task and its port."""
    import socket

    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield  # the worker handles its own signals

    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((HOST, 0))
    config = uvicorn.Config(app, log_level="warning", ws_per_message_deflate=False)
    server = Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise SystemExit("uvicorn stopped at startup")
        await asyncio.sleep(0.01)
    port: int = sock.getsockname()[1]
    return server, task, port


def rpcapp() -> Any:
    """RpcApp with the benchmark's router."""
    from wsrpc_typed.asgi import RpcApp

    return RpcApp(_bench_router())


def fastapi_ws_rpc_app() -> Any:
    """fastapi-websocket-rpc's endpoint with the same two methods, at ``/``."""
    try:
        from fastapi import FastAPI
        from fastapi_websocket_rpc import RpcMethodsBase, WebsocketRPCEndpoint
    except ModuleNotFoundError:
        raise SystemExit(
            'fastapi_ws_rpc needs the bench extra: pip install -e ".[bench]"'
        ) from None

    class Methods(RpcMethodsBase):  # type: ignore[misc]
        async def add(self, a: int, b: int) -> int:
            return a + b

        async def echo(self, s: str) -> str:
            return s

    app = FastAPI()
    WebsocketRPCEndpoint(Methods()).register_route(app, "/")
    return app


async def _run_server(kind: str, lifetime: float) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    stdin = sys.stdin.fileno()

    def on_stdin() -> None:
        # The parent closes our stdin (or dies): stop.
        if not os.read(stdin, 4096):
            loop.remove_reader(stdin)
            stop.set()

    loop.add_reader(stdin, on_stdin)

    async def serve_until_stopped(port: int) -> None:
        print(port, flush=True)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(lifetime):
                await stop.wait()

    if kind == "ws_echo":
        async with serve(_echo, HOST, 0, compression=None) as ws_server:
            await serve_until_stopped(ws_server.sockets[0].getsockname()[1])
    elif kind == "rpc_orjson":
        async with serve(_rpc_orjson, HOST, 0, compression=None) as ws_server:
            await serve_until_stopped(ws_server.sockets[0].getsockname()[1])
    elif kind == "picows_echo":
        from picows import ws_create_server

        picows_server = await ws_create_server(lambda _request: _picows_echo_listener(), HOST, 0)
        async with picows_server:
            await serve_until_stopped(picows_server.sockets[0].getsockname()[1])
    elif kind in ("wsrpc", "wsrpc_picows"):
        server = await start_wsrpc_server("picows" if kind == "wsrpc_picows" else "websockets")
        try:
            await serve_until_stopped(server.port)
        finally:
            await server.close()
    elif kind in ("rpcapp_uvicorn", "fastapi_ws_rpc"):
        app = rpcapp() if kind == "rpcapp_uvicorn" else fastapi_ws_rpc_app()
        uvicorn_server, task, port = await start_uvicorn(app)
        try:
            await serve_until_stopped(port)
        finally:
            uvicorn_server.should_exit = True
            await task
    else:
        raise SystemExit(f"unknown server kind {kind!r}")


# -- clients ------------------------------------------------------------------------------


class EchoClient:
    """The ws_echo load client: replies matched FIFO with a deque of futures, no parsing."""

    def __init__(self, ws: ClientConnection, message: str = ECHO_MESSAGE) -> None:
        self._ws = ws
        self._message = message
        self._waiters: deque[asyncio.Future[str | bytes]] = deque()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self._ws:
                self._waiters.popleft().set_result(message)
        finally:
            while self._waiters:
                waiter = self._waiters.popleft()
                if not waiter.done():
                    waiter.set_exception(ConnectionError("connection closed"))

    async def call(self, i: int) -> str | bytes:
        future: asyncio.Future[str | bytes] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        await self._ws.send(self._message)
        return await future

    async def close(self) -> None:
        await self._ws.close()
        with contextlib.suppress(Exception):
            await self._reader


class PicowsEchoClient:
    """The picows_echo load client: a listener resolves the oldest waiter with each reply."""

    def __init__(self, message: str) -> None:
        self._message = message.encode()
        self._waiters: deque[asyncio.Future[str]] = deque()
        self._transport: Any = None

    async def open(self, url: str) -> None:
        from picows import WSListener, WSMsgType, ws_connect

        waiters, text = self._waiters, WSMsgType.TEXT

        class Replies(WSListener):
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type is text:
                    waiters.popleft().set_result(frame.get_payload_as_utf8_text())

            def on_ws_disconnected(self, transport: Any) -> None:
                while waiters:
                    waiters.popleft().set_exception(ConnectionError("connection closed"))

        self._transport, _ = await ws_connect(Replies, url)
        self._text = text

    async def call(self, i: int) -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._transport.send(self._text, self._message)
        return await future

    async def close(self) -> None:
        self._transport.send_close()
        self._transport.disconnect()
        await self._transport.wait_disconnected()


class OrjsonClient:
    """The anchors' rpc_orjson client: an id -> Future map and one reader task, orjson."""

    def __init__(
        self, ws: ClientConnection, extra: dict[str, Any] | None = None, big: bool = False
    ) -> None:
        self._ws = ws
        self._extra = extra or {}
        self._big = big
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        recv, loads, pending = self._ws.recv, orjson.loads, self._pending
        try:
            while True:
                reply = loads(await recv(decode=False))
                future = pending.pop(reply["id"], None)
                if future is not None and not future.done():
                    future.set_result(reply["result"])
        except ConnectionClosed:
            pass
        finally:
            for future in pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))

    async def call(self, i: int) -> Any:
        id_ = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[id_] = future
        request: dict[str, Any] = (
            {"jsonrpc": "2.0", "id": id_, "method": "echo", "params": {"s": BIG}}
            if self._big
            else {"jsonrpc": "2.0", "id": id_, "method": "add", "params": {"a": i, "b": 1}}
        )
        if self._extra:
            request.update(self._extra)
        await self._ws.send(orjson.dumps(request), text=True)
        return await future

    async def close(self) -> None:
        await self._ws.close()
        with contextlib.suppress(Exception):
            await self._reader


async def _open_fastapi_ws_rpc(url: str, big: bool) -> tuple[Call, Callable[[], Awaitable[None]]]:
    """fastapi-websocket-rpc's client: ``await client.other.add(a=..., b=...)``."""
    from fastapi_websocket_rpc import RpcMethodsBase, WebSocketRpcClient

    client = WebSocketRpcClient(url, RpcMethodsBase())
    await client.__aenter__()

    async def call(i: int) -> Any:
        if big:
            return (await client.other.echo(s=BIG)).result
        return (await client.other.add(a=i, b=1)).result

    async def close() -> None:
        await client.__aexit__(None, None, None)

    if await call(41) != (BIG if big else 42):
        raise SystemExit("fastapi_ws_rpc: the first call did not return what it should")
    return call, close


async def _open_client(
    target: str, url: str, big: bool = False
) -> tuple[Call, Callable[[], Awaitable[None]]]:
    """Connect as ``target``; return its call function (checked once) and its closer."""
    if target == "ws_echo":
        message = BIG if big else ECHO_MESSAGE
        echo = EchoClient(await ws_connect(url, compression=None, max_size=None), message)
        if await echo.call(0) != message:
            raise SystemExit("ws_echo: the server did not echo the message")
        return echo.call, echo.close
    if target == "picows_echo":
        message = BIG if big else ECHO_MESSAGE
        picows_echo = PicowsEchoClient(message)
        await picows_echo.open(url)
        if await picows_echo.call(0) != message:
            raise SystemExit("picows_echo: the server did not echo the message")
        return picows_echo.call, picows_echo.close
    if target in ("rpc_orjson", "wsrpc_server"):
        # Against our server, send what our client sends: its default 30 s timeout
        # travels with every request (a JSON-RPC extension), and the server honours it.
        extra = {"timeout": 30.0} if target == "wsrpc_server" else None
        raw = OrjsonClient(await ws_connect(url, compression=None, max_size=None), extra, big)
        expected: Any = BIG if big else 42
        if await raw.call(41) != expected:
            raise SystemExit(f"{target}: the first call did not return {str(expected)[:10]}")
        return raw.call, raw.close

    if target == "fastapi_ws_rpc":
        return await _open_fastapi_ws_rpc(url, big)

    import wsrpc_typed

    transport = "picows" if target == "wsrpc_picows" else "websockets"
    conn = await wsrpc_typed.connect(url, compression=None, transport=transport)  # type: ignore[arg-type]

    async def call_untyped(i: int) -> Any:
        return await conn.call("add", {"a": i, "b": 1})

    async def call_typed(i: int) -> int:
        return await conn.call("add", {"a": i, "b": 1}, result_type=int)

    async def echo_untyped(i: int) -> Any:
        return await conn.call("echo", {"s": BIG})

    async def echo_typed(i: int) -> str:
        return await conn.call("echo", {"s": BIG}, result_type=str)

    call: Call
    if target in ("wsrpc", "wsrpc_client", "rpcapp_uvicorn"):
        call = echo_untyped if big else call_untyped
    elif target in ("wsrpc_typed", "wsrpc_picows"):
        call = echo_typed if big else call_typed
    else:
        raise SystemExit(f"unknown target {target!r}")
    if await call(41) != (BIG if big else 42):
        raise SystemExit(f"{target}: the first call did not return what it should")
    return call, conn.close


@dataclass(slots=True)
class LoadState:
    done: int = 0
    measuring: bool = False
    stop: bool = False
    latencies_ns: list[int] = field(default_factory=list)
    error: BaseException | None = None


async def _caller(call: Call, state: LoadState, first: int) -> None:
    now = time.perf_counter_ns
    latencies = state.latencies_ns
    i = first
    try:
        while not state.stop:
            t0 = now()
            await call(i)
            t1 = now()
            state.done += 1
            if state.measuring:
                latencies.append(t1 - t0)
            i += 1
    except Exception as exc:
        state.error = exc
        state.stop = True


def _quantile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[index])


async def run_client(
    target: str,
    workload: str,
    url: str,
    server_pid: int,
    warmup: float,
    seconds: float,
    *,
    on_window: tuple[Callable[[], None], Callable[[], None]] | None = None,
) -> dict[str, Any]:
    """Load the server at ``url`` as ``target``; measure one window after the warm-up.

    ``on_window`` is called at the start and the end of the measured window
    (the profiler uses it).
    """
    shape = WORKLOADS[workload]
    clients = [await _open_client(target, url, shape.big) for _ in range(shape.connections)]
    state = LoadState()
    depth = shape.connections * shape.depth
    callers = [
        asyncio.create_task(_caller(call, state, (n * shape.depth + k) * 1_000_000))
        for n, (call, _) in enumerate(clients)
        for k in range(shape.depth)
    ]
    try:
        await asyncio.sleep(warmup)
        if on_window is not None:
            on_window[0]()
        start = snapshot(server_pid, state.done)
        state.measuring = True
        await asyncio.sleep(seconds)
        end = snapshot(server_pid, state.done)
        if on_window is not None:
            on_window[1]()
        state.measuring = False
        state.stop = True
        async with asyncio.timeout(DRAIN_TIMEOUT):
            await asyncio.gather(*callers)
    finally:
        for task in callers:
            task.cancel()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(DRAIN_TIMEOUT):
                await asyncio.gather(*(close() for _, close in clients))
    if state.error is not None:
        raise SystemExit(f"{target}/{workload}: a call failed: {state.error!r}")
    wall = end.wall - start.wall
    calls = end.calls - start.calls
    latencies = sorted(state.latencies_ns)
    server_cpu = end.server_cpu - start.server_cpu
    client_cpu = end.client_cpu - start.client_cpu
    busy = end.machine_busy - start.machine_busy
    return {
        "target": target,
        "workload": workload,
        "in_flight": depth,
        "calls": calls,
        "wall_s": wall,
        "calls_per_s": calls / wall,
        "p50_us": _quantile(latencies, 0.50) / 1e3,
        "p99_us": _quantile(latencies, 0.99) / 1e3,
        "mean_us": statistics.fmean(latencies) / 1e3 if latencies else float("nan"),
        "server_cpu_s": server_cpu,
        "client_cpu_s": client_cpu,
        "server_us_per_call": server_cpu / calls * 1e6 if calls else float("nan"),
        "client_us_per_call": client_cpu / calls * 1e6 if calls else float("nan"),
        "server_cores": server_cpu / wall,
        "client_cores": client_cpu / wall,
        "foreign_cores": max(0.0, (busy - server_cpu - client_cpu) / wall),
        "steal_cores": (end.steal - start.steal) / wall,
        "wsrpc_typed_file": getattr(sys.modules.get("wsrpc_typed"), "__file__", None),
    }


# -- command line ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker", description=__doc__)
    roles = parser.add_subparsers(dest="role", required=True)
    srv = roles.add_parser("server", help="serve until stdin closes; print the port first")
    srv.add_argument("--kind", choices=sorted(set(SERVER_KIND.values())), required=True)
    srv.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    srv.add_argument("--lifetime", type=float, default=120.0, help="exit after this many s")
    cli = roles.add_parser("client", help="load one server, print one JSON result")
    cli.add_argument("--target", choices=TARGETS, required=True)
    cli.add_argument("--workload", choices=tuple(WORKLOADS), required=True)
    cli.add_argument("--url", required=True)
    cli.add_argument("--server-pid", type=int, required=True)
    cli.add_argument("--warmup", type=float, default=1.0)
    cli.add_argument("--seconds", type=float, default=3.0)
    cli.add_argument("--cpu", type=int, default=None, help="pin to this CPU")
    args = parser.parse_args(argv)
    pin(args.cpu)
    uvloop = (args.kind if args.role == "server" else args.target) in UVLOOP_TARGETS
    with asyncio.Runner(loop_factory=_uvloop_factory() if uvloop else None) as runner:
        if args.role == "server":
            runner.run(_run_server(args.kind, args.lifetime))
        else:
            result = runner.run(
                run_client(
                    args.target,
                    args.workload,
                    args.url,
                    args.server_pid,
                    args.warmup,
                    args.seconds,
                )
            )
            print(json.dumps(result), flush=True)


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    import uvloop

    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


if __name__ == "__main__":
    main()
