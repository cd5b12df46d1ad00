"""InvokeEndpointWithBidirectionalStream: the call and its full-duplex streams.

``client.invoke_endpoint_with_bidirectional_stream(...)`` (and ``await`` on the
:class:`~smruntime.aio.AsyncClient`) validates and builds the request (the binding in
:mod:`smruntime._operations`), resolves the HTTP/2 endpoint (port 8443), signs the request
with the ``STREAMING-AWS4-HMAC-SHA256-EVENTS`` payload hash, opens one HTTP/2 stream on its
own connection (:mod:`smruntime.http._h2_sync` / :mod:`smruntime.http._h2_async`), waits for
the response headers and returns boto3's shape::

    {"Body": <DuplexStream>, "InvokedProductionVariant": ..., "ResponseMetadata": {...}}

The stream sends and receives at once: :meth:`DuplexStream.send` signs each part in the chain
(``sigv4.EventSigner``) and queues it, iteration yields the model's events as they arrive.
``Body=`` (an iterable, async iterable for asyncio) is sent by a background sender (a thread,
or a task) that then closes the input. Sending blocks only when the server's flow-control
window and the local send buffer are full.

Decisions:

- The call returns once the response headers have arrived (``InvokedProductionVariant`` is
  one of them); a ``Body=`` iterable starts being sent before that wait.
- Never retried once the request has been sent: only a connection that could not be opened
  (nothing sent) is retried, by the client's retry policy. An HTTP error answer raises the
  HTTP/2 service's error classes (InputValidationError, ModelError, ...), not retried either.
- Timeouts (the client's Config): ``connect_timeout``; ``first_event_timeout`` from the start
  of the request to the headers and then to the first complete event; ``event_timeout``
  between two complete events; ``total_timeout`` over the whole exchange. A send blocked by
  flow control fails with :class:`~smruntime.exceptions.WriteTimeoutError` after
  ``event_timeout`` seconds without progress.
- ``with`` / ``async with`` and ``close()`` end both directions; closing before the exchange is
  over resets the HTTP/2 stream (RST_STREAM CANCEL).
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from collections import deque
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional, TypedDict, Union

from eventstream import Decoder, EventStreamError, TruncatedStream
from smruntime import _operations, _redact
from smruntime._http import HttpHeaders
from smruntime._log import debug_logger
from smruntime.exceptions import (
    ClientError,
    CorruptStreamError,
    IncompleteStreamError,
    InputClosedError,
    NotEventStreamError,
    ParamValidationError,
    ReadTimeoutError,
    SMRuntimeError,
    StreamError,
    TransportError,
)
from smruntime.http import _h2
from smruntime.http._config import Deadline

if TYPE_CHECKING:
    from sigv4 import EventSigner
    from smruntime._client import Client
    from smruntime.http._h2_async import AsyncH2Stream
    from smruntime.http._h2_sync import SyncH2Stream

__all__ = ["OP", "AsyncDuplexStream", "DuplexStream", "invoke", "invoke_async"]

OP = "invoke_endpoint_with_bidirectional_stream"
OPERATION_NAME = "InvokeEndpointWithBidirectionalStream"
_MAX_ERROR_BODY = 1 << 20
_SENDER_JOIN = 5.0

Clock = Callable[[], _dt.datetime]


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


# -- the pure halves: outbound signing, inbound decoding ----------------------------------------


def _event_of(
    data: Any, data_type: Optional[str], completion_state: Optional[str], p: Optional[str]
) -> Any:
    """``send()``'s arguments as an input event (validated by the binding when encoded)."""
    if isinstance(data, Mapping):
        if data_type is not None or completion_state is not None or p is not None:
            raise ParamValidationError(
                "DataType",
                "give DataType/CompletionState/P inside the event dict, not as arguments too",
                operation_name=OPERATION_NAME,
            )
        return data
    return _operations.payload_part_event(data, data_type, completion_state, p)


