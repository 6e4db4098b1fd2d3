"""The handler-shapes zoo (tests/codegen/zoo.py) through the whole generator.

Its documents validate against their meta-schemas, its client is the same bytes from
the module, both schema files and a live server, each client class has the server's
JSON Schema, mypy --strict accepts right calls and rejects each wrong one where marked,
and every method round-trips values over a live server.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode
from typer.testing import CliRunner

from tests.codegen import zoo
from tests.codegen.golden import zoo_client as gen
from tests.conftest import UNIT
from wsrpc_gen.cli import app
from wsrpc_gen.python.definitions import class_name
from wsrpc_typed import Context, Router, Server, connect
from wsrpc_typed.asyncapi import asyncapi_document
from wsrpc_typed.schema import (
    WsrpcJsonSchema,
    jsonschema_document,
    openrpc_document,
    render_json,
)
from wsrpc_typed.stubs import DEFAULT

from .helpers import GOLDEN, ROOT, check_golden, client_source, import_source, peer_source
from .test_schema import OPENRPC_STRUCTURE

USAGE = Path(__file__).parent / "usage"
MYPY = ROOT / ".venv" / "bin" / "mypy"
ZOO = "tests.codegen.zoo:router"
runner = CliRunner()


def test_golden_zoo_client() -> None:
    check_golden(GOLDEN / "zoo_client.py", client_source(zoo.build_router(), "ZooClient"))


def test_documents_are_valid_against_their_meta_schemas() -> None:
    # The official OpenRPC and AsyncAPI validators run on the zoo in tests/interop too.
    router = zoo.build_router()
    document = jsonschema_document(router)
    jsonschema.Draft202012Validator.check_schema(document)
    openrpc = openrpc_document(router)
    jsonschema.Draft202012Validator(OPENRPC_STRUCTURE).validate(openrpc)
    for schema in openrpc["components"]["schemas"].values():
        jsonschema.Draft7Validator.check_schema(schema)
    asyncapi = asyncapi_document(router)
    for schema in asyncapi["components"]["schemas"].values():
        jsonschema.Draft7Validator.check_schema(schema)
    # The Python kinds reach every document.
    kinds = {k: v.get("x-python-kind") for k, v in document["$defs"].items()}
    assert kinds["Address-Input"] == kinds["Tree-Output"] == kinds["Options"] == "typeddict"
    assert kinds["Point-Input"] == kinds["Span"] == "dataclass"
    assert kinds["Node-Input"] is None
    assert openrpc["components"]["schemas"]["Span"]["x-python-kind"] == "dataclass"
    assert asyncapi["components"]["schemas"]["Options"]["x-python-kind"] == "typeddict"


async def test_client_is_the_same_bytes_from_module_files_and_url(tmp_path: Path) -> None:
    router = zoo.build_router()
    files = {
        "jsonschema": tmp_path / "zoo.schema.json",
        "openrpc": tmp_path / "zoo.openrpc.json",
    }
    files["jsonschema"].write_text(render_json(jsonschema_document(router)))
    files["openrpc"].write_text(render_json(openrpc_document(router)))
    outputs = {}
    async with Server(router, host="127.0.0.1", port=0) as server:
        sources = {"module": ZOO, **{k: str(v) for k, v in files.items()}, "url": server.url}
        for name, source in sources.items():
            out = tmp_path / f"{name}.py"
            args = ["client", source, "-o", str(out), "--class-name", "ZooClient"]
            # The URL source runs its own event loop: every source runs in a worker thread.
            result = await asyncio.to_thread(runner.invoke, app, args)
            assert result.exit_code == 0, result.output
            outputs[name] = out.read_bytes()
    assert set(outputs.values()) == {(GOLDEN / "zoo_client.py").read_bytes()}, sorted(outputs)


def test_each_client_class_has_the_server_json_schema() -> None:
    # Field names, defaults, constraints, docstrings and the Python kind, compared as
    # pydantic writes them for the client's classes and the server's.
    defs = jsonschema_document(zoo.build_router())["$defs"]
    text = json.dumps(defs)
    for key in defs:
        text = text.replace(f'"#/$defs/{key}"', f'"#/$defs/{class_name(key)}"')
    assert len(defs) == 20
    for key, expected in json.loads(text).items():
        cls = getattr(gen, class_name(key))
        mode: JsonSchemaMode = (
            "serialization" if key.endswith("-Output") or key == "Balance" else "validation"
        )
        schema = TypeAdapter(cls).json_schema(mode=mode, schema_generator=WsrpcJsonSchema)
        own = schema.pop("$defs", {})
        if "$ref" in schema:  # a recursive class refers to itself
            schema = own[schema["$ref"].removeprefix("#/$defs/")]
        assert schema == expected, key


# -- mypy --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[int]]:
    """Lines mypy --strict reports errors on, by file name: one run for every file."""
    where = tmp_path_factory.mktemp("zoo")
    wrong = where / "zoo_wrong.py"
    shutil.copy(USAGE / "zoo_wrong.py.txt", wrong)
    stub = where / "zoo_peer.py"
    stub.write_text(peer_source(zoo.build_router(), "ZooPeer"))
    paths = [GOLDEN / "zoo_client.py", stub, ROOT / "tests" / "codegen" / "zoo.py"]
    paths += [USAGE / "zoo_ok.py", wrong]
    done = subprocess.run(
        [
            str(MYPY),
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache" / "codegen-tests"),
            "--no-error-summary",
            "--hide-error-context",
            *map(str, paths),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 2: mypy itself failed
    errors: dict[str, set[int]] = {path.name: set() for path in paths}
    for match in re.finditer(r"^(?:.*/)?([\w.]+\.py):(\d+): error:", done.stdout, re.M):
        errors.setdefault(match.group(1), set()).add(int(match.group(2)))
    return errors


@pytest.mark.timeout(600)
def test_mypy_accepts_the_client_the_server_module_and_right_calls(
    mypy_errors: dict[str, set[int]],
) -> None:
    assert mypy_errors["zoo_client.py"] == set()
    assert mypy_errors["zoo_peer.py"] == set()
    assert mypy_errors["zoo.py"] == set()
    assert mypy_errors["zoo_ok.py"] == set()
    # and no error in any other file (a module they import)
    assert set(mypy_errors) == {
        "zoo_client.py",
        "zoo_peer.py",
        "zoo.py",
        "zoo_ok.py",
        "zoo_wrong.py",
    }


@pytest.mark.timeout(600)
def test_mypy_rejects_each_wrong_call_where_marked(mypy_errors: dict[str, set[int]]) -> None:
    lines = (USAGE / "zoo_wrong.py.txt").read_text().splitlines()
    expected = {n for n, line in enumerate(lines, 1) if "# E: " in line}
    assert len(expected) == 24
    assert mypy_errors["zoo_wrong.py"] == expected


# -- round trips ---------------------------------------------------------------------------


class Answers:
    """The client's side of the peer methods."""

    def __init__(self) -> None:
        self.notices: asyncio.Queue[Any] = asyncio.Queue()

    async def ask(
        self,
        *,
        question: str,
        level: gen.Level = gen.Level.LOW,
        choices: list[str],
        where: gen.AddressInput,
    ) -> bool:
        assert isinstance(level, gen.Level)
        yes = choices == ["yes", "no"] and where == {"street": "Here", "city": "Now"}
        choices.append("maybe")  # a shared default would show it on the next call
        return question == "yes?" and level is gen.Level.HIGH and yes

    async def notice(self, *, addr: gen.AddressInput) -> None:
        await self.notices.put(addr)


