"""A zoo of handler shapes: every kind of type a handler may declare (README, "What a
handler may declare"), defaults of every JSON kind, streams, typed errors and peer methods.

Each method gives back what it was given (or something computed from it), so a round
trip through a generated client shows that every value survived both directions.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Annotated, Any, Literal, NotRequired

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from wsrpc_typed import Context, Router, RpcError

# -- enums of both mixins, and a plain one ------------------------------------------------


class Color(enum.StrEnum):
    """A str enum: ``Color.RED == "red"`` on both sides."""

    RED = "red"
    GREEN = "green"
    DARK_BLUE = "dark-blue"


class Level(enum.IntEnum):
    """An int enum."""

    LOW = 1
    HIGH = 2


class Shape(enum.Enum):
    """A plain enum (no mixin)."""

    SQUARE = "square"
    CIRCLE = "circle"


# -- TypedDicts, dataclasses, models ------------------------------------------------------


class Address(TypedDict):
    """A TypedDict with a NotRequired key."""

    street: str
    city: Annotated[str, Field(min_length=1, description="The city's name.")]
    zip: NotRequired[str]


class Tree(TypedDict):
    """A recursive TypedDict."""

    label: str
    kids: NotRequired[list[Tree]]


class Options(TypedDict, total=False):
    """A TypedDict with no required key."""

    verbose: bool
    depth: int


@dataclasses.dataclass
class Point:
    """A standard-library dataclass with a constraint, defaults and a factory."""

    x: Annotated[int, Field(ge=-1000, le=1000)]
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)


@pydantic.dataclasses.dataclass
class Span:
    """A pydantic dataclass."""

    start: dt.date
    end: dt.date | None = None


class Node(BaseModel):
    """A recursive model."""

    value: int
    children: list[Node] = []


class Cat(BaseModel):
    kind: Literal["cat"] = "cat"
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"] = "dog"
    good: bool = True


Pet = Annotated[Cat | Dog, Field(discriminator="kind")]


class Stamp(BaseModel):
    """Every typed string, and bytes."""

    # A model's own config decides how its bytes travel (pydantic's default: UTF-8).
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    when: dt.datetime
    day: dt.date
    at: dt.time
    took: dt.timedelta
    ident: uuid.UUID
    amount: Decimal
    blob: bytes


class Shelf(BaseModel):
    """Containers: a tuple, a set, a dict, an optional and a literal."""

    pair: tuple[int, str]
    labels: set[str]
    counts: dict[str, int]
    note: str | None = None
    order: Literal["asc", "desc"] = "asc"
    points: list[Point] = []


class Balance(BaseModel):
    """Typed error data."""

    balance: Decimal
    currency: str = "EUR"


class Insufficient(RpcError):
    """The account holds less than asked for."""

    code = 2001
    default_message = "Insufficient funds"
    data_model = Balance


class Closed(RpcError):
    """An error without data."""

    code = 2002
    default_message = "Closed"


def build_router() -> Router:
    """The zoo's router: its methods and the peer methods its server calls."""
    router = Router(title="Zoo", version="1.2.3", description="Every shape a handler may declare.")

    @router.method
    async def enums(color: Color, level: Level, shape: Shape = Shape.SQUARE) -> list[str]:
        """Enums of both mixins and a plain one, each with its member name."""
        return [color.name, level.name, shape.name, str(color == "red"), str(level + 1)]

    @router.method
    async def address(addr: Address) -> Address:
        """A TypedDict in and out: ``zip`` appears only when given."""
        return {**addr, "city": addr["city"].upper()}

    @router.method
    async def tree(tree: Tree, options: Options) -> Tree:
        """A recursive TypedDict, and one whose keys are all optional."""
        depth = options.get("depth", 0)
        return {"label": f"{tree['label']}:{depth}", "kids": tree.get("kids", [])}

    @router.method
    def move(point: Point, by: int = 1) -> Point:
        """A dataclass (a plain ``def``, run in a thread)."""
        return Point(point.x + by, point.y + by, [*point.tags, "moved"])

    @router.method
    async def span(span: Span) -> Span:
        """A pydantic dataclass."""
        return Span(span.start, span.end or span.start)

    @router.method
    async def node(node: Node) -> Node:
        """A recursive model: the sum of the tree's values at its root."""

        def total(n: Node) -> int:
            return n.value + sum(total(c) for c in n.children)

        return Node(value=total(node), children=node.children)

    @router.method
    async def pet(pet: Pet) -> Pet:
        """A discriminated union."""
        return Dog(good=False) if isinstance(pet, Cat) else Cat(lives=pet.good + 1)

    @router.method
    async def either(value: int | str, point: Point | None = None) -> int | str | None:
        """A plain union and an optional."""
        if point is not None:
            return None
        return value * 2

    @router.method
    async def shelf(shelf: Shelf) -> Shelf:
        """A tuple, a set, a dict, an optional and a literal, in a model."""
        number, text = shelf.pair
        return Shelf(
            pair=(number + 1, text + "!"),
            labels=shelf.labels | {"seen"},
            counts={k: v * 10 for k, v in shelf.counts.items()},
            note=shelf.note,
            order="desc" if shelf.order == "asc" else "asc",
            points=shelf.points,
        )

    @router.method
    async def containers(
        pair: tuple[int, str],
        labels: set[str],
        counts: dict[str, list[int]],
        order: Literal["asc", "desc"] = "asc",
        maybe: float | None = None,
    ) -> tuple[str, int]:
        """Containers and a literal as params."""
        total = sum(sum(v) for v in counts.values()) + len(labels)
        return (f"{pair[1]}{order}{maybe}", pair[0] + total)

    @router.method
    async def stamp(stamp: Stamp) -> Stamp:
        """datetime, date, time, timedelta, UUID, Decimal and bytes, a day later."""
        return stamp.model_copy(
            update={
                "when": stamp.when + dt.timedelta(days=1),
                "day": stamp.day + dt.timedelta(days=1),
                "amount": stamp.amount * 2,
                "blob": stamp.blob[::-1],
            }
        )

    @router.method
    async def typed(
        when: dt.datetime, ident: uuid.UUID, amount: Decimal, blob: bytes
    ) -> dict[str, str]:
        """Typed strings and bytes as params."""
        return {
            "when": when.isoformat(),
            "ident": str(ident),
            "amount": str(amount),
            "blob": blob.hex(),
        }

    @router.method
    async def defaults(
        nothing: int | None = None,
        flag: bool = True,
        count: int = 3,
        ratio: float = 1.5,
        text: str = "hi",
        tags: list[str] = ["a", "b"],  # noqa: B006
        meta: dict[str, int] = {"k": 1},  # noqa: B006
        point: Point = Point(1, 2),  # noqa: B008
        node: Node = Node(value=1, children=[Node(value=2)]),  # noqa: B008
        color: Color = Color.GREEN,
        level: Level = Level.HIGH,
        nested: dict[str, list[Point]] = {"p": [Point(3, 4)]},  # noqa: B006, B008
        addr: Address = {"street": "Main", "city": "Town"},  # noqa: B006
        day: dt.date = dt.date(2024, 1, 2),
        amount: Decimal = Decimal("1.50"),
        pair: tuple[int, str] = (7, "seven"),
        when: dt.datetime = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        at: dt.time = dt.time(3, 4),
        took: dt.timedelta = dt.timedelta(minutes=90),
        ident: uuid.UUID = uuid.UUID(int=1),  # noqa: B008
        blob: bytes = b"\x00\xff",
    ) -> dict[str, Any]:
        """Defaults of every JSON kind: what the server received, as JSON."""
        values = {
            "nothing": nothing,
            "flag": flag,
            "count": count,
            "ratio": ratio,
            "text": text,
            "tags": tags,
            "meta": meta,
            "point": point,
            "node": node,
            "color": color,
            "level": level,
            "nested": nested,
            "addr": addr,
            "day": day,
            "amount": amount,
            "pair": pair,
            "when": when,
            "at": at,
            "took": took,
            "ident": ident,
            "blob": base64.urlsafe_b64encode(blob).decode(),
        }
        result: dict[str, Any] = pydantic.TypeAdapter(dict[str, Any]).dump_python(
            values, mode="json"
        )
        # Python's own default is one list for every call that omits `tags`: the next such
        # call would show this. A client that sends the declared default never omits it.
        tags.append("mutated")
        return result

    @router.method
    async def count(
        upto: Annotated[int, Field(ge=0, le=100)], start: int = 0
    ) -> AsyncIterator[Point]:
        """A stream of dataclasses."""
        for i in range(start, upto):
            yield Point(i, -i)

    @router.method(errors=[Insufficient, Closed])
    async def withdraw(amount: Decimal, account: str = "main") -> Balance:
        """Errors with typed data, and without."""
        if account == "closed":
            raise Closed()
        if amount > 10:
            raise Insufficient(data=Balance(balance=Decimal("10.00")))
        return Balance(balance=Decimal(10) - amount)

    @router.method
    async def ask_client(ctx: Context, question: str) -> list[Any]:
        """Calls the client's peer methods: what they answered."""
        answers = [
            await ctx.peer.call("ask", {"question": question, "level": 2}),
            await ctx.peer.call("ask", {"question": question, "level": 2}),
            await ctx.peer.call("ask", {"question": question}),
            await ctx.peer.call("ask", {"question": question, "level": 2, "choices": ["no"]}),
        ]
        await ctx.peer.notify("notice", {"addr": {"street": "S", "city": "C"}})
        return answers

    @router.peer.method
    async def ask(
        question: str,
        level: Level = Level.LOW,
        choices: list[str] = ["yes", "no"],  # noqa: B006
        where: Address = {"street": "Here", "city": "Now"},  # noqa: B006
    ) -> bool:
        """A yes/no question to the client (defaults the client's wrapper fills in)."""
        raise NotImplementedError

    @router.peer.method
    async def notice(addr: Address) -> None:
        """A notification to the client."""

    return router


#: For the ``MODULE:ATTR`` source.
router = build_router()
