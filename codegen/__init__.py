"""``wsrpc-gen``: code generation from wsrpc-typed schema documents.

Stages: :mod:`codegen.loaders` reads a schema document (from a router, a file or
a live server) into an :class:`~wsrpc_typed.schema.ApiSpec`; :mod:`codegen.build`
decides the client module (or the server-side peer stub) as an immutable IR (:mod:`codegen.ir`);
:mod:`codegen.render` renders it with the jinja2 templates and checks that it
parses. :mod:`codegen.diff` compares two schema documents.
"""

from .build import CodegenError
from .diff import Change, diff_specs
from .generate import generate_client, generate_peer, schema_hash
from .loaders import load_spec, spec_from_document

__all__ = [
    "Change",
    "CodegenError",
    "diff_specs",
    "generate_client",
    "generate_peer",
    "load_spec",
    "schema_hash",
    "spec_from_document",
]
