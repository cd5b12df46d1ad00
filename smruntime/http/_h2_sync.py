"""The blocking HTTP/2 driver: one request stream on its own connection, sending and
receiving at once.

Why one I/O thread per connection: the :class:`~smruntime.http._h2.H2ClientStream` state is
shared under one lock, and the I/O thread waits on the socket and on a wake-up pipe together.
It answers SETTINGS and PING, takes WINDOW_UPDATEs and keeps writing queued input whatever the
caller is doing: a send never waits for the caller to read, a read never waits for the caller
to send. A caller's thread that queues input (or takes received data) frames it and writes it
to the non-blocking socket itself, under the lock, so the common case needs no thread
hand-over; whatever the socket or the windows do not take at once is left to the I/O thread.
The two bounded hand-overs:

- input: :meth:`SyncH2Stream.write` queues bytes and returns at once while fewer than
  ``max_send_buffer`` bytes wait; beyond that it blocks until the I/O thread has moved them
  into HTTP/2 frames, which it does only as far as the server's flow-control windows allow.
  A server that stops reading therefore stops the sender, with at most ``max_send_buffer``
  plus one message held here.
- output: received DATA waits in a queue until :meth:`SyncH2Stream.read` takes it; only then
  is it acknowledged to the server, so the queue never holds more than the receive window.

Deadlines are the caller's (``timeout`` arguments, in seconds): the I/O thread itself never
times out, and closing the stream wakes it so it ends at once.
"""

from __future__ import annotations

import selectors
import socket
import ssl
import threading
import time
from collections import deque
from typing import Optional

from smruntime.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    SMRuntimeError,
)
from smruntime.http import _h2, _tls, _tunnel
from smruntime.http._config import (
    Origin,
    WireConfig,
    check_proxy_scheme,
    format_hostport,
    origin_of,
    tls_failed,
)
from smruntime.http._dial import open_tcp

__all__ = ["DEFAULT_MAX_SEND_BUFFER", "SyncH2Stream", "open_stream"]

DEFAULT_MAX_SEND_BUFFER = 256 * 1024
"""Input bytes a sender may queue ahead of the I/O thread before :meth:`write` blocks."""

_READ_SIZE = 256 * 1024
# Reads go into one buffer per connection, handed to the protocol as a view (it copies out
# what it keeps): recv() of a fresh 256 KiB object that then takes 64 KiB costs ten times the
# copy (the allocator maps, faults in and trims a large block on every call).
_READS_PER_TURN = 8
_FLUSH_LIMIT = 1.0  # seconds spent writing a final RST_STREAM/GOAWAY to a peer not reading
_WOULD_BLOCK = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def _remaining(deadline: Optional[float]) -> Optional[float]:
    return None if deadline is None else deadline - time.monotonic()


def _connect_socket(
    url: str, origin: Origin, *, connect_timeout: Optional[float], wire: WireConfig
) -> tuple[socket.socket, bytes]:
    """TCP (through a CONNECT tunnel when a proxy applies), then TLS with ALPN ``h2`` for
    https; blocking, all within ``connect_timeout``. Also returns the bytes the server sent
    through the tunnel along with the proxy's reply."""
    deadline = None if connect_timeout is None else time.monotonic() + connect_timeout
    early = b""
    host, port = origin.host, origin.port
    proxy = wire.proxies.for_origin(origin.scheme, host, port)
    check_proxy_scheme(proxy, origin, url)
    where = (proxy.host, proxy.port) if proxy else (host, port)

    def left() -> Optional[float]:
        rest = _remaining(deadline)
        if rest is not None and rest <= 0:
            raise socket.timeout("connect deadline")
        return rest

    def timed_out(exc: BaseException) -> ConnectTimeoutError:
        err = ConnectTimeoutError(
            f"connecting to {format_hostport(*where)} took longer than {connect_timeout} s",
            url=url,
            request_sent=False,
        )
        err.__cause__ = exc
        return err

    try:
        sock = open_tcp(where[0], where[1], deadline)  # name resolution within it too
    except socket.timeout as exc:
        raise timed_out(exc) from exc
    except OSError as exc:
        raise EndpointConnectionError(
            f"could not connect to {format_hostport(*where)}: {exc}", url=url, request_sent=False
        ) from exc
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if wire.tcp_keepalive:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if proxy:
            sock.settimeout(left())
            sock.sendall(_tunnel.connect_request(origin, proxy))
            buf = bytearray()  # (appended to in place: a dripped answer is not copied per piece)
            while True:
                sock.settimeout(left())
                chunk = sock.recv(4096)
                if not chunk:
                    raise _tunnel.proxy_closed(buf, origin, proxy, url)
                buf += chunk
                end = _tunnel.parse_connect_reply(buf, origin, proxy, url, len(chunk))
                if end is not None:
                    early = bytes(buf[end:])  # the server spoke first (h2c: its SETTINGS)
                    if early and origin.scheme == "https":
                        raise EndpointConnectionError(
                            f"the proxy {proxy.hostport} sent bytes before the TLS handshake",
                            url=url,
                            request_sent=False,
                        )
                    break
        if origin.scheme == "https":
            ctx = _tunnel.h2_ssl_context(wire.tls)
            sock.settimeout(left())
            sock = _tls.wrap_socket(ctx, sock, server_hostname=host)
            _tunnel.alpn_check(sock.selected_alpn_protocol(), url)
    except socket.timeout as exc:
        sock.close()
        raise timed_out(exc) from exc
    except SMRuntimeError:
        sock.close()
        raise
    except OSError as exc:  # ssl.SSLError included
        sock.close()
        if isinstance(exc, ssl.SSLError):
            raise tls_failed(origin.hostport, exc, url) from exc
        raise EndpointConnectionError(
            f"could not open HTTP/2 to {origin.hostport}: {exc}", url=url, request_sent=False
        ) from exc
    except BaseException:
        sock.close()  # interrupted (Ctrl-C) while connecting
        raise
    sock.setblocking(False)
    return sock, early


