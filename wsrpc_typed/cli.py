"""wsrpc: serve a router; call, list and describe a server's methods.

Every option of "wsrpc serve" can also come from an environment variable named
WSRPC_ and the option in capitals (WSRPC_PORT=9000, WSRPC_ORIGIN="a b").
Usage and start-up errors print one line and exit 2 (usage) or 1 (runtime);
"wsrpc --debug ..." shows the traceback instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import shlex
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, NotRequired

import typer

from . import __version__
from .client import Client, connect
from .connection import Connection
from .dialects.detect import SUBPROTOCOLS
from .errors import (
    BackplaneUnavailable,
    ConnectionClosed,
    HandshakeFailed,
    HandshakeRejected,
    InvalidParams,
    RpcError,
    SourceError,
    WsrpcError,
)
from .interceptors import Interceptor, LoggingInterceptor
from .logs import configure_logging
from .registry import Router, params_adapter, validate_params
from .server import Server
from .stubs import RemoteMethod

__all__ = [
    "DebugOpt",
    "HeaderOpt",
    "TokenOpt",
    "VersionOpt",
    "app",
    "load_object",
    "load_router",
    "main",
    "request_headers",
    "run_app",
    "set_debug",
]

#: ``-H/--header`` and ``--token`` of every command that opens a connection.
HeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--header", "-H", metavar="HEADER", help="A handshake header, 'Name: value' (repeatable)."
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(help="Sent as 'Authorization: Bearer TOKEN'.", envvar="WSRPC_TOKEN"),
]

app = typer.Typer(
    no_args_is_help=True,
    help=__doc__,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
logger = logging.getLogger("wsrpc_typed.cli")


def _click_class(name: str) -> type[Exception]:
    """A click exception class, wherever typer takes click from (newer typers vendor it)."""
    found: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)
    return found


_UsageError = _click_class("UsageError")
_ClickException = _click_class("ClickException")

#: Set by ``--debug``: let unexpected exceptions out with their traceback.
_debug = False

DialectChoice = StrEnum("DialectChoice", {name: name for name in ("auto", *SUBPROTOCOLS)})  # type: ignore[misc]
SubprotocolChoice = StrEnum("SubprotocolChoice", {name: name for name in SUBPROTOCOLS})  # type: ignore[misc]
_AUTO = DialectChoice("auto")
_JSONRPC = SubprotocolChoice(SUBPROTOCOLS[0])


class TransportChoice(StrEnum):
    """The ``--transport`` choices: the library that runs the sockets."""

    websockets = "websockets"
    picows = "picows"


class LoopChoice(StrEnum):
    """The ``--loop`` choices: ``auto`` is uvloop when it is installed, else asyncio's."""

    auto = "auto"
    asyncio = "asyncio"
    uvloop = "uvloop"


