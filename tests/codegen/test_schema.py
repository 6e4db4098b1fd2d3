"""Schema documents: JSON Schema 2020-12 and OpenRPC 1.3 of a router, and rpc.discover."""

from __future__ import annotations

import ast
import json
from decimal import Decimal
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from tests.codegen import bank, peers
from tests.helpers import apps
from wsrpc_gen.loaders import spec_from_document
from wsrpc_typed import Router, RpcError, Server, connect
from wsrpc_typed.schema import (
    SchemaError,
    api_spec,
    from_draft7,
    jsonschema_document,
    openrpc_document,
    render_json,
    to_draft7,
)

from .helpers import ROOT

ROUTERS = {"bank": bank.build_router, "apps": apps.build_router, "peers": peers.build_router}

# The OpenRPC 1.3 meta-schema is not vendored (no network here, and we do not
# reproduce it from memory). This structural schema encodes the specification's
# required fields and closed objects for everything the document uses
# (https://spec.open-rpc.org/#openrpc-object and following), and every schema in
# the document is checked against the JSON Schema draft 07 meta-schema, which
# OpenRPC 1.3 schemas follow.
_EXT: dict[str, Any] = {"^x-": {}}
OPENRPC_STRUCTURE: dict[str, Any] = {
    "type": "object",
    "required": ["openrpc", "info", "methods"],
    "additionalProperties": False,
    "patternProperties": _EXT,
    "properties": {
        "openrpc": {"type": "string", "pattern": r"^1\.3\.\d+$"},
        "info": {
            "type": "object",
            "required": ["title", "version"],
            "additionalProperties": False,
            "patternProperties": _EXT,
            "properties": {
                "title": {"type": "string"},
                "version": {"type": "string"},
                "description": {"type": "string"},
            },
        },
        "methods": {"type": "array", "items": {"$ref": "#/$defs/method"}},
        # Our extension: the methods the server calls on its clients, as method objects.
        "x-peer-methods": {"type": "array", "items": {"$ref": "#/$defs/method"}},
        "components": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "schemas": {"type": "object", "additionalProperties": {"type": "object"}},
                "errors": {"type": "object", "additionalProperties": {"$ref": "#/$defs/error"}},
            },
        },
    },
    "$defs": {
        "method": {
            "type": "object",
            "required": ["name", "params", "result"],
            "additionalProperties": False,
            "patternProperties": _EXT,
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "description": {"type": "string"},
                "summary": {"type": "string"},
                "deprecated": {"type": "boolean"},
                "paramStructure": {"enum": ["by-position", "by-name", "either"]},
                "params": {"type": "array", "items": {"$ref": "#/$defs/descriptor"}},
                "result": {"$ref": "#/$defs/descriptor"},
                "errors": {
                    "type": "array",
                    "items": {
                        "oneOf": [
                            {"$ref": "#/$defs/error"},
                            {
                                "type": "object",
                                "required": ["$ref"],
                                "additionalProperties": False,
                                "properties": {"$ref": {"type": "string"}},
                            },
                        ]
                    },
                },
            },
        },
        "descriptor": {
            "type": "object",
            "required": ["name", "schema"],
            "additionalProperties": False,
            "patternProperties": _EXT,
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "description": {"type": "string"},
                "summary": {"type": "string"},
                "schema": {"type": ["object", "boolean"]},
                "required": {"type": "boolean"},
                "deprecated": {"type": "boolean"},
            },
        },
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": False,
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
        },
    },
}


