"""The generated TypeScript client in Node.js against a live server on 127.0.0.1.

``node/scenarios.ts`` (compiled with ``tsc`` together with the generated Shapes client)
runs every scenario against ``wsrpc serve tests.typescript.shapes:router`` and prints one
JSON line per result; when it asks, the test kills the server and starts it again on the
same port, and the client must reconnect.

``node/zoo_scenarios.ts`` calls every method of the handler-shapes zoo
(``tests/codegen/zoo.py``) through its generated client against ``wsrpc serve`` of the
zoo, and prints each result with the value it must equal.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.codegen import zoo
from tests.conftest import UNIT
from tests.helpers.processes import start_listening
from tests.typescript import shapes
from tests.typescript.tools import HERE, node, project, ts_source, tsc
from wsrpc_typed.schema import openrpc_document

pytestmark = pytest.mark.timeout(180)

SERVE = (sys.executable, "-m", "wsrpc_typed.cli", "serve", "tests.typescript.shapes:router")
SERVE_ZOO = (sys.executable, "-m", "wsrpc_typed.cli", "serve", "tests.codegen.zoo:router")


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both scenario programs and the clients they use, compiled in one ``tsc`` run."""
    folder = tmp_path_factory.mktemp("node")
    (folder / "shapes.ts").write_text(ts_source(shapes.router, "ShapesClient"))
    (folder / "zoo.ts").write_text(ts_source(zoo.router, "ZooClient"))
    programs = ["scenarios.ts", "zoo_scenarios.ts"]
    for name in programs:
        shutil.copy(HERE / "node" / name, folder)
    config = project(folder, programs, outDir="out", types=["node"], lib=["es2022"])
    returncode, output, _ = tsc(config)
    assert returncode == 0, output
    (folder / "out" / "package.json").write_text('{"type": "module"}\n')
    return folder / "out"


@pytest.fixture(scope="module")
def scenarios(compiled: Path) -> Path:
    return compiled / "scenarios.js"


async def generate_from_url(url: str, class_name: str) -> str:
    """The TypeScript client ``wsrpc-gen`` writes from a live server's ``rpc.discover``."""
    generate = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wsrpc_gen.cli",
        "client",
        url,
        "--lang",
        "typescript",
        "--class-name",
        class_name,
        stdout=asyncio.subprocess.PIPE,
    )
    generated, _ = await asyncio.wait_for(generate.communicate(), UNIT * 4)
    assert generate.returncode == 0
    return generated.decode()


async def stop(proc: asyncio.subprocess.Process, sig: int = signal.SIGKILL) -> None:
    if proc.returncode is None:
        proc.send_signal(sig)
        await asyncio.wait_for(proc.wait(), UNIT * 2)


