"""The asyncio client: :class:`AsyncClient`, native on the asyncio driver.

No thread per call and none per stream: requests go out on :mod:`smruntime.http._async`
(asyncio transports, the project's own HTTP/1.1 protocol), and every rule of a call (validation,
signing, retries, error parsing, response shapes: :mod:`smruntime._call`) and of a stream
(decoding, checks, errors, statistics, views, the one cursor: :mod:`smruntime._stream_core`) is
the one the blocking :class:`~smruntime.Client` uses. Only the waiting differs.

- ``await client.invoke_endpoint_with_response_stream(...)`` returns after the response head;
  ``Body`` is an :class:`AsyncEventStream`: ``async for event in body``, ``aiter_text()``, ...
  The body is one cursor over the events, as the blocking ``EventStream`` (see there): ``break``
  keeps the stream open and the next loop continues with the next event.
- ``await client.invoke_endpoint(...)`` returns after the response head too; ``Body`` is an
  :class:`AsyncStreamingBody` (``await body.read()``, ``async for chunk in body``).
- Cancelling the task that awaits a call, or a read of a body, closes its connection at once
  (the server sees the disconnect); a call cancelled during its retry back-off sends nothing
  more. ``await body.close()``/``async with body`` release a body; ``await client.close()`` /
  ``async with client`` close the pooled connections.
- Credentials: static keys are used as they are, refreshable ones as long as they are fresh.
  Anything that may do I/O (the first resolution of the default chain: files, the container or
  instance metadata service, STS; a refresh near expiry) runs in the loop's default executor,
  so the loop is never blocked by it.

Importing this module is cheap: :mod:`asyncio` and the client are imported on first use.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, Callable, Generic, Optional, TypeVar

from smruntime._stream_core import END, NEED_DATA, RecordView, StreamCore, keep_partial_text
from smruntime.exceptions import (
    ConnectionClosedError,
    ReadTimeoutError,
    SMRuntimeError,
    TransportError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from eventstream import Message
    from smruntime import records
    from smruntime._call import CallPlan
    from smruntime._client import Client
    from smruntime._config import Config
    from smruntime._meta import ClientMeta
    from smruntime._stream_core import StreamStats, TimedFrame
    from smruntime.http._async import AsyncPool, AsyncResponse

__all__ = [
    "DEFAULT_MAX_BUFFERED",
    "AsyncClient",
    "AsyncEventStream",
    "AsyncStreamIterator",
    "AsyncStreamingBody",
]

DEFAULT_MAX_BUFFERED = 64
"""Accepted for compatibility (``max_buffered_events``); the native driver bounds a stream's
buffer in bytes instead (:data:`smruntime.http._async.HIGH_WATER`)."""

_T = TypeVar("_T")
_CHUNK = 1024


class AsyncStreamIterator(Generic[_T]):
    """An async iterator over one view of an :class:`AsyncEventStream`.

    It takes from the stream's one cursor: leaving it (``break``) loses nothing and another
    iterator continues with the next item. ``await it.aclose()`` (or ``async with it``) closes
    the stream. One task at a time may await the stream (``RuntimeError`` otherwise).
    """

    __slots__ = ("_start", "_stream", "_take")

    def __init__(
        self,
        stream: AsyncEventStream,
        take: Callable[[], Any],
        start: Optional[Callable[[], None]] = None,
    ) -> None:
        self._stream = stream
        self._take = take
        self._start = start

    def __aiter__(self) -> AsyncStreamIterator[_T]:
        return self

    async def __anext__(self) -> _T:
        stream = self._stream
        start = self._start
        if start is not None:
            self._start = None
            start()
        take = self._take
        try:
            item = take()
            while item is NEED_DATA:
                until = stream._core.deadline()  # (fixed until the core is fed)
                waiter = stream._fill_nowait(until)
                if waiter is not None:
                    # Woken by bytes given to the core (see _fill_nowait), the end, an error,
                    # the deadline or a close: the next take() or _fill_nowait() says which.
                    try:
                        await waiter
                    except BaseException as exc:
                        stream._interrupted(exc)  # cancelled: the connection closes
                        raise
                    finally:
                        stream._filling = False
                    if stream._released:  # closed by another task meanwhile: it raises
                        stream._fill_nowait(until)
                item = take()
        except BaseException:
            if not stream._core.open:
                stream._release()
            raise
        if item is END:
            stream._release()
            raise StopAsyncIteration
        return item  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Close the stream (its connection)."""
        await self._stream.close()

    async def __aenter__(self) -> AsyncStreamIterator[_T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AsyncEventStream:
    """The ``Body`` of :meth:`AsyncClient.invoke_endpoint_with_response_stream`.

    ``async for event in body`` yields boto3's ``{"PayloadPart": {"Bytes": b"..."}}``;
    ``aiter_bytes``, ``aiter_text``, ``aiter_lines``, ``aiter_json``, ``aiter_sse``,
    ``aiter_records``, ``aiter_frames`` and ``aiter_messages`` are the async forms of the
    :class:`~smruntime.EventStream` views, with the same arguments, items, errors, cursor and
    view-switching rules (:mod:`smruntime._stream_core`).

    ``await body.close()`` or ``async with body`` releases the connection; afterwards every
    view yields nothing, and a read waiting in another task raises ``IncompleteStreamError``.
    Cancelling a task waiting for the next event drops the connection too; a later read then
    raises ``IncompleteStreamError`` (what the stream still held is lost), unless the stream was
    closed meanwhile.
    """

    def __init__(self, response: AsyncResponse, core: StreamCore) -> None:
        self._response = response
        self._core = core
        self._released = False
        self._filling = False
        self._delivered = False

    # -- state -------------------------------------------------------------------------------

    @property
    def content_type(self) -> str | None:
        """The model's content type (``X-Amzn-SageMaker-Content-Type``), if sent."""
        return self._core.content_type

    @property
    def stats(self) -> StreamStats:
        """Timing and volume, updated as the stream is read."""
        return self._core.stats

    @property
    def closed(self) -> bool:
        """True once the connection was released (closed, ended or failed)."""
        return self._released

    def capture(self, sink: IO[bytes]) -> AsyncEventStream:
        """Write every raw body byte to ``sink`` as it arrives (from the event loop)."""
        self._core.sinks += (sink,)
        return self

    def __repr__(self) -> str:
        state = self._core.describe_state()
        return f"<smruntime.aio.AsyncEventStream {state} content_type={self.content_type!r}>"

    # -- reading -----------------------------------------------------------------------------

    def _fill_nowait(self, until: Optional[float]) -> Any:
        """Give the core the body bytes that arrived (None), or the future to await first,
        then call again (the stream counts as awaited until then); ``until`` is
        ``core.deadline()``."""
        if self._filling:
            raise RuntimeError("this stream is already being awaited (by another task)")
        core = self._core
        try:
            chunk = self._response.read_nowait(until)
        except ReadTimeoutError as exc:
            if not core.open:
                raise core.closed_while_waiting() from exc
            raise core.fail(core.timeout_error(exc.url)) from exc
        except TransportError as exc:
            if not core.open:
                raise core.closed_while_waiting() from exc
            raise core.fail(core.cut_error(str(exc))) from exc
        except BaseException:
            self._close_now()  # bad framing: the connection is already dropped
            raise
        if type(chunk) is not bytes:
            if not self._delivered:
                # Body bytes go to the core from now on as they are decoded, in the protocol
                # callback (after any view's start: iter_frames' mode is set by then).
                self._delivered = True
                self._response.deliver_to(core.feed)
            self._filling = True
            return chunk
        if chunk:
            core.feed(chunk)
        else:
            core.finish()
        return None

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._response.close()

    def _interrupted(self, exc: BaseException) -> None:
        """A wait for bytes was cancelled: the connection is dropped, and later reads raise
        (what it would have carried is lost), unless the stream is then closed."""
        self._core.interrupted(exc)
        if not self._released:
            self._released = True
            self._response.abort()

    def _close_now(self) -> None:
        self._core.close()
        if not self._released:
            self._released = True
            self._response.abort()

    async def close(self) -> None:
        """Release the connection (a stream not read to its end is cut). Idempotent."""
        self._close_now()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __del__(self) -> None:
        if not getattr(self, "_released", True):
            self._response.abort_soon()  # a finalizer may run in any thread

    # -- views ---------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncStreamIterator[dict[str, Any]]:
        return AsyncStreamIterator(self, self._core.next_payload_event)

    def aiter_bytes(self) -> AsyncStreamIterator[bytes]:
        """The payload bytes of each PayloadPart, as they arrive."""
        return AsyncStreamIterator(self, self._core.next_bytes)

    def aiter_frames(self) -> AsyncStreamIterator[TimedFrame]:
        """Every decoded frame with its arrival time, exception frames included (first view
        only, see :meth:`smruntime.EventStream.iter_frames`)."""
        self._core.start_frames()
        return AsyncStreamIterator(self, self._core.next_frame)

    def aiter_messages(self) -> AsyncStreamIterator[Message]:
        """Every decoded :class:`eventstream.Message`, exception messages included."""
        return AsyncStreamIterator(self, self._core.next_message)

    def _records(self, view: RecordView) -> AsyncStreamIterator[Any]:
        core = self._core
        return AsyncStreamIterator(self, core.next_record, lambda: core.start_records(view))

    def aiter_lines(self, *, max_record_bytes: int | None = None) -> AsyncStreamIterator[str]:
        """Text lines reassembled across parts (see :meth:`smruntime.EventStream.iter_lines`)."""
        return self._records(RecordView("lines", None, max_record_bytes))

    def aiter_json(self, *, max_record_bytes: int | None = None) -> AsyncStreamIterator[Any]:
        """JSON lines, or SSE data as JSON (see :meth:`smruntime.EventStream.iter_json`)."""
        return self._records(RecordView("json", None, max_record_bytes))

    def aiter_sse(
        self, *, max_record_bytes: int | None = None
    ) -> AsyncStreamIterator[records.SSEEvent]:
        """Server-sent events (see :meth:`smruntime.EventStream.iter_sse`)."""
        return self._records(RecordView("sse", None, max_record_bytes))

    def aiter_records(
        self, format: str | None = None, *, max_record_bytes: int | None = None
    ) -> AsyncStreamIterator[Any]:
        """Records in ``format`` (see :meth:`smruntime.EventStream.iter_records`)."""
        if format not in (None, "auto"):
            from smruntime import records

            records.make_decoder(format)  # an unknown format fails here
        return self._records(RecordView("records", format, max_record_bytes))

    def aiter_text(
        self,
        format: str | None = None,
        *,
        raise_on_error: bool = True,
        max_record_bytes: int | None = None,
    ) -> AsyncStreamIterator[str]:
        """The generated text, delta by delta (see :meth:`smruntime.EventStream.iter_text`)."""
        core = self._core
        view = RecordView("text", format, max_record_bytes)
        return AsyncStreamIterator(
            self, lambda: core.next_text(raise_on_error), lambda: core.start_records(view)
        )

    async def read_text(self, format: str | None = None) -> str:
        """All of :meth:`aiter_text`, joined; an error raised mid-stream carries the text
        received before it as ``partial_text`` (see :meth:`smruntime.EventStream.read_text`)."""
        texts: list[str] = []
        try:
            async for text in self.aiter_text(format):
                texts.append(text)
        except SMRuntimeError as error:
            keep_partial_text(error, texts)
            raise
        return "".join(texts)


class AsyncStreamingBody:
    """The ``Body`` of :meth:`AsyncClient.invoke_endpoint`, read from the connection on demand.

    ``await body.read()`` / ``read(n)``; ``async for chunk in body`` (1 KiB chunks, as
    botocore's); ``aiter_chunks(size)``, ``aiter_lines()``; ``close()``, ``async with``. A body
    over ``max_bytes`` (``Config.max_body_bytes``) raises ``BodyTooLargeError`` and drops the
    connection. Cancelling a read closes the connection.
    """

    def __init__(
        self,
        response: AsyncResponse,
        content_type: Optional[str] = None,
        *,
        max_bytes: Optional[int] = None,
    ) -> None:
        self._response: Optional[AsyncResponse] = response
        self.content_type = content_type
        self._max = max_bytes
        self._buffer = bytearray()  # appended in place: ``bytes +=`` made read() quadratic
        self._received = 0
        self._ended = False
        self._broken: Optional[BaseException] = None  # raised by every read after a failed one

    @property
    def closed(self) -> bool:
        return self._response is None and not self._buffer

    async def _more(self) -> bool:
        response = self._response
        if response is None or self._ended:
            if self._broken is not None:
                raise self._broken
            return False
        try:
            data = await response.read_some()
        except BaseException as exc:
            self._response = None
            response.abort()
            # a later read must not take what came before for the whole body
            why = "cancelled" if not isinstance(exc, Exception) else f"{type(exc).__name__}"
            self._broken = ConnectionClosedError(
                f"the InvokeEndpoint response body was cut after {self._received} bytes: an "
                f"earlier read failed ({why}) and the connection was dropped",
                request_sent=True,
            )
            raise
        if not data:
            self._ended = True
            self._response = None
            response.close()
            return False
        self._received += len(data)
        if self._max is not None and self._received > self._max:
            from smruntime.exceptions import BodyTooLargeError

            self._response = None
            response.abort()
            raise BodyTooLargeError(
                f"the response body is over {self._max} bytes (Config(max_body_bytes=...)); "
                "the connection was dropped",
                limit=self._max,
                bytes_received=self._received,
            )
        self._buffer += data
        return True

    async def read(self, amt: Optional[int] = None) -> bytes:
        """Up to ``amt`` bytes (all that remain if ``amt`` is None or negative).

        A body cut short: ``read(n)`` hands over the bytes that came before the cut first (a
        short read) and the next read raises; ``read()`` raises at once, keeping those bytes
        for a later ``read(n)`` (as the blocking body)."""
        if amt is None or amt < 0:
            while await self._more():
                pass
            data = bytes(self._buffer)
            self._buffer = bytearray()
            return data
        try:
            while len(self._buffer) < amt and await self._more():
                pass
        except ConnectionClosedError:
            if not self._buffer:
                raise
        data = bytes(self._buffer[:amt])
        del self._buffer[:amt]
        return data

    async def aiter_chunks(self, chunk_size: int = _CHUNK) -> Any:
        """Chunks of at most ``chunk_size`` bytes until the end."""
        while True:
            chunk = await self.read(chunk_size)
            if not chunk:
                return
            yield chunk

    async def aiter_lines(self, chunk_size: int = _CHUNK, keepends: bool = False) -> Any:
        """Lines of the body (``chunk_size`` as botocore's, the read size)."""
        from smruntime._body import split_lines

        pending = b""
        async for chunk in self.aiter_chunks(chunk_size):
            lines, pending = split_lines(pending, chunk, keepends)
            for line in lines:
                yield line
        if pending:
            yield pending if keepends else pending.splitlines()[0]

    def __aiter__(self) -> Any:
        return self.aiter_chunks()

    def close(self) -> None:
        """Drop the rest of the body (and the connection, if it was not read to its end)."""
        response, self._response = self._response, None
        self._buffer = bytearray()
        if response is not None:
            response.close()

    async def __aenter__(self) -> AsyncStreamingBody:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<smruntime.aio.AsyncStreamingBody content_type={self.content_type!r}>"


class _NoTransport:
    """The wrapped Client's transport: the AsyncClient never sends through it."""

    def send(self, request: Any, *, deadlines: Any) -> Any:
        raise RuntimeError("an AsyncClient's Client does not send (await the AsyncClient)")

    def close(self) -> None:
        pass


class AsyncClient:
    """A SageMaker Runtime client for asyncio: :class:`smruntime.Client`'s operations, awaited.

    Takes the same arguments as :class:`~smruntime.Client` (``boto3.client``'s, then
    ``profile_name``, ``credentials``, ``environ``) except ``transport`` (the asyncio driver is
    the only one; ``None`` only), plus ``max_buffered_events``, accepted for compatibility and
    unused (see :data:`DEFAULT_MAX_BUFFERED`). ``meta`` is the blocking client's: its
    ``meta.events`` hooks (``provide-client-params``, ``before-parameter-build``,
    ``before-sign``, ``before-send``) run in the same :class:`~smruntime._call.CallPlan`,
    on the event loop (a handler must not block). The constructor makes no
    network call, though it may read the AWS config files for the region: create the client at
    start-up. Errors are the client's own (``client.exceptions.ModelError`` and friends).
    One client may serve several event loops (one pool each) and is safe after ``fork``.
    ``await client.close()`` before a loop ends closes its connections cleanly; otherwise
    the idle connections of a loop that has ended are let go on the client's first call in
    another loop, or at ``close()`` (from any loop: each loop closes its own), and asyncio
    warns of each (``ResourceWarning: unclosed transport``, shown with ``-W default``).
    """

    def __init__(
        self,
        service_name: str = "sagemaker-runtime",
        region_name: str | None = None,
        api_version: str | None = None,
        use_ssl: bool = True,
        verify: bool | str | None = None,
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        config: Config | Any = None,
        aws_account_id: str | None = None,
        *,
        profile_name: str | None = None,
        transport: None = None,
        credentials: Any = None,
        environ: Mapping[str, str] | None = None,
        max_buffered_events: int = DEFAULT_MAX_BUFFERED,
    ) -> None:
        from smruntime._client import Client

        if transport is not None:
            raise ValueError(
                f"AsyncClient has one transport, its asyncio driver: transport={transport!r} "
                "is not accepted"
            )
        client = Client(
            service_name,
            region_name,
            api_version,
            use_ssl,
            verify,
            endpoint_url,
            aws_access_key_id,
            aws_secret_access_key,
            aws_session_token,
            config,
            aws_account_id,
            profile_name=profile_name,
            transport=_NoTransport(),
            credentials=credentials,
            environ=environ,
        )
        self._init(client, max_buffered_events)

    def _init(self, client: Client, max_buffered_events: int) -> None:
        if max_buffered_events < 1:
            raise ValueError(f"max_buffered_events must be at least 1, got {max_buffered_events}")
        from smruntime.http._async import AsyncPool

        self._client = client
        self._max_buffered = max_buffered_events
        self._pool: AsyncPool = AsyncPool(client._wire_config())
        self.exceptions = client.exceptions

    @classmethod
    def from_client(
        cls, client: Client, *, max_buffered_events: int = DEFAULT_MAX_BUFFERED
    ) -> AsyncClient:
        """An AsyncClient with ``client``'s configuration, credentials and retry quota (its
        transport is not used; :meth:`close` closes it too)."""
        self = cls.__new__(cls)
        self._init(client, max_buffered_events)
        return self

    @property
    def sync_client(self) -> Client:
        """The :class:`~smruntime.Client` holding the configuration and credentials."""
        return self._client

    @property
    def region_name(self) -> str:
        return self._client.region_name

    @property
    def endpoint_url(self) -> str:
        return self._client.endpoint_url

    @property
    def config(self) -> Config:
        """The resolved configuration."""
        return self._client.config

    @property
    def meta(self) -> ClientMeta:
        """boto3's ``client.meta`` (region, endpoint, config, service model, ``events``): the
        blocking client's own, so hooks registered on either run for both."""
        return self._client.meta

    async def invoke_endpoint_with_bidirectional_stream(self, **params: Any) -> dict[str, Any]:
        """InvokeEndpointWithBidirectionalStream over HTTP/2, natively in asyncio (no threads):
        ``Body`` is an :class:`~smruntime._bidi.AsyncDuplexStream`."""
        from smruntime._bidi import invoke_async

        return await invoke_async(self.sync_client, params)

    def can_paginate(self, operation_name: str) -> bool:
        """boto3 compatibility: no operation of this service paginates."""
        return self._client.can_paginate(operation_name)

    def get_paginator(self, operation_name: str) -> Any:
        """boto3 compatibility: raises, since no operation of this service paginates."""
        return self._client.get_paginator(operation_name)

    def get_waiter(self, waiter_name: str) -> Any:
        """boto3 compatibility: raises ``ValueError``, this service has no waiters."""
        return self._client.get_waiter(waiter_name)

    @property
    def waiter_names(self) -> list[str]:
        """boto3 compatibility: this service has no waiters."""
        return []

    # -- operations ----------------------------------------------------------------------------

    async def invoke_endpoint(self, **params: Any) -> dict[str, Any]:
        """InvokeEndpoint; returns after the response head (``Body``: AsyncStreamingBody)."""
        return await self._call("invoke_endpoint", params)

    async def invoke_endpoint_async(self, **params: Any) -> dict[str, Any]:
        """InvokeEndpointAsync: queue a request whose input is in S3 (answered with 202)."""
        return await self._call("invoke_endpoint_async", params)

    async def invoke_endpoint_with_response_stream(self, **params: Any) -> dict[str, Any]:
        """InvokeEndpointWithResponseStream; returns after the response head (``Body``: an
        :class:`AsyncEventStream`)."""
        return await self._call("invoke_endpoint_with_response_stream", params)

    async def _credentials(self) -> Any:
        """The credentials to sign with; whatever may do I/O runs in the default executor."""
        import asyncio

        now = self._client._credentials_now()
        if now is not None:
            return now
        return await asyncio.get_running_loop().run_in_executor(None, self._client._credentials)

    async def _call(self, op: str, params: dict[str, Any]) -> dict[str, Any]:
        import asyncio

        from smruntime._call import ERROR_BODY_CAP, CallPlan

        plan = CallPlan(self._client, op, params)
        pool = self._pool
        while True:
            credentials = self._client._credentials_now()  # (no coroutine on the common path)
            if credentials is None:
                credentials = await self._credentials()
            request, deadlines = plan.prepare(credentials)
            try:
                response = await pool.request(
                    request.method, request.url, request.headers, request.body, deadlines
                )
            except TransportError as exc:
                await asyncio.sleep(plan.after_transport_error(exc))
                continue
            status = response.status
            if plan.succeeded(status):
                if plan.streaming or plan.lazy_body:
                    return self._success_now(plan, response)  # no coroutine: the burst's path
                return await self._success(plan, response)
            try:
                body = await response.read(ERROR_BODY_CAP)
            except TransportError as exc:
                # A dripped or cut error body fails the attempt like any transport error.
                await asyncio.sleep(plan.after_transport_error(exc))
                continue
            finally:
                response.close()
            delay = plan.after_error(status, response.headers, body)
            if delay:
                await asyncio.sleep(delay)

    def _success_now(self, plan: CallPlan, response: AsyncResponse) -> dict[str, Any]:
        """The answer of a 2xx whose body the caller reads (a stream, InvokeEndpoint's Body)."""
        import time

        headers_at = time.monotonic()
        cfg = self._client.config
        try:
            if plan.streaming:
                result = plan.success(response.status, response.headers)
                core = StreamCore(
                    operation_name=plan.spec.name,
                    http_content_type=response.headers.get("content-type"),
                    http_content_encoding=response.headers.get("content-encoding"),
                    content_type=result.get("ContentType"),
                    started_at=plan.started,
                    headers_at=headers_at,
                    first_event_timeout=cfg.first_event_timeout,
                    event_timeout=cfg.event_timeout,
                    total_timeout=cfg.total_timeout,
                    max_payload_bytes=cfg.max_payload_bytes,
                    response_metadata=result["ResponseMetadata"],
                )
                _body_first(result, AsyncEventStream(response, core))
                return result
            from smruntime._body import DEFAULT_MAX_BODY_BYTES

            result = plan.success(response.status, response.headers, b"")
            max_bytes = cfg.max_body_bytes or DEFAULT_MAX_BODY_BYTES
            body = AsyncStreamingBody(response, result.get("ContentType"), max_bytes=max_bytes)
            _body_first(result, body)
            return result
        except BaseException:
            response.abort()
            raise

    async def _success(self, plan: CallPlan, response: AsyncResponse) -> dict[str, Any]:
        """The answer of a 2xx whose (small) body the plan shapes (InvokeEndpointAsync)."""
        from smruntime._body import DEFAULT_MAX_BODY_BYTES

        try:
            # capped as the blocking client's read_capped (then the connection is dropped)
            data = await response.read(self.config.max_body_bytes or DEFAULT_MAX_BODY_BYTES)
        except BaseException:
            response.abort()
            raise
        response.close()
        return plan.success(response.status, response.headers, data)

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close pooled connections (bodies still open keep theirs until closed)."""
        import asyncio

        self._pool.close()
        self._client.close()
        await asyncio.sleep(0)  # let the transports finish closing (connection_lost)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        from smruntime._redact import redact_url

        return (
            f"<smruntime.aio.AsyncClient region={self.region_name!r} "
            f"endpoint={redact_url(self.endpoint_url)!r}>"
        )


def _body_first(result: dict[str, Any], body: Any) -> None:
    """Set ``Body`` keeping boto3's key order (``ResponseMetadata`` last)."""
    metadata = result.pop("ResponseMetadata")
    result["Body"] = body
    result["ResponseMetadata"] = metadata
