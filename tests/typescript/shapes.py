"""The shapes a TypeScript client must type and carry, served by one router.

Every kind of "What a handler may declare": models with optional, defaulted and
nullable fields, a dataclass, a TypedDict, enums of both mixins with their names,
literals, tuples, sets, records, recursive models, discriminated and plain unions,
date-time, date, UUID, Decimal and bytes; streams, declared errors with typed data,
notifications, and peer methods of each kind (a call, a notification, a stream).

:class:`Probe` records what the handlers saw, for the tests to read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from wsrpc_typed import Context, Router, RpcError

__all__ = ["Probe", "build_router", "probe", "router"]


class Color(enum.StrEnum):
    """A color, by name."""

    RED = "red"
    DARK_BLUE = "dark-blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Cat(BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"] = "dog"
    good: bool = True


class Tree(BaseModel):
    """A recursive model."""

    value: int
    children: list[Tree] = []


@dataclasses.dataclass
class Span:
    start: int
    end: int = 0


class Label(TypedDict):
    text: str
    weight: float


class Everything(BaseModel):
    """One of each field shape."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    name: Annotated[str, Field(min_length=1, max_length=20, description="Who.")]
    count: int = 0
    ratio: float | None = None
    color: Color = Color.RED
    level: Level = Level.LOW
    mode: Literal["on", "off"] = "off"
    pair: tuple[int, str] = (0, "")
    tags: set[str] = Field(default_factory=set)
    scores: dict[str, int] = {}
    pet: Annotated[Cat | Dog, Field(discriminator="kind")] = Field(default_factory=Cat)
    either: int | str = 0
    tree: Tree | None = None
    span: Span | None = None
    label: Label | None = None
    when: dt.datetime | None = None
    day: dt.date | None = None
    ident: uuid.UUID | None = None
    price: Decimal = Decimal("0")
    blob: bytes = b""
    anything: object = None


class Balance(BaseModel):
    """What the account holds."""

    balance: Decimal
    currency: str = "EUR"


class InsufficientFunds(RpcError):
    """The account holds less than the amount asked for."""

    code = 1001
    default_message = "Insufficient funds"
    data_model = Balance


class Frozen(RpcError):
    code = 1002
    default_message = "Account frozen"


class Item(BaseModel):
    seq: int
    pad: str = ""


class Probe:
    """What the handlers saw: cancellations, and how far a stream ran ahead."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.produced = 0
        self.notes: list[str] = []


probe = Probe()


def build_router(probe: Probe = probe) -> Router:
    """The shapes API, recording into ``probe``."""
    router = Router(title="Shapes", version="1.0.0", description="Every shape, both ways.")

    @router.method
    async def everything(value: Everything) -> Everything:
        """Echo one of each field shape."""
        return value

    @router.method
    async def args(
        color: Color,
        level: Level,
        pair: tuple[int, str],
        pets: list[Annotated[Cat | Dog, Field(discriminator="kind")]],
        scores: dict[str, float] | None = None,
        either: int | str | None = None,
        mode: Literal["on", "off"] = "on",
        span: Span = Span(start=1),  # noqa: B008 (a frozen default, as a user writes it)
        label: Label | None = None,
    ) -> list[object]:
        """Params of each shape, echoed in order."""
        return [color, level, pair, pets, scores, either, mode, span, label]

    @router.method
    async def tree(node: Tree) -> Tree:
        """The tree with every value doubled."""
        return Tree(value=node.value * 2, children=[await tree(c) for c in node.children])

    @router.method(errors=[InsufficientFunds, Frozen])
    async def withdraw(amount: Decimal, account: str = "main") -> Balance:
        """Take money out of an account."""
        if account == "frozen":
            raise Frozen()
        if amount > 10:
            raise InsufficientFunds(data=Balance(balance=Decimal("10.00")))
        return Balance(balance=Decimal(10) - amount)

    @router.method
    async def nothing() -> None:
        """No params, no result."""

    @router.method
    async def note(text: str) -> None:
        """Record ``text`` (call it as a notification)."""
        probe.notes.append(text)

    @router.method
    async def notes() -> list[str]:
        """What ``note`` recorded."""
        return probe.notes

    @router.method
    async def items(count: int, pad: int = 0) -> AsyncIterator[Item]:
        """Stream ``count`` items, counting how many the server produced."""
        probe.produced = 0
        for seq in range(count):
            probe.produced = seq + 1
            yield Item(seq=seq, pad="x" * pad)

    @router.method
    async def produced() -> int:
        """How many items the last ``items`` stream has produced so far."""
        return probe.produced

    @router.method
    async def slow(ctx: Context, tag: str) -> str:
        """Tell the client it started, then wait until cancelled."""
        try:
            await ctx.peer.notify("started", {"tag": tag})
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            probe.cancelled.append(tag)
            raise
        return tag

    @router.method
    async def cancelled() -> list[str]:
        """The tags of the ``slow`` calls that were cancelled."""
        return probe.cancelled

    @router.method
    async def ask(ctx: Context, text: str) -> str:
        """Ask the client to shout ``text``; its answer."""
        answer = await ctx.peer.call("shout", {"text": text}, timeout=ctx.remaining())
        return str(answer)

    @router.method
    async def total(ctx: Context, upto: int) -> int:
        """The sum of what the client counts (a stream from the client, window 4)."""
        return sum([n async for n in ctx.peer.stream("count", {"upto": upto}, window=4)])

    @router.method
    async def miscount(ctx: Context) -> int:
        """Call the client's ``count`` stream as a plain call, which it refuses: the code."""
        try:
            await ctx.peer.call("count", {"upto": 3}, timeout=ctx.remaining())
        except RpcError as exc:
            return exc.code
        return 0

    @router.peer.method
    async def shout(text: str) -> str:
        """Say ``text`` louder."""
        raise NotImplementedError

    @router.peer.method
    async def started(tag: str) -> None:
        """A ``slow`` call has started (a notification)."""

    @router.peer.method
    async def count(upto: int) -> AsyncIterator[int]:
        """Count from 1 to ``upto``."""
        raise NotImplementedError
        yield 0  # an async generator: a stream

    return router


#: For the ``MODULE:ATTR`` source.
router = build_router()