def loop_factory(choice: LoopChoice) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop factory for ``asyncio.Runner`` (``None``: asyncio's default loop).

    Raises:
        ModuleNotFoundError: ``uvloop`` was asked for and is not installed.
    """
    if choice is LoopChoice.asyncio:
        return None
    try:
        import uvloop
    except ModuleNotFoundError:
        if choice is LoopChoice.uvloop:
            raise
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


class LogLevel(StrEnum):
    """The ``--log-level`` choices."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


# -- loading the user's objects ---------------------------------------------------------


def load_object(target: str, what: str = "object") -> Any:
    """Import ``pkg.module:attribute`` (dots allowed after the colon) and return it.

    Raises:
        SourceError: the target is malformed, cannot be imported, or lacks the attribute.
    """
    module_name, sep, path = target.partition(":")
    if not sep or not module_name or not path:
        raise SourceError(f"{what} must be given as pkg.module:attribute, got {target!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the current directory, as ``python -m`` has it
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise SourceError(f"cannot import {module_name!r} for {what} {target!r}: {exc}") from exc
    for name in path.split("."):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            raise SourceError(f"{module_name!r} has no {path!r} (for {what} {target!r})") from None
    return obj


def load_router(target: str) -> Router:
    """Import ``pkg.module:attr`` and return the :class:`Router` it names.

    Raises:
        SourceError: the target is malformed or missing, or is not a Router.
        RegistrationError: a handler in the module is declared wrongly.
    """
    router = load_object(target, "the router")
    if not isinstance(router, Router):
        raise SourceError(f"{target!r} is a {type(router).__name__}, not a wsrpc_typed.Router")
    return router


def _load_callable(target: str, what: str) -> Callable[..., Any]:
    obj = load_object(target, what)
    if not callable(obj):
        raise SourceError(f"{what} {target!r} is a {type(obj).__name__}, not callable")
    return obj  # type: ignore[no-any-return]


def _off(value: float | None) -> float | None:
    """``0`` on the command line turns a limit or a timer off (``None`` for Server)."""
    return value if value else None


def _ssl_context(certfile: Path | None, keyfile: Path | None) -> ssl.SSLContext | None:
    if certfile is None:
        if keyfile is not None:
            _usage("--keyfile needs --certfile")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        _fail(f"cannot load the certificate {str(certfile)!r}", exc)
    return context


# -- commands -----------------------------------------------------------------------------


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"wsrpc-typed {__version__}")
        raise typer.Exit()


#: ``--version`` and ``--debug``, the global options of ``wsrpc`` and ``wsrpc-gen``.
VersionOpt = Annotated[
    bool,
    typer.Option(
        "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
]
DebugOpt = Annotated[
    bool, typer.Option("--debug", help="Show tracebacks of errors instead of one line.")
]


def set_debug(debug: bool) -> None:
    """Let :func:`run_app` show tracebacks instead of one-line errors."""
    global _debug
    _debug = debug


@app.callback()
def _options(version: VersionOpt = False, debug: DebugOpt = False) -> None:
    set_debug(debug)


def _env(name: str) -> str:
    return "WSRPC_" + name.upper().replace("-", "_")


@app.command()
def serve(
    target: Annotated[str, typer.Argument(help="The router to serve, as pkg.module:attribute.")],
    host: Annotated[str, typer.Option(help="Interface to bind.", envvar=_env("host"))] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int, typer.Option(help="Port to bind; 0 picks a free one.", envvar=_env("port"))
    ] = 8765,
    dialect: Annotated[
        DialectChoice,
        typer.Option(
            help="Dialect for clients that offer no subprotocol; auto detects it.",
            envvar=_env("dialect"),
        ),
    ] = _AUTO,
    origin: Annotated[
        list[str] | None,
        typer.Option(
            help="A browser Origin to admit (repeatable), such as http://localhost:5173; "
            "'*' admits any. Clients that send no Origin are always admitted. Default: "
            "same-origin pages only.",
            envvar=_env("origin"),
            metavar="ORIGIN",
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="A Host header to admit (repeatable). Default: loopback names when bound "
            "to loopback, else any.",
            envvar=_env("allowed-host"),
            metavar="HOST",
        ),
    ] = None,
    authenticate: Annotated[
        str | None,
        typer.Option(
            help="The authenticate hook, as pkg.module:function.",
            envvar=_env("authenticate"),
            metavar="MODULE:FUNCTION",
        ),
    ] = None,
    interceptor: Annotated[
        list[str] | None,
        typer.Option(
            help="An interceptor factory, as pkg.module:callable (repeatable; called with no "
            "arguments, it returns the interceptor). The first is the outermost.",
            envvar=_env("interceptor"),
            metavar="MODULE:CALLABLE",
        ),
    ] = None,
    certfile: Annotated[
        Path | None,
        typer.Option(help="TLS certificate chain (PEM): serve wss://.", envvar=_env("certfile")),
    ] = None,
    keyfile: Annotated[
        Path | None,
        typer.Option(
            help="TLS private key (PEM), if not in the certificate file.", envvar=_env("keyfile")
        ),
    ] = None,
    max_size: Annotated[
        int,
        typer.Option(help="Largest message in bytes; 0: no limit.", envvar=_env("max-size")),
    ] = 2**20,
    max_in_flight: Annotated[
        int,
        typer.Option(help="Calls one connection may run at once.", envvar=_env("max-in-flight")),
    ] = 64,
    max_calls: Annotated[
        int,
        typer.Option(help="Calls the server runs at once; 0: no limit.", envvar=_env("max-calls")),
    ] = 1024,
    max_batch: Annotated[
        int, typer.Option(help="Most calls in one JSON-RPC batch.", envvar=_env("max-batch"))
    ] = 100,
    max_reply_size: Annotated[
        int,
        typer.Option(help="Largest reply in bytes; 0: no limit.", envvar=_env("max-reply-size")),
    ] = 4 * 2**20,
    timeout: Annotated[
        float,
        typer.Option(
            help="Seconds the server's own calls to clients wait; 0: forever.",
            envvar=_env("timeout"),
        ),
    ] = 30.0,
    send_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a send may wait on a client that does not read before it is "
            "dropped; 0: forever.",
            envvar=_env("send-timeout"),
        ),
    ] = 10.0,
    ping_interval: Annotated[
        float,
        typer.Option(help="Seconds between pings; 0: no pings.", envvar=_env("ping-interval")),
    ] = 20.0,
    ping_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a pong may take before the client is dropped; 0: forever.",
            envvar=_env("ping-timeout"),
        ),
    ] = 20.0,
    drain_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds calls in flight may take to finish at shutdown.",
            envvar=_env("drain-timeout"),
        ),
    ] = 10.0,
    log_level: Annotated[
        LogLevel, typer.Option(help="Least severe log level shown.", envvar=_env("log-level"))
    ] = LogLevel.info,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log one line per call: side, method, outcome, duration.",
            envvar=_env("access-log"),
        ),
    ] = False,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload/--no-reload",
            help="Restart when a .py file under the current directory changes (development).",
            envvar=_env("reload"),
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes on the one port (SO_REUSEPORT where the OS has it, else "
            "one shared socket). SIGTERM drains them all; one that dies is replaced.",
            envvar=_env("workers"),
        ),
    ] = 1,
    backplane: Annotated[
        str | None,
        typer.Option(
            help="Link the workers (and other machines) through Redis, redis://HOST:PORT/DB, "
            "for publish, calls by connection id and presence (pip install "
            "'wsrpc-typed[redis]').",
            envvar=_env("backplane"),
            metavar="URL",
        ),
    ] = None,
    backplane_ttl: Annotated[
        float,
        typer.Option(
            help="Seconds after which a silent worker drops out of presence (heartbeats "
            "every third of it).",
            envvar=_env("backplane-ttl"),
        ),
    ] = 6.0,
    reuse_port: Annotated[
        bool,
        typer.Option(
            "--reuse-port/--no-reuse-port",
            help="Bind with SO_REUSEPORT, sharing the port with other processes that do.",
            envvar=_env("reuse-port"),
        ),
    ] = False,
    fd: Annotated[
        int | None,
        typer.Option(
            help="Serve on this inherited listening socket instead of binding HOST:PORT.",
            metavar="FD",
        ),
    ] = None,
    transport: Annotated[
        TransportChoice,
        typer.Option(
            help="The library that runs the sockets; picows is the faster one "
            '(pip install "wsrpc-typed[fast]").',
            envvar=_env("transport"),
        ),
    ] = TransportChoice.websockets,
    loop: Annotated[
        LoopChoice,
        typer.Option(
            help="The event loop; auto: uvloop when it is installed, else asyncio's.",
            envvar=_env("loop"),
        ),
    ] = LoopChoice.auto,
) -> None:
    """Serve a router until SIGINT or SIGTERM, then shut down gracefully.

    Prints "wsrpc-typed serving TARGET on ws://HOST:PORT" once it accepts connections,
    and logs the transport and the event loop it runs on.
    """
    configure_logging(log_level.value.upper())
    if reload:
        if workers > 1:
            _usage("--reload runs one process: leave out --workers")
        _serve_reloading()
        return
    if workers > 1:
        _serve_workers(target, workers, host, port)
        return
    router = _load(load_router, target)
    interceptors: list[Interceptor] = [LoggingInterceptor()] if access_log else []
    for factory in interceptor or ():
        interceptors.append(_load(_load_callable, factory, "the interceptor")())
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "default_dialect": dialect.value,
        "origins": ("*" if "*" in origin else [*origin, None]) if origin else None,
        "allowed_hosts": allowed_host or None,
        "authenticate": (
            _load(_load_callable, authenticate, "the authenticate hook") if authenticate else None
        ),
        "interceptors": interceptors,
        "ssl": _ssl_context(certfile, keyfile),
        "max_size": max_size or None,
        "max_in_flight": max_in_flight,
        "max_calls": max_calls or None,
        "max_batch": max_batch,
        "max_reply_size": max_reply_size or None,
        "timeout": _off(timeout),
        "send_timeout": _off(send_timeout),
        "ping_interval": _off(ping_interval),
        "ping_timeout": _off(ping_timeout),
        "drain_timeout": drain_timeout,
        "reuse_port": reuse_port,
        "sock": None if fd is None else socket.socket(fileno=fd),
        "backplane": None if backplane is None else _redis_backplane(backplane, backplane_ttl),
        "transport": transport.value,
    }
    if transport is TransportChoice.picows:
        try:
            import picows  # noqa: F401
        except ModuleNotFoundError:
            _usage('--transport picows needs picows: pip install "wsrpc-typed[fast]"')
    try:
        new_loop = loop_factory(loop)
    except ModuleNotFoundError:
        _usage('--loop uvloop needs uvloop: pip install "wsrpc-typed[fast]"')
    try:
        server = Server(router, **options)
    except ValueError as exc:
        _usage(str(exc))
    if log_level is not LogLevel.debug:  # their open/close lines repeat ours, untagged
        logging.getLogger("websockets").setLevel(logging.WARNING)
        logging.getLogger("picows").setLevel(logging.WARNING)
    server.on("connection", _log_open)
    server.on("close", _log_closed)

    async def run() -> None:
        # Handlers go in before the URL is printed: whoever reads it may signal at once,
        # and that must still drain and exit 0, not die by the default handler.
        stop = asyncio.Event()
        running_loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            running_loop.add_signal_handler(sig, stop.set)
        await server.open()
        running = type(asyncio.get_running_loop()).__module__.partition(".")[0]
        logger.info("transport %s, event loop %s", transport.value, running)
        print(f"wsrpc-typed serving {target} on {server.url}", flush=True)
        await stop.wait()
        logger.info("shutting down: draining calls for up to %s s", drain_timeout)
        await server.close()

    try:
        with asyncio.Runner(loop_factory=new_loop) as runner:
            runner.run(run())
    except BackplaneUnavailable as exc:
        _fail("cannot reach the backplane", exc)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}", exc)


