"""Stage 3: render the IR with jinja2 templates, then check that the result parses.

The templates hold the code shape: the ``class`` and ``def`` lines, each method body's
one statement, where each docstring goes and the fixed prose of the generated ones.
Every name, type, default and docstring text they place was decided by
:mod:`wsrpc_gen.python.build`. They lay code out with helpers of
:mod:`wsrpc_gen.python.source`: ``group(head, open, items, close, tail) | layout(indent,
suffix)`` writes a bracketed group as ``ruff format`` does (on one line, or its items on
one indented line, or one per line), and ``docstring(indent)`` quotes a docstring
(``docblock``, for a ``filter`` block, first drops the block's last newline).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

import jinja2

from wsrpc_typed.errors import RenderError

from .parts import Module
from .source import Group, Part, docstring, layout, py_literal

__all__ = ["RenderError", "render_module"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("wsrpc_gen.python", "templates"),
    autoescape=False,  # Python source, not HTML
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)


def _group(head: str, open_: str, items: Sequence[Part], close: str, tail: str = "") -> Group:
    return Group(head, open_, tuple(items), close, tail)


def _layout(part: Part, indent: str, suffix: str = "") -> str:
    return "\n".join(layout(part, indent, suffix))


def _docblock(text: str, indent: str) -> str:
    return docstring(text.removesuffix("\n"), indent)


def _one_line(text: str) -> str:
    return " ".join(text.split())


_ENV.globals["group"] = _group
_ENV.filters.update(
    layout=_layout, docstring=docstring, docblock=_docblock, py=py_literal, one_line=_one_line
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