def open_stream(
    url: str,
    method: str,
    headers: list[tuple[str, str]],
    *,
    wire: Optional[WireConfig] = None,
    connect_timeout: Optional[float] = None,
    receive_window: int = _h2.DEFAULT_RECEIVE_WINDOW,
    max_send_buffer: int = DEFAULT_MAX_SEND_BUFFER,
) -> SyncH2Stream:
    """Connect to ``url`` and start its request (HEADERS sent, input open)."""
    try:
        origin = origin_of(url)
    except ValueError as exc:
        raise EndpointConnectionError(str(exc), url=url, request_sent=False) from None
    proto = _h2.H2ClientStream(receive_window=receive_window, url=url)  # ImportError first
    sock, early = _connect_socket(
        url, origin, connect_timeout=connect_timeout, wire=wire or WireConfig()
    )
    try:
        proto.start(method, origin.scheme, origin.host_header, origin.target, headers)
        first = proto.receive(early) if early else []
        return SyncH2Stream(sock, proto, url=url, max_send_buffer=max_send_buffer, first=first)
    except BaseException:
        sock.close()  # (the stream's I/O thread, once started, owns it)
        raise


class SyncH2Stream:
    """A started HTTP/2 request stream and the I/O thread that drives its connection."""

    def __init__(
        self,
        sock: socket.socket,
        proto: _h2.H2ClientStream,
        *,
        url: str,
        max_send_buffer: int = DEFAULT_MAX_SEND_BUFFER,
        first: Optional[list[_h2.H2Event]] = None,
    ) -> None:
        self.url = url
        self._sock = sock
        self._proto = proto
        self._max_send = max_send_buffer
        self._lock = threading.Lock()
        self._readable = threading.Condition(self._lock)
        self._writable = threading.Condition(self._lock)
        self._out: deque[bytes] = deque()
        self._out_bytes = 0
        self._out_view: Optional[memoryview] = None  # the head of _out being framed
        self._end_requested = False
        self._reset_requested = False
        self._reset_done = False
        self._in: deque[_h2.H2Event] = deque()
        self._done = False  # the I/O thread has finished
        self._error: Optional[SMRuntimeError] = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wake_sent = False
        # bytes to write, in order; sliced, never joined. Whoever holds the lock writes them
        # (the caller's thread right after framing its input, or the I/O thread), so a send
        # needs no hand-over; what the socket does not take at once waits for the I/O thread.
        self._pending: deque[memoryview] = deque()
        self._finishing = False  # the exchange is over: the I/O thread flushes and ends
        self.response: Optional[_h2.Response] = None
        for event in first or ():  # what came in with the proxy's reply
            self._in.append(event)
            if isinstance(event, _h2.Failed):
                self._error = event.error
        self._thread = threading.Thread(target=self._run, name="smruntime-h2-io", daemon=True)
        try:
            self._thread.start()
        except BaseException:
            self._wake_r.close()
            self._wake_w.close()
            raise

    # -- the caller's side -------------------------------------------------------------------

    def _drive_locked(self) -> None:
        """Frame queued input and acknowledgements and write them, in the calling thread
        (under ``self._lock``). The I/O thread is woken only when it has work: the socket did
        not take everything (it waits for writability) or the exchange is over."""
        if self._done or self._finishing or self._reset_requested:
            return
        if self._step_locked(self._proto):
            self._finishing = True
        if not self._flush_locked() or self._finishing:
            self._wake()

    def _flush_locked(self) -> bool:
        """Write what HTTP/2 has to send without blocking; True if nothing is left over.
        A socket error is left for the I/O thread, which meets it on its own write."""
        more = self._proto.data_to_send()
        pending = self._pending
        if more:
            pending.append(memoryview(more))
        sock = self._sock
        while pending:
            try:
                sent = sock.send(pending[0])
            except _WOULD_BLOCK:
                return False
            except OSError:
                return False
            if sent == len(pending[0]):
                pending.popleft()
            else:
                pending[0] = pending[0][sent:]
                return False
        return True

    def _wake(self) -> None:
        # under self._lock
        if not self._wake_sent:
            self._wake_sent = True
            try:
                self._wake_w.send(b"\0")
            except OSError:
                pass

    def write(
        self,
        data: bytes,
        timeout: Optional[float] = None,
        last: bool = False,
        until: Optional[float] = None,
    ) -> None:
        """Queue ``data`` for sending; blocks (at most ``timeout`` seconds of no progress, and
        never past ``until``, a ``time.monotonic()`` deadline) while ``max_send_buffer`` bytes
        already wait. Raises the stream's error once it has failed,
        :class:`~smruntime.exceptions.InputClosedError` after :meth:`end_input`.
        ``last``: the input ends with ``data``, as :meth:`end_input` after it, but its
        END_STREAM goes out in the same write."""
        if not data:
            if last:
                self.end_input()
            return
        with self._lock:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                self._check_writable()
                if self._out_bytes < self._max_send:
                    break
                rest = _remaining(deadline)
                if rest is not None and rest <= 0:
                    raise _h2.idle_write_error(timeout, self._out_bytes, self.url)
                rest, _ = _h2.write_wait(rest, until, time.monotonic(), self._out_bytes, self.url)
                before = self._out_bytes
                self._writable.wait(rest)
                if self._out_bytes < before and timeout is not None:
                    deadline = time.monotonic() + timeout  # progress: the wait starts over
            self._out.append(data)
            self._out_bytes += len(data)
            if last:
                self._end_requested = True
            self._drive_locked()

    def _check_writable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._end_requested or self._reset_requested:
            from smruntime.exceptions import InputClosedError

            raise InputClosedError("the input side of the HTTP/2 stream is already closed")
        if self._done:
            raise ConnectionClosedError("the HTTP/2 connection is closed", url=self.url)

    def end_input(self) -> None:
        """Send END_STREAM once the queued input has gone out."""
        with self._lock:
            self._check_writable()
            self._end_requested = True
            self._drive_locked()

    def pending_input(self) -> int:
        """Input bytes queued here, not yet framed."""
        with self._lock:
            return self._out_bytes

    def next_event(self, timeout: Optional[float] = None) -> Optional[_h2.H2Event]:
        """The next event (Data coalesced: all the body bytes received so far), or None if
        none arrived within ``timeout`` seconds. Taking Data acknowledges it."""
        with self._lock:
            if not self._in:
                if not self._readable.wait_for(lambda: bool(self._in) or self._done, timeout):
                    return None
                if not self._in:
                    return _h2.Failed(
                        self._error
                        or ConnectionClosedError("the HTTP/2 stream is closed", url=self.url)
                    )
            event = _h2.take_event(self._in)
            if isinstance(event, _h2.Data):
                if self._proto.consumed(event.flow):  # a WINDOW_UPDATE to send
                    self._drive_locked()
            elif isinstance(event, _h2.Response):
                self.response = event
            return event

    def reset(self) -> None:
        """Abandon the exchange: RST_STREAM(CANCEL) unless it is over, then close."""
        with self._lock:
            if not self._done:
                self._reset_requested = True
                self._wake()
            self._writable.notify_all()
        self._thread.join(5.0)
        self._close_socket()

    close = reset

    def abandon(self) -> None:
        """:meth:`reset` without waiting for the I/O thread (for finalizers)."""
        if self._lock.acquire(blocking=False):
            try:
                if not self._done:
                    self._reset_requested = True
                    self._wake()
            finally:
                self._lock.release()
        else:  # the flag alone: the I/O thread sees it on its next turn
            self._reset_requested = True
            try:
                self._wake_w.send(b"\0")
            except OSError:
                pass

    @property
    def finished(self) -> bool:
        """The I/O thread has ended (the exchange is over, failed or reset)."""
        return self._done

    # -- the I/O thread ----------------------------------------------------------------------

    def _run(self) -> None:
        proto = self._proto
        sock = self._sock
        sel = selectors.DefaultSelector()
        pending = self._pending
        give_up: Optional[float] = None  # once finished: how long we try to flush the rest
        buf = memoryview(bytearray(_READ_SIZE))
        try:
            sel.register(sock, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            want_write = False
            while True:
                with self._lock:
                    finish = self._step_locked(proto) or self._finishing
                    self._finishing = finish
                    more = proto.data_to_send()
                    if more:
                        pending.append(memoryview(more))
                    while pending:
                        try:
                            sent = sock.send(pending[0])
                        except _WOULD_BLOCK:
                            break
                        if sent == len(pending[0]):
                            pending.popleft()
                        else:
                            pending[0] = pending[0][sent:]
                            break
                    if len(pending) > 1:  # (a backlog: is it answers that grow for ever?)
                        flood = proto.backlog(sum(map(len, pending)), self._max_send)
                        if flood and proto.failed is not None:
                            pending.clear()  # nothing of it will be read
                            self._in.extend(flood)
                            self._fail(proto.failed, queued=True)
                            self._readable.notify_all()
                            finish = self._finishing = True
                    left = bool(pending)
                if finish and not left:
                    break
                if finish:
                    now = time.monotonic()
                    if give_up is None:
                        give_up = now + _FLUSH_LIMIT
                    elif now >= give_up:
                        break
                if left != want_write:
                    want_write = left
                    mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if want_write else 0)
                    sel.modify(sock, mask)
                for key, mask in sel.select(None if not finish else 0.1):
                    if key.fileobj is self._wake_r:
                        try:
                            self._wake_r.recv(4096)
                        except _WOULD_BLOCK:
                            pass
                        with self._lock:
                            self._wake_sent = False
                    elif mask & selectors.EVENT_READ:
                        self._read(sock, proto, buf)
        except OSError as exc:
            with self._lock:
                self._fail(
                    ConnectionClosedError(
                        f"the HTTP/2 connection to {self.url} broke{proto.where()}: {exc}",
                        url=self.url,
                    ),
                    exc,
                )
        except SMRuntimeError as exc:  # the stream's error, raised by a send
            with self._lock:
                self._fail(exc)
        except Exception as exc:  # noqa: BLE001 - never leave waiters on a dead thread
            with self._lock:
                self._fail(
                    ConnectionClosedError(
                        f"the HTTP/2 I/O thread failed: {type(exc).__name__}: {exc}",
                        url=self.url,
                    ),
                    exc,
                )
        finally:
            sel.close()
            with self._lock:
                self._done = True
                self._readable.notify_all()
                self._writable.notify_all()
            self._close_socket()

    def _step_locked(self, proto: _h2.H2ClientStream) -> bool:
        """Move input into frames as flow control allows, acknowledge taken data; True once
        the exchange is over (after what is pending has been written)."""
        if self._reset_requested:
            if not self._reset_done:
                self._reset_done = True
                proto.reset()
            return True
        moved = False
        try:
            while self._out and proto.failed is None:
                if self._out_view is None:
                    self._out_view = memoryview(self._out[0])
                taken = proto.send(self._out_view)
                if not taken:
                    break
                moved = True
                self._out_bytes -= taken
                self._out_view = self._out_view[taken:]
                if not len(self._out_view):
                    self._out.popleft()
                    self._out_view = None
            if self._end_requested and not self._out and not proto.input_closed:
                proto.end_input()
        except SMRuntimeError:
            pass  # recorded as proto.failed: handled below
        if moved:
            self._writable.notify_all()
        if proto.failed is not None:
            self._fail(proto.failed)
            return True
        return proto.ended and proto.input_closed

    def _read(self, sock: socket.socket, proto: _h2.H2ClientStream, buf: memoryview) -> None:
        for _ in range(_READS_PER_TURN):
            # Under the lock, as every use of the socket and of the HTTP/2 state: the callers'
            # threads write on it too (and a TLS socket takes one thread at a time).
            with self._lock:
                try:
                    data = buf[: sock.recv_into(buf)]  # a view: receive() keeps none of it
                except _WOULD_BLOCK:
                    return
                events = proto.receive(data)
                if events:
                    self._in.extend(events)
                    for event in events:
                        if isinstance(event, _h2.Failed):
                            self._fail(event.error, queued=True)
                    self._readable.notify_all()
            if not len(data) or proto.failed is not None:
                return

    def _fail(
        self, error: SMRuntimeError, cause: Optional[BaseException] = None, queued: bool = False
    ) -> None:
        # under self._lock
        if self._error is not None:
            return
        if cause is not None and error.__cause__ is None:
            error.__cause__ = cause
        self._error = error
        if not queued:
            self._in.append(_h2.Failed(error))
        self._out.clear()
        self._out_bytes = 0
        self._readable.notify_all()
        self._writable.notify_all()

    def _close_socket(self) -> None:
        for s in (self._sock, self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass
