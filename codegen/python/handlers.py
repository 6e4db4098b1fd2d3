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

from .parts import HandlerMethod, HandlersProtocol, Registration, Wrapper

if TYPE_CHECKING:
    from .build import MethodParts

__all__ = ["handlers_protocol", "registration"]


def handlers_protocol(name: str, peers: Sequence[MethodParts]) -> HandlersProtocol:
    """The Protocol a client implements: one method per peer method.

    A streaming method is a plain ``def`` returning ``AsyncIterator[Item]``,
    which an ``async def`` generator implements.
    """
    methods = tuple(
        HandlerMethod(
            name=parts.name,
            wire=parts.spec.name,
            params=parts.params,
            receiver=parts.receiver,
            result=parts.result,
            stream=parts.spec.stream,
            description=parts.description,
            summary=parts.summary,
            raises=parts.raises,
        )
        for parts in peers
    )
    return HandlersProtocol(name=name, methods=methods)


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
    for parts in peers:
        if parts.wire_params is None:
            bad = [p.name for p in parts.spec.params if not p.name.isidentifier()]
            raise SchemaError(
                f"peer method {parts.spec.name!r}: a param name ({', '.join(map(repr, bad))} or "
                "a keyword) is not a Python name, so a client cannot serve it from a typed handler"
            )
        item = "item"
        while item in wire_names[parts.spec.name]:
            item += "_"
        wrappers.append(
            Wrapper(
                name=f"_{parts.name}",
                wire=parts.spec.name,
                params=parts.wire_params,
                call=f"{receiver}.{parts.name}",
                keywords=parts.keywords,
                result=parts.result,
                stream=parts.spec.stream,
                item=item,
            )
        )
    return Registration(
        function=function, protocol=protocol, receiver=receiver, wrappers=tuple(wrappers)
    )