def _redis_backplane(url: str, ttl: float) -> Any:
    try:
        from .adapters.redis import RedisBackplane
    except ImportError:
        _usage("--backplane needs the redis package: pip install 'wsrpc-typed[redis]'")
    try:
        return RedisBackplane(url, heartbeat=ttl / 3, ttl=ttl)
    except ValueError as exc:  # not a Redis URL
        _usage(f"--backplane: {exc}")


def _serve_workers(target: str, count: int, host: str, port: int) -> None:
    """Run ``count`` copies of this ``serve`` command on one port; replace those that die.

    Where the OS has ``SO_REUSEPORT``, this process holds the port (bound, not
    listening) and each worker binds it too, so that the kernel spreads new
    connections over the workers; elsewhere this process listens and the
    workers share its socket. SIGINT or SIGTERM is passed on to every worker,
    which drains; the command returns once all have exited.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    reuse = hasattr(socket, "SO_REUSEPORT")
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((host, port))
        if not reuse:
            holder.listen(1024)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}", exc)
    port = holder.getsockname()[1]
    fds: tuple[int, ...] = ()
    if reuse:
        extra = ["--port", str(port), "--reuse-port"]
    else:
        holder.set_inheritable(True)
        extra, fds = ["--fd", str(holder.fileno())], (holder.fileno(),)
    argv = [sys.executable, "-m", "wsrpc_typed.cli", *sys.argv[1:], "--workers", "1", *extra]
    try:
        code = asyncio.run(_supervise(target, count, argv, fds))
    finally:
        holder.close()
    raise typer.Exit(code)


def _die_with_parent() -> None:
    """In a worker, before it runs: SIGTERM when the supervisor dies, even by SIGKILL (Linux;
    elsewhere a worker of a killed supervisor serves on until stopped)."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


