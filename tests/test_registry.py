"""Registration: compile-once method descriptions and fix-it errors."""

from __future__ import annotations

import threading
import typing
from collections.abc import AsyncIterator
from typing import Annotated, Any, Optional

import pytest
from pydantic import Field
from pydantic_core import PydanticSerializationError

from wsrpc_typed import Context, InvalidParams, RegistrationError, Router


def test_registers_async_and_sync_handlers() -> None:
    router = Router()

    @router.method
    async def add(a: int, b: int) -> int:
        return a + b

    @router.method(name="computePrimes", thread=False)
    def compute(n: Annotated[int, Field(ge=0)]) -> list[int]:
        return []

    assert list(router.methods) == ["add", "computePrimes"]
    add_m, primes = router.methods["add"], router.methods["computePrimes"]
    assert add_m.is_async and add_m.inline and add_m.param_names == ("a", "b")
    assert not primes.is_async and primes.inline  # thread=False
    assert add is router.methods["add"].func  # the decorator returns the function


def test_awaiting_handler_is_not_inline() -> None:
    router = Router()

    @router.method
    async def slow(x: int) -> int:
        import asyncio

        await asyncio.sleep(0)
        return x

    @router.method
    def blocking(x: int) -> int:
        return x

    assert not router.methods["slow"].inline
    assert not router.methods["blocking"].inline  # runs in a thread by default


def test_validate_named_positional_and_defaults() -> None:
    router = Router()

    @router.method
    async def f(a: int, b: str = "x") -> str:
        return b * a

    m = router.methods["f"]
    assert m.validate({"a": 2}) == {"a": 2}
    assert m.validate([3, "y"]) == {"a": 3, "b": "y"}
    assert m.validate([4.0]) == {"a": 4}  # integral floats (msgpack) are ints
    with pytest.raises(InvalidParams) as info:
        m.validate({"a": "nope", "c": 1})
    assert info.value.data == [
        {"loc": ["a"], "msg": info.value.data[0]["msg"], "type": "int_parsing"},
        {"loc": ["c"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"},
    ]
    with pytest.raises(InvalidParams) as info:
        m.validate([1, "x", "extra"])
    assert info.value.data[0]["loc"] == [2]
    with pytest.raises(InvalidParams) as info:
        m.validate(None)
    assert info.value.data[0] == {"loc": ["a"], "msg": "Field required", "type": "missing"}


def test_errors_never_echo_the_input() -> None:
    router = Router()

    @router.method
    async def f(secret: int) -> None: ...

    with pytest.raises(InvalidParams) as info:
        router.methods["f"].validate({"secret": "hunter2-password"})
    assert "hunter2" not in repr(info.value.data)


def test_context_parameter_is_injected_not_a_param() -> None:
    router = Router()

    @router.method
    async def f(ctx: Context, a: int) -> int:
        return a

    m = router.methods["f"]
    assert m.context_param == "ctx" and m.param_names == ("a",)
    assert "ctx" not in m.params_adapter.json_schema()["properties"]


def test_result_is_serialised_through_declared_type() -> None:
    router = Router()

    @router.method
    async def f() -> bytes:
        return b"\x00\xff"

    assert router.methods["f"].dump_result(b"\x00\xff") == "AP8="
    with pytest.raises(PydanticSerializationError, match="Expected `bytes`"):
        router.methods["f"].dump_result(12)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def h(a, b: int) -> int: ...", r"'h'.*parameter 'a': no type annotation; annotate it"),
        ("def h(a: int): ...", r"'h'.*no return annotation; add one"),
        ("def h(*args: int) -> int: ...", r"parameter 'args': \*args and \*\*kwargs"),
        ("def h(**kw: int) -> int: ...", r"parameter 'kw': \*args and \*\*kwargs"),
        ("def h(a: int, /) -> int: ...", r"parameter 'a': positional-only"),
        ("def h(a: 'Missing') -> int: ...", r"'h'.*annotations cannot be resolved"),
        (
            "async def h(a: int) -> int:\n    yield a",
            r"must be annotated `-> AsyncIterator\[Item\]`",
        ),
        ("def h(a: int) -> int:\n    yield a", r"plain generators are not supported"),
    ],
)
def test_misdeclared_handlers_fail_with_a_fix(source: str, expected: str) -> None:
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    with pytest.raises(RegistrationError, match=expected):
        Router().method(namespace["h"])


