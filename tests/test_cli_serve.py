"""``wsrpc serve`` options over real sockets: origins, authenticate, interceptors, TLS,
logging, reload, environment variables, and one-line start-up errors."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Protocol

import pytest
import trustme

import wsrpc_typed
from tests.conftest import UNIT
from tests.helpers.cli_app import TOKEN
from tests.helpers.processes import ROOT, ignore_sigint
from wsrpc_typed import HandshakeRejected, Server, connect
from wsrpc_typed import cli as cli_module
from wsrpc_typed.transport import TransportName

WSRPC = [sys.executable, "-m", "wsrpc_typed.cli"]
APP = "tests.helpers.cli_app:router"


class Serving:
    """A ``wsrpc serve`` process: its URL, and its stderr once it has stopped."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc, self.url = proc, url

    async def stop(self) -> str:
        """SIGINT, wait for a clean exit, and return what it logged."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(self.proc.communicate(), UNIT * 2)
        assert self.proc.returncode == 0, err.decode()
        return err.decode()


class StartServe(Protocol):
    def __call__(
        self,
        *args: str,
        cwd: Path = ROOT,
        env: dict[str, str] | None = None,
        sigint_ignored: bool = False,
    ) -> Awaitable[Serving]: ...


@pytest.fixture
async def serve() -> AsyncIterator[StartServe]:
    started: list[asyncio.subprocess.Process] = []

    async def start(
        *args: str,
        cwd: Path = ROOT,
        env: dict[str, str] | None = None,
        sigint_ignored: bool = False,
    ) -> Serving:
        proc = await asyncio.create_subprocess_exec(
            *WSRPC,
            "serve",
            *args,
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its children too can be stopped at once if a test fails
            preexec_fn=ignore_sigint if sigint_ignored else None,
        )
        started.append(proc)
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), UNIT * 2)).decode()
        assert proc.stderr is not None
        assert "://127.0.0.1:" in line, line + (await proc.stderr.read()).decode()
        return Serving(proc, line.rsplit(" ", 1)[1].strip())

    yield start
    for proc in started:
        # The whole session: a reloader's server would hold the pipes open, and wait() on.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def run(*args: str, cwd: Path = ROOT) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *WSRPC, *args, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), UNIT * 2)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_line_error(err: str, *fragments: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


def test_serve_options_have_the_names_and_defaults_of_server() -> None:
    server = inspect.signature(Server.__init__).parameters
    renamed = {"dialect": "default_dialect", "origin": "origins", "allowed_host": "allowed_hosts"}
    renamed |= {"interceptor": "interceptors", "certfile": "ssl", "keyfile": "ssl"}
    renamed |= {"fd": "sock", "backplane": "backplane", "backplane_ttl": "backplane"}
    cli_only = {"target", "log_level", "access_log", "reload", "authenticate", "workers", "loop"}
    for name, param in inspect.signature(cli_module.serve).parameters.items():
        if name in cli_only:
            continue
        option = renamed.get(name, name)
        assert option in server, name
        if name in renamed:
            continue
        default = param.default.value if hasattr(param.default, "value") else param.default
        expected = server[option].default
        # ``0`` on the command line stands for ``None`` (no limit, no timer).
        assert default == (0 if expected is None else expected), name


async def test_origin_from_the_command_line_admits_that_browser_page(serve: StartServe) -> None:
    served = await serve(
        "examples.primes.service:router", "--port", "0", "--origin", "http://localhost:5173"
    )
    async with connect(served.url, headers={"Origin": "http://localhost:5173"}) as conn:
        assert await conn.call("isPrime", {"n": 7}) is True
    async with connect(served.url) as conn:  # no Origin: not a browser, admitted
        assert await conn.call("isPrime", {"n": 4}) is False
    with pytest.raises(HandshakeRejected) as refused:
        await connect(served.url, headers={"Origin": "http://evil.example"}).open()
    assert refused.value.status == 403
    await served.stop()


async def test_origin_from_the_environment(serve: StartServe) -> None:
    served = await serve(
        "examples.primes.service:router",
        "--port",
        "0",
        env={"WSRPC_ORIGIN": "http://a.test http://b.test"},
    )
    for origin in ("http://a.test", "http://b.test"):
        async with connect(served.url, headers={"Origin": origin}) as conn:
            assert await conn.call("isPrime", {"n": 7}) is True
    with pytest.raises(HandshakeRejected):
        await connect(served.url, headers={"Origin": "http://c.test"}).open()
    await served.stop()


async def test_authenticate_and_interceptor_from_the_command_line(serve: StartServe) -> None:
    served = await serve(
        APP,
        *("--port", "0", "--authenticate", "tests.helpers.cli_app:authenticate"),
        *("--interceptor", "tests.helpers.cli_app:refuse_blocked"),
    )
    with pytest.raises(HandshakeRejected) as refused:
        await connect(served.url).open()
    assert (refused.value.status, refused.value.body.strip()) == (401, "a valid token is required")
    async with connect(served.url, headers={"Authorization": f"Bearer {TOKEN}"}) as conn:
        assert await conn.call("echo", {"text": "hi"}) == "hi"
        with pytest.raises(Exception, match="blocked by the interceptor") as blocked:
            await conn.call("blocked")
        assert getattr(blocked.value, "code", None) == 4030
    await served.stop()


async def test_wss_with_a_certificate_from_the_command_line(
    serve: StartServe, tmp_path: Path
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    served = await serve(
        "examples.primes.service:router",
        *("--port", "0", "--certfile", str(tmp_path / "cert.pem")),
        *("--keyfile", str(tmp_path / "key.pem")),
    )
    assert served.url.startswith("wss://127.0.0.1:")
    client_ssl = ssl.create_default_context()
    ca.configure_trust(client_ssl)
    async with connect(served.url, ssl=client_ssl) as conn:
        assert await conn.call("isPrime", {"n": 13}) is True
    await served.stop()


@pytest.mark.parametrize(
    ("transport", "loop", "running"),
    [
        ("picows", "uvloop", "uvloop"),
        ("picows", "asyncio", "asyncio"),
        ("websockets", "auto", "uvloop"),  # uvloop is installed with the dev extra
    ],
)
async def test_transport_and_event_loop_from_the_command_line(
    serve: StartServe, transport: str, loop: str, running: str
) -> None:
    served = await serve(APP, "--port", "0", "--transport", transport, "--loop", loop)
    clients: tuple[TransportName, ...] = ("websockets", "picows")
    for client_transport in clients:
        async with connect(served.url, transport=client_transport) as conn:
            assert await conn.call("echo", {"text": "fast"}) == "fast"
    err = await served.stop()
    assert f"transport {transport}, event loop {running}" in err
    assert "picows.server" not in err  # its own connection lines are quieted


async def test_access_log_and_handler_log_lines_name_the_connection_and_request(
    serve: StartServe,
) -> None:
    served = await serve(APP, "--port", "0", "--access-log")
    async with connect(served.url) as conn:
        assert await conn.call("echo", {"text": "hello"}) == "hello"
        with pytest.raises(Exception, match="Invalid params"):
            await conn.call("echo", {})
    err = await served.stop()
    lines = err.splitlines()
    opened = next(line for line in lines if " open from 127.0.0.1:" in line)
    conn_id = opened.split("connection ", 1)[1].split(" ", 1)[0]
    handler_line = next(line for line in lines if "cli_app" in line and "echo hello" in line)
    assert f"[{conn_id} 1]" in handler_line
    access = [line for line in lines if "wsrpc_typed.calls" in line]
    assert any(f"[{conn_id} 1] server echo ok" in line for line in access), access
    assert any(line for line in lines if f"connection {conn_id} closed" in line)
    assert "websockets.server" not in err  # its own open/close lines are quieted


async def test_without_access_log_no_call_lines_but_handler_lines_appear(serve: StartServe) -> None:
    served = await serve(APP, "--port", "0", "--log-level", "info")
    async with connect(served.url) as conn:
        await conn.call("echo", {"text": "quiet"})
    err = await served.stop()
    assert "wsrpc_typed.calls" not in err
    assert "echo quiet" in err


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["default", "sigint-ignored"])
async def test_reload_restarts_the_server_after_a_file_change(
    serve: StartServe, tmp_path: Path, sigint_ignored: bool
) -> None:
    """And stops on SIGINT, even started with it ignored (a background job of a script)."""
    module = tmp_path / "reloaded_app.py"
    source = (
        "from wsrpc_typed import Router\nrouter = Router()\n\n"
        "@router.method\nasync def version() -> int:\n    return {n}\n"
    )
    module.write_text(source.format(n=1))
    served = await serve(
        "reloaded_app:router",
        "--port",
        "0",
        "--reload",
        cwd=tmp_path,
        sigint_ignored=sigint_ignored,
    )
    async with connect(served.url) as conn:
        assert await conn.call("version") == 1
    module.write_text(source.format(n=2))
    assert served.proc.stdout is not None
    line = (await asyncio.wait_for(served.proc.stdout.readline(), UNIT * 3)).decode()
    url = line.rsplit(" ", 1)[1].strip()
    async with connect(url) as conn:
        assert await conn.call("version") == 2
    err = await served.stop()
    assert "reloading: reloaded_app.py changed" in err


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--dialect", "bogus"], ["'bogus' is not one of", "'auto'", "wsrpc serve --help"]),
        (["--bogus"], ["No such option: --bogus"]),
        (["--authenticate", "no.such.module:hook"], ["cannot import 'no.such.module'"]),
        (["--authenticate", "tests.helpers.cli_app:TOKEN"], ["not callable"]),
        (["--interceptor", "tests.helpers.cli_app:missing"], ["has no 'missing'"]),
        (["--keyfile", "key.pem"], ["--keyfile needs --certfile"]),
        (["--reload", "--workers", "2"], ["--reload runs one process"]),
        (["--workers", "0"], ["--workers", "greater than or equal to 1"]),
        (["--backplane", "http://127.0.0.1:1"], ["--backplane", "redis://"]),
    ],
)
async def test_usage_errors_are_one_line_and_exit_2(args: list[str], fragments: list[str]) -> None:
    code, out, err = await run("serve", APP, "--port", "0", *args)
    assert (code, out) == (2, "")
    one_line_error(err, *fragments)


async def test_a_backplane_that_cannot_be_reached_is_one_line_and_exit_1() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    code, out, err = await run("serve", APP, "--port", "0", "--backplane", url)
    assert (code, out) == (1, "")
    one_line_error(err, "cannot reach the backplane", url)


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("nocolon", "pkg.module:attribute"),
        ("no.such.module:router", "cannot import 'no.such.module'"),
        ("examples.primes.service:missing", "has no 'missing'"),
        ("tests.helpers.cli_app:TOKEN", "is a str, not a wsrpc_typed.Router"),
        ("misdeclared:router", "parameter 'b': no type annotation"),
    ],
)
async def test_a_bad_router_is_one_line_and_exit_2(
    target: str, fragment: str, tmp_path: Path
) -> None:
    (tmp_path / "misdeclared.py").write_text(
        "from wsrpc_typed import Router\nrouter = Router()\n\n"
        "@router.method\nasync def add(a: int, b):\n    return a\n"
    )
    env_path = f"{tmp_path}{os.pathsep}{ROOT}"
    proc = await asyncio.create_subprocess_exec(
        *WSRPC,
        *("serve", target, "--port", "0"),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": env_path},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), UNIT * 2)
    assert (proc.returncode, out) == (2, b"")
    one_line_error(err.decode(), fragment)


async def test_debug_shows_the_traceback() -> None:
    code, _, err = await run("--debug", "serve", "no.such.module:router", "--port", "0")
    assert code != 0 and "Traceback" in err and "SourceError" in err


async def test_version() -> None:
    code, out, _ = await run("--version")
    assert (code, out.strip()) == (0, f"wsrpc-typed {wsrpc_typed.__version__}")
