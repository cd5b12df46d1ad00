"""The emulator's HTTP/1.1 plumbing: the threaded server, request bodies, chunked writing.

Nothing here knows the SageMaker operations (see :mod:`smruntime.emulator._protocol`): this module
reads a request body (``Content-Length`` or chunked, bounded by :data:`HARD_BODY_LIMIT`), writes
response heads and chunks, cuts connections, and registers each connection with the
:class:`~smruntime.emulator._server.Emulator` so that stopping it can close them all.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smruntime.emulator._server import Emulator

__all__ = [
    "HARD_BODY_LIMIT",
    "BodyError",
    "Cancelled",
    "ConnectionHandler",
    "HTTPServer",
]

logger = logging.getLogger("smruntime.emulator")

# Bodies above this are refused without being read (the service's front end does the same).
HARD_BODY_LIMIT = 64 * 1024 * 1024


class BodyError(Exception):
    """The request body cannot be read: ``status``, service error ``code`` and ``message``.

    The connection cannot be reused after it (the rest of the body is not consumed).
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _bad_body(message: str) -> BodyError:
    return BodyError(400, "SerializationException", message)


def _too_large(message: str) -> BodyError:
    return BodyError(413, "RequestEntityTooLarge", message)


class Cancelled(Exception):
    """The client went away (or the emulator is stopping) during the answer."""


class HTTPServer(ThreadingHTTPServer):
    """A threaded loopback server; ``emulator`` is set by the Emulator that binds it."""

    daemon_threads = True
    request_queue_size = 128
    emulator: Emulator

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), slow on some hosts.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("emulator: error serving %s", client_address, exc_info=True)  # noqa: LOG014


class ConnectionHandler(BaseHTTPRequestHandler):
    """One HTTP/1.1 connection: every method calls :meth:`serve` (defined by a subclass)."""

    protocol_version = "HTTP/1.1"
    server_version = "smruntime-emulator/0.1"
    server: HTTPServer

    def version_string(self) -> str:
        return self.server_version

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator

    def setup(self) -> None:
        super().setup()
        if not self.emulator._track(self.connection):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        self.emulator._untrack(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("emulator: %s %s", self.address_string(), format % args)

    def do_POST(self) -> None:
        self.serve()

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_POST

    def serve(self) -> None:
        """Answer the request just parsed (method, path and headers are set)."""
        raise NotImplementedError

    # -- reading ------------------------------------------------------------------------------

    def read_body(self) -> bytes:
        """The whole request body; :class:`BodyError` if it is malformed, cut or too large."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
            if length < 0:
                raise ValueError(raw)
        except ValueError:
            raise _bad_body(f"Content-Length is not a valid length: {raw[:32]!r}") from None
        if length > HARD_BODY_LIMIT:
            raise _too_large(
                f"Request body of {length} bytes is larger than {HARD_BODY_LIMIT} bytes"
            )
        body = self.rfile.read(length)
        if len(body) != length:
            raise _bad_body(f"request body ended after {len(body)} of {length} bytes")
        return body

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1026)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _bad_body(f"bad chunk size line in request body at byte {total}") from None
            if size == 0:
                while self.rfile.readline(1026) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > HARD_BODY_LIMIT:
                raise _too_large(f"Request body is larger than {HARD_BODY_LIMIT} bytes")
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise _bad_body("request body ended inside a chunk")
            parts.append(chunk)
            self.rfile.readline(3)

    # -- writing ------------------------------------------------------------------------------

    def send_head(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        """The status line and *headers* (with ``Server`` and ``Date``), then the blank line."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        """One chunk of a ``Transfer-Encoding: chunked`` body; :class:`Cancelled` if it fails."""
        try:
            self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
        except OSError:
            raise Cancelled from None

    def end_chunks(self) -> None:
        """The last (empty) chunk; :class:`Cancelled` if it cannot be written."""
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            raise Cancelled from None

    def cut_connection(self) -> None:
        """Shut the socket down now, whatever was written (the client sees a cut answer)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
