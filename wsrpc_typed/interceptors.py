"""Interceptors: ordered hooks around every call, for logging, metrics and policy.

An interceptor is an async callable ``(call, proceed) -> result``. It may read
``call``, time or wrap ``await proceed()``, or short-circuit by raising an
:class:`~wsrpc_typed.RpcError` (or returning a result) without proceeding. The
first interceptor in the list is the outermost.

On a server they run around each handler, after the params are validated
(``call.params`` holds the handler's keyword arguments, ``call.context`` the
:class:`~wsrpc_typed.Context`); on a client they run around each outgoing call
(``call.params`` holds the params as given).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .errors import RpcError

if TYPE_CHECKING:
    from .context import Context

__all__ = ["Call", "Interceptor", "LoggingInterceptor", "intercept"]


@dataclass(slots=True)
class Call:
    """One call, as interceptors see it.

    Attributes:
        method: The method name.
        params: Validated keyword arguments (server) or the params as sent (client).
        side: ``"server"`` (around a handler) or ``"client"`` (around an outgoing call).
        context: The handler's context (server side only).
        request_id: The request id (``None`` for notifications; client side: ``None``).
    """

    method: str
    params: Any
    side: Literal["server", "client"]
    context: Context | None = None
    request_id: Any = None


Proceed = Callable[[], Awaitable[Any]]
Interceptor = Callable[[Call, Proceed], Awaitable[Any]]


def intercept(interceptors: Sequence[Interceptor], call: Call, final: Proceed) -> Awaitable[Any]:
    """Run ``final`` inside ``interceptors`` (the first is the outermost)."""

    def step(index: int) -> Awaitable[Any]:
        if index == len(interceptors):
            return final()
        return interceptors[index](call, lambda: step(index + 1))

    return step(0)


class LoggingInterceptor:
    """Logs one line per call: side, method, outcome and duration (params only if asked).

    Outcomes: ``ok``, ``error <code>`` (an RpcError), ``cancelled``, or
    ``exception <type>`` (an unexpected failure, whose traceback the server logs
    separately).

    Args:
        logger: Where to log (default: the ``wsrpc_typed.calls`` logger).
        level: The level of ``ok`` lines; failures log at WARNING.
        log_params: Include the params (off by default: they may hold secrets).
    """

    def __init__(
        self,
        logger: logging.Logger | None = None,
        level: int = logging.INFO,
        *,
        log_params: bool = False,
    ) -> None:
        self.logger = logger or logging.getLogger("wsrpc_typed.calls")
        self.level = level
        self.log_params = log_params

    async def __call__(self, call: Call, proceed: Proceed) -> Any:
        started = time.perf_counter()
        outcome, level = "ok", self.level
        try:
            return await proceed()
        except RpcError as exc:
            outcome, level = f"error {exc.code}", logging.WARNING
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception as exc:
            outcome, level = f"exception {type(exc).__name__}", logging.WARNING
            raise
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            if self.log_params:
                self.logger.log(
                    level,
                    "%s %s %s %.1fms params=%r",
                    call.side,
                    call.method,
                    outcome,
                    elapsed_ms,
                    call.params,
                )
            else:
                self.logger.log(
                    level, "%s %s %s %.1fms", call.side, call.method, outcome, elapsed_ms
                )