#: The JSON of the declared defaults of ``defaults``, as the server receives them.
DECLARED = {
    "nothing": None,
    "flag": True,
    "count": 3,
    "ratio": 1.5,
    "text": "hi",
    "tags": ["a", "b"],
    "meta": {"k": 1},
    "point": {"x": 1, "y": 2, "tags": []},
    "node": {"value": 1, "children": [{"value": 2, "children": []}]},
    "color": "green",
    "level": 2,
    "nested": {"p": [{"x": 3, "y": 4, "tags": []}]},
    "addr": {"street": "Main", "city": "Town"},
    "day": "2024-01-02",
    "amount": "1.50",
    "pair": [7, "seven"],
    "when": "2024-01-02T03:04:05Z",
    "at": "03:04:00",
    "took": "PT1H30M",
    "ident": "00000000-0000-0000-0000-000000000001",
    "blob": "AP8=",
}


async def _every_method(client: gen.ZooClient, answers: Answers) -> set[str]:
    called = set()

    def note(name: str) -> None:
        called.add(name)

    note("enums")
    assert await client.enums(color=gen.Color.RED, level=gen.Level.HIGH) == [
        "RED",
        "HIGH",
        "SQUARE",
        "True",
        "3",
    ]
    assert (
        await client.enums(color=gen.Color.DARK_BLUE, level=gen.Level.LOW, shape=gen.Shape.CIRCLE)
    )[:3] == ["DARK_BLUE", "LOW", "CIRCLE"]

    note("address")
    assert await client.address(addr={"street": "a", "city": "b"}) == {"street": "a", "city": "B"}
    full: zoo.Address = {"street": "a", "city": "b", "zip": "1"}
    assert await client.address(addr=full) == {**full, "city": "B"}

    note("tree")
    tree: zoo.Tree = {"label": "r", "kids": [{"label": "k", "kids": [{"label": "l"}]}]}
    assert await client.tree(tree=tree, options={"depth": 2}) == {
        "label": "r:2",
        "kids": tree["kids"],
    }
    assert await client.tree(tree={"label": "x"}, options={}) == {"label": "x:0", "kids": []}

    note("move")
    moved = await client.move(point=gen.PointInput(1, 2, ["t"]), by=3)
    assert moved == gen.PointOutput(4, 5, ["t", "moved"])
    assert await client.move(point=gen.PointInput(x=5)) == gen.PointOutput(6, 1, ["moved"])

    note("span")
    day = datetime.date(2024, 2, 29)
    assert await client.span(span=gen.Span(day)) == gen.Span(day, day)

    note("node")
    node = gen.NodeInput(
        value=1, children=[gen.NodeInput(value=2, children=[gen.NodeInput(value=3)])]
    )
    back = await client.node(node=node)
    assert back.value == 6 and back.children[0].children[0].value == 3

    note("pet")
    assert await client.pet(pet=gen.Cat()) == gen.Dog(good=False)
    assert await client.pet(pet=gen.Dog(good=True)) == gen.Cat(lives=2)

    note("either")
    assert await client.either(value=21) == 42
    assert await client.either(value="ab") == "abab"
    assert await client.either(value=1, point=gen.PointInput(0)) is None

    note("shelf")
    shelf = gen.ShelfInput(
        pair=(1, "a"), labels={"x"}, counts={"k": 2}, note="n", points=[gen.PointInput(7)]
    )
    got = await client.shelf(shelf=shelf)
    assert (got.pair, got.labels, got.counts, got.note, got.order) == (
        (2, "a!"),
        {"x", "seen"},
        {"k": 20},
        "n",
        "desc",
    )
    assert got.points == [gen.PointOutput(7)]

    note("containers")
    assert await client.containers(pair=(1, "a"), labels={"q"}, counts={"k": [1, 2]}) == (
        "aascNone",
        5,
    )
    assert await client.containers(
        pair=(0, "b"), labels=set(), counts={}, order="desc", maybe=0.5
    ) == ("bdesc0.5", 0)

    note("stamp")
    stamp = gen.StampInput(
        when=datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC),
        day=datetime.date(2024, 12, 31),
        at=datetime.time(23, 59, 58),
        took=datetime.timedelta(days=1, seconds=90),
        ident=uuid.UUID(int=7),
        amount=Decimal("1.25"),
        blob=b"\x00\xff\xfe",
    )
    later = await client.stamp(stamp=stamp)
    assert later == gen.StampOutput(
        when=stamp.when + datetime.timedelta(days=1),
        day=datetime.date(2025, 1, 1),
        at=stamp.at,
        took=stamp.took,
        ident=stamp.ident,
        amount=Decimal("2.50"),
        blob=b"\xfe\xff\x00",
    )

    note("typed")
    assert await client.typed(
        when=stamp.when, ident=stamp.ident, amount=stamp.amount, blob=stamp.blob
    ) == {
        "when": "2024-01-02T03:04:05.000006+00:00",
        "ident": str(uuid.UUID(int=7)),
        "amount": "1.25",
        "blob": "00fffe",
    }

    note("defaults")
    # No argument: the declared defaults reach the server, fresh each call (its handler
    # appends to `tags`; a shared value would show it the second time).
    assert await client.defaults() == DECLARED
    assert await client.defaults() == DECLARED
    assert await client.defaults(tags=DEFAULT, point=DEFAULT) == DECLARED
    given = await client.defaults(
        nothing=0,
        flag=False,
        tags=[],
        meta={"a": 2},
        point=gen.PointInput(-1),
        node=gen.NodeInput(value=5),
        color=gen.Color.RED,
        level=gen.Level.LOW,
        nested={},
        addr={"street": "s", "city": "c", "zip": "z"},
        day=datetime.date(2000, 1, 1),
        amount=Decimal("0.1"),
        pair=(0, "zero"),
    )
    assert given == {
        **DECLARED,
        "nothing": 0,
        "flag": False,
        "tags": [],
        "meta": {"a": 2},
        "point": {"x": -1, "y": 0, "tags": []},
        "node": {"value": 5, "children": []},
        "color": "red",
        "level": 1,
        "nested": {},
        "addr": {"street": "s", "city": "c", "zip": "z"},
        "day": "2000-01-01",
        "amount": "0.1",
        "pair": [0, "zero"],
    }

    note("count")
    assert [p async for p in client.count(upto=3)] == [gen.PointOutput(i, -i) for i in range(3)]
    items: AsyncIterator[gen.PointOutput] = client.count(upto=5, start=4)
    assert [p.x async for p in items] == [4]

    note("withdraw")
    assert await client.withdraw(amount=Decimal("2.5")) == gen.Balance(balance=Decimal("7.5"))
    with pytest.raises(gen.Insufficient) as info:
        await client.withdraw(amount=Decimal(50))
    assert info.value.code == 2001 and info.value.data == gen.Balance(balance=Decimal("10.00"))
    with pytest.raises(gen.Closed):
        await client.withdraw(amount=Decimal(1), account="closed")

    note("ask_client")
    # The server calls the client's handlers: `level` given (twice: the default `choices`
    # is new each time), then `level` left to its default, then `choices` given.
    assert await client.ask_client(question="yes?") == [True, True, False, False]
    addr = await asyncio.wait_for(answers.notices.get(), UNIT)
    assert addr == {"street": "S", "city": "C"}
    return called


