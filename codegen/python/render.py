"""Stage 3: render the IR with jinja2 templates, then check that the result parses.

The templates hold no logic beyond loops over the IR and tests of presence;
every string they place was decided by :mod:`wsrpc_gen.python.build`.
"""

from __future__ import annotations

import ast

import jinja2

from wsrpc_typed.errors import RenderError

from .parts import Module

__all__ = ["RenderError", "render_module"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("wsrpc_gen.python", "templates"),
    autoescape=False,  # Python source, not HTML
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


def render_module(module: Module) -> str:
    """The source text of ``module``.

    Raises:
        RenderError: a template fails, or the text does not parse (with the line at fault).
    """
    try:
        text = _ENV.get_template("client.py.jinja").render(module=module)
    except jinja2.TemplateError as exc:
        raise RenderError(f"a template failed: {type(exc).__name__}: {exc}") from exc
    try:
        ast.parse(text)
    except SyntaxError as exc:
        raise RenderError(f"generated code does not parse: {exc}: {exc.text!r}") from exc
    return text
