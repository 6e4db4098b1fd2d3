"""The registry: typed handlers compiled once into immutable method descriptions.

Rules of this module:

* Everything about a handler is decided here, at registration: parameter names
  and order, the params validator, the result serialiser, the injected context
  parameter. Dispatch never inspects a signature.
* Misdeclared handlers raise :class:`RegistrationError` naming the handler,
  the parameter and the fix.
* No I/O: this module imports neither asyncio nor websockets.
"""

from __future__ import annotations

import collections.abc
import dis
import inspect
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    NotRequired,
    Protocol,
    TypeVar,
    get_args,
    get_origin,
    get_type_hints,
    overload,
)

import orjson
from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError
from typing_extensions import TypedDict

from .context import Context
from .errors import InvalidParams, RegistrationError, RpcError

__all__ = [
    "Method",
    "Methods",
    "Router",
    "compile_method",
    "params_adapter",
    "validate_params",
    "validation_errors",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Config of every params validator: unknown params are errors, bytes travel as base64.
_PARAMS_CONFIG = ConfigDict(extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")
_RESULT_CONFIG = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")
_EMPTY: dict[str, Any] = {}
_STREAM_ORIGINS = (
    collections.abc.AsyncIterator,
    collections.abc.AsyncIterable,
    collections.abc.AsyncGenerator,
)
#: typing_extensions.TypedDict, called at run time with computed arguments.
_typed_dict: Any = TypedDict


#: Messages of pydantic error types whose own message quotes the input.
_INPUT_FREE_MESSAGES = {
    "union_tag_invalid": "Input tag does not match any of the expected tags: {expected_tags}",
}
#: Caps on what an invalid-params error sends back: the peer wrote the input, so
#: the reply must not grow with it (nor reflect it back).
MAX_ERROR_DATA = 1024
MAX_ECHO = 32
_QUOTED = re.compile(r"'([^']*)'")


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + "..."


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's error list, fit for the wire: ``loc``, ``msg`` and ``type`` of each error.

    Never the input, URLs or context: location names and quoted values are cut to
    ``MAX_ECHO`` characters, and the list is cut to fit ``MAX_ERROR_DATA`` bytes (a
    last entry then says how many errors were left out).
    """
    errors = exc.errors(include_url=False, include_input=False)
    kept: list[dict[str, Any]] = []
    size = 2
    for index, err in enumerate(errors):
        template = _INPUT_FREE_MESSAGES.get(err["type"])
        msg = err["msg"] if template is None else template.format_map(err.get("ctx", {}))
        entry = {
            "loc": [_clip(part) if isinstance(part, str) else part for part in err["loc"]],
            "msg": _QUOTED.sub(lambda m: f"'{_clip(m.group(1))}'", msg),
            "type": err["type"],
        }
        size += len(orjson.dumps(entry)) + 1
        if size > MAX_ERROR_DATA - 100:
            left = len(errors) - index
            kept.append({"loc": [], "msg": f"{left} more errors", "type": "too_many_errors"})
            break
        kept.append(entry)
    return kept


def params_adapter(name: str, fields: Mapping[str, Any]) -> TypeAdapter[Any]:
    """The validator of method ``name``'s params dict, as the server builds it.

    ``fields`` maps each param's wire name to its type, ``NotRequired[...]`` for one
    with a default; names not in it are refused.

    Raises:
        pydantic.errors.PydanticSchemaGenerationError: a type pydantic cannot validate.
    """
    params_td: Any = _typed_dict(f"{name}_params", fields)
    params_td.__pydantic_config__ = _PARAMS_CONFIG
    return TypeAdapter(params_td)


def validate_params(
    name: str,
    param_names: Sequence[str],
    adapter: TypeAdapter[Any],
    params: list[Any] | dict[str, Any] | None,
) -> dict[str, Any]:
    """Validate raw params (an array by position, an object by name, or none) with
    ``adapter`` (see :func:`params_adapter`), as the server does before a handler runs.

    Raises:
        InvalidParams: with every error's location, message and type in ``data``.
    """
    if type(params) is list:
        if len(params) > len(param_names):
            extra = len(param_names)
            raise InvalidParams(
                data=[
                    {
                        "loc": [extra],
                        "msg": f"{_clip(name)} takes at most {extra} positional "
                        f"params, got {len(params)}",
                        "type": "unexpected_positional_argument",
                    }
                ]
            )
        params = dict(zip(param_names, params, strict=False))
    elif params is None:
        params = _EMPTY
    try:
        kwargs: dict[str, Any] = adapter.validator.validate_python(params)
    except ValidationError as exc:
        raise InvalidParams(data=validation_errors(exc)) from None
    return kwargs


@dataclass(frozen=True, slots=True, eq=False)
class Method:
    """One registered method, compiled for dispatch and schema generation.

    Attributes:
        name: The wire name.
        func: The handler.
        is_async: Whether ``func`` is a coroutine function.
        thread: For plain ``def`` handlers: run in a worker thread (default) or inline.
        inline: Run where the frame is read, without a task of its own: true for
            ``async def`` handlers that contain no ``await`` (they cannot suspend, so a
            task would change nothing but the cost) and for ``thread=False`` handlers.
        param_names: Parameter names in declaration order (the context parameter excluded).
        params_adapter: Validates a params dict (a TypedDict built from the signature).
        stream: An ``async def`` generator: its items stream to the caller.
        result_adapter: Serialises the result through the declared return type
            (for a stream, each item through the item type).
        context_param: Name of the parameter that receives the :class:`Context`, if any.
        defaults: Parameter defaults, for the schema.
        doc: The handler's docstring, cleaned.
        deprecated: Marked deprecated in the schema.
        errors: The application errors the method declares it may raise.
        scopes: Scopes the caller's identity must hold (checked before validation).
    """

    name: str
    func: Callable[..., Any]
    is_async: bool
    thread: bool
    inline: bool
    stream: bool
    param_names: tuple[str, ...]
    params_adapter: TypeAdapter[Any]
    result_adapter: TypeAdapter[Any]
    context_param: str | None
    defaults: Mapping[str, Any]
    doc: str | None
    deprecated: bool
    errors: tuple[type[RpcError], ...]
    scopes: frozenset[str] = frozenset()
    #: The declared result type when it is JSON-native (int, str, bool, None): a result of
    #: exactly that type serialises to itself, so dump_result returns it as is.
    passthrough: type | None = None

    def validate(self, params: list[Any] | dict[str, Any] | None) -> dict[str, Any]:
        """Validate raw params (positional or named) into handler keyword arguments.

        Raises:
            InvalidParams: with every error's location, message and type in ``data``.
        """
        return validate_params(self.name, self.param_names, self.params_adapter, params)

    def dump_result(self, value: Any) -> Any:
        """Serialise a handler's return value through its declared type (JSON-compatible).

        Raises:
            pydantic_core.PydanticSerializationError: the value does not match the type.
        """
        if type(value) is self.passthrough:
            return value
        return self.result_adapter.serializer.to_python(value, mode="json", warnings="error")


def _passthrough(result_type: Any) -> type | None:
    """The result type whose exact instances serialise to themselves (JSON-native), if any."""
    if result_type is None or result_type is type(None):
        return type(None)
    if result_type is int or result_type is str or result_type is bool:
        return result_type
    return None


def _never_suspends(func: Callable[..., Any]) -> bool:
    """Whether a coroutine function's own code has no suspension point.

    Every ``await``, ``async for`` and ``async with`` compiles to YIELD_VALUE; a
    coroutine without one runs to completion on its first step.
    """
    code = getattr(func, "__code__", None)
    if code is None:
        return False
    return all(instr.opname != "YIELD_VALUE" for instr in dis.get_instructions(code))


def _is_context(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation is Context


def _mentions_context(annotation: Any) -> bool:
    """Whether ``Context`` appears anywhere in a type (``Context | None``, ``list[Context]``)."""
    return annotation is Context or any(_mentions_context(arg) for arg in get_args(annotation))


_SCHEMA_ERRORS = (PydanticSchemaGenerationError, PydanticUserError)
_TYPE_FIX = (
    "use a pydantic-compatible type: a BaseModel, dataclass, TypedDict or a standard type "
    "such as int, str or list[...]"
)


def _reason(exc: Exception) -> str:
    # Pydantic's first sentence names the type; the rest of its text suggests
    # arbitrary_types_allowed, which is no fix for a value that crosses the wire.
    return str(exc).partition("\n")[0].split(". ", 1)[0]


def _params_error(where: str, annotations: Mapping[str, Any], exc: Exception) -> RegistrationError:
    """A RegistrationError naming the parameter whose type broke the params validator."""
    # One adapter per parameter, only here: the params validator is one TypedDict,
    # so pydantic's own error does not say which field it was building.
    for name, annotation in annotations.items():
        try:
            TypeAdapter(annotation)
        except _SCHEMA_ERRORS as param_exc:
            return RegistrationError(
                f"{where}, parameter {name!r}: its type is not supported by pydantic "
                f"({_reason(param_exc)}); {_TYPE_FIX}"
            )
    return RegistrationError(
        f"{where}: the parameter types are not supported by pydantic ({_reason(exc)}); {_TYPE_FIX}"
    )


def compile_method(
    func: Callable[..., Any],
    name: str,
    *,
    thread: bool = False,
    deprecated: bool = False,
    errors: Sequence[type[RpcError]] = (),
    scopes: Sequence[str] = (),
) -> Method:
    """Check ``func``'s signature and build the :class:`Method` that serves it as ``name``.

    What :meth:`Router.method` does, without registering it (and without the
    ``rpc.`` reservation: for the methods a server provides itself).

    Raises:
        RegistrationError: the handler cannot be served (the message says why).
    """
    where = f"handler {getattr(func, '__qualname__', func)!r} (method {name!r})"
    if not callable(func):
        raise RegistrationError(f"{where}: a handler must be a function")
    stream = inspect.isasyncgenfunction(func)
    if inspect.isgeneratorfunction(func):
        raise RegistrationError(
            f"{where}: plain generators are not supported; make it an `async def` generator "
            "annotated `-> AsyncIterator[Item]` to stream items"
        )
    try:
        hints = get_type_hints(func, include_extras=True)
    except Exception as exc:
        raise RegistrationError(
            f"{where}: its annotations cannot be resolved ({exc}); "
            "import the names they use at module level"
        ) from exc
    signature = inspect.signature(func)
    fields: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    context_param = None
    for param in signature.parameters.values():
        at = f"{where}, parameter {param.name!r}"
        if param.kind is param.VAR_POSITIONAL or param.kind is param.VAR_KEYWORD:
            raise RegistrationError(
                f"{at}: *args and **kwargs cannot be validated; declare each parameter with a type"
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise RegistrationError(
                f"{at}: positional-only parameters are not supported; drop the '/'"
            )
        if param.name not in hints:
            raise RegistrationError(
                f"{at}: no type annotation; annotate it, e.g. `{param.name}: int`"
            )
        annotation = hints[param.name]
        if _is_context(annotation):
            if context_param is not None:
                raise RegistrationError(f"{at}: only one parameter may receive the Context")
            context_param = param.name
            continue
        if _mentions_context(annotation):
            raise RegistrationError(
                f"{at}: a Context inside another type is never injected; annotate it exactly "
                f"`{param.name}: Context`; the context is always given, so it needs no default "
                "or Optional"
            )
        if param.default is param.empty:
            fields[param.name] = annotation
        else:
            fields[param.name] = NotRequired[annotation]
            defaults[param.name] = param.default
    if "return" not in hints:
        raise RegistrationError(
            f"{where}: no return annotation; add one (`-> None` if it returns nothing)"
        )
    try:
        adapter = params_adapter(name, fields)
    except _SCHEMA_ERRORS as exc:
        raise _params_error(where, {n: hints[n] for n in fields}, exc) from exc
    result_type = hints["return"]
    if stream:
        if get_origin(result_type) not in _STREAM_ORIGINS or not get_args(result_type):
            raise RegistrationError(
                f"{where}: a streaming handler must be annotated `-> AsyncIterator[Item]` "
                "(or AsyncGenerator[Item, None] / AsyncIterable[Item])"
            )
        result_type = get_args(result_type)[0]
    try:
        result_adapter: TypeAdapter[Any] = TypeAdapter(result_type, config=_RESULT_CONFIG)
    except _SCHEMA_ERRORS:
        try:
            result_adapter = TypeAdapter(result_type)
        except _SCHEMA_ERRORS as exc:
            raise RegistrationError(
                f"{where}: the return type is not supported by pydantic ({_reason(exc)}); "
                f"{_TYPE_FIX}"
            ) from exc
    for error in errors:
        if not (isinstance(error, type) and issubclass(error, RpcError)):
            raise RegistrationError(f"{where}: errors= takes RpcError subclasses, got {error!r}")
    doc = inspect.getdoc(func)
    is_async = inspect.iscoroutinefunction(func)
    return Method(
        name=name,
        func=func,
        is_async=is_async,
        thread=thread,
        inline=_never_suspends(func) if is_async else not thread and not stream,
        stream=stream,
        param_names=tuple(fields),
        params_adapter=adapter,
        result_adapter=result_adapter,
        context_param=context_param,
        defaults=defaults,
        doc=doc,
        deprecated=deprecated,
        errors=tuple(errors),
        scopes=frozenset(scopes),
        passthrough=_passthrough(result_type),
    )


class Methods(Protocol):
    """What serves calls looks methods up in: a :class:`Router`, or a server's view of one."""

    def get(self, name: str, /) -> Method | None:
        """The method served as ``name``, or None."""
        ...


class Router:
    """A registry of typed methods, served by :class:`~wsrpc_typed.Server`.

    Example::

        router = Router()

        @router.method
        async def add(a: int, b: int) -> int:
            return a + b

    Plain ``def`` handlers run in a worker thread (``thread=False`` runs them
    on the event loop instead: only for handlers that never block).

    Args:
        title: The API's title in its schema documents and generated code
            (default: ``wsrpc-typed API``).
        version: The API's version, likewise (default: ``0.0.0``).
        description: What the API is for: the documents' description, and the
            generated client's docstring.
    """

    def __init__(
        self,
        *,
        title: str | None = None,
        version: str | None = None,
        description: str | None = None,
    ) -> None:
        self.title = title
        self.version = version
        self.description = description
        self._methods: dict[str, Method] = {}
        self._peer: Router | None = None

    @overload
    def method(self, func: F) -> F: ...

    @overload
    def method(
        self,
        *,
        name: str | None = None,
        thread: bool = True,
        deprecated: bool = False,
        errors: Sequence[type[RpcError]] = (),
        scopes: Sequence[str] = (),
    ) -> Callable[[F], F]: ...

    def method(
        self,
        func: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        thread: bool = True,
        deprecated: bool = False,
        errors: Sequence[type[RpcError]] = (),
        scopes: Sequence[str] = (),
    ) -> Any:
        """Register a handler, as ``@router.method`` or ``@router.method(name=...)``.

        Args:
            name: The wire name (default: the function's name).
            thread: Run a plain ``def`` handler in a worker thread (default) or inline.
            deprecated: Mark the method deprecated in the schema.
            errors: The :class:`RpcError` subclasses the method may raise.
            scopes: Scopes the caller's identity must hold (see ``Server(authenticate=...)``);
                a caller without them gets :class:`Forbidden` before validation.

        Returns:
            The handler itself, unchanged.

        Raises:
            RegistrationError: the handler cannot be served as declared.
        """

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            self.add(
                f, name=name, thread=thread, deprecated=deprecated, errors=errors, scopes=scopes
            )
            return f

        return register if func is None else register(func)

    def add(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        thread: bool = True,
        deprecated: bool = False,
        errors: Sequence[type[RpcError]] = (),
        scopes: Sequence[str] = (),
    ) -> Method:
        """Register ``func`` (the non-decorator form of :meth:`method`)."""
        wire_name = name if name is not None else getattr(func, "__name__", "")
        if not isinstance(wire_name, str) or not wire_name:
            raise RegistrationError(f"handler {func!r}: a method name must be a non-empty string")
        if wire_name.startswith("rpc."):
            raise RegistrationError(
                f"handler {getattr(func, '__qualname__', func)!r}: method names starting with "
                f"'rpc.' are reserved by JSON-RPC 2.0; rename {wire_name!r}"
            )
        if wire_name in self._methods:
            other = self._methods[wire_name].func
            raise RegistrationError(
                f"handler {getattr(func, '__qualname__', func)!r}: method name {wire_name!r} is "
                f"already registered by {getattr(other, '__qualname__', other)!r}; pass name=... "
                "to register it under another name"
            )
        compiled = compile_method(
            func, wire_name, thread=thread, deprecated=deprecated, errors=errors, scopes=scopes
        )
        self._methods[wire_name] = compiled
        return compiled

    def include(self, other: Router) -> None:
        """Register every method of ``other`` in this router, and every peer method of
        ``other.peer`` in :attr:`peer` (names must not collide; nothing is added if
        any does). ``other``'s title, version and description are not taken."""
        peers = list(other._peer) if other._peer is not None else []
        for method in other:
            if method.name in self._methods:
                raise RegistrationError(
                    f"method name {method.name!r} is registered in both routers"
                )
        for method in peers:
            if self._peer is not None and method.name in self._peer._methods:
                raise RegistrationError(
                    f"peer method name {method.name!r} is registered in both routers"
                )
        for method in other:
            self._methods[method.name] = method
        if peers:
            for method in peers:
                self.peer._methods[method.name] = method

    def get(self, name: str) -> Method | None:
        """The method registered under ``name``, or None."""
        return self._methods.get(name)

    @property
    def peer(self) -> Router:
        """The methods this router's clients implement: the server calls them on its peers.

        Declare them with signature-only handlers; they are never served by this
        router, only described in its schema documents (``x-peer-methods``), so
        that ``wsrpc-gen`` can type both directions from one document::

            @router.peer.method
            async def confirm(question: str) -> bool: ...

        Created on first use; declare peer methods before the schema is served.
        """
        if self._peer is None:
            self._peer = Router()
        return self._peer

    @property
    def methods(self) -> Mapping[str, Method]:
        """Every registered method by wire name, in registration order."""
        return self._methods

    def __iter__(self) -> Iterator[Method]:
        return iter(self._methods.values())

    def __len__(self) -> int:
        return len(self._methods)

    def __contains__(self, name: object) -> bool:
        return name in self._methods
