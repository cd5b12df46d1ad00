"""The streaming response body of InvokeEndpointWithResponseStream (blocking reads).

Layers, each built on the one below, all consuming the same single pass over the HTTP body:

    HTTP chunks -> event-stream frames (``iter_frames``) -> events (iteration, boto3's shape)
    -> payload bytes (``iter_bytes``) -> records (``iter_lines``, ``iter_json``, ``iter_sse``)
    -> generated text (``iter_text``)

Every rule (decoding, checks, errors with their offsets, statistics, event mapping, the one
cursor shared by every view, deadlines) lives in :mod:`smruntime._stream_core`; this module only
reads the next bytes from a blocking response when the core needs them. Every event is handed
over as soon as its last byte arrives. The stream ends only at the end of the HTTP body with no
partial frame pending; anything else (a cut connection, a CRC failure, a timeout, an in-stream
exception) raises one of the client's errors and closes the connection.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, Callable, Optional

from smruntime._http import HttpResponse
from smruntime._log import debug_logger
from smruntime._stream_core import (
    END,
    NEED_DATA,
    RecordView,
    StreamCore,
    StreamStats,
    TimedFrame,
    keep_partial_text,
)
from smruntime.exceptions import ReadTimeoutError, SMRuntimeError, TransportError

if TYPE_CHECKING:
    from eventstream import Message
    from smruntime import records

__all__ = ["EventStream", "StreamStats", "TimedFrame"]

_UNSET: Any = object()


class EventStream:
    """The ``Body`` of a streaming response: iterate it for boto3-shaped events.

    ``for event in body`` yields ``{"PayloadPart": {"Bytes": b"..."}}`` per part (unknown event
    types are skipped). In-stream exceptions raise :class:`~smruntime.exceptions.ModelStreamError`
    or :class:`~smruntime.exceptions.InternalStreamFailure`. Use it as a context manager, or call
    :meth:`close`, to release the connection early; the container then sees the disconnect.

    As boto3's ``EventStream``, the body is one cursor over the events, shared by every way of
    iterating it: after ``for event in body: break`` another loop continues with the next
    event; once the stream ended, or after :meth:`close`, every view yields nothing; after a
    failure every view raises the same error again. Switching views mid-stream follows the rules
    of :mod:`smruntime._stream_core` (event views mix freely; a record view, once started, must
    be continued by the same view; ``iter_frames`` must come first).
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
        self._core = StreamCore(
            operation_name=operation_name,
            http_content_type=response.headers.get("content-type"),
            http_content_encoding=response.headers.get("content-encoding"),
            content_type=content_type,
            started_at=started_at,
            headers_at=headers_at,
            first_event_timeout=first_event_timeout,
            event_timeout=event_timeout,
            total_timeout=total_timeout,
            max_payload_bytes=max_payload_bytes,
            response_metadata=response_metadata,
            clock=clock,
        )
        self._chunks: Optional[Iterator[bytes]] = None
        self._armed: Any = _UNSET  # the read timeout last set on the response
        self._released = False

    @property
    def content_type(self) -> str | None:
        """The model's content type (``X-Amzn-SageMaker-Content-Type``), if the service sent it."""
        return self._core.content_type

    @property
    def stats(self) -> StreamStats:
        """Timing and volume, updated as the stream is read."""
        return self._core.stats

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Release the connection; a stream not read to its end is cut (idempotent). Every view
        then yields nothing; a read blocked in another thread raises ``IncompleteStreamError``."""
        self._core.close()
        self._release()

    def _release(self) -> None:
        """Give the connection back (pooled only if the body was read to its end)."""
        if self._released:
            return
        self._released = True
        try:
            self._response.close()
        except Exception:
            log = debug_logger("smruntime.stream")
            if log:
                log.debug("closing the response failed", exc_info=True)

    @property
    def closed(self) -> bool:
        """True once the connection was released (closed, ended or failed)."""
        return self._released

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # An abandoned stream must not hold its connection (the container keeps generating).
        if not getattr(self, "_released", True):
            self.close()

    def capture(self, sink: IO[bytes]) -> EventStream:
        """Write every raw body byte to ``sink`` as it arrives (for ``decode`` later)."""
        self._core.sinks += (sink,)
        return self

    def __repr__(self) -> str:
        stats = self._core.stats
        return (
            f"<EventStream {self._core.describe_state()} content_type={self.content_type!r} "
            f"frames={stats.frames} bytes={stats.bytes}>"
        )

    # -- reading -----------------------------------------------------------------------------

    def _arm_timeout(self) -> None:
        """Set the response's read timeout to what is left before the core's deadline."""
        core = self._core
        deadline = core.deadline()
        if deadline is None:
            if self._armed is None:
                return
            timeout = None
        else:
            timeout = deadline - core.clock()
            if timeout <= 0:
                raise core.fail(core.timeout_error())
        self._armed = timeout
        self._response.set_read_timeout(timeout)

    def _fill(self) -> None:
        """Read the next body bytes into the core (or tell it the body ended)."""
        core = self._core
        self._arm_timeout()
        chunks = self._chunks
        if chunks is None:
            chunks = self._chunks = self._response.iter_chunks()
        try:
            chunk = next(chunks, None)
        except ReadTimeoutError as exc:
            if not core.open:
                raise core.closed_while_waiting() from exc
            raise core.fail(core.timeout_error(exc.url)) from exc
        except TransportError as exc:
            if not core.open:
                raise core.closed_while_waiting() from exc
            raise core.fail(core.cut_error(str(exc))) from exc
        if chunk is None:
            core.finish()
        elif chunk:
            core.feed(chunk)

    def _read_more(self) -> None:
        """:meth:`_fill` for a view: any failure is the stream's (recorded), an interruption
        closes it."""
        try:
            self._fill()
        except Exception as exc:
            self._core.fail(exc)  # no-op for the errors the core already recorded
            raise
        except BaseException as exc:
            # interrupted mid-read: the connection cannot be reused, and what it would have
            # carried is lost (a later read says so)
            self._core.interrupted(exc)
            self._release()
            raise

    def _view(self, take: Callable[[], Any]) -> Iterator[Any]:
        """Items from ``take`` (a core ``next_*``), reading whenever it needs bytes. Leaving
        the loop early keeps the stream open: the next view continues from the cursor."""
        core = self._core
        fill = self._read_more
        while True:
            try:
                item = take()
                while item is NEED_DATA:
                    fill()
                    item = take()
            except BaseException:
                if not core.open:
                    self._release()
                raise
            if item is END:
                self._release()
                return
            yield item

    # -- views -------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._core.iter_events(self._read_more, self._release)

    def iter_bytes(self) -> Iterator[bytes]:
        """The payload bytes of each PayloadPart, as they arrive."""
        return self._view(self._core.next_bytes)

    def iter_frames(self) -> Iterator[TimedFrame]:
        """Every decoded frame with its wire facts and arrival time, exception frames included.

        This is the debugging view: in-stream exceptions are yielded, not raised; transport and
        framing failures still raise. It must be the first view to take an event
        (``StreamError`` otherwise).
        """
        self._core.start_frames()
        return self._view(self._core.next_frame)

    def iter_messages(self) -> Iterator[Message]:
        """Every decoded :class:`eventstream.Message`, exception messages included."""
        return self._view(self._core.next_message)

    def _records(self, view: RecordView) -> Iterator[Any]:
        self._core.start_records(view)
        yield from self._view(self._core.next_record)

    def iter_lines(self, *, max_record_bytes: int | None = None) -> Iterator[str]:
        """Text lines reassembled across parts; a last line without a newline is delivered."""
        return self._records(RecordView("lines", None, max_record_bytes))

    def iter_json(self, *, max_record_bytes: int | None = None) -> Iterator[Any]:
        """JSON values: JSON lines reassembled across parts (blank lines skipped), or, on SSE
        content (``text/event-stream``, or a body whose first line is an SSE field), each
        event's data as JSON, keep-alives and ``[DONE]`` skipped."""
        return self._records(RecordView("json", None, max_record_bytes))

    def iter_sse(self, *, max_record_bytes: int | None = None) -> Iterator[records.SSEEvent]:
        """Server-sent events (``data:`` lines), keep-alive comments skipped."""
        return self._records(RecordView("sse", None, max_record_bytes))

    def iter_records(
        self, format: str | None = None, *, max_record_bytes: int | None = None
    ) -> Iterator[Any]:
        """Records in ``format``: a name of :data:`smruntime.records.FORMATS` (``"sse"``,
        ``"jsonl"``, ``"lines"``, ``"json"``, ``"text"``, ...) or ``"auto"``/None, which picks
        it from the model's content type (``X-Amzn-SageMaker-Content-Type``, see
        :func:`smruntime.records.format_for`).
        """
        if format not in (None, "auto"):
            from smruntime import records

            records.make_decoder(format)  # an unknown format fails here, not at the first item
        return self._records(RecordView("records", format, max_record_bytes))

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
        core = self._core

        def texts() -> Iterator[str]:
            core.start_records(RecordView("text", format, max_record_bytes))
            yield from self._view(lambda: core.next_text(raise_on_error))

        return texts()

    def read_text(self, format: str | None = None) -> str:
        """All of :meth:`iter_text`, joined.

        If the stream fails first (a ``ModelStreamError`` or another in-stream error, a cut,
        a timeout, a container's error record), the error raised carries the text received
        before it as ``partial_text`` (``""`` if none; a record the error cut short, such as a
        line without its end, is not text yet and is not in it).
        """
        texts: list[str] = []
        try:
            for text in self.iter_text(format):
                texts.append(text)
        except SMRuntimeError as error:
            keep_partial_text(error, texts)
            raise
        return "".join(texts)