class _Outbound:
    """Input events to signed outer messages, in order (the caller serializes)."""

    def __init__(self, signer: EventSigner, clock: Clock) -> None:
        self._signer = signer
        self._clock = clock
        self.parts = 0
        self.trace: Optional[Callable[[str, bytes, bytes], None]] = None

    def message(self, event: Any) -> bytes:
        return self._signed(_operations.encode_request_event(event, OP))

    def part(
        self,
        data: Any,
        data_type: Optional[str],
        completion_state: Optional[str],
        p: Optional[str],
    ) -> bytes:
        """:meth:`message` of a part given by its members (``send(data, DataType=...)``)."""
        if type(data) is not bytes and isinstance(data, Mapping):  # (bytes: no ABC check)
            return self.message(_event_of(data, data_type, completion_state, p))
        return self._signed(
            _operations.encode_request_part(data, data_type, completion_state, p, OP)
        )

    def _signed(self, inner: bytes) -> bytes:
        date_header, signature = self._signer.sign_raw(inner, self._clock())
        outer = _operations.encode_signed_raw(date_header, signature, inner)
        self.parts += 1
        if self.trace is not None:
            self.trace("send", outer, inner)
        return outer

    def final(self) -> bytes:
        date_header, signature = self._signer.finish_raw(self._clock())
        outer = _operations.encode_signed_raw(date_header, signature, b"")
        if self.trace is not None:
            self.trace("send", outer, b"")
        return outer


class _Inbound:
    """Response body bytes to boto3-shaped events; in-stream errors raised as modeled."""

    def __init__(self, metadata: dict[str, Any], max_payload_bytes: Optional[int]) -> None:
        options = {} if max_payload_bytes is None else {"max_payload_bytes": max_payload_bytes}
        self._decoder = Decoder(**options)
        self._metadata = metadata
        self.events: deque[dict[str, Any]] = deque()
        self.error: Optional[SMRuntimeError] = None
        self.bytes = 0
        self.frames = 0
        self.trace: Optional[Callable[[str, bytes, bytes], None]] = None

    def _corrupt(self, exc: EventStreamError, data: bytes) -> StreamError:
        if self.frames == 0 and self._decoder.bytes_consumed == 0:
            # failing at the first prelude: something else (a proxy's page, JSON)
            preview = data[:256]
            return NotEventStreamError(
                f"{OPERATION_NAME}: the response body is not an event stream ({exc}); "
                f"it starts with {preview!r}",
                preview=preview,
            )
        return CorruptStreamError(
            f"{OPERATION_NAME}: corrupt response event stream after {self.frames} frames: {exc}",
            bytes_received=self.bytes,
            events=self.frames,
        )

    def feed(self, data: bytes) -> None:
        """Decode ``data``; events go to :attr:`events`. An error raises at once when no event
        precedes it, else it waits in :attr:`error` until they are handed out."""
        self.bytes += len(data)
        try:
            messages = self._decoder.feed(data)
        except EventStreamError as exc:
            raise self._corrupt(exc, data) from exc
        for message in messages:
            self.frames += 1
            if self.trace is not None:
                from eventstream import encode

                self.trace("recv", encode(message), b"")
            try:
                event = _operations.event_to_dict(message, OP)
            except ClientError as exc:
                exc.response.setdefault("ResponseMetadata", dict(self._metadata))
                if not self.events:
                    raise
                self.error = exc
                return
            if event is not None:
                self.events.append(event)
        try:
            self._decoder.feed(b"")  # raises if the bytes after these messages were corrupt
        except EventStreamError as exc:
            error = self._corrupt(exc, b"")
            error.__cause__ = exc
            if not self.events:
                raise error from exc
            self.error = error

    def finish(self) -> None:
        try:
            self._decoder.close()
        except TruncatedStream as exc:
            raise IncompleteStreamError(
                f"{OPERATION_NAME}: the response stream ended inside a frame "
                f"({self._decoder.pending} bytes of it received, after {self.frames} frames)",
                bytes_received=self.bytes,
                events=self.frames,
            ) from exc
        except EventStreamError as exc:
            raise self._corrupt(exc, b"") from exc


class _WriteLimits(TypedDict):
    timeout: Optional[float]
    until: Optional[float]


