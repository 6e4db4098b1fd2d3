"""The generator's pipeline: schema document -> ApiSpec -> IR -> source text."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from wsrpc_typed import __version__
from wsrpc_typed.schema import ApiSpec, openrpc_document, render_json

from .build import build_module
from .loaders import spec_from_document
from .render import render_module

__all__ = ["DEFAULT_CLASS_NAME", "generate_client", "schema_hash"]

DEFAULT_CLASS_NAME = "ApiClient"


def schema_hash(spec: ApiSpec) -> str:
    """SHA-256 of the API's canonical OpenRPC text (what ``wsrpc-gen schema --format openrpc``
    writes), whatever format the spec was read from."""
    return hashlib.sha256(render_json(openrpc_document(spec)).encode()).hexdigest()


def generate_client(document: Mapping[str, Any], *, class_name: str = DEFAULT_CLASS_NAME) -> str:
    """The source of a typed client module for a schema document (JSON Schema or OpenRPC).

    Raises:
        wsrpc_typed.schema.SchemaError: the document is not a schema document.
        codegen.build.CodegenError: the API cannot be generated without a collision or
            uses a construct the generator cannot reproduce.
    """
    spec = spec_from_document(document)
    module = build_module(
        spec, class_name=class_name, schema_hash=schema_hash(spec), version=__version__
    )
    return render_module(module)
