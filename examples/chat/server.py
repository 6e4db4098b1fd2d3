"""Serve the chat, and broadcast announcements to the members of every room.

``python -m examples.chat.server --port 8765 --announce-every 60 --web-port 8080``

With ``--web-port``, it also serves the browser page (``examples/chat/web/``: open
``http://127.0.0.1:8080/`` and chat), and admits that page's origin.

Messages that members post reach the room with ``publish`` (each room is a
topic); announcements go through :meth:`Server.broadcast`, which filters the
server's connections by the rooms (topics) they joined.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from examples.chat.page import PageServer
from examples.chat.service import ChatMessage, router
from wsrpc_typed import Connection, Server

__all__ = ["announce", "serve"]


async def announce(server: Server, text: str) -> int:
    """Broadcast ``text`` from ``server`` to every room with members; how many got it.

    Announcements are not kept in the rooms' history (their ``seq`` is 0).
    """
    delivered = 0
    for room in sorted(server.hub.topics()):
        message = ChatMessage(room=room, seq=0, sender="server", text=text)

        def in_room(conn: Connection, room: str = room) -> bool:
            return room in conn.topics

        delivered += await server.broadcast(
            "message", {"message": message.model_dump(mode="json")}, where=in_room
        )
    return delivered


async def serve(
    host: str, port: int, announce_every: float | None, web_port: int | None = None
) -> None:
    """Serve until SIGINT or SIGTERM, announcing the uptime every ``announce_every`` seconds;
    with ``web_port``, serve the browser page there too."""
    # Handlers of our own, not Python's KeyboardInterrupt: a process started with SIGINT
    # ignored (a background job of a script, nohup) keeps it ignored otherwise, and
    # `kill -INT` would not stop it.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    page = None
    origins: list[str | None] | None = None
    if web_port is not None:
        page = PageServer("", host=host, port=web_port)
        await page.open()
        origins = [*page.origins, None]  # the page, and clients that send no Origin
    try:
        async with Server(router, host=host, port=port, origins=origins) as server:
            print(f"chat serving on {server.url}", flush=True)
            if page is not None:
                page.ws_url = server.url
                print(f"chat page on {page.url}", flush=True)
            started = loop.time()
            while announce_every is not None and not await _wait(stop, announce_every):
                await announce(server, f"the server has been up for {loop.time() - started:.0f} s")
            await stop.wait()
    finally:
        if page is not None:
            await page.close()


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Whether ``event`` is set within ``seconds``."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


def main() -> None:
    """Entry point: parse the command line and serve; SIGINT (Ctrl-C) or SIGTERM closes
    the server gracefully and exits 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--announce-every", type=float, default=None, metavar="SECONDS")
    parser.add_argument(
        "--web-port", type=int, default=None, metavar="PORT", help="serve the browser page here"
    )
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.announce_every, args.web_port))


if __name__ == "__main__":
    main()
