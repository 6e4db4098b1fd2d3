"""The generator's pipeline: schema document -> ApiSpec -> API model -> a target's source text.

The API model (:mod:`wsrpc_gen.model`) is language-neutral; the Python target
(:mod:`wsrpc_gen.python`) decides the module's names and lines from it and renders
them with its jinja2 templates.
"""

from __future__ import annotations

import hashlib
import itertools
import sys
import types
from collections.abc import Mapping
from typing import Any

from wsrpc_typed import __version__
from wsrpc_typed.schema import ApiSpec, SchemaError, openrpc_document, render_json

from .loaders import spec_from_document
from .model import api_model
from .python.build import build_module
from .python.render import render_module
from .typescript.build import build_module as build_ts_module
from .typescript.render import render_module as render_ts_module

__all__ = [
    "DEFAULT_CLASS_NAME",
    "DEFAULT_PEER_CLASS_NAME",
    "generate_client",
    "generate_peer",
    "generate_typescript_client",
    "import_client",
    "schema_hash",
]

DEFAULT_CLASS_NAME = "ApiClient"
DEFAULT_PEER_CLASS_NAME = "ApiPeer"

_imported = itertools.count()


def schema_hash(spec: ApiSpec) -> str:
    """SHA-256 of the API's canonical OpenRPC text (what ``wsrpc-gen schema --format openrpc``
    writes), whatever format the spec was read from."""
    try:
        text = render_json(openrpc_document(spec))
    except ValueError as exc:  # a NaN or an infinity, which JSON cannot hold
        raise SchemaError(f"the schema holds a value that is not JSON: {exc}") from exc
    return hashlib.sha256(text.encode()).hexdigest()


def generate_client(
    document: Mapping[str, Any], *, class_name: str = DEFAULT_CLASS_NAME, handlers_name: str = ""
) -> str:
    """The source of a typed client module for a schema document (JSON Schema or OpenRPC).

    When the document declares peer methods (``x-peer-methods``), the module also
    has the handlers Protocol (``handlers_name``, default ``ChatClient`` ->
    ``ChatHandlers``) and ``register_handlers(router, handlers)``.

    Raises:
        wsrpc_typed.schema.SchemaError: the document is not a schema document.
        wsrpc_typed.errors.CodegenError: the API cannot be generated without a collision or
            uses a construct the generator cannot reproduce.
    """
    spec = spec_from_document(document)
    options = [("--class-name", class_name)] if class_name != DEFAULT_CLASS_NAME else []
    if handlers_name:
        options.append(("--handlers-name", handlers_name))
    module = build_module(
        api_model(spec),
        class_name=class_name,
        schema_hash=schema_hash(spec),
        version=__version__,
        handlers_name=handlers_name,
        options=options,
    )
    return render_module(module)


def generate_typescript_client(
    document: Mapping[str, Any], *, class_name: str = DEFAULT_CLASS_NAME, handlers_name: str = ""
) -> str:
    """The source of a typed TypeScript client module for a schema document.

    One self-contained module with no imports: the API's types, error classes, the
    client class (``class_name``), and when the document declares peer methods the
    handlers interface (``handlers_name``, default ``ChatClient`` -> ``ChatHandlers``)
    with ``registerHandlers(connection, handlers)``; then the runtime it runs on.

    Raises:
        wsrpc_typed.schema.SchemaError: the document is not a schema document.
        wsrpc_typed.errors.CodegenError: a name cannot be given without a collision.
    """
    spec = spec_from_document(document)
    options = [f"--class-name {class_name}"] if class_name != DEFAULT_CLASS_NAME else []
    if handlers_name:
        options.append(f"--handlers-name {handlers_name}")
    module = build_ts_module(
        api_model(spec),
        class_name=class_name,
        schema_hash=schema_hash(spec),
        version=__version__,
        handlers=handlers_name,
        options=options,
    )
    return render_ts_module(module)


def generate_peer(document: Mapping[str, Any], *, class_name: str = DEFAULT_PEER_CLASS_NAME) -> str:
    """The source of the server-side stub that calls a document's peer methods.

    Its class wraps a server-side :class:`~wsrpc_typed.Connection` (``ctx.peer``)
    with one typed ``async def`` per peer method, plus ``notify_<name>`` for
    methods without a result. It carries the models and errors those methods use.

    Raises:
        wsrpc_typed.schema.SchemaError: the document is not a schema document, or
            declares no peer methods.
        wsrpc_typed.errors.CodegenError: as :func:`generate_client`.
    """
    spec = spec_from_document(document)
    if not spec.peer_methods:
        raise SchemaError(
            "the document declares no peer methods (x-peer-methods); declare them with "
            "@router.peer.method"
        )
    module = build_module(
        api_model(spec),
        class_name=class_name,
        schema_hash=schema_hash(spec),
        version=__version__,
        mode="peer",
        options=[("--class-name", class_name)] if class_name != DEFAULT_PEER_CLASS_NAME else [],
    )
    return render_module(module)


def import_client(document: Mapping[str, Any]) -> types.ModuleType:
    """The client module of a schema document, generated and imported without a file.

    What ``wsrpc call`` checks params with: its ``RemoteMethod`` constants hold each
    method's param types as the generated client declares them.

    Raises:
        wsrpc_typed.schema.SchemaError, wsrpc_typed.errors.CodegenError: as
            :func:`generate_client`.
    """
    source = generate_client(document)
    module = types.ModuleType(f"_wsrpc_generated_{next(_imported)}")
    # Pydantic resolves a model's postponed annotations through sys.modules.
    sys.modules[module.__name__] = module
    exec(compile(source, f"<generated client {module.__name__}>", "exec"), module.__dict__)
    return module
