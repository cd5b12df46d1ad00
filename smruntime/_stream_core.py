"""The rules of the streaming body, without I/O: body bytes in, frames, events and records out.

:class:`StreamCore` is shared by the blocking :class:`smruntime.EventStream` and the asyncio
:class:`smruntime.aio.AsyncEventStream`; they differ only in how they wait for the next bytes.
A reader drives it like this::

    while True:
        item = core.next_event()          # or next_frame(), next_record(view)
        if item is NEED_DATA:
            chunk = <read the next body bytes, waiting until core.deadline()>
            core.feed(chunk) if chunk else core.finish()
            continue                      # on failure: raise core.fail(error)
        if item is END:
            break
        deliver(item)

The core holds ONE cursor over the stream: the frames decoded from the last chunk and not yet
handed out. Every view takes from it, so each event is delivered once whichever way the body is
iterated, and a view abandoned half-way (``break``) loses nothing: the next view continues with
the next event, as boto3's ``EventStream`` does. A blocking reader iterating events takes them
through :meth:`StreamCore.iter_events`, one generator step per PayloadPart event; those are
counted in the statistics when the statistics are next read.

Switching views mid-stream:

- the event views (iteration, ``iter_bytes``, ``iter_messages``) mix freely: each takes the
  next event;
- ``iter_frames`` needs each frame's wire facts, which are only kept once it has started: it is
  refused (:class:`~smruntime.exceptions.StreamError`) once an event view has taken an event;
- a record view (``iter_lines``, ``iter_json``, ``iter_sse``, ``iter_records``, ``iter_text``)
  starts at the current event and keeps a record decoder (a partial line, records decoded and
  not yet handed out). Once it has taken an event, only the same view (same format and options)
  may continue: any other view raises ``StreamError`` rather than lose what that decoder holds.

The end: after a clean end every view yields nothing; after ``close()`` every view yields
nothing; after a failure (cut, corrupt frame, timeout, in-stream exception) every view raises
the same error again, so that a second loop cannot mistake a broken stream for a finished one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Union

from eventstream import Decoder, EventStreamError, Frame, Message, TruncatedStream
from smruntime import _operations
from smruntime._log import debug_logger
from smruntime.exceptions import (
    ContainerStreamError,
    CorruptStreamError,
    IncompleteStreamError,
    NotEventStreamError,
    ReadTimeoutError,
    RecordError,
    SMRuntimeError,
    StreamError,
)

if TYPE_CHECKING:
    from smruntime.records import RecordDecoder

__all__ = [
    "END",
    "NEED_DATA",
    "RecordView",
    "StreamCore",
    "StreamStats",
    "TimedFrame",
    "keep_partial_text",
]

EVENT_STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
_PREVIEW_BYTES = 256


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NEED_DATA: Any = _Marker("NEED_DATA")
"""Returned by the ``next_*`` methods: feed the core the next body bytes (or ``finish``)."""
END: Any = _Marker("END")
"""Returned by the ``next_*`` methods: the view has nothing more (ended or closed)."""

_OPEN, _ENDED, _CLOSED, _FAILED = 0, 1, 2, 3


def keep_partial_text(error: SMRuntimeError, texts: list[str]) -> None:
    """``read_text``'s rule, blocking and asyncio: the ``texts`` delivered before ``error``
    stay on it, joined, as ``error.partial_text`` (a caller keeps what the model generated).
    A failed stream raises the same error again from every view: the ``read_text`` that met it
    first sets it, a later one (which received nothing) leaves it as it is."""
    if error.partial_text is None:
        error.partial_text = "".join(texts)


_STATS_FIELDS = (
    "time_to_headers",
    "time_to_first_byte",
    "time_to_first_event",
    "duration",
    "bytes",
    "frames",
    "events",
    "payload_bytes",
    "event_times",
    "completed",
)


class StreamStats:
    """Timing and volume of one streamed response. Times are seconds since the request started.

    ``event_times`` holds the arrival time of each event handed out (PayloadPart and others).
    """

    # A plain class rather than a dataclass: importing dataclasses costs milliseconds.
    # events, payload_bytes and event_times are counted on demand (_settle, set by the stream's
    # core): its event loop takes PayloadPart events without counting each one.
    __slots__ = (
        "_event_times",
        "_events",
        "_payload_bytes",
        "_settle",
        "bytes",
        "completed",
        "duration",
        "frames",
        "time_to_first_byte",
        "time_to_first_event",
        "time_to_headers",
    )

    time_to_headers: float | None
    time_to_first_byte: float | None
    time_to_first_event: float | None
    duration: float | None
    bytes: int
    frames: int
    completed: bool
    """True once the body ended cleanly after whole frames and no in-stream exception."""

    def __init__(
        self,
        time_to_headers: Optional[float] = None,
        time_to_first_byte: Optional[float] = None,
        time_to_first_event: Optional[float] = None,
        duration: Optional[float] = None,
        bytes: int = 0,
        frames: int = 0,
        events: int = 0,
        payload_bytes: int = 0,
        event_times: Optional[list[float]] = None,
        completed: bool = False,
    ) -> None:
        self.time_to_headers = time_to_headers
        self.time_to_first_byte = time_to_first_byte
        self.time_to_first_event = time_to_first_event
        self.duration = duration
        self.bytes = bytes
        self.frames = frames
        self._settle: Optional[Callable[[], None]] = None
        self._events = events
        self._payload_bytes = payload_bytes
        self._event_times = [] if event_times is None else event_times
        self.completed = completed

    def _live(self) -> None:
        settle = self._settle
        if settle is not None:
            settle()

    @property
    def events(self) -> int:
        """Events handed out."""
        self._live()
        return self._events

    @events.setter
    def events(self, value: int) -> None:
        self._live()
        self._events = value

    @property
    def payload_bytes(self) -> int:
        """Payload bytes of the PayloadPart events handed out."""
        self._live()
        return self._payload_bytes

    @payload_bytes.setter
    def payload_bytes(self, value: int) -> None:
        self._live()
        self._payload_bytes = value

    @property
    def event_times(self) -> list[float]:
        """The arrival time of each event handed out (brought up to date by every read of
        ``events``, ``payload_bytes`` or ``event_times``)."""
        self._live()
        return self._event_times

    @event_times.setter
    def event_times(self, value: list[float]) -> None:
        self._live()
        self._event_times = value

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _STATS_FIELDS)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _STATS_FIELDS)
        return f"StreamStats({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable

    def gaps(self) -> list[float]:
        """Seconds between consecutive events."""
        times = self.event_times
        return [b - a for a, b in zip(times, times[1:])]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (without the per-event times)."""
        return {
            "time_to_headers": self.time_to_headers,
            "time_to_first_byte": self.time_to_first_byte,
            "time_to_first_event": self.time_to_first_event,
            "duration": self.duration,
            "bytes": self.bytes,
            "frames": self.frames,
            "events": self.events,
            "payload_bytes": self.payload_bytes,
            "completed": self.completed,
        }