async def _supervise(target: str, count: int, argv: list[str], fds: tuple[int, ...]) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    procs: dict[int, asyncio.subprocess.Process] = {}
    started: dict[int, float] = {}

    async def start(index: int) -> str | None:
        """Start worker ``index``; return the line it prints once it listens (None: it failed)."""
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, pass_fds=fds, preexec_fn=_die_with_parent
        )
        procs[index], started[index] = proc, time.monotonic()
        assert proc.stdout is not None
        line = (await proc.stdout.readline()).decode().strip()
        if not line:
            return None
        logger.info("worker %d (pid %d) serving", index, proc.pid)
        return line

    lines = await asyncio.gather(*(start(i) for i in range(1, count + 1)))
    if None in lines:
        typer.echo("error: a worker did not start; see its message above", err=True)
        stop.set()
    else:
        print(f"{lines[0]} with {count} workers", flush=True)
    stopping = asyncio.ensure_future(stop.wait())
    while not stop.is_set():
        exits = {asyncio.ensure_future(proc.wait()): i for i, proc in procs.items()}
        done, _ = await asyncio.wait([stopping, *exits], return_when=asyncio.FIRST_COMPLETED)
        for waiter in exits:
            waiter.cancel()
        for waiter in done - {stopping}:
            index = exits[waiter]
            if stop.is_set():
                break
            logger.warning(
                "worker %d (pid %d) exited with code %s; starting another",
                index,
                procs[index].pid,
                procs[index].returncode,
            )
            if time.monotonic() - started[index] < 1.0:
                await asyncio.sleep(1.0)  # it died at once: do not spin
            if await start(index) is None:
                logger.error("worker %d did not start again", index)
    logger.info("stopping %d workers", len(procs))
    for proc in procs.values():
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    codes = await asyncio.gather(*(proc.wait() for proc in procs.values()))
    return 1 if None in lines else max(0, *codes)


