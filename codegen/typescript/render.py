"""Render the TypeScript module's parts with jinja2 templates.

The templates hold no logic beyond loops over the parts and tests of presence;
every string they place was decided by :mod:`wsrpc_gen.typescript.build`. The
runtime (``templates/runtime.ts.jinja``) is included as it is.
"""

from __future__ import annotations

import jinja2

from wsrpc_typed.errors import RenderError

from .build import Module

__all__ = ["render_module"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("wsrpc_gen.typescript", "templates"),
    autoescape=False,  # TypeScript source, not HTML
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


def render_module(module: Module) -> str:
    """The source text of ``module``.

    Raises:
        RenderError: a template fails.
    """
    try:
        return _ENV.get_template("client.ts.jinja").render(module=module)
    except jinja2.TemplateError as exc:
        raise RenderError(f"a template failed: {type(exc).__name__}: {exc}") from exc