class _Timer:
    """The read deadlines of one exchange (the wire's :class:`Deadline` arithmetic)."""

    def __init__(self, client: Client, started: float) -> None:
        from smruntime._call import deadlines_for

        cfg = client.config
        self.limits = deadlines_for(cfg, streaming=True)
        self.deadline: Deadline = self.limits.start(started)
        self.deadline.sent(started)  # first event (headers included) counts from the start
        self.write_timeout = cfg.event_timeout

    def remaining(self) -> tuple[Optional[float], str]:
        return self.deadline.remaining(time.monotonic())

    def error(self, phase: str, url: str) -> ReadTimeoutError:
        limit = self.limits.total if phase == "total" else self.deadline.limit_of_phase()
        elapsed = time.monotonic() - self.deadline.started
        what = {
            "first-byte": "no event within the first-event timeout",
            "between-events": "no event within the between-events timeout",
            "total": "the total timeout passed",
        }.get(phase, phase)
        return ReadTimeoutError(
            f"{OPERATION_NAME}: {what} ({limit} s; {elapsed:.3f} s elapsed)",
            phase=phase,
            timeout=limit,
            elapsed=elapsed,
            url=url,
        )

    def write_limits(self) -> _WriteLimits:
        """A driver write's limits: ``timeout``, the seconds a send may wait with no progress,
        and ``until``, the monotonic time no progress moves (the total deadline)."""
        return _WriteLimits(timeout=self.write_timeout, until=self.deadline.total_at)


def _error_body_late(status: int, size: int, exc: ReadTimeoutError) -> ReadTimeoutError:
    """An HTTP error whose body did not come in time: the attempt fails with the timeout (as
    the HTTP/1.1 operations' error bodies), saying which answer it was reading."""
    return ReadTimeoutError(
        f"{OPERATION_NAME}: the HTTP {status} answer's error body did not arrive in time "
        f"({size} bytes of it received): {exc}",
        phase=exc.phase,
        timeout=exc.timeout,
        elapsed=exc.elapsed,
        url=exc.url,
    )


def _broken_input(exc: BaseException) -> str:
    """Why no send may follow one that did not complete: its part was signed (the chain moved
    on) but not queued whole, so every later part would fail the server's signature check."""
    reason = "cancelled" if not isinstance(exc, Exception) else f"{type(exc).__name__}: {exc}"
    return (
        f"{OPERATION_NAME}: the input cannot go on: an earlier send did not complete "
        f"({reason}), and each event's signature chains from the one before"
    )


# -- preparing the request (shared by both clients) ------------------------------------------


class _Prepared:
    __slots__ = ("body", "headers", "outbound", "url")

    def __init__(
        self, url: str, headers: list[tuple[str, str]], outbound: _Outbound, body: Any
    ) -> None:
        self.url = url
        self.headers = headers
        self.outbound = outbound
        self.body = body


def _prepare(
    client: Client, params: Mapping[str, Any], clock: Clock, credentials: Any = None
) -> _Prepared:
    from sigv4 import EventSigner, sign
    from smruntime._call import SERVICE_SIGNING_NAME, invocation_id
    from smruntime._endpoints import resolve_h2_endpoint

    cfg = client.config
    base = resolve_h2_endpoint(
        client.region_name,
        use_fips=bool(cfg.use_fips_endpoint),
        use_dualstack=bool(cfg.use_dualstack_endpoint),
        endpoint_url=client._endpoint_override,
    )
    body = params.get("Body")
    request = _operations.build_request(OP, params, base)
    headers = [
        *request.headers,
        ("User-Agent", client._user_agent),
        ("amz-sdk-invocation-id", invocation_id()),
        ("amz-sdk-request", "attempt=1; max=1"),
    ]
    if credentials is None:
        credentials = client._credentials()
    signed = sign(
        request.method,
        request.url,
        headers,
        b"",
        credentials=credentials,
        region=client.region_name,
        service=SERVICE_SIGNING_NAME,
        now=clock() + client._clock_offset,
    )
    log = debug_logger()
    if log:
        log.debug(
            "%s %s headers=%s",
            request.method,
            _redact.redact_url(request.url),
            _redact.redact_headers(signed.headers),
        )
    signer = EventSigner(
        signed.signature,
        credentials=credentials,
        region=client.region_name,
        service=SERVICE_SIGNING_NAME,
    )
    offset = client._clock_offset
    outbound = _Outbound(signer, lambda: clock() + offset)
    return _Prepared(request.url, list(signed.headers), outbound, body)


