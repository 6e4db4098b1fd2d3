"""Probes shared by the limits, deadline, lifecycle, endurance and load cases.

Process facts come from ``/proc`` (Linux), so no extra dependency is needed:
resident memory (``VmRSS``), open file descriptors and the tasks of the running
loop. :class:`LogWatch` records what the libraries log during a case, so a case
can assert a clean log: no "Task exception was never retrieved", no "Task was
destroyed but it is pending", no unexpected traceback. :class:`StalledPeer` is
a client that stopped reading; :func:`serving` runs ``wsrpc serve`` in a
subprocess.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from tests.conftest import UNIT

__all__ = [
    "LogWatch",
    "Served",
    "StalledPeer",
    "open_fds",
    "percentile",
    "rss",
    "serving",
    "task_count",
]

ROOT = Path(__file__).resolve().parents[2]

#: What asyncio and the libraries log when a task or a handler went wrong unseen.
_ALARMS = re.compile(
    r"Task exception was never retrieved|Task was destroyed but it is pending|"
    r"never awaited|Traceback|connection handler failed|unexpected internal error"
)


def rss(pid: int | None = None) -> int:
    """Resident memory of a process (default: this one) in bytes, from ``VmRSS``."""
    with open(f"/proc/{pid or 'self'}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS line in /proc/*/status")  # pragma: no cover - not Linux


def open_fds(pid: int | None = None) -> int:
    """Open file descriptors of a process (default: this one)."""
    return len(os.listdir(f"/proc/{pid or 'self'}/fd"))


def task_count() -> int:
    """Tasks of the running event loop that are not done."""
    return len(asyncio.all_tasks())


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``samples``, nearest-rank method."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class LogWatch(logging.Handler):
    """Record log records of every logger while a case runs.

    ``with LogWatch() as log: ...`` then ``log.assert_clean(...)``. Records at
    ``level`` and above are kept; :meth:`count` counts messages of any level
    without keeping them, so counting thousands costs no memory. The loggers
    named in ``count_from`` are lowered to DEBUG for the duration and stop
    propagating: their records come here only (not to pytest's capture, which
    would keep every one).
    """

    def __init__(self, level: int = logging.WARNING, count_from: Iterable[str] = ()) -> None:
        super().__init__(logging.DEBUG)
        self.keep_level = level
        self.records: list[logging.LogRecord] = []
        self.counts: dict[str, int] = {}
        self._count_from = tuple(count_from)
        self._saved: dict[str, tuple[int, bool]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        template = str(record.msg)
        self.counts[template] = self.counts.get(template, 0) + 1
        if record.levelno >= self.keep_level:
            self.records.append(record)

    def count(self, fragment: str) -> int:
        """How many records had a message template containing ``fragment``."""
        return sum(n for template, n in self.counts.items() if fragment in template)

    def __enter__(self) -> LogWatch:
        gc.collect()  # what earlier code dropped is reported now, not during the watch
        root = logging.getLogger()
        root.addHandler(self)
        for name in self._count_from:
            logger = logging.getLogger(name)
            self._saved[name] = (logger.level, logger.propagate)
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
            logger.addHandler(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        gc.collect()  # tasks dropped while pending are reported when collected
        logging.getLogger().removeHandler(self)
        for name, (level, propagate) in self._saved.items():
            logger = logging.getLogger(name)
            logger.removeHandler(self)
            logger.setLevel(level)
            logger.propagate = propagate

    def assert_clean(self, allowed: Sequence[str] = ()) -> None:
        """Fail on any kept record that is an error, carries a traceback or is not allowed.

        Runs the garbage collector first, so tasks that were dropped while
        pending or failed unseen get logged by asyncio before the check.

        Args:
            allowed: Fragments of warning messages the case expects (for example
                the server saying it dropped a client that stopped reading).
        """
        gc.collect()
        bad = []
        for record in self.records:
            message = record.getMessage()
            expected = record.levelno < logging.ERROR and any(a in message for a in allowed)
            if record.exc_info or _ALARMS.search(message) or not expected:
                bad.append(f"{record.name} {record.levelname}: {message}")
        assert not bad, "unexpected log records:\n" + "\n".join(bad[:20])


class StalledPeer:
    """A WebSocket client that reads the handshake response, then never reads again.

    It sends through a plain non-blocking socket (frames built by websockets'
    sans-I/O client), so nothing drains its receive buffer behind the test's back.
    """

    def __init__(self, url: str) -> None:
        self._uri = parse_uri(url)
        self.protocol = ClientProtocol(self._uri, subprotocols=[Subprotocol("jsonrpc-2.0")])
        self.sock = socket.socket()
        self.sock.setblocking(False)

    async def open(self) -> None:
        """Connect and complete the opening handshake."""
        loop = asyncio.get_running_loop()
        await loop.sock_connect(self.sock, (self._uri.host, self._uri.port))
        self.protocol.send_request(self.protocol.connect())
        await loop.sock_sendall(self.sock, b"".join(self.protocol.data_to_send()))
        while self.protocol.state is State.CONNECTING:
            self.protocol.receive_data(await loop.sock_recv(self.sock, 4096))
        assert self.protocol.state is State.OPEN, self.protocol.handshake_exc

    def frames(self, texts: Iterable[str]) -> bytes:
        """The masked text frames for ``texts``, ready to write to the socket."""
        for text in texts:
            self.protocol.send_text(text.encode())
        return b"".join(self.protocol.data_to_send())


@dataclass
class Served:
    """A ``wsrpc serve`` subprocess and its URL."""

    proc: asyncio.subprocess.Process
    url: str

    async def stderr_line(self, containing: str) -> str:
        """The next line the server writes on stderr that holds ``containing``
        (connection log lines come before it)."""
        assert self.proc.stderr is not None
        while containing not in (
            line := (await asyncio.wait_for(self.proc.stderr.readline(), UNIT)).decode()
        ):
            assert line, f"the server's stderr ended before a line with {containing!r}"
        return line

    async def finish(self, within: float) -> tuple[int, str]:
        """Wait up to ``within`` seconds for the exit; return its code and the rest of stderr."""
        assert self.proc.stderr is not None
        stderr, code = await asyncio.wait_for(
            asyncio.gather(self.proc.stderr.read(), self.proc.wait()), within
        )
        return code, stderr.decode()


@asynccontextmanager
async def serving(target: str) -> AsyncIterator[Served]:
    """``wsrpc serve target`` on a free port, once it says it listens; killed at the end."""
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "wsrpc_typed.cli", "serve", target, "--port", "0"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), UNIT * 2)).decode()
        match = re.search(r"ws://127\.0\.0\.1:\d+", line)
        assert match, line
        yield Served(proc, match.group(0))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
