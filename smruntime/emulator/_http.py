"""The emulator's HTTP/1.1 server: one selector thread for every socket, a bounded worker pool.

Nothing here knows the SageMaker operations (see :mod:`smruntime.emulator._protocol`).

How a connection is served:

* The **selector thread** accepts connections (``TCP_NODELAY`` set; at most ``max_connections``
  open: further ones wait in the listen backlog), reads each request's head and body without
  blocking, against deadlines (``idle_timeout`` for the first byte of a request on a kept-alive
  connection, ``head_timeout`` for the rest of the head, ``body_timeout`` for the body; a client
  too slow gets a ``408`` and the close) and size limits (``max_head_bytes``: ``431``;
  bodies above :data:`HARD_BODY_LIMIT` are refused by the protocol layer without being read).
  A thousand slow sockets cost no thread.
* A complete request goes to the **worker pool** (at most ``max_workers`` threads, started as
  needed): a :class:`ConnectionHandler` answers it (model handlers may block). Heads and small
  bodies go out in one ``sendall``; a streamed body goes through a :class:`_Pump`, a helper
  thread that writes what piled up in one call (so a fast model's events leave in batches and a
  slow model's events leave at once). The connection then returns to the selector (keep-alive,
  pipelined bytes kept) or is closed.
* **Other protocols** (the seam for HTTP/2): a connection whose first bytes are the HTTP/2
  preface (``PRI * HTTP/2.0``) is handed, with the bytes already read, to the handler registered
  with :meth:`HTTPServer.register_protocol` (``"h2"``), see :meth:`HTTPServer.hand_off`, the one
  place a connection leaves HTTP/1.1 (the TLS handshake calls it on the ALPN choice). With
  no handler registered such a connection gets ``505 HTTP Version Not Supported``.
* **TLS** (``ssl_context``): every connection is TLS. Its handshake runs in a worker, against a
  monotonic deadline (``head_timeout``, else ``timeout``; a client that does not finish it is
  dropped and costs no other client anything but that worker meanwhile); ALPN ``h2`` hands the
  TLS socket to the ``"h2"`` handler, anything else (``http/1.1``, no ALPN) goes to the selector
  as an HTTP/1.1 connection. TLS bytes already decrypted (``pending()``) are read at once: the
  selector only sees the kernel's socket.

Request bodies are framed strictly (ASCII-digit ``Content-Length``, hex chunk sizes, CRLF after
each chunk); a framing error reaches the protocol layer as a :class:`BodyError`, which answers it
in the service's error shape.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import logging
import re
import select
import selectors
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Callable, Optional, Union

from smruntime.http._tls import wrap_socket

if TYPE_CHECKING:
    from smruntime.emulator._server import Emulator

__all__ = [
    "H2_PREFACE",
    "HARD_BODY_LIMIT",
    "BodyError",
    "Cancelled",
    "ConnectionHandler",
    "HTTPServer",
    "ProtocolHandler",
]

logger = logging.getLogger("smruntime.emulator")

# Bodies above this are refused without being read (the service's front end does the same).
HARD_BODY_LIMIT = 64 * 1024 * 1024
# The client connection preface of HTTP/2 (RFC 9113 3.4), sniffed on cleartext connections.
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_HEADERS = 100

# RFC 9112: chunk-size = 1*HEXDIG, then optional extensions, then CRLF (nothing else: no sign,
# no "0x", no underscores, no spaces before the digits).
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[^\r\n]*)?\r\n")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
# RFC 9110 5.5: a field value is VCHAR, obs-text, SP and HTAB; any other control (NUL, a bare
# CR, DEL) is refused, as h11 does.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_MAX_TRAILER_LINES = 100
_MAX_CHUNK_LINE = 1026
# Streamed bytes waiting for the pump above this make the model wait (backpressure).
_PUMP_HIGH_WATER = 1024 * 1024
_RECV_SIZE = 65536
# How long a worker waits on a kept-alive connection for its next request before handing the
# connection back to the selector thread.
_LINGER = 0.002

# What a non-blocking TLS socket raises when a record is incomplete (no data yet).
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def _pending(sock: socket.socket) -> int:
    """Decrypted TLS bytes buffered in *sock* (0 for a plain socket)."""
    return sock.pending() if isinstance(sock, ssl.SSLSocket) else 0


# A protocol handler takes over a connection: (socket, bytes already read from it).
ProtocolHandler = Callable[[socket.socket, bytes], None]


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


class _HeadError(Exception):
    """A request head the server answers itself (status, reason) and then closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


