"""The typed application the integration tests serve."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from wsrpc_typed import Context, Router, RpcError


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Point(BaseModel):
    x: float
    y: float


class Tree(BaseModel):
    value: int
    children: list[Tree] = []


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool = True


@dataclass
class Span:
    start: int
    end: int


class Labels(TypedDict):
    name: str
    tags: list[str]


class InsufficientFunds(RpcError):
    code = 1001
    default_message = "Insufficient funds"


class Tick(BaseModel):
    seq: int
    label: str


class Price(BaseModel):
    symbol: str
    value: Decimal


class Events:
    """Things handlers record so tests can observe them."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.started: list[str] = []
        self.notified: list[object] = []
        self.produced = 0
        self.stream_closed: list[str] = []


def build_router(events: Events | None = None) -> Router:
    events = events if events is not None else Events()
    router = Router()

    @router.method
    async def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @router.method
    def mul(a: float, b: float = 2.0) -> float:
        return a * b

    @router.method(name="computePrimes")
    def compute_primes(n: Annotated[int, Field(ge=0, le=10_000_000)]) -> list[int]:
        sieve = bytearray([1]) * (n + 1)
        sieve[0:2] = b"\x00\x00"[: n + 1]
        for i in range(2, int(n**0.5) + 1):
            if sieve[i]:
                sieve[i * i :: i] = bytearray(len(range(i * i, n + 1, i)))
        return [i for i, flag in enumerate(sieve) if flag]

    @router.method
    async def echo(value: object = None) -> object:
        return value

    @router.method
    async def sleep(seconds: float, tag: str = "") -> str:
        events.started.append(tag)
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            events.cancelled.append(tag)
            raise
        return tag

    @router.method
    async def fail() -> None:
        raise ValueError("secret internal detail /etc/passwd")

    @router.method
    async def withdraw(amount: Decimal) -> Decimal:
        raise InsufficientFunds(data={"balance": "3.50", "requested": str(amount)})

    @router.method
    async def shapes(
        point: Point,
        tree: Tree,
        pet: Annotated[Cat | Dog, Field(discriminator="kind")],
        span: Span,
        labels: Labels,
        color: Color,
        mode: Literal["fast", "slow"],
        when: dt.datetime,
        day: dt.date,
        ident: uuid.UUID,
        price: Decimal,
        blob: bytes,
        pair: tuple[int, str],
        unique: set[int],
        mapping: dict[str, int],
        maybe: int | None = None,
        either: int | str = 0,
    ) -> dict[str, object]:
        return {
            "point": point.model_dump(),
            "depth": _depth(tree),
            "pet": type(pet).__name__,
            "span": span.end - span.start,
            "labels": labels["name"],
            "color": color.value,
            "mode": mode,
            "when": when.isoformat(),
            "day": day.isoformat(),
            "ident": str(ident),
            "price": str(price * 2),
            "blob": blob.hex(),
            "pair": list(pair),
            "unique": sorted(unique),
            "mapping": sum(mapping.values()),
            "maybe": maybe,
            "either": either,
        }

    @router.method
    async def make_point(x: float, y: float) -> Point:
        return Point(x=x, y=y)

    @router.method
    async def bad_result() -> int:
        return "not an int"  # type: ignore[return-value]

    @router.method
    async def whoami(ctx: Context, greeting: str = "hi") -> str:
        ctx.state["count"] = ctx.state.get("count", 0) + 1
        return f"{greeting} {ctx.headers.get('x-user', '?')} #{ctx.state['count']}"

    @router.method
    async def record(item: object) -> None:
        events.notified.append(item)

    @router.method
    def block(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    @router.method
    async def ticks(n: int, label: str = "t", delay: float = 0.0) -> AsyncIterator[Tick]:
        """Stream n ticks; records how many were produced and how the stream ended."""
        try:
            for i in range(n):
                events.produced = i + 1
                if delay:
                    await asyncio.sleep(delay)
                yield Tick(seq=i, label=label)
        except asyncio.CancelledError:
            events.cancelled.append(label)
            raise
        finally:
            events.stream_closed.append(label)

    @router.method
    async def broken_stream(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i
        raise InsufficientFunds(data={"after": n})

    @router.method
    async def wrong_items() -> AsyncIterator[int]:
        yield 1
        yield "two"  # type: ignore[misc]

    @router.method
    async def budget(ctx: Context) -> float | None:
        return ctx.remaining()

    @router.method
    async def ask_client(ctx: Context, text: str) -> str:
        """Calls the client back within the remaining budget of this call."""
        shouted = await ctx.peer.call(
            "shout", {"text": text}, timeout=ctx.remaining(), result_type=str
        )
        return f"client said {shouted}"

    @router.method
    async def announce(ctx: Context, symbol: str) -> None:
        await ctx.peer.notify("price", Price(symbol=symbol, value=Decimal("1.50")))

    return router


def _depth(tree: Tree) -> int:
    return 1 + max((_depth(child) for child in tree.children), default=0)
