"""The checked-in generated files are current: schemas/, examples/*/client_generated.py and,
for examples whose router declares peer methods, examples/*/peer_generated.py.

Regenerate them with ``WSRPC_UPDATE_GOLDEN=1 pytest tests/codegen/test_drift.py``.
"""

from __future__ import annotations

import importlib

import pytest

from wsrpc_typed import Router
from wsrpc_typed.asyncapi import asyncapi_document
from wsrpc_typed.schema import jsonschema_document, openrpc_document, render_json

from .helpers import ROOT, check_golden, client_source, peer_source

EXAMPLES = sorted(p.parent.name for p in ROOT.glob("examples/*/service.py"))


def example_router(name: str) -> Router:
    router = importlib.import_module(f"examples.{name}.service").router
    assert isinstance(router, Router)
    return router


def class_name(example: str, suffix: str = "Client") -> str:
    """``primes`` -> ``PrimesClient`` (``ChatPeer`` for peer stubs): each example's class name."""
    return "".join(part.title() for part in example.split("_")) + suffix


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
    check_golden(
        ROOT / "schemas" / f"{example}.asyncapi.json", render_json(asyncapi_document(router))
    )


@pytest.mark.parametrize("example", EXAMPLES)
def test_generated_client_is_current(example: str) -> None:
    text = client_source(example_router(example), class_name(example))
    check_golden(ROOT / "examples" / example / "client_generated.py", text)


@pytest.mark.parametrize("example", EXAMPLES)
def test_generated_peer_stub_is_current(example: str) -> None:
    router = example_router(example)
    path = ROOT / "examples" / example / "peer_generated.py"
    if not len(router.peer):
        assert not path.exists(), f"{path} is stale: the router declares no peer methods"
        return
    check_golden(path, peer_source(router, class_name(example, "Peer")))


def test_no_stale_generated_files() -> None:
    # Only the OpenRPC and AsyncAPI documents are certainly ours: schemas/ also holds
    # wire schemas.
    for path in [
        *(ROOT / "schemas").glob("*.openrpc.json"),
        *(ROOT / "schemas").glob("*.asyncapi.json"),
    ]:
        assert path.name.split(".")[0] in EXAMPLES, f"{path} belongs to no example"
    for path in [
        *ROOT.glob("examples/*/client_generated.py"),
        *ROOT.glob("examples/*/peer_generated.py"),
    ]:
        assert path.parent.name in EXAMPLES, f"{path} has no service.py"
