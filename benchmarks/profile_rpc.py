"""Profile one side of a wsrpc pair under load, the other side being a minimal peer.

Usage::

    .venv/bin/python -m benchmarks.profile_rpc server [--workload seq] [--profiler cprofile]
    .venv/bin/python -m benchmarks.profile_rpc client [--target wsrpc_typed] [--out FILE]

* ``server``: our ``wsrpc_typed.Server`` runs in this process (pinned to the first
  CPU) under the profiler; the load comes from ``--target`` in a separate process on
  the second CPU: our client (``wsrpc``, the default, or ``wsrpc_typed``), or the
  minimal orjson JSON-RPC client (``wsrpc_server``; it sends our client's timeout).
* ``client``: our client runs here under the profiler; it calls the minimal orjson
  JSON-RPC server (the anchors' ``rpc_orjson``) in a separate process.

Only the measured window is profiled. ``cprofile`` (stdlib, deterministic: it inflates
the cost of small calls) or ``pyinstrument`` (sampling; ``pip install pyinstrument``
into the venv, it is not a project dependency). Output goes to stdout or ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import importlib
import io
import os
import pstats
import sys
from collections.abc import Callable
from typing import Any

from .worker import HOST, WORKLOADS, pin, run_client


class Profiler:
    """cProfile or pyinstrument behind one start/stop/report interface."""

    def __init__(self, kind: str, interval: float) -> None:
        self.kind = kind
        self._cprofile: cProfile.Profile | None = None
        self._pyinstrument: Any = None
        if kind == "cprofile":
            self._cprofile = cProfile.Profile()
        else:
            module = importlib.import_module("pyinstrument")
            self._pyinstrument = module.Profiler(interval=interval, async_mode="disabled")

    def start(self) -> None:
        if self._cprofile is not None:
            self._cprofile.enable()
        else:
            self._pyinstrument.start()

    def stop(self) -> None:
        if self._cprofile is not None:
            self._cprofile.disable()
        else:
            self._pyinstrument.stop()

    def report(self, top: int) -> str:
        if self._cprofile is not None:
            out = io.StringIO()
            stats = pstats.Stats(self._cprofile, stream=out)
            stats.sort_stats("tottime").print_stats(top)
            stats.sort_stats("cumulative").print_stats(top)
            return out.getvalue()
        text: str = self._pyinstrument.output_text(unicode=True, color=False, show_all=False)
        return text


def _cpus() -> tuple[int | None, int | None]:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)


def _worker(*args: str, cpu: int | None) -> list[str]:
    argv = [sys.executable, "-m", "benchmarks.worker", *args]
    return argv + (["--cpu", str(cpu)] if cpu is not None else [])


async def profile_server(
    target: str, workload: str, warmup: float, seconds: float, prof: Profiler
) -> str:
    from .worker import start_wsrpc_server

    here, there = _cpus()
    pin(here)
    server = await start_wsrpc_server()
    try:
        client = await asyncio.create_subprocess_exec(
            *_worker(
                "client",
                "--target",
                target,
                "--workload",
                workload,
                "--url",
                f"ws://{HOST}:{server.port}",
                "--server-pid",
                str(os.getpid()),
                "--warmup",
                str(warmup),
                "--seconds",
                str(seconds),
                cpu=there,
            ),
            stdout=asyncio.subprocess.PIPE,
        )
        await asyncio.sleep(warmup + 0.3)  # the client connects, then warms up
        prof.start()
        try:
            async with asyncio.timeout(seconds + 60):
                out, _ = await client.communicate()
        finally:
            prof.stop()
        return out.decode().strip()
    finally:
        await server.close()


async def profile_client(
    target: str, workload: str, warmup: float, seconds: float, prof: Profiler
) -> str:
    here, there = _cpus()
    pin(here)
    server = await asyncio.create_subprocess_exec(
        *_worker(
            "server", "--kind", "rpc_orjson", "--lifetime", str(warmup + seconds + 60), cpu=there
        ),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        async with asyncio.timeout(30):
            port = int((await server.stdout.readline()).decode())
        window: tuple[Callable[[], None], Callable[[], None]] = (prof.start, prof.stop)
        result = await run_client(
            target, workload, f"ws://{HOST}:{port}", server.pid, warmup, seconds, on_window=window
        )
        return repr(result)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await server.wait()
        if server.returncode is None:
            server.terminate()
            await server.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_rpc", description=__doc__)
    parser.add_argument("side", choices=("server", "client"))
    parser.add_argument(
        "--target",
        choices=("wsrpc", "wsrpc_typed", "wsrpc_server"),
        default="wsrpc",
        help="client side: our client's variant; server side: the load client (default wsrpc)",
    )
    parser.add_argument("--workload", choices=tuple(WORKLOADS), default="pipe64")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--profiler", choices=("cprofile", "pyinstrument"), default="cprofile")
    parser.add_argument("--interval", type=float, default=0.0001, help="pyinstrument sampling s")
    parser.add_argument("--top", type=int, default=45, help="cProfile rows per listing")
    parser.add_argument("--out", default=None, help="write the report here (default stdout)")
    args = parser.parse_args(argv)
    prof = Profiler(args.profiler, args.interval)
    if args.side == "server":
        coro = profile_server(args.target, args.workload, args.warmup, args.seconds, prof)
        load = asyncio.run(coro)
    else:
        if args.target == "wsrpc_server":
            parser.error("--target wsrpc_server is a load client: use it with 'server'")
        coro = profile_client(args.target, args.workload, args.warmup, args.seconds, prof)
        load = asyncio.run(coro)
    text = f"{args.side} {args.target} {args.workload} under {args.profiler}\nload: {load}\n\n"
    text += prof.report(args.top)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
