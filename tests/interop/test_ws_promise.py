"""The original ws-promise 2.0.5 client (Node) against our server, msgpack and JSON; and the
same through RpcApp mounted in a FastAPI app under uvicorn.

``v2_client.mjs`` runs every scenario with the real client and prints what it
observed as one line of JSON; the tests here assert on it, one test per
scenario and mode. Each mode runs the client once (a module-scoped fixture),
against a server on 127.0.0.1 port 0 that also records what the server side
saw: the SYN_ACKs its seed-style handler awaited, the results of its calls to
the client, the errors it reported, and a Python client call made afterwards.

Install the client with ``cd tests/interop && npm install --no-package-lock``
(``scripts/test`` does it); these tests fail, never skip, when it is missing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import UNIT
from tests.helpers.apps import build_router
from tests.helpers.asgi_servers import run_uvicorn
from wsrpc_typed import Connection, Message, Server, connect
from wsrpc_typed.asgi import RpcApp
from wsrpc_typed.transport import TransportName

HERE = Path(__file__).parent
SCRIPT = HERE / "v2_client.mjs"
INSTALL = "cd tests/interop && npm install --no-package-lock"

#: The client's own hard timeout is 20 s; give it room on slow machines.
NODE_TIMEOUT = max(6 * UNIT, 30.0)

#: What an error reply must never carry to the peer.
LEAKS = ("Traceback", 'File "', "secret internal detail", "/etc/passwd")


def _primes(n: int) -> list[int]:
    return [p for p in range(2, n + 1) if all(p % d for d in range(2, int(p**0.5) + 1))]


@dataclass
class ServerSide:
    """What the server saw during one run of the Node client."""

    primes_acks: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    """``n`` of each computePrimes2 call -> the values its SYN_ACK carried."""
    greet_call: Any = None
    """``await connection.call("greet", ["hi"])``."""
    greet_request: Any = None
    """``await connection.request("greet", ["there"])`` (every reply value)."""
    reported: list[BaseException] = field(default_factory=list)
    """Exceptions the server reported through its ``error`` event."""
    health: Any = None
    """A Python client's ``add(2, 3)`` after the Node client is gone."""
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    connection: Connection | None = None

    async def compute_primes2(self, message: Message) -> None:
        """The seed-style handler: one reply value per prime; wait for the SYN_ACK."""
        n = int(message.args[0])
        ack = await message.reply(*_primes(n))
        self.primes_acks[n] = ack  # reached only once the client's SYN_ACK arrived

    async def greet_me(self, message: Message) -> None:
        """The client is listening for calls: let the test call it."""
        self.connection = message.connection
        self.ready.set()
        await message.reply("ok")

    def attach(self, rpc: Connection) -> None:
        rpc.on("computePrimes2", self.compute_primes2)
        rpc.on("greetMe", self.greet_me)

    async def call_client(self) -> None:
        """Call the client's ``greet`` the two ways, once it said it is listening."""
        await asyncio.wait_for(self.ready.wait(), NODE_TIMEOUT)
        assert self.connection is not None
        self.greet_call = await self.connection.call("greet", ["hi"], timeout=UNIT)
        self.greet_request = await self.connection.request("greet", ["there"], timeout=UNIT)


@dataclass
class Run:
    """One run of ``v2_client.mjs`` in one mode."""

    mode: str
    returncode: int | None
    stdout: str
    stderr: str
    server: ServerSide
    caller_error: BaseException | None = None

    @property
    def report(self) -> dict[str, Any]:
        """The client's JSON report; fails the test with the client's output if it has none."""
        try:
            report: dict[str, Any] = json.loads(self.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            pytest.fail(f"no JSON report from node (exit {self.returncode}):\n{self.context()}")
        return report

    def scenario(self, name: str) -> dict[str, Any]:
        """One scenario's observations; fails if the scenario raised or did not run."""
        result = self.report["scenarios"].get(name)
        if result is None or "error" in result:
            pytest.fail(f"scenario {name!r} did not complete:\n{self.context()}")
        return result  # type: ignore[no-any-return]

    def context(self) -> str:
        return f"stdout: {self.stdout[-4000:]}\nstderr: {self.stderr[-4000:]}"


#: The client's encodings.
MODES = ("msgpack", "json")


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not installed; install Node >= 20 and npm, then run: {INSTALL}")
    if not (HERE / "node_modules" / "ws-promise" / "Client.mjs").is_file():
        pytest.fail(f"ws-promise is not installed; run: {INSTALL}")
    return node


@asynccontextmanager
async def _serving(where: str, side: ServerSide) -> AsyncIterator[str]:
    """The test router, served ``where``: our Server (on websockets or picows), or RpcApp
    mounted in FastAPI."""
    if where in ("websockets", "picows"):
        transport: TransportName = "picows" if where == "picows" else "websockets"
        async with Server(build_router(), host="127.0.0.1", port=0, transport=transport) as server:
            server.on("connection", side.attach)
            server.on("error", side.reported.append)
            yield server.url
        return
    rpc = RpcApp(build_router())
    rpc.on("connection", side.attach)
    rpc.on("error", side.reported.append)
    app = FastAPI(lifespan=rpc.lifespan)
    app.mount("/rpc", rpc)
    async with run_uvicorn(app) as (_, url):
        yield url + "/rpc/"


async def _run(mode: str, where: str = "websockets") -> Run:
    node = _node()
    side = ServerSide()
    async with _serving(where, side) as url:
        caller = asyncio.create_task(side.call_client())
        proc = await asyncio.create_subprocess_exec(
            node,
            str(SCRIPT),
            url,
            mode,
            cwd=HERE,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), NODE_TIMEOUT)
        except TimeoutError:
            proc.kill()
            out, err = await proc.communicate()
        caller_error: BaseException | None = None
        try:
            await asyncio.wait_for(caller, UNIT)
        except Exception as exc:
            caller_error = exc
        async with connect(url, timeout=UNIT) as client:
            side.health = await client.call("add", [2, 3])
    return Run(mode, proc.returncode, out.decode(), err.decode(), side, caller_error)


