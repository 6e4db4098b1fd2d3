"""Log records that name the call they come from, and a logging set-up for servers.

While a handler runs, :data:`current_call` holds the connection id and the
request id of the call it serves (the request id is ``None`` for a
notification). :class:`CallFilter` copies them onto every log record as
``record.connection`` and ``record.request`` (``-`` outside a call), so a
handler's own ``logger.info(...)`` lines say which call they belong to::

    handler = logging.StreamHandler()
    handler.addFilter(CallFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))

:func:`configure_logging` does exactly that for the root logger; ``wsrpc serve``
calls it.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any

__all__ = ["LOG_FORMAT", "CallFilter", "configure_logging", "current_call"]

#: ``(connection id, request id)`` of the call being served in this context, if any.
current_call: ContextVar[tuple[str, Any] | None] = ContextVar("wsrpc_current_call", default=None)

#: The format :func:`configure_logging` uses: time, level, logger, ``[connection request]``.
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(connection)s %(request)s] %(message)s"


class CallFilter(logging.Filter):
    """Adds ``connection`` and ``request`` to each record from :data:`current_call`.

    Never drops a record. Attach it to a handler (not a logger), so that it sees
    records from every logger, the application's included.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        call = current_call.get()
        if call is None:
            record.connection = record.request = "-"
        else:
            record.connection = call[0]
            record.request = "-" if call[1] is None else call[1]
        return True


def configure_logging(level: int | str = logging.INFO, *, stream: Any = None) -> logging.Handler:
    """Log to ``stream`` (default: stderr) at ``level``, every record tagged with its call.

    Replaces the handlers of the root logger, so that handlers' own log lines
    appear beside the server's. Returns the installed handler.
    """
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(CallFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
