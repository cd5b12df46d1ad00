"""The blocking driver: :class:`ClientConnection` (pure HTTP/1.1) over sockets.

One :class:`SyncPool` per client: keep-alive connections per (scheme, host, port), at most
``max_pool_connections`` idle ones each; a pool used in a forked child starts empty (an at-fork
hook resets every pool and the pid they compare with: ``os.fork`` and all built on it run it;
no system call per request), so no socket is ever shared by two processes. ``request`` returns
after the response head; the body is read with :meth:`SyncResponse.read_some`, one socket read
at a time (all the body bytes that read completed, chunks joined: one ``Decoder.feed`` per read
upstream).

Deadlines are monotonic (:class:`~smruntime.http._config.Deadline`): connect (TCP, proxy
``CONNECT``, TLS handshake), the whole header block, between body reads (or as the stream sets
them, :meth:`SyncResponse.set_read_timeout`), and the total. A peer that trickles bytes cannot
stretch them: the time is checked after every read, and the socket timeout is re-armed only when
the time left falls below it (by more than :data:`REARM_SLACK`), so a steady stream costs no
``settimeout`` per read. Name resolution is within the connect deadline too
(:func:`~smruntime.http._dial.open_tcp`: a host name is resolved in a short-lived thread the
connect waits for only as long as the deadline allows).

Stale keep-alive connections: a pooled connection that is readable before use (the server closed
it, or sent stray bytes) is dropped unused. If writing the request to a reused connection fails,
the server had already closed it: the request is sent again, once, on a new connection. If a
reused connection ends (EOF or reset) after the request was written and before any response byte,
the request may have reached the server: only idempotent methods (GET, HEAD, PUT, DELETE,
OPTIONS) are sent again; a POST (every SageMaker operation) raises ``ConnectionClosedError``
with ``request_sent=True`` and the retry policy decides (``retry_after_send``).
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Optional

from smruntime._http import BodyReader, HttpHeaders, HttpRequest
from smruntime._redact import redact_url
from smruntime.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    RemoteProtocolError,
    TransportError,
)
from smruntime.http._config import (
    PHASE_CONNECT,
    PHASE_HEADERS,
    PHASE_TOTAL,
    Deadline,
    Deadlines,
    Origin,
    Proxy,
    Routes,
    WireConfig,
    check_proxy_scheme,
    connect_timeout_message,
    may_resend,
    request_head,
    tls_failed,
    tunnel_reply_complete,
    tunnel_reply_error,
    tunnel_request,
)
from smruntime.http._connection import ClientConnection
from smruntime.http._dial import open_tcp, readable_now
from smruntime.http._events import NEED_DATA, Data, EndOfMessage, Response
from smruntime.http._parser import Limits

if TYPE_CHECKING:
    import ssl

__all__ = ["REARM_SLACK", "SyncPool", "SyncResponse"]

READ_SIZE = 64 * 1024
REARM_SLACK = 0.05
"""Seconds by which the time left may fall below the armed socket timeout before re-arming."""
_pools: weakref.WeakSet[SyncPool] = weakref.WeakSet()
_NO_HEADERS = HttpHeaders()
_HAS_POLL = hasattr(select, "poll")
_pid = os.getpid()
"""This process's id: set again by the at-fork hook in a child (a pool compares it with the pid
it was made in, with no system call per request)."""
_DIRECT_WRITE = os.name == "posix"  # a socket is a file descriptor there (not on Windows)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


class _Conn:
    """One socket, its protocol state and the socket timeout currently armed."""

    __slots__ = ("armed", "generation", "key", "pid", "poller", "proto", "sock", "uses")

    def __init__(self, sock: socket.socket, key: tuple[str, str, int], limits: object) -> None:
        self.sock = sock
        self.key = key
        self.pid = os.getpid()
        self.armed: Optional[float] = sock.gettimeout()
        self.uses = 0
        self.proto = _new_protocol(limits)
        self.poller: Optional[select.poll] = None  # the stale check's, made on first use
        self.generation = 0  # the pool's close() count when it was made (see _checkin)

    def arm(self, seconds: Optional[float]) -> None:
        self.sock.settimeout(seconds)
        self.armed = seconds

    def close(self) -> None:
        # Shut down first: it wakes a read blocked in another thread and makes sure the server
        # sees the disconnect. Never in a forked child: the TCP connection is the parent's too.
        if self.pid == os.getpid():
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass
        try:
            self.sock.close()
        except OSError:
            pass

    def is_dropped(self) -> bool:
        """True if the idle connection is closed or has bytes waiting (EOF, stray data)."""
        poller = self.poller
        if poller is None:
            if not _HAS_POLL:
                return readable_now(self.sock)
            poller = self.poller = select.poll()  # one per connection: registered once
            try:
                poller.register(self.sock, select.POLLIN)
            except (OSError, ValueError):
                return True
        try:
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True


def _new_protocol(limits: object) -> ClientConnection:
    if isinstance(limits, Limits):
        return ClientConnection(limits=limits)
    return ClientConnection()


class SyncPool:
    """Keep-alive connections of one client; :meth:`request` is thread-safe."""

    def __init__(self, config: WireConfig) -> None:
        self.config = config
        self._max_idle = max(0, config.max_pool_connections)
        self._ssl_ctx: Optional[ssl.SSLContext] = None  # made (certificate loaded) on first TLS use
        # close() calls so far: a connection made before the last one is closed when
        # released, not pooled; the client stays usable and pools what it makes after
        self._generation = 0
        self._routes = Routes(config.proxies)
        self._init_state()
        _pools.add(self)

    def _init_state(self) -> None:
        self._pid = _pid
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}

    def _after_fork(self) -> None:
        # The parent's sockets stay the parent's: forget them (their fds close in this process
        # only; nothing is sent on them).
        idle = [c for conns in self._idle.values() for c in conns]
        self._init_state()
        for conn in idle:
            try:
                conn.sock.close()
            except OSError:
                pass

    def _make_ssl_context(self) -> ssl.SSLContext:
        from smruntime.http._tls import ssl_context

        return ssl_context(self.config.tls)

    def _context(self) -> ssl.SSLContext:
        ctx = self._ssl_ctx
        if ctx is None:
            with self._lock:
                if self._ssl_ctx is None:
                    self._ssl_ctx = self._make_ssl_context()
                ctx = self._ssl_ctx
        return ctx

    # -- pool --------------------------------------------------------------------------------

    def _checkout(self, key: tuple[str, str, int]) -> Optional[_Conn]:
        if self._pid != _pid:
            self._after_fork()
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None:
                return None
            if not conn.is_dropped():
                return conn
            conn.close()

    def _checkin(self, conn: _Conn) -> None:
        # conn.pid == self._pid, without a getpid: the pool's pid is this process's (the
        # at-fork hook resets it in a child, and the module's _pid the pools compare with; a
        # pool whose pid is not that drops every idle connection unused at the next _checkout).
        if conn.generation == self._generation and conn.pid == self._pid:
            with self._lock:
                idle = self._idle.setdefault(conn.key, [])
                if len(idle) < self._max_idle:
                    idle.append(conn)
                    return
        conn.close()

    def close(self) -> None:
        """Close the idle connections (connections in use close when released)."""
        self._generation += 1
        if self._pid != _pid:
            self._after_fork()
            return
        with self._lock:
            idle = [c for conns in self._idle.values() for c in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()

    def idle_count(self) -> int:
        """Idle pooled connections (for tests and diagnostics)."""
        with self._lock:
            return sum(len(v) for v in self._idle.values())

    # -- connect -----------------------------------------------------------------------------

    def _connect(
        self, origin: Origin, proxy: Optional[Proxy], deadline: Deadline, url: str
    ) -> _Conn:
        where = origin.hostport + (f" through proxy {proxy.hostport}" if proxy else "")
        check_proxy_scheme(proxy, origin, url)
        host, port = (proxy.host, proxy.port) if proxy else (origin.host, origin.port)
        timeout, _ = deadline.remaining(time.monotonic())
        if timeout is not None and timeout <= 0:
            raise _connect_timeout(where, deadline, url)
        try:
            sock = open_tcp(host, port, None if timeout is None else time.monotonic() + timeout)
        except socket.timeout as exc:
            raise _connect_timeout(where, deadline, url) from exc
        except (OSError, ValueError, UnicodeError) as exc:
            raise EndpointConnectionError(
                f"could not connect to {where}: {_reason(exc)}", url=url, request_sent=False
            ) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.config.tcp_keepalive:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if proxy is not None and origin.scheme == "https":
                self._tunnel(sock, origin, proxy, deadline, url, where)
            if origin.scheme == "https":
                sock = self._handshake(sock, origin, deadline, url, where)
        except BaseException:
            sock.close()
            raise
        conn = _Conn(sock, origin.key, self.config.limits)
        conn.generation = self._generation
        return conn

    def _tunnel(
        self,
        sock: socket.socket,
        origin: Origin,
        proxy: Proxy,
        deadline: Deadline,
        url: str,
        where: str,
    ) -> None:
        head = tunnel_request(origin, proxy)
        buf = bytearray()  # (appended to in place: a dripped answer is not copied per piece)
        try:
            _settimeout_left(sock, deadline, where, url)
            sock.sendall(head)
            data = b""
            while not tunnel_reply_complete(buf, len(data)):
                _settimeout_left(sock, deadline, where, url)
                data = sock.recv(4096)
                if not data:
                    break
                buf += data
        except socket.timeout as exc:
            raise _connect_timeout(where, deadline, url) from exc
        except OSError as exc:
            raise EndpointConnectionError(
                f"could not connect to {where}: {_reason(exc)}", url=url, request_sent=False
            ) from exc
        problem = tunnel_reply_error(buf, origin, proxy)
        if problem is not None:
            raise EndpointConnectionError(problem, url=url, request_sent=False)

    def _handshake(
        self, sock: socket.socket, origin: Origin, deadline: Deadline, url: str, where: str
    ) -> socket.socket:
        import ssl

        from smruntime.http._tls import wrap_socket

        ctx = self._context()
        try:
            tls = wrap_socket(ctx, sock, server_hostname=origin.host, do_handshake_on_connect=False)
        except (OSError, ValueError) as exc:
            raise EndpointConnectionError(
                f"TLS setup with {where} failed: {_reason(exc)}", url=url, request_sent=False
            ) from exc
        try:
            tls.setblocking(False)
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    wait_read = True
                except ssl.SSLWantWriteError:
                    wait_read = False
                left, _ = deadline.remaining(time.monotonic())
                if left is not None and left <= 0:
                    raise _connect_timeout(where, deadline, url)
                r, w, _ = select.select(
                    [tls] if wait_read else [], [] if wait_read else [tls], [], left
                )
                if not r and not w:
                    raise _connect_timeout(where, deadline, url)
            tls.setblocking(True)
        except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
            tls.close()
            raise tls_failed(where, exc, url) from exc
        except BaseException:
            tls.close()
            raise
        return tls

    # -- request -----------------------------------------------------------------------------

    def send(self, request: HttpRequest, *, deadlines: Deadlines) -> SyncResponse:
        """Send ``request``; return after the response head (see the module docstring)."""
        return self._exchange(request.method, request.url, request.headers, request.body, deadlines)

    def request(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes = b"",
        *,
        deadlines: Deadlines,
    ) -> SyncResponse:
        """Send one request and read the response head (1xx skipped)."""
        return self._exchange(method, url, headers, body, deadlines)

    def _exchange(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        deadlines: Deadlines,
    ) -> SyncResponse:
        now = time.monotonic()
        deadline = Deadline(deadlines, now)  # (deadlines.start(now), one call less)
        try:
            origin, proxy, shown = self._routes.of(url)
        except ValueError as exc:
            raise TransportError(
                f"invalid request: {exc}", url=redact_url(url), request_sent=False
            ) from exc
        method = method.upper()
        target, out_headers = request_head(origin, proxy, method, url, headers, body)

        conn = self._checkout(origin.key)
        reused = conn is not None
        while True:
            if conn is None:
                conn = self._connect(origin, proxy, deadline, shown)
                now = time.monotonic()
            deadline.sent(now)  # (= deadline.connected(now): the request is being written)
            conn.uses += 1
            try:
                wire = conn.proto.send_request(method, target, out_headers, body)
            except (TransportError, ValueError) as exc:
                self._release(conn, False)
                raise TransportError(
                    f"invalid request: {exc}", url=shown, request_sent=False
                ) from exc
            try:
                self._write(conn, wire, body, deadline, now, origin, shown)
            except _WriteFailed as failed:
                early = self._early_response(conn, failed, deadline, origin, shown, method)
                if early is not None:
                    return early
                conn.close()
                conn = None
                if may_resend(reused=reused, written=False, response_started=False, method=method):
                    reused = False  # the server had closed it before our bytes: once more
                    continue
                raise failed.error from failed.error.__cause__
            except BaseException:
                conn.close()  # interrupted (Ctrl-C) mid-write: never reused nor left to the GC
                raise
            deadline.sent(time.monotonic())
            response = SyncResponse(self, conn, deadline, origin, shown, method)
            try:
                response._read_head()
            except _StaleConnection as stale:
                conn.close()
                conn = None
                if may_resend(reused=reused, written=True, response_started=False, method=method):
                    reused = False
                    continue
                raise stale.error from stale.error.__cause__
            except BaseException as exc:
                if not isinstance(exc, Exception):  # (errors: the response closed it)
                    # interrupted waiting for the head: never reused. Through the response,
                    # which holds the connection only until a whole answer pools it.
                    response.abort()
                raise
            return response

    def _early_response(
        self,
        conn: _Conn,
        failed: _WriteFailed,
        deadline: Deadline,
        origin: Origin,
        url: str,
        method: str,
    ) -> Optional[SyncResponse]:
        """The answer a server sent before it stopped reading our request (a 413 for a body
        over its limit, then a close that broke our write), when one waits in the socket: the
        caller gets the server's error, not a broken pipe. None if there is none."""
        if isinstance(failed.error.__cause__, socket.timeout) or not readable_now(conn.sock):
            return None
        response = SyncResponse(self, conn, deadline, origin, url, method)
        response._request_cut = True  # never pooled: the request was not all sent
        try:
            response._read_head()
        except (TransportError, _StaleConnection):
            return None  # (an EOF, a reset, half a head: the write's error stands)
        return response

    def _write(
        self,
        conn: _Conn,
        wire: bytes,
        body: bytes,
        deadline: Deadline,
        now: float,
        origin: Origin,
        url: str,
    ) -> None:
        try:
            left, phase = deadline.remaining(now)
            if left is not None and left <= 0:
                raise socket.timeout(f"{phase} deadline passed")
            armed = conn.armed
            # Re-armed only when the time left is clearly shorter (the deadline must hold) or much
            # longer (no early timeout) than what the socket has: most requests change nothing.
            if left is None:
                if armed is not None:
                    conn.arm(None)
            elif armed is None or left < armed - REARM_SLACK or left > 2 * armed + 1:
                conn.arm(left)
            _send_all(conn, wire)
            if conn.proto.body_separate:  # (a small body was joined to the head)
                conn.sock.sendall(body)
        except socket.timeout as exc:
            raise _WriteFailed(
                ConnectionClosedError(
                    f"the connection to {origin.hostport} timed out while sending the request",
                    url=url,
                    request_sent=False,
                )
            ) from exc
        except (OSError, ValueError) as exc:
            error = ConnectionClosedError(
                f"the connection to {origin.hostport} broke while sending the request: "
                f"{_reason(exc)}",
                url=url,
                request_sent=False,
            )
            error.__cause__ = exc
            raise _WriteFailed(error) from exc

    def _release(self, conn: _Conn, reusable: bool) -> None:
        if reusable:
            self._checkin(conn)
        else:
            conn.close()

    def __enter__(self) -> SyncPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SyncPool(verify={self.config.tls.verify!r})"