def _log_open(conn: Connection) -> None:
    logger.info("connection %s open from %s", conn.id, _address(conn.remote_address))


def _log_closed(conn: Connection) -> None:
    logger.info("connection %s closed", conn.id)


def _address(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address)


def _serve_reloading() -> None:
    """Run ``serve`` (without ``--reload``) in a child process; restart it on changes."""
    try:
        import watchfiles
    except ImportError:  # pragma: no cover - watchfiles is a dependency
        _fail("--reload needs watchfiles", 'pip install "wsrpc-typed[reload]"')
    command = [sys.executable, "-m", "wsrpc_typed.cli", *sys.argv[1:], "--no-reload"]

    def restarted(changes: set[tuple[watchfiles.Change, str]]) -> None:
        names = sorted({Path(path).name for _, path in changes})
        logger.info("reloading: %s changed", ", ".join(names))

    logger.info("watching %s for changes", Path.cwd())
    # watchfiles stops on KeyboardInterrupt, which Python raises on SIGINT only when SIGINT
    # was at its default at start-up: a background job of a script starts with it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    watchfiles.run_process(
        Path.cwd(),
        target=shlex.join(command),
        target_type="command",
        watch_filter=watchfiles.PythonFilter(),
        callback=restarted,
        grace_period=0.2,
    )


@app.command()
def call(
    url: Annotated[str, typer.Argument(help="Server URL, ws://HOST:PORT or wss://.")],
    method: Annotated[str, typer.Argument(help="Method name.")],
    params: Annotated[
        str | None, typer.Argument(help="Params as JSON: an object (by name) or an array.")
    ] = None,
    header: HeaderOpt = None,
    token: TokenOpt = None,
    subprotocol: Annotated[
        SubprotocolChoice, typer.Option(help="The dialect to speak.")
    ] = _JSONRPC,
    stream: Annotated[
        bool | None,
        typer.Option(
            "--stream/--no-stream",
            help="Call as a stream (one JSON line per item). Default: as the server's "
            "rpc.discover says.",
        ),
    ] = None,
    validate: Annotated[
        bool,
        typer.Option(
            "--validate/--no-validate",
            help="Check params against the server's schema (rpc.discover) before sending; "
            "invalid params print the -32602 error the server would send.",
        ),
    ] = True,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the connection, then for the reply.")
    ] = 30.0,
) -> None:
    """Call a method and print its result as JSON; a stream prints one line per item.

    Exits 0 on success; 1 if the call fails (an error reply, printed as JSON on
    stderr, or a one-line connection error) or its params are invalid (then it
    is not sent); 2 on a usage error such as params that are not JSON; 130 when a
    stream is interrupted (it is cancelled first).
    """
    parsed = _parse_params(params)
    headers = request_headers(header, token)

    async def run() -> None:
        async with await _open(url, headers, subprotocol.value, timeout) as client:
            described = await _try_discover(client) if validate or stream is None else None
            entry = _method_entry(described, method, peer=False) if described else None
            if validate and described and entry:
                _check_params(described, method, entry, parsed)
            streaming = stream
            if streaming is None:
                streaming = bool(entry and entry.get("x-stream"))
            if streaming:
                async for item in client.stream(method, parsed):
                    typer.echo(json.dumps(item, ensure_ascii=False))
            else:
                typer.echo(json.dumps(await client.call(method, parsed), ensure_ascii=False))

    _run_client(run, method)


