"""The Python target: typed client modules and server-side peer stubs.

:mod:`~wsrpc_gen.python.build` decides every name, type expression, import,
default and docstring text of a module from the API model (:mod:`wsrpc_gen.model`),
with the type mapper (:mod:`~wsrpc_gen.python.types`) and the naming rules of
:mod:`~wsrpc_gen.python.source` and :mod:`~wsrpc_gen.python.definitions`;
:mod:`~wsrpc_gen.python.render` writes them into the code shape its jinja2
templates hold and checks that the result parses.
"""