class TimedFrame(NamedTuple):
    """A decoded frame with its wire facts and its arrival time (seconds since request start)."""

    frame: Frame
    received_at: float

    @property
    def message(self) -> Message:
        return self.frame.message


def _limit(max_record_bytes: Optional[int]) -> int:
    from smruntime import records

    return records.DEFAULT_MAX_RECORD_BYTES if max_record_bytes is None else max_record_bytes


class RecordView:
    """Which record view to read: its kind, format and options (compared to continue a view).

    ``kind`` is ``"lines"``, ``"json"``, ``"sse"``, ``"records"`` or ``"text"``; ``format`` is
    the format argument as given (``None`` = from the content type).
    """

    __slots__ = ("format", "kind", "max_record_bytes")

    def __init__(
        self, kind: str, format: Optional[str] = None, max_record_bytes: Optional[int] = None
    ) -> None:
        self.kind = kind
        self.format = format
        self.max_record_bytes = _limit(max_record_bytes)

    def key(self) -> tuple[str, Optional[str], int]:
        return (self.kind, self.format, self.max_record_bytes)

    def make_decoder(self, content_type: Optional[str]) -> RecordDecoder[Any]:
        from smruntime import records

        limit = self.max_record_bytes
        kind = self.kind
        if kind == "lines":
            return records.LineDecoder(max_record_bytes=limit)
        if kind == "json":
            return records.JsonStreamDecoder(max_record_bytes=limit)
        if kind == "sse":
            return records.SSEDecoder(max_record_bytes=limit)
        if kind == "text":
            return records.text_decoder_for(
                self.format or "auto", content_type=content_type, max_record_bytes=limit
            )
        fmt = self.format
        name = records.format_for(content_type) if fmt in (None, "auto") else fmt
        return records.make_decoder(name, max_record_bytes=limit)


