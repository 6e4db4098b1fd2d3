"""The Python target: typed client modules and server-side peer stubs.

:mod:`~codegen.python.build` decides every name, type expression, import,
default and line of a module from the API model (:mod:`codegen.model`), with
the type mapper (:mod:`~codegen.python.types`) and the naming rules of
:mod:`~codegen.python.source` and :mod:`~codegen.python.definitions`;
:mod:`~codegen.python.render` places them with the jinja2 templates and checks
that the result parses.
"""
