"""``wsrpc call``, ``list`` and ``describe`` against in-process servers over real sockets:
streams printed line by line and cancelled on Ctrl-C, headers and tokens that reach the
server's authenticate hook, and discovery output for the chat example."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from examples.chat.service import router as chat_router
from tests.conftest import UNIT
from tests.helpers import cli_app
from tests.helpers.processes import ROOT, ignore_sigint
from wsrpc_typed import Server, connect
from wsrpc_typed.dialects.detect import SUBPROTOCOLS

WSRPC = [sys.executable, "-m", "wsrpc_typed.cli"]
BEARER = ("--token", cli_app.TOKEN)


async def run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *WSRPC, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), UNIT * 2)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def guarded() -> AsyncIterator[str]:
    """The CLI test router behind its authenticate hook, in this process."""
    cli_app.seen_headers.clear()
    cli_app.stream_cancelled.clear()
    async with Server(cli_app.router, port=0, authenticate=cli_app.authenticate) as server:
        yield server.url


@pytest.fixture
async def chat() -> AsyncIterator[str]:
    async with Server(chat_router, port=0) as server:
        yield server.url


async def test_a_stream_prints_one_json_line_per_item(guarded: str) -> None:
    code, out, err = await run("call", guarded, "count", "[3]", *BEARER)
    assert (code, out.splitlines(), err) == (0, ["0", "1", "2"], "")


async def test_no_stream_calls_it_as_a_plain_call_and_shows_the_servers_answer(
    guarded: str,
) -> None:
    code, out, err = await run("call", guarded, "count", "[3]", "--no-stream", *BEARER)
    assert (code, out) == (1, "")
    assert json.loads(err)["error"]["code"] == -32600


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["default", "sigint-ignored"])
async def test_ctrl_c_cancels_the_stream_on_the_wire(guarded: str, sigint_ignored: bool) -> None:
    proc = await asyncio.create_subprocess_exec(
        *WSRPC,
        *("call", guarded, "forever", *BEARER),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        preexec_fn=ignore_sigint if sigint_ignored else None,
    )
    assert proc.stdout is not None
    for expected in ("0", "1", "2"):
        line = await asyncio.wait_for(proc.stdout.readline(), UNIT)
        assert line.decode().strip() == expected
    assert not cli_app.stream_cancelled.is_set()
    proc.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(proc.wait(), UNIT) == 130
    await asyncio.wait_for(cli_app.stream_cancelled.wait(), UNIT)


async def test_token_and_headers_reach_the_authenticate_hook(guarded: str) -> None:
    code, out, _ = await run(
        "call", guarded, "echo", '{"text": "hi"}', *BEARER, "-H", "X-Trace: abc", "-H", "X-B:1"
    )
    assert (code, json.loads(out)) == (0, "hi")
    seen = cli_app.seen_headers[-1]
    assert seen["authorization"] == f"Bearer {cli_app.TOKEN}"
    assert (seen["x-trace"], seen["x-b"]) == ("abc", "1")


async def test_a_refused_handshake_is_one_line_with_the_status(guarded: str) -> None:
    code, out, err = await run("call", guarded, "echo", '{"text": "hi"}')
    assert (code, out) == (1, "")
    assert err.startswith("error: cannot connect") and err.count("\n") == 1, err
    assert "401" in err and "a valid token is required" in err


@pytest.mark.parametrize("header", ["no colon", ": empty name"])
async def test_a_malformed_header_is_a_usage_error(guarded: str, header: str) -> None:
    code, out, err = await run("call", guarded, "echo", "[]", "-H", header)
    assert (code, out) == (2, "")
    assert err.startswith("error: a header must look like 'Name: value'"), err


async def test_list_shows_methods_and_peer_methods_with_their_docs(chat: str) -> None:
    code, out, err = await run("list", chat)
    assert (code, err) == (0, "")
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["Chat", "1.0.0"]
    methods = out.split("peer methods")[0]
    peers = out.split("peer methods")[1]
    for name in ("clear", "history", "join", "leave", "say"):
        assert f"  {name} " in methods
    assert "Stream the room's messages" in methods and "(stream)" in methods
    assert "  confirm  Answer a yes/no question from the server." in peers
    assert "  message " in peers


async def test_describe_shows_params_result_errors_and_stream_items(chat: str) -> None:
    code, out, _ = await run("describe", chat, "say")
    assert code == 0
    assert 'room: string  (required; minLength 1, maxLength 40, pattern "^[a-z0-9-]+$")' in out
    assert "text: string  (required; maxLength 500)" in out
    assert "result: ChatMessage" in out
    assert "4001 NotInRoom" in out
    code, out, _ = await run("describe", chat, "history")
    assert code == 0
    assert "after: integer  (default 0)" in out and "stream of ChatMessage" in out


async def test_describe_of_an_unknown_method_names_the_ones_there_are(chat: str) -> None:
    code, out, err = await run("describe", chat, "nope")
    assert (code, out) == (1, "")
    assert err == "error: no method 'nope': the server has clear, history, join, leave, say\n"


INVALID_PARAMS = [
    ("join", '{"room": "Bad Room", "name": ""}'),  # a pattern and a min length
    ("join", '{"room": "lobby"}'),  # a required param missing
    ("join", '{"room": "lobby", "name": "ann", "extra": 1}'),  # an unknown param
    ("join", '["lobby", "ann", 3]'),  # more positional params than the method takes
    ("say", '{"room": "lobby", "text": 7}'),
    ("history", '{"room": "lobby", "after": "soon"}'),  # a stream
]


@pytest.mark.parametrize(("method", "params"), INVALID_PARAMS)
async def test_invalid_params_print_what_the_server_would_answer(
    chat: str, method: str, params: str
) -> None:
    checked = await run("call", chat, method, params)
    sent = await run("call", chat, method, params, "--no-validate")
    assert (checked[0], checked[1], sent[0], sent[1]) == (1, "", 1, "")
    local, note = checked[2].splitlines()
    assert json.loads(local)["error"]["code"] == -32602
    assert local == sent[2].strip(), "the local check differs from the server's answer"
    assert note.startswith("note: not sent")


async def test_invalid_params_are_not_sent_and_valid_ones_are() -> None:
    """Against a server that records every request: only rpc.discover arrives for bad params."""
    async with Server(chat_router, port=0) as source:
        described = json.dumps(await _discover_document(source.url))
    received: list[str] = []

    async def answer(websocket: ServerConnection) -> None:
        async for frame in websocket:
            request = json.loads(frame)
            received.append(request["method"])
            result = json.loads(described) if request["method"] == "rpc.discover" else ["ann"]
            await websocket.send(
                json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result})
            )

    async with serve(answer, "127.0.0.1", 0, subprotocols=[Subprotocol(SUBPROTOCOLS[0])]) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}"
        code, _, _ = await run("call", url, "join", '{"room": "Bad Room", "name": "ann"}')
        assert (code, received) == (1, ["rpc.discover"])
        code, out, _ = await run("call", url, "join", '{"room": "lobby", "name": "ann"}')
        assert (code, json.loads(out)) == (0, ["ann"])
        assert received == ["rpc.discover", "rpc.discover", "join"]


async def _discover_document(url: str) -> object:
    async with connect(url) as client:
        return await client.call("rpc.discover")


async def test_wsrpc_gen_client_from_a_url_that_authenticates(guarded: str) -> None:
    gen = ("-m", "wsrpc_gen.cli", "client")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *gen,
        "tests.helpers.cli_app:router",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    from_module, _ = await asyncio.wait_for(proc.communicate(), UNIT * 2)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *gen,
        guarded,
        *BEARER,
        *("-H", "X-Trace: gen"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    from_url, _ = await asyncio.wait_for(proc.communicate(), UNIT * 2)
    assert proc.returncode == 0 and from_url == from_module and b"class " in from_url
    assert cli_app.seen_headers[-1]["x-trace"] == "gen"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *gen,
        guarded,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), UNIT * 2)
    assert (proc.returncode, out) == (2, b"")
    assert err.startswith(b"error: cannot fetch rpc.discover") and b"401" in err, err


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["client", "--bogus"], "No such option: --bogus (see 'wsrpc-gen client --help')"),
        (["schema", "nosuch:router"], "cannot import 'nosuch'"),
        (["client", "ws://127.0.0.1:1", "-H", "broken"], "a header must look like"),
    ],
)
async def test_wsrpc_gen_usage_errors_are_one_line_and_exit_2(
    args: list[str], fragment: str
) -> None:
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "wsrpc_gen.cli", *args),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), UNIT * 2)
    assert (proc.returncode, out) == (2, b"")
    assert err.startswith(b"error: ") and err.count(b"\n") == 1, err
    assert fragment in err.decode()