def _send_all(conn: _Conn, wire: bytes) -> None:
    """``sendall`` without the poll a socket with a timeout makes before each send: a plain
    socket with a timeout is non-blocking underneath, so a direct write either takes the bytes
    at once or says it would block; the rest goes through ``sendall`` (and its timeout)."""
    sock = conn.sock
    if not _DIRECT_WRITE or conn.armed is None or type(sock) is not socket.socket:
        sock.sendall(wire)  # TLS (the bytes must be encrypted), blocking mode, or not POSIX
        return
    try:
        sent = os.write(sock.fileno(), wire)
    except BlockingIOError:
        sent = 0
    if sent < len(wire):
        sock.sendall(memoryview(wire)[sent:])


class _WriteFailed(Exception):
    def __init__(self, error: TransportError) -> None:
        super().__init__(str(error))
        self.error = error


class _StaleConnection(Exception):
    def __init__(self, error: TransportError) -> None:
        super().__init__(str(error))
        self.error = error


def _connect_timeout(where: str, deadline: Deadline, url: str) -> ConnectTimeoutError:
    _, phase = deadline.remaining(time.monotonic())
    return ConnectTimeoutError(
        connect_timeout_message(where, deadline, phase), url=url, request_sent=False
    )


def _settimeout_left(sock: socket.socket, deadline: Deadline, where: str, url: str) -> None:
    left, _ = deadline.remaining(time.monotonic())
    if left is not None and left <= 0:
        raise _connect_timeout(where, deadline, url)
    sock.settimeout(left)


