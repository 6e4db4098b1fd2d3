"""The checked-in generated files (schemas/, examples/*/client_generated.py) are current.

Regenerate them with ``WSRPC_UPDATE_GOLDEN=1 pytest tests/codegen/test_drift.py``.
"""

from __future__ import annotations

import importlib

import pytest

from wsrpc_typed import Router
from wsrpc_typed.schema import jsonschema_document, openrpc_document, render_json

from .helpers import ROOT, check_golden, client_source

EXAMPLES = sorted(p.parent.name for p in ROOT.glob("examples/*/service.py"))


def example_router(name: str) -> Router:
    router = importlib.import_module(f"examples.{name}.service").router
    assert isinstance(router, Router)
    return router


def class_name(example: str) -> str:
    """``primes`` -> ``PrimesClient``: the class name each example's client uses."""
    return "".join(part.title() for part in example.split("_")) + "Client"


def test_there_are_examples() -> None:
    assert EXAMPLES, "no examples/*/service.py found"


@pytest.mark.parametrize("example", EXAMPLES)
def test_schemas_are_current(example: str) -> None:
    router = example_router(example)
    check_golden(
        ROOT / "schemas" / f"{example}.schema.json", render_json(jsonschema_document(router))
    )
    check_golden(
        ROOT / "schemas" / f"{example}.openrpc.json", render_json(openrpc_document(router))
    )


@pytest.mark.parametrize("example", EXAMPLES)
def test_generated_client_is_current(example: str) -> None:
    text = client_source(example_router(example), class_name(example))
    check_golden(ROOT / "examples" / example / "client_generated.py", text)


def test_no_stale_generated_files() -> None:
    # Only the OpenRPC documents are certainly ours: schemas/ also holds wire schemas.
    for path in (ROOT / "schemas").glob("*.openrpc.json"):
        assert path.name.split(".")[0] in EXAMPLES, f"{path} belongs to no example"
    for path in ROOT.glob("examples/*/client_generated.py"):
        assert path.parent.name in EXAMPLES, f"{path} has no service.py"
