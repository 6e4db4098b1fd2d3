"""The AsyncAPI 3.0 document: every method with its direction, reply and correlation id,
the stream, credit and cancel messages, the declared errors, and ``wsrpc-gen schema
--format asyncapi`` from every source.

The documents are validated against the official AsyncAPI 3.0 schema and parser in
``tests/interop/test_asyncapi_schema.py``; here their content is read back.
"""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from tests.codegen import bank, peers
from tests.helpers import apps
from wsrpc_gen.cli import app
from wsrpc_typed import Router, RpcError, Server
from wsrpc_typed.asyncapi import asyncapi_document
from wsrpc_typed.schema import MethodSpec, SchemaError, api_spec, openrpc_document, render_json

from .helpers import ROOT

ROUTERS = {
    "bank": bank.build_router,
    "bank+stream": lambda: bank.add_stream(bank.build_router()),
    "apps": apps.build_router,
    "peers": peers.build_router,
}
BY_ID = "$message.payload#/id"
BY_PARAMS_ID = "$message.payload#/params/id"
runner = CliRunner()


def document(router: Router, **options: Any) -> dict[str, Any]:
    """The document as a file holds it (through its canonical text)."""
    loaded: dict[str, Any] = json.loads(render_json(asyncapi_document(router, **options)))
    return loaded


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def message_keys(operation: dict[str, Any], part: str = "messages") -> list[str]:
    """The channel message keys an operation (or its reply) lists."""
    holder = operation if part == "messages" else operation["reply"]
    prefix = "#/channels/rpc/messages/"
    refs = [m["$ref"] for m in holder["messages"]]
    assert all(ref.startswith(prefix) for ref in refs), refs
    return [ref[len(prefix) :] for ref in refs]