class SyncResponse(BodyReader):
    """A response whose head has arrived; the body is read on demand.

    ``read_some()`` returns the next body bytes (every byte one socket read completed) and
    ``b""`` at the end. A reusable connection goes back to the pool at the end of the message:
    for a ``Content-Length`` body, as soon as its last byte is in (with the head, when it came
    in the same read, or with the read that completed it), whether or not the caller read it
    yet. ``close()`` before that drops the connection; ``abort()`` drops it unless it was
    handed back. Not for use from two threads at once, except ``close``/``abort``, which wake
    a read blocked in another thread.
    """

    # What a response starts with, as class attributes (one response is made per call, and
    # each of these is set on it only when it changes).
    _done = False
    _closed = False
    _explicit = False  # set_read_timeout was called: the caller moves the deadline
    _eof = False
    _received = 0
    _request_cut = False  # an answer read after our request broke off: never pooled
    _buffer: Optional[bytes] = None
    status = 0
    reason = ""
    http_version = "1.1"
    headers: HttpHeaders = _NO_HEADERS

    def __init__(
        self,
        pool: SyncPool,
        conn: _Conn,
        deadline: Deadline,
        origin: Origin,
        url: str,
        method: str,
    ) -> None:
        self._pool = pool
        self._conn: Optional[_Conn] = conn
        self.deadline = deadline
        self._origin = origin
        self._url = url
        self._method = method
        self._pending: list[bytes] = []
        self._held = [conn]  # _take pops it: one atomic list.pop, whichever thread comes first

    def __repr__(self) -> str:
        return f"<SyncResponse {self.status} {self.reason!r} from {self._origin.hostport}>"

    # -- reading -----------------------------------------------------------------------------

    def _recv(self, conn: _Conn) -> bytes:
        """One socket read under the current deadline; b"" at EOF."""
        deadline = self.deadline
        while True:
            now = time.monotonic()
            left, phase = deadline.remaining(now)
            if left is not None and left <= 0:
                raise self._timeout(phase, now)
            armed = conn.armed
            if left is None:
                if armed is not None:
                    conn.arm(None)
            elif armed is None or left < armed - REARM_SLACK:
                conn.arm(left)
            try:
                return conn.sock.recv(READ_SIZE)
            except socket.timeout as exc:
                if self._closed:
                    raise self._closed_error(None) from exc
                now = time.monotonic()
                left, phase = deadline.remaining(now)
                if left is not None and left <= 0.001:
                    raise self._timeout(phase, now) from exc
                conn.arm(left)  # armed for longer than the deadline had left: wait the rest

    def _timeout(self, phase: str, now: float) -> ReadTimeoutError:
        deadline = self.deadline
        elapsed = now - deadline.started
        hostport = self._origin.hostport
        if phase == PHASE_TOTAL:
            limit = deadline.limits.total
            what = f"the total deadline of {limit:g} s passed"
        elif phase == PHASE_HEADERS:
            limit = deadline.limit_of_phase()
            what = f"no complete response head within {_secs(limit)}"
        elif phase == PHASE_CONNECT:
            limit = deadline.limit_of_phase()
            what = f"the request was not sent within {_secs(limit)}"
        else:
            limit = deadline.limit_of_phase()
            what = f"no body bytes within the read timeout of {_secs(limit)}"
        self.abort()
        return ReadTimeoutError(
            f"{what} from {hostport} ({self._received} body bytes, {elapsed:.2f} s elapsed)",
            phase=phase,
            timeout=limit,
            elapsed=elapsed,
            url=self._url,
        )

    def _read_head(self) -> None:
        conn = self._conn
        assert conn is not None
        proto = conn.proto
        reader = proto.reader  # (the request's: its bytes and events go to it directly)
        assert reader is not None
        reused = conn.uses > 1
        event: object = NEED_DATA  # the request was just sent: nothing to parse before a read
        while True:
            try:
                if event is NEED_DATA:
                    try:
                        data = self._recv(conn)
                    except ReadTimeoutError:
                        raise
                    except (OSError, ValueError) as exc:
                        self.abort()
                        error = self._broken_head(exc)
                        if reused and not reader.response_started:
                            raise _StaleConnection(error) from exc
                        raise error from exc
                    if not data and reused and not reader.response_started:
                        self.abort()
                        raise _StaleConnection(self._broken_head(None))
                    reader.receive_data(data)
                event = reader.next_event()
                if event is NEED_DATA:
                    continue
            except RemoteProtocolError as exc:
                self.abort()
                if not reader.response_started:
                    raise self._broken_head(exc) from exc
                exc.url = self._url
                raise
            if isinstance(event, Response):
                self.status = event.status
                self.reason = event.reason
                self.http_version = event.http_version
                self.headers = HttpHeaders.of_str_pairs(event.headers)
                rest = reader.take_rest()
                if rest is None:
                    self.deadline.progress(time.monotonic())  # (body_started, one call less)
                    return
                # The whole body came with the head: the connection goes back to the pool now.
                self._received = len(rest)
                if rest:
                    self._pending.append(rest)
                self._finish(proto.reusable)
                return
            if isinstance(event, Data):  # pragma: no cover - the protocol gives Response first
                self._pending.append(event.data)

    def _broken_head(self, exc: Optional[BaseException]) -> ConnectionClosedError:
        detail = f": {_reason(exc)}" if exc is not None else ""
        return ConnectionClosedError(
            f"the connection to {self._origin.hostport} closed before the response arrived"
            + detail,
            url=self._url,
        )

    def read_some(self) -> bytes:
        """The next body bytes (``b""`` once the body is complete)."""
        if self._pending:
            return self._pending.pop(0)
        if self._done:
            return b""
        conn = self._conn
        if conn is None or self._closed:
            raise self._closed_error(None)
        proto = conn.proto
        reader = proto.reader
        assert reader is not None
        if not self._explicit:
            # The limit counts from now if the caller comes back later than the last bytes:
            # a reader slower than the timeout is not a slow server.
            self.deadline.progress(time.monotonic())
        try:
            while True:
                event = reader.next_event()
                if event is NEED_DATA:
                    try:
                        data = self._recv(conn)
                    except (OSError, ValueError) as exc:
                        if self._closed:
                            raise self._closed_error(None) from exc
                        self.abort()
                        raise self._closed_error(exc) from exc
                    if self._closed:
                        raise self._closed_error(None)
                    if not data:
                        self._eof = True
                    reader.receive_data(data)
                    continue
                if isinstance(event, Data):
                    chunk = event.data
                    if not chunk:
                        continue
                    self._received += len(chunk)
                    if reader.take_rest() is not None:  # the last bytes of a sized body
                        self._finish(proto.reusable)
                    elif not self._explicit:
                        self.deadline.progress(time.monotonic())
                    return chunk
                if isinstance(event, EndOfMessage):
                    self._finish(proto.reusable)
                    return b""
        except RemoteProtocolError as exc:
            if self._closed:
                raise self._closed_error(None) from exc
            self.abort()
            exc.url = self._url
            if self._eof:
                raise ConnectionClosedError(
                    f"the connection to {self._origin.hostport} closed before the end of the "
                    f"body (after {self._received} body bytes): {exc}",
                    url=self._url,
                ) from exc
            raise

    def _hostport(self) -> str:
        return self._origin.hostport

    def _reason(self, exc: BaseException) -> str:
        return _reason(exc)

    def set_read_timeout(self, seconds: Optional[float]) -> None:
        """From now on, the body reads (until the next call) must end within ``seconds``
        (the total deadline still applies); ``None``: no limit but the total."""
        self._explicit = True
        self.deadline.progress(time.monotonic(), seconds)

    # -- lifecycle ---------------------------------------------------------------------------

    def _take(self) -> Optional[_Conn]:
        try:
            conn = self._held.pop()
        except IndexError:  # taken already (by the other thread, when two race)
            return None
        self._conn = None
        return conn

    def _finish(self, reusable: bool) -> None:
        self._done = True
        try:
            conn = self._held.pop()  # (self._take(), inline)
        except IndexError:
            return
        self._conn = None
        if reusable and not self._closed and not self._request_cut:
            self._pool._checkin(conn)
        else:
            conn.close()

    def abort(self) -> None:
        """Drop the connection (wakes a read blocked in another thread)."""
        self._closed = True
        conn = self._take()
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Pool the connection if the body was read to its end, else drop it."""
        if self._done:
            return
        self.abort()

    @property
    def closed(self) -> bool:
        return self._closed or self._done

    def __enter__(self) -> SyncResponse:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()


def _secs(limit: Optional[float]) -> str:
    return "no limit" if limit is None else f"{limit:g} s"


def _reinit_after_fork() -> None:
    global _pid
    _pid = os.getpid()
    for pool in list(_pools):
        pool._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