@app.command("list")
def list_methods(
    url: Annotated[str, typer.Argument(help="Server URL, ws://HOST:PORT or wss://.")],
    header: HeaderOpt = None,
    token: TokenOpt = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the server.")] = 30.0,
) -> None:
    """List a server's methods, and the methods it calls on clients, with their summaries."""

    async def run() -> None:
        async with await _open(
            url, request_headers(header, token), SUBPROTOCOLS[0], timeout
        ) as client:
            document = await _discover(client)
        typer.echo(_describe_listing(document))

    _run_client(run, "rpc.discover")


@app.command()
def describe(
    url: Annotated[str, typer.Argument(help="Server URL, ws://HOST:PORT or wss://.")],
    method: Annotated[str, typer.Argument(help="Method name (or a peer method's).")],
    header: HeaderOpt = None,
    token: TokenOpt = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the server.")] = 30.0,
) -> None:
    """Describe one method: params, result, errors, scopes, stream items."""

    async def run() -> None:
        async with await _open(
            url, request_headers(header, token), SUBPROTOCOLS[0], timeout
        ) as client:
            document = await _discover(client)
        entry = _method_entry(document, method)
        if entry is None:
            _fail(f"no method {method!r}", f"the server has {_names(document)}")
        typer.echo(_describe_method(document, entry))

    _run_client(run, "rpc.discover")


# -- client plumbing ------------------------------------------------------------------------


def _parse_params(params: str | None) -> Any:
    try:
        parsed: Any = json.loads(params) if params is not None else None
    except json.JSONDecodeError as exc:
        _usage(
            f"PARAMS is not valid JSON ({exc}); pass an object like '{{\"n\": 20}}' "
            "or an array like '[7]'"
        )
    if parsed is not None and not isinstance(parsed, list | dict):
        _usage("PARAMS must be a JSON object like '{\"n\": 20}' or an array like '[7]'")
    return parsed


def request_headers(header: Sequence[str] | None, token: str | None) -> dict[str, str]:
    """The handshake headers of ``-H 'Name: value'`` options and a ``--token``.

    Raises:
        typer.Exit: (code 2, after a one-line error) a header is not ``Name: value``.
    """
    headers: dict[str, str] = {}
    for line in header or ():
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or any(c in line for c in "\r\n"):
            _usage(f"a header must look like 'Name: value', got {line!r}")
        headers[name.strip()] = value.strip()
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def _open(url: str, headers: dict[str, str], subprotocol: str, timeout: float) -> Client:
    client = connect(
        url, headers=headers, subprotocol=subprotocol, timeout=timeout, open_timeout=timeout
    )
    try:
        await client.open()
    except ValueError as exc:  # the URI is malformed, a port out of range, a bad IPv6
        _fail(f"invalid URL {url!r}", exc)
    except HandshakeRejected as exc:  # 401, 403, ...: the body says why
        body = exc.body.strip()
        _fail(f"cannot connect to {url}", f"{exc}: {body}" if body else exc)
    except (HandshakeFailed, OSError) as exc:  # DNS, TLS, timeout, no WebSocket there
        _fail(f"cannot connect to {url}", exc)
    return client


def _run_client(run: Callable[[], Any], method: str) -> None:
    interrupted = False

    async def main() -> None:
        # SIGINT cancels the call (a stream is cancelled on the wire) through a handler of
        # our own: a process started with SIGINT ignored (a script's background job)
        # would never see Python's KeyboardInterrupt.
        task = asyncio.current_task()
        assert task is not None

        def interrupt() -> None:
            nonlocal interrupted
            interrupted = True
            task.cancel()

        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, interrupt)
        await run()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except asyncio.CancelledError:
        if not interrupted:
            raise
        raise typer.Exit(130) from None
    except RpcError as exc:
        _print_error(exc)
        raise typer.Exit(1) from None
    except (WsrpcError, OSError) as exc:
        _fail(f"calling {method} failed", exc)