def message(doc: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = resolve(doc, doc["channels"]["rpc"]["messages"][key]["$ref"])
    return found


def refs_in(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return own + [r for v in value.values() for r in refs_in(v)]
    if isinstance(value, list):
        return [r for v in value for r in refs_in(v)]
    return []


def payload_validator(doc: dict[str, Any], key: str) -> jsonschema.Draft7Validator:
    """A validator of one message's payload, its references resolved in the document."""
    root = {**doc, "$ref": doc["channels"]["rpc"]["messages"][key]["$ref"] + "/payload"}
    return jsonschema.Draft7Validator(root)


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def check_call(doc: dict[str, Any], method: MethodSpec, peer: bool) -> None:
    """One method's operations and messages, as the module docstring describes them."""
    base = ("peer." if peer else "") + method.name
    call = doc["operations"][base]
    assert call["action"] == ("receive" if peer else "send")
    assert call["channel"] == {"$ref": "#/channels/rpc"}
    assert call["reply"]["channel"] == {"$ref": "#/channels/rpc"}
    assert message_keys(call) == [f"{base}.request"]
    request = message(doc, f"{base}.request")
    assert request["correlationId"]["location"] == BY_ID
    payload = request["payload"]
    assert payload["properties"]["method"] == {"const": method.name}
    assert {"jsonrpc", "id", "method"} <= set(payload["required"])
    by_name, by_position = payload["properties"]["params"]["oneOf"]
    assert list(by_name["properties"]) == [p.name for p in method.params]
    assert by_position["type"] == "array"
    end = f"{base}.end" if method.stream else f"{base}.result"
    errors = [f"error.{e.name}" for e in method.errors]
    assert message_keys(call, "reply") == [end, *errors, "rpc.error"]
    for key in message_keys(call, "reply"):
        assert message(doc, key)["correlationId"]["location"] == BY_ID
        assert set(message(doc, key)["payload"]["required"]) >= {"jsonrpc", "id"}
    for error in method.errors:
        body = message(doc, f"error.{error.name}")["payload"]["properties"]["error"]
        assert body["properties"]["code"] == {"const": error.code}
    if method.stream:
        assert "credit" in payload["required"]
        assert f"{base}.notify" not in doc["operations"]
        items = doc["operations"][f"{base}.items"]
        assert items["action"] == ("send" if peer else "receive") and "reply" not in items
        item = message(doc, f"{base}.item")
        assert item["correlationId"]["location"] == BY_PARAMS_ID
        assert item["payload"]["properties"]["method"] == {"const": "rpc.item"}
        assert message(doc, end)["payload"]["properties"]["result"] == {"type": "null"}
    else:
        assert "credit" not in payload["properties"]
        notify = doc["operations"][f"{base}.notify"]
        assert notify["action"] == call["action"] and "reply" not in notify
        assert message_keys(notify) == [f"{base}.notification"]
        notification = message(doc, f"{base}.notification")["payload"]
        assert "id" not in notification["properties"] and "correlationId" not in notification


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_every_method_has_its_operations_with_direction_reply_and_correlation_id(
    name: str,
) -> None:
    router = ROUTERS[name]()
    spec = api_spec(router)
    doc = document(router)
    assert doc["asyncapi"] == "3.0.0"
    assert list(doc["channels"]) == ["rpc"] and doc["channels"]["rpc"]["address"] == "/"
    for method in spec.methods:
        check_call(doc, method, peer=False)
    for method in spec.peer_methods:
        check_call(doc, method, peer=True)
    controls = {
        "rpc.cancel": "send",
        **({"rpc.credit": "send"} if any(m.stream for m in spec.methods) else {}),
        **({"peer.rpc.cancel": "receive"} if spec.peer_methods else {}),
        **({"peer.rpc.credit": "receive"} if any(m.stream for m in spec.peer_methods) else {}),
    }
    for key, action in controls.items():
        assert doc["operations"][key]["action"] == action
        (sent,) = message_keys(doc["operations"][key])
        assert message(doc, sent)["correlationId"]["location"] == BY_PARAMS_ID
    calls = {m.name for m in spec.methods} | {f"peer.{m.name}" for m in spec.peer_methods}
    extra = {k.removesuffix(".notify").removesuffix(".items") for k in doc["operations"]} - calls
    assert extra == set(controls)  # no operation that the API does not have


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_every_reference_resolves_and_every_message_is_used(name: str) -> None:
    doc = document(ROUTERS[name]())
    for ref in refs_in(doc):
        assert resolve(doc, ref) is not None, ref
        assert ref.startswith(("#/channels/rpc", "#/components/schemas/", "#/components/messages/"))
    channel = doc["channels"]["rpc"]["messages"]
    assert list(channel) == list(doc["components"]["messages"])
    used = {
        key
        for operation in doc["operations"].values()
        for part in ("messages", "reply")
        if part in operation
        for key in message_keys(operation, part)
    }
    assert used == set(channel)


def test_the_structural_check_can_fail() -> None:
    router = peers.build_router()
    doc = document(router)
    doc["operations"]["peer.shout"]["action"] = "send"  # the server's call, not the client's
    with pytest.raises(AssertionError):
        check_call(doc, api_spec(router).peer_methods[2], peer=True)
    doc = document(router)
    del doc["operations"]["peer.count"]["reply"]["messages"][0]  # the end of the stream
    with pytest.raises(AssertionError):
        check_call(doc, api_spec(router).peer_methods[0], peer=True)


def test_payloads_accept_the_wire_messages_and_refuse_others() -> None:
    doc = document(bank.build_router())
    withdraw = payload_validator(doc, "withdraw.request")
    params = {"amount": "5", "account": "a"}
    call = {"jsonrpc": "2.0", "id": 1, "method": "withdraw", "params": params}
    assert withdraw.is_valid(call)
    assert withdraw.is_valid({**call, "params": ["5", "a"], "timeout": 0.5})
    assert withdraw.is_valid({**call, "params": [5]})
    assert not withdraw.is_valid({**call, "params": [5, "a", "extra"]})
    assert not withdraw.is_valid({**call, "params": {"account": "a"}})  # amount is required
    assert not withdraw.is_valid({**call, "method": "deposit"})
    notify = payload_validator(doc, "withdraw.notification")
    assert not notify.is_valid(call)  # a request is not a notification
    assert notify.is_valid({k: v for k, v in call.items() if k != "id"})
    error = {"code": 1001, "message": "Insufficient funds", "data": {"balance": "1.5"}}
    reply = {"jsonrpc": "2.0", "id": 1, "error": error}
    assert payload_validator(doc, "error.InsufficientFunds").is_valid(reply)
    assert not payload_validator(doc, "rpc.error").is_valid(reply)  # it is declared
    other = {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
    assert payload_validator(doc, "rpc.error").is_valid(other)


def test_stream_messages_carry_credit_items_and_the_end() -> None:
    doc = document(bank.add_stream(bank.build_router()))
    request = payload_validator(doc, "ticks.request")
    call = {"jsonrpc": "2.0", "id": 7, "method": "ticks", "params": {"n": 3}}
    assert not request.is_valid(call)  # a stream is called with credit
    assert request.is_valid({**call, "credit": 2})
    item = payload_validator(doc, "ticks.item")
    balance = {"balance": "1", "currency": "EUR"}
    assert item.is_valid(notification("rpc.item", {"id": 7, "item": balance}))
    assert not item.is_valid(notification("rpc.item", {"id": 7, "item": {"currency": "EUR"}}))
    credit = payload_validator(doc, "rpc.credit")
    assert credit.is_valid(notification("rpc.credit", {"id": 7, "credit": 2}))
    assert not credit.is_valid(notification("rpc.credit", {"id": 7, "credit": 0}))
    cancel = payload_validator(doc, "rpc.cancel")
    assert cancel.is_valid(notification("rpc.cancel", {"id": 7}))
    assert not cancel.is_valid(notification("rpc.credit", {"id": 7}))
    end = payload_validator(doc, "ticks.end")
    assert end.is_valid({"jsonrpc": "2.0", "id": 7, "result": None})
    assert not end.is_valid({"jsonrpc": "2.0", "id": 7, "result": 1})


def test_info_servers_and_address() -> None:
    doc = document(peers.build_router())
    assert "servers" not in doc
    assert doc["info"]["title"] == "wsrpc-typed API" and doc["info"]["version"] == "0.0.0"
    assert doc["info"]["description"].startswith("The operations are the client's")
    doc = document(peers.build_router(), server_url="wss://chat.example:8443/rpc/v1")
    assert doc["servers"] == {"server": {"host": "chat.example:8443", "protocol": "wss"}}
    assert doc["channels"]["rpc"]["address"] == "/rpc/v1"
    for url in ("http://example.com/", "ws://", "example.com"):
        with pytest.raises(SchemaError, match="ws://HOST"):
            asyncapi_document(peers.build_router(), server_url=url)


def test_schemas_are_draft_07_with_asyncapi_discriminators() -> None:
    doc = document(bank.build_router())
    text = json.dumps(doc)
    assert "#/$defs/" not in text and "prefixItems" not in text
    assert set(doc["components"]["schemas"]) == set(api_spec(bank.build_router()).defs)
    pet = message(doc, "pet.request")["payload"]["properties"]["params"]["oneOf"][0]
    assert pet["properties"]["pet"]["discriminator"] == "kind"
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft7Validator.check_schema(schema)


def test_names_that_give_one_key_are_refused() -> None:
    router = Router()

    @router.method(name="a b")
    async def one() -> None: ...

    @router.method(name="a_b")
    async def two() -> None: ...

    with pytest.raises(SchemaError, match=r"'a_b' becomes the AsyncAPI key 'a_b\.request'"):
        asyncapi_document(router)


def test_an_error_two_methods_declare_is_one_message() -> None:
    class Nope(RpcError):
        code = 4444
        default_message = "Nope"

    router = Router()

    @router.method(errors=[Nope])
    async def one() -> None: ...

    @router.method(errors=[Nope])
    async def two() -> None: ...

    doc = document(router)
    assert [k for k in doc["components"]["messages"] if k.startswith("error.")] == ["error.Nope"]
    assert message_keys(doc["operations"]["one"], "reply")[1] == "error.Nope"
    assert message_keys(doc["operations"]["two"], "reply")[1] == "error.Nope"


def test_the_document_is_deterministic_and_the_same_from_the_openrpc_document() -> None:
    from wsrpc_gen.loaders import spec_from_document

    router = bank.build_router()
    first = render_json(asyncapi_document(router))
    assert render_json(asyncapi_document(bank.build_router())) == first
    read_back = spec_from_document(json.loads(render_json(openrpc_document(router))))
    assert render_json(asyncapi_document(read_back)) == first


async def test_wsrpc_gen_writes_the_same_document_from_every_source(tmp_path: Path) -> None:
    router = peers.build_router()
    openrpc_file = tmp_path / "peers.openrpc.json"
    openrpc_file.write_text(render_json(openrpc_document(router)))
    expected = render_json(asyncapi_document(router))
    sources = ["tests.codegen.peers:ROUTER", str(openrpc_file)]
    async with Server(router, host="127.0.0.1", port=0) as server:
        for source in [*sources, server.url]:
            out = tmp_path / "out.json"
            args = ["schema", source, "--format", "asyncapi", "-o", str(out)]
            # The URL source runs its own event loop: from a worker thread.
            result = await asyncio.to_thread(runner.invoke, app, args)
            assert result.exit_code == 0, result.output
            assert out.read_text() == expected, source
            result = await asyncio.to_thread(runner.invoke, app, [*args, "--check"])
            assert result.exit_code == 0, result.output


def test_wsrpc_gen_server_url_option(tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    args = ["schema", "tests.codegen.peers:ROUTER", "-f", "asyncapi", "-o", str(out)]
    result = runner.invoke(app, [*args, "--server-url", "ws://127.0.0.1:8765/"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["servers"]["server"]["host"] == "127.0.0.1:8765"
    result = runner.invoke(app, [*args, "--check"])  # the file has a server; this has none
    assert result.exit_code == 1 and '-  "servers": {' in result.stdout
    result = runner.invoke(app, [*args, "--server-url", "http://x/"])
    assert result.exit_code == 2 and "ws://HOST" in result.stderr
    result = runner.invoke(
        app, ["schema", "tests.codegen.peers:ROUTER", "--server-url", "ws://127.0.0.1/"]
    )
    assert result.exit_code == 2 and "--server-url goes with --format asyncapi" in result.stderr


def test_asyncapi_module_imports_neither_asyncio_nor_websockets() -> None:
    tree = ast.parse((ROOT / "wsrpc_typed" / "asyncapi.py").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0
    }
    assert not imported & {"asyncio", "websockets"}


def test_docstrings_deprecation_and_scopes_are_described() -> None:
    router = Router(description="A bank.")

    @router.method(deprecated=True, scopes=["teller", "admin"])
    async def purge(account: str) -> None:
        """Remove an account."""

    doc = document(router)
    assert doc["info"]["description"].startswith("A bank.\n\nThe operations are the client's")
    assert doc["operations"]["purge"]["description"] == "Remove an account."
    assert doc["operations"]["purge"]["x-scopes"] == ["admin", "teller"]
    assert message(doc, "purge.request")["deprecated"] is True
    assert message(doc, "purge.notification")["deprecated"] is True
    assert "deprecated" not in message(document(bank.build_router()), "withdraw.request")
