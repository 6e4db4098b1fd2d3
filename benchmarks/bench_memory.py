"""Memory per idle connection: a wsrpc-typed server beside a raw ``websockets`` echo server.

Usage::

    .venv/bin/python -m benchmarks.bench_memory [--connections N] [--repeat R] [--breakdown]

Targets (the server side; the clients are the same raw websockets clients for all):

* ``ws_echo``: the documented websockets asyncio echo server (compression off, as
  our server's default). The baseline.
* ``wsrpc``: ``wsrpc_typed.Server`` serving a small router, default options.
* ``picows_echo``: picows' echo server under uvloop (a listener per connection).
* ``wsrpc_picows``: ``wsrpc_typed.Server(transport="picows")`` under uvloop.

Method: per round and target, a fresh server process; after a warm-up (a few
connections opened and closed, then ``gc.collect()``) it reports its resident set
(``VmRSS``). A separate client process opens ``N`` idle connections in batches;
once the server counts them all and has settled, it reports ``VmRSS`` again. The
growth divided by ``N`` is the cost of one idle connection. Rounds alternate the
targets. Reported: the median KiB per connection of each target and the median of
the per-round ratios target / ws_echo. ``--breakdown`` adds, for our server, a
``tracemalloc`` diff of the same step grouped by file (the largest 15).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

TARGETS = ("ws_echo", "wsrpc", "picows_echo", "wsrpc_picows")
#: Servers that run under uvloop (the fast transport's stack).
UVLOOP = frozenset(("picows_echo", "wsrpc_picows"))
BATCH = 100
TIMEOUT = 60.0


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


# -- the server process: ``--serve TARGET``; answers "rss", "count", "snap", "diff" ----------


async def _serve(target: str, breakdown: bool) -> None:
    _raise_fd_limit()
    if target == "ws_echo":
        from websockets.asyncio.server import ServerConnection, serve
        from websockets.exceptions import ConnectionClosed

        live: set[ServerConnection] = set()

        async def echo(ws: ServerConnection) -> None:
            live.add(ws)
            try:
                async for message in ws:
                    await ws.send(message)
            except ConnectionClosed:
                pass  # the clients drop their connections at the end
            finally:
                live.discard(ws)

        server: Any = await serve(echo, "127.0.0.1", 0, compression=None)
        port = server.sockets[0].getsockname()[1]

        def count() -> int:
            return len(live)
    elif target == "picows_echo":
        from picows import WSListener, WSMsgType, ws_create_server

        listeners: set[Any] = set()

        class Echo(WSListener):
            def on_ws_connected(self, transport: Any) -> None:
                listeners.add(self)

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type is WSMsgType.TEXT:
                    transport.send(WSMsgType.TEXT, frame.get_payload_as_bytes())

            def on_ws_disconnected(self, transport: Any) -> None:
                listeners.discard(self)

        server = await ws_create_server(lambda _request: Echo(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        def count() -> int:
            return len(listeners)
    else:
        from wsrpc_typed import Router, Server

        router = Router()

        @router.method
        async def add(a: int, b: int) -> int:
            return a + b

        transport = "picows" if target == "wsrpc_picows" else "websockets"
        server = Server(router, port=0, transport=transport)  # type: ignore[arg-type]
        await server.open()
        port = server.port

        def count() -> int:
            return len(server.connections)

    if breakdown:
        import tracemalloc

        tracemalloc.start(1)
    snapshot: Any = None
    print(port, flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "rss":
            gc.collect()
            answer: Any = _rss_kib()
        elif line == "count":
            answer = count()
        elif line == "snap":
            gc.collect()
            snapshot = tracemalloc.take_snapshot() if breakdown else None
            answer = "ok"
        elif line == "diff":
            answer = _diff(snapshot) if breakdown else ""
        else:
            answer = f"unknown command {line!r}"
        print(answer, flush=True)


def _diff(before: Any) -> str:
    import tracemalloc

    gc.collect()
    after = tracemalloc.take_snapshot()
    stats = after.compare_to(before, "filename")[:15]
    lines = []
    for stat in stats:
        frame = stat.traceback[0]
        name = frame.filename
        for marker in ("site-packages/", "/wsrpc_typed/", "/lib/python"):
            if marker in name:
                name = name[name.index(marker) :]
                break
        lines.append(f"{stat.size_diff / 1024:9.1f} KiB  {stat.count_diff:7d} blocks  {name}")
    return " | ".join(lines)


# -- the client process: ``--client URL N``; opens N connections, waits for "close" ----------


async def _clients(url: str, n: int) -> None:
    _raise_fd_limit()
    from websockets.asyncio.client import connect

    conns: list[Any] = []
    for start in range(0, n, BATCH):
        batch = [connect(url, compression=None) for _ in range(min(BATCH, n - start))]
        conns += await asyncio.gather(*batch)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for conn in conns:
        conn.transport.abort()


# -- the harness ----------------------------------------------------------------------------


class _Child:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_memory", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=os.getcwd(),
        )

    def line(self) -> str:
        assert self.proc.stdout is not None
        out = self.proc.stdout.readline()
        if not out:
            raise RuntimeError(f"child {self.proc.args!r} ended early")
        return out.strip()

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.line()

    def stop(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(5)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            self.proc.kill()
            self.proc.wait()


def _wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {TIMEOUT} s")
        time.sleep(0.05)


def measure(target: str, n: int, breakdown: bool = False) -> tuple[float, str]:
    """KiB of server RSS per idle connection (and the breakdown, when asked)."""
    server = _Child("--serve", target, *(["--breakdown"] if breakdown else []))
    try:
        url = f"ws://127.0.0.1:{server.line()}"
        warm = _Child("--client", url, "20")
        warm.line()
        warm.stop()
        _wait_for(lambda: server.ask("count") == "0", "warm-up connections closed")
        before = int(server.ask("rss"))
        server.ask("snap")
        clients = _Child("--client", url, str(n))
        try:
            clients.line()
            _wait_for(lambda: server.ask("count") == str(n), f"{n} connections counted")
            time.sleep(0.5)
            after = int(server.ask("rss"))
            detail = server.ask("diff")
        finally:
            clients.stop()
        return (after - before) / n, detail
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000, help="idle connections (1000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--breakdown", action="store_true", help="tracemalloc diff by file")
    parser.add_argument("--serve", choices=TARGETS, help=argparse.SUPPRESS)
    parser.add_argument("--client", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        if args.serve in UVLOOP:
            import uvloop

            uvloop.run(_serve(args.serve, args.breakdown))
        else:
            asyncio.run(_serve(args.serve, args.breakdown))
        return
    if args.client:
        asyncio.run(_clients(args.client[0], int(args.client[1])))
        return
    per: dict[str, list[float]] = {target: [] for target in TARGETS}
    for round_ in range(args.repeat):
        order = TARGETS if round_ % 2 == 0 else TARGETS[::-1]
        for target in order:
            kib, _ = measure(target, args.connections)
            per[target].append(kib)
            print(f"round {round_ + 1} {target:12} {kib:6.2f} KiB/connection", flush=True)
    print(f"\n{args.connections} idle connections, {args.repeat} rounds (medians):")
    for target in TARGETS:
        print(f"  {target:12} {statistics.median(per[target]):6.2f} KiB/connection")
    for target in TARGETS[1:]:
        ratios = [ours / raw for ours, raw in zip(per[target], per["ws_echo"], strict=True)]
        print(f"ratio {target}/ws_echo={statistics.median(ratios):.3f}")
    if args.breakdown:
        _, detail = measure("wsrpc", args.connections, breakdown=True)
        print("\nwhere our server's memory goes (tracemalloc, growth by file):")
        for line in detail.split(" | "):
            print("  " + line)


if __name__ == "__main__":
    main()