def _print_error(exc: RpcError) -> None:
    error = {"code": exc.code, "message": exc.message}
    if exc.data is not None:
        error["data"] = exc.data
    typer.echo(json.dumps({"error": error}, ensure_ascii=False), err=True)


async def _discover(client: Client) -> dict[str, Any]:
    """The server's OpenRPC document (its ``rpc.discover``)."""
    document = await _try_discover(client)
    if document is None:
        _fail("the server does not describe itself", "it has no rpc.discover")
    return document


async def _try_discover(client: Client) -> dict[str, Any] | None:
    """The server's OpenRPC document, or ``None`` if it serves none (a seed server)."""
    try:
        document: dict[str, Any] = await client.call("rpc.discover")
    except RpcError as exc:
        if exc.code == -32601:
            return None
        raise
    return document


def _check_params(
    document: dict[str, Any], method: str, entry: dict[str, Any], params: Any
) -> None:
    """Validate ``params`` as the server will, with the types of the generated client.

    Raises:
        InvalidParams: what the server would answer (it is printed, and nothing is sent).
    """
    # The generator turns the schema back into Python types; imported here because
    # only this command needs it.
    from wsrpc_gen.generate import import_client

    try:
        module = import_client(document)
    except WsrpcError as exc:  # a schema the generator cannot reproduce
        typer.echo(f"warning: params not checked ({_one_line(str(exc))})", err=True)
        return
    remote = next(
        value
        for value in vars(module).values()
        if isinstance(value, RemoteMethod) and value.name == method
    )
    optional = {param["name"] for param in entry.get("params", ()) if not param.get("required")}
    fields = {
        name: NotRequired[tp] if name in optional else tp for name, tp in remote.param_types.items()
    }
    try:
        validate_params(method, tuple(fields), params_adapter(method, fields), params)
    except InvalidParams as exc:
        _print_error(exc)
        typer.echo("note: not sent (checked with rpc.discover); --no-validate sends it", err=True)
        raise typer.Exit(1) from None


def _method_entry(
    document: dict[str, Any], name: str, *, peer: bool = True
) -> dict[str, Any] | None:
    peers = document.get("x-peer-methods", ()) if peer else ()
    for entry in (*document.get("methods", ()), *peers):
        if entry.get("name") == name:
            found: dict[str, Any] = entry
            return found
    return None


def _names(document: dict[str, Any]) -> str:
    names = [m["name"] for m in document.get("methods", ())]
    return ", ".join(names) if names else "none"


def _summary(entry: dict[str, Any]) -> str:
    text = entry.get("summary") or entry.get("description") or ""
    return text.strip().split("\n\n")[0].replace("\n", " ").replace("``", "")


def _describe_listing(document: dict[str, Any]) -> str:
    info = document.get("info", {})
    lines = [f"{info.get('title', 'API')} {info.get('version', '')}".rstrip()]
    for heading, key in (
        ("methods", "methods"),
        ("peer methods (the server calls)", "x-peer-methods"),
    ):
        entries = sorted(document.get(key, ()), key=lambda m: m["name"])
        if not entries and key != "methods":
            continue
        lines.append(f"\n{heading}:")
        width = max((len(m["name"]) for m in entries), default=0)
        for entry in entries:
            mark = " (stream)" if entry.get("x-stream") else ""
            lines.append(f"  {entry['name']:<{width}}  {_summary(entry)}{mark}".rstrip())
    return "\n".join(lines)


