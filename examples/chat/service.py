"""A chat: rooms, messages pushed to the room's members, history as a stream.

Both directions over one connection:

* the client calls the server: ``join``, ``say``, ``history`` (a stream), ``clear``;
* the server calls the client: ``message`` (a notification with each new
  message) and ``confirm`` (a question the client answers, used by ``clear``).
  These are declared with ``@router.peer.method``: the client implements them,
  and ``wsrpc-gen`` types both sides from the one schema document.

Serve it with ``python -m examples.chat.server`` (which also broadcasts
announcements with ``Server.broadcast``), or plainly with::

    wsrpc serve examples.chat.service:router --port 8765
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from pydantic import BaseModel, Field

from examples.chat import peer_generated as peer
from wsrpc_typed import Connection, Context, Router, RpcError

__all__ = ["ChatMessage", "NotInRoom", "Rooms", "rooms", "router"]

router = Router(
    title="Chat",
    version="1.0.0",
    description="Rooms, messages pushed to their members, and the history of a room.",
)

RoomName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")]
UserName = Annotated[str, Field(min_length=1, max_length=32)]
#: Seconds one member may take to accept a message before ``say`` stops waiting for it.
DELIVERY_TIMEOUT = 5.0


class ChatMessage(BaseModel):
    """One message of a room."""

    room: str
    seq: int = Field(ge=0, description="Position in the room's history, from 1 (0: not kept).")
    sender: str
    text: str


class NotInRoom(RpcError):
    """The caller has not joined the room."""

    code = 4001
    default_message = "Join the room first"


class Rooms:
    """Who is in which room, and what was said there (in-process; one server)."""

    def __init__(self) -> None:
        self.members: dict[str, dict[Connection, str]] = {}
        self.history: dict[str, list[ChatMessage]] = {}

    def join(self, room: str, conn: Connection, name: str) -> list[str]:
        """Add ``conn`` to ``room`` as ``name``; the members' names, sorted."""
        members = self.members.setdefault(room, {})
        for gone in [c for c in members if c.closed]:
            del members[gone]
        members[conn] = name
        conn.state.setdefault("rooms", set()).add(room)
        return sorted(members.values())

    def leave(self, room: str, conn: Connection) -> None:
        """Remove ``conn`` from ``room``."""
        self.members.get(room, {}).pop(conn, None)
        conn.state.get("rooms", set()).discard(room)

    def name_in(self, room: str, conn: Connection) -> str:
        """The name ``conn`` joined ``room`` with.

        Raises:
            NotInRoom: it has not joined.
        """
        name = self.members.get(room, {}).get(conn)
        if name is None:
            raise NotInRoom()
        return name

    def post(self, room: str, sender: str, text: str) -> ChatMessage:
        """Append a message to the room's history."""
        history = self.history.setdefault(room, [])
        message = ChatMessage(room=room, seq=len(history) + 1, sender=sender, text=text)
        history.append(message)
        return message

    async def publish(self, message: ChatMessage, *, skip: Connection | None = None) -> int:
        """Push ``message`` to every member but ``skip``, concurrently; how many got it.

        Each member gets a typed ``message`` notification through the generated peer
        stub. A member that does not take it within ``DELIVERY_TIMEOUT`` (it stopped
        reading) is skipped, and never delays the others by more than that.
        """
        # The stub has its own copy of the model (it is generated from the document, not
        # from this module): convert once, at the boundary.
        wire = peer.ChatMessage.model_validate(message.model_dump())
        targets = [c for c in self.members.get(message.room, {}) if c is not skip and not c.closed]

        async def deliver(conn: Connection) -> bool:
            try:
                async with asyncio.timeout(DELIVERY_TIMEOUT):
                    await peer.ChatPeer(conn).notify_message(message=wire)
            except (TimeoutError, ConnectionError, RpcError):
                return False
            return True

        return sum(await asyncio.gather(*(deliver(c) for c in targets)))


#: The rooms of this process. A server in several processes would keep them in a
#: shared store (Redis, say) and fan out through it.
rooms = Rooms()


# -- what the client calls ----------------------------------------------------------


@router.method
async def join(ctx: Context, room: RoomName, name: UserName) -> list[str]:
    """Join ``room`` as ``name``; returns who is there (you included)."""
    return rooms.join(room, ctx.peer, name)


@router.method
async def leave(ctx: Context, room: RoomName) -> None:
    """Leave ``room``."""
    rooms.leave(room, ctx.peer)


@router.method(errors=[NotInRoom])
async def say(
    ctx: Context, room: RoomName, text: Annotated[str, Field(max_length=500)]
) -> ChatMessage:
    """Post ``text`` to ``room``; every other member gets it as a ``message`` notification."""
    message = rooms.post(room, rooms.name_in(room, ctx.peer), text)
    await rooms.publish(message, skip=ctx.peer)
    return message


@router.method
async def history(room: RoomName, after: int = 0) -> AsyncIterator[ChatMessage]:
    """Stream the room's messages with ``seq`` above ``after``, oldest first."""
    for message in list(rooms.history.get(room, ()))[after:]:
        yield message


@router.method(errors=[NotInRoom])
async def clear(ctx: Context, room: RoomName) -> int:
    """Delete the room's history once the caller confirms; how many messages went."""
    rooms.name_in(room, ctx.peer)
    count = len(rooms.history.get(room, ()))
    client = peer.ChatPeer(ctx.peer)
    if count and await client.confirm(question=f"Delete the {count} messages of {room}?"):
        rooms.history[room] = []
        return count
    return 0


# -- what the server calls on the client (the client implements these) --------------


@router.peer.method
async def message(message: ChatMessage) -> None:
    """A new message in a room you joined (sent as a notification)."""


@router.peer.method
async def confirm(question: str) -> bool:
    """Answer a yes/no question from the server."""
    raise NotImplementedError  # a declaration: the client implements it
