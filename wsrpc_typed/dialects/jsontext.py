"""JSON text for every JSON dialect: orjson, with a fallback for what orjson refuses.

orjson is fast but refuses integers beyond 64 bits and nesting deeper than
255 levels. Those (rare) values fall back to the standard library, which writes
big integers and nests until the interpreter's recursion limit. Either way the
output is strict RFC 8259 JSON: no NaN or Infinity, object keys as strings.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from pydantic_core import to_jsonable_python

__all__ = ["dumps", "loads"]

loads = orjson.loads


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` as UTF-8 JSON.

    Raises:
        TypeError: a value has no JSON form.
        ValueError: a value is out of JSON's range (NaN, infinities) or nested too deep.
    """
    try:
        # Plain first: what it accepts, it writes exactly as the options below would,
        # and non-string keys (the option's cost) are rare.
        return orjson.dumps(obj)
    except orjson.JSONEncodeError:
        pass
    try:
        return orjson.dumps(obj, default=to_jsonable_python, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError as exc:
        if "64-bit" not in str(exc) and "ecursion" not in str(exc):
            raise TypeError(str(exc)) from None
    try:
        text = json.dumps(
            obj,
            default=to_jsonable_python,
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        )
    except RecursionError:
        raise ValueError("nested too deep to encode") from None
    return text.encode()
