"""Peer methods: one document declares both directions; code for both sides is generated from it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.codegen import bank, peers
from tests.conftest import UNIT
from wsrpc_gen.cli import app
from wsrpc_gen.loaders import spec_from_document
from wsrpc_typed import Context, InvalidParams, Router, Server, connect
from wsrpc_typed.errors import CodegenError
from wsrpc_typed.schema import api_spec, jsonschema_document, openrpc_document, render_json

from .helpers import client_source, import_source, peer_source

runner = CliRunner()
PEERS = "tests.codegen.peers:build_router"


def _doc(render: Any, router: Router) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render_json(render(router)))
    return loaded


def test_both_documents_declare_peer_methods_and_share_definitions() -> None:
    router = peers.build_router()
    schema = _doc(jsonschema_document, router)
    assert list(schema["x-peer-methods"]) == ["count", "pick", "shout", "tell"]
    assert schema["x-peer-methods"]["count"]["x-stream"] is True
    shout = schema["x-peer-methods"]["shout"]["properties"]
    assert shout["params"]["properties"]["note"] == {"$ref": "#/$defs/Note"}
    assert shout["error"]["oneOf"][0]["properties"]["code"] == {"const": 4100}
    assert "shout" not in schema["properties"]  # a peer method is not served
    openrpc = _doc(openrpc_document, router)
    assert [m["name"] for m in openrpc["x-peer-methods"]] == ["count", "pick", "shout", "tell"]
    assert openrpc["x-peer-methods"][2]["errors"] == [{"$ref": "#/components/errors/Refused"}]
    assert sorted(openrpc["components"]["schemas"]) == ["Audit", "Note"]
    assert openrpc["x-error-details"]["Refused"]["data"] == {"$ref": "#/components/schemas/Note"}


@pytest.mark.parametrize("render", [jsonschema_document, openrpc_document])
def test_peer_methods_read_back_into_the_same_spec(render: Any) -> None:
    spec = api_spec(peers.build_router())
    assert [m.name for m in spec.peer_methods] == ["count", "pick", "shout", "tell"]
    assert spec_from_document(json.loads(render_json(render(spec)))) == spec


def test_a_router_without_peer_methods_has_no_extension_and_no_handlers() -> None:
    router = bank.build_router()
    assert "x-peer-methods" not in openrpc_document(router)
    assert "x-peer-methods" not in jsonschema_document(router)
    text = client_source(router, "BankClient")
    assert "Protocol" not in text and "register_handlers" not in text


def test_peer_command_refuses_a_document_without_peer_methods() -> None:
    result = runner.invoke(app, ["peer", "tests.codegen.bank:router"])
    assert result.exit_code == 2
    assert "declares no peer methods" in result.stderr


async def test_peer_stub_is_byte_identical_from_every_source(tmp_path: Path) -> None:
    router = peers.build_router()
    files = {
        "jsonschema": tmp_path / "p.schema.json",
        "openrpc": tmp_path / "p.openrpc.json",
    }
    files["jsonschema"].write_text(render_json(jsonschema_document(router)))
    files["openrpc"].write_text(render_json(openrpc_document(router)))
    outputs = {}
    async with Server(router, host="127.0.0.1", port=0) as server:
        sources = {"module": "tests.codegen.peers:ROUTER", **files, "url": server.url}
        for name, source in sources.items():
            out = tmp_path / f"{name}.py"
            args = ["peer", str(source), "-o", str(out), "--class-name", "RelayPeer"]
            # The URL source runs its own event loop: every source from a worker thread.
            result = await asyncio.to_thread(runner.invoke, app, args)
            assert result.exit_code == 0, result.output
            outputs[name] = out.read_bytes()
    assert len(set(outputs.values())) == 1, sorted(outputs)
    assert outputs["url"].decode() == peer_source(router, "RelayPeer")


def test_peer_stub_carries_what_its_methods_use_and_notify_twins() -> None:
    text = peer_source(peers.build_router(), "RelayPeer")
    assert "class Note(BaseModel):" in text and "class Refused(RpcError):" in text
    assert "Audit" not in text  # used by the server's methods only
    assert "    def __init__(self, connection: Caller) -> None:" in text
    assert "    async def notify_tell(self, *, note: Note) -> None:" in text
    assert "notify_shout" not in text and "notify_count" not in text  # results / a stream
    assert "#   wsrpc-gen peer SOURCE -o FILE --class-name RelayPeer\n" in text


def test_client_declares_the_handlers_protocol_and_registration_helper() -> None:
    text = client_source(peers.build_router(), "RelayClient")
    assert "class RelayHandlers(Protocol):" in text
    assert "    def count(self, *, upto: int) -> AsyncIterator[int]:" in text
    assert (
        "    async def shout(self, *, note: Note, times: Annotated[int, Field(ge=1, le=3)] = 1) "
        "-> str:" in text
    )
    # A param named `handlers` renames the helper's argument; a soft keyword keeps its
    # wire name in the registered wrapper and gets a Python name in the Protocol.
    assert "def register_handlers(router: Router, handlers_: RelayHandlers) -> Router:" in text
    assert "    async def pick(self, *, match_: str, handlers: int = 0) -> str:" in text
    assert "        return await handlers_.pick(match_=match, handlers=handlers)" in text


def test_handlers_name_option_and_collisions() -> None:
    router = peers.build_router()
    text = client_source(router, "RelayClient", handlers_name="Impl")
    assert "class Impl(Protocol):" in text and '    "Impl",' in text
    with pytest.raises(CodegenError, match="--handlers-name 'register_handlers' would shadow"):
        client_source(router, "RelayClient", handlers_name="register_handlers")
    with pytest.raises(CodegenError, match="--handlers-name 'Router' would shadow"):
        client_source(router, "RelayClient", handlers_name="Router")
    with pytest.raises(CodegenError, match="are both 'X'"):
        client_source(router, "X", handlers_name="X")


def test_a_model_named_like_the_protocol_is_renamed() -> None:
    router = Router()
    router.peer.add(peers.echo)
    text = client_source(router, "RelayClient")
    assert "class RelayHandlers2(BaseModel):" in text
    assert "class RelayHandlers(Protocol):" in text
    assert "    async def echo(self, *, value: RelayHandlers2) -> int:" in text


def test_a_notify_twin_that_collides_is_rejected() -> None:
    router = Router()

    async def tell() -> None: ...

    router.peer.add(tell, name="tell")
    router.peer.add(tell, name="notify_tell")
    with pytest.raises(CodegenError, match=r"'tell' is sent as a notification by 'notify_tell'"):
        peer_source(router, "P")


def test_a_peer_param_that_is_not_a_python_name_is_rejected() -> None:
    router = peers.build_router()
    doc = json.loads(render_json(openrpc_document(router)))
    doc["x-peer-methods"][3]["params"][0]["name"] = "the note"
    from wsrpc_gen.generate import generate_client

    with pytest.raises(CodegenError, match=r"peer method 'tell': a param name \('the note'"):
        generate_client(doc, class_name="C")


async def test_both_directions_round_trip_through_generated_code(tmp_path: Path) -> None:
    router = peers.build_router()
    client_mod = import_source(client_source(router, "RelayClient"), tmp_path, "relay_client")
    peer_mod = import_source(peer_source(router, "RelayPeer"), tmp_path, "relay_peer")
    told: asyncio.Queue[Any] = asyncio.Queue()

    class Impl:
        async def shout(self, *, note: Any, times: int = 1) -> str:
            if note.text == "no":
                raise client_mod.Refused(data=client_mod.Note(text="never"))
            return " ".join([note.text.upper()] * times)

        async def count(self, *, upto: int) -> AsyncIterator[int]:
            for i in range(1, upto + 1):
                yield i

        async def tell(self, *, note: Any) -> None:
            await told.put(note)

        async def pick(self, *, match_: str, handlers: int = 0) -> str:
            return f"{match_}:{handlers}"

    @router.method
    async def run(ctx: Context) -> list[str]:
        peer = peer_mod.RelayPeer(ctx.peer)
        out = [await peer.shout(note=peer_mod.Note(text="hi"), times=2)]
        out.append(await peer.pick(match_="m", handlers=7))
        out += [str(i) async for i in peer.count(upto=3)]
        try:
            await peer.shout(note=peer_mod.Note(text="no"))
        except peer_mod.Refused as exc:  # the client's typed error, typed data
            out.append(f"refused:{exc.data.text}")
        try:  # the wrapper validates with the schema's types (times: 1..3)
            await ctx.peer.call("shout", {"note": {"text": "x"}, "times": 9})
        except InvalidParams as exc:
            out.append(f"invalid:{exc.data[0]['loc']}")
        await peer.notify_tell(note=peer_mod.Note(text="n", loud=True))
        return out

    client_router = client_mod.register_handlers(Router(), Impl())
    assert sorted(client_router.methods) == ["count", "pick", "shout", "tell"]
    async with (
        Server(router, host="127.0.0.1", port=0) as server,
        connect(server.url, router=client_router) as conn,
    ):
        result = await conn.call("run")
        assert result == ["HI HI", "m:7", "1", "2", "3", "refused:never", "invalid:['times']"]
        note = await asyncio.wait_for(told.get(), UNIT)
        assert isinstance(note, client_mod.Note) and note == client_mod.Note(text="n", loud=True)
