"""The streaming response body of InvokeEndpointWithResponseStream.

Layers, each built on the one below, all consuming the same single pass over the HTTP body:

    HTTP chunks -> event-stream frames (``iter_frames``) -> events (iteration, boto3's shape)
    -> payload bytes (``iter_bytes``) -> records (``iter_lines``, ``iter_json``, ``iter_sse``)
    -> generated text (``iter_text``)

Every event is handed over as soon as its last byte arrives. The stream can be consumed once,
through one view. It ends only at the end of the HTTP body with no partial frame pending;
anything else (a cut connection, a CRC failure, a timeout, an in-stream exception) raises one of
the client's errors, and every exit path closes the connection.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, Callable, NamedTuple, Optional

from eventstream import Decoder, EventStreamError, Frame, Message, TruncatedStream
from smruntime import _operations
from smruntime._http import HttpResponse
from smruntime._log import debug_logger
from smruntime.exceptions import (
    ContainerStreamError,
    CorruptStreamError,
    IncompleteStreamError,
    NotEventStreamError,
    ReadTimeoutError,
    StreamError,
    TransportError,
)

if TYPE_CHECKING:
    from smruntime import records

__all__ = ["EventStream", "StreamStats", "TimedFrame"]

EVENT_STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
_PREVIEW_BYTES = 256


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
    __slots__ = _STATS_FIELDS

    time_to_headers: float | None
    time_to_first_byte: float | None
    time_to_first_event: float | None
    duration: float | None
    bytes: int
    frames: int
    events: int
    payload_bytes: int
    event_times: list[float]
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
        self.events = events
        self.payload_bytes = payload_bytes
        self.event_times = [] if event_times is None else event_times
        self.completed = completed

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


class EventStream:
    """The ``Body`` of a streaming response: iterate it for boto3-shaped events.

    ``for event in body`` yields ``{"PayloadPart": {"Bytes": b"..."}}`` per part (unknown event
    types are skipped). In-stream exceptions raise :class:`~smruntime.exceptions.ModelStreamError`
    or :class:`~smruntime.exceptions.InternalStreamFailure`. Use it as a context manager, or call
    :meth:`close`, to release the connection early; the container then sees the disconnect.
    """

    def __init__(
        self,
        response: HttpResponse,
        *,
        operation_name: str = "InvokeEndpointWithResponseStream",
        content_type: str | None = None,
        started_at: float | None = None,
        headers_at: float | None = None,
        first_event_timeout: float | None = None,
        event_timeout: float | None = None,
        total_timeout: float | None = None,
        max_payload_bytes: int | None = None,
        response_metadata: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._response = response
        self._operation_name = operation_name
        self.content_type = content_type
        """The model's content type (``X-Amzn-SageMaker-Content-Type``), if the service sent it."""
        self._clock = clock
        self._started = started_at if started_at is not None else clock()
        self._first_event_timeout = first_event_timeout
        self._event_timeout = event_timeout
        self._deadline = None if total_timeout is None else self._started + total_timeout
        self._progress_at = self._started  # when the last frame completed (or reading began)
        self._total_timeout = total_timeout
        decoder_options: dict[str, int] = {}
        if max_payload_bytes is not None:
            decoder_options["max_payload_bytes"] = max_payload_bytes
        self._decoder = Decoder(**decoder_options)
        self._metadata = response_metadata or {}
        self._sinks: list[IO[bytes]] = []
        self._consumed = False
        self._closed = False
        self.stats = StreamStats()
        if headers_at is not None:
            self.stats.time_to_headers = headers_at - self._started

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Release the connection; a stream not read to its end is cut (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._response.close()
        except Exception:
            log = debug_logger("smruntime.stream")
            if log:
                log.debug("closing the response failed", exc_info=True)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # An abandoned stream must not hold its connection (the container keeps generating).
        if not getattr(self, "_closed", True):
            self.close()

    def capture(self, sink: IO[bytes]) -> EventStream:
        """Write every raw body byte to ``sink`` as it arrives (for ``decode`` later)."""
        self._sinks.append(sink)
        return self

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("consumed" if self._consumed else "open")
        return (
            f"<EventStream {state} content_type={self.content_type!r} "
            f"frames={self.stats.frames} bytes={self.stats.bytes}>"
        )

    # -- frames ------------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock() - self._started

    def _arm_timeout(self) -> None:
        """Set the socket timeout to what is left of the event limit and of the deadline.

        The event limits count from the response headers (first event) or from the last
        completed frame, not from the last chunk: a peer trickling bytes that never complete a
        frame still times out.
        """
        now = self._clock()
        limit = self._event_timeout if self.stats.frames else self._first_event_timeout
        per_read = None
        if limit is not None:
            per_read = self._progress_at + limit - now
            if per_read <= 0:
                raise self._timeout_error(None)
        if self._deadline is not None:
            remaining = self._deadline - now
            if remaining <= 0:
                raise self._timeout_error(None)
            per_read = remaining if per_read is None else min(per_read, remaining)
        self._response.set_read_timeout(per_read)

    def _timeout_error(self, exc: ReadTimeoutError | None) -> ReadTimeoutError:
        elapsed = self._now()
        frames = self.stats.frames
        if self._deadline is not None and self._clock() >= self._deadline - 0.0005:
            phase, limit = "total", self._total_timeout
            what = f"the stream's total deadline of {limit} s passed"
        elif frames:
            phase, limit = "between-events", self._event_timeout
            what = f"no event completed for {limit} s after event {frames}"
        else:
            phase, limit = "first-byte", self._first_event_timeout
            what = f"no event completed within {limit} s of the response headers"
        return ReadTimeoutError(
            f"{self._operation_name}: {what} ({self.stats.bytes} bytes, "
            f"{frames} frames received, {elapsed:.3f} s elapsed)",
            phase=phase,
            timeout=limit,
            elapsed=elapsed,
            url=None if exc is None else exc.url,
        )

    def _check_event_stream(self, first: bytes) -> None:
        encoding = self._response.headers.get("content-encoding")
        if encoding is not None and encoding.strip().lower() not in ("", "identity"):
            # Never asked for (no Accept-Encoding is sent) and never sent by the service: a
            # proxy rewrote the answer. Decoding it would hide that; say so instead.
            raise NotEventStreamError(
                f"{self._operation_name}: the 200 response has Content-Encoding {encoding!r}; "
                "an event stream is never compressed (a proxy in the way?)",
                preview=first[:_PREVIEW_BYTES],
                content_type=self._response.headers.get("content-type"),
            )
        http_type = self._response.headers.get("content-type")
        if http_type is not None and not http_type.lower().startswith(EVENT_STREAM_CONTENT_TYPE):
            preview = first[:_PREVIEW_BYTES]
            raise NotEventStreamError(
                f"{self._operation_name}: the 200 response is {http_type!r}, not an event stream "
                f"(a proxy or a wrong URL?); it starts with {preview!r}",
                preview=preview,
                content_type=http_type,
            )

    def _batches(self, frames: bool) -> Iterator[tuple[list[Any], float]]:
        """Per HTTP chunk: the messages (or, with ``frames``, the Frames) it completed, and its
        arrival time. Batching keeps the per-event cost of the layers above low."""
        if self._consumed:
            raise StreamError(
                "this stream was already consumed: it can be read once, through one view",
                bytes_received=self.stats.bytes,
                events=self.stats.events,
            )
        self._consumed = True
        stats = self.stats
        decoder = self._decoder
        feed = decoder.feed_frames if frames else decoder.feed
        self._progress_at = self._clock()
        try:
            self._arm_timeout()
            chunks = self._response.iter_chunks()
            while True:
                try:
                    chunk = next(chunks, None)
                except ReadTimeoutError as exc:
                    raise self._timeout_error(exc) from exc
                except TransportError as exc:
                    raise self._cut_error(str(exc)) from exc
                if chunk is None:
                    if not stats.bytes:
                        self._check_event_stream(b"")  # an empty 200 of another type
                    break
                if not chunk:
                    continue
                now = self._now()
                for sink in self._sinks:
                    sink.write(chunk)  # before any check: a capture keeps what arrived
                stats.bytes += len(chunk)
                if stats.time_to_first_byte is None:
                    stats.time_to_first_byte = now
                    self._check_event_stream(chunk)
                try:
                    completed: list[Any] = feed(chunk)
                except EventStreamError as exc:
                    raise self._corrupt_error(exc, chunk) from exc
                if completed:
                    stats.frames += len(completed)
                    self._progress_at = self._clock()
                    yield completed, now
                self._arm_timeout()
            try:
                decoder.close()
            except TruncatedStream as exc:
                raise self._cut_error("the body ended") from exc
            except EventStreamError as exc:
                raise self._corrupt_error(exc, b"") from exc
            stats.completed = True
        finally:
            stats.duration = self._now()
            self.close()

    def _cut_error(self, what: str) -> IncompleteStreamError:
        pending = self._decoder.pending
        where = (
            f"inside the frame at offset {self._decoder.bytes_consumed} "
            f"({pending} bytes of it received)"
            if pending
            else f"after {self.stats.frames} whole frames, before the end of the body"
        )
        return IncompleteStreamError(
            f"{self._operation_name}: the stream was cut {where}: {what}",
            bytes_received=self.stats.bytes,
            events=self.stats.events,
        )

    def _corrupt_error(self, exc: EventStreamError, chunk: bytes) -> StreamError:
        if self.stats.frames == 0 and self._decoder.bytes_consumed == 0:
            # A body that fails at the first prelude is almost never a corrupted event stream:
            # it is something else (HTML from a proxy, JSON, SSE) that the caller should see.
            preview = chunk[:_PREVIEW_BYTES]
            return NotEventStreamError(
                f"{self._operation_name}: the response body is not an event stream ({exc}); "
                f"it starts with {preview!r}",
                preview=preview,
                content_type=self._response.headers.get("content-type"),
            )
        return CorruptStreamError(
            f"{self._operation_name}: corrupt event stream after {self.stats.frames} frames: {exc}",
            bytes_received=self.stats.bytes,
            events=self.stats.events,
        )

    def iter_frames(self) -> Iterator[TimedFrame]:
        """Every decoded frame with its wire facts and arrival time, exception frames included.

        This is the debugging view: in-stream exceptions are yielded, not raised; transport and
        framing failures still raise.
        """
        for frames, now in self._batches(True):
            for frame in frames:
                self._count_event(now)
                yield TimedFrame(frame, now)

    def iter_messages(self) -> Iterator[Message]:
        """Every decoded :class:`eventstream.Message`, exception messages included."""
        for timed in self.iter_frames():
            yield timed.frame.message

    def _count_event(self, at: float) -> None:
        stats = self.stats
        if stats.time_to_first_event is None:
            stats.time_to_first_event = at
        stats.events += 1
        stats.event_times.append(at)

    # -- events ------------------------------------------------------------------------------

    def _events(self) -> Iterator[dict[str, Any]]:
        op = self._operation_name
        stats = self.stats
        times = stats.event_times
        payload_headers: object = None  # the decoder shares one Headers object per header block
        for messages, now in self._batches(False):
            for message in messages:
                headers = message.headers
                if headers is not payload_headers:
                    if (
                        headers.get(":message-type") == "event"
                        and headers.get(":event-type") == "PayloadPart"
                    ):
                        payload_headers = headers
                    else:
                        event = self._other_event(op, message)
                        if event is None:
                            continue
                        self._count_event(now)
                        yield event
                        continue
                # The fast path, taken by nearly every frame of a response.
                payload = message.payload
                stats.payload_bytes += len(payload)
                if stats.time_to_first_event is None:
                    stats.time_to_first_event = now
                stats.events += 1
                times.append(now)
                yield {"PayloadPart": {"Bytes": payload}}

    def _other_event(self, op: str, message: Message) -> dict[str, Any] | None:
        error = _operations.stream_error(op, message, response_metadata=self._metadata)
        if error is not None:
            error.bytes_received = self.stats.bytes  # type: ignore[attr-defined]
            error.events = self.stats.events  # type: ignore[attr-defined]
            raise error
        event = _operations.event_to_dict(message, op)
        if event is None:
            log = debug_logger("smruntime.stream")
            if log:
                log.debug("skipping an event of unknown type: %r", dict(message.headers))
        return event

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._events()

    def iter_bytes(self) -> Iterator[bytes]:
        """The payload bytes of each PayloadPart, as they arrive."""
        for event in self._events():
            part = event.get("PayloadPart")
            if part is not None:
                data = part.get("Bytes", b"")
                if data:
                    yield data

    # -- records -----------------------------------------------------------------------------

    def _records(self, decoder: Any) -> Iterator[Any]:
        for data in self.iter_bytes():
            yield from decoder.feed(data)
        yield from decoder.close()

    def iter_lines(self, *, max_record_bytes: int | None = None) -> Iterator[str]:
        """Text lines reassembled across parts; a last line without a newline is delivered."""
        from smruntime import records  # the record layer: imported by the record views only

        return self._records(records.LineDecoder(max_record_bytes=_limit(max_record_bytes)))

    def iter_json(self, *, max_record_bytes: int | None = None) -> Iterator[Any]:
        """JSON lines reassembled across parts (blank lines skipped)."""
        from smruntime import records

        return self._records(records.JsonLinesDecoder(max_record_bytes=_limit(max_record_bytes)))

    def iter_sse(self, *, max_record_bytes: int | None = None) -> Iterator[records.SSEEvent]:
        """Server-sent events (``data:`` lines), keep-alive comments skipped."""
        from smruntime import records

        return self._records(records.SSEDecoder(max_record_bytes=_limit(max_record_bytes)))

    def iter_records(
        self, format: str | None = None, *, max_record_bytes: int | None = None
    ) -> Iterator[Any]:
        """Records in ``format``: a name of :data:`smruntime.records.FORMATS` (``"sse"``,
        ``"jsonl"``, ``"lines"``, ``"json"``, ``"text"``, ...) or ``"auto"``/None, which picks
        it from the model's content type (``X-Amzn-SageMaker-Content-Type``, see
        :func:`smruntime.records.format_for`).
        """
        from smruntime import records

        name = records.format_for(self.content_type) if format in (None, "auto") else format
        return self._records(records.make_decoder(name, max_record_bytes=_limit(max_record_bytes)))

    def iter_text(
        self,
        format: str | None = None,
        *,
        raise_on_error: bool = True,
        max_record_bytes: int | None = None,
    ) -> Iterator[str]:
        """The generated text, delta by delta, from any known container format.

        ``format`` as for :meth:`iter_records`. Records that carry no text (metadata, usage,
        ``[DONE]``, keep-alives) are skipped; plain text keeps its line ends, so the deltas
        join into the text. An error record sent by the container inside the 200 stream
        raises :class:`~smruntime.exceptions.ContainerStreamError` unless ``raise_on_error`` is
        false.
        """
        from smruntime import records

        decoder = records.text_decoder_for(
            format or "auto",
            content_type=self.content_type,
            max_record_bytes=_limit(max_record_bytes),
        )
        text_and_error = records.text_and_error  # one parse per record for both questions
        for record in self._records(decoder):
            delta, problem = text_and_error(record)
            if problem is not None and raise_on_error:
                raise ContainerStreamError(
                    f"{self._operation_name}: the model container reported an error inside "
                    f"the stream: {problem}",
                    record=record,
                )
            if delta:
                yield delta

    def read_text(self, format: str | None = None) -> str:
        """All of :meth:`iter_text`, joined."""
        return "".join(self.iter_text(format))


def _limit(max_record_bytes: int | None) -> int:
    from smruntime import records

    return records.DEFAULT_MAX_RECORD_BYTES if max_record_bytes is None else max_record_bytes
