"""Events: what a dialect decodes frames into and encodes frames from.

Rules of this module:

* Events are slotted dataclasses with no behaviour; they import nothing from
  asyncio or websockets. Treat them as immutable. They are not declared
  ``frozen``: a frozen dataclass's ``__init__`` costs ~0.3 us more per event,
  and every call builds four of them (request and reply, on both sides).
* ``id`` values are kept verbatim: whatever JSON (or msgpack) value the peer
  sent is echoed unchanged.
* ``params`` is the raw decoded value (a list for positional params, a dict for
  named params, ``None`` when absent). Validation is not a dialect's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "Acknowledge",
    "Batch",
    "BatchItem",
    "Cancel",
    "Control",
    "Credit",
    "Dialect",
    "ErrorResponse",
    "Event",
    "Malformed",
    "Notification",
    "Outgoing",
    "Request",
    "Response",
    "StreamItem",
]


@dataclass(slots=True)
class Request:
    """A call that expects a reply.

    ``timeout`` is the caller's remaining budget in seconds (a deadline that
    travels with the request); ``credit`` is the initial flow-control window
    when the caller expects a stream. Both are JSON-RPC extensions; ``None``
    when absent.
    """

    id: Any
    method: str
    params: list[Any] | dict[str, Any] | None
    timeout: float | None = None
    credit: int | None = None


@dataclass(slots=True)
class Notification:
    """A call that expects no reply."""

    method: str
    params: list[Any] | dict[str, Any] | None


@dataclass(slots=True)
class Response:
    """A successful reply.

    ``values`` are the reply values: one for a plain ``return``, any number for
    a seed-style ``message.reply(*values)``. ``method`` is the request's method
    name; the v2 dialect repeats it on the wire.
    """

    id: Any
    values: tuple[Any, ...]
    method: str = ""


@dataclass(slots=True)
class ErrorResponse:
    """An error reply (or, decoded, an error the peer sent).

    ``id`` is ``None`` when the request's id could not be read.
    """

    id: Any
    code: int
    message: str
    data: Any = None
    method: str = ""


@dataclass(slots=True)
class Acknowledge:
    """The peer confirms it received the reply with this id (v2 SYN_ACK, legacy ack)."""

    id: Any
    values: tuple[Any, ...] = ()
    method: str = ""


@dataclass(slots=True)
class Cancel:
    """The caller gave up on the request with this id: stop its handler, send nothing more."""

    id: Any


@dataclass(slots=True)
class StreamItem:
    """One item of the stream that answers the request with this id."""

    id: Any
    item: Any


@dataclass(slots=True)
class Credit:
    """The consumer of the stream for this id may receive ``credit`` more items."""

    id: Any
    credit: int


@dataclass(slots=True)
class Malformed:
    """A frame (or batch item) that is not a valid message.

    ``reply`` is the error reply to send back, or ``None`` to send nothing.
    ``reason`` is for the log.
    """

    reply: ErrorResponse | None
    reason: str


BatchItem = Request | Notification | Response | ErrorResponse | Malformed


@dataclass(slots=True)
class Batch:
    """A JSON-RPC batch (never empty: an empty batch decodes to Malformed)."""

    items: tuple[BatchItem, ...]


Control = Cancel | StreamItem | Credit
Event = (
    Request | Notification | Response | ErrorResponse | Acknowledge | Malformed | Batch | Control
)
Outgoing = Request | Notification | Response | ErrorResponse | Acknowledge | Control


class Dialect(Protocol):
    """A wire format: frames in, events out, and back. No I/O.

    Attributes:
        name: The dialect's name, also its WebSocket subprotocol.
        text: Whether encoded frames go out as text (else binary) frames.
    """

    name: str
    text: bool
    extensions: bool
    """Whether the dialect carries deadlines, cancellation and streams."""
    acks: bool
    """Whether replies are acknowledged: a caller confirms every reply it receives
    (v2 SYN_ACK), so a replier may wait for that confirmation."""

    def decode(self, frame: bytes | str) -> Event:
        """Decode one WebSocket message into one event.

        Never raises: undecodable input becomes :class:`Malformed`, carrying
        the error reply to send back (or none, where the dialect has no error
        channel).
        """
        ...

    def encode(self, event: Outgoing) -> bytes:
        """Encode one outgoing event into one WebSocket message.

        Raises:
            TypeError: the dialect has no message for this event (for example a
                stream or cancellation event on a seed dialect).
        """
        ...

    def encode_batch(self, events: list[Response | ErrorResponse]) -> bytes:
        """Encode the replies to a batch into one message (JSON-RPC only)."""
        ...