_date_cache: list[object] = [0, ""]


def _http_date() -> str:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = email.utils.formatdate(now, usegmt=True)
    return str(_date_cache[1])


class _Head:
    """A parsed request head."""

    __slots__ = ("command", "headers", "path", "request_version")

    def __init__(
        self, command: str, path: str, version: str, headers: list[tuple[str, str]]
    ) -> None:
        self.command = command
        self.path = path
        self.request_version = version
        self.headers = headers

    def get(self, name: str) -> Optional[str]:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]


def parse_head(data: bytes) -> _Head:
    """Parse a request head (request line and header lines, without the blank line)."""
    text = data.decode("latin-1")
    lines = text.split("\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise _HeadError(400, f"Bad request line {lines[0][:80]!r}")
    command, path, version = parts
    if _TOKEN.fullmatch(command) is None:
        raise _HeadError(400, f"Bad request method {command[:40]!r}")
    match = _VERSION.fullmatch(version)
    if match is None:
        raise _HeadError(400, f"Bad request version {version[:40]!r}")
    if match.group(1) != "1":
        raise _HeadError(505, f"Invalid HTTP version ({version[:40]})")
    if len(lines) - 1 > MAX_HEADERS:
        raise _HeadError(431, "Too many headers")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or _TOKEN.fullmatch(name) is None:
            raise _HeadError(400, f"Bad header line {line[:80]!r}")
        if _BAD_VALUE.search(value) is not None:
            raise _HeadError(400, f"Bad character in the value of header {name[:40]!r}")
        headers.append((name, value.strip(" \t")))
    return _Head(command, path, version, headers)


class _Body:
    """Incremental request-body framing over the connection's buffer (Content-Length or chunked).

    :meth:`feed` looks at the buffer from its start and returns the body and the bytes it took
    once the body is complete, None while it is not; :class:`BodyError` for a malformed one.
    """

    def __init__(self, head: _Head) -> None:
        self.chunked = False
        self.length = 0
        self.close_after = False
        self._parts: list[bytes] = []
        self._pos = 0
        self._total = 0
        self._trailers = 0
        self._in_trailers = False
        encoding = head.get("Transfer-Encoding")
        lengths = head.get_all("Content-Length")
        if encoding is not None:
            codings = [c.strip().lower() for c in encoding.split(",")]
            if codings[-1] != "chunked":
                raise _bad_body("Transfer-Encoding must end with chunked")
            if lengths:
                # RFC 9112 6.3: chunked wins, and the connection cannot be trusted afterwards.
                self.close_after = True
            self.chunked = True
            return
        if not lengths:
            return
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
        self.length = length

    def cut(self, buffer: bytearray) -> BodyError:
        """Why the body is unreadable when the client's side ended with *buffer* held."""
        if not self.chunked:
            return _bad_body(f"request body ended after {len(buffer)} of {self.length} bytes")
        if self._in_trailers:
            return _bad_body("bad trailer section after the last chunk")
        return _bad_body(f"request body ended inside a chunk, after {self._total} bytes")

    def feed(self, buffer: bytearray) -> Optional[tuple[bytes, int]]:
        if not self.chunked:
            if len(buffer) < self.length:
                return None
            return bytes(buffer[: self.length]), self.length
        while True:
            if self._in_trailers:
                end = buffer.find(b"\n", self._pos)
                if end < 0:
                    if len(buffer) - self._pos > 8194:
                        raise _bad_body("bad trailer section after the last chunk")
                    return None
                line = bytes(buffer[self._pos : end + 1])
                self._pos = end + 1
                if line == b"\r\n":
                    return b"".join(self._parts), self._pos
                if not line.endswith(b"\r\n") or len(line) > 8194:
                    raise _bad_body("bad trailer section after the last chunk")
                self._trailers += 1
                if self._trailers >= _MAX_TRAILER_LINES:
                    raise _bad_body("too many trailer lines after the last chunk")
                continue
            end = buffer.find(b"\n", self._pos, self._pos + _MAX_CHUNK_LINE)
            if end < 0:
                if len(buffer) - self._pos >= _MAX_CHUNK_LINE:
                    raise _bad_body(f"bad chunk size line in request body at byte {self._total}")
                return None
            match = _CHUNK_SIZE.fullmatch(bytes(buffer[self._pos : end + 1]))
            if match is None:
                raise _bad_body(f"bad chunk size line in request body at byte {self._total}")
            size = int(match.group(1), 16)
            if size == 0:
                self._pos = end + 1
                self._in_trailers = True
                continue
            if self._total + size > HARD_BODY_LIMIT:
                raise _too_large(f"Request body is larger than {HARD_BODY_LIMIT} bytes")
            start = end + 1
            if len(buffer) < start + size + 2:
                return None
            if buffer[start + size : start + size + 2] != b"\r\n":
                raise _bad_body(f"chunk data not followed by CRLF at byte {self._total + size}")
            self._parts.append(bytes(buffer[start : start + size]))
            self._total += size
            self._pos = start + size + 2


class _Conn:
    """One client connection as the selector thread sees it."""

    __slots__ = ("addr", "body", "buffer", "deadline", "eof", "head", "head_started", "sock")

    def __init__(self, sock: socket.socket, addr: object) -> None:
        self.sock = sock
        self.addr = addr
        self.buffer = bytearray()
        self.head: Optional[_Head] = None
        self.body: Optional[_Body] = None
        self.deadline: Optional[float] = None
        self.head_started = False
        self.eof = False  # the client ended its side (seen by a lingering worker)


class _Request:
    """A complete request handed to a worker: head, body (or why it cannot be read)."""

    __slots__ = ("body", "body_error", "close_after", "head")

    def __init__(
        self,
        head: _Head,
        body: bytes,
        body_error: Optional[BodyError],
        close_after: bool,
    ) -> None:
        self.head = head
        self.body = body
        self.body_error = body_error
        self.close_after = close_after


_Outcome = Union[None, _Request, _HeadError, bytes]


def _deadline(now: float, *limits: Optional[float]) -> Optional[float]:
    given = [limit for limit in limits if limit is not None]
    return now + min(given) if given else None


class _Workers:
    """At most *size* daemon threads running submitted jobs; started as needed."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._jobs: deque[tuple[Callable[[], None], Optional[Callable[[], None]]]] = deque()
        self._cond = threading.Condition()
        self._idle = 0
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, job: Callable[[], None], on_drop: Optional[Callable[[], None]] = None) -> None:
        """Run *job* in a worker; *on_drop* is called instead if the pool closes first."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the worker pool is closed")
            self._jobs.append((job, on_drop))
            if self._idle > len(self._jobs) - 1:
                self._cond.notify()
                return
            alive = [t for t in self._threads if t.is_alive()]
            self._threads = alive
            if len(alive) < self._size:
                thread = threading.Thread(
                    target=self._run,
                    name=f"smruntime-emulator-worker-{len(alive)}",
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()
            else:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs:
                    if self._closed:
                        return
                    self._idle += 1
                    self._cond.wait()
                    self._idle -= 1
                job, _ = self._jobs.popleft()
            try:
                job()
            except Exception:
                logger.warning("emulator: worker job failed", exc_info=True)

    def close(self, timeout: float) -> list[threading.Thread]:
        """Stop taking jobs, wait up to *timeout* for the running ones; the threads still alive."""
        with self._cond:
            self._closed = True
            dropped = list(self._jobs)
            self._jobs.clear()
            self._cond.notify_all()
            threads = list(self._threads)
        for _, on_drop in dropped:
            if on_drop is not None:
                on_drop()
        deadline = time.monotonic() + timeout
        current = threading.current_thread()
        for thread in threads:
            if thread is not current:
                thread.join(max(0.0, deadline - time.monotonic()))
        return [t for t in threads if t.is_alive() and t is not current]


class HTTPServer:
    """The emulator's server: bind at construction, :meth:`serve_forever` runs the selector.

    *handler_class* (a :class:`ConnectionHandler` subclass) answers each request in a worker.
    """

    def __init__(
        self,
        address: tuple[str, int],
        handler_class: type[ConnectionHandler],
        emulator: Emulator,
        *,
        timeout: Optional[float] = 60.0,
        head_timeout: Optional[float] = 10.0,
        body_timeout: Optional[float] = 30.0,
        max_connections: int = 1000,
        max_workers: int = 64,
        max_head_bytes: int = 65536,
        ssl_context: Optional[ssl.SSLContext] = None,
    ) -> None:
        if max_connections < 1 or max_workers < 1:
            raise ValueError("max_connections and max_workers must be >= 1")
        self.handler_class = handler_class
        self.emulator = emulator
        self.timeout = timeout
        self.head_timeout = head_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self.max_head_bytes = max_head_bytes
        self.ssl_context = ssl_context
        self._protocols: dict[str, ProtocolHandler] = {}
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(address)
            self._listener.listen(min(max_connections, socket.SOMAXCONN))
            self._listener.setblocking(False)
        except OSError:
            self._listener.close()
            raise
        self.server_address = self._listener.getsockname()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._returned: deque[_Conn] = deque()
        self._returned_lock = threading.Lock()
        self._conns: dict[socket.socket, _Conn] = {}  # selector thread only
        self._open = 0  # connections open (in the selector or in a worker)
        self._open_lock = threading.Lock()
        self._accepting = False
        self._workers = _Workers(max_workers)
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._closed = False
        self._next_check: Optional[float] = None

    # -- the seam for other protocols ---------------------------------------------------------

    def register_protocol(self, name: str, handler: ProtocolHandler) -> None:
        """Serve connections that choose protocol *name* (``"h2"``: the HTTP/2 preface) with
        *handler* ``(socket, bytes_already_read)``, called in a worker thread; it owns the
        socket (blocking, with the server's ``timeout``) and closes it when done."""
        self._protocols[name] = handler

    def hand_off(self, sock: socket.socket, preread: bytes, protocol: str) -> bool:
        """Give a connection to the handler registered for *protocol*; False if there is none.

        The one place a connection leaves HTTP/1.1: the selector calls it on the HTTP/2 preface,
        the TLS handshake on the ALPN choice ``h2`` (with the TLS socket and no bytes). The
        connection stays counted as open (``max_connections``) until the handler returns.
        """
        handler = self._protocols.get(protocol)
        if handler is None:
            return False

        def run() -> None:
            try:
                sock.setblocking(True)
                sock.settimeout(self.timeout)
                handler(sock, preread)
            except Exception:
                logger.warning("emulator: %s connection failed", protocol, exc_info=True)
            finally:
                self._close_socket(sock)

        try:
            self._workers.submit(run, lambda: self._close_socket(sock))
        except RuntimeError:  # stopping
            self._close_socket(sock)
        return True

    # -- lifecycle ----------------------------------------------------------------------------

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Run the selector until :meth:`shutdown`."""
        self._stopped.clear()
        try:
            self._selector.register(self._wake_r, selectors.EVENT_READ, None)
            self._set_accepting(True)
            while not self._stop.is_set():
                timeout = poll_interval
                if self._next_check is not None:
                    timeout = max(0.0, min(timeout, self._next_check - time.monotonic()))
                for key, _ in self._selector.select(timeout):
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj is self._wake_r:
                        self._drain_wake()
                    else:
                        try:
                            self._readable(key.data)
                        except Exception:
                            # A bug must cost one connection, never the server.
                            logger.warning("emulator: dropped a connection", exc_info=True)
                            if key.data.sock in self._conns:
                                self._drop(key.data)
                now = time.monotonic()
                if self._next_check is not None and now >= self._next_check:
                    self._expire(now)
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` and wait for it to return."""
        self._stop.set()
        self._wake()
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket and every connection the selector holds."""
        self._stop.set()
        if self._closed:
            return
        self._closed = True
        self._stopped.wait(5)
        with contextlib.suppress(OSError):
            self._listener.close()
        for conn in list(self._conns.values()):
            self._drop(conn)
        with self._returned_lock:
            returned = list(self._returned)
            self._returned.clear()
        for conn in returned:
            self._close_socket(conn.sock)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def join_connections(self, timeout: float) -> list[threading.Thread]:
        """Wait up to *timeout* seconds in all for the workers; the threads still alive."""
        return self._workers.close(timeout)

    # -- selector thread ----------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass
        while True:
            with self._returned_lock:
                if not self._returned:
                    break
                conn = self._returned.popleft()
            self._resume(conn)
        self._update_accepting()

    def _set_accepting(self, on: bool) -> None:
        if on == self._accepting or self._closed:
            return
        self._accepting = on
        if on:
            self._selector.register(self._listener, selectors.EVENT_READ, None)
        else:
            self._selector.unregister(self._listener)

    def _room(self) -> bool:
        """Whether one more connection may be opened (``max_connections``)."""
        with self._open_lock:
            return self._open < self.max_connections

    def _update_accepting(self) -> None:
        self._set_accepting(self._room())

    def _accept(self) -> None:
        for _ in range(64):
            if not self._room():
                break
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    logger.warning("emulator: cannot accept a connection: %s", exc)
                    break
                raise
            if not self.emulator._track(sock):
                with contextlib.suppress(OSError):
                    sock.close()
                continue
            with self._open_lock:
                self._open += 1
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_context is not None:
                self._start_tls(sock, addr)
                continue
            conn = _Conn(sock, addr)
            self._conns[sock] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)
            self._set_deadline(conn, _deadline(time.monotonic(), self.timeout))
        self._update_accepting()

    def _start_tls(self, raw: socket.socket, addr: object) -> None:
        """Wrap an accepted socket (no I/O yet) and run its handshake in a worker."""
        assert self.ssl_context is not None
        self.emulator._untrack(raw)
        try:
            sock = wrap_socket(
                self.ssl_context, raw, server_side=True, do_handshake_on_connect=False
            )
        except (OSError, ValueError):
            self._close_socket(raw)
            return
        if not self.emulator._track(sock):
            self._close_socket(sock)
            return
        try:
            self._workers.submit(
                lambda: self._handshake(sock, addr), lambda: self._close_socket(sock)
            )
        except RuntimeError:
            self._close_socket(sock)

    def _handshake(self, sock: ssl.SSLSocket, addr: object) -> None:
        """(Worker) finish the TLS handshake by the deadline, then serve by the ALPN choice."""
        deadline = _deadline(time.monotonic(), self.head_timeout, self.timeout)
        try:
            sock.setblocking(False)
            while True:
                try:
                    sock.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    events = selectors.EVENT_READ
                except ssl.SSLWantWriteError:
                    events = selectors.EVENT_WRITE
                left = 0.25 if deadline is None else deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    raise TimeoutError("the TLS handshake was not completed in time")
                with selectors.DefaultSelector() as waiter:
                    waiter.register(sock, events)
                    waiter.select(min(left, 0.25))
        except (OSError, ValueError) as exc:
            logger.debug("emulator: TLS handshake with %s failed: %s", addr, exc)
            self._close_socket(sock)
            return
        if sock.selected_alpn_protocol() == "h2":
            if not self.hand_off(sock, b"", "h2"):
                self._close_socket(sock)
            return
        with self._returned_lock:
            queued = not self._closed and not self._stop.is_set()
            if queued:
                self._returned.append(_Conn(sock, addr))
        if queued:
            self._wake()
        else:
            self._close_socket(sock)

    def _set_deadline(self, conn: _Conn, deadline: Optional[float]) -> None:
        conn.deadline = deadline
        if deadline is not None and (self._next_check is None or deadline < self._next_check):
            self._next_check = deadline

    def _expire(self, now: float) -> None:
        upcoming: Optional[float] = None
        for conn in list(self._conns.values()):
            if conn.deadline is None:
                continue
            if conn.deadline <= now:
                if conn.head_started:
                    self._refuse(conn, 408, "the request was not received in time")
                else:
                    self._drop(conn)  # an idle keep-alive connection: closed quietly
            elif upcoming is None or conn.deadline < upcoming:
                upcoming = conn.deadline
        self._next_check = upcoming

    def _readable(self, conn: _Conn) -> None:
        got = False
        while True:
            try:
                data = conn.sock.recv(_RECV_SIZE)
            except _WOULD_BLOCK:  # for TLS: an incomplete record, no data yet
                break
            except OSError:
                self._drop(conn)
                return
            if not data:
                self._ended(conn)
                return
            conn.buffer += data
            got = True
            if not _pending(conn.sock):
                break
        if got:
            self._advance(conn)

    def _ended(self, conn: _Conn) -> None:
        """The client ended its side: inside a body, answer why it cannot be read; else close."""
        if conn.head is not None and conn.body is not None:
            self._dispatch(conn, _Request(conn.head, b"", conn.body.cut(conn.buffer), True))
            return
        self._drop(conn)

    def _parse(self, conn: _Conn) -> _Outcome:
        """What the buffer holds: None (more bytes needed), a complete :class:`_Request`, a
        :class:`_HeadError` to answer, or :data:`H2_PREFACE` (hand over to HTTP/2).

        Advances the connection's parse state (head, body framing) and nothing else: the
        selector thread and a worker lingering on the connection both call it.
        """
        if conn.head is None:
            if not conn.head_started:
                # RFC 9112 2.2: empty lines before a request line are ignored.
                while conn.buffer[:2] == b"\r\n":
                    del conn.buffer[:2]
                if not conn.buffer:
                    return None
                conn.head_started = True
                if conn.buffer[0] == 0x16 and not isinstance(conn.sock, ssl.SSLSocket):
                    # a TLS ClientHello on a plain port (an https:// URL for an http:// server):
                    # answered at once, in plain text, so the client's handshake fails now
                    return _HeadError(400, "this port speaks plain HTTP, not TLS: use http://")
            if "h2" in self._protocols:
                prefix = bytes(conn.buffer[: len(H2_PREFACE)])
                if H2_PREFACE.startswith(prefix):
                    return H2_PREFACE if len(prefix) == len(H2_PREFACE) else None
            end = conn.buffer.find(b"\r\n\r\n")
            if end < 0 and len(conn.buffer) <= self.max_head_bytes:
                return None
            if end < 0 or end > self.max_head_bytes:
                return _HeadError(431, "the request head is too large")
            try:
                head = parse_head(bytes(conn.buffer[:end]))
            except _HeadError as exc:
                return exc
            del conn.buffer[: end + 4]
            conn.head = head
            try:
                conn.body = _Body(head)
            except BodyError as exc:
                return _Request(head, b"", exc, True)
            expect = head.get("Expect")
            if (
                expect is not None
                and expect.lower() == "100-continue"
                and head.request_version == "HTTP/1.1"
                and (conn.body.chunked or conn.body.length > len(conn.buffer))
            ):
                with contextlib.suppress(OSError):
                    conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = conn.body
        assert body is not None
        try:
            done = body.feed(conn.buffer)
        except BodyError as exc:
            return _Request(conn.head, b"", exc, True)
        if done is None:
            return None
        data, used = done
        del conn.buffer[:used]
        return _Request(conn.head, data, None, body.close_after)

    def _phase_deadline(self, conn: _Conn, now: float) -> Optional[float]:
        """The deadline of what the connection waits for: its body, the rest of its head, or
        (idle) the first byte of its next request."""
        if conn.head is not None:
            return _deadline(now, self.body_timeout, self.timeout)
        if conn.head_started:
            return _deadline(now, self.head_timeout, self.timeout)
        return _deadline(now, self.timeout)

    def _advance(self, conn: _Conn) -> None:
        """Parse what the buffer holds; hand a complete request (or another protocol) on."""
        phase = (conn.head_started, conn.head is not None)
        outcome = self._parse(conn)
        if outcome is None:
            if (conn.head_started, conn.head is not None) != phase:
                self._set_deadline(conn, self._phase_deadline(conn, time.monotonic()))
        elif isinstance(outcome, _Request):
            self._dispatch(conn, outcome)
        elif isinstance(outcome, _HeadError):
            self._refuse(conn, outcome.status, outcome.message)
        else:
            self._release(conn)
            if not self.hand_off(conn.sock, bytes(conn.buffer), "h2"):
                self._close_socket(conn.sock)

    def _dispatch(self, conn: _Conn, request: _Request) -> None:
        self._release(conn)
        try:
            self._workers.submit(
                lambda: self._serve(conn, request), lambda: self._close_socket(conn.sock)
            )
        except RuntimeError:
            self._close_socket(conn.sock)

    def _release(self, conn: _Conn) -> None:
        """Take *conn* out of the selector (a worker or another protocol owns it now)."""
        self._conns.pop(conn.sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self._selector.unregister(conn.sock)

    def _resume(self, conn: _Conn) -> None:
        """A kept-alive connection back from a worker: wait for (or parse) its next request."""
        if self._closed or self._stop.is_set():
            self._close_socket(conn.sock)
            return
        try:
            conn.sock.setblocking(False)
            self._selector.register(conn.sock, selectors.EVENT_READ, conn)
        except (OSError, ValueError):
            self._close_socket(conn.sock)
            return
        self._conns[conn.sock] = conn
        self._set_deadline(conn, self._phase_deadline(conn, time.monotonic()))
        if conn.eof:
            self._ended(conn)
        elif _pending(conn.sock):
            self._readable(conn)
        elif conn.buffer:
            self._advance(conn)

    def _refuse(self, conn: _Conn, status: int, message: str) -> None:
        """Answer a request the server cannot take (408, 431, 400, 505) and close."""
        body = (message + "\n").encode()
        head = (
            f"HTTP/1.1 {status} {_phrase(status)}\r\nServer: {ConnectionHandler.server_version}"
            f"\r\nDate: {_http_date()}\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(OSError):
            conn.sock.send(head.encode() + body)
        self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        self._release(conn)
        self._close_socket(conn.sock)

    def _close_socket(self, sock: socket.socket) -> None:
        self.emulator._untrack(sock)
        with contextlib.suppress(OSError):
            sock.close()
        with self._open_lock:
            self._open -= 1
        if not self._closed:
            self._wake()  # the selector may accept again

    # -- worker side --------------------------------------------------------------------------

    def _serve(self, conn: _Conn, request: Optional[_Request]) -> None:
        """Answer *request*, then the ones that follow at once on the same connection."""
        try:
            conn.sock.setblocking(True)
            conn.sock.settimeout(self.timeout)
        except OSError:
            self._close_socket(conn.sock)
            return
        while request is not None:
            conn.head = None
            conn.body = None
            conn.head_started = False
            keep = False
            try:
                handler = self.handler_class(self, conn.sock, conn.addr, request)
                handler.handle()
                keep = not handler.close_connection
            except Exception:
                logger.debug("emulator: error serving %s", conn.addr, exc_info=True)
            if not keep or self._stop.is_set():
                self._close_socket(conn.sock)
                return
            request = self._linger(conn)
        with self._returned_lock:
            queued = not self._closed and not self._stop.is_set()
            if queued:
                self._returned.append(conn)
        if queued:
            self._wake()
        else:
            self._close_socket(conn.sock)

    def _linger(self, conn: _Conn) -> Optional[_Request]:
        """The next request if it is complete within :data:`_LINGER` seconds, else None (the
        connection goes back to the selector, with whatever was read of it).

        A client calling in a loop sends its next request before that: it is served without
        passing through the selector thread (two thread switches fewer per call).
        """
        deadline = time.monotonic() + _LINGER
        poller = select.poll() if hasattr(select, "poll") else None
        if poller is not None:
            poller.register(conn.sock.fileno(), select.POLLIN)
        try:
            # Non-blocking while lingering: a TLS record cut short must not hold the worker.
            conn.sock.setblocking(False)
            while True:
                outcome = self._parse(conn)
                if isinstance(outcome, _Request):
                    return outcome
                left = deadline - time.monotonic()
                if outcome is not None or left <= 0 or self._stop.is_set():
                    return None
                if _pending(conn.sock):
                    ready = True
                elif poller is not None:
                    ready = bool(poller.poll(left * 1000))
                else:  # pragma: no cover - Windows
                    ready = bool(select.select([conn.sock], [], [], left)[0])
                if not ready:
                    return None
                try:
                    data = conn.sock.recv(_RECV_SIZE)
                except _WOULD_BLOCK:
                    continue
                except OSError:
                    return None
                if not data:
                    conn.eof = True
                    return None
                conn.buffer += data
        finally:
            with contextlib.suppress(OSError):
                conn.sock.settimeout(self.timeout)


class _Pump:
    """Writes a streamed body from a helper thread: whatever piled up goes out in one call.

    :meth:`put` queues bytes (waiting while more than :data:`_PUMP_HIGH_WATER` are queued) and
    raises :class:`Cancelled` once a write failed; :meth:`close` waits until all is written.
    """

    def __init__(self, sock: socket.socket, first: list[bytes]) -> None:
        self._sock = sock
        self._cond = threading.Condition()
        self._pending = first
        self._size = sum(len(b) for b in first)
        self._failed = False
        self._done = False
        self._thread = threading.Thread(
            target=self._run, name="smruntime-emulator-writer", daemon=True
        )
        self._thread.start()

    def put(self, data: bytes) -> None:
        with self._cond:
            while self._size > _PUMP_HIGH_WATER and not self._failed:
                self._cond.wait()
            if self._failed:
                raise Cancelled
            self._pending.append(data)
            self._size += len(data)
            self._cond.notify_all()

    def close(self) -> None:
        """Wait until everything queued is written; :class:`Cancelled` if a write failed."""
        with self._cond:
            self._done = True
            self._cond.notify_all()
        self._thread.join()
        if self._failed:
            raise Cancelled

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._done:
                    self._cond.wait()
                if not self._pending:
                    return
                batch = self._pending
                self._pending = []
                self._size = 0
                self._cond.notify_all()
            try:
                self._sock.sendall(batch[0] if len(batch) == 1 else b"".join(batch))
            except OSError:
                with self._cond:
                    self._failed = True
                    self._pending = []
                    self._cond.notify_all()
                return


class _Output:
    """A response's bytes: buffered until :meth:`flush` (one ``sendall``), or pumped from the
    first :meth:`stream` on."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer: list[bytes] = []
        self._pump: Optional[_Pump] = None

    def write(self, data: bytes) -> None:
        if self._pump is not None:
            self._pump.put(data)
        else:
            self._buffer.append(data)

    def stream(self, data: bytes) -> None:
        """Write *data* now (through the pump; the first call takes what is buffered along,
        so that a head leaves with the first chunk)."""
        if self._pump is None:
            self._buffer.append(data)
            self._pump = _Pump(self._sock, self._buffer)
            self._buffer = []
        else:
            self._pump.put(data)

    def flush(self) -> None:
        if self._pump is not None:
            pump, self._pump = self._pump, None
            pump.close()
            return
        if self._buffer:
            data = self._buffer[0] if len(self._buffer) == 1 else b"".join(self._buffer)
            self._buffer = []
            self._sock.sendall(data)

    def abandon(self) -> None:
        """Drop what is not written yet (the connection is being cut)."""
        self._buffer = []


class ConnectionHandler:
    """One HTTP/1.1 request on a connection: :meth:`serve` (defined by a subclass) answers it.

    The attributes a subclass uses: ``command``, ``path``, ``headers`` (name/value pairs),
    ``request_version``, ``connection`` (the socket), ``close_connection``, ``emulator``;
    output through :meth:`send_head`, :meth:`write`, :meth:`write_chunk`, :meth:`end_chunks`
    and :meth:`cut_connection`; the body from :meth:`read_body`. Another protocol (an HTTP/2
    stream) can reuse the operations' logic (:class:`~smruntime.emulator._protocol.RequestHandler`)
    by overriding exactly these I/O methods and attributes.
    """

    server_version = "smruntime-emulator/0.1"

    def __init__(
        self, server: HTTPServer, sock: socket.socket, addr: object, request: _Request
    ) -> None:
        self.server = server
        self.connection = sock
        self.client_address = addr
        self.command = request.head.command
        self.path = request.head.path
        self.request_version = request.head.request_version
        self.headers = request.head.headers
        self._request = request
        self._out = _Output(sock)
        connection = (request.head.get("Connection") or "").lower()
        tokens = {t.strip() for t in connection.split(",")}
        if self.request_version == "HTTP/1.0":
            self.close_connection = "keep-alive" not in tokens
        else:
            self.close_connection = "close" in tokens
        if request.close_after:
            self.close_connection = True

    @property
    def emulator(self) -> Emulator:
        return self.server.emulator

    @property
    def raw_body(self) -> bool:
        """True for HTTP/1.0 clients: streamed bodies go out unframed and end with the close."""
        return self.request_version == "HTTP/1.0"

    def handle(self) -> None:
        """Serve the request, then write out what is buffered."""
        try:
            self.serve()
        finally:
            try:
                self._out.flush()
            except (OSError, Cancelled):
                self.close_connection = True

    def serve(self) -> None:
        """Answer the request (method, path and headers are set)."""
        raise NotImplementedError

    # -- reading ------------------------------------------------------------------------------

    def read_body(self) -> bytes:
        """The whole request body; :class:`BodyError` if it is malformed, cut or too large."""
        if self._request.body_error is not None:
            self.close_connection = True
            raise self._request.body_error
        return self._request.body

    # -- writing ------------------------------------------------------------------------------

    def send_head(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        """The status line and *headers* (with ``Server`` and ``Date``), then the blank line.

        Buffered: it leaves with the body (or the first streamed chunk) in one write.
        """
        lines = [
            f"HTTP/1.1 {status} {_phrase(status)}",
            f"Server: {self.server_version}",
            f"Date: {_http_date()}",
        ]
        closing = False
        for name, value in headers:
            lines.append(f"{name}: {value}")
            if name.lower() == "connection" and value.lower() == "close":
                closing = True
                self.close_connection = True
        if self.close_connection and not closing:
            lines.append("Connection: close")
        lines.append("\r\n")
        self._out.write("\r\n".join(lines).encode("latin-1"))

    def write(self, data: bytes) -> None:
        """Body bytes (buffered until the answer is complete)."""
        self._out.write(data)

    def write_chunk(self, data: bytes) -> None:
        """One chunk of a ``Transfer-Encoding: chunked`` body (raw *data* for HTTP/1.0),
        streamed at once; :class:`Cancelled` if the connection is gone."""
        self._out.stream(data if self.raw_body else b"%X\r\n%s\r\n" % (len(data), data))

    def end_chunks(self) -> None:
        """The last (empty) chunk, or for HTTP/1.0 nothing (the close ends the body), then
        wait until all is written; :class:`Cancelled` if it cannot be."""
        if self.raw_body:
            self.close_connection = True
        else:
            self._out.write(b"0\r\n\r\n")
        try:
            self._out.flush()
        except OSError:
            raise Cancelled from None

    def cut_connection(self) -> None:
        """Write what is pending, then shut the socket down (the client sees a cut answer)."""
        self.close_connection = True
        with contextlib.suppress(OSError, Cancelled):
            self._out.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
