"""The asyncio HTTP/2 driver: one request stream on its own connection, no threads.

The same rules as the blocking driver (:mod:`smruntime.http._h2_sync`), all taken from
:class:`~smruntime.http._h2.H2ClientStream`; only the I/O loop differs. An
:class:`asyncio.Protocol` feeds every received byte to the HTTP/2 state as it arrives (so
SETTINGS, PING and WINDOW_UPDATE are handled whatever the caller awaits) and moves queued
input into frames whenever a window opens:

- :meth:`AsyncH2Stream.write` queues bytes and returns at once while fewer than
  ``max_send_buffer`` bytes wait; beyond that it waits until flow control lets them go. Bytes
  go to the transport only within the server's windows, and not while the transport has
  asked us to pause writing, so neither our queue nor the transport's buffer grows without
  bound.
- Received DATA waits in a queue until :meth:`AsyncH2Stream.next_event` takes it, and only
  then is acknowledged.

Timeouts are the caller's (``timeout`` arguments). Each connection has one loop timer for
its waits, moved lazily: a wait whose deadline is at or after the armed one re-arms nothing
(the usual case: each wait for an event ends later than the last), and a timer that fires
before the deadline of the wait in progress re-arms itself for it. No task, and no new timer,
per wait.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from typing import Any, Optional

from smruntime.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    InputClosedError,
    SMRuntimeError,
)
from smruntime.http import _h2, _tunnel
from smruntime.http._config import (
    Origin,
    WireConfig,
    check_proxy_scheme,
    format_hostport,
    origin_of,
    tls_failed,
)

__all__ = ["AsyncH2Stream", "open_async_stream"]

DEFAULT_MAX_SEND_BUFFER = 256 * 1024
_CLOSE_WAIT = 1.0  # seconds close() waits for the transport to close its socket


def _resolve(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)


_NEVER = float("inf")
# A timer handle may run up to one clock tick before its time (the loop runs what is due
# within its clock's resolution): such a wait has timed out, as with a timer of its own.
_TICK = time.get_clock_info("monotonic").resolution


class _TunnelProtocol(asyncio.Protocol):
    """Reads the proxy's reply to CONNECT."""

    def __init__(self, origin: Origin, proxy: Any, url: str) -> None:
        self.origin = origin
        self.proxy = proxy
        self.url = url
        self.buf = bytearray()  # (appended to in place: a dripped answer is not copied per piece)
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            self.buf += data  # the server's first bytes, before the protocol is switched
            return
        self.buf += data
        try:
            end = _tunnel.parse_connect_reply(
                self.buf, self.origin, self.proxy, self.url, len(data)
            )
        except SMRuntimeError as exc:
            self.done.set_exception(exc)
            return
        if end is not None:
            self.done.set_result(end)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.done.done():
            self.done.set_exception(
                _tunnel.proxy_closed(self.buf, self.origin, self.proxy, self.url)
            )


