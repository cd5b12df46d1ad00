"""The asyncio driver: :class:`~smruntime.http.ClientConnection` over asyncio transports.

No thread and no ``StreamReader``: each connection is an :class:`asyncio.BufferedProtocol`
whose ``buffer_updated`` gives the bytes read to the pure protocol at once and wakes the one
reader waiting (one future per wait) when there is something for it: the head, body bytes,
the end, an error, or its deadline. Body bytes are queued for the reader
(:meth:`AsyncResponse.read_nowait`) or, once it asked for that (:meth:`AsyncResponse.deliver_to`:
the event stream's core), handed to its sink as they are decoded, so an event is decoded in the
callback and the woken task only takes it: one pass over each event's bytes, no queue between
the layers (the cost is the same whichever task pays it; what moves into the callback is the
work the reader's turn did right after it).

- Connect (TCP, then TLS with :func:`smruntime.http._tls.ssl_context`, the blocking driver's
  recipe), through an HTTP proxy when :class:`~smruntime.http._config.Proxies` says so: plain
  HTTP with an absolute target, HTTPS through ``CONNECT`` and ``loop.start_tls`` on the tunnel.
- Deadlines (:class:`~smruntime.http._config.Deadline`, monotonic): connect, the header block,
  between reads (or the caller's own deadline, the stream's per-event one), total. One timer
  per connection, moved lazily: a deadline that only moves later (progress) re-arms nothing;
  the timer, when it fires early, re-arms itself at the current deadline.
- Flow control: at most :data:`READ_SIZE` bytes are read per ``recv`` and reading pauses once
  :data:`HIGH_WATER` body bytes wait for the consumer (queued, or given to its sink since it
  last asked for more), so a lagging consumer holds at most about 16 KiB per stream beyond the
  kernel's socket buffer; TCP back-pressure does the rest.
- Pool: idle keep-alive connections per (scheme, host, port), per event loop (a loop's
  transports cannot serve another loop), discarded in a forked child (pid check). A connection
  is pooled again only when its response was read to the end and is reusable. At checkout, one
  the server closed while it was idle is dropped unused (lost, closing, or an EOF waiting in
  its socket that the loop has not yet seen), so the request goes on a fresh connection; one
  that ends after our write with no response byte follows
  :func:`~smruntime.http._config.may_resend`, as in the blocking driver (a POST is not sent
  twice: the server may have read it).
- Name resolution is part of ``loop.create_connection``, awaited within the connect deadline
  like the rest of the connect: the deadline bounds it (the resolver's executor thread is left
  to finish on its own).
- Cancellation: a task cancelled while it waits (connect, headers, body) closes the connection.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Optional, cast

from smruntime._http import HttpHeaders
from smruntime.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    RemoteProtocolError,
    TransportError,
)
from smruntime.http._config import (
    PHASE_BETWEEN,
    PHASE_TOTAL,
    Deadline,
    Deadlines,
    Origin,
    Proxy,
    Routes,
    WireConfig,
    check_proxy_scheme,
    connect_timeout_message,
    format_hostport,
    may_resend,
    request_head,
    tls_failed,
    tunnel_reply_complete,
    tunnel_reply_error,
    tunnel_request,
)
from smruntime.http._connection import ClientConnection
from smruntime.http._dial import readable_now
from smruntime.http._events import NEED_DATA, Data, EndOfMessage, Response
from smruntime.http._parser import DEFAULT_LIMITS, Limits, ResponseReader

__all__ = ["HIGH_WATER", "READ_SIZE", "AsyncPool", "AsyncResponse"]

READ_SIZE = 8 * 1024
"""The most bytes one ``recv`` reads for a connection."""
HIGH_WATER = 8 * 1024
"""Body bytes waiting for a consumer (queued, or given to its sink) at which reading pauses
(resumed when it takes them)."""

_TIMED_OUT: Any = object()
_timeout: Any = getattr(asyncio, "timeout", None)  # Python 3.11+
_EARLY = 0.0005  # a timer firing this close to its deadline counts as on time


class _Connection(asyncio.BufferedProtocol):
    """One TCP (+TLS) connection: the pure HTTP/1.1 state, queued body bytes, one waiter."""

    reader: ResponseReader  # the response's (http.reader), set by start_response

    def __init__(
        self, loop: asyncio.AbstractEventLoop, limits: Limits, read_buffer: memoryview
    ) -> None:
        self.loop = loop
        self.limits = limits
        self.transport: Optional[asyncio.Transport] = None
        self.http = ClientConnection(limits)
        self.tunnel: Optional[bytearray] = None  # the proxy's answer to CONNECT, while read
        self.tunnel_done = False
        # Shared by the loop's connections: asyncio fills it and calls buffer_updated at once,
        # so no connection holds a read buffer of its own while it waits.
        self._view = read_buffer
        self.chunks: deque[bytes] = deque()
        # Set by the reader (AsyncResponse.deliver_to): body bytes go to it as they are
        # decoded instead of to `chunks`; `queued` then counts those not yet taken from it.
        self.sink: Optional[Callable[[bytes], None]] = None
        self.queued = 0
        self.head: Optional[Response] = None  # until the request's caller takes it
        self.has_head = False  # the head arrived (taken or not)
        self.complete = False
        self.error: Optional[BaseException] = None
        self.lost = False
        self.in_flight = False
        self.generation = 0  # the pool's close() count when it was made (see release)
        self._paused = False
        self._waiter: Optional[asyncio.Future[Any]] = None
        self._deadline: Optional[float] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_at = 0.0
        self.timed_out = False  # the last waiter was set to _TIMED_OUT (by the timer)
        # loop.time() is monotonic but need not be time.monotonic(): convert once.
        self._offset = loop.time() - time.monotonic()

    # -- protocol callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self._view[:nbytes])
        if self.tunnel is not None:
            self._tunnel_data(data)
        elif self.in_flight and self.error is None:
            # Parsed here, in the callback (see the module docstring): the reader is woken
            # only when there is something for it (body bytes, the head, the end, an error).
            reader = self.reader
            piece = reader.receive_body(data)  # (one whole chunk: the stream's common case)
            if piece is not None:
                self._give(piece)
            else:
                reader.receive_data(data)
                if not self._pull():
                    return
            self._wake()
        else:
            # Unasked bytes, or bytes after the response failed (none of them is handed out
            # once a piece is missing): the connection is not reusable.
            self.http.receive_data(data)

    def eof_received(self) -> Optional[bool]:
        self._ended()
        return None  # close the transport

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.lost = True
        self._ended(exc)
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def pause_writing(self) -> None:
        pass  # the request is written at once; the kernel and the transport buffer it

    def resume_writing(self) -> None:
        pass

    # -- reading -----------------------------------------------------------------------------

    def start_response(self) -> None:
        """A request was written: read its response from a clean state."""
        reader = self.http.reader
        assert reader is not None  # (send_request made it)
        self.reader = reader
        self.head = None
        self.has_head = False
        self.complete = False
        self.error = None
        self.chunks.clear()
        self.sink = None
        self.queued = 0
        self.in_flight = True

    def _ended(self, exc: Optional[BaseException] = None) -> None:
        if self.tunnel is not None:
            self._tunnel_data(b"")
            return
        if self.in_flight and not self.complete and self.error is None:
            if exc is None:  # a clean EOF may end a close-delimited body; a reset never does
                self.http.receive_data(b"")
                self._pull()
                cut = cast("Optional[BaseException]", self.error)  # (set by _pull)
                if isinstance(cut, RemoteProtocolError):  # the EOF cut a framed body: as sync
                    part = "the body" if self.has_head else "the response head"
                    self.error = ConnectionClosedError(
                        f"the connection closed before the end of {part} "
                        f"({self.http.bytes_received} bytes of the response): {cut}"
                    )
                    self.error.__cause__ = cut
            if not self.complete and self.error is None:
                why = f": {_reason(exc)}" if exc is not None else ""
                self.error = ConnectionClosedError(
                    f"the connection closed after {self.http.bytes_received} bytes of the "
                    f"response{why}"
                )
        else:
            self.http.receive_data(b"")
        self._wake()

    def _pull(self) -> bool:
        """Turn what the protocol decoded into the head, queued body bytes, the end or an
        error; True if there was any."""
        http = self.reader
        changed = False
        try:
            while not self.complete and self.error is None:
                event = http.next_event()
                if event is NEED_DATA:
                    break
                changed = True
                kind = type(event)
                if kind is Data:
                    if not self._give(event.data):  # type: ignore[union-attr]
                        break
                    if http.needs_data:
                        break  # what next_event() would say, without the call
                elif kind is Response:
                    self.head = event  # type: ignore[assignment]
                    self.has_head = True
                elif kind is EndOfMessage:
                    self.complete = True
        except RemoteProtocolError as exc:
            self.error = exc
            changed = True
        if self._paused and self.queued < HIGH_WATER:
            self._resume()
        return changed

    def _give(self, data: bytes) -> bool:
        """Body bytes for the reader: queued, or handed to its sink; reading pauses once
        :data:`HIGH_WATER` of them wait. False if the sink raised (the reader's error now)."""
        self.queued += len(data)
        sink = self.sink
        if sink is None:
            self.chunks.append(data)
        else:
            try:
                sink(data)
            except Exception as exc:  # noqa: BLE001 - handed to the reader
                self.sink = None
                self.error = exc
                return False
        if self.queued >= HIGH_WATER and not self._paused:
            self._pause()
        return True

    def _pause(self) -> None:
        if self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        self._paused = False
        if self.transport is not None:
            self.transport.resume_reading()

    def _tunnel_data(self, data: bytes) -> None:
        received = self.tunnel
        assert received is not None
        received += data
        if not data or tunnel_reply_complete(received, len(data)):
            self.tunnel_done = True
        self._wake()

    def take(self) -> bytes:
        """Every queued body byte, joined; reading resumes if it was paused."""
        chunks = self.chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.taken()
        return data

    def taken(self) -> None:
        """The reader took every body byte queued or given to its sink: reading resumes if it
        was paused."""
        self.queued = 0
        if self._paused:
            self._resume()

    # -- waiting -----------------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _on_timer(self) -> None:
        self._timer = None
        waiter, deadline = self._waiter, self._deadline
        if waiter is None or deadline is None:
            return
        if time.monotonic() >= deadline - _EARLY:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(_TIMED_OUT)
                self.timed_out = True
        else:  # the deadline moved later since the timer was set
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        timer = self._timer
        if timer is not None:
            if self._timer_at <= deadline:
                return  # it fires first and re-arms itself
            timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline + self._offset, self._on_timer)

    def waiter(self, deadline: Optional[float]) -> Optional[asyncio.Future[Any]]:
        """A future set when the connection changes (bytes, end, error), or to
        :data:`_TIMED_OUT` at ``deadline`` (monotonic); None if the deadline already passed.
        An awaiter that is cancelled must call :meth:`abort`."""
        if deadline is not None and time.monotonic() >= deadline:
            return None
        waiter: asyncio.Future[Any] = self.loop.create_future()
        self._waiter = waiter
        self._deadline = deadline
        self.timed_out = False
        if deadline is not None and (self._timer is None or self._timer_at > deadline):
            self._arm(deadline)  # (a timer set no later fires first and re-arms itself)
        return waiter

    async def wait(self, deadline: Optional[float]) -> bool:
        """Wait for the connection to change until ``deadline``; False if it passed first.
        Cancelled: the connection closes."""
        waiter = self.waiter(deadline)
        if waiter is None:
            return False
        try:
            result = await waiter
        except BaseException:
            self._waiter = None
            self.abort()
            raise
        return result is not _TIMED_OUT

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def usable(self) -> bool:
        """Idle, open, and nothing arrived since its last response."""
        transport = self.transport
        return (
            not self.lost
            and transport is not None
            and not transport.is_closing()
            and self.http.reusable
        )

    def peer_spoke(self) -> bool:
        """Bytes or an EOF wait in the socket, not yet seen by the loop."""
        transport = self.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        return sock is not None and readable_now(sock)

    def abort(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if not self.loop.is_closed():
                transport.abort()
            else:
                # Its loop has ended (``asyncio.run`` returned) and cannot close it: end the
                # TCP connection, and let go of the transport (which closes its socket when
                # collected) so that the loop and it are not kept alive by this connection.
                self.transport = None
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _abort_idle(
    loops: Mapping[asyncio.AbstractEventLoop, _LoopPool],
    running: Optional[asyncio.AbstractEventLoop],
) -> None:
    """Close the idle connections of ``loops``: at once for ``running`` (the caller's) and for
    loops that have closed; on its own thread, for a loop running elsewhere."""
    for loop, pool in list(loops.items()):
        for idle in pool.idle.values():
            for conn in idle:
                if loop is running or loop.is_closed():
                    conn.abort()
                    continue
                try:
                    loop.call_soon_threadsafe(conn.abort)
                except RuntimeError:  # it closed meanwhile
                    conn.abort()


class _LoopPool:
    """The idle connections of one event loop, per (scheme, host, port), and the read buffer
    its connections share."""

    __slots__ = ("idle", "read_buffer")

    def __init__(self) -> None:
        self.idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self.read_buffer = memoryview(bytearray(READ_SIZE))


class AsyncPool:
    """Connections for one client, all loops: ``await pool.request(...)`` returns after the
    response head with an :class:`AsyncResponse` (see the module docstring)."""

    def __init__(self, config: Optional[WireConfig] = None) -> None:
        self.config = config if config is not None else WireConfig()
        limits = self.config.limits
        self._limits: Limits = limits if isinstance(limits, Limits) else DEFAULT_LIMITS
        self._ssl: Any = None
        self._pid = os.getpid()
        self._generation = 0  # close() calls so far
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = (
            weakref.WeakKeyDictionary()
        )
        # loops in several threads may share the client: the table of loops changes under it
        self._loops_lock = threading.Lock()
        self._routes = Routes(self.config.proxies)

    def _ssl_context(self) -> Any:
        if self._ssl is None:
            from smruntime.http._tls import ssl_context

            self._ssl = ssl_context(self.config.tls)
        return self._ssl

    def _pool(self, loop: asyncio.AbstractEventLoop) -> _LoopPool:
        if os.getpid() != self._pid:
            # A forked child: the parent's sockets are not ours (never closed here: closing
            # a TLS transport would write to the parent's session).
            self._pid = os.getpid()
            self._loops = weakref.WeakKeyDictionary()
        pool = self._loops.get(loop)
        if pool is None:
            with self._loops_lock:
                pool = self._loops.get(loop)
                if pool is None:
                    # a new loop: an ``asyncio.run`` before it may have ended
                    ended = self._drop_ended_loops()
                    pool = self._loops[loop] = _LoopPool()
                else:
                    ended = []
            for conn in ended:
                conn.abort()
        return pool

    def _drop_ended_loops(self) -> list[_Connection]:
        """Forget the loops that have closed (their connections would keep them, and their
        sockets, alive); their idle connections, to close. Called holding ``_loops_lock``."""
        ended: list[_Connection] = []
        for loop in [loop for loop in list(self._loops) if loop.is_closed()]:
            pool = self._loops.pop(loop, None)
            if pool is not None:
                for idle in pool.idle.values():
                    ended.extend(idle)
        return ended

    def _checkout(self, loop: asyncio.AbstractEventLoop, key: tuple[str, str, int]) -> Any:
        """An idle connection still open: not lost, and, in case the loop has not yet run the
        callbacks of a close the server made while it was pooled, nothing waiting in its
        socket (an EOF or stray bytes: the blocking driver's check)."""
        idle = self._pool(loop).idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable and not conn.peer_spoke():
                return conn
            conn.abort()
        return None

    def release(self, key: tuple[str, str, int], conn: _Connection) -> None:
        """Pool ``conn`` again if its response was read to the end and it is reusable."""
        conn.in_flight = False
        conn.sink = None
        if not conn.usable or conn.loop.is_closed():
            conn.abort()
            return
        conn.taken()  # reading may have paused on a response closed unread: the next needs it
        if self._pid != os.getpid():
            return
        if conn.generation != self._generation:
            conn.abort()  # made before close(): closed when released, not pooled
            return
        idle = self._pool(conn.loop).idle.setdefault(key, [])
        if len(idle) >= self.config.max_pool_connections:
            conn.abort()
            return
        idle.append(conn)

    def __del__(self) -> None:
        # A client dropped without close(): its idle connections close now, each in its loop,
        # not when the loop ends (the loop, not this pool, holds their transports).
        try:
            if self._pid == os.getpid():  # (the ended loops' are let go by _pool or close)
                live = {loop: pool for loop, pool in self._loops.items() if not loop.is_closed()}
                _abort_idle(live, None)
        except Exception:  # noqa: BLE001 - at interpreter exit, or the loop closing now
            pass

    def close(self) -> None:
        """Close every idle connection (connections of responses in use close when
        released; the client stays usable and pools what it makes after)."""
        self._generation += 1
        with self._loops_lock:
            loops, self._loops = self._loops, weakref.WeakKeyDictionary()
        if self._pid != os.getpid():
            return
        try:
            running: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        _abort_idle(loops, running)

    # -- connecting --------------------------------------------------------------------------

    async def _connect(self, origin: Origin, proxy: Optional[Proxy], deadline: Deadline) -> Any:
        loop = asyncio.get_running_loop()
        conn = _Connection(loop, self._limits, self._pool(loop).read_buffer)
        conn.generation = self._generation
        host, port = (proxy.host, proxy.port) if proxy is not None else (origin.host, origin.port)
        direct_tls = origin.scheme == "https" and proxy is None
        check_proxy_scheme(proxy, origin)
        where = format_hostport(host, port) if proxy is None else f"the proxy {proxy.hostport}"
        ssl_context = self._ssl_context() if origin.scheme == "https" else None
        try:
            await self._within(
                deadline,
                loop.create_connection(
                    lambda: conn,
                    host,
                    port,
                    ssl=ssl_context if direct_tls else None,
                    server_hostname=origin.host if direct_tls else None,
                ),
                where,
            )
            if self.config.tcp_keepalive:
                _keepalive(conn)
            if origin.scheme == "https" and proxy is not None:
                await self._tunnel(conn, origin, proxy, deadline, ssl_context)
        except BaseException:
            conn.abort()
            raise
        return conn

    async def _within(self, deadline: Deadline, awaitable: Any, where: str) -> Any:
        remaining, phase = deadline.remaining(time.monotonic())
        try:
            if remaining is None:
                return await awaitable
            if remaining <= 0:
                close = getattr(awaitable, "close", None)
                if close is not None:
                    close()  # a coroutine never to be awaited
                raise asyncio.TimeoutError
            if _timeout is not None:
                # A timer on this task: wait_for runs the awaitable in a task of its own, two
                # more passes of the loop per connect (long ones when a thousand calls start).
                async with _timeout(remaining):
                    return await awaitable
            return await asyncio.wait_for(awaitable, remaining)
        except asyncio.TimeoutError:
            raise ConnectTimeoutError(
                connect_timeout_message(where, deadline, phase), request_sent=False
            ) from None
        except OSError as exc:  # ssl.SSLError included
            import ssl

            if isinstance(exc, ssl.SSLError):
                raise tls_failed(where, exc) from exc
            raise EndpointConnectionError(
                f"could not connect to {where}: {_reason(exc)}", request_sent=False
            ) from exc

    async def _tunnel(
        self,
        conn: _Connection,
        origin: Origin,
        proxy: Proxy,
        deadline: Deadline,
        ssl_context: Any,
    ) -> None:
        """``CONNECT`` through ``proxy`` (:func:`~smruntime.http._config.tunnel_request`,
        the answer judged by :func:`~smruntime.http._config.tunnel_reply_error`), then TLS to
        ``origin`` inside the tunnel."""
        authority = origin.hostport
        received = conn.tunnel = bytearray()
        conn.tunnel_done = False
        assert conn.transport is not None
        conn.transport.write(tunnel_request(origin, proxy))
        while not conn.tunnel_done:
            remaining, _ = deadline.remaining(time.monotonic())
            until = None if remaining is None else time.monotonic() + remaining
            if not await conn.wait(until):
                raise ConnectTimeoutError(
                    f"CONNECT to {authority} through the proxy {proxy.hostport} timed out",
                    request_sent=False,
                )
        conn.tunnel = None
        problem = tunnel_reply_error(received, origin, proxy)
        if problem is not None:
            raise EndpointConnectionError(problem, request_sent=False)
        loop = conn.loop
        assert conn.transport is not None
        transport = await self._within(
            deadline,
            loop.start_tls(conn.transport, conn, ssl_context, server_hostname=origin.host),
            f"{authority} (TLS through the proxy)",
        )
        conn.transport = transport

    # -- requests ----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        body: bytes = b"",
        deadlines: Optional[Deadlines] = None,
    ) -> AsyncResponse:
        """Send one request; return after the response head (errors: ``TransportError``).
        A pooled connection found closed before any response byte is replaced once where
        :func:`~smruntime.http._config.may_resend` allows it."""
        loop = asyncio.get_running_loop()
        origin, proxy, shown = self._routes.of(url)
        deadline = (deadlines or Deadlines()).start(time.monotonic())
        method = method.upper()
        target, send_headers = request_head(origin, proxy, method, url, list(headers), body)
        key = origin.key
        conn = self._checkout(loop, key)
        reused = conn is not None
        while True:
            if conn is None:
                conn = await self._connect(origin, proxy, deadline)
            deadline.connected(time.monotonic())
            try:
                await self._exchange(
                    conn, method, target, send_headers, body, deadline, origin, shown
                )
            except _Stale as stale:
                conn.abort()
                conn = None
                if not reused:
                    raise stale.error from None
                if may_resend(reused=True, written=True, response_started=False, method=method):
                    reused = False
                    continue
                raise ConnectionClosedError(
                    f"the connection to {origin.hostport} closed before the response arrived "
                    f"(a pooled connection; {method} is not sent twice)",
                    url=shown,
                ) from stale.error
            except BaseException:
                conn.abort()
                raise
            deadline.body_started(time.monotonic())
            head, conn.head = conn.head, None  # (the response keeps what it needs of it)
            assert head is not None
            return AsyncResponse(self, key, conn, head, deadline, shown)

    async def _exchange(
        self,
        conn: _Connection,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        deadline: Deadline,
        origin: Origin,
        shown: str,
    ) -> None:
        """Write the request and wait for the response head (:class:`_Stale`: the connection
        ended before any byte of it)."""
        http = conn.http
        out = http.send_request(method, target, headers, body)
        conn.start_response()
        assert conn.transport is not None
        conn.transport.write(out)
        if http.body_separate:
            conn.transport.write(body)
        deadline.sent(time.monotonic())
        while True:
            if conn.head is not None:
                return
            error: Optional[BaseException] = conn.error
            if error is None and conn.lost:
                error = ConnectionClosedError(
                    f"the connection to {origin.hostport} closed before the response arrived"
                )
            if error is not None:
                error = _with_url(error, shown)
                if not http.response_started and isinstance(error, TransportError):
                    raise _Stale(error)
                raise error
            remaining, phase = deadline.remaining(time.monotonic())
            until = None if remaining is None else time.monotonic() + remaining
            # The future itself, not conn.wait(): one coroutine less per call (a thousand
            # heads arriving at once are handled in one pass of the loop).
            waiter = conn.waiter(until)
            if waiter is not None and await waiter is not _TIMED_OUT:
                continue
            limit = deadline.limits.total if phase == PHASE_TOTAL else deadline.limits.headers
            raise ReadTimeoutError(
                f"no complete response head from {origin.hostport} within {limit} s "
                f"({http.bytes_received} bytes of it received)",
                phase=phase,
                timeout=limit,
                elapsed=time.monotonic() - deadline.started,
                url=shown,
            )


