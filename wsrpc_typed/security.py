"""Who may connect: the handshake a server sees, authentication, origin checks.

Rules of this module:

* Authentication happens once, at the WebSocket handshake: the server's
  ``authenticate`` hook sees a :class:`Handshake` and returns an identity (any
  object) or raises :class:`Rejected`, which becomes an HTTP response (401 or
  403 with a short text body) before any frame is exchanged.
* Browsers send ``Origin``; other clients do not. The default origin policy
  admits requests without ``Origin`` and same-origin requests (the Origin's
  host is the request's Host), and refuses every other with 403: that stops
  Cross-Site WebSocket Hijacking unless origins are listed explicitly.
* Scopes declared on a method are checked against ``identity.scopes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from .errors import Rejected

__all__ = ["Handshake", "Headers", "OriginPolicy", "Rejected", "origin_allowed", "scopes_of"]

#: ``None``: same-origin (and no Origin); ``"*"``: any origin; a sequence: exactly those
#: origins (include ``None`` to also admit requests without an Origin header).
OriginPolicy = Sequence[str | None] | Literal["*"] | None


class Headers(Mapping[str, str]):
    """HTTP headers as a read-only, case-insensitive mapping; a repeated name keeps every value.

    ``headers[name]`` and ``headers.get(name)`` give the first value of a name;
    :meth:`get_all` gives them all, in order.
    """

    __slots__ = ("_items", "_values")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items = tuple(items)
        values: dict[str, list[str]] = {}
        for name, value in self._items:
            values.setdefault(name.lower(), []).append(value)
        self._values = values

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in the order received (empty when absent)."""
        return list(self._values.get(name.lower(), ()))

    def raw_items(self) -> tuple[tuple[str, str], ...]:
        """The headers as received: (name, value) pairs, names as spelled."""
        return self._items

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


@dataclass(frozen=True, slots=True)
class Handshake:
    """The opening HTTP request of a WebSocket connection, as ``authenticate`` sees it.

    Every transport adapter (websockets, ASGI, ...) reports its handshake in
    this form to the server's hub.

    Attributes:
        path: The request path, without the query string.
        query: The query string, parsed (each name maps to its values).
        headers: The request headers (case-insensitive; a :class:`Headers` from
            the server's adapters).
        remote_address: The peer's address, as the socket reports it.
        subprotocols: The WebSocket subprotocols the client offered, in its order
            of preference.
        scope: The ASGI connection scope when the connection came through
            :class:`wsrpc_typed.asgi.RpcApp` (with what the framework's middleware
            set in it: ``scope["user"]``, ``scope["state"]``, ...), else ``None``.
    """

    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    remote_address: Any
    subprotocols: tuple[str, ...] = field(default=())
    scope: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_target(
        cls,
        target: str,
        headers: Mapping[str, str],
        remote: Any,
        subprotocols: Sequence[str] = (),
    ) -> Handshake:
        """Build from the request target (``/path?query``)."""
        parts = urlsplit(target)
        return cls(parts.path, parse_qs(parts.query), headers, remote, tuple(subprotocols))

    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer <token>`` header, if any."""
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None


def origin_allowed(origins: Sequence[str], host: str | None, policy: OriginPolicy) -> bool:
    """Whether a handshake with these ``Origin`` headers is admitted under ``policy``."""
    if len(origins) > 1:
        return False  # several Origin headers: ambiguous, refuse
    origin = origins[0] if origins else None
    if policy == "*":
        return True
    if policy is None:
        return origin is None or (host is not None and urlsplit(origin).netloc == host)
    return origin in policy


def scopes_of(identity: Any) -> frozenset[str]:
    """The scopes an identity holds: its ``scopes`` attribute or key, else none."""
    scopes: Iterable[str] | None
    if isinstance(identity, Mapping):
        scopes = identity.get("scopes")
    else:
        scopes = getattr(identity, "scopes", None)
    if scopes is None or isinstance(scopes, str):
        return frozenset((scopes,)) if isinstance(scopes, str) else frozenset()
    return frozenset(scopes)