def _error_for(status: int, headers: list[tuple[str, str]], body: bytes) -> ClientError:
    http_headers = HttpHeaders(headers)
    error = _operations.parse_error(OP, status, http_headers, body, retry_attempts=0)
    error.response["ResponseMetadata"] = _operations.response_metadata(status, http_headers, 0)
    return error


def _result(status: int, headers: list[tuple[str, str]], stream: Any) -> dict[str, Any]:
    http_headers = HttpHeaders(headers)
    result = _operations.parse_response(OP, status, http_headers, None)
    result["Body"] = stream
    result["ResponseMetadata"] = _operations.response_metadata(status, http_headers, 0)
    return result


def _wire(client: Client) -> Any:
    return client._wire_config()  # the one builder: TLS (client_cert too), proxies read once


class _ConnectRetry:
    """Retries of an HTTP/2 connection that could not be opened (nothing was sent), by the
    client's retry policy; anything after the request left is never retried."""

    def __init__(self, client: Client) -> None:
        from smruntime import _retries

        cfg = client.config
        self._policy = _retries.RetryPolicy(
            _retries.RetryConfig(
                mode=cfg.retry_mode or "standard", total_max_attempts=int(cfg.max_attempts or 1)
            ),
            quota=client._retry_quota,
        )
        self._attempt = 1

    def delay_after(self, exc: TransportError) -> float:
        """The back-off before the next attempt; re-raises ``exc`` when there is none."""
        decision = self._policy.decide(self._attempt, error=exc)
        if exc.request_sent or not decision.retry:
            raise exc
        self._attempt += 1
        return float(decision.delay)


# -- blocking ------------------------------------------------------------------------------------


def invoke(
    client: Client,
    params: Mapping[str, Any],
    *,
    clock: Clock = _utcnow,
    trace: Optional[Callable[[str, bytes, bytes], None]] = None,
) -> dict[str, Any]:
    """The blocking call (``Client.invoke_endpoint_with_bidirectional_stream``)."""
    from smruntime.http._h2_sync import open_stream

    _h2.require_h2()
    body = params.get("Body")
    if body is not None and (isinstance(body, (bytes, str, Mapping)) or not _iterable(body)):
        raise ParamValidationError(
            "Body",
            f"expected an iterable of input events (or None), got {type(body).__name__}",
            operation_name=OPERATION_NAME,
        )
    started = time.monotonic()
    prepared = _prepare(client, params, clock)
    prepared.outbound.trace = trace
    cfg = client.config
    retry = _ConnectRetry(client)
    while True:
        try:
            conn = open_stream(
                prepared.url,
                "POST",
                prepared.headers,
                wire=_wire(client),
                connect_timeout=cfg.connect_timeout,
            )
            break
        except TransportError as exc:
            time.sleep(retry.delay_after(exc))
    timer = _Timer(client, started)
    stream = DuplexStream(conn, prepared.outbound, timer, cfg.max_payload_bytes, trace=trace)
    try:
        if body is not None:
            stream._start_sender(body)
        status, headers = stream._wait_headers()
        if not 200 <= status < 300:
            error_body = stream._read_error_body(status)
            raise _error_for(status, headers, error_body)
    except BaseException:
        stream.close()
        raise
    stream._set_metadata(_operations.response_metadata(status, HttpHeaders(headers), 0))
    return _result(status, headers, stream)


def _iterable(value: object) -> bool:
    try:
        iter(value)  # type: ignore[call-overload]
    except TypeError:
        return False
    return True


