"""Stage 1: load a schema document, wherever it lives, into an :class:`ApiSpec`.

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
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from wsrpc_typed import Router, connect
from wsrpc_typed.errors import SourceError
from wsrpc_typed.schema import (
    DEFAULT_TITLE,
    DEFAULT_VERSION,
    JSON_SCHEMA_DESCRIPTION,
    JSON_SCHEMA_DIALECT,
    ApiSpec,
    ErrorSpec,
    MethodSpec,
    ParamSpec,
    SchemaError,
    from_draft7,
    openrpc_document,
    render_json,
)

__all__ = [
    "document_from_source",
    "load_document",
    "load_router",
    "load_spec",
    "spec_from_document",
]

_ERRORS = "#/components/errors/"


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


def _not_json(constant: str) -> Any:
    # Python's json reads NaN and Infinity; JSON (and every other reader) does not.
    raise SchemaError(f"not a JSON document: {constant} is not a JSON value")


def load_document(text: str) -> dict[str, Any]:
    """Parse a document's JSON text.

    Raises:
        SchemaError: the text is not a JSON object.
    """
    try:
        document = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not a JSON document: {exc}") from exc
    if not isinstance(document, dict):
        raise SchemaError("a schema document is a JSON object")
    return document


def load_spec(source: str, headers: Mapping[str, str] | None = None) -> ApiSpec:
    """Load a source (module, URL or file) into an :class:`ApiSpec`.

    Raises:
        SchemaError: as :func:`document_from_source` and :func:`spec_from_document`.
    """
    return spec_from_document(document_from_source(source, headers))


def spec_from_document(document: Mapping[str, Any]) -> ApiSpec:
    """Read a JSON Schema or OpenRPC document (as :mod:`wsrpc_typed.schema` writes them).

    Raises:
        SchemaError: the document is neither, or lacks what a method needs.
    """
    try:
        if "openrpc" in document:
            return _from_openrpc(document)
        if document.get("$schema") == JSON_SCHEMA_DIALECT:
            return _from_jsonschema(document)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise SchemaError(f"malformed schema document: {type(exc).__name__}: {exc}") from exc
    raise SchemaError(
        "not a wsrpc-typed schema document: expected an OpenRPC document ('openrpc') or a "
        f"JSON Schema document ('$schema': {JSON_SCHEMA_DIALECT!r})"
    )


def _from_openrpc(document: Mapping[str, Any]) -> ApiSpec:
    components = document.get("components", {})
    info = document.get("info", {})
    return ApiSpec(
        title=info.get("title", DEFAULT_TITLE),
        version=info.get("version", DEFAULT_VERSION),
        methods=_openrpc_methods(document["methods"], document),
        defs={k: from_draft7(v) for k, v in components.get("schemas", {}).items()},
        peer_methods=_openrpc_methods(document.get("x-peer-methods", ()), document),
        description=info.get("description"),
    )


def _openrpc_methods(objects: Iterable[Any], document: Mapping[str, Any]) -> tuple[MethodSpec, ...]:
    error_objects = document.get("components", {}).get("errors", {})
    details = document.get("x-error-details", {})
    methods = []
    for obj in objects:
        errors = []
        for ref in obj.get("errors", ()):
            if "$ref" in ref:
                name = ref["$ref"].removeprefix(_ERRORS)
                error = error_objects[name]
            else:  # an inline error object: no name of its own, no typed data
                name, error = f"Error{ref['code']}".replace("-", "_"), ref
            detail = details.get(name, {})
            errors.append(
                ErrorSpec(
                    name=name,
                    code=error["code"],
                    message=error["message"],
                    description=detail.get("description"),
                    data=from_draft7(detail["data"]) if "data" in detail else None,
                )
            )
        methods.append(
            MethodSpec(
                name=obj["name"],
                description=obj.get("description"),
                deprecated=obj.get("deprecated", False),
                params=tuple(
                    ParamSpec(
                        name=p["name"],
                        schema=from_draft7(p["schema"]),
                        required=p.get("required", False),
                    )
                    for p in obj["params"]
                ),
                result=from_draft7(obj["result"]["schema"]),
                errors=tuple(errors),
                stream=obj.get("x-stream", False),
                scopes=tuple(obj.get("x-scopes", ())),
            )
        )
    return tuple(sorted(methods, key=lambda m: m.name))


def _from_jsonschema(document: Mapping[str, Any]) -> ApiSpec:
    return ApiSpec(
        title=document.get("title", DEFAULT_TITLE),
        version=document.get("x-version", DEFAULT_VERSION),
        methods=_jsonschema_methods(document.get("properties", {})),
        defs=dict(document.get("$defs", {})),
        peer_methods=_jsonschema_methods(document.get("x-peer-methods", {})),
        description=_own_description(document.get("description")),
    )


def _own_description(text: Any) -> str | None:
    # The document's description is the API's, then the fixed text about the document.
    if not isinstance(text, str):
        return None
    own = text.removesuffix(JSON_SCHEMA_DESCRIPTION).rstrip("\n")
    return own or None


def _jsonschema_methods(calls: Mapping[str, Any]) -> tuple[MethodSpec, ...]:
    methods = []
    for name, call in calls.items():
        parts = call["properties"]
        params = parts["params"]
        required = set(params.get("required", ()))
        errors = []
        for error in parts.get("error", {}).get("oneOf", ()):
            props = error["properties"]
            errors.append(
                ErrorSpec(
                    name=error["title"],
                    code=props["code"]["const"],
                    message=props["message"]["default"],
                    description=error.get("description"),
                    data=props.get("data"),
                )
            )
        methods.append(
            MethodSpec(
                name=name,
                description=call.get("description"),
                deprecated=call.get("deprecated", False),
                params=tuple(
                    ParamSpec(name=p, schema=schema, required=p in required)
                    for p, schema in params.get("properties", {}).items()
                ),
                result=parts["result"],
                errors=tuple(errors),
                stream=call.get("x-stream", False),
                scopes=tuple(call.get("x-scopes", ())),
            )
        )
    return tuple(sorted(methods, key=lambda m: m.name))
