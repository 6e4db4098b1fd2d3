"""Our OpenRPC documents against the official OpenRPC meta-schema.

The meta-schema comes from npm's ``@open-rpc/meta-schema``; the JSON Schema
meta-schema it refers to for every schema object, from ``@json-schema-tools/meta-schema``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from tests.codegen import zoo
from tests.helpers.apps import build_router
from wsrpc_typed.schema import openrpc_document

HERE = Path(__file__).resolve().parent
SCHEMAS = HERE.parent.parent / "schemas"
PACKAGE = HERE / "node_modules" / "@open-rpc" / "meta-schema"
JSON_SCHEMA_TOOLS = HERE / "node_modules" / "@json-schema-tools" / "meta-schema" / "schema.json"


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    node = shutil.which("node")
    if node is None or not PACKAGE.is_dir() or not JSON_SCHEMA_TOOLS.is_file():
        pytest.fail("run `cd tests/interop && npm install --no-package-lock` (needs Node.js)")
    script = 'console.log(JSON.stringify(require("@open-rpc/meta-schema").openrpcDocument))'
    out = subprocess.run([node, "-e", script], cwd=HERE, check=True, capture_output=True, text=True)
    schema: dict[str, Any] = json.loads(out.stdout)
    assert schema["$id"] == "https://meta.open-rpc.org/"
    tools = Resource.from_contents(json.loads(JSON_SCHEMA_TOOLS.read_text()), DRAFT7)
    registry: Registry[Any] = Registry().with_resources(
        [("https://meta.json-schema.tools", tools), ("https://meta.json-schema.tools/", tools)]
    )
    return Draft7Validator(schema, registry=registry)


def documents() -> list[tuple[str, dict[str, Any]]]:
    docs = [
        (path.name, json.loads(path.read_text())) for path in sorted(SCHEMAS.glob("*.openrpc.json"))
    ]
    docs.append(("tests/helpers/apps.py", openrpc_document(build_router())))
    docs.append(("tests/codegen/zoo.py", openrpc_document(zoo.build_router())))
    return docs


@pytest.mark.parametrize(("name", "document"), documents(), ids=[n for n, _ in documents()])
def test_openrpc_documents_validate_against_the_official_meta_schema(
    validator: Draft7Validator, name: str, document: dict[str, Any]
) -> None:
    errors = sorted(validator.iter_errors(document), key=str)
    assert errors == [], [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_the_meta_schema_catches_a_broken_document(validator: Draft7Validator) -> None:
    broken = openrpc_document(build_router())
    broken["methods"][0]["params"] = "not a list"
    assert not validator.is_valid(broken)
    broken = openrpc_document(build_router())
    broken["methods"][0]["result"]["schema"] = {"type": 12}  # not a valid JSON Schema
    assert not validator.is_valid(broken)