async def test_every_method_round_trips_over_a_live_server() -> None:
    router = zoo.build_router()
    answers = Answers()
    client_router = gen.register_handlers(Router(), answers)
    assert sorted(client_router.methods) == ["ask", "notice"]
    async with (
        Server(router, host="127.0.0.1", port=0) as server,
        connect(server.url, router=client_router) as conn,
    ):
        called = await _every_method(gen.ZooClient(conn), answers)
    assert called == set(router.methods)


async def test_the_peer_stub_calls_the_client_handlers_with_declared_defaults(
    tmp_path: Path,
) -> None:
    router = zoo.build_router()
    stub = import_source(peer_source(router, "ZooPeer"), tmp_path, "zoo_peer_rt")

    @router.method
    async def through_stub(ctx: Context) -> list[bool]:
        peer = stub.ZooPeer(ctx.peer)
        high = stub.Level.HIGH
        out = [await peer.ask(question="yes?", level=high)]  # choices, where: DEFAULT
        out.append(await peer.ask(question="yes?", level=high, choices=DEFAULT))
        out.append(await peer.ask(question="yes?", level=high, choices=["yes"]))
        await peer.notify_notice(addr={"street": "T", "city": "U"})
        return out

    answers = Answers()
    async with (
        Server(router, host="127.0.0.1", port=0) as server,
        connect(server.url, router=gen.register_handlers(Router(), answers)) as conn,
    ):
        assert await conn.call("through_stub") == [True, True, False]
        addr = await asyncio.wait_for(answers.notices.get(), UNIT)
        assert addr == {"street": "T", "city": "U"}


def test_declared_defaults_are_what_the_schema_holds() -> None:
    # What the round trip compares against is the document's own defaults.
    (method,) = [
        m for m in openrpc_document(zoo.build_router())["methods"] if m["name"] == "defaults"
    ]
    assert {p["name"]: p["schema"]["default"] for p in method["params"]} == DECLARED
