"""Serve the chat, and broadcast announcements to the members of every room.

``python -m examples.chat.server --port 8765 --announce-every 60``

Messages that members post reach the room through the typed peer stub, one
connection at a time (see :meth:`Rooms.publish`); announcements go through
:meth:`Server.broadcast`, which filters the server's connections by the rooms
they joined (kept in ``conn.state``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from examples.chat.service import ChatMessage, rooms, router
from wsrpc_typed import Connection, Server

__all__ = ["announce", "serve"]


async def announce(server: Server, text: str) -> int:
    """Broadcast ``text`` from ``server`` to every room with members; how many got it.

    Announcements are not kept in the rooms' history (their ``seq`` is 0).
    """
    delivered = 0
    for room in sorted(rooms.members):
        message = ChatMessage(room=room, seq=0, sender="server", text=text)

        def in_room(conn: Connection, room: str = room) -> bool:
            return room in conn.state.get("rooms", ())

        delivered += await server.broadcast(
            "message", {"message": message.model_dump(mode="json")}, where=in_room
        )
    return delivered


async def serve(host: str, port: int, announce_every: float | None) -> None:
    """Serve until cancelled, announcing the time every ``announce_every`` seconds."""
    async with Server(router, host=host, port=port) as server:
        print(f"chat serving on {server.url}", flush=True)
        started = asyncio.get_running_loop().time()
        while announce_every is not None:
            await asyncio.sleep(announce_every)
            uptime = asyncio.get_running_loop().time() - started
            await announce(server, f"the server has been up for {uptime:.0f} s")
        await asyncio.Future()  # serve until cancelled


def main() -> None:
    """Entry point: parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--announce-every", type=float, default=None, metavar="SECONDS")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: close and exit 0
        asyncio.run(serve(args.host, args.port, args.announce_every))


if __name__ == "__main__":
    main()