class DuplexStream:
    """The ``Body`` of InvokeEndpointWithBidirectionalStream: send parts, iterate events.

    Thread-safe: one thread may send while another iterates (the usual shape), and sends from
    several threads are signed in the order they are queued.
    """

    def __init__(
        self,
        conn: SyncH2Stream,
        outbound: _Outbound,
        timer: _Timer,
        max_payload_bytes: Optional[int],
        *,
        trace: Optional[Callable[[str, bytes, bytes], None]] = None,
    ) -> None:
        self._conn = conn
        self._out = outbound
        self._timer = timer
        self._metadata: dict[str, Any] = {}
        self._in = _Inbound(self._metadata, max_payload_bytes)
        self._in.trace = trace
        self._send_lock = threading.Lock()
        self._input_closed = False
        self._input_broken: Optional[str] = None  # why no send may follow (see send)
        self._ended = False
        self._closed = False
        self._error: Optional[BaseException] = None
        self._sender: Optional[threading.Thread] = None
        self._sender_waiting = threading.Event()  # the sender waits in the Body iterator
        self._sender_error: Optional[BaseException] = None
        self._headers: Optional[tuple[int, list[tuple[str, str]]]] = None
        self.url = conn.url

    def _set_metadata(self, metadata: dict[str, Any]) -> None:
        self._metadata.update(metadata)

    # -- sending -----------------------------------------------------------------------------

    def send(
        self,
        data: Any,
        DataType: Optional[str] = None,
        CompletionState: Optional[str] = None,
        P: Optional[str] = None,
    ) -> None:
        """Send one PayloadPart: ``data`` is its bytes (``DataType`` ``"BINARY"``/``"UTF8"``,
        ``CompletionState`` ``"PARTIAL"``/``"COMPLETE"``), or a whole event dict
        ``{"PayloadPart": {"Bytes": ..., ...}}``. Returns once queued; blocks only while the
        server's flow-control window and the send buffer are full."""
        if type(data) is not bytes and isinstance(data, Mapping):  # a whole event, alone
            _event_of(data, DataType, CompletionState, P)
        with self._send_lock:
            self._check_send()
            message = self._out.part(data, DataType, CompletionState, P)
            try:
                self._conn.write(message, **self._timer.write_limits())
            except BaseException as exc:
                self._input_broken = _broken_input(exc)
                raise

    def close_input(self) -> None:
        """End the input: the signed empty message, then END_STREAM. Idempotent once it
        succeeded."""
        with self._send_lock:
            if self._input_closed:
                return
            self._check_send()
            try:
                self._conn.write(self._out.final(), last=True, **self._timer.write_limits())
            except BaseException as exc:
                self._input_broken = _broken_input(exc)
                raise
            self._input_closed = True

    def _check_send(self) -> None:
        if self._closed:
            raise InputClosedError(f"{OPERATION_NAME}: the stream is closed")
        if self._input_broken is not None:
            raise InputClosedError(self._input_broken)
        if self._input_closed:
            raise InputClosedError(
                f"{OPERATION_NAME}: the input is closed (close_input() was called)"
            )

    @property
    def input_closed(self) -> bool:
        return self._input_closed

    @property
    def parts_sent(self) -> int:
        return self._out.parts

    def _start_sender(self, body: Iterable[Any]) -> None:
        import weakref

        # The thread holds the stream weakly while it waits for the next part (an iterator
        # blocked on a queue that outlives a dropped stream must not keep it, and its
        # connection, alive); a stream collected meanwhile ends the thread at its next part.
        ref = weakref.ref(self)
        waiting = self._sender_waiting = threading.Event()  # set while in the Body iterator

        def run() -> None:
            try:
                parts = iter(body)
                index = 0
                while True:
                    waiting.set()
                    try:
                        item = next(parts)
                    except StopIteration:
                        break
                    finally:
                        waiting.clear()
                    event = _operations.validate_request_event(OP, item, index)
                    index += 1
                    stream = ref()
                    if stream is None or stream._closed:
                        return
                    stream.send(event)
                    del stream
                stream = ref()
                if stream is not None:
                    stream.close_input()
            except BaseException as exc:  # noqa: BLE001 - handed to the reader
                stream = ref()
                if stream is not None and not stream._closed:
                    stream._sender_error = exc
                    stream._conn.reset()

        self._sender = threading.Thread(target=run, name="smruntime-duplex-sender", daemon=True)
        self._sender.start()

    # -- receiving ---------------------------------------------------------------------------

    def _next_h2(self) -> _h2.H2Event:
        while True:
            left, phase = self._timer.remaining()
            if left is not None and left <= 0:
                # a consumer slower than the limit: what already came is not late
                event = self._conn.next_event(0)
                if event is not None:
                    return event
                raise self._timer.error(phase, self.url)
            event = self._conn.next_event(left)
            if event is not None:
                return event

    def _wait_headers(self) -> tuple[int, list[tuple[str, str]]]:
        event = self._next_h2()
        if isinstance(event, _h2.Failed):
            raise self._sender_error or event.error
        if not isinstance(event, _h2.Response):
            raise IncompleteStreamError(f"{OPERATION_NAME}: body bytes before the headers")
        self._headers = (event.status, event.headers)
        return self._headers

    def _read_error_body(self, status: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while size < _MAX_ERROR_BODY:
            try:
                event = self._next_h2()
            except ReadTimeoutError as exc:
                raise _error_body_late(status, size, exc) from exc
            if isinstance(event, _h2.Data):
                parts.append(event.data)
                size += len(event.data)
            else:
                break
        return b"".join(parts)[:_MAX_ERROR_BODY]

    def __iter__(self) -> DuplexStream:
        return self

    def __next__(self) -> dict[str, Any]:
        inbound = self._in
        while True:
            if inbound.events:
                self._timer.deadline.progress(time.monotonic())
                return inbound.events.popleft()
            if inbound.error is not None and self._error is None:
                self._error = inbound.error
                self._conn.reset()
            if self._error is not None:
                raise self._error
            if self._ended or self._closed:
                raise StopIteration
            try:
                event = self._next_h2()
                if isinstance(event, _h2.Data):
                    inbound.feed(event.data)
                elif isinstance(event, _h2.End):
                    inbound.finish()
                    self._ended = True
                elif isinstance(event, _h2.Failed):
                    raise self._sender_error or event.error
            except SMRuntimeError as exc:
                if self._closed:
                    raise StopIteration from None
                self._error = self._sender_error or exc
                self._conn.reset()
                raise self._error from None

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """End both directions; resets the HTTP/2 stream unless the exchange is complete."""
        if self._closed:
            return
        self._closed = True
        self._conn.reset()
        sender = self._sender
        if (
            sender is None
            or sender is threading.current_thread()
            or self._sender_waiting.is_set()  # in the Body iterator (a microphone, a queue):
        ):  # it sends nothing more (the stream is closed) and may wait there for ever
            return
        try:
            sender.join(_SENDER_JOIN)  # a send in progress ends (the stream was reset)
        except RuntimeError:  # Thread.start() interrupted (a Ctrl-C) before the thread ran
            pass

    def __enter__(self) -> DuplexStream:
        return self

    def __del__(self) -> None:
        # dropped without close(): reset the stream so its I/O thread and socket go away
        conn = getattr(self, "_conn", None)
        if conn is not None and not getattr(self, "_closed", True):
            conn.abandon()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "ended" if self._ended else "open"
        return (
            f"<DuplexStream {state} url={_redact.redact_url(self.url)!r} "
            f"sent={self._out.parts} received={self._in.frames}>"
        )


# -- asyncio -------------------------------------------------------------------------------------


async def invoke_async(
    client: Client,
    params: Mapping[str, Any],
    *,
    clock: Clock = _utcnow,
    trace: Optional[Callable[[str, bytes, bytes], None]] = None,
) -> dict[str, Any]:
    """The asyncio call (``AsyncClient.invoke_endpoint_with_bidirectional_stream``). Signing
    runs on the event loop; credentials other than static keys are resolved in a worker thread
    (a provider chain or a refresh may fetch them over the network)."""
    import asyncio

    from smruntime.http._h2_async import open_async_stream

    _h2.require_h2()
    body = params.get("Body")
    if body is not None and not (
        isinstance(body, AsyncIterable) or (_iterable(body) and not isinstance(body, (bytes, str)))
    ):
        raise ParamValidationError(
            "Body",
            f"expected an async iterable or iterable of input events (or None), "
            f"got {type(body).__name__}",
            operation_name=OPERATION_NAME,
        )
    started = time.monotonic()
    credentials = client._credentials_now()
    if credentials is None:  # a provider chain or a refresh may fetch: not on the event loop
        credentials = await asyncio.get_running_loop().run_in_executor(None, client._credentials)
    prepared = _prepare(client, params, clock, credentials)
    prepared.outbound.trace = trace
    cfg = client.config
    retry = _ConnectRetry(client)
    while True:
        try:
            conn = await open_async_stream(
                prepared.url,
                "POST",
                prepared.headers,
                wire=_wire(client),
                connect_timeout=cfg.connect_timeout,
            )
            break
        except TransportError as exc:
            await asyncio.sleep(retry.delay_after(exc))
    timer = _Timer(client, started)
    stream = AsyncDuplexStream(conn, prepared.outbound, timer, cfg.max_payload_bytes, trace=trace)
    try:
        if body is not None:
            stream._start_sender(body)
        status, headers = await stream._wait_headers()
        if not 200 <= status < 300:
            error_body = await stream._read_error_body(status)
            raise _error_for(status, headers, error_body)
    except BaseException:
        await stream.close()
        raise
    stream._set_metadata(_operations.response_metadata(status, HttpHeaders(headers), 0))
    return _result(status, headers, stream)


class AsyncDuplexStream:
    """The asyncio ``Body``: ``await send(...)``, ``await close_input()``, ``async for``."""

    def __init__(
        self,
        conn: AsyncH2Stream,
        outbound: _Outbound,
        timer: _Timer,
        max_payload_bytes: Optional[int],
        *,
        trace: Optional[Callable[[str, bytes, bytes], None]] = None,
    ) -> None:
        import asyncio

        self._conn = conn
        self._out = outbound
        self._timer = timer
        self._metadata: dict[str, Any] = {}
        self._in = _Inbound(self._metadata, max_payload_bytes)
        self._in.trace = trace
        self._send_lock = asyncio.Lock()
        self._input_closed = False
        self._input_broken: Optional[str] = None  # why no send may follow (see send)
        self._ended = False
        self._closed = False
        self._error: Optional[BaseException] = None
        self._sender: Optional[asyncio.Future[None]] = None
        self._sender_error: Optional[BaseException] = None
        self.url = conn.url

    def _set_metadata(self, metadata: dict[str, Any]) -> None:
        self._metadata.update(metadata)

    async def send(
        self,
        data: Any,
        DataType: Optional[str] = None,
        CompletionState: Optional[str] = None,
        P: Optional[str] = None,
    ) -> None:
        """As :meth:`DuplexStream.send`."""
        if type(data) is not bytes and isinstance(data, Mapping):  # a whole event, alone
            _event_of(data, DataType, CompletionState, P)
        if not self._send_lock.locked() and self._conn.can_write_now():
            # no other send in progress and room in the send buffer: signed and queued at
            # once, with no await between (so the chain's order is the wire's)
            self._check_send()
            self._conn.queue(self._out.part(data, DataType, CompletionState, P))
            return
        async with self._send_lock:
            self._check_send()
            message = self._out.part(data, DataType, CompletionState, P)
            try:
                await self._conn.write(message, **self._timer.write_limits())
            except BaseException as exc:  # a timeout, or cancelled: the part is lost
                self._input_broken = _broken_input(exc)
                raise

    async def close_input(self) -> None:
        """As :meth:`DuplexStream.close_input`."""
        async with self._send_lock:
            if self._input_closed:
                return
            self._check_send()
            try:
                await self._conn.write(self._out.final(), last=True, **self._timer.write_limits())
            except BaseException as exc:
                self._input_broken = _broken_input(exc)
                raise
            self._input_closed = True

    def _check_send(self) -> None:
        if self._closed:
            raise InputClosedError(f"{OPERATION_NAME}: the stream is closed")
        if self._input_broken is not None:
            raise InputClosedError(self._input_broken)
        if self._input_closed:
            raise InputClosedError(
                f"{OPERATION_NAME}: the input is closed (close_input() was called)"
            )

    @property
    def input_closed(self) -> bool:
        return self._input_closed

    @property
    def parts_sent(self) -> int:
        return self._out.parts

    def _start_sender(self, body: Union[Iterable[Any], AsyncIterable[Any]]) -> None:
        import asyncio
        import weakref

        # The task holds the stream weakly while it waits for the next part (an audio queue
        # that outlives a dropped stream must not keep it, and its connection, alive); a
        # stream collected meanwhile ends the task (its __del__ cancels it too).
        ref = weakref.ref(self)

        async def send(item: Any, index: int) -> bool:
            stream = ref()
            if stream is None or stream._closed:
                return False
            await stream.send(_operations.validate_request_event(OP, item, index))
            return True

        async def run() -> None:
            try:
                index = 0
                if isinstance(body, AsyncIterable):
                    async for item in body:
                        if not await send(item, index):
                            return
                        index += 1
                else:
                    for item in body:
                        if not await send(item, index):
                            return
                        index += 1
                stream = ref()
                if stream is not None:
                    await stream.close_input()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - handed to the reader
                stream = ref()
                if stream is not None and not stream._closed:
                    stream._sender_error = exc
                    stream._conn.reset()

        self._sender = asyncio.ensure_future(run())

    async def _next_h2(self) -> _h2.H2Event:
        while True:
            left, phase = self._timer.remaining()
            if left is not None and left <= 0:
                # a consumer slower than the limit: what already came is not late
                event = await self._conn.next_event(0)
                if event is not None:
                    return event
                raise self._timer.error(phase, self.url)
            event = await self._conn.next_event(left)
            if event is not None:
                return event

    async def _wait_headers(self) -> tuple[int, list[tuple[str, str]]]:
        event = await self._next_h2()
        if isinstance(event, _h2.Failed):
            raise self._sender_error or event.error
        if not isinstance(event, _h2.Response):
            raise IncompleteStreamError(f"{OPERATION_NAME}: body bytes before the headers")
        return event.status, event.headers

    async def _read_error_body(self, status: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while size < _MAX_ERROR_BODY:
            try:
                event = await self._next_h2()
            except ReadTimeoutError as exc:
                raise _error_body_late(status, size, exc) from exc
            if isinstance(event, _h2.Data):
                parts.append(event.data)
                size += len(event.data)
            else:
                break
        return b"".join(parts)[:_MAX_ERROR_BODY]

    def __aiter__(self) -> AsyncDuplexStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        inbound = self._in
        while True:
            if inbound.events:
                self._timer.deadline.progress(time.monotonic())
                return inbound.events.popleft()
            if inbound.error is not None and self._error is None:
                self._error = inbound.error
                self._conn.reset()
            if self._error is not None:
                raise self._error
            if self._ended or self._closed:
                raise StopAsyncIteration
            try:
                event = await self._next_h2()
                if isinstance(event, _h2.Data):
                    inbound.feed(event.data)
                elif isinstance(event, _h2.End):
                    inbound.finish()
                    self._ended = True
                elif isinstance(event, _h2.Failed):
                    raise self._sender_error or event.error
            except SMRuntimeError as exc:
                if self._closed:
                    raise StopAsyncIteration from None
                self._error = self._sender_error or exc
                self._conn.reset()
                raise self._error from None

    async def close(self) -> None:
        """End both directions; resets the HTTP/2 stream unless the exchange is complete."""
        if self._closed:
            return
        self._closed = True
        self._conn.reset()
        sender = self._sender
        if sender is not None and not sender.done():
            import asyncio

            sender.cancel()
            # (not ``await sender``: the caller's own cancellation must reach it, the
            # sender's must not; asyncio.wait raises neither the sender's outcome nor cancels it)
            await asyncio.wait((sender,))
            if not sender.cancelled():
                sender.exception()  # retrieved: it failed or ended, it is over either way

    aclose = close

    async def __aenter__(self) -> AsyncDuplexStream:
        return self

    def __del__(self) -> None:
        # dropped without close(): reset the stream on its loop (the GC may run anywhere), and
        # stop the sender (it may wait on a Body iterator that lives on)
        conn = getattr(self, "_conn", None)
        sender = getattr(self, "_sender", None)
        if conn is None or getattr(self, "_closed", True):
            return
        try:
            if not conn.finished:
                conn.loop.call_soon_threadsafe(conn.reset)
            if sender is not None and not sender.done():
                conn.loop.call_soon_threadsafe(sender.cancel)
        except RuntimeError:  # the loop is closed: its transports are gone
            pass

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "ended" if self._ended else "open"
        return (
            f"<AsyncDuplexStream {state} url={_redact.redact_url(self.url)!r} "
            f"sent={self._out.parts} received={self._in.frames}>"
        )
