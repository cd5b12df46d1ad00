"""An asyncio adapter: :class:`AsyncClient`, the same client for ``async`` code.

There is no async HTTP stack underneath: the adapter runs the synchronous :class:`Client` in
threads, so that the event loop is never blocked by the network:

- Each call (``await client.invoke_endpoint(...)``, ...) runs in the loop's default executor,
  as :func:`asyncio.to_thread` does (context variables included). Signing, credential look-ups,
  the HTTP exchange and retries with their back-off sleeps all happen in that worker thread.
- A streaming ``Body`` is an :class:`AsyncEventStream`. Reading it through one view
  (``async for event in body``, ``body.aiter_text()``, ...) starts one reader thread for that
  view. The thread runs the matching view of the synchronous :class:`EventStream` and hands each
  item over, as soon as it has it, through a bounded queue (64 items by default): when the
  consumer falls behind, the reader stops reading and TCP back-pressure reaches the server, so
  memory stays bounded. Errors raised by the reader (``ModelStreamError``,
  ``IncompleteStreamError``, timeouts, ...) are re-raised in the consuming task, same object,
  same class.
- Cancelling the consuming task, ``await iterator.aclose()``, ``await body.close()`` or leaving
  ``async with body`` closes the connection at once: the socket is shut down, which wakes the
  reader thread blocked on it, and the thread ends. The server sees the disconnect. Closing the
  body while another task iterates makes that iteration raise ``IncompleteStreamError`` (unless
  the stream had already completed). An iterator dropped unfinished (``break`` out of
  ``async for``) is closed as soon as it is garbage (at once under CPython's reference
  counting); ``async with body`` or ``aclose()`` is the reliable way.
- A call whose task is cancelled stops retrying: the back-off wait ends and no further attempt
  is sent.

Only short, non-blocking steps run on the event loop itself: taking an item off the queue and,
when a stream is closed, shutting its socket down.

Importing this module is cheap: :mod:`asyncio` and the client are imported on first use.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import IO, TYPE_CHECKING, Any, Callable, Generic, Optional, TypeVar

if TYPE_CHECKING:
    import asyncio

    from eventstream import Message
    from smruntime import records
    from smruntime._client import Client, Config
    from smruntime._stream import EventStream, StreamStats, TimedFrame

__all__ = ["DEFAULT_MAX_BUFFERED", "AsyncClient", "AsyncEventStream", "AsyncStreamIterator"]

DEFAULT_MAX_BUFFERED = 64
"""Items a stream view holds for a consumer that is not keeping up (the queue's bound)."""

READER_THREAD_PREFIX = "smruntime-aio-reader"
_JOIN_TIMEOUT = 5.0  # how long close() waits for a reader thread to end (it ends at once)
_LOOP_POLL = 1.0  # a reader waiting for room checks this often whether the loop was closed

_T = TypeVar("_T")

_ITEM, _END, _ERROR, _CLOSED = 0, 1, 2, 3
_thread_numbers = itertools.count(1)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Channel:
    """The bounded hand-over from one reader thread to the event loop.

    A deque under a lock rather than an :class:`asyncio.Queue` (which is not thread-safe and
    would need a round trip through the loop for every item): the reader blocks on a condition
    while the deque is full, and wakes the loop (``call_soon_threadsafe``) only when the
    consumer is waiting. The lock is only ever held for a few operations, by either side.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, max_items: int) -> None:
        self._loop = loop
        self._max = max_items
        self._items: deque[tuple[int, Any]] = deque()
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._waiter: Optional[asyncio.Future[None]] = None
        self._closed = False
        self.high_water = 0
        """The most items held at once (never more than the bound)."""

    # -- reader thread -------------------------------------------------------------------------

    def put(self, kind: int, value: Any) -> bool:
        """Queue one item, waiting for room; False once the consumer has gone."""
        with self._space:
            while len(self._items) >= self._max and not self._closed:
                if self._loop.is_closed():
                    self._closed = True
                    break
                self._space.wait(_LOOP_POLL)
            if self._closed:
                return False
            self._items.append((kind, value))
            if len(self._items) > self.high_water:
                self.high_water = len(self._items)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            try:
                self._loop.call_soon_threadsafe(_wake, waiter)
            except RuntimeError:  # the loop was closed: nobody will read
                self.close()
                return False
        return True

    # -- event loop --------------------------------------------------------------------------

    async def get(self) -> tuple[int, Any]:
        """The next item; ``(_CLOSED, None)`` once closed."""
        while True:
            with self._lock:
                if self._items:
                    item = self._items.popleft()
                    self._space.notify()
                    return item
                if self._closed:
                    return _CLOSED, None
                waiter: asyncio.Future[None] = self._loop.create_future()
                self._waiter = waiter
            await waiter

    # -- either side ---------------------------------------------------------------------------

    def close(self) -> None:
        """Drop what is queued, release a waiting reader and wake a waiting consumer."""
        with self._lock:
            self._closed = True
            self._items.clear()
            self._space.notify_all()
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            try:
                self._loop.call_soon_threadsafe(_wake, waiter)
            except RuntimeError:
                pass

    def close_nowait(self) -> None:
        """:meth:`close` without blocking on the lock (for finalizers, which may run while
        any thread, this channel's reader included, holds it).

        The flag is set at once; if the lock is busy, its holder sees the flag when it next
        looks, and a reader waiting for room rechecks it within ``_LOOP_POLL`` seconds.
        """
        self._closed = True
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._items.clear()
            self._space.notify_all()
            waiter, self._waiter = self._waiter, None
        finally:
            self._lock.release()
        if waiter is not None:
            try:
                self._loop.call_soon_threadsafe(_wake, waiter)
            except RuntimeError:
                pass


def _read(
    channel: _Channel,
    open_view: Callable[[], Iterator[Any]],
    stream: EventStream,
    ended: asyncio.Future[None],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The reader thread: run one view of the sync stream, hand over each item at once."""
    iterator: Optional[Iterator[Any]] = None
    try:
        iterator = open_view()
        for item in iterator:
            if not channel.put(_ITEM, item):
                break  # the consumer has gone
        else:
            channel.put(_END, None)
    except BaseException as exc:  # noqa: BLE001 - re-raised in the consuming task
        channel.put(_ERROR, exc)  # dropped if the consumer has gone
    finally:
        close = getattr(iterator, "close", None)
        try:
            if close is not None:
                close()  # a generator left at a yield: its clean-up closes the stream
        finally:
            stream.close()
            try:
                loop.call_soon_threadsafe(_wake, ended)
            except RuntimeError:  # the loop was closed
                pass


def _abandon(channel: _Channel, stream: EventStream) -> None:
    """The finalizer of an iterator dropped unfinished. Takes no lock: the garbage collector
    may run it in a thread that holds the channel's lock (the reader's, say)."""
    stream.close()  # wakes a reader blocked on the socket
    channel.close_nowait()


class AsyncStreamIterator(Generic[_T], AsyncIterator[_T]):
    """An async iterator over one view of a streaming body, read in its own thread.

    The reader thread starts at the first ``__anext__``. ``await it.aclose()`` (or
    ``async with it``), cancelling the task that awaits it, or dropping it unfinished closes the
    stream's connection and ends the thread; after that the iterator is exhausted. One task at
    a time may await it (``RuntimeError`` otherwise).
    """

    def __init__(
        self,
        owner: AsyncEventStream,
        open_view: Callable[[], Iterator[_T]],
        max_buffered: int,
    ) -> None:
        self._owner = owner
        self._open_view = open_view
        self._max = max_buffered
        self._channel: Optional[_Channel] = None
        self._ended: Optional[asyncio.Future[None]] = None
        self._thread: Optional[threading.Thread] = None
        self._done = False
        self._getting = False

    def __aiter__(self) -> AsyncStreamIterator[_T]:
        return self

    async def __anext__(self) -> _T:
        if self._getting:
            raise RuntimeError("this stream iterator is already being awaited (by another task)")
        if self._done:
            raise StopAsyncIteration
        channel = self._channel if self._channel is not None else self._start()
        self._getting = True
        try:
            kind, value = await channel.get()
        except BaseException:
            # Cancelled (or interrupted) while waiting: nobody will read on, so cut now.
            self._done = True
            self._abort()
            raise
        finally:
            self._getting = False
        if kind == _ITEM:
            return value  # type: ignore[no-any-return]
        self._done = True
        if kind == _ERROR:
            try:
                raise value
            finally:
                del value
        if kind == _CLOSED:
            stats = self._owner.stream.stats
            if not stats.completed:
                # Closed by another task (``body.close()``): as a cut, not a quiet end.
                from smruntime.exceptions import IncompleteStreamError

                raise IncompleteStreamError(
                    f"the stream was closed by the caller after {stats.events} events",
                    bytes_received=stats.bytes,
                    events=stats.events,
                )
        raise StopAsyncIteration

    def _start(self) -> _Channel:
        import asyncio
        import contextvars

        self._owner._claim(self)
        loop = asyncio.get_running_loop()
        channel = _Channel(loop, self._max)
        ended: asyncio.Future[None] = loop.create_future()
        stream = self._owner.stream
        thread = threading.Thread(
            target=contextvars.copy_context().run,
            args=(_read, channel, self._open_view, stream, ended, loop),
            name=f"{READER_THREAD_PREFIX}-{next(_thread_numbers)}",
            daemon=True,
        )
        try:
            thread.start()
        except BaseException:
            self._done = True
            channel.close()
            stream.close()
            raise
        # Dropped unfinished: cut the connection and release the reader. The callback holds
        # the channel and the stream, never this iterator.
        finalizer = weakref.finalize(self, _abandon, channel, stream)
        finalizer.atexit = False
        self._channel, self._ended, self._thread = channel, ended, thread
        return channel

    def _abort(self) -> None:
        """Stop the reader and cut the connection (non-blocking; safe to repeat). A view that
        never started leaves alone a stream that another view is reading."""
        if self._channel is not None:
            self._channel.close()
        reader = self._owner._reader()
        if reader is None or reader is self:
            self._owner.stream.close()

    async def aclose(self) -> None:
        """Stop reading: close the connection and wait for the reader thread to end."""
        self._done = True
        await self._shutdown()

    async def _shutdown(self) -> None:
        """Close the connection and wait for the reader thread to end. A task still iterating
        gets ``IncompleteStreamError`` if the stream had not completed."""
        self._abort()
        ended, thread = self._ended, self._thread
        if ended is None or thread is None:
            return
        import asyncio
        import time

        deadline = time.monotonic() + _JOIN_TIMEOUT
        if not ended.done():
            await asyncio.wait({ended}, timeout=_JOIN_TIMEOUT)
        # ``ended`` is set in the thread's last statement; let it finish leaving.
        while thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.001)

    async def __aenter__(self) -> AsyncStreamIterator[_T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class AsyncEventStream:
    """The ``Body`` of :meth:`AsyncClient.invoke_endpoint_with_response_stream`.

    ``async for event in body`` yields boto3's ``{"PayloadPart": {"Bytes": b"..."}}``;
    ``aiter_bytes``, ``aiter_text``, ``aiter_lines``, ``aiter_json``, ``aiter_sse``,
    ``aiter_records``, ``aiter_frames`` and ``aiter_messages`` are the async forms of the
    :class:`EventStream` views, with the same arguments, items and errors. As there, pick one
    view per response: the stream is read once.

    Each view is read by one thread, which hands items over through a queue holding at most
    ``max_buffered`` of them (see the module docstring). ``await body.close()`` or
    ``async with body`` releases the connection; closing makes an iteration in
    progress raise ``IncompleteStreamError`` (unless the stream had completed).
    """

    def __init__(self, stream: EventStream, *, max_buffered: int = DEFAULT_MAX_BUFFERED) -> None:
        if max_buffered < 1:
            raise ValueError(f"max_buffered must be at least 1, got {max_buffered}")
        self._stream = stream
        self._max = max_buffered
        # The view reading the stream, held weakly: the view holds this body, and a cycle
        # would keep an iterator dropped after ``break`` (and its connection) alive until the
        # cyclic garbage collector runs.
        self._view: Optional[weakref.ref[AsyncStreamIterator[Any]]] = None

    @property
    def stream(self) -> EventStream:
        """The synchronous :class:`EventStream` underneath (read it from a thread only)."""
        return self._stream

    @property
    def content_type(self) -> str | None:
        """The model's content type (``X-Amzn-SageMaker-Content-Type``), if sent."""
        return self._stream.content_type

    @property
    def stats(self) -> StreamStats:
        """Timing and volume, updated by the reader thread as items arrive."""
        return self._stream.stats

    @property
    def closed(self) -> bool:
        return self._stream.closed

    def capture(self, sink: IO[bytes]) -> AsyncEventStream:
        """Write every raw body byte to ``sink`` (from the reader thread) as it arrives."""
        self._stream.capture(sink)
        return self

    def _reader(self) -> Optional[AsyncStreamIterator[Any]]:
        """The view that claimed the stream, while it lives."""
        return self._view() if self._view is not None else None

    def _claim(self, view: AsyncStreamIterator[Any]) -> None:
        if self._view is not None and self._reader() is not view:
            from smruntime.exceptions import StreamError

            stats = self._stream.stats
            raise StreamError(
                "this stream was already consumed: it can be read once, through one view",
                bytes_received=stats.bytes,
                events=stats.events,
            )
        self._view = weakref.ref(view)

    def _iterate(self, open_view: Callable[[], Iterator[_T]]) -> AsyncStreamIterator[_T]:
        return AsyncStreamIterator(self, open_view, self._max)

    # -- views ---------------------------------------------------------------------------------

    def __aiter__(self) -> AsyncStreamIterator[dict[str, Any]]:
        return self._iterate(self._stream.__iter__)

    def aiter_bytes(self) -> AsyncStreamIterator[bytes]:
        """The payload bytes of each PayloadPart, as they arrive."""
        return self._iterate(self._stream.iter_bytes)

    def aiter_text(
        self,
        format: str | None = None,
        *,
        raise_on_error: bool = True,
        max_record_bytes: int | None = None,
    ) -> AsyncStreamIterator[str]:
        """The generated text, delta by delta (see :meth:`EventStream.iter_text`)."""
        stream = self._stream
        return self._iterate(
            lambda: stream.iter_text(
                format, raise_on_error=raise_on_error, max_record_bytes=max_record_bytes
            )
        )

    def aiter_lines(self, *, max_record_bytes: int | None = None) -> AsyncStreamIterator[str]:
        """Text lines reassembled across parts (see :meth:`EventStream.iter_lines`)."""
        stream = self._stream
        return self._iterate(lambda: stream.iter_lines(max_record_bytes=max_record_bytes))

    def aiter_json(self, *, max_record_bytes: int | None = None) -> AsyncStreamIterator[Any]:
        """JSON lines reassembled across parts (see :meth:`EventStream.iter_json`)."""
        stream = self._stream
        return self._iterate(lambda: stream.iter_json(max_record_bytes=max_record_bytes))

    def aiter_sse(
        self, *, max_record_bytes: int | None = None
    ) -> AsyncStreamIterator[records.SSEEvent]:
        """Server-sent events (see :meth:`EventStream.iter_sse`)."""
        stream = self._stream
        return self._iterate(lambda: stream.iter_sse(max_record_bytes=max_record_bytes))

    def aiter_records(
        self, format: str | None = None, *, max_record_bytes: int | None = None
    ) -> AsyncStreamIterator[Any]:
        """Records in ``format`` (see :meth:`EventStream.iter_records`)."""
        stream = self._stream
        return self._iterate(lambda: stream.iter_records(format, max_record_bytes=max_record_bytes))

    def aiter_frames(self) -> AsyncStreamIterator[TimedFrame]:
        """Every decoded frame with its arrival time, exception frames included."""
        return self._iterate(self._stream.iter_frames)

    def aiter_messages(self) -> AsyncStreamIterator[Message]:
        """Every decoded :class:`eventstream.Message`, exception messages included."""
        return self._iterate(self._stream.iter_messages)

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Release the connection (a stream not read to its end is cut) and wait for the
        reader thread, if one was started, to end. A task iterating the body then gets
        ``IncompleteStreamError`` (if the stream had not completed). Idempotent."""
        view = self._reader()
        if view is not None:
            await view._shutdown()
        else:
            self._stream.close()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<smruntime.aio.AsyncEventStream {state} content_type={self.content_type!r}>"


class _Handover:
    """A call's result, or the mark that the awaiting task went away before taking it."""

    __slots__ = ("abandoned", "lock", "result")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.abandoned = False
        self.result: Any = None


def _close_body(response: dict[str, Any]) -> None:
    response["Body"].close()


class AsyncClient:
    """A SageMaker Runtime client for asyncio: :class:`smruntime.Client`'s operations, awaited.

    Takes the same arguments as :class:`~smruntime.Client` (it wraps one), plus
    ``max_buffered_events``, the bound of each stream view's queue. The constructor makes no
    network call (credentials are resolved by the first call, in a worker thread), though it
    may read the AWS config files for the region: create the client at start-up.

    Every call runs in the loop's default executor, so the event loop is never blocked; the
    errors are the client's own (``client.exceptions.ModelError`` and friends). A call whose
    task is cancelled makes no further attempt (a request already sent still finishes in its
    thread); a stream it opened is then closed.
    ``InvokeEndpoint`` answers keep their :class:`StreamingBody` (already read in the thread).
    ``await client.close()`` or ``async with`` releases pooled connections.
    """

    def __init__(
        self, *args: Any, max_buffered_events: int = DEFAULT_MAX_BUFFERED, **kwargs: Any
    ) -> None:
        from smruntime._client import Client

        self._init(Client(*args, **kwargs), max_buffered_events)

    def _init(self, client: Client, max_buffered_events: int) -> None:
        if max_buffered_events < 1:
            raise ValueError(f"max_buffered_events must be at least 1, got {max_buffered_events}")
        self._client = client
        self._max_buffered = max_buffered_events
        self.exceptions = client.exceptions

    @classmethod
    def from_client(
        cls, client: Client, *, max_buffered_events: int = DEFAULT_MAX_BUFFERED
    ) -> AsyncClient:
        """Wrap an existing :class:`~smruntime.Client` (closed by :meth:`close`)."""
        self = cls.__new__(cls)
        self._init(client, max_buffered_events)
        return self

    @property
    def sync_client(self) -> Client:
        """The wrapped synchronous client."""
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

    async def invoke_endpoint_with_bidirectional_stream(self, **params: Any) -> dict[str, Any]:
        """InvokeEndpointWithBidirectionalStream over HTTP/2, natively in asyncio (no threads):
        ``Body`` is an :class:`~smruntime._bidi.AsyncDuplexStream`."""
        from smruntime._bidi import invoke_async

        return await invoke_async(self.sync_client, params)

    def can_paginate(self, operation_name: str) -> bool:
        """boto3 compatibility: no operation of this service paginates."""
        return False

    # -- operations ----------------------------------------------------------------------------

    async def invoke_endpoint(self, **params: Any) -> dict[str, Any]:
        """InvokeEndpoint in a worker thread (``Body`` is a StreamingBody, already read)."""
        return await self._run("invoke_endpoint", params)

    async def invoke_endpoint_async(self, **params: Any) -> dict[str, Any]:
        """InvokeEndpointAsync in a worker thread."""
        return await self._run("invoke_endpoint_async", params)

    async def invoke_endpoint_with_response_stream(self, **params: Any) -> dict[str, Any]:
        """InvokeEndpointWithResponseStream: sent in a worker thread up to the response
        headers; ``Body`` is an :class:`AsyncEventStream`."""
        response = await self._run(
            "invoke_endpoint_with_response_stream", params, on_abandon=_close_body
        )
        response["Body"] = AsyncEventStream(response["Body"], max_buffered=self._max_buffered)
        return response

    async def _run(
        self,
        op: str,
        params: dict[str, Any],
        *,
        on_abandon: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """The client's operation ``op`` in the default executor with the caller's context
        variables.

        If the awaiting task is cancelled, the call makes no further attempt (its back-off
        wait ends at once), but a request in flight still finishes in its thread (it cannot
        be taken back); ``on_abandon`` then gets the result nobody will read.
        """
        import asyncio
        import contextvars

        from smruntime._client import _CallCancelled

        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        handover = _Handover()
        cancel = threading.Event()
        call = self._client._call

        def work() -> None:
            try:
                result = context.run(lambda: call(op, params, _cancel=cancel))
            except _CallCancelled:
                return  # the awaiting task already has its CancelledError
            with handover.lock:
                if not handover.abandoned:
                    handover.result = result
                    return
            if on_abandon is not None:
                on_abandon(result)

        # The result goes through ``handover``, not the future: a finished future can stay
        # referenced by the loop for a while, and a stream it held would stay open with it.
        try:
            await loop.run_in_executor(None, work)
        except asyncio.CancelledError:
            cancel.set()
            with handover.lock:
                handover.abandoned = True
                result, handover.result = handover.result, None
            if result is not None and on_abandon is not None:
                on_abandon(result)
            raise
        result, handover.result = handover.result, None
        return result  # type: ignore[no-any-return]

    # -- lifecycle ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Close pooled connections (in a worker thread)."""
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, self._client.close)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<smruntime.aio.AsyncClient wrapping {self._client!r}>"
