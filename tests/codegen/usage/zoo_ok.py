"""Right calls of the zoo's generated client, written as a user of the server module
would write them (its TypedDicts, its enum member names, dict literals, dataclass and model
constructors with the server's field names and defaults): mypy --strict must accept it."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

from tests.codegen import zoo
from tests.codegen.golden.zoo_client import (
    AddressInput,
    Cat,
    Closed,
    Color,
    Dog,
    Insufficient,
    Level,
    NodeInput,
    NodeOutput,
    PointInput,
    PointOutput,
    Shape,
    ShelfInput,
    Span,
    StampInput,
    ZooClient,
    register_handlers,
)
from wsrpc_typed import Router, connect
from wsrpc_typed.stubs import DEFAULT


class Answers:
    """Implements ZooHandlers without inheriting from it."""

    async def ask(
        self,
        *,
        question: str,
        level: Level = Level.LOW,
        choices: list[str] = ["yes", "no"],  # noqa: B006
        where: zoo.Address | None = None,
    ) -> bool:
        return level is Level.HIGH and question in choices

    async def notice(self, *, addr: AddressInput) -> None:
        print(addr["city"])


async def every_call(url: str) -> list[object]:
    router = register_handlers(Router(), Answers())
    async with connect(url, router=router) as conn:
        client = ZooClient(conn)
        out: list[object] = []
        # Enums keep their names and mixins.
        names: list[str] = await client.enums(color=Color.RED, level=Level.HIGH)
        red: str = Color.RED  # a StrEnum member is a str, an IntEnum member an int
        out += [names, red == "red", Level.HIGH + 1, Shape.CIRCLE.value]
        out.append(await client.enums(color=Color.DARK_BLUE, level=Level.LOW, shape=Shape.CIRCLE))
        # TypedDicts: the server's own, or dict literals.
        home: zoo.Address = {"street": "Main", "city": "Town"}
        back: zoo.Address = await client.address(addr=home)
        out.append(back["city"])
        out.append((await client.address(addr={"street": "a", "city": "b", "zip": "1"}))["zip"])
        tree: zoo.Tree = {"label": "root", "kids": [{"label": "leaf"}]}
        grown = await client.tree(tree=tree, options={"depth": 2})
        out += [grown["label"], grown.get("kids", []), await client.tree(tree=tree, options={})]
        # Dataclasses and models: constructors with the server's field names and defaults.
        moved: PointOutput = await client.move(point=PointInput(1, 2), by=3)
        out += [moved.x, moved.tags, await client.move(point=PointInput(x=5, tags=["t"]))]
        out.append(await client.span(span=Span(datetime.date(2024, 1, 2))))
        node: NodeOutput = await client.node(node=NodeInput(value=1, children=[NodeInput(value=2)]))
        out.append(node.value)
        out += [await client.pet(pet=Cat()), await client.pet(pet=Dog(good=False))]
        out += [await client.either(value=2), await client.either(value="ab", point=PointInput(0))]
        shelf = ShelfInput(pair=(1, "a"), labels={"x"}, counts={"k": 2}, points=[PointInput(1)])
        out.append((await client.shelf(shelf=shelf)).order)
        text, number = await client.containers(pair=(1, "a"), labels=set(), counts={"k": [1, 2]})
        out += [
            text,
            number,
            await client.containers(
                pair=(2, "b"), labels={"q"}, counts={}, order="desc", maybe=0.5
            ),
        ]
        stamp = StampInput(
            when=datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
            day=datetime.date(2024, 1, 2),
            at=datetime.time(3, 4),
            took=datetime.timedelta(seconds=90),
            ident=uuid.UUID(int=7),
            amount=Decimal("1.25"),
            blob=b"\x00\xff",
        )
        out.append((await client.stamp(stamp=stamp)).amount)
        out.append(
            await client.typed(
                when=stamp.when, ident=stamp.ident, amount=stamp.amount, blob=stamp.blob
            )
        )
        # Defaults of every kind: omitted, given, or DEFAULT (the declared one).
        out.append(await client.defaults())
        out.append(
            await client.defaults(
                nothing=1,
                tags=["z"],
                meta={},
                point=PointInput(9),
                node=NodeInput(value=0),
                color=Color.RED,
                nested={"q": []},
                addr={"street": "s", "city": "c"},
                day=datetime.date(2000, 1, 1),
                pair=(0, "zero"),
            )
        )
        out.append(await client.defaults(tags=DEFAULT, point=DEFAULT))
        points: AsyncIterator[PointOutput] = client.count(upto=3)
        out += [p.y async for p in points]
        try:
            await client.withdraw(amount=Decimal(50))
        except Insufficient as exc:
            balance: Decimal = exc.data.balance
            out.append(balance)
        except Closed:
            out.append("closed")
        answers: list[object] = await client.ask_client(question="?")
        out.append(answers)
        return out