class AsyncH2Stream(asyncio.Protocol):
    """A started HTTP/2 request stream, and the protocol object of its connection."""

    def __init__(
        self,
        proto: _h2.H2ClientStream,
        *,
        url: str,
        max_send_buffer: int = DEFAULT_MAX_SEND_BUFFER,
    ) -> None:
        self.url = url
        self._proto = proto
        self._loop = asyncio.get_running_loop()
        self._transport: Optional[asyncio.Transport] = None
        self._max_send = max_send_buffer
        self._out: deque[memoryview] = deque()
        self._out_bytes = 0
        self._end_requested = False
        self._paused = False
        self._in: deque[_h2.H2Event] = deque()
        self._reader: Optional[asyncio.Future[bool]] = None
        self._writer: Optional[asyncio.Future[bool]] = None
        self._reader_until = _NEVER  # loop time at which the reader's wait times out
        self._writer_until = _NEVER
        self._timer: Optional[asyncio.TimerHandle] = None
        self._timer_at = _NEVER  # when the armed timer fires
        self._error: Optional[SMRuntimeError] = None
        self._lost = False
        self._gone: asyncio.Future[None] = self._loop.create_future()  # connection_lost ran
        self.response: Optional[_h2.Response] = None

    # -- protocol callbacks --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._feed(data)

    def eof_received(self) -> Optional[bool]:
        self._feed(b"")
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._lost = True
        self._disarm()
        if not self._gone.done():
            self._gone.set_result(None)
        if self._error is None and not (self._proto.ended and self._proto.input_closed):
            error = ConnectionClosedError(
                f"the HTTP/2 connection to {self.url} broke{self._proto.where()}"
                + (f": {exc}" if exc else " (closed by the server)"),
                url=self.url,
            )
            if exc is not None:
                error.__cause__ = exc
            self._fail(error)
        self._wake_all()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._pump()

    # -- internals -----------------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        events = self._proto.receive(data)
        for event in events:
            if isinstance(event, _h2.Failed):
                self._fail(event.error, queued=True)
        self._in.extend(events)
        if events and self._reader is not None:
            _resolve(self._reader, True)
        self._pump()

    def _pump(self) -> None:
        """Frame queued input as the windows allow and write what HTTP/2 has to send."""
        proto = self._proto
        moved = False
        if not self._paused:
            try:
                while self._out and proto.failed is None:
                    head = self._out[0]
                    taken = proto.send(head)
                    if not taken:
                        break
                    moved = True
                    self._out_bytes -= taken
                    if taken == len(head):
                        self._out.popleft()
                    else:
                        self._out[0] = head[taken:]
                if self._end_requested and not self._out and not proto.input_closed:
                    proto.end_input()
            except SMRuntimeError:
                pass  # recorded as proto.failed: handled below
        if proto.failed is not None and self._error is None:
            self._fail(proto.failed)
        data = proto.data_to_send()
        transport = self._transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)
            if self._paused:  # (the server reads nothing: is it answers that grow for ever?)
                flood = proto.backlog(transport.get_write_buffer_size(), self._max_send)
                if flood and proto.failed is not None:
                    self._fail(proto.failed)
                    transport.abort()
                    return
        over = proto.failed is not None or (proto.ended and proto.input_closed)
        if over and transport is not None and not transport.is_closing():
            transport.close()
        if moved and self._writer is not None:
            _resolve(self._writer, True)

    def _fail(self, error: SMRuntimeError, queued: bool = False) -> None:
        if self._error is not None:
            return
        self._error = error
        if not queued:
            self._in.append(_h2.Failed(error))
        self._out.clear()
        self._out_bytes = 0
        self._wake_all()

    def _wake_all(self) -> None:
        for fut in (self._reader, self._writer):
            if fut is not None:
                _resolve(fut, True)

    # -- the one timer of the waits --------------------------------------------------------

    async def _wait(
        self, fut: asyncio.Future[bool], timeout: Optional[float], reader: bool
    ) -> bool:
        """Wait for ``fut`` (the reader's or the writer's); False if ``timeout`` seconds
        passed first."""
        if timeout is None:
            return await fut
        if timeout <= 0:
            return fut.done() and fut.result()
        until = self._loop.time() + timeout
        if reader:
            self._reader_until = until
        else:
            self._writer_until = until
        if until < self._timer_at:
            self._arm(until)
        try:
            return await fut
        finally:
            if reader:
                self._reader_until = _NEVER
            else:
                self._writer_until = _NEVER

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._on_timer)
        self._timer_at = when

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = _NEVER

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = _NEVER
        now = self._loop.time() + _TICK
        for fut, until in ((self._reader, self._reader_until), (self._writer, self._writer_until)):
            if fut is not None and until <= now:
                _resolve(fut, False)
        nearest = min(
            self._reader_until if self._reader is not None and not self._reader.done() else _NEVER,
            self._writer_until if self._writer is not None and not self._writer.done() else _NEVER,
        )
        if nearest < _NEVER:
            self._arm(nearest)

    def _check_writable(self) -> None:
        if self._error is not None:
            raise self._error
        if self._end_requested:
            raise InputClosedError("the input side of the HTTP/2 stream is already closed")
        if self._lost:
            raise ConnectionClosedError("the HTTP/2 connection is closed", url=self.url)

    # -- the caller's side ---------------------------------------------------------------------

    def can_write_now(self) -> bool:
        """True if :meth:`write` would queue at once (no wait, no error): the caller may then
        :meth:`queue` without awaiting."""
        return (
            self._out_bytes < self._max_send
            and self._error is None
            and not self._end_requested
            and not self._lost
        )

    def queue(self, data: bytes) -> None:
        """Queue ``data`` now, whatever the buffer holds (see :meth:`can_write_now`)."""
        if data:
            self._out.append(memoryview(data))
            self._out_bytes += len(data)
            self._pump()

    async def write(
        self,
        data: bytes,
        timeout: Optional[float] = None,
        last: bool = False,
        until: Optional[float] = None,
    ) -> None:
        """Queue ``data``; waits (at most ``timeout`` seconds without progress, and never past
        ``until``, a ``time.monotonic()`` deadline) while ``max_send_buffer`` bytes already
        wait. ``last``: the input ends with ``data``, as :meth:`end_input` after it, but its
        END_STREAM goes out in the same write."""
        if not data:
            if last:
                await self.end_input()
            return
        while True:
            self._check_writable()
            if self._out_bytes < self._max_send:
                break
            wait, capped = _h2.write_wait(
                timeout, until, time.monotonic(), self._out_bytes, self.url
            )
            fut: asyncio.Future[bool] = self._loop.create_future()
            self._writer = fut
            try:
                progressed = await self._wait(fut, wait, reader=False)
            finally:
                self._writer = None
            if not progressed and capped:
                continue  # the wait ended at ``until``: the check above raises
            if not progressed:
                raise _h2.idle_write_error(timeout, self._out_bytes, self.url)
        if last:
            self._end_requested = True  # (after the checks: queue() does not check it)
        self.queue(data)

    async def end_input(self) -> None:
        """Send END_STREAM once the queued input has gone out."""
        self._check_writable()
        self._end_requested = True
        self._pump()

    def _terminal(self) -> Optional[_h2.Failed]:
        if self._lost or self._error is not None:
            return _h2.Failed(
                self._error or ConnectionClosedError("the HTTP/2 stream is closed", url=self.url)
            )
        return None

    def pending_input(self) -> int:
        """Input bytes queued here, not yet framed."""
        return self._out_bytes

    async def next_event(self, timeout: Optional[float] = None) -> Optional[_h2.H2Event]:
        """The next event (Data coalesced), or None if none came within ``timeout``."""
        if not self._in:
            over = self._terminal()
            if over is not None:
                return over
            fut: asyncio.Future[bool] = self._loop.create_future()
            self._reader = fut
            try:
                await self._wait(fut, timeout, reader=True)
            finally:
                self._reader = None
            if not self._in:
                return self._terminal()
        event = _h2.take_event(self._in)
        if isinstance(event, _h2.Data):
            if self._proto.consumed(event.flow):  # a WINDOW_UPDATE to send
                self._pump()
        elif isinstance(event, _h2.Response):
            self.response = event
        return event

    def reset(self) -> None:
        """Abandon the exchange: RST_STREAM(CANCEL) unless it is over, then close."""
        proto = self._proto
        if not (proto.ended and proto.input_closed) and proto.failed is None:
            proto.reset()
        if self._error is None:  # a send or read still waiting learns who ended it: we did
            self._error = proto.failed or ConnectionClosedError(
                "the HTTP/2 stream was closed by this client", url=self.url
            )
        transport = self._transport
        if transport is not None and not transport.is_closing():
            data = proto.data_to_send()
            if data:
                transport.write(data)
            transport.close()
        self._lost = True
        self._disarm()
        self._wake_all()

    async def close(self) -> None:
        """:meth:`reset` (a no-op on a finished exchange beyond closing the connection), then
        wait (at most ``_CLOSE_WAIT`` seconds) for the transport to let go of its socket."""
        self.reset()
        if not self._gone.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._gone), _CLOSE_WAIT)
            except asyncio.TimeoutError:
                transport = self._transport
                if transport is not None:
                    transport.abort()

    @property
    def finished(self) -> bool:
        """The connection is closed (the exchange is over, failed or reset)."""
        return self._lost

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop this connection runs on."""
        return self._loop


async def _drop(transport: Optional[asyncio.BaseTransport]) -> None:
    """Close a connection that failed to open, and let the loop release its socket."""
    if transport is not None:
        transport.abort()  # type: ignore[attr-defined]
        await asyncio.sleep(0)


async def _connect(
    url: str,
    origin: Origin,
    stream: AsyncH2Stream,
    *,
    connect_timeout: Optional[float],
    wire: WireConfig,
) -> None:
    loop = asyncio.get_running_loop()
    host, port = origin.host, origin.port
    proxy = wire.proxies.for_origin(origin.scheme, host, port)
    check_proxy_scheme(proxy, origin, url)
    where = (proxy.host, proxy.port) if proxy else (host, port)
    ctx = _tunnel.h2_ssl_context(wire.tls) if origin.scheme == "https" else None
    started = time.monotonic()

    def left() -> Optional[float]:
        if connect_timeout is None:
            return None
        return max(0.0, connect_timeout - (time.monotonic() - started))

    transport: Optional[asyncio.BaseTransport] = None
    try:
        if proxy is None:
            transport, _ = await asyncio.wait_for(
                loop.create_connection(
                    lambda: stream, host, port, ssl=ctx, server_hostname=host if ctx else None
                ),
                left(),
            )
        else:
            tunnel = _TunnelProtocol(origin, proxy, url)
            transport, _ = await asyncio.wait_for(
                loop.create_connection(lambda: tunnel, proxy.host, proxy.port), left()
            )
            assert isinstance(transport, asyncio.Transport)
            transport.write(_tunnel.connect_request(origin, proxy))
            end = await asyncio.wait_for(asyncio.shield(tunnel.done), left())
            early = bytes(tunnel.buf[end:])  # the server spoke first (h2c: its SETTINGS)
            if early and ctx is not None:
                raise EndpointConnectionError(
                    f"the proxy {proxy.hostport} sent bytes before the TLS handshake",
                    url=url,
                    request_sent=False,
                )
            if ctx is not None:
                transport = await asyncio.wait_for(
                    loop.start_tls(transport, stream, ctx, server_hostname=host), left()
                )
                assert transport is not None
            else:
                transport.set_protocol(stream)
            stream.connection_made(transport)
            if early:
                stream.data_received(early)
        assert transport is not None
        if ctx is not None:
            ssl_object = transport.get_extra_info("ssl_object")
            _tunnel.alpn_check(
                ssl_object.selected_alpn_protocol() if ssl_object is not None else None, url
            )
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if wire.tcp_keepalive:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            except OSError:
                pass
    except asyncio.TimeoutError as exc:
        await _drop(transport)
        raise ConnectTimeoutError(
            f"connecting to {format_hostport(*where)} took longer than {connect_timeout} s",
            url=url,
            request_sent=False,
        ) from exc
    except SMRuntimeError:
        await _drop(transport)
        raise
    except OSError as exc:  # ssl.SSLError included
        await _drop(transport)
        import ssl

        if isinstance(exc, ssl.SSLError):
            raise tls_failed(origin.hostport, exc, url) from exc
        raise EndpointConnectionError(
            f"could not open HTTP/2 to {format_hostport(*where)}: {exc}",
            url=url,
            request_sent=False,
        ) from exc


async def open_async_stream(
    url: str,
    method: str,
    headers: list[tuple[str, str]],
    *,
    wire: Optional[WireConfig] = None,
    connect_timeout: Optional[float] = None,
    receive_window: int = _h2.DEFAULT_RECEIVE_WINDOW,
    max_send_buffer: int = DEFAULT_MAX_SEND_BUFFER,
) -> AsyncH2Stream:
    """Connect to ``url`` and start its request (HEADERS sent, input open)."""
    try:
        origin = origin_of(url)
    except ValueError as exc:
        raise EndpointConnectionError(str(exc), url=url, request_sent=False) from None
    proto = _h2.H2ClientStream(receive_window=receive_window, url=url)
    # queued now, written once connected (bytes may arrive before the connect call returns)
    proto.start(method, origin.scheme, origin.host_header, origin.target, headers)
    stream = AsyncH2Stream(proto, url=url, max_send_buffer=max_send_buffer)
    await _connect(url, origin, stream, connect_timeout=connect_timeout, wire=wire or WireConfig())
    stream._pump()
    return stream
