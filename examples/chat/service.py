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

or on several workers, which share the rooms through Redis::

    wsrpc serve examples.chat.service:router --port 8765 --workers 2 \
        --backplane redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field

from examples.chat import peer_generated as peer
from wsrpc_typed import Context, Router, RpcError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["ChatMessage", "NotInRoom", "RedisRooms", "Rooms", "rooms", "router"]

router = Router(
    title="Chat",
    version="1.0.0",
    description="Rooms, messages pushed to their members, and the history of a room.",
)

RoomName = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")]
UserName = Annotated[str, Field(min_length=1, max_length=32)]


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
    """Who is in which room (names by connection id) and what was said there, in-process.

    The members themselves are the server's topics (``ctx.join(room)``): a message
    goes to them with ``publish``, on every worker of a deployment. These names and
    this history live in this process; with a Redis backplane, :class:`RedisRooms`
    keeps them in Redis instead, for every worker.
    """

    def __init__(self) -> None:
        self.names: dict[str, dict[str, str]] = {}
        self.history: dict[str, list[ChatMessage]] = {}

    def clear(self) -> None:
        """Forget every room."""
        self.names.clear()
        self.history.clear()

    async def enter(self, room: str, connection_id: str, name: str) -> list[str]:
        """Record ``name`` in ``room``; every name there, sorted."""
        members = self.names.setdefault(room, {})
        members[connection_id] = name
        return sorted(members.values())

    async def leave(self, room: str, connection_id: str) -> None:
        self.names.get(room, {}).pop(connection_id, None)

    async def name_in(self, room: str, connection_id: str) -> str | None:
        return self.names.get(room, {}).get(connection_id)

    async def post(self, room: str, sender: str, text: str) -> ChatMessage:
        history = self.history.setdefault(room, [])
        message = ChatMessage(room=room, seq=len(history) + 1, sender=sender, text=text)
        history.append(message)
        return message

    async def messages(self, room: str, after: int) -> list[ChatMessage]:
        return list(self.history.get(room, ()))[after:]

    async def delete(self, room: str) -> int:
        """Delete the room's history; how many messages went."""
        return len(self.history.pop(room, ()))


class RedisRooms:
    """The same records in Redis, for every worker: a hash of names and a list of messages
    per room. A message's ``seq`` is its place in the list (``RPUSH`` answers it)."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, kind: str, room: str) -> str:
        return f"{self.prefix}:{kind}:{room}"

    async def enter(self, room: str, connection_id: str, name: str) -> list[str]:
        await self.redis.hset(self._key("names", room), connection_id, name)
        names = await self.redis.hvals(self._key("names", room))
        return sorted(_text(value) for value in names)

    async def leave(self, room: str, connection_id: str) -> None:
        await self.redis.hdel(self._key("names", room), connection_id)

    async def name_in(self, room: str, connection_id: str) -> str | None:
        name = await self.redis.hget(self._key("names", room), connection_id)
        return None if name is None else _text(name)

    async def post(self, room: str, sender: str, text: str) -> ChatMessage:
        entry = json.dumps({"sender": sender, "text": text})
        seq = await self.redis.rpush(self._key("history", room), entry)
        return ChatMessage(room=room, seq=seq, sender=sender, text=text)

    async def messages(self, room: str, after: int) -> list[ChatMessage]:
        entries = await self.redis.lrange(self._key("history", room), after, -1)
        return [
            ChatMessage(room=room, seq=after + i + 1, **json.loads(entry))
            for i, entry in enumerate(entries)
        ]

    async def delete(self, room: str) -> int:
        key = self._key("history", room)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.llen(key)
            pipe.delete(key)
            count, _ = await pipe.execute()
        return int(count)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


#: The rooms of this process, for a server without a Redis backplane.
rooms = Rooms()


def rooms_of(ctx: Context) -> Rooms | RedisRooms:
    """Where the rooms live: in Redis beside a Redis backplane, else in this process."""
    backplane = ctx.server.backplane
    redis = getattr(backplane, "redis", None)
    if redis is None:
        return rooms
    return RedisRooms(redis, f"{getattr(backplane, 'namespace', 'wsrpc')}:chat")


async def name_in(ctx: Context, room: str) -> str:
    """The name the caller joined ``room`` with.

    Raises:
        NotInRoom: it has not joined.
    """
    name = await rooms_of(ctx).name_in(room, ctx.connection_id)
    if name is None or room not in ctx.connection.topics:
        raise NotInRoom()
    return name


# -- what the client calls ----------------------------------------------------------


@router.method
async def join(ctx: Context, room: RoomName, name: UserName) -> list[str]:
    """Join ``room`` as ``name``; returns who is there (you included)."""
    await ctx.join(room)
    store = rooms_of(ctx)
    if not ctx.connection.state.get("rooms"):  # forget its names once it is gone
        connection_id = ctx.connection_id

        async def forget(rooms: set[str]) -> None:
            for room in rooms:
                await store.leave(room, connection_id)

        ctx.connection.add_done_callback(
            lambda conn: _later(forget(set(conn.state.get("rooms", ()))))
        )
    ctx.connection.state.setdefault("rooms", set()).add(room)
    return await store.enter(room, ctx.connection_id, name)


@router.method
async def leave(ctx: Context, room: RoomName) -> None:
    """Leave ``room``."""
    await ctx.leave(room)
    ctx.connection.state.get("rooms", set()).discard(room)
    await rooms_of(ctx).leave(room, ctx.connection_id)


@router.method(errors=[NotInRoom])
async def say(
    ctx: Context, room: RoomName, text: Annotated[str, Field(max_length=500)]
) -> ChatMessage:
    """Post ``text`` to ``room``; every other member gets it as a ``message`` notification."""
    message = await rooms_of(ctx).post(room, await name_in(ctx, room), text)
    # Every member on every worker, but the sender: a typed ``message`` notification.
    params = {"message": message.model_dump(mode="json")}
    await ctx.server.publish(room, "message", params, skip=ctx.connection_id)
    return message


@router.method
async def history(ctx: Context, room: RoomName, after: int = 0) -> AsyncIterator[ChatMessage]:
    """Stream the room's messages with ``seq`` above ``after``, oldest first."""
    for message in await rooms_of(ctx).messages(room, after):
        yield message


@router.method(errors=[NotInRoom])
async def clear(ctx: Context, room: RoomName) -> int:
    """Delete the room's history once the caller confirms; how many messages went."""
    await name_in(ctx, room)
    store = rooms_of(ctx)
    count = len(await store.messages(room, 0))
    client = peer.ChatPeer(ctx.peer)
    if count and await client.confirm(question=f"Delete the {count} messages of {room}?"):
        return await store.delete(room)
    return 0


_pending: set[asyncio.Task[None]] = set()


def _later(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.ensure_future(work)
    _pending.add(task)
    task.add_done_callback(_pending.discard)


# -- what the server calls on the client (the client implements these) --------------


@router.peer.method
async def message(message: ChatMessage) -> None:
    """A new message in a room you joined (sent as a notification)."""


@router.peer.method
async def confirm(question: str) -> bool:
    """Answer a yes/no question from the server."""
    raise NotImplementedError  # a declaration: the client implements it
