"""``wsrpc-gen``: code generation from wsrpc-typed schema documents.

Stages: :mod:`wsrpc_gen.loaders` reads a schema document (from a router, a file or
a live server) into an :class:`~wsrpc_typed.schema.ApiSpec`; :mod:`wsrpc_gen.model`
turns it into the language-neutral API model (definitions, methods, type trees,
JSON defaults); a target, :mod:`wsrpc_gen.python` or :mod:`wsrpc_gen.typescript`,
decides its module from the model and renders it with its jinja2 templates.
:mod:`wsrpc_gen.diff` compares two schema documents.

Library calls raise :class:`~wsrpc_typed.errors.SchemaError` or a subclass
(:class:`SourceError`, :class:`CodegenError`, :class:`RenderError`), all part of
the package's exception tree under :class:`~wsrpc_typed.errors.WsrpcError`.
"""

from wsrpc_typed.errors import CodegenError, RenderError, SchemaError, SourceError

from .diff import Change, diff_specs
from .generate import generate_client, generate_peer, generate_typescript_client, schema_hash
from .loaders import document_from_source, load_router, load_spec, spec_from_document

__all__ = [
    "Change",
    "CodegenError",
    "RenderError",
    "SchemaError",
    "SourceError",
    "diff_specs",
    "document_from_source",
    "generate_client",
    "generate_peer",
    "generate_typescript_client",
    "load_router",
    "load_spec",
    "schema_hash",
    "spec_from_document",
]