class StreamCore:
    """One response's stream state: decoder, cursor, statistics, deadlines and errors.

    ``http_content_type`` and ``http_content_encoding`` are the HTTP headers checked at the
    first byte (an event stream, never compressed); ``content_type`` is the model's
    (``X-Amzn-SageMaker-Content-Type``).
    ``clock`` is monotonic seconds; ``started_at`` is on that clock (the request's start).
    """

    # Slots: one core per stream, and a gateway holds hundreds (no instance dict to keep).
    __slots__ = (
        "_asked_frames",
        "_batch_at",
        "_deferred",
        "_events_taken",
        "_frames_mode",
        "_payload_headers",
        "_pending",
        "_progress_at",
        "_record_queue",
        "_records",
        "_records_done",
        "_run_items",
        "_run_settled",
        "_total_deadline",
        "_view",
        "clock",
        "content_type",
        "decoder",
        "error",
        "event_timeout",
        "first_event_timeout",
        "http_content_encoding",
        "http_content_type",
        "metadata",
        "operation_name",
        "sinks",
        "started",
        "state",
        "stats",
        "total_timeout",
    )

    def __init__(
        self,
        *,
        operation_name: str = "InvokeEndpointWithResponseStream",
        http_content_type: Optional[str] = None,
        http_content_encoding: Optional[str] = None,
        content_type: Optional[str] = None,
        started_at: Optional[float] = None,
        headers_at: Optional[float] = None,
        first_event_timeout: Optional[float] = None,
        event_timeout: Optional[float] = None,
        total_timeout: Optional[float] = None,
        max_payload_bytes: Optional[int] = None,
        response_metadata: Optional[dict[str, Any]] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.operation_name = operation_name
        self.http_content_type = http_content_type
        self.http_content_encoding = http_content_encoding
        self.content_type = content_type
        self.clock = clock
        self.started = started_at if started_at is not None else clock()
        self.first_event_timeout = first_event_timeout
        self.event_timeout = event_timeout
        self.total_timeout = total_timeout
        self._total_deadline = None if total_timeout is None else self.started + total_timeout
        self._progress_at = clock() if headers_at is None else headers_at
        self._asked_frames = -1  # frames completed at the last deadline() (see there)
        decoder_options: dict[str, int] = {}
        if max_payload_bytes is not None:
            decoder_options["max_payload_bytes"] = max_payload_bytes
        self.decoder = Decoder(**decoder_options)
        self.metadata = response_metadata or {}
        self.sinks: tuple[IO[bytes], ...] = ()  # (capture() adds one: rare)
        self.stats = StreamStats()
        self.stats._settle = self._settle
        if headers_at is not None:
            self.stats.time_to_headers = headers_at - self.started
        self.state = _OPEN
        self.error: Optional[BaseException] = None
        self._pending: deque[Union[Message, Frame]] = deque()
        # The items the pending deque was made of; those before _run_settled are counted.
        self._run_items: Sequence[Any] = ()
        self._run_settled = len(self._run_items)  # none counted, of none
        self._batch_at = 0.0
        self._deferred: Optional[EventStreamError] = None
        self._frames_mode = False  # iter_frames started: decode with the wire facts
        self._events_taken = False  # an event view took an event (iter_frames is then refused)
        self._payload_headers: object = None  # the decoder shares one Headers per header block
        self._view: Optional[tuple[str, Optional[str], int]] = None
        self._records: Optional[RecordDecoder[Any]] = None
        self._record_queue: Optional[deque[Any]] = None  # made by start_records
        self._records_done = False

    # -- state ---------------------------------------------------------------------------

    @property
    def open(self) -> bool:
        """True while more body bytes may be read (not ended, closed or failed)."""
        return self.state == _OPEN

    @property
    def consumed(self) -> bool:
        """True once a view took something from the stream."""
        return self._events_taken or self._frames_mode or self._view is not None

    def describe_state(self) -> str:
        if self.state == _CLOSED:
            return "closed"
        if self.state == _FAILED:
            return "failed"
        if self.state == _ENDED:
            return "ended"
        return "reading" if self.consumed else "open"

    def close(self) -> bool:
        """The caller closed the body: every view now ends. True if this call closed it."""
        if self.state == _CLOSED:
            return False
        if self.state == _OPEN:
            self.stats.duration = self.now()
        self.state = _CLOSED
        self._drop_pending()
        if self._record_queue is not None:
            self._record_queue.clear()
        return True

    def closed_while_waiting(self) -> IncompleteStreamError:
        """The error for a reader whose wait was ended by ``close()`` from elsewhere."""
        stats = self.stats
        return IncompleteStreamError(
            f"{self.operation_name}: the stream was closed by the caller while a read was "
            f"waiting, after {stats.events} events",
            bytes_received=stats.bytes,
            events=stats.events,
        )

    def fail(self, error: BaseException) -> BaseException:
        """Record a terminal failure (raised again by every later view); returns ``error``."""
        if self.state == _OPEN:
            self.stats.duration = self.now()
        if self.state in (_OPEN, _ENDED):  # ended: a record decoded after the last byte
            self.state = _FAILED
            self.error = error
        return error

    def _raise_terminal(self) -> Any:
        if self.state == _FAILED and self.error is not None:
            raise self.error
        return END

    # -- time ----------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds since the request started."""
        return self.clock() - self.started

    def deadline(self) -> Optional[float]:
        """The monotonic time by which the next frame must complete (``None``: no limit).

        The event limits count from the response headers (first event) or from the last
        completed frame, not from the last bytes: a peer trickling bytes that never complete a
        frame still times out. But they count from when the caller came back for the next
        frame if that is later (the first call since frames completed: the reader calls only
        once it has taken them all), so that a consumer slower than the limit is not taken
        for a slow peer. The total deadline counts from the request's start.
        """
        frames = self.stats.frames
        if frames != self._asked_frames:
            self._asked_frames = frames
            now = self.clock()
            if now > self._progress_at:  # (a clock of the caller's may lag headers_at)
                self._progress_at = now
        limit = self.event_timeout if frames else self.first_event_timeout
        deadline = None if limit is None else self._progress_at + limit
        total = self._total_deadline
        if total is not None and (deadline is None or total < deadline):
            deadline = total
        return deadline

    def timeout_error(self, url: Optional[str] = None) -> ReadTimeoutError:
        """The error for a passed :meth:`deadline` (not recorded: pass it to :meth:`fail`)."""
        elapsed = self.now()
        frames = self.stats.frames
        total = self._total_deadline
        if total is not None and self.clock() >= total - 0.0005:
            phase, limit = "total", self.total_timeout
            what = f"the stream's total deadline of {limit} s passed"
        elif frames:
            phase, limit = "between-events", self.event_timeout
            what = f"no event completed for {limit} s after event {frames}"
        else:
            phase, limit = "first-byte", self.first_event_timeout
            what = f"no event completed within {limit} s of the response headers"
        return ReadTimeoutError(
            f"{self.operation_name}: {what} ({self.stats.bytes} bytes, "
            f"{frames} frames received, {elapsed:.3f} s elapsed)",
            phase=phase,
            timeout=limit,
            elapsed=elapsed,
            url=url,
        )

    # -- bytes in ------------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        """Take the next body bytes (never empty: use :meth:`finish` at the end).

        Raises (after recording it) ``NotEventStreamError`` or ``CorruptStreamError``; frames
        completed before a corrupt one are handed out first.
        """
        if self.state != _OPEN:
            return
        stats = self.stats
        clock = self.clock()
        now = clock - self.started
        for sink in self.sinks:
            sink.write(chunk)  # before any check: a capture keeps what arrived
        stats.bytes += len(chunk)
        if stats.time_to_first_byte is None:
            stats.time_to_first_byte = now
            self._check_event_stream(chunk)
        decoder = self.decoder
        try:
            if self._frames_mode:
                completed: list[Any] = decoder.feed_frames(chunk)
            else:
                completed = decoder.feed(chunk)
        except EventStreamError as exc:
            raise self.fail(self._corrupt_error(exc, chunk)) from exc
        if completed:
            stats.frames += len(completed)
            self._progress_at = clock
            # The completed frames, after what is still pending, become the pending deque's
            # run (uncounted: see _settle).
            self._settle()
            pending = self._pending
            if pending:  # fed before the cursor emptied (the asyncio driver feeds as bytes come)
                completed = [*pending, *completed]
                pending.clear()
            pending.extend(completed)
            self._run_items = completed
            self._run_settled = 0
            self._batch_at = now
            if decoder.pending:  # (bytes held after these frames: were they corrupt?)
                try:
                    decoder.feed(b"")  # raises if so
                except EventStreamError as exc:
                    self._deferred = exc

    def finish(self) -> None:
        """The body ended: a partial frame pending raises (recorded) ``IncompleteStreamError``."""
        if self.state != _OPEN:
            return
        if not self.stats.bytes:
            self._check_event_stream(b"")  # an empty 200 of another type
        try:
            self.decoder.close()
        except TruncatedStream as exc:
            raise self.fail(self.cut_error("the body ended")) from exc
        except EventStreamError as exc:
            raise self.fail(self._corrupt_error(exc, b"")) from exc
        self.stats.completed = True
        self.stats.duration = self.now()
        self.state = _ENDED

    def _swap_pending(self) -> None:
        """Move the pending items to a new deque (the run is unchanged): a loop suspended in
        :meth:`iter_events` holds the old one, now empty, and goes back through
        :meth:`next_event` and its view rules."""
        old = self._pending
        self._pending = deque(old)
        old.clear()

    def _settle(self) -> None:
        """Count the events :meth:`iter_events` took since the last call (it counts none):
        the pending items before the deque's head, not yet counted, are exactly those."""
        items = self._run_items
        taken = len(items) - len(self._pending)
        done = self._run_settled
        if taken != done:  # never fewer: what left the deque was counted or is being counted
            self._run_settled = taken
            stats = self.stats
            stats._events += taken - done
            if taken - done == 1:  # (one event per chunk: a stream at its pace)
                stats._payload_bytes += len(items[done].payload)
                stats._event_times.append(self._batch_at)
                return
            stats._payload_bytes += sum([len(m.payload) for m in items[done:taken]])
            stats._event_times.extend([self._batch_at] * (taken - done))

    def _take(self) -> Any:
        """The next pending item, for a caller that counts it itself."""
        self._settle()
        item = self._pending.popleft()
        self._run_settled += 1
        return item

    def _drop_pending(self) -> None:
        self._settle()
        self._pending.clear()
        self._run_items = ()
        self._run_settled = 0

    def _check_event_stream(self, first: bytes) -> None:
        encoding = self.http_content_encoding
        if encoding is not None and encoding.strip().lower() not in ("", "identity"):
            # Never asked for (no Accept-Encoding is sent) and never sent by the service: a
            # proxy rewrote the answer. Decoding it would hide that; say so instead.
            raise self.fail(
                NotEventStreamError(
                    f"{self.operation_name}: the 200 response has Content-Encoding "
                    f"{encoding!r}; an event stream is never compressed (a proxy in the way?)",
                    preview=first[:_PREVIEW_BYTES],
                    content_type=self.http_content_type,
                )
            )
        http_type = self.http_content_type
        if http_type is not None and not http_type.lower().startswith(EVENT_STREAM_CONTENT_TYPE):
            preview = first[:_PREVIEW_BYTES]
            raise self.fail(
                NotEventStreamError(
                    f"{self.operation_name}: the 200 response is {http_type!r}, not an event "
                    f"stream (a proxy or a wrong URL?); it starts with {preview!r}",
                    preview=preview,
                    content_type=http_type,
                )
            )

    def interrupted(self, exc: BaseException) -> None:
        """A read was interrupted (``KeyboardInterrupt``, a cancelled task) and its connection
        dropped: recorded as a failure, so that a later read raises instead of ending quietly
        (an explicit ``close()`` afterwards still ends every view)."""
        if self.state == _OPEN:
            self.fail(self.cut_error(f"an earlier read was interrupted ({type(exc).__name__})"))

    def cut_error(self, what: str) -> IncompleteStreamError:
        """The error for a body that stopped early (``what`` says how); not recorded."""
        pending = self.decoder.pending
        where = (
            f"inside the frame at offset {self.decoder.bytes_consumed} "
            f"({pending} bytes of it received)"
            if pending
            else f"after {self.stats.frames} whole frames, before the end of the body"
        )
        return IncompleteStreamError(
            f"{self.operation_name}: the stream was cut {where}: {what}",
            bytes_received=self.stats.bytes,
            events=self.stats.events,
        )

    def _corrupt_error(self, exc: EventStreamError, chunk: bytes) -> StreamError:
        if self.stats.frames == 0:
            # A body that fails at the first prelude is almost never a corrupted event stream:
            # it is something else (HTML from a proxy, JSON, SSE) that the caller should see.
            preview = chunk[:_PREVIEW_BYTES]
            return NotEventStreamError(
                f"{self.operation_name}: the response body is not an event stream ({exc}); "
                f"it starts with {preview!r}",
                preview=preview,
                content_type=self.http_content_type,
            )
        offset = getattr(exc, "offset", None)
        where = f" (frame at offset {offset})" if offset is not None else ""
        return CorruptStreamError(
            f"{self.operation_name}: corrupt event stream after {self.stats.frames} "
            f"frames{where}: {exc}",
            bytes_received=self.stats.bytes,
            events=self.stats.events,
        )

    def _drained(self) -> Any:
        """The cursor is empty: a deferred corruption, the end, or the need for more bytes."""
        deferred = self._deferred
        if deferred is not None:
            self._deferred = None
            raise self.fail(self._corrupt_error(deferred, b"")) from deferred
        if self.state == _OPEN:
            return NEED_DATA
        return self._raise_terminal()

    # -- items out -----------------------------------------------------------------------

    def _count_event(self, at: float) -> None:
        stats = self.stats
        if stats.time_to_first_event is None:
            stats.time_to_first_event = at
        stats._events += 1
        stats._event_times.append(at)

    def _check_event_view(self) -> None:
        if self._view is not None and not self._records_done and self.state == _OPEN:
            self._refuse("an event view", self._view)

    def _refuse(self, wanted: str, view: tuple[str, Optional[str], int]) -> None:
        kind, fmt, _ = view
        shown = f"{kind}({fmt!r})" if fmt is not None else kind
        raise StreamError(
            f"this stream is being read as {shown} records: {wanted} cannot take over "
            "without losing what the record decoder holds; continue with the same view",
            bytes_received=self.stats.bytes,
            events=self.stats.events,
        )

    def next_event(self) -> Any:
        """The next boto3-shaped event (unknown types skipped; in-stream exceptions raised),
        or :data:`NEED_DATA` / :data:`END`."""
        if self._view is not None:
            self._check_event_view()
        return self._next_event()

    def next_payload_event(self) -> Any:
        """:meth:`next_event` in one call for nearly every frame: a known PayloadPart at the
        head of the cursor is handed out as :meth:`iter_events` hands it (counted later, by
        ``_settle``); anything else goes through :meth:`next_event` (for an async reader,
        which cannot be a generator)."""
        pending = self._pending
        if self._view is None:
            if not pending:
                if self.state == _OPEN and self._deferred is None:
                    return NEED_DATA  # what _drained() says, without the calls
            elif not self._frames_mode:
                message: Message = pending[0]  # type: ignore[assignment]  # not frames mode
                # _payload_headers is set once a PayloadPart went through _next_event, which
                # counted it as the first event (time_to_first_event).
                if message.headers is self._payload_headers:
                    pending.popleft()
                    return {"PayloadPart": {"Bytes": message.payload}}
        return self.next_event()

    def iter_events(
        self, fill: Callable[[], None], release: Callable[[], None]
    ) -> Iterator[dict[str, Any]]:
        """The events of :meth:`next_event` for a blocking reader, as a generator.

        ``fill()`` reads the next body bytes into the core (or finishes it) and raises on
        failure; ``release()`` gives the connection back once the stream is over (ended or
        failed). PayloadPart events (nearly every frame) are taken by an inlined copy of the
        fast path of :meth:`_next_event`: one generator step per event, no call.
        """
        while True:
            pending = self._pending
            if pending and not self._frames_mode and self._view is None:
                # start_records() swaps in a new deque, which ends this loop.
                popleft = pending.popleft
                headers = self._payload_headers
                self._events_taken = True
                while pending:
                    message: Message = popleft()  # type: ignore[assignment]  # not frames mode
                    if message.headers is not headers:
                        pending.appendleft(message)  # not a known PayloadPart: the full path
                        break
                    # Counted later, by _settle.
                    yield {"PayloadPart": {"Bytes": message.payload}}
            try:
                item = self.next_event()
                while item is NEED_DATA:
                    fill()
                    item = self.next_event()
            except BaseException:
                if not self.open:
                    release()
                raise
            if item is END:
                release()
                return
            yield item

    def _next_event(self) -> Any:
        pending = self._pending
        while pending:
            item = self._take()
            self._events_taken = True
            message: Message = item.message if self._frames_mode else item
            headers = message.headers
            if headers is not self._payload_headers:
                if (
                    headers.get(":message-type") == "event"
                    and headers.get(":event-type") == "PayloadPart"
                ):
                    self._payload_headers = headers
                else:
                    event = self._other_event(message)
                    if event is None:
                        continue
                    self._count_event(self._batch_at)
                    return event
            # The fast path, taken by nearly every frame of a response.
            payload = message.payload
            stats = self.stats
            stats._payload_bytes += len(payload)
            at = self._batch_at
            if stats.time_to_first_event is None:
                stats.time_to_first_event = at
            stats._events += 1
            stats._event_times.append(at)
            return {"PayloadPart": {"Bytes": payload}}
        return self._drained()

    def _other_event(self, message: Message) -> dict[str, Any] | None:
        op = self.operation_name
        error = _operations.stream_error(op, message, response_metadata=self.metadata)
        if error is not None:
            error.bytes_received = self.stats.bytes  # type: ignore[attr-defined]
            error.events = self.stats.events  # type: ignore[attr-defined]
            self._drop_pending()
            raise self.fail(error)
        event = _operations.event_to_dict(message, op)
        if event is None:
            log = debug_logger("smruntime.stream")
            if log:
                log.debug("skipping an event of unknown type: %r", dict(message.headers))
        return event

    def next_bytes(self) -> Any:
        """The next non-empty PayloadPart payload, or :data:`NEED_DATA` / :data:`END`."""
        self._check_event_view()
        while True:
            event = self._next_event()
            if event is NEED_DATA or event is END:
                return event
            part = event.get("PayloadPart")
            if part is not None:
                data = part.get("Bytes", b"")
                if data:
                    return data

    def next_message(self) -> Any:
        """The next :class:`eventstream.Message`, exception messages included (not raised)."""
        self._check_event_view()
        if self._pending:
            item = self._take()
            self._events_taken = True
            self._count_event(self._batch_at)
            return item.message if self._frames_mode else item
        return self._drained()

    def start_frames(self) -> None:
        """``iter_frames`` begins: refused once an event was taken without the wire facts."""
        if self._frames_mode:
            return
        self._check_event_view()
        if (self._events_taken or self._pending) and self.state == _OPEN:
            raise StreamError(
                "iter_frames() needs each frame's wire facts: start it before any other view "
                "takes an event (iter_messages() gives the messages from any point)",
                bytes_received=self.stats.bytes,
                events=self.stats.events,
            )
        self._frames_mode = True

    def next_frame(self) -> Any:
        """The next :class:`TimedFrame` (after :meth:`start_frames`), exceptions included."""
        if self._pending:
            frame = self._take()
            self._events_taken = True
            self._count_event(self._batch_at)
            return TimedFrame(frame, self._batch_at)
        return self._drained()

    # -- records -------------------------------------------------------------------------

    def start_records(self, view: RecordView) -> None:
        """A record view begins or continues (``StreamError`` if another one holds data)."""
        key = view.key()
        current = self._view
        if current == key:
            return
        if current is not None and not self._records_done and self.state == _OPEN:
            self._refuse(f"a {view.kind} view", current)
        self._view = key
        self._swap_pending()  # an event loop suspended in iter_events must ask again
        self._records = view.make_decoder(self.content_type)
        if self._record_queue is None:
            self._record_queue = deque()
        else:
            self._record_queue.clear()
        self._records_done = self.state != _OPEN and not self._pending

    def next_record(self) -> Any:
        """The next record of the current record view, or :data:`NEED_DATA` / :data:`END`."""
        queue = self._record_queue
        decoder = self._records
        assert decoder is not None, "start_records() first"
        assert queue is not None
        while True:
            if queue:
                return queue.popleft()
            if self._records_done or self.state == _CLOSED:
                return self._raise_terminal()
            data = self._next_bytes_for_records()
            if data is NEED_DATA:
                return NEED_DATA
            try:
                if data is END:
                    self._records_done = True
                    if self.state == _ENDED:
                        queue.extend(decoder.close())
                    continue
                queue.extend(decoder.feed(data))
            except RecordError as exc:
                raise self.fail(exc) from None

    def _next_bytes_for_records(self) -> Any:
        while True:
            event = self._next_event()
            if event is NEED_DATA or event is END:
                return event
            part = event.get("PayloadPart")
            if part is not None:
                data = part.get("Bytes", b"")
                if data:
                    return data

    def next_text(self, raise_on_error: bool) -> Any:
        """The next text delta of a ``text`` record view, or :data:`NEED_DATA` / :data:`END`.

        Records without text are skipped; an error record raises (recorded)
        ``ContainerStreamError`` when ``raise_on_error``.
        """
        from smruntime.records import text_and_error

        while True:
            record = self.next_record()
            if record is NEED_DATA or record is END:
                return record
            text, problem = text_and_error(record)
            if problem is not None and raise_on_error:
                assert self._record_queue is not None  # (next_record gave a record)
                self._record_queue.clear()
                raise self.fail(
                    ContainerStreamError(
                        f"{self.operation_name}: the model container reported an error inside "
                        f"the stream: {problem}",
                        record=record,
                    )
                )
            if text:
                return text