def test_duplicate_and_reserved_names() -> None:
    router = Router()

    @router.method
    async def ping() -> str:
        return "pong"

    async def ping2() -> str:
        return "pong"

    with pytest.raises(RegistrationError, match=r"'ping' is already registered.*pass name="):
        router.method(name="ping")(ping2)
    with pytest.raises(RegistrationError, match=r"'rpc\.' are reserved"):
        router.method(name="rpc.discover")(ping2)


class Opaque:
    pass


class StdlibTypedDict(typing.TypedDict):  # pydantic wants typing_extensions' on 3.11
    a: int


def _registration_error(source: str) -> str:
    """The message of the RegistrationError raised by registering ``h`` defined in ``source``."""
    namespace: dict[str, Any] = {
        "AsyncIterator": AsyncIterator,
        "Annotated": Annotated,
        "Context": Context,
        "Opaque": Opaque,
        "Optional": Optional,
        "StdlibTypedDict": StdlibTypedDict,
        "threading": threading,
    }
    exec(source, namespace)
    with pytest.raises(RegistrationError) as info:
        Router().method(namespace["h"])
    return str(info.value)


@pytest.mark.parametrize(
    "source",
    [
        "def h(a: int, bad: threading.Lock) -> int: ...",
        "def h(a: int, bad: Opaque = None) -> int: ...",
        "def h(a: int, bad: list[Opaque]) -> int: ...",
        "def h(a: int, bad: StdlibTypedDict) -> int: ...",
    ],
)
def test_unsupported_parameter_type_names_the_parameter(source: str) -> None:
    message = _registration_error(source)
    assert "handler 'h'" in message
    assert "parameter 'bad': its type is not supported by pydantic" in message
    assert "use a pydantic-compatible type" in message
    # Pydantic's reason is cut to its first sentence, without its arbitrary_types_allowed hint.
    assert "\n" not in message and "arbitrary_types_allowed" not in message


@pytest.mark.parametrize(
    "source",
    [
        "def h(a: int) -> Opaque: ...",
        "async def h(a: int) -> AsyncIterator[Opaque]:\n    yield Opaque()",
    ],
)
def test_unsupported_return_type_names_the_return_type(source: str) -> None:
    message = _registration_error(source)
    assert "handler 'h'" in message
    assert "the return type is not supported by pydantic" in message
    assert "use a pydantic-compatible type" in message
    assert "\n" not in message and "arbitrary_types_allowed" not in message


@pytest.mark.parametrize(
    "annotation",
    [
        "Context | None = None",
        "Optional[Context]",
        "list[Context]",
        "Annotated[Context | None, 'doc']",
    ],
)
def test_context_inside_another_type_names_the_fix(annotation: str) -> None:
    message = _registration_error(f"def h(a: int, ctx: {annotation}) -> int: ...")
    assert "handler 'h'" in message and "parameter 'ctx'" in message
    assert "annotate it exactly `ctx: Context`" in message
    assert "needs no default or Optional" in message


def test_registration_error_is_a_type_error() -> None:
    assert issubclass(RegistrationError, TypeError)


def test_async_generator_handlers_stream_their_item_type() -> None:
    router = Router()

    @router.method
    async def ticks(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    m = router.methods["ticks"]
    assert m.stream and not m.inline
    assert m.dump_result(3) == 3
    assert m.result_adapter.json_schema() == {"type": "integer"}
