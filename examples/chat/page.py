"""Serve the chat's browser page (``examples/chat/web/``) over plain HTTP.

The page is static: ``index.html``, the generated TypeScript client compiled to an ES
module (``chat_client.js``) and the page's own script (``app.js``, compiled from
``app.ts``). ``/config.json`` tells the page where the WebSocket server listens. The
WebSocket server runs beside this one, on its own port, and admits this page's origin.

Only those files are served, to GET and HEAD; anything else is 404 (no directory
listing, no path from the request reaches the file system).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

__all__ = ["FILES", "WEB", "PageServer"]

WEB = Path(__file__).resolve().parent / "web"
#: Path -> (file in WEB, content type).
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/chat_client.js": ("chat_client.js", "text/javascript; charset=utf-8"),
}
_MAX_REQUEST = 16 * 1024


class PageServer:
    """An HTTP server of the page, telling it ``ws_url``.

    Args:
        ws_url: The chat's WebSocket URL, which the page connects to.
        host, port: Where to listen (port 0: any free port; see :attr:`url`).
    """

    def __init__(self, ws_url: str, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.ws_url = ws_url
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """The page's address (after :meth:`open`)."""
        return f"http://{self.host}:{self.port}/"

    @property
    def origins(self) -> list[str]:
        """The ``Origin`` values the page's WebSocket connections carry."""
        names = {self.host, "localhost"} if self.host == "127.0.0.1" else {self.host}
        return sorted(f"http://{name}:{self.port}" for name in names)

    async def open(self) -> None:
        """Start listening."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and close the connections."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(AttributeError):  # Python 3.13+
                self._server.close_clients()  # type: ignore[attr-defined]
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _MAX_REQUEST:
                raise ValueError("request too large")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            status, content_type, body = self._answer(method, target.split("?", 1)[0])
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
                "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n".encode()
            )
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError):
            pass  # a client that sent no request, or went away
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _answer(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if path == "/config.json":
            return "200 OK", "application/json", json.dumps({"url": self.ws_url}).encode()
        if path not in FILES:
            return "404 Not Found", "text/plain", b"not found\n"
        name, content_type = FILES[path]
        return "200 OK", content_type, (WEB / name).read_bytes()
