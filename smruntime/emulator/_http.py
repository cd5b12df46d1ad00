"""The emulator's HTTP/1.1 plumbing: the threaded server, request bodies, chunked writing.

Nothing here knows the SageMaker operations (see :mod:`smruntime.emulator._protocol`): this module
reads a request body (``Content-Length`` or chunked, bounded by :data:`HARD_BODY_LIMIT`, framed
strictly: ASCII-digit lengths, hex chunk sizes, CRLF after each chunk), writes response heads and
chunks (raw bytes to HTTP/1.0 clients, which cannot read chunked bodies), cuts connections, and
registers each connection and its thread with the :class:`~smruntime.emulator._server.Emulator`
so that stopping it can close and join them all.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import socketserver
import threading
import time
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

# RFC 9112: chunk-size = 1*HEXDIG, then optional extensions, then CRLF (nothing else: no sign,
# no "0x", no underscores, no spaces before the digits).
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[^\r\n]*)?\r\n")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}")
_MAX_TRAILER_LINES = 100


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
    """A threaded loopback server; ``emulator`` is set by the Emulator that binds it.

    Connection threads are daemons (a stuck model never blocks interpreter exit) but tracked, so
    that :meth:`join_connections` can wait for them when the emulator stops.
    """

    daemon_threads = True
    request_queue_size = 128
    emulator: Emulator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connection_threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name=f"smruntime-emulator-connection-{client_address[1]}",
            daemon=True,
        )
        with self._threads_lock:
            self._connection_threads.add(thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._threads_lock:
                self._connection_threads.discard(threading.current_thread())

    def join_connections(self, timeout: float) -> list[threading.Thread]:
        """Wait up to *timeout* seconds in all for the connection threads; the ones still alive."""
        deadline = time.monotonic() + timeout
        with self._threads_lock:
            threads = list(self._connection_threads)
        current = threading.current_thread()
        for thread in threads:
            if thread is not current:
                thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in threads if t.is_alive() and t is not current]

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

    @property
    def raw_body(self) -> bool:
        """True for HTTP/1.0 clients: streamed bodies go out unframed and end with the close."""
        return self.request_version == "HTTP/1.0"

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
        encoding = self.headers.get("Transfer-Encoding")
        lengths = self.headers.get_all("Content-Length") or []
        if encoding is not None:
            codings = [c.strip().lower() for c in encoding.split(",")]
            if codings[-1] != "chunked":
                raise _bad_body("Transfer-Encoding must end with chunked")
            if lengths:
                # RFC 9112 6.3: chunked wins, and the connection cannot be trusted afterwards.
                self.close_connection = True
            return self._read_chunked()
        if not lengths:
            return b""
        raw = lengths[0]
        if any(other != raw for other in lengths[1:]):
            raise _bad_body("conflicting Content-Length headers")
        if _CONTENT_LENGTH.fullmatch(raw) is None:
            raise _bad_body(f"Content-Length is not a valid length: {raw[:32]!r}")
        length = int(raw)
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
            match = _CHUNK_SIZE.fullmatch(self.rfile.readline(1026))
            if match is None:
                raise _bad_body(f"bad chunk size line in request body at byte {total}")
            size = int(match.group(1), 16)
            if size == 0:
                self._read_trailers()
                return b"".join(parts)
            total += size
            if total > HARD_BODY_LIMIT:
                raise _too_large(f"Request body is larger than {HARD_BODY_LIMIT} bytes")
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise _bad_body("request body ended inside a chunk")
            parts.append(chunk)
            if self.rfile.read(2) != b"\r\n":
                raise _bad_body(f"chunk data not followed by CRLF at byte {total}")

    def _read_trailers(self) -> None:
        for _ in range(_MAX_TRAILER_LINES):
            line = self.rfile.readline(8194)
            if line == b"\r\n":
                return
            if not line.endswith(b"\r\n"):
                raise _bad_body("bad trailer section after the last chunk")
        raise _bad_body("too many trailer lines after the last chunk")

    # -- writing ------------------------------------------------------------------------------

    def send_head(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        """The status line and *headers* (with ``Server`` and ``Date``), then the blank line."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        """One chunk of a ``Transfer-Encoding: chunked`` body (raw *data* for HTTP/1.0);
        :class:`Cancelled` if it fails."""
        try:
            self.wfile.write(data if self.raw_body else b"%X\r\n%s\r\n" % (len(data), data))
        except OSError:
            raise Cancelled from None

    def end_chunks(self) -> None:
        """The last (empty) chunk, or for HTTP/1.0 nothing (the close ends the body);
        :class:`Cancelled` if it cannot be written."""
        if self.raw_body:
            self.close_connection = True
            return
        try:
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            raise Cancelled from None

    def cut_connection(self) -> None:
        """Shut the socket down now, whatever was written (the client sees a cut answer)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
