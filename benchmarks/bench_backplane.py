"""Across workers through Redis, against the same work inside one worker, in one run.

Two measurements, each a ratio of the cross-worker form to the local form, per round
(the median over rounds is the headline):

* **addressed call**: a client asks its worker to call another client by connection id
  (``ctx.server.peer(id).call("double", ...)``), one call in flight. Local: both clients
  on worker 1 (the call is a ``connection.call``). Cross: the target on worker 2, so
  the call goes worker 1 -> Redis -> worker 2 -> client and back. Reported: round trips
  per second, p50 and p99.
* **fan-out**: one call publishes ``--messages`` notifications to ``--subscribers``
  connections. Local: all on worker 1, sent with ``broadcast``. Cross: spread over 3
  workers, sent with ``publish`` to a topic. Reported: deliveries per second, from the
  call until every subscriber has every message.

Every process is real: ``redis-server`` (Debian's) on a free loopback port without
persistence, three ``wsrpc serve --backplane`` workers, and this process as every client.
On a shared 2-core machine the absolute numbers move from run to run; compare the ratios.

    python -m benchmarks.bench_backplane                  # 5 rounds
    python -m benchmarks.bench_backplane --quick          # smoke: 1 short round, 50 subscribers
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from wsrpc_typed import Client, Context, Router, connect

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent

router = Router()


@router.method
async def me(ctx: Context) -> str:
    return ctx.connection_id


@router.method
async def ask(ctx: Context, target: str, x: int) -> int:
    result: int = await ctx.server.peer(target).call("double", {"x": x})
    return result


@router.method
async def enter(ctx: Context, topic: str) -> None:
    await ctx.join(topic)


@router.method
async def fanout(ctx: Context, topic: str, messages: int, local: bool) -> None:
    for seq in range(messages):
        if local:
            await ctx.server.broadcast("tick", {"seq": seq}, where=lambda c: topic in c.topics)
        else:
            await ctx.server.publish(topic, "tick", {"seq": seq})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway ``redis-server`` on a free loopback port; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is missing: apt-get install -y redis-server")
    port = _free_port()
    with tempfile.TemporaryDirectory() as directory:
        args = [binary, "--port", str(port), "--bind", HOST, "--dir", directory]
        args += ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(OSError), socket.create_connection((HOST, port), 1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
                if time.monotonic() > deadline:
                    sys.exit("redis-server did not start")
                time.sleep(0.02)
            yield f"redis://{HOST}:{port}/0"
        finally:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def workers(redis_url: str, count: int) -> Iterator[list[str]]:
    """``count`` ``wsrpc serve`` processes linked by ``redis_url``; yields their URLs."""
    procs, urls = [], []
    try:
        for _ in range(count):
            argv = ["serve", "benchmarks.bench_backplane:router", "--port", "0"]
            argv += ["--backplane", redis_url, "--log-level", "warning", "--max-in-flight", "1024"]
            proc = subprocess.Popen(
                [sys.executable, "-m", "wsrpc_typed.cli", *argv],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                sys.exit("a worker did not start")
            urls.append(line.rsplit(" ", 1)[1].strip())
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()


class Subscriber:
    def __init__(self) -> None:
        self.got = 0
        self.router = Router()

        @self.router.method
        async def tick(seq: int) -> None:
            self.got += 1

        @self.router.method
        async def double(x: int) -> int:
            return 2 * x


@contextlib.asynccontextmanager
async def clients(
    urls: list[str], count: int, topic: str
) -> AsyncIterator[tuple[list[Subscriber], list[Client]]]:
    """``count`` clients spread over ``urls`` round-robin, each a member of ``topic``."""
    subs = [Subscriber() for _ in range(count)]
    async with contextlib.AsyncExitStack() as stack:
        conns = []
        for i, sub in enumerate(subs):
            url = urls[i % len(urls)]
            conns.append(await stack.enter_async_context(connect(url, router=sub.router)))
        await asyncio.gather(*(conn.call("enter", {"topic": topic}) for conn in conns))
        yield subs, conns


async def addressed(driver: Client, target: str, seconds: float) -> tuple[float, float, float]:
    """Sequential ``ask`` round trips for ``seconds``: (per second, p50 ms, p99 ms)."""
    latencies = []
    end = time.perf_counter() + seconds
    while (now := time.perf_counter()) < end:
        assert await driver.call("ask", {"target": target, "x": 3}) == 6
        latencies.append(time.perf_counter() - now)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[len(latencies) * 99 // 100] * 1000
    return len(latencies) / seconds, p50, p99


async def fan(publisher: Client, subs: list[Subscriber], topic: str, n: int, local: bool) -> float:
    """Deliveries per second of ``n`` messages to every subscriber."""
    for sub in subs:
        sub.got = 0
    want = n * len(subs)
    started = time.perf_counter()
    await publisher.call("fanout", {"topic": topic, "messages": n, "local": local}, timeout=120)
    while sum(sub.got for sub in subs) < want:
        if time.perf_counter() - started > 120:
            raise RuntimeError("the fan-out did not complete within 120 s")
        await asyncio.sleep(0.001)
    return want / (time.perf_counter() - started)


async def run(rounds: int, seconds: float, subscribers: int, messages: int) -> None:
    with redis_server() as redis_url, workers(redis_url, 3) as urls:
        one = urls[:1]
        async with (
            connect(urls[0]) as driver,
            connect(urls[0], router=Subscriber().router) as near,
            connect(urls[1], router=Subscriber().router) as far,
            clients(one, subscribers, "local") as (local_subs, _),
            clients(urls, subscribers, "cross") as (cross_subs, _),
        ):
            near_id, far_id = await near.call("me"), await far.call("me")
            rows: dict[str, list[tuple[float, ...]]] = {k: [] for k in ("local", "cross")}
            fans: dict[str, list[float]] = {"broadcast": [], "publish": []}
            await addressed(driver, near_id, min(seconds, 0.5))  # warm-up
            await addressed(driver, far_id, min(seconds, 0.5))
            for r in range(rounds):
                order = ["local", "cross"] if r % 2 == 0 else ["cross", "local"]
                for kind in order:
                    target = near_id if kind == "local" else far_id
                    rows[kind].append(await addressed(driver, target, seconds))
                for kind in order:
                    subs = local_subs if kind == "local" else cross_subs
                    name = "broadcast" if kind == "local" else "publish"
                    fans[name].append(await fan(driver, subs, kind, messages, kind == "local"))
    report(rows, fans, rounds, subscribers, messages)


def report(
    rows: dict[str, list[tuple[float, ...]]],
    fans: dict[str, list[float]],
    rounds: int,
    subscribers: int,
    messages: int,
) -> None:
    med = statistics.median
    print(f"addressed call, 1 in flight, {rounds} rounds (medians):")
    print(f"  {'':28} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for kind, label in (("local", "local connection.call"), ("cross", "cross-worker via Redis")):
        rate, p50, p99 = (med(column) for column in zip(*rows[kind], strict=True))
        print(f"  {label:28} {rate:9.0f} {p50:8.3f} {p99:8.3f}")
    ratios = [c[0] / loc[0] for c, loc in zip(rows["cross"], rows["local"], strict=True)]
    print(f"  cross / local: {med(ratios):.2f}x  (per round: {_listed(ratios)})")
    print(f"fan-out, {messages} messages to {subscribers} subscribers (deliveries/s, medians):")
    print(f"  local broadcast (1 worker)   {med(fans['broadcast']):9.0f}")
    print(f"  publish (3 workers, Redis)   {med(fans['publish']):9.0f}")
    ratios = [p / b for p, b in zip(fans["publish"], fans["broadcast"], strict=True)]
    print(f"  publish / broadcast: {med(ratios):.2f}x  (per round: {_listed(ratios)})")


def _listed(ratios: list[float]) -> str:
    return ", ".join(f"{ratio:.2f}" for ratio in ratios)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0, help="per addressed-call cell")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1 round, 0.3 s, 50 subscribers")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.subscribers, args.messages = 1, 0.3, 50, 5
    asyncio.run(run(args.rounds, args.seconds, args.subscribers, args.messages))


if __name__ == "__main__":
    main()
