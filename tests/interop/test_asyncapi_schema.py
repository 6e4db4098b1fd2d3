"""Our AsyncAPI documents against the official AsyncAPI 3.0 schema and parser.

Two validators, both from npm: the AsyncAPI 3.0.0 JSON Schema of ``@asyncapi/specs``
(``schemas/3.0.0-without-$id.json``, with the Python ``jsonschema`` package), and
``@asyncapi/parser``, the parser AsyncAPI's own tools use, which also checks what the
schema cannot: that references resolve, that an operation's messages are messages of
its channel, that a reply's messages are messages of the reply's channel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tests.codegen import bank, peers, zoo
from tests.helpers.apps import build_router
from wsrpc_typed.asyncapi import asyncapi_document
from wsrpc_typed.schema import render_json

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE.parent.parent / "schemas"
SPECS = HERE / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0-without-$id.json"
PARSER = HERE / "node_modules" / "@asyncapi" / "parser"
#: The parser's diagnostic that 3.0.0 is not the newest version (3.1.0 is): information.
NEWER_VERSION = "asyncapi-latest-version"


def documents() -> dict[str, dict[str, Any]]:
    docs = {
        path.name: json.loads(path.read_text()) for path in sorted(SCHEMAS.glob("*.asyncapi.json"))
    }
    docs["tests/helpers/apps.py"] = asyncapi_document(build_router())
    docs["tests/codegen/bank.py"] = asyncapi_document(bank.add_stream(bank.build_router()))
    docs["tests/codegen/peers.py"] = asyncapi_document(
        peers.build_router(), server_url="wss://rpc.example:8443/ws"
    )
    docs["tests/codegen/zoo.py"] = asyncapi_document(zoo.build_router())
    return docs


def broken_documents() -> dict[str, dict[str, Any]]:
    """Documents each validator must refuse."""
    missing = asyncapi_document(peers.build_router())
    missing["operations"]["audit"]["messages"] = [{"$ref": "#/channels/rpc/messages/nothing"}]
    # A message, but not through the operation's channel.
    off_channel = asyncapi_document(peers.build_router())
    off_channel["operations"]["audit"]["messages"] = [
        {"$ref": "#/components/messages/audit.request"}
    ]
    no_action = asyncapi_document(peers.build_router())
    del no_action["operations"]["peer.tell"]["action"]
    bad_schema = asyncapi_document(peers.build_router())
    bad_schema["components"]["schemas"]["Note"]["type"] = 12
    return {
        "missing message": missing,
        "message off the channel": off_channel,
        "no action": no_action,
        "bad schema": bad_schema,
    }


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    if not SPECS.is_file():
        pytest.fail("run `cd tests/interop && npm install --no-package-lock` (needs Node.js)")
    schema: dict[str, Any] = json.loads(SPECS.read_text())
    assert schema["title"] == "AsyncAPI 3.0.0 schema."
    return Draft7Validator(schema)


@pytest.fixture(scope="module")
def diagnostics() -> dict[str, list[dict[str, Any]]]:
    """The parser's diagnostics of every document, good and broken, in one node run."""
    node = shutil.which("node")
    if node is None or not PARSER.is_dir():
        pytest.fail("run `cd tests/interop && npm install --no-package-lock` (needs Node.js)")
    texts = {name: render_json(doc) for name, doc in {**documents(), **broken_documents()}.items()}
    out = subprocess.run(
        [node, "asyncapi_parse.mjs"],
        cwd=HERE,
        input=json.dumps(texts),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found: dict[str, list[dict[str, Any]]] = json.loads(out.stdout)
    return found


@pytest.mark.parametrize("name", sorted(documents()))
def test_asyncapi_documents_validate_against_the_official_schema(
    validator: Draft7Validator, name: str
) -> None:
    errors = sorted(validator.iter_errors(documents()[name]), key=str)
    assert errors == [], [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


@pytest.mark.parametrize("name", sorted(documents()))
def test_the_official_parser_finds_nothing_wrong(
    diagnostics: dict[str, list[dict[str, Any]]], name: str
) -> None:
    # Errors and warnings alike: only the information that a newer version exists.
    assert [d["code"] for d in diagnostics[name]] == [NEWER_VERSION], diagnostics[name]


def test_the_schema_refuses_broken_documents(validator: Draft7Validator) -> None:
    broken = broken_documents()
    assert not validator.is_valid(broken["no action"])
    assert not validator.is_valid(broken["bad schema"])


def test_the_parser_refuses_broken_documents(
    diagnostics: dict[str, list[dict[str, Any]]],
) -> None:
    expected = {
        "missing message": "invalid-ref",
        "message off the channel": "asyncapi3-operation-messages-from-referred-channel",
        "no action": "asyncapi-document-resolved",
        "bad schema": "asyncapi-document-resolved",
    }
    assert sorted(expected) == sorted(broken_documents())
    for name, code in expected.items():
        errors = {d["code"] for d in diagnostics[name] if d["severity"] == 0}
        assert code in errors, (name, errors)