class _Stale(Exception):
    """A connection that ended before any byte of the response: ``error`` unless resent."""

    def __init__(self, error: TransportError) -> None:
        super().__init__(str(error))
        self.error = error


def _with_url(error: BaseException, url: str) -> BaseException:
    if isinstance(error, TransportError) and error.url is None:
        error.url = url
    return error


def _keepalive(conn: _Connection) -> None:
    import socket

    transport = conn.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        except OSError:
            pass


class AsyncResponse:
    """A response whose head arrived: ``status``, ``reason``, ``headers``; the body is read
    with :meth:`read_some` / :meth:`read`; :meth:`close` pools the connection if the body was
    read to its end, otherwise drops it (as :meth:`abort` does)."""

    def __init__(
        self,
        pool: AsyncPool,
        key: tuple[str, str, int],
        conn: _Connection,
        head: Response,
        deadline: Deadline,
        url: str,
    ) -> None:
        self.status = head.status
        self.reason = head.reason
        self.headers = HttpHeaders.of_str_pairs(head.headers)
        self.deadline = deadline
        self._total_at = deadline.total_at  # (fixed at the request's start)
        self.url = url
        self._pool = pool
        self._key = key
        self._conn: Optional[_Connection] = conn
        self._waited: Optional[asyncio.Future[Any]] = None  # the future read_nowait gave

    @property
    def bytes_received(self) -> int:
        conn = self._conn
        return conn.http.bytes_received if conn is not None else 0

    async def read_some(self) -> bytes:
        """The body bytes that arrived since the last call (waiting for some), ``b""`` at the
        end, within the between-reads and total deadlines. Raises ``ReadTimeoutError``,
        ``RemoteProtocolError`` (a cut or bad framing, with its offset) or
        ``ConnectionClosedError``; after an error the connection is dropped."""
        return await self.read_until(None, False)

    async def read_until(self, until: Optional[float], own: bool = True) -> bytes:
        """:meth:`read_some` with the caller's own deadline (monotonic; ``None``: none) in
        place of the between-reads one (the stream's per-event deadline); the total deadline
        holds either way. (``own=False``: :meth:`read_some`.)"""
        while True:
            got = self.read_nowait(until, own)
            if type(got) is bytes:
                return got
            try:
                await got
            except BaseException:
                self.abort()  # cancelled: the connection closes
                raise

    def read_nowait(self, until: Optional[float], own: bool = True) -> Any:
        """:meth:`read_until` without a coroutine: the body bytes that arrived (``b""`` at the
        end), or a future to await before calling again (with the same arguments; the call
        after it raises ``ReadTimeoutError`` if the deadline passed first). A caller whose
        await is cancelled must call :meth:`abort`. The errors are :meth:`read_some`'s."""
        conn = self._conn
        waited, self._waited = self._waited, None
        if conn is None:
            if waited is not None:  # dropped (abort) while the caller waited
                raise ConnectionClosedError(
                    "the connection was closed while a read waited", url=self.url
                )
            return b""
        if conn.chunks:
            data = conn.take()
            if not own:
                self.deadline.progress(time.monotonic())
            return data
        if conn.queued:  # a sink's caller took what was given to it (see deliver_to)
            conn.taken()
        if conn.complete:
            self._release()
            return b""
        if conn.error is not None:
            self.abort()
            raise _with_url(conn.error, self.url)
        if conn.lost:
            self.abort()
            raise ConnectionClosedError(
                f"the connection closed after {conn.http.bytes_received} bytes of the response",
                url=self.url,
            )
        deadline = self.deadline
        total = self._total_at
        if own:
            at = until
            if total is not None and (at is None or total <= at):
                at = total
            phase = ""  # (known only if it passed: below)
        else:
            remaining, phase = deadline.remaining(time.monotonic())
            at = None if remaining is None else time.monotonic() + remaining
        if (
            waited is None
            or not conn.timed_out  # (set by the timer on the last waiter: the one we gave)
            # A reader that took bytes given to its sink since (deliver_to) may hold a
            # later deadline: the timer's verdict stands only if that one passed too.
            or at is None
            or time.monotonic() < at - _EARLY
        ):
            # The future itself, not conn.wait(): no coroutine per read.
            waiter = conn.waiter(at)
            if waiter is not None:
                self._waited = waiter
                return waiter
        if own:
            phase = PHASE_TOTAL if total is not None and at == total else PHASE_BETWEEN
        limit = deadline.limits.total if phase == PHASE_TOTAL else deadline.limits.between
        self.abort()
        what = (
            f"the total deadline of {limit} s passed"
            if phase == PHASE_TOTAL
            else f"no response bytes within {limit} s ({phase})"
        )
        raise ReadTimeoutError(
            f"{what} from {self.url} ({conn.http.bytes_received} bytes received)",
            phase=phase,
            timeout=limit,
            elapsed=time.monotonic() - deadline.started,
            url=self.url,
        )

    def deliver_to(self, sink: Callable[[bytes], None]) -> None:
        """From now on, give each piece of body bytes to ``sink`` as the protocol decodes it,
        in the protocol's callback, instead of queueing it for :meth:`read_nowait` (which then
        returns only ``b""`` at the end, raises, or returns a future). ``sink`` must be cheap
        and must not block. An exception from it is raised by the next :meth:`read_nowait`
        (the connection is dropped); the stream core records its own errors first. Reading
        pauses once :data:`HIGH_WATER` bytes were given to it, until the next
        :meth:`read_nowait` (its caller took them: it calls only when it needs more)."""
        conn = self._conn
        if conn is not None:
            if conn.chunks:
                sink(conn.take())
            conn.sink = sink

    async def read(self, max_bytes: Optional[int] = None) -> bytes:
        """The rest of the body; with ``max_bytes``, at most that many (then the connection is
        dropped: the caller had enough)."""
        parts: list[bytes] = []
        size = 0
        while True:
            data = await self.read_some()
            if not data:
                return b"".join(parts)
            parts.append(data)
            size += len(data)
            if max_bytes is not None and size >= max_bytes:
                self.abort()
                return b"".join(parts)[:max_bytes]

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(self._key, conn)

    def close(self) -> None:
        """Pool the connection if the body was read to its end; otherwise drop it."""
        conn = self._conn
        if conn is not None and not conn.complete:
            self.abort()
        else:
            self._release()

    def abort(self) -> None:
        """Drop the connection (the server sees the disconnect)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.in_flight = False
            conn.sink = None
            conn.abort()

    def abort_soon(self) -> None:
        """:meth:`abort` from a finalizer, which may run in any thread: the transport is
        closed by its own loop."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.loop.call_soon_threadsafe(conn.abort)
            except RuntimeError:  # the loop is closed
                pass

    def __del__(self) -> None:
        if getattr(self, "_conn", None) is not None:
            self.abort_soon()
