"""``wsrpc``: serve a router, or call a method, from the command line."""

from __future__ import annotations

import asyncio
import importlib
import json
import signal
import sys
from typing import Annotated, Any, NoReturn

import typer
from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException

from .client import connect
from .errors import RpcError, WsrpcError
from .registry import Router
from .server import Server

__all__ = ["app", "load_router", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def load_router(target: str) -> Router:
    """Import ``pkg.module:attr`` and return the :class:`Router` it names.

    Raises:
        typer.BadParameter: the target is malformed, missing, or not a Router.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise typer.BadParameter(f"expected MODULE:ATTRIBUTE, got {target!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise typer.BadParameter(f"cannot import {module_name!r}: {exc}") from exc
    router = getattr(module, attr, None)
    if not isinstance(router, Router):
        raise typer.BadParameter(f"{target!r} is not a wsrpc_typed.Router")
    return router


@app.command()
def serve(
    target: Annotated[str, typer.Argument(help="The router to serve, as pkg.module:attribute.")],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind; 0 picks a free one.")] = 8765,
    dialect: Annotated[
        str, typer.Option(help="Dialect for clients that offer no subprotocol, or 'auto'.")
    ] = "auto",
) -> None:
    """Serve a router until SIGINT or SIGTERM, then shut down gracefully."""
    router = load_router(target)

    async def run() -> None:
        # Handlers go in before the URL is printed: whoever reads it may signal at once,
        # and that must still drain and exit 0, not die by the default handler.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        server = Server(router, host=host, port=port, default_dialect=dialect)
        await server.open()
        print(f"wsrpc-typed serving {target} on {server.url}", flush=True)
        await stop.wait()
        print("shutting down", file=sys.stderr, flush=True)
        await server.close()

    try:
        asyncio.run(run())
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def call(
    url: Annotated[str, typer.Argument(help="Server URL, ws://HOST:PORT.")],
    method: Annotated[str, typer.Argument(help="Method name.")],
    params: Annotated[
        str | None, typer.Argument(help="Params as JSON: an object (by name) or an array.")
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the connection, then for the reply.")
    ] = 30.0,
) -> None:
    """Call a method and print its result as JSON.

    Exits 0 on success; 1 if the call fails (an error reply, printed as JSON, or a
    one-line connection error); 2 on a usage error such as params that are not JSON.
    """
    try:
        parsed: Any = json.loads(params) if params is not None else None
    except json.JSONDecodeError as exc:
        _usage_error(f"PARAMS is not valid JSON ({exc})")
    if parsed is not None and not isinstance(parsed, list | dict):
        _usage_error("PARAMS must be a JSON object or array")

    async def run() -> Any:
        client = connect(url, timeout=timeout, open_timeout=timeout)
        try:
            await client.open()
        except InvalidURI as exc:
            _fail(f"invalid URL {url!r}", exc.msg)
        except ValueError as exc:  # urllib's own complaints: a port out of range, a bad IPv6
            _fail(f"invalid URL {url!r}", exc)
        except (InvalidHandshake, OSError) as exc:  # OSError: refused, DNS, TLS, timeout
            _fail(f"cannot connect to {url}", exc)
        async with client:
            return await client.call(method, parsed)

    try:
        result = asyncio.run(run())
    except RpcError as exc:
        error = {"code": exc.code, "message": exc.message}
        if exc.data is not None:
            error["data"] = exc.data
        typer.echo(json.dumps({"error": error}, ensure_ascii=False), err=True)
        raise typer.Exit(1) from None
    except (WsrpcError, WebSocketException, OSError) as exc:
        _fail(f"calling {method} failed", exc)
    typer.echo(json.dumps(result, ensure_ascii=False))


def _usage_error(message: str) -> NoReturn:
    # One plain line rather than typer's boxed BadParameter, which wraps long messages;
    # the exit code stays click's 2 for usage errors.
    typer.echo(
        f"error: {message}; pass an object like '{{\"n\": 20}}' or an array like '[7]'", err=True
    )
    raise typer.Exit(2)


def _fail(what: str, why: object) -> NoReturn:
    # Expected failures are one line on stderr: a traceback would bury the reason.
    reason = " ".join(str(why).split()) or type(why).__name__
    typer.echo(f"error: {what}: {reason}", err=True)
    raise typer.Exit(1)


def main() -> None:
    """Entry point of the ``wsrpc`` command."""
    app()


if __name__ == "__main__":
    main()
