"""HTTP/2, client side, for one request stream on its own connection: a sans-IO wrapper over
``h2`` (python-hyper).

Pure: bytes in, events out, no sockets, clocks or threads. The blocking and asyncio drivers
(:mod:`smruntime.http._h2_sync`, :mod:`smruntime.http._h2_async`) share every rule here and
differ only in their I/O loop.

One stream per connection, as the official clients use the bidirectional operation. The rules:

- Flow control both ways. Received DATA is acknowledged (WINDOW_UPDATE) only when the consumer
  says it has taken it (:meth:`H2ClientStream.consumed`), so a slow reader holds the server back
  and what is buffered here never exceeds the receive window (``receive_window`` bytes; a peer
  that sends more violates flow control and is an error). DATA is sent only within the
  peer's windows: :meth:`H2ClientStream.send` takes what fits and says how much.
- Our DATA frames are made here, not by ``h2`` (its state machine and frame objects cost
  more than the rest of sending a small part; DATA changes no stream state), and so is the
  empty one that ends our input, ``h2`` being told of that end only before it next reads
  or writes anything of the stream (usually never: the server's end closes the exchange,
  and the frame carrying it, last of its read, is taken here whole). So the send windows
  are kept here too: the server's WINDOW_UPDATE frames for the connection and our
  stream are taken out of what ``h2`` sees (:meth:`H2ClientStream._screen`; a malformed one
  goes to it whole), the stream's window follows the server's INITIAL_WINDOW_SIZE as ``h2``
  read it, and a window past 2**31-1 is the server's flow-control error. ``h2``'s own view
  stays consistent: nothing sent, nothing granted, our end known before it is needed.
- The response body's DATA frames do not reach ``h2`` whole: it parses each frame it gets
  into objects and makes a hex dump of it for a log line, whether or not anything logs (it
  hands ``repr(frame)`` to its logger), which for 64 KiB parts costs as much as all the rest
  of receiving them. Once the response headers are in (without a Content-Length, whose check
  is h2's), :meth:`H2ClientStream._screen` takes the body out of each DATA frame of our stream
  and hands ``h2`` the frame with no body and its END_STREAM flag when it may change the
  stream's state (none at all while the stream is open and the frame does not end it), so
  that the stream's states and errors stay h2's; the receive window of those bodies is kept
  here, and opened by our own WINDOW_UPDATE frames. Frames ``h2`` must refuse (too large,
  bad padding, another stream) still go to it whole.
- SETTINGS and PING are answered by ``h2``; the bytes to write come out of
  :meth:`H2ClientStream.data_to_send` like everything else.
- GOAWAY follows RFC 9113 6.8. A graceful one (NO_ERROR) whose last stream id covers ours
  lets the stream run to completion in both directions: the server has taken it and will
  finish it before closing. ``h2`` would close its whole connection state at any GOAWAY
  (python-hyper/h2#1181), so such frames are taken out of the received bytes before ``h2``
  sees them (:meth:`H2ClientStream._screen`, which tracks frame boundaries; no copy unless
  one is found) and recorded in :attr:`H2ClientStream.goaway`. The connection then takes no
  new stream; as each connection carries one stream, a new call always opens a new
  connection. A GOAWAY with an error code, or whose last stream id is below ours, fails the
  stream with :class:`~smruntime.exceptions.StreamResetError` naming the code; below ours,
  ``request_sent`` is False (the server never processed the stream: safe to retry on a new
  connection).
- A RST_STREAM, an EOF before the end, or a protocol violation by the peer ends the stream
  with a :class:`Failed` event holding the error (smruntime's exception tree).

``h2`` is imported when the first :class:`H2ClientStream` is made (``import smruntime`` never
imports it); without it, :func:`require_h2` raises ``ImportError`` naming the extra.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Optional, Union

from smruntime.exceptions import (
    ConnectionClosedError,
    InputClosedError,
    SMRuntimeError,
    StreamResetError,
    WriteTimeoutError,
)

if TYPE_CHECKING:
    from h2.connection import H2Connection

__all__ = [
    "DEFAULT_RECEIVE_WINDOW",
    "ERROR_NAMES",
    "Data",
    "End",
    "Failed",
    "H2ClientStream",
    "H2Event",
    "Response",
    "require_h2",
    "take_event",
]

DEFAULT_RECEIVE_WINDOW = 1 << 20
"""Bytes the server may send ahead of the consumer (per stream, and for the connection)."""

MAX_FRAME_SIZE = 1 << 18
"""The largest DATA frame we accept (256 KiB: fewer frames for large parts; the protocol's
default is 16 KiB)."""

_MIN_WINDOW = 65535  # the protocol's initial window
_MAX_WINDOW = 2**31 - 1
ACK_BATCH_DIVISOR = 8
"""Taken bytes are acknowledged once they reach ``receive_window / ACK_BATCH_DIVISOR``."""
CANCEL = 0x8
PROTOCOL_ERROR = 0x1
REFUSED_STREAM = 0x7
ENHANCE_YOUR_CALM = 0xB
ANSWER_BACKLOG = 1 << 20
"""Bytes of our answers (PING and SETTINGS acknowledgements, WINDOW_UPDATEs) that may wait to
be written beyond the input's own bound before the connection is given up: a server that
floods frames needing answers while it reads none would otherwise grow our buffer for ever."""
FLOW_CONTROL_ERROR = 0x3
FRAME_SIZE_ERROR = 0x6
_FRAME_HEADER = 9
_DATA = 0x0
_GOAWAY = 0x7
_WINDOW_UPDATE = 0x8
_HEADER_BLOCK = (0x1, 0x9)  # HEADERS, CONTINUATION
_FIELD_BLOCK = (0x1, 0x5, 0x9)  # HEADERS, PUSH_PROMISE, CONTINUATION: a field block's frames
_END_HEADERS = 0x4
_END_STREAM = 0x1
_PADDED = 0x8

ERROR_NAMES = {
    0x0: "NO_ERROR",
    0x1: "PROTOCOL_ERROR",
    0x2: "INTERNAL_ERROR",
    0x3: "FLOW_CONTROL_ERROR",
    0x4: "SETTINGS_TIMEOUT",
    0x5: "STREAM_CLOSED",
    0x6: "FRAME_SIZE_ERROR",
    0x7: "REFUSED_STREAM",
    0x8: "CANCEL",
    0x9: "COMPRESSION_ERROR",
    0xA: "CONNECT_ERROR",
    0xB: "ENHANCE_YOUR_CALM",
    0xC: "INADEQUATE_SECURITY",
    0xD: "HTTP_1_1_REQUIRED",
}

# h2 sends Authorization never-indexed of itself; the session token deserves the same
_SECRET_HEADERS = frozenset({"x-amz-security-token"})
_HOP_BY_HOP = frozenset(
    {"host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"}
)


def require_h2() -> Any:
    """The ``h2`` package, or ``ImportError`` telling how to install it."""
    try:
        import h2.connection
    except ImportError as exc:
        raise ImportError(
            "HTTP/2 (InvokeEndpointWithBidirectionalStream) needs the h2 package: "
            "pip install 'smruntime[http2]'"
        ) from exc
    import h2

    return h2


def error_name(code: int) -> str:
    """``"CANCEL (0x8)"`` for an HTTP/2 error code."""
    return f"{ERROR_NAMES.get(code, 'unknown error')} (0x{code:x})"


class Response:
    """The response headers: ``status`` and the other headers as ``(name, value)`` text."""

    __slots__ = ("headers", "status")

    def __init__(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.headers = headers

    def __repr__(self) -> str:
        return f"Response(status={self.status})"


class Data:
    """Response body bytes; ``flow`` is what they count against the receive window (padding
    included): hand it to :meth:`H2ClientStream.consumed` once the consumer has them."""

    __slots__ = ("data", "flow")

    def __init__(self, data: bytes, flow: int) -> None:
        self.data = data
        self.flow = flow

    def __repr__(self) -> str:
        return f"Data(<{len(self.data)} bytes>)"


class End:
    """The response is complete (the server's END_STREAM)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "End()"


class Failed:
    """The stream cannot go on; ``error`` is what to raise to the consumer (and the sender)."""

    __slots__ = ("error",)

    def __init__(self, error: SMRuntimeError) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"Failed({self.error!r})"


H2Event = Union[Response, Data, End, Failed]


class _Credit:
    """A WINDOW_UPDATE of the server for the connection (``stream`` 0) or our stream."""

    __slots__ = ("increment", "stream")

    def __init__(self, stream: int, increment: int) -> None:
        self.stream = stream
        self.increment = increment


_Piece = Union[bytes, memoryview, tuple[bytes, int, int], _Credit]  # see H2ClientStream._screen


def _close_run(
    pieces: list[_Piece], kept: list[Union[bytes, memoryview]], run: Union[bytes, memoryview]
) -> None:
    """Put the h2-bound bytes before a taken frame (or the read's end) into ``pieces``, joined
    with the run ``kept`` so far around frames taken out (which is emptied)."""
    if kept:
        kept.append(run)
        pieces.append(b"".join(kept))
        kept.clear()
    elif run:
        pieces.append(run)


def write_wait(
    wait: Optional[float], until: Optional[float], now: float, waiting: int, url: str
) -> tuple[Optional[float], bool]:
    """The next wait of a write blocked by flow control (both drivers): ``wait``, what its
    no-progress limit leaves (None: no limit), never past ``until``, the monotonic deadline no
    progress moves (the call's total deadline; None: none); and whether ``until`` bounds it.
    Raises :class:`~smruntime.exceptions.WriteTimeoutError` once ``until`` is reached
    (``now``: the driver's clock), however the server trickled its window open."""
    if until is None:
        return wait, False
    left = until - now
    if left <= 0:
        raise WriteTimeoutError(
            "the total deadline passed while a send waited for the server (HTTP/2 flow "
            f"control: {waiting} bytes wait to be sent)",
            url=url,
        )
    if wait is None or left < wait:
        return left, True
    return wait, False


def idle_write_error(timeout: Optional[float], waiting: int, url: str) -> WriteTimeoutError:
    """A write that saw no progress for ``timeout`` seconds (both drivers)."""
    return WriteTimeoutError(
        f"the server took no input for {timeout} s (HTTP/2 flow control: {waiting} bytes wait "
        "to be sent)",
        timeout=timeout,
        elapsed=timeout,
        url=url,
    )


def take_event(queue: deque[H2Event]) -> H2Event:
    """Pop the next event of a driver's queue (not empty); consecutive Data are joined into
    one (all the body bytes received so far), their ``flow`` summed."""
    event = queue.popleft()
    if isinstance(event, Data) and queue and isinstance(queue[0], Data):
        parts = [event.data]
        flow = event.flow
        while queue and isinstance(queue[0], Data):
            more = queue.popleft()
            assert isinstance(more, Data)
            parts.append(more.data)
            flow += more.flow
        event = Data(b"".join(parts), flow)
    return event


def _text(value: Union[bytes, str]) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


class H2ClientStream:
    """One client request stream on a fresh HTTP/2 connection (sans-IO).

    Use: :meth:`start` (preface, SETTINGS, the request's HEADERS), then feed every received
    byte to :meth:`receive` (``b""`` at EOF) and write :meth:`data_to_send` after each call.
    ``url`` is only used in error messages.
    """

    def __init__(
        self, *, receive_window: int = DEFAULT_RECEIVE_WINDOW, url: Optional[str] = None
    ) -> None:
        if receive_window < _MIN_WINDOW or receive_window > 2**31 - 1:
            raise ValueError(f"receive_window must be in [{_MIN_WINDOW}, 2**31-1]")
        require_h2()
        import h2.config
        import h2.connection
        import h2.events
        import h2.exceptions
        import h2.settings

        self._ev = h2.events
        self._errors = h2.exceptions
        self._settings = h2.settings
        self._conn: H2Connection = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self._window = receive_window
        self._ack_batch = receive_window // ACK_BATCH_DIVISOR
        self._taken = 0  # received bytes the consumer took, not yet counted in _processed
        self._processed = 0  # taken bytes counted, not yet announced by WINDOW_UPDATE
        self._room = receive_window  # DATA bytes the server may still send (both windows)
        self._updates = bytearray()  # our WINDOW_UPDATE frames, written after h2's bytes
        # Sending (see send): the windows the server gave us, kept here
        self._send_conn = _MIN_WINDOW  # the connection's (SETTINGS do not change it)
        self._send_credit = 0  # the stream's WINDOW_UPDATEs less the DATA sent on it
        self._initial = _MIN_WINDOW  # the server's SETTINGS_INITIAL_WINDOW_SIZE, as h2 read it
        self._frame_size = self._conn.max_outbound_frame_size
        self._sent = bytearray()  # h2's bytes, then our DATA frames after them, to write
        self._peer_closed = False  # h2 took a GOAWAY after the response: nothing more to send
        self._take_data = False  # DATA bodies are taken out of what h2 sees (see _screen)
        self._url = url
        self.stream_id = 0
        self.response: Optional[Response] = None
        self.ended = False  # the server's END_STREAM arrived
        self.failed: Optional[SMRuntimeError] = None
        self.input_closed = False  # our END_STREAM was queued, or the stream is over
        self._end_untold = False  # h2 does not know of it yet (see end_input)
        self._goaway = False
        self.goaway: Optional[tuple[int, int]] = None
        """``(error_code, last_stream_id)`` of a graceful GOAWAY received: the connection takes
        no new stream; ours runs on."""
        self._skip = 0  # bytes of the current frame still to come (frame boundary tracking)
        self._skip_block = False  # that frame is a HEADERS or CONTINUATION frame
        self._in_block = False  # a field block is open: only its CONTINUATION may follow
        # a partial frame header, or a GOAWAY or DATA frame not yet complete: its pieces, their
        # length, and the length that completes it (joined once, when it is complete)
        self._held: list[bytes] = []
        self._held_len = 0
        self._held_need = 0
        self.bytes_received = 0
        self.bytes_sent = 0

    # -- sending ---------------------------------------------------------------------------

    def start(
        self,
        method: str,
        scheme: str,
        authority: str,
        path: str,
        headers: list[tuple[str, str]],
        *,
        end_stream: bool = False,
    ) -> None:
        """Queue the preface, our SETTINGS (no push, the receive window) and the request."""
        conn = self._conn
        settings = self._settings
        conn.local_settings = settings.Settings(
            client=True,
            initial_values={
                settings.SettingCodes.ENABLE_PUSH: 0,
                settings.SettingCodes.INITIAL_WINDOW_SIZE: self._window,
                settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1,
            },
        )
        conn.initiate_connection()
        conn.update_settings({settings.SettingCodes.MAX_FRAME_SIZE: MAX_FRAME_SIZE})
        # Accept the larger frames at once: h2 would raise its limit on the peer's ACK, but it
        # checks a whole received buffer against the limit in force when the buffer came in,
        # and the ACK and the first large frame often arrive in one read.
        conn.max_inbound_frame_size = MAX_FRAME_SIZE
        if self._window > _MIN_WINDOW:
            conn.increment_flow_control_window(self._window - _MIN_WINDOW)
        self.stream_id = conn.get_next_available_stream_id()
        block: list[tuple[bytes, bytes]] = [
            (b":method", method.encode("ascii")),
            (b":scheme", scheme.encode("ascii")),
            (b":authority", authority.encode("ascii")),
            (b":path", path.encode("ascii")),
        ]
        for name, value in headers:
            key = name.lower()
            if key in _HOP_BY_HOP or key.startswith(":"):
                continue
            pair = (key.encode("ascii"), value.encode("latin-1"))
            if key in _SECRET_HEADERS:  # never indexed: kept out of HPACK tables and logs
                from hpack import NeverIndexedHeaderTuple

                pair = NeverIndexedHeaderTuple(*pair)
            block.append(pair)
        conn.send_headers(self.stream_id, block, end_stream=end_stream)
        if end_stream:
            self.input_closed = True

    def send_capacity(self) -> int:
        """Bytes of DATA flow control lets us queue now (0 once input is closed or failed)."""
        if self.input_closed or self.failed is not None:
            return 0
        return max(0, min(self._send_conn, self._initial + self._send_credit))

    def send(self, data: Union[bytes, memoryview]) -> int:
        """Queue as much of ``data`` as the windows allow, in frames of the peer's maximum
        size; returns the count taken (maybe 0: wait for the window to open). Raises the
        stream's error once it has failed, :class:`InputClosedError` after :meth:`end_input`.

        The DATA frames are made here, not by ``h2``, whose state machine, frame objects and
        checks per frame cost more than the rest of sending a small part: DATA does not change
        a stream's state, and the windows are kept here (:meth:`_credit`: the server's
        WINDOW_UPDATE frames for the connection and our stream are taken out of what ``h2``
        sees, so its own windows stay as if nothing was sent or granted). What ``h2`` has
        queued goes out first, so that frames keep their order."""
        self._check_open()
        room = self.send_capacity()
        if room <= 0 or not data:
            return 0
        if self._peer_closed:
            raise self._send_failed(
                ConnectionClosedError("the server closed the connection (GOAWAY)", url=self._url)
            )
        view = memoryview(data)[:room]
        size = len(view)
        out = self._sent
        out += self._conn.data_to_send()
        frame = self._frame_size
        tail = b"\x00\x00" + self.stream_id.to_bytes(4, "big")  # type DATA, no flags
        for start in range(0, size, frame):
            piece = view[start : start + frame]
            out += len(piece).to_bytes(3, "big") + tail
            out += piece if piece.c_contiguous else piece.tobytes()
        self._send_conn -= size
        self._send_credit -= size
        self.bytes_sent += size
        return size

    def end_input(self) -> None:
        """Queue our END_STREAM (the request body is complete).

        The frame is made here, as our DATA frames are: the empty DATA frame with END_STREAM
        that ``h2`` would queue (its state machine and frame objects cost more than the rest
        of ending a stream), after what ``h2`` has queued. ``h2`` is told only when it must
        next judge a frame of the stream, or reset it (:meth:`_tell_end`): usually never,
        as the server's end then closes the exchange (see :meth:`_pieces`). While ``h2``
        may refuse to end the stream (a GOAWAY came, or the stream was never started), it
        ends it itself, and its refusal is the stream's error."""
        self._check_open()
        if self._goaway or not self.stream_id:
            try:
                self._conn.end_stream(self.stream_id)
            except self._errors.H2Error as exc:
                raise self._send_failed(exc) from exc
        else:
            self._sent += self._conn.data_to_send()
            self._sent += self._empty_data(_END_STREAM)
            self._end_untold = True
        self.input_closed = True

    def _tell_end(self) -> None:
        """Bring ``h2`` up to our END_STREAM sent by :meth:`end_input`, before it reads or
        writes anything of the stream: its own end_stream, whose frame (the one already
        queued) is dropped; what ``h2`` had queued before it keeps its place."""
        if not self._end_untold:
            return
        self._end_untold = False
        self._sent += self._conn.data_to_send()
        try:
            self._conn.end_stream(self.stream_id)
        except self._errors.H2Error:  # (never: end_input checked that h2 would take it)
            pass
        self._conn.data_to_send()

    def _send_failed(self, exc: Exception) -> SMRuntimeError:
        """h2 refused to send (the stream or connection closed under us): the stream's error,
        recorded, so that the consumer sees it too."""
        self.input_closed = True
        if self.failed is None:
            self.failed = ConnectionClosedError(
                f"the HTTP/2 stream closed while sending: {exc}", url=self._url
            )
            self.failed.__cause__ = exc
        return self.failed

    def _check_open(self) -> None:
        if self.failed is not None:
            raise self.failed
        if self.input_closed:
            raise InputClosedError("the input side of the HTTP/2 stream is already closed")

    def reset(self, code: int = CANCEL) -> None:
        """Abandon the stream: RST_STREAM (CANCEL by default) unless it is over, then GOAWAY.
        Afterwards the stream is failed (the consumer sees a local reset)."""
        if not self._is_closed():
            self._tell_end()
            try:
                self._conn.reset_stream(self.stream_id, code)
            except self._errors.H2Error:
                pass
        try:
            self._conn.close_connection()
        except self._errors.H2Error:
            pass
        self.input_closed = True
        if self.failed is None and not self.ended:
            self.failed = StreamResetError(
                f"the HTTP/2 stream was reset by this client ({error_name(code)})",
                error_code=code,
                remote=False,
                url=self._url,
            )

    def _is_closed(self) -> bool:
        return (self.ended and self.input_closed) or self.failed is not None

    def data_to_send(self) -> bytes:
        """The bytes to write to the socket now (may be empty)."""
        out = self._conn.data_to_send()
        if self._sent:
            self._sent += out
            out = bytes(self._sent)
            self._sent.clear()
        if self._updates:
            out += self._updates
            self._updates.clear()
        return out

    # -- receiving -------------------------------------------------------------------------

    def consumed(self, flow: int) -> bool:
        """The consumer took ``flow`` bytes of received DATA: open the windows by as much.
        Taken bytes are counted in batches of an eighth of the receive window and announced
        (WINDOW_UPDATE for the stream and the connection) once they make half a window, by
        this class for the bodies :meth:`_screen` took out, by ``h2`` (the same rule) for
        those it saw: what is held back never stops a server whose bytes were all taken,
        which still has three eighths of its window. True when a batch was counted (the
        caller then writes :meth:`data_to_send`)."""
        if flow <= 0 or self.failed is not None or self.ended:
            return False
        self._taken += flow
        if self._taken < self._ack_batch:
            return False
        if not self._take_data:  # h2 saw these bodies whole, and counted them
            taken, self._taken = self._taken, 0
            self._tell_end()
            try:
                self._conn.acknowledge_received_data(taken, self.stream_id)
            except self._errors.H2Error:
                return False  # the stream closed meanwhile: nothing to open
            return True
        self._processed += self._taken
        self._taken = 0
        if self._processed >= self._window // 2:
            size = self._processed.to_bytes(4, "big")
            self._updates += b"\x00\x00\x04\x08\x00\x00\x00\x00\x00" + size
            self._updates += b"\x00\x00\x04\x08\x00" + self.stream_id.to_bytes(4, "big") + size
            self._room += self._processed
            self._processed = 0
        return True

    def receive(self, data: Union[bytes, memoryview]) -> list[H2Event]:
        """Feed received bytes (``b""``: the peer closed the connection); the events for the
        consumer, in order. A failure is delivered once, as the last event. ``data`` may be a
        view of a buffer the caller reuses: nothing here keeps it."""
        if self.failed is not None or (self.ended and self.input_closed):
            return []
        if not len(data):
            return self._fail(
                ConnectionClosedError(
                    "the server closed the HTTP/2 connection "
                    + ("after GOAWAY " if self._goaway else "")
                    + (
                        "before the response headers"
                        if self.response is None
                        else f"in the response body after {self.bytes_received} bytes"
                    ),
                    url=self._url,
                    request_sent=self.response is not None or self.bytes_sent > 0,
                )
            )
        out: list[H2Event] = []
        rest: Union[bytes, memoryview] = data
        while len(rest) and self.failed is None:
            pieces, broken, rest = self._screen(rest)
            self._pieces(pieces, out)
            if broken is not None and self.failed is None:
                # made now, so that the message counts the bodies read before the frame
                what, code = broken
                error = ConnectionClosedError(
                    f"the server broke the HTTP/2 protocol: {what}" + self.where(), url=self._url
                )
                out.extend(self._violation(error, code))
        return out

    def _violation(self, error: SMRuntimeError, code: int = FLOW_CONTROL_ERROR) -> list[H2Event]:
        """The server broke the protocol (flow control by default): GOAWAY with ``code``, the
        stream fails."""
        try:
            self._conn.close_connection(error_code=code)
        except self._errors.H2Error:
            pass
        return self._fail(error)

    def _credit(self, stream: int, increment: int, out: list[H2Event]) -> None:
        """A WINDOW_UPDATE of the server for the connection (``stream`` 0) or our stream."""
        if stream:
            window = self._initial + self._send_credit + increment
        else:
            window = self._send_conn + increment
        if window > _MAX_WINDOW:
            out.extend(self._violation(self._window_error("a WINDOW_UPDATE")))
        elif stream:
            self._send_credit += increment
        else:
            self._send_conn = window

    def _window_error(self, what: str) -> ConnectionClosedError:
        return ConnectionClosedError(
            f"the server broke the HTTP/2 protocol: {what} took a send window past 2**31-1 "
            f"bytes (flow control)" + self.where(),
            url=self._url,
        )

    def _pieces(self, pieces: list[_Piece], out: list[H2Event]) -> None:
        """Our events for what :meth:`_screen` made of the received bytes, into ``out``."""
        pending: list[Union[bytes, memoryview]] = []  # for h2, in one call
        bodies: deque[tuple[bytes, int]] = deque()  # of the empty DATA frames in pending
        final = len(pieces) - 1
        for index, piece in enumerate(pieces):
            if self.failed is not None:
                return
            if isinstance(piece, _Credit):
                if pending:  # in order: a SETTINGS before it may change the stream's window
                    self._to_h2(pending, bodies, out)
                    pending, bodies = [], deque()
                if self.failed is None:
                    self._credit(piece.stream, piece.increment, out)
                continue
            if not isinstance(piece, tuple):
                pending.append(piece)
                continue
            body, flow, end = piece  # a DATA frame of ours, its body taken out
            # The stream is open for DATA: a frame that does not end it would change nothing
            # in h2. Nor would the one that ends it once our END_STREAM is queued, when nothing
            # follows it in these bytes: the exchange is then over, and receive() takes nothing
            # more, so h2 never meets a frame its view of the stream would decide.
            if not end or (self.input_closed and index == final):
                if pending:  # what came before it first: trailers or a reset may end the stream
                    self._to_h2(pending, bodies, out)
                    pending, bodies = [], deque()
                if not self.ended and self.failed is None:
                    self._body(body, flow, out, bool(end))
                    if end:
                        self.ended = True
                        out.append(End())
                    continue
            # h2 sees the frame with no body: it ends the stream, or h2 may refuse it
            pending.append(self._empty_data(end))
            bodies.append((body, flow))
        if pending and self.failed is None:
            self._to_h2(pending, bodies, out)

    def _empty_data(self, end: int) -> bytes:
        """A DATA frame of our stream with no body, END_STREAM as ``end`` says."""
        return b"\x00\x00\x00\x00" + bytes((end,)) + self.stream_id.to_bytes(4, "big")

    def _to_h2(
        self,
        pending: list[Union[bytes, memoryview]],
        bodies: deque[tuple[bytes, int]],
        out: list[H2Event],
    ) -> None:
        """Feed ``pending`` to ``h2``, its events (``bodies``: see :meth:`_events`) into
        ``out``; a protocol violation fails the stream."""
        chunk = b"".join(pending)  # one bytes object as it is
        self._tell_end()
        try:
            raw_events = self._conn.receive_data(chunk)
        except self._errors.ProtocolError as exc:
            text = str(exc)
            if text.isdigit():  # some of h2's errors say only a stream id
                text = f"{type(exc).__name__} (stream {text})"
            out.extend(
                self._fail(
                    ConnectionClosedError(
                        f"the server broke the HTTP/2 protocol: {text}" + self.where(),
                        url=self._url,
                    ),
                    cause=exc,
                )
            )
            return
        self._events(raw_events, bodies, out)

    def _body(self, data: bytes, flow: int, out: list[H2Event], end: bool = False) -> None:
        """A DATA frame's body for the consumer (an empty one is acknowledged at once, unless
        it ends the stream: no WINDOW_UPDATE for a stream that is over, RFC 9113 §5.1)."""
        if not data:  # an empty frame (END_STREAM, or padding only)
            if not end:
                self.consumed(flow)
            return
        self.bytes_received += len(data)
        out.append(Data(data, flow))

    def _events(
        self, raw_events: list[Any], bodies: deque[tuple[bytes, int]], out: list[H2Event]
    ) -> None:
        """Our events for ``h2``'s, into ``out``; ``bodies``: the payload and flow-controlled
        length of each DATA frame of our stream that :meth:`_screen` took out, in order."""
        ev = self._ev
        sid = self.stream_id
        for event in raw_events:
            if getattr(event, "stream_id", sid) != sid:
                continue  # connection-level (stream 0) or not ours
            if isinstance(event, ev.ResponseReceived):
                status, headers = self._headers(event.headers)
                if not 200 <= status <= 599:  # (h2 skips 1xx heads; it checks no digits)
                    shown = next((v for k, v in event.headers if _text(k) == ":status"), b"")
                    out.extend(
                        self._violation(
                            ConnectionClosedError(
                                f"the server broke the HTTP/2 protocol: a response :status of "
                                f"{_text(shown)!r} (three digits, 200-599, expected)"
                                + self.where(),
                                url=self._url,
                            ),
                            PROTOCOL_ERROR,
                        )
                    )
                    break
                self.response = Response(status, headers)
                # h2 checks a body against its Content-Length: it must see such a body whole
                self._take_data = all(key != "content-length" for key, _ in headers)
                out.append(self.response)
            elif isinstance(event, ev.DataReceived):
                data, flow = (
                    bodies.popleft() if bodies else (event.data, event.flow_controlled_length)
                )
                self._body(data, flow, out, event.stream_ended is not None)
            elif isinstance(event, ev.StreamEnded):
                self.ended = True
                out.append(End())
            elif isinstance(event, ev.StreamReset):
                if self.ended and event.error_code == 0:
                    # RFC 9113 8.1: the response is complete; the server wants no more input
                    self.input_closed = True
                    continue
                code = error_name(event.error_code)
                remote = bool(event.remote_reset)
                message = (
                    f"the server reset the HTTP/2 stream ({code})"
                    if remote  # else h2 reset it, for a frame the stream's state forbids
                    else f"the server broke the HTTP/2 protocol: a frame the stream's state "
                    f"forbids; this client reset the stream ({code})"
                )
                # RFC 9113 8.7: a stream refused before any answer was never processed
                refused = remote and event.error_code == REFUSED_STREAM and self.response is None
                if refused:
                    message += "; it never processed the request: safe to retry"
                out.extend(
                    self._fail(
                        StreamResetError(
                            message + self.where(),
                            error_code=event.error_code,
                            remote=remote,
                            url=self._url,
                            request_sent=not refused,
                        )
                    )
                )
                break
            elif isinstance(event, ev.RemoteSettingsChanged):
                conn = self._conn
                self._initial = conn.remote_settings.initial_window_size
                self._frame_size = conn.max_outbound_frame_size
                if self._initial + self._send_credit > _MAX_WINDOW:
                    out.extend(self._violation(self._window_error("a SETTINGS frame")))
                    break
            elif isinstance(event, ev.ConnectionTerminated):
                self._goaway = True
                last = event.last_stream_id
                if self.ended:
                    self._peer_closed = True
                    continue  # the response is complete: nothing is lost
                # (a server that answered did process the stream, whatever its last id says)
                answered = self.response is not None  # (DATA comes only after it)
                processed = last is None or last >= sid or answered
                out.extend(
                    self._fail(
                        StreamResetError(
                            f"the server ended the HTTP/2 connection with GOAWAY "
                            f"({error_name(event.error_code)}, last stream {last})"
                            + self.where()
                            + (
                                ""
                                if processed
                                else f"; it never processed stream {sid}: "
                                "safe to retry on a new connection"
                            ),
                            error_code=event.error_code,
                            url=self._url,
                            request_sent=processed,
                        )
                    )
                )
                break

    def _screen(
        self, data: Union[bytes, memoryview]
    ) -> tuple[list[_Piece], Optional[tuple[str, int]], Union[bytes, memoryview]]:
        """``data`` in pieces, in order: runs of bytes for ``h2``, the DATA frames of our
        stream taken out of it as ``(payload, flow-controlled length, END_STREAM flag)``, and
        the server's WINDOW_UPDATE frames for the connection and our stream as
        :class:`_Credit` (see :meth:`send`); a protocol violation by the server that ends the
        stream at the frame that shows it, as what it did and the GOAWAY code (None: none);
        and the bytes returned apart (below).

        Taken out: the graceful GOAWAY frames covering our stream (recorded in
        :attr:`goaway`), the WINDOW_UPDATE frames above (a malformed one, or one with no
        increment, goes to ``h2`` whole), and each DATA frame of our stream: :meth:`receive`
        hands ``h2`` the frame with no body (its END_STREAM flag kept) when it may change the
        stream's state, so that its states and errors stay h2's, and nothing while the stream
        is open for DATA and the frame does not end it; the payload goes to the consumer from
        here. ``h2`` would make a hex dump of every DATA frame it parses, for a log line,
        whether or not anything logs: for large frames that costs as much as everything else
        of a part on this side.
        So the receive window is kept here (:attr:`_room`, opened by :meth:`consumed`); a DATA
        frame past it ends the stream, nothing after it is passed on. DATA frames ``h2`` must
        refuse (bad padding, another stream) go to it whole, as does everything
        else, in order. DATA frames are taken out only once the response headers have come
        without a Content-Length (``h2`` checks such a body's length itself, and sees it
        whole): until then the bytes after a complete HEADERS or CONTINUATION frame are
        returned apart, last, for the caller to screen once ``h2`` has read the headers. A
        partial frame header, or a GOAWAY, WINDOW_UPDATE or DATA frame not yet complete, is
        held until its bytes arrive; the bytes after a GOAWAY that fails the stream are
        dropped (``h2`` would refuse them and hide the GOAWAY behind a protocol error). A frame
        header announcing more than :data:`MAX_FRAME_SIZE` ends the stream at once
        (FRAME_SIZE_ERROR): ``h2`` would check it only once the whole frame is buffered."""
        if self._held:
            self._held.append(bytes(data))
            self._held_len += len(data)
            if self._held_len < self._held_need:
                return [], None, b""
            data = b"".join(self._held)
            self._held = []
        n = len(data)
        pos = self._skip
        pieces: list[_Piece] = []
        kept: list[Union[bytes, memoryview]] = []  # the run so far, around removed frames
        start = 0  # of the bytes not yet put in kept or pieces
        sid = self.stream_id
        broken: Optional[tuple[str, int]] = None
        take = self._take_data
        rest: Union[bytes, memoryview] = b""
        kind: Optional[int] = None  # of the last frame looked at (None: the flag stays)
        if pos and self._skip_block and not take and pos < n:
            rest = data[pos:]  # after the end of a header block begun in an earlier read
            n = pos
        while pos < n:
            if pos + _FRAME_HEADER > n:
                self._hold(data[pos:], _FRAME_HEADER)
                n = pos  # what follows pos is held, not passed on
                break
            length = int.from_bytes(data[pos : pos + 3], "big")
            kind = data[pos + 3]
            end = pos + _FRAME_HEADER + length
            if length > MAX_FRAME_SIZE:
                what = (
                    f"a frame of {length} bytes (type 0x{kind:x}), over the {MAX_FRAME_SIZE}-byte "
                    "limit this client set (FRAME_SIZE_ERROR)"
                )
                head = bytes(data[pos : pos + 12])
                if self.response is None and head[:5] == b"HTTP/":
                    what += (
                        f"; the server answered {head!r}: it speaks HTTP/1.1, not HTTP/2 (an "
                        "http:// endpoint is reached by h2c, prior knowledge)"
                    )
                elif self.response is None and all(32 <= c < 127 or c in b"\r\n\t" for c in head):
                    what += (
                        f"; the server answered text ({head!r}), not HTTP/2 frames: it does not "
                        "speak HTTP/2 (an http:// endpoint is reached by h2c, prior knowledge)"
                    )
                broken = (what, FRAME_SIZE_ERROR)
                n = pos
                break
            if kind in _FIELD_BLOCK:
                self._in_block = not data[pos + 4] & _END_HEADERS
            elif self._in_block:
                # any other frame inside a field block is the server's PROTOCOL_ERROR (RFC
                # 9113 §6.10): to h2 whole, which refuses it, never taken out here
                pos = end
                continue
            if kind == _DATA and take:
                frame_stream = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
                if frame_stream == sid:
                    if end > n:
                        self._hold(data[pos:], _FRAME_HEADER + length)
                        n = pos
                        break
                    flags = data[pos + 4]
                    lo, hi = pos + _FRAME_HEADER, end  # the payload, padding left out
                    valid = True
                    if flags & _PADDED:  # the pad length, then the payload, then padding
                        valid = length > 0 and data[lo] < length  # else h2 refuses the frame
                        if valid:
                            hi -= data[lo]
                            lo += 1
                    if valid:
                        if length > self._room:
                            broken = (
                                f"a DATA frame of {length} bytes with {self._room} bytes left "
                                "in the receive window (flow control)",
                                FLOW_CONTROL_ERROR,
                            )
                            n = pos  # nothing from it on goes to h2
                            break
                        self._room -= length
                        _close_run(pieces, kept, data[start:pos])
                        pieces.append((bytes(data[lo:hi]), length, flags & _END_STREAM))
                        start = end
            elif kind == _GOAWAY and length >= 8:
                if end > n:
                    self._hold(data[pos:], _FRAME_HEADER + length)
                    n = pos
                    break
                body = pos + _FRAME_HEADER
                frame_stream = int.from_bytes(data[pos + 5 : body], "big") & 0x7FFFFFFF
                last = int.from_bytes(data[body : body + 4], "big") & 0x7FFFFFFF
                code = int.from_bytes(data[body + 4 : body + 8], "big")
                if frame_stream == 0 and code == 0 and last >= sid:
                    self.goaway = (code, last)
                    self._goaway = True
                    kept.append(data[start:pos])
                    start = end
                elif frame_stream == 0:
                    n = pos = end  # it fails the stream: what follows it is dropped
                    break
            elif kind == _WINDOW_UPDATE and length == 4:
                if end > n:
                    self._hold(data[pos:], _FRAME_HEADER + length)
                    n = pos
                    break
                frame_stream = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
                increment = int.from_bytes(data[pos + 9 : end], "big") & 0x7FFFFFFF
                if increment and (frame_stream == 0 or frame_stream == sid):
                    _close_run(pieces, kept, data[start:pos])
                    pieces.append(_Credit(frame_stream, increment))
                    start = end
            elif kind in _HEADER_BLOCK and not take and end < n:
                rest = data[end:]  # screened once h2 has read these headers
                n = pos = end
                break
            pos = end
        self._skip = pos - n  # the loop ends at or past n
        if kind is not None:
            self._skip_block = kind in _HEADER_BLOCK  # what is skipped ends a header frame
        _close_run(pieces, kept, data[start:n])
        return pieces, broken, rest

    def _hold(self, rest: Union[bytes, memoryview], need: int) -> None:
        self._held = [bytes(rest)]
        self._held_len = len(rest)
        self._held_need = need

    def where(self) -> str:
        """Where the stream is, for an error's message: before the response headers, or
        after how many response bytes."""
        if self.response is None:
            return " before the response headers"
        return f" after {self.bytes_received} response bytes"

    def _headers(self, raw: Any) -> tuple[int, list[tuple[str, str]]]:
        status = 0
        headers: list[tuple[str, str]] = []
        for name, value in raw:
            key, text = _text(name), _text(value)
            if key == ":status":
                # three ASCII digits, else 0 (refused by the caller); h2 does not check them
                status = int(text) if len(text) == 3 and text.isascii() and text.isdigit() else 0
            elif not key.startswith(":"):
                headers.append((key, text))
        return status, headers

    def backlog(self, waiting: int, input_bound: int) -> list[H2Event]:
        """The driver has ``waiting`` bytes it could not write yet, ``input_bound`` of them at
        most our input: past :data:`ANSWER_BACKLOG` more, the server is flooding us with frames
        to answer while it reads nothing, and the stream fails (GOAWAY ENHANCE_YOUR_CALM)."""
        if waiting <= input_bound + ANSWER_BACKLOG or self.failed is not None:
            return []
        return self._violation(
            ConnectionClosedError(
                f"the server sends frames that need answers (PING, SETTINGS) but reads none of "
                f"them: {waiting} bytes wait to be written; the connection was given up "
                "(ENHANCE_YOUR_CALM)" + self.where(),
                url=self._url,
            ),
            ENHANCE_YOUR_CALM,
        )

    def _fail(self, error: SMRuntimeError, cause: Optional[BaseException] = None) -> list[H2Event]:
        if cause is not None:
            error.__cause__ = cause
        self.failed = error
        self.input_closed = True
        return [Failed(error)]
