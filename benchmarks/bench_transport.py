"""Transport benchmark: an echo over loopback, through our websockets adapter and websockets'.

Usage::

    .venv/bin/python -m benchmarks.bench_transport [--rounds N] [--seconds S]

Targets (the server side; the client is the same websockets asyncio client for all):

* ``ws_echo``: the documented websockets asyncio echo server (``async for`` + ``send``).
  The baseline.
* ``sansio``: ``wsrpc_typed.adapters.websockets.serve`` with ``WebsocketsProtocol`` echoing.

Workloads: ``seq`` (one 58-byte text message in flight) and ``pipe64`` (64 in flight).

Method: every cell (round x workload x target) gets a fresh server process (pinned
to another CPU than the client when two are available); rounds are interleaved and
the target order rotates every round, after one discarded cell. Reported: medians
of messages/s over rounds, and the median of the per-round ratios target / ws_echo.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import MutableMapping
from typing import Any

from .bench_rpc import _cpus

TARGETS = ("ws_echo", "sansio")
WORKLOADS = {"seq": 1, "pipe64": 64}
MESSAGE = '{"jsonrpc":"2.0","method":"add","params":[1,2],"id":12345}'[:58]


# Servers (run in a child process: ``--serve TARGET``)


async def _serve_ws_echo() -> Any:
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    return await serve(echo, "127.0.0.1", 0, compression=None)


class _Echo:
    """A TransportHandler that sends every message back."""

    __slots__ = ("transport",)

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    def message_received(self, message: bytes | str, /) -> None:
        if isinstance(message, str):
            self.transport.send(message.encode(), text=True)
        else:
            self.transport.send(message, text=False)

    def connection_lost(self, exc: Exception, /) -> None:
        pass


class _EchoAcceptor:
    """Accepts every handshake and echoes on the connection."""

    async def handshake(self, handshake: Any, /) -> Any:
        from wsrpc_typed.transport import Accepted

        return Accepted(None)

    def response_headers(self, headers: MutableMapping[str, str], request: Any, /) -> None:
        pass

    def attach(self, transport: Any, accepted: Any, /) -> None:
        transport.start(_Echo(transport))


async def _serve_sansio() -> Any:
    from wsrpc_typed.adapters.websockets import serve

    return await serve(_EchoAcceptor(), "127.0.0.1", 0)


async def _serve(target: str) -> None:
    starters = {
        "ws_echo": _serve_ws_echo,
        "sansio": _serve_sansio,
    }
    server = await starters[target]()
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin


# Client (in this process)


async def _echo_rate(port: int, in_flight: int, warmup: float, seconds: float) -> float:
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:

        async def window(duration: float) -> float:
            for _ in range(in_flight):
                await ws.send(MESSAGE)
            count = 0
            started = time.perf_counter()
            end = started + duration
            while True:
                await ws.recv()
                count += 1
                if time.perf_counter() >= end:
                    break
                await ws.send(MESSAGE)
            elapsed = time.perf_counter() - started
            for _ in range(in_flight - 1):
                await ws.recv()
            return count / elapsed

        await window(warmup)
        return await window(seconds)


def run_cell(target: str, workload: str, warmup: float, seconds: float) -> float:
    """Messages per second of one target and workload, with a fresh server process."""
    server_cpu, client_cpu = _cpus()
    argv = [sys.executable, "-m", "benchmarks.bench_transport", "--serve", target]
    if server_cpu is not None:
        argv = ["taskset", "-c", str(server_cpu), *argv]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        if client_cpu is not None:
            import os

            os.sched_setaffinity(0, {client_cpu})
        return asyncio.run(_echo_rate(port, WORKLOADS[workload], warmup, seconds))
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with ``--serve``, one echo server) and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--serve", choices=TARGETS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve(args.serve))
        return 0
    rates: dict[tuple[str, str], list[float]] = {}
    run_cell(TARGETS[0], "seq", args.warmup, args.warmup)  # discarded: caches, CPU clocks
    for round_ in range(args.rounds):
        shift = round_ % len(TARGETS)
        order = TARGETS[shift:] + TARGETS[:shift]
        for workload in WORKLOADS:
            for target in order:
                rate = run_cell(target, workload, args.warmup, args.seconds)
                rates.setdefault((target, workload), []).append(rate)
                print(f"round {round_ + 1} {workload:7} {target:13} {rate:10.0f} msg/s", flush=True)
    print()
    print(f"{'workload':8} {'target':13} {'median msg/s':>13} {'ratio to ws_echo':>17}")
    for workload in WORKLOADS:
        base = rates[("ws_echo", workload)]
        for target in TARGETS:
            values = rates[(target, workload)]
            ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
            print(f"{workload:8} {target:13} {statistics.median(values):13.0f} {ratio:17.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
