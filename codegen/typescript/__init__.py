"""The TypeScript target: one self-contained, dependency-free client module.

:mod:`~wsrpc_gen.typescript.build` decides every name, type expression, doc comment
and line of the module from the API model (:mod:`wsrpc_gen.model`), with the type
mapper (:mod:`~wsrpc_gen.typescript.types`) and the naming strategy
(:mod:`~wsrpc_gen.typescript.naming`); :mod:`~wsrpc_gen.typescript.render` places
them with the jinja2 templates, which also hold the runtime the module carries
(JSON-RPC 2.0 over a standard ``WebSocket``, in ``templates/runtime.ts.jinja``).
"""