def _schemas_in_openrpc(doc: dict[str, Any]) -> list[Any]:
    found = list(doc["components"]["schemas"].values())
    for method in doc["methods"] + doc.get("x-peer-methods", []):
        found += [p["schema"] for p in method["params"]] + [method["result"]["schema"]]
    found += [d["data"] for d in doc["x-error-details"].values() if "data" in d]
    return found


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _refs(value: Any) -> list[str]:
    if isinstance(value, dict):
        own = [value["$ref"]] if isinstance(value.get("$ref"), str) else []
        return own + [r for v in value.values() for r in _refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_jsonschema_document_validates_against_the_2020_12_meta_schema(name: str) -> None:
    doc = json.loads(render_json(jsonschema_document(ROUTERS[name]())))
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for ref in _refs(doc):  # every reference resolves inside the document
        assert _resolve(doc, ref) is not None


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_openrpc_document_has_the_structure_of_openrpc_1_3(name: str) -> None:
    doc = json.loads(render_json(openrpc_document(ROUTERS[name]())))
    jsonschema.Draft202012Validator(OPENRPC_STRUCTURE).validate(doc)
    for schema in _schemas_in_openrpc(doc):
        jsonschema.Draft7Validator.check_schema(schema)
    for ref in _refs(doc):
        assert ref.startswith(("#/components/schemas/", "#/components/errors/"))
        assert _resolve(doc, ref) is not None


def test_the_structural_check_can_fail() -> None:
    doc = openrpc_document(bank.build_router())
    del doc["methods"][0]["result"]
    with pytest.raises(jsonschema.ValidationError, match="'result' is a required property"):
        jsonschema.Draft202012Validator(OPENRPC_STRUCTURE).validate(doc)
    doc = openrpc_document(peers.build_router())
    doc["x-peer-methods"][0]["paramStructure"] = "sideways"  # peer methods are checked too
    with pytest.raises(jsonschema.ValidationError, match="'sideways' is not one of"):
        jsonschema.Draft202012Validator(OPENRPC_STRUCTURE).validate(doc)


@pytest.mark.parametrize("render", [jsonschema_document, openrpc_document])
def test_documents_are_deterministic(render: Any) -> None:
    first = render_json(render(bank.build_router()))
    second = render_json(render(bank.build_router()))
    assert first == second
    assert first.endswith("}\n") and not first.endswith("\n\n")


def test_render_sorts_keys_but_keeps_property_order() -> None:
    doc = {
        "b": 1,
        "a": {"properties": {"z": {"type": "int", "default": {"y": 1, "x": 2}}, "a": {}}},
    }
    assert (
        render_json(doc)
        == json.dumps(
            {
                "a": {"properties": {"z": {"default": {"x": 2, "y": 1}, "type": "int"}, "a": {}}},
                "b": 1,
            },
            indent=2,
        )
        + "\n"
    )


@pytest.mark.parametrize("render", [jsonschema_document, openrpc_document])
def test_both_documents_read_back_into_the_same_spec(render: Any) -> None:
    spec = api_spec(bank.build_router())
    assert spec_from_document(json.loads(render_json(render(spec)))) == spec


def test_params_describe_names_types_constraints_defaults_and_required() -> None:
    doc = jsonschema_document(bank.build_router())
    withdraw = doc["properties"]["withdraw"]
    params = withdraw["properties"]["params"]
    assert list(params["properties"]) == ["amount", "account"]
    assert params["required"] == ["amount"]
    assert params["additionalProperties"] is False
    assert params["properties"]["account"] == {
        "default": "main",
        "title": "Account",
        "type": "string",
    }
    assert params["properties"]["amount"]["format"] == "decimal"
    assert withdraw["properties"]["result"] == {"$ref": "#/$defs/Balance"}
    assert withdraw["description"] == "Take money out of an account."
    item = doc["$defs"]["Item-Input"]["properties"]["name"]
    assert (item["minLength"], item["maxLength"], item["pattern"]) == (1, 20, "^[a-z]+$")
    level = doc["properties"]["items"]["properties"]["params"]["properties"]["level"]
    assert level == {"$ref": "#/$defs/Level", "default": 1}
    assert doc["properties"]["old"]["deprecated"] is True
    assert "deprecated" not in withdraw


def test_declared_errors_and_their_data_are_described() -> None:
    router = bank.build_router()
    errors = jsonschema_document(router)["properties"]["withdraw"]["properties"]["error"]["oneOf"]
    assert errors[0] == {
        "title": "InsufficientFunds",
        "description": "The account holds less than the amount asked for.",
        "type": "object",
        "properties": {
            "code": {"const": 1001},
            "message": {"type": "string", "default": "Insufficient funds"},
            "data": {"$ref": "#/$defs/Balance"},
        },
        "required": ["code", "message"],
    }
    assert "data" not in errors[1]["properties"]  # Frozen declares no data model
    openrpc = openrpc_document(router)
    method = next(m for m in openrpc["methods"] if m["name"] == "withdraw")
    assert method["errors"] == [
        {"$ref": "#/components/errors/InsufficientFunds"},
        {"$ref": "#/components/errors/Frozen"},
    ]
    assert openrpc["components"]["errors"]["Frozen"] == {"code": 1002, "message": "Account frozen"}
    assert openrpc["x-error-details"]["InsufficientFunds"]["data"] == {
        "$ref": "#/components/schemas/Balance"
    }


def test_openrpc_schemas_are_draft_07() -> None:
    doc = openrpc_document(bank.build_router())
    points = next(m for m in doc["methods"] if m["name"] == "points")["result"]["schema"]
    assert "prefixItems" not in points and isinstance(points["items"], list)
    pet = next(m for m in doc["methods"] if m["name"] == "pet")["params"][0]["schema"]
    assert set(pet["discriminator"]["mapping"].values()) == {
        "#/components/schemas/Cat",
        "#/components/schemas/Dog",
    }
    schema = {"prefixItems": [{"type": "integer"}], "items": {"$ref": "#/$defs/X"}, "default": [1]}
    assert from_draft7(to_draft7(schema)) == schema


def test_a_default_that_is_not_json_is_a_schema_error() -> None:
    router = Router()
    sentinel = object()

    @router.method
    async def f(x: object = sentinel) -> None: ...

    with pytest.raises(SchemaError, match=r"method 'f', parameter 'x': its default"):
        api_spec(router)


def test_two_error_classes_with_one_name_are_rejected() -> None:
    class Oops(RpcError):
        code = 1

    first = Oops

    class Oops(RpcError):  # type: ignore[no-redef]
        code = 2

    router = Router()

    @router.method(errors=[first, Oops])
    async def f() -> None: ...

    with pytest.raises(SchemaError, match=r"two error classes are named 'Oops'.*rename one"):
        api_spec(router)


def test_schema_module_imports_neither_asyncio_nor_websockets() -> None:
    tree = ast.parse((ROOT / "wsrpc_typed" / "schema.py").read_text())
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


def test_error_data_model_validates_and_travels_as_json() -> None:
    error = bank.InsufficientFunds(data=bank.Balance(balance=Decimal("1.50")))
    assert error.data == {"balance": "1.50", "currency": "EUR"}
    assert bank.InsufficientFunds(data={"balance": 2}).data == {"balance": "2", "currency": "EUR"}
    with pytest.raises(ValidationError):
        bank.InsufficientFunds(data={"nope": 1})
    assert bank.Frozen(data={"free": "form"}).data == {"free": "form"}  # no model: as given
    assert RpcError.data_model is None


async def test_rpc_discover_answers_the_openrpc_document_over_a_socket() -> None:
    router = bank.build_router()
    expected = json.loads(render_json(openrpc_document(router)))
    async with Server(router, host="127.0.0.1", port=0) as server, connect(server.url) as client:
        assert await client.call("rpc.discover") == expected
        assert await client.call("rpc.discover", []) == expected


async def test_raised_typed_error_reaches_a_plain_client_as_json() -> None:
    server = Server(bank.build_router(), host="127.0.0.1", port=0)
    async with server, connect(server.url) as client:
        with pytest.raises(RpcError) as info:
            await client.call("withdraw", {"amount": "50"})
    assert info.value.code == 1001
    assert info.value.data == {"balance": "10.00", "currency": "EUR"}
