"""A router that exercises the generator: typed errors, models, enums, unions, collisions."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field

from wsrpc_typed import Router, RpcError


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


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Color(enum.StrEnum):
    """A color."""

    RED = "red"
    DARK_BLUE = "dark-blue"


class Item(BaseModel):
    """A thing for sale."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    name: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[a-z]+$")]
    price: Decimal
    ident: uuid.UUID
    blob: bytes = b""
    tags: list[str] = []
    when: dt.datetime | None = None
    color: Color = Color.RED
    link: AnyUrl | None = None
    weight: Annotated[float, Field(gt=0, description="In kilograms.")] = 1.0
    schema_: int = Field(default=0, alias="schema")


class Node(BaseModel):
    value: int
    children: list[Node] = []


class Cat(BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"] = "dog"
    good: bool = True


class Point(BaseModel):
    x: int


class geo:  # a namespace: a second model titled "Point"
    class Point(BaseModel):
        lat: float
        lon: float


def build_router() -> Router:
    """The bank API."""
    router = Router()

    @router.method(errors=[InsufficientFunds, Frozen])
    async def withdraw(amount: Decimal, account: str = "main") -> Balance:
        """Take money out of an account."""
        if account == "frozen":
            raise Frozen()
        if amount > 10:
            raise InsufficientFunds(data=Balance(balance=Decimal("10.00")))
        return Balance(balance=Decimal(10) - amount)

    @router.method
    async def connect(url: str) -> str:
        """A method whose name is the runtime's connect()."""
        return url.upper()

    @router.method(name="selfish")
    def selfish(self: int, connection: int = 0) -> int:
        """Params named like the client's own attributes."""
        return self + connection

    @router.method(deprecated=True)
    async def old(x: int) -> int:
        """Use new instead."""
        return x

    @router.method
    async def items(
        item: Item, level: Level = Level.LOW, when: dt.date | None = None
    ) -> list[Item]:
        """Echo an item ``level`` times."""
        return [item] * int(level)

    @router.method
    async def tree(node: Node) -> Node:
        return Node(value=node.value + 1, children=node.children)

    @router.method
    async def pet(pet: Annotated[Cat | Dog, Field(discriminator="kind")]) -> Cat | Dog:
        return pet

    @router.method
    async def points(a: Point, b: geo.Point) -> tuple[Point, geo.Point]:
        return (a, b)

    @router.method
    async def nothing() -> None:
        return None

    @router.method
    async def blob(data: bytes, mode: Literal["up", "down"] = "up") -> bytes:
        return data.upper() if mode == "up" else data.lower()

    return router


router = build_router()


def add_stream(router: Router) -> Router:
    """Add a streaming method (kept apart: the golden client has none)."""

    @router.method(errors=[InsufficientFunds])
    async def ticks(n: int, item: Item | None = None) -> AsyncIterator[Balance]:
        """Count up to ``n``."""
        for i in range(n):
            if i == 2 and n > 5:
                raise InsufficientFunds(data={"balance": i})
            yield Balance(balance=Decimal(i))

    return router