def _describe_method(document: dict[str, Any], entry: dict[str, Any]) -> str:
    peer = entry in document.get("x-peer-methods", ())
    lines = [
        f"{entry['name']}{'  (a peer method: the server calls it on clients)' if peer else ''}"
    ]
    if description := (entry.get("description") or "").replace("``", "").strip():
        lines.extend("  " + line for line in description.splitlines())
    lines.append("params:")
    params = entry.get("params", [])
    if not params:
        lines.append("  (none)")
    for param in params:
        schema = param.get("schema", {})
        flags = "required" if param.get("required") else f"default {_default(schema)}"
        lines.append(f"  {param['name']}: {_type_of(schema)}  ({flags}{_constraints(schema)})")
    result = entry.get("result", {}).get("schema", {})
    label = "stream of" if entry.get("x-stream") else "result:"
    lines.append(f"{label} {_type_of(result)}")
    if errors := entry.get("errors"):
        lines.append("errors:")
        for error in errors:
            name, resolved = _error(document, error)
            data = f", data {_type_of(resolved['data'])}" if "data" in resolved else ""
            lines.append(f"  {resolved.get('code')} {name}: {resolved.get('message', '')}{data}")
    if scopes := entry.get("x-scopes"):
        lines.append(f"scopes: {', '.join(scopes)}")
    return "\n".join(lines)


def _error(document: dict[str, Any], error: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ref = error.get("$ref", "")
    name = ref.rsplit("/", 1)[-1] if ref else str(error.get("code"))
    resolved: dict[str, Any] = document.get("components", {}).get("errors", {}).get(name, error)
    return name, resolved


def _default(schema: dict[str, Any]) -> str:
    return json.dumps(schema["default"]) if "default" in schema else "none"


_CONSTRAINTS = (
    *("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
    *("minLength", "maxLength", "pattern", "minItems", "maxItems"),
)


def _constraints(schema: dict[str, Any]) -> str:
    shown = [f"{key} {json.dumps(schema[key])}" for key in _CONSTRAINTS if key in schema]
    return "; " + ", ".join(shown) if shown else ""


def _type_of(schema: dict[str, Any]) -> str:
    """A JSON Schema as a short, readable type: ``list[ChatMessage] | null``."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type_of(option) for option in schema[key])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_type_of({**schema, "type": one}) for one in kind)
    if kind == "array":
        if "prefixItems" in schema:
            return f"tuple[{', '.join(_type_of(s) for s in schema['prefixItems'])}]"
        return f"list[{_type_of(schema.get('items', {}))}]"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"dict[string, {_type_of(schema['additionalProperties'])}]"
    if kind is None:
        return "any"
    return str(kind) + (f" ({schema['format']})" if "format" in schema else "")


# -- errors -------------------------------------------------------------------------------


def _load(loader: Callable[..., Any], *args: Any) -> Any:
    """Run a loader of the user's code; its failure is a one-line usage error."""
    try:
        return loader(*args)
    except WsrpcError as exc:  # SourceError, RegistrationError
        if _debug:
            raise
        _usage(str(exc))


def _usage(message: str) -> NoReturn:
    typer.echo(f"error: {_one_line(message)}", err=True)
    raise typer.Exit(2)


def _fail(what: str, why: object) -> NoReturn:
    # Expected failures are one line on stderr: a traceback would bury the reason.
    reason = _one_line(str(why)) or type(why).__name__
    typer.echo(f"error: {what}: {reason}", err=True)
    raise typer.Exit(1)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main() -> None:
    """Entry point of the ``wsrpc`` command."""
    run_app(app, "wsrpc")


def run_app(typer_app: typer.Typer, prog_name: str) -> NoReturn:
    """Run a command line app; usage errors and failures become one ``error:`` line
    on stderr (exit 2 and 1), with the traceback only under ``--debug``."""
    try:
        code = typer_app(prog_name=prog_name, standalone_mode=False)
    except _UsageError as exc:
        clicked: Any = exc
        command = clicked.ctx.command_path if clicked.ctx is not None else prog_name
        typer.echo(
            f"error: {_one_line(clicked.format_message())} (see '{command} --help')", err=True
        )
        code = 2
    except _ClickException as exc:
        clicked = exc
        typer.echo(f"error: {_one_line(clicked.format_message())}", err=True)
        code = clicked.exit_code
    except typer.Abort:
        code = 130
    except ConnectionClosed as exc:
        if _debug:
            raise
        typer.echo(f"error: the connection closed: {_one_line(str(exc))}", err=True)
        code = 1
    except Exception as exc:
        if _debug:
            raise
        with contextlib.suppress(Exception):
            logger.debug("unexpected error", exc_info=exc)
        reason = _one_line(str(exc)) or "no detail"
        typer.echo(
            f"error: unexpected {type(exc).__name__}: {reason} (run '{prog_name} --debug ...' for "
            "the traceback)",
            err=True,
        )
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
