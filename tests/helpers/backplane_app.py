"""The app of the backplane and workers tests: a server router that uses topics, calls
clients by connection id and lists presence, and a client's side that records what it got."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel

from wsrpc_typed import BackplaneUnavailable, Context, NoSuchPeer, Router, RpcError

__all__ = ["Member", "Overdrawn", "Unreachable", "router", "server_router"]


class Shortfall(BaseModel):
    short_by: int


class Unreachable(RpcError):
    """What ``ask`` answers when the target cannot be reached: ``data`` names why."""

    code = 4004


class Overdrawn(RpcError):
    code = 4001
    data_model = Shortfall


def server_router() -> Router:
    """What the workers serve: join and leave topics, publish, call other clients by id."""
    router = Router()

    @router.method
    async def me(ctx: Context) -> str:
        return ctx.connection_id

    @router.method
    async def pid() -> int:
        return os.getpid()

    @router.method
    async def enter(ctx: Context, topic: str) -> list[str]:
        await ctx.join(topic)
        return sorted(ctx.connection.topics)

    @router.method
    async def exit(ctx: Context, topic: str) -> None:
        await ctx.leave(topic)

    @router.method
    async def shout(ctx: Context, topic: str, seq: int) -> None:
        await ctx.server.publish(topic, "heard", {"seq": seq, "by": ctx.connection_id})

    @router.method
    async def ask(ctx: Context, target: str, method: str, params: dict[str, Any]) -> Any:
        try:
            return await ctx.server.peer(target).call(method, params, timeout=ctx.remaining())
        except (NoSuchPeer, BackplaneUnavailable) as exc:
            raise Unreachable(str(exc), type(exc).__name__) from None

    @router.method
    async def who(ctx: Context, topic: str | None = None) -> list[str]:
        return [present.connection_id for present in await ctx.server.presence(topic)]

    @router.method
    async def tell(ctx: Context, target: str, text: str) -> None:
        await ctx.server.peer(target).notify("told", {"text": text})

    @router.method
    async def take(ctx: Context, target: str, n: int, stop_at: int | None = None) -> list[int]:
        got = []
        async for item in ctx.server.peer(target).stream("count", {"n": n}):
            got.append(item)
            if item == stop_at:
                break
        return got

    return router


class Member:
    """A client's side: what it heard, and the methods servers call on it."""

    def __init__(self) -> None:
        self.heard: list[dict[str, Any]] = []
        self.told: list[str] = []
        self.counting = asyncio.Event()
        self.count_cancelled = asyncio.Event()
        self.nap_cancelled = asyncio.Event()
        self.napping = asyncio.Event()
        self.router = Router()

        @self.router.method
        async def heard(seq: int, by: str) -> None:
            self.heard.append({"seq": seq, "by": by})

        @self.router.method
        async def told(text: str) -> None:
            self.told.append(text)

        @self.router.method
        async def double(x: int) -> int:
            return 2 * x

        @self.router.method
        async def blob(size: int) -> str:
            return "x" * size

        @self.router.method
        async def overdraw(amount: int) -> None:
            raise Overdrawn("not enough", {"short_by": amount - 10})

        @self.router.method
        async def nap(seconds: float) -> str:
            self.napping.set()
            try:
                await asyncio.sleep(seconds)
            except asyncio.CancelledError:
                self.nap_cancelled.set()
                raise
            return "rested"

        @self.router.method
        async def count(n: int) -> AsyncIterator[int]:
            self.counting.set()
            i = 0
            try:
                for i in range(n):
                    yield i
            finally:
                if i < n - 1:  # closed before its end
                    self.count_cancelled.set()


#: What ``wsrpc serve tests.helpers.backplane_app:router`` serves.
router = server_router()
