"""Python source fragments: literals, identifiers, docstrings and line layout.

The layout functions produce what ``ruff format`` produces for the few shapes the
generator writes (calls, definitions, collection literals), so generated code is
formatted as written: a bracket group stays on one line if it fits, else its
contents go on one indented line if they fit, else one item per line with a
trailing comma (the "magic trailing comma" that keeps it exploded).
"""

from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass
from typing import Any

from wsrpc_typed.errors import CodegenError

__all__ = [
    "LINE_LENGTH",
    "bytes_literal",
    "Group",
    "Part",
    "call_part",
    "docstring",
    "identifier",
    "layout",
    "py_literal",
]

LINE_LENGTH = 100


def py_literal(value: Any) -> str:
    """A JSON value as a Python literal, quoted as ``ruff format`` quotes it.

    Raises:
        CodegenError: the value is not a JSON value (a NaN or an infinity, say).
    """
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int | float):
        text = repr(value)
        if text in ("inf", "-inf", "nan"):
            raise CodegenError(f"{value!r} is not a JSON value")

        return text
    if isinstance(value, str):
        if '"' in value and "'" not in value:
            # ruff keeps the quotes that need fewer escapes.
            return "'" + json.dumps(value, ensure_ascii=False)[1:-1].replace('\\"', '"') + "'"
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(v)}" for k, v in value.items()) + "}"
    raise CodegenError(f"{value!r} is not a JSON value")


def bytes_literal(value: bytes) -> str:
    """A bytes literal, quoted as ``ruff format`` quotes it."""
    text = repr(value)
    if text.startswith("b'") and '"' not in text:
        return 'b"' + text[2:-1] + '"'
    return text


def identifier(name: str, *, reserved: frozenset[str] = frozenset()) -> str:
    """``name`` made a valid Python identifier that is not a keyword or reserved.

    Characters that cannot appear in an identifier become ``_``; a leading digit
    gets a leading ``_``; keywords and reserved names get a trailing ``_``.
    """
    text = re.sub(r"\W", "_", name, flags=re.ASCII)
    if not text or text[0].isdigit():
        text = "_" + text
    while keyword.iskeyword(text) or keyword.issoftkeyword(text) or text in reserved:
        text += "_"
    return text


def docstring(text: str, indent: str) -> str:
    """``text`` as a triple-quoted docstring at ``indent``, as ``ruff format`` writes it."""
    body = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if body.endswith('"'):
        body += " "
    lines = body.split("\n")
    if len(lines) == 1:
        return f'{indent}"""{body}"""'
    rendered = [f'{indent}"""{lines[0]}']
    rendered += [f"{indent}{line}" if line.strip() else "" for line in lines[1:]]
    rendered.append(f'{indent}"""')
    return "\n".join(rendered)


@dataclass(frozen=True, slots=True)
class Group:
    """A bracketed, comma-separated group: ``head`` + open + items + close + ``tail``."""

    head: str
    open: str
    items: tuple[Part, ...]
    close: str
    tail: str = ""

    def flat(self) -> str:
        """The group on one line."""
        inner = ", ".join(_flat(item) for item in self.items)
        return f"{self.head}{self.open}{inner}{self.close}{self.tail}"


Part = str | Group


def _flat(part: Part) -> str:
    return part if isinstance(part, str) else part.flat()


def layout(part: Part, indent: str, suffix: str = "", *, explode: bool = False) -> list[str]:
    """Lines of ``part`` at ``indent`` (``suffix`` ends its last line), as ruff lays them out.

    ``explode`` skips the middle form (contents on one indented line), as the import
    sorter does for imports that do not fit on one line.
    """
    one = f"{indent}{_flat(part)}{suffix}"
    if len(one) <= LINE_LENGTH or isinstance(part, str) or not part.items:
        return [one]
    inner = indent + "    "
    body = f"{inner}{', '.join(_flat(item) for item in part.items)}"
    first = f"{indent}{part.head}{part.open}"
    last = f"{indent}{part.close}{part.tail}{suffix}"
    if len(body) <= LINE_LENGTH and not explode:
        return [first, body, last]
    lines = [first]
    for item in part.items:
        lines += layout(item, inner, ",")
    lines.append(last)
    return lines


def call_part(text: str) -> Part:
    """``name: type = f(a, b)`` as a group on the call's brackets, so that layout can break
    it as ruff does; any other text (no default, not a call, strings inside) as it is."""
    prefix, equals, value = text.rpartition(" = ")
    head, paren, inner = value.partition("(")
    if not equals or not paren or not inner.endswith(")") or any(q in value for q in "\"'"):
        return text
    items, depth, start = [], 0, 0
    body = inner[:-1]
    for i, char in enumerate(body):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(body[start:i].strip())
            start = i + 1
        if depth < 0:
            return text  # "f(a)(b)": not one call
    items.append(body[start:].strip())
    return Group(f"{prefix}{equals}{head}", "(", tuple(i for i in items if i), ")")
