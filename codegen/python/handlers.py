"""Stage 2, client side of the peer methods: the handlers Protocol and its registration helper.

A client module generated from a document with ``x-peer-methods`` declares what
the client must implement as a ``typing.Protocol`` (one method per peer method,
keyword-only params, exact types), and a function that registers an
implementation in a client :class:`~wsrpc_typed.Router`. The function registers
one nested wrapper per method, annotated with the schema's types, so calls from
the server are validated as the document says, whatever the implementation's
own annotations; each wrapper's body is one statement that calls the
implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from wsrpc_typed.schema import SchemaError

from ..model import Api
from .parts import HandlerMethod, HandlersProtocol, Registration
from .source import Group, docstring, layout, py_literal

if TYPE_CHECKING:
    from .build import MethodParts

__all__ = ["handlers_protocol", "registration"]


def _returns(parts: MethodParts) -> str:
    return f"AsyncIterator[{parts.result}]" if parts.spec.stream else parts.result


def handlers_protocol(name: str, peers: Sequence[MethodParts], api: Api) -> HandlersProtocol:
    """The Protocol a client implements: one method per peer method.

    A streaming method is a plain ``def`` returning ``AsyncIterator[Item]``,
    which an ``async def`` generator implements.
    """
    methods = []
    for parts in peers:
        head = "def" if parts.spec.stream else "async def"
        items = (parts.receiver, *(("*", *parts.params) if parts.params else ()))
        signature = layout(
            Group(f"{head} {parts.name}", "(", items, ")", f" -> {_returns(parts)}"), "    ", ":"
        )
        doc = parts.doc or f"Handle ``{parts.spec.name}`` from the server."
        methods.append(HandlerMethod(tuple(signature), docstring(doc, "        ")))
    return HandlersProtocol(
        name=name,
        docstring=docstring(
            f"The methods the server of {api.title} (version {api.version}) calls on its "
            "clients.\n\n"
            "Implement them in a class (no need to inherit from this one) and register an "
            "instance\nwith ``register_handlers(router, handlers)`` before "
            "``connect(url, router=router)``.",
            "    ",
        ),
        methods=tuple(methods),
    )


def registration(function: str, protocol: str, peers: Sequence[MethodParts]) -> Registration:
    """The helper that registers an implementation of ``protocol`` in a client router.

    Raises:
        SchemaError: a peer method's param name is not a Python name (the
            registry serves params by their Python names).
    """
    wire_names = {p.spec.name: {q.name for q in p.spec.params} for p in peers}
    # The implementation's name inside the helper must not be shadowed by a param.
    receiver = "handlers"
    while any(receiver in names for names in wire_names.values()):
        receiver += "_"
    wrappers = []
    adds = []
    for parts in peers:
        if parts.wire_params is None:
            bad = [p.name for p in parts.spec.params if not p.name.isidentifier()]
            raise SchemaError(
                f"peer method {parts.spec.name!r}: a param name ({', '.join(map(repr, bad))} or "
                "a keyword) is not a Python name, so a client cannot serve it from a typed handler"
            )
        wrapper = f"_{parts.name}"
        call = f"{receiver}.{parts.name}"
        head = "async def"
        signature = layout(
            Group(f"{head} {wrapper}", "(", parts.wire_params, ")", f" -> {_returns(parts)}"),
            "    ",
            ":",
        )
        if parts.spec.stream:
            item = "item"
            while item in wire_names[parts.spec.name]:
                item += "_"
            body = [
                *layout(
                    Group(f"async for {item} in {call}", "(", parts.keywords, ")"), "        ", ":"
                ),
                f"            yield {item}",
            ]
        else:
            # A method with no result: mypy refuses `return` of a call that returns None.
            prefix = "await " if parts.result == "None" else "return await "
            body = layout(Group(f"{prefix}{call}", "(", parts.keywords, ")"), "        ")
        wrappers.append((*signature, *body))
        adds.append(f"    router.add({wrapper}, name={py_literal(parts.spec.name)})")
    signature = layout(
        Group(
            f"def {function}", "(", ("router: Router", f"{receiver}: {protocol}"), ")", " -> Router"
        ),
        "",
        ":",
    )
    return Registration(
        signature=tuple(signature),
        docstring=docstring(
            f"Register ``{receiver}`` in a client ``router`` (for ``connect(url, router=router)``)."
            "\n\n"
            "Each method is registered under its wire name with the schema's param and result "
            "types,\nso calls from the server are validated as the document says before they "
            f"reach ``{receiver}``.\n\n"
            "Returns:\n    ``router``.",
            "    ",
        ),
        wrappers=tuple(wrappers),
        adds=tuple(adds),
    )
