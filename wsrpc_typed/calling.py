"""What a call's params and result are: their wire form, and typed results.

The calls themselves are :meth:`Connection.call <wsrpc_typed.connection.Connection.call>`
and its siblings; these helpers are shared by the connection, the client and
the generated stubs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

__all__ = ["DEFAULT", "Params", "adapter_for", "result_of", "wire_params"]

#: Params of a call: named (a dict or a pydantic model), positional (a list), or none.
Params = dict[str, Any] | list[Any] | BaseModel | None

#: "The connection's default timeout" (``None`` already means "no timeout").
DEFAULT: Any = object()
_adapters: dict[Any, TypeAdapter[Any]] = {}


def adapter_for(tp: Any) -> TypeAdapter[Any]:
    """A TypeAdapter for ``tp``, built once per type."""
    adapter = _adapters.get(tp)
    if adapter is None:
        adapter = _adapters[tp] = TypeAdapter(tp)
    return adapter


def wire_params(params: Any) -> list[Any] | dict[str, Any] | None:
    """Params as they go on the wire: a pydantic model becomes its JSON-mode dict."""
    if params is None or type(params) is dict or type(params) is list:
        return params
    if isinstance(params, BaseModel):
        return params.model_dump(mode="json", by_alias=True)
    if isinstance(params, dict):
        return dict(params)
    if isinstance(params, list | tuple):
        return list(params)
    raise TypeError(
        f"params must be a dict, a list or a pydantic model, not {type(params).__name__}"
    )


def result_of(values: tuple[Any, ...], result_type: Any) -> Any:
    """The result of a call from its reply values, validated as ``result_type`` if given."""
    result = values[0] if len(values) == 1 else (list(values) if values else None)
    if result_type is None:
        return result
    return adapter_for(result_type).validate_python(result)