@pytest.fixture(
    scope="module",
    params=[(mode, where) for where in ("websockets", "picows", "fastapi-mount") for mode in MODES],
    ids=lambda param: "-".join(param),
)
def run(request: pytest.FixtureRequest) -> Run:
    """Each mode, against our Server on each transport and through RpcApp in FastAPI."""
    # A fresh event loop for the module-scoped run; the tests themselves are sync.
    return asyncio.run(_run(*request.param))


def _is_error_record(value: Any) -> bool:
    return type(value) is dict and "error" in value


def _check_remote_error(observed: dict[str, Any]) -> None:
    """A RemoteError with a message, and a remoteStack that leaks nothing."""
    assert observed["threw"] and observed["remoteError"], observed
    assert observed["message"]
    stack = observed["remoteStack"]
    assert isinstance(stack, str) and stack, observed
    for leak in LEAKS:
        assert leak not in stack and leak not in observed["message"], observed
    assert "/" not in stack, f"a path in remoteStack: {stack!r}"


# -- the run as a whole -----------------------------------------------------------


def test_client_ran_cleanly(run: Run) -> None:
    assert run.returncode == 0, run.context()
    assert run.report["errors"] == [], run.context()
    assert run.report["mode"] == run.mode


def test_frames_match_the_mode(run: Run) -> None:
    frames = run.report["frames"]
    assert frames, "the client recorded no frames"
    assert all("decoded" in f for f in frames), [f for f in frames if "decoded" not in f]
    binary = run.mode == "msgpack"
    assert all(f["binary"] is binary for f in frames), f"{run.mode}: a frame of the other type"


def test_no_error_reply_leaks(run: Run) -> None:
    records = [
        arg
        for f in run.report["frames"]
        for arg in f["decoded"]["instruction"]["args"]
        if _is_error_record(arg)
    ]
    # fail, withdraw x2, noSuchMethod, add("one") x2
    assert len(records) == 6, records
    for record in records:
        text = json.dumps(record, ensure_ascii=False)
        for leak in LEAKS:
            assert leak not in text, record
        assert "/" not in record["message"] and "/" not in record["stack"], record


def test_server_stayed_healthy(run: Run) -> None:
    assert run.server.health == 5
    # The only failure the server reported is fail()'s own exception.
    assert [type(e) for e in run.server.reported] == [ValueError], run.server.reported


# -- scenarios --------------------------------------------------------------------


def test_single_call(run: Run) -> None:
    assert run.scenario("single_call") == {"result": 3}


def test_concurrent_calls(run: Run) -> None:
    observed = run.scenario("concurrent")
    assert observed["results"] == [2 * i for i in range(100)]
    assert observed["mismatched"] == 0


def test_replies_out_of_order(run: Run) -> None:
    assert run.scenario("out_of_order")["tags"] == [f"t{i}" for i in range(20)]


def test_payloads_echoed_exactly(run: Run) -> None:
    cases = run.scenario("echo")["cases"]
    assert len(cases) == 20
    for case in cases:
        assert case["equal"], case
        assert case["received"] == case["sent"], case


def test_failing_handler_is_an_opaque_remote_error(run: Run) -> None:
    observed = run.scenario("handler_fails")
    _check_remote_error(observed)
    assert observed["message"] == "Internal error"


def test_application_error(run: Run) -> None:
    observed = run.scenario("application_error")
    _check_remote_error(observed["proxy"])
    assert observed["proxy"]["message"] == "Insufficient funds"
    record = observed["record"]
    assert record["error"] is True and record["code"] == 1001
    assert record["message"] == "Insufficient funds"
    assert record["data"] == {"balance": "3.50", "requested": "5"}
    assert observed["valueCount"] == 1


def test_unknown_method_is_a_remote_error(run: Run) -> None:
    observed = run.scenario("unknown_method")
    _check_remote_error(observed)
    assert "noSuchMethod" in observed["message"]


def test_invalid_params_are_a_remote_error(run: Run) -> None:
    observed = run.scenario("invalid_params")
    _check_remote_error(observed["proxy"])
    record = observed["record"]
    assert record["code"] == -32602
    assert [e["loc"] for e in record["data"]] == [["a"]]
    assert {"loc", "msg", "type"} <= set(record["data"][0])
    assert "one" not in json.dumps(record["data"]), "the input was echoed back"


def test_seed_handler_per_connection(run: Run) -> None:
    observed = run.scenario("seed_handler")
    # The proxy shows only the first reply value; send() shows them all.
    assert observed["proxyResult"] == 2
    assert observed["sendValues"] == _primes(30)
    assert observed["replyType"] == 1
    # await message.reply(...) resolved when the SYN_ACK arrived, with its values.
    assert run.server.primes_acks == {20: (), 30: ("thanks",)}


def test_server_calls_client(run: Run) -> None:
    observed = run.scenario("server_calls_client")
    assert observed["ready"] == "ok"
    assert run.caller_error is None, repr(run.caller_error)
    assert run.server.greet_call == ["hello hi", 7]
    assert run.server.greet_request == ("hello there", 7)
    greets = observed["greets"]
    assert [g["args"] for g in greets] == [["hi"], ["there"]]
    # The client's await message.reply(...) resolved on our SYN_ACK.
    assert all(g["acked"] and g["ackType"] == 2 and g["ackValues"] == [] for g in greets), greets
