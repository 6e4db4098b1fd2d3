"""Shared helpers of the codegen tests."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

from wsrpc_gen.generate import generate_client, generate_peer
from wsrpc_typed import Router
from wsrpc_typed.schema import openrpc_document, render_json

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
#: Set WSRPC_UPDATE_GOLDEN=1 to rewrite golden and checked-in generated files.
UPDATE = os.environ.get("WSRPC_UPDATE_GOLDEN") == "1"


def client_source(router: Router, class_name: str, handlers_name: str = "") -> str:
    """The client generated from a router (through its canonical OpenRPC text)."""
    return generate_client(
        json.loads(render_json(openrpc_document(router))),
        class_name=class_name,
        handlers_name=handlers_name,
    )


def peer_source(router: Router, class_name: str) -> str:
    """The server-side peer stub generated from a router (through its canonical OpenRPC text)."""
    return generate_peer(json.loads(render_json(openrpc_document(router))), class_name=class_name)


def import_source(text: str, directory: Path, name: str) -> ModuleType:
    """Write ``text`` as ``directory/name.py`` and import it as module ``name``."""
    path = directory / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves forward references through it
    spec.loader.exec_module(module)
    return module


def check_golden(path: Path, text: str) -> None:
    """Compare ``text`` with the file at ``path`` (rewrite it with WSRPC_UPDATE_GOLDEN=1)."""
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run with WSRPC_UPDATE_GOLDEN=1 to create it"
    assert path.read_text(encoding="utf-8") == text, (
        f"{path} is stale; run the tests with WSRPC_UPDATE_GOLDEN=1 to regenerate it"
    )
