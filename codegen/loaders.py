"""Stage 1: load a schema document, wherever it lives, into an :class:`ApiSpec`.

This module finds the document a source stands for; reading it is
:func:`wsrpc_typed.schema.spec_from_document`, beside the code that writes it
(re-exported here).

A document's ``x-peer-methods`` (the methods the server calls on its clients)
are read into :attr:`ApiSpec.peer_methods`.

A source is ``pkg.module:attr`` (a :class:`~wsrpc_typed.Router`), a ``ws://``
or ``wss://`` URL of a live server (asked ``rpc.discover``), or the path of a
schema document (JSON Schema or OpenRPC, as ``wsrpc-gen schema`` writes them).
Every source is first turned into a document and the document is read, so the
three give the same :class:`ApiSpec` for the same API.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wsrpc_typed import Router, connect
from wsrpc_typed.errors import SourceError
from wsrpc_typed.schema import (
    ApiSpec,
    load_document,
    openrpc_document,
    render_json,
    spec_from_document,
)

__all__ = [
    "document_from_source",
    "load_document",
    "load_router",
    "load_spec",
    "spec_from_document",
]


def _is_url(source: str) -> bool:
    return source.startswith(("ws://", "wss://"))


def _is_module(source: str) -> bool:
    module, sep, attr = source.partition(":")
    return bool(sep and module and attr) and "/" not in source and not Path(source).exists()


async def _discover(url: str, headers: Mapping[str, str] | None) -> Any:
    async with connect(url, headers=dict(headers or {})) as client:
        return await client.call("rpc.discover")


def document_from_source(source: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The schema document a source stands for.

    ``headers`` go with the handshake to a ``ws://`` URL (say ``Authorization``
    for a server that authenticates); other sources ignore them.

    Raises:
        SourceError: the source cannot be loaded: the URL does not answer ``rpc.discover``,
            the module does not import or its attribute is not a Router, the file cannot
            be read.
        SchemaError: the source is not a schema document.
    """
    if _is_url(source):
        try:
            document = asyncio.run(_discover(source, headers))
        except Exception as exc:
            raise SourceError(f"cannot fetch rpc.discover from {source}: {exc}") from exc
        # Through the canonical text, as a file would be read.
        return load_document(render_json(document))
    if _is_module(source):
        return load_document(render_json(openrpc_document(load_router(source))))
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(
            f"cannot read {source!r} ({exc.strerror}); a source is pkg.module:attr, "
            "a ws:// URL or a schema file"
        ) from exc
    return load_document(text)


def load_router(source: str) -> Router:
    """Import ``pkg.module:attr`` (the current directory first on the path) and return the
    :class:`~wsrpc_typed.Router` it names.

    Raises:
        SourceError: the module does not import (whatever its import raised), or the
            attribute is missing or not a Router.
    """
    module_name, _, attr = source.partition(":")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise SourceError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from exc
    router = getattr(module, attr, None)
    if not isinstance(router, Router):
        found = "no such attribute" if router is None else f"a {type(router).__name__}"
        raise SourceError(f"{source!r} is not a wsrpc_typed.Router ({found})")
    return router


def load_spec(source: str, headers: Mapping[str, str] | None = None) -> ApiSpec:
    """Load a source (module, URL or file) into an :class:`ApiSpec`.

    Raises:
        SchemaError: as :func:`document_from_source` and :func:`spec_from_document`.
    """
    return spec_from_document(document_from_source(source, headers))