async def test_node_client_against_a_live_server(scenarios: Path) -> None:
    server, url = await start_listening(*SERVE, "--port", "0")
    port = url.rsplit(":", 1)[1]
    # From the live server's rpc.discover, the same bytes as from the module.
    generated = await generate_from_url(url, "ShapesClient")
    assert generated == (scenarios.parent.parent / "shapes.ts").read_text()
    client = await asyncio.create_subprocess_exec(
        node(),
        str(scenarios),
        url,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert client.stdin is not None and client.stdout is not None and client.stderr is not None
    results: dict[str, Any] = {}
    try:
        while True:
            line = await asyncio.wait_for(client.stdout.readline(), UNIT * 6)
            if not line:
                break
            (name, value), *_ = json.loads(line).items()
            results[name] = value
            if name == "restart":
                await stop(server)
                server, url = await start_listening(*SERVE, "--port", port)
                client.stdin.write(b"started again\n")
                await client.stdin.drain()
        returncode = await asyncio.wait_for(client.wait(), UNIT * 2)
        errors = (await client.stderr.read()).decode()
    finally:
        await stop(client)
        await stop(server, signal.SIGINT)
    assert returncode == 0, (results, errors)

    full = results["full"]
    assert full["echoed"] == full["sent"]
    assert results["minimal"] == {
        "name": "min",
        "count": 0,
        "ratio": None,
        "color": "red",
        "level": 1,
        "mode": "off",
        "pair": [0, ""],
        "tags": [],
        "scores": {},
        "pet": {"kind": "cat", "lives": 9},
        "either": 0,
        "tree": None,
        "span": None,
        "label": None,
        "when": None,
        "day": None,
        "ident": None,
        "price": "0",
        "blob": "",
        "anything": None,
    }
    assert results["args"] == [
        "red",
        1,
        [0, "z"],
        [{"kind": "cat", "lives": 3}, {"kind": "dog", "good": True}],
        None,
        5,
        "on",
        {"start": 1, "end": 0},
        None,
    ]
    assert results["tree"] == {
        "value": 2,
        "children": [
            {"value": 4, "children": []},
            {"value": 6, "children": [{"value": 8, "children": []}]},
        ],
    }
    assert results["nothing"] == "ok"

    assert results["insufficient"] == {
        "cls": "InsufficientFunds",
        "isRpcError": True,
        "code": 1001,
        "message": "Insufficient funds",
        "balance": "10.00",
        "currency": "EUR",
    }
    assert results["frozen"] == {"cls": "Frozen", "code": 1002}
    assert results["invalid"] == {"cls": "InvalidParams", "loc": ["amount"]}

    # 10,000 items; while the consumer paused at item 5,000 the server ran ahead by no
    # more than the window: neither side buffered the stream.
    stream = results["stream"]
    assert (stream["received"], stream["inOrder"]) == (10_000, True)
    assert 5_000 <= stream["producedAtPause"] <= 5_000 + 2 * stream["window"], stream
    # The client held at most the window (the item in hand included), and did fill it
    # while the consumer paused.
    assert stream["mostBuffered"] == stream["window"], stream
    # Leaving the loop cancelled the handler: production stopped near the break.
    broke = results["break"]
    assert broke["last"] == 20
    assert broke["produced"] <= 20 + 2 * 8 + 1 and broke["later"] == broke["produced"], broke

    assert results["abort"]["outcome"] == "AbortError"
    assert "aborted" in results["abort"]["cancelled"]
    assert results["timeout"]["outcome"] in {"CallTimeout", "DeadlineExceeded"}
    assert "timeout" in results["timeout"]["cancelled"]

    assert results["ask"] == "HEY!"
    assert results["total"] == sum(range(1, 101))
    assert results["miscount"] == -32600  # a stream called as a plain call is refused
    assert results["notes"] == ["n1"]

    assert results["restarted"] == {
        "pending": "ConnectionClosed",
        "during": "AGAIN!",
        "after": "AFTER!",
        "reconnects": 1,
    }
    assert results["closed"] == "ConnectionClosed"


async def test_every_zoo_method_round_trips_from_node(compiled: Path) -> None:
    (method,) = [m for m in openrpc_document(zoo.router)["methods"] if m["name"] == "defaults"]
    declared = {p["name"]: p["schema"]["default"] for p in method["params"]}
    server, url = await start_listening(*SERVE_ZOO, "--port", "0")
    try:
        # From the live server's rpc.discover, the same bytes as from the module.
        generated = await generate_from_url(url, "ZooClient")
        assert generated == (compiled.parent / "zoo.ts").read_text()
        client = await asyncio.create_subprocess_exec(
            node(),
            str(compiled / "zoo_scenarios.js"),
            url,
            json.dumps(declared),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            output, errors = await asyncio.wait_for(client.communicate(), UNIT * 12)
        finally:
            await stop(client)
    finally:
        await stop(server, signal.SIGINT)
    checks = [json.loads(line) for line in output.decode().splitlines()]
    for number, check in enumerate(checks):
        assert check["got"] == check["expected"], (number, check["method"])
    assert client.returncode == 0, errors.decode()
    assert len(checks) == 33
    assert {check["method"] for check in checks} == set(zoo.router.methods)
