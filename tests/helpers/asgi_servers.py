"""ASGI servers run in the test's own event loop, on 127.0.0.1 port 0, and uvicorn as a
user runs it, in its own process.

Each binds a listening socket first and hands it to the server, so the port
is known and connections wait in the kernel's backlog until the server takes
them: that is the readiness signal, no fixed port and no sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import uvicorn
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

__all__ = [
    "ASGI_SERVERS",
    "listening_socket",
    "run_asgi_server",
    "run_hypercorn",
    "run_uvicorn",
    "uvicorn_subprocess",
]

#: uvicorn with each of its WebSocket implementations (``--ws websockets-sansio``, its
#: default; ``--ws websockets``, on websockets' legacy API; ``--ws wsproto``), and hypercorn.
ASGI_SERVERS = ("uvicorn-websockets", "uvicorn-websockets-legacy", "uvicorn-wsproto", "hypercorn")


def listening_socket() -> socket.socket:
    """A TCP socket listening on 127.0.0.1, on a free port.

    Made with ``IPPROTO_TCP`` spelled out: asyncio disables Nagle's algorithm
    (TCP_NODELAY) only on sockets whose ``proto`` says TCP, and accepted sockets
    inherit it; with ``proto`` 0 small replies wait for delayed ACKs (40 ms).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def run_uvicorn(
    app: Any,
    *,
    ws: str = "websockets-sansio",
    server_class: Callable[[uvicorn.Config], uvicorn.Server] = uvicorn.Server,
    **options: Any,
) -> AsyncIterator[tuple[uvicorn.Server, str]]:
    """Serve ``app`` with uvicorn (``ws``: its WebSocket implementation).

    Yields the server and its ``ws://127.0.0.1:PORT`` URL. On exit it shuts
    down as on SIGTERM (set ``server.should_exit`` to start that earlier).
    """
    from tests.conftest import UNIT  # (here: tests.conftest imports this module)
    from tests.helpers.waiting import eventually

    sock = listening_socket()
    port = sock.getsockname()[1]
    options.setdefault("log_level", "warning")
    options.setdefault("lifespan", "on")
    config = uvicorn.Config(app, ws=ws, **options)
    server = server_class(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or task.done(), 2 * UNIT)
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped at startup")
        yield server, f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 4 * UNIT)
        sock.close()


@contextlib.asynccontextmanager
async def run_hypercorn(
    app: Any,
    *,
    stop: asyncio.Event | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    **options: Any,
) -> AsyncIterator[str]:
    """Serve ``app`` with hypercorn; yield its ``ws://127.0.0.1:PORT`` URL.

    It shuts down as on SIGTERM (its shutdown trigger) on exit, or when
    ``stop`` is set, or when ``shutdown_trigger`` returns.
    """
    from tests.conftest import UNIT  # (here: tests.conftest imports this module)

    sock = listening_socket()
    port = sock.getsockname()[1]
    config = HypercornConfig()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = options.pop("graceful_timeout", 1.0)
    for name, value in options.items():
        setattr(config, name, value)
    stop = stop or asyncio.Event()

    async def trigger() -> None:
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        if shutdown_trigger is not None:
            waits.append(asyncio.ensure_future(shutdown_trigger()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    task = asyncio.create_task(hypercorn_serve(app, config, shutdown_trigger=trigger))
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 4 * UNIT)
        with contextlib.suppress(OSError):  # hypercorn closes the descriptor it was given
            sock.close()


@contextlib.asynccontextmanager
async def run_asgi_server(name: str, app: Any, **options: Any) -> AsyncIterator[str]:
    """Serve ``app`` with one of :data:`ASGI_SERVERS`; yield its ``ws://`` URL."""
    if name == "hypercorn":
        async with run_hypercorn(app, **options) as url:
            yield url
    elif name.startswith("uvicorn-"):
        ws = {
            "uvicorn-websockets": "websockets-sansio",
            "uvicorn-websockets-legacy": "websockets",
            "uvicorn-wsproto": "wsproto",
        }[name]
        async with run_uvicorn(app, ws=ws, **options) as (_, url):
            yield url
    else:
        raise ValueError(f"unknown ASGI server {name!r}; known: {ASGI_SERVERS}")


@contextlib.asynccontextmanager
async def uvicorn_subprocess(
    target: str, workers: int = 1, env: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """``uvicorn TARGET --port 0 --workers N`` in its own process; yield its http:// URL.

    Ready once it printed the URL and every worker its "Application startup
    complete." (with workers, uvicorn prints the URL before they listen). On
    exit it gets SIGTERM and must shut down gracefully: every worker's
    lifespan shutdown completes.
    """
    from tests.conftest import UNIT
    from tests.helpers.processes import ROOT

    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "uvicorn", target),
        *("--host", "127.0.0.1", "--port", "0", "--workers", str(workers)),
        cwd=ROOT,
        env=None if env is None else {**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    log: list[str] = []
    url = None
    try:
        while url is None or sum("startup complete" in line for line in log) < workers:
            line = (await asyncio.wait_for(proc.stderr.readline(), 4 * UNIT)).decode()
            if not line:
                raise AssertionError(f"uvicorn exited: {''.join(log)}")
            log.append(line)
            match = re.search(r"running on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url = match.group(1)
        rest = asyncio.ensure_future(proc.stderr.read())  # keep its pipe from filling
        yield url
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once it has shut down: its status is SIGTERM's.
        assert await asyncio.wait_for(proc.wait(), 4 * UNIT) in (0, -signal.SIGTERM)
    text = "".join(log) + (await rest).decode()
    assert text.count("Application shutdown complete.") == workers, text
