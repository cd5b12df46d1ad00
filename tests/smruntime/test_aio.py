"""smruntime.aio: the asyncio adapter against scripted loopback servers.

No pytest-asyncio: each test runs its coroutine with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from smruntime import StreamingBody
from smruntime.aio import READER_THREAD_PREFIX, AsyncClient, AsyncEventStream
from smruntime.exceptions import (
    IncompleteStreamError,
    InternalStreamFailure,
    ModelError,
    ModelStreamError,
    ParamValidationError,
    StreamError,
)

from .frames import endless, exception_frame, part
from .scripted_server import Cut, Pause, Received, Reply, ScriptedServer

T = TypeVar("T")
TRANSPORTS = ["requests", "stdlib"]
STREAM_HEADERS = [
    ("Content-Type", "application/vnd.amazon.eventstream"),
    ("X-Amzn-SageMaker-Content-Type", "text/event-stream"),
    ("x-amzn-RequestId", "req-aio"),
]


def stream_reply(*pieces: bytes | Pause | Cut, **kw: Any) -> Reply:
    return Reply(200, list(STREAM_HEADERS), list(pieces), **kw)


def make_client(url: str, transport: str = "stdlib", **kwargs: Any) -> AsyncClient:
    return AsyncClient(
        region_name="us-west-2",
        endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        transport=transport,
        environ={},
        **kwargs,
    )


async def open_stream(client: AsyncClient, endpoint: str = "e") -> AsyncEventStream:
    response = await client.invoke_endpoint_with_response_stream(EndpointName=endpoint, Body=b"x")
    body = response["Body"]
    assert isinstance(body, AsyncEventStream)
    return body


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def reader_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(READER_THREAD_PREFIX)}


async def ended(threads: set[threading.Thread], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while any(t.is_alive() for t in threads):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def wait_event(event: threading.Event, timeout: float = 5.0) -> bool:
    """Wait for a threading.Event without blocking the loop."""
    return await asyncio.get_running_loop().run_in_executor(None, event.wait, timeout)


PARTS = [b'data: {"token": {"text": "Hel"}}\n\n', b'data: {"token": {"text": "lo"}}\n\n', b"x" * 70]


# -- operations ------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_three_operations(transport: str) -> None:
    def handler(r: Received) -> Reply:
        if r.path.endswith("/async-invocations"):
            return Reply(
                202,
                [("X-Amzn-SageMaker-OutputLocation", "s3://b/out"), ("x-amzn-RequestId", "q")],
                [b'{"InferenceId": "inf-1"}'],
                chunked=False,
            )
        if r.path.endswith("/invocations-response-stream"):
            return stream_reply(*(part(p) for p in PARTS))
        return Reply(200, [("Content-Type", "application/json")], [b'{"a": 1}'], chunked=False)

    async def main() -> None:
        async with make_client(srv.url, transport) as client:
            plain = await client.invoke_endpoint(EndpointName="e", Body=b"{}")
            assert isinstance(plain["Body"], StreamingBody)
            assert json.loads(plain["Body"].read()) == {"a": 1}
            assert plain["ContentType"] == "application/json"
            queued = await client.invoke_endpoint_async(EndpointName="e", InputLocation="s3://b/in")
            assert queued["OutputLocation"] == "s3://b/out"
            assert queued["InferenceId"] == "inf-1"
            streamed = await client.invoke_endpoint_with_response_stream(
                EndpointName="e", Body=b"{}"
            )
            assert streamed["ContentType"] == "text/event-stream"
            assert streamed["ResponseMetadata"]["RequestId"] == "req-aio"
            async with streamed["Body"] as body:
                events = [event async for event in body]
            assert events == [{"PayloadPart": {"Bytes": p}} for p in PARTS]
            assert body.content_type == "text/event-stream"
            assert body.stats.completed
            assert body.stats.events == 3
            assert body.closed

    with ScriptedServer(handler) as srv:
        run(main())
    assert [r.path.rsplit("/", 1)[1] for r in srv.requests] == [
        "invocations",
        "async-invocations",
        "invocations-response-stream",
    ]


def test_errors_keep_their_classes() -> None:
    body = json.dumps(
        {"__type": "ModelError", "message": "bad", "OriginalStatusCode": 400}
    ).encode()
    reply = Reply(424, [("Content-Type", "application/x-amz-json-1.1")], [body], chunked=False)

    async def main() -> None:
        async with make_client(srv.url) as client:
            with pytest.raises(client.exceptions.ModelError) as info:
                await client.invoke_endpoint(EndpointName="e", Body=b"x")
            assert type(info.value) is ModelError
            assert info.value.original_status_code == 400
            with pytest.raises(ParamValidationError, match="EndpointName"):
                await client.invoke_endpoint_with_response_stream(Body=b"x")

    with ScriptedServer(lambda r: reply) as srv:
        run(main())
    assert len(srv.requests) == 1


# -- the stream ------------------------------------------------------------------------------


def test_each_event_is_handed_over_as_soon_as_it_arrives() -> None:
    handed_over = threading.Event()
    seen_by_server: list[bool] = []

    def body() -> Iterator[bytes]:
        yield part(b"first")
        # Sent only once the consumer has the first: an adapter that batches would stall here.
        seen_by_server.append(handed_over.wait(10))
        yield part(b"second")

    async def main() -> list[Any]:
        async with make_client(srv.url) as client:
            events = (await open_stream(client)).__aiter__()
            first = await events.__anext__()
            handed_over.set()
            return [first] + [event async for event in events]

    with ScriptedServer(lambda r: Reply(200, list(STREAM_HEADERS), body())) as srv:
        got = run(main())
    assert seen_by_server == [True]
    assert got == [{"PayloadPart": {"Bytes": b"first"}}, {"PayloadPart": {"Bytes": b"second"}}]


SSE = [
    b'data: {"token": {"text": "Hel',
    b'lo"}}\n\ndata: {"token": {"text": " w',
    b'orld"}}\n\n',
    b"data: [DONE]\n\n",
]
JSONL = [b'{"a": 1}\n{"a"', b": 2}\n", b'{"a": 3}']


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_views(transport: str) -> None:
    def handler(r: Received) -> Reply:
        parts = JSONL if "/jsonl/" in r.path else SSE
        return stream_reply(*(part(p) for p in parts))

    async def main() -> None:
        async with make_client(srv.url, transport) as client:
            data = [b async for b in (await open_stream(client)).aiter_bytes()]
            assert data == SSE
            text = [t async for t in (await open_stream(client)).aiter_text()]
            assert "".join(text) == "Hello world"
            assert len(text) == 2
            sse_text = (await open_stream(client)).aiter_text(format="sse")
            assert [t async for t in sse_text] == ["Hello", " world"]
            lines = [line async for line in (await open_stream(client)).aiter_lines()]
            assert lines[0] == 'data: {"token": {"text": "Hello"}}'
            assert [line for line in lines if line][-1] == "data: [DONE]"
            docs = [doc async for doc in (await open_stream(client, "jsonl")).aiter_json()]
            assert docs == [{"a": 1}, {"a": 2}, {"a": 3}]
            events = [e async for e in (await open_stream(client)).aiter_sse()]
            assert [e.json() for e in events[:2]] == [
                {"token": {"text": "Hello"}},
                {"token": {"text": " world"}},
            ]
            assert events[-1].is_done
            records = (await open_stream(client, "jsonl")).aiter_records("jsonl")
            assert [r async for r in records] == [{"a": 1}, {"a": 2}, {"a": 3}]
            body = await open_stream(client)
            frames = [f async for f in body.aiter_frames()]
            assert [f.message.payload for f in frames] == SSE
            assert frames[1].frame.offset == len(part(SSE[0]))
            assert all(f.received_at >= 0 for f in frames)
            assert body.stats.frames == 4
            messages = [m async for m in (await open_stream(client)).aiter_messages()]
            assert [m.payload for m in messages] == SSE

    with ScriptedServer(handler) as srv:
        run(main())


def test_one_view_per_stream() -> None:
    async def main() -> None:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            first = body.aiter_bytes()
            assert await first.__anext__() == SSE[0]
            with pytest.raises(StreamError, match="already consumed"):
                await body.aiter_text().__anext__()
            assert [b async for b in first] == SSE[1:]
            with pytest.raises(StreamError, match="already consumed"):
                [e async for e in body]

    with ScriptedServer(lambda r: stream_reply(*(part(p) for p in SSE))) as srv:
        run(main())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_model_stream_error_is_raised_with_its_class(transport: str) -> None:
    frames = [part(b"a"), part(b"b"), exception_frame("ModelStreamError", "too slow", "Broken")]
    got: list[Any] = []

    async def main() -> None:
        async with make_client(srv.url, transport) as client:
            body = await open_stream(client)
            with pytest.raises(client.exceptions.ModelStreamError) as info:
                async for event in body:
                    got.append(event)
            error = info.value
            assert type(error) is ModelStreamError
            assert error.stream_error_code == "Broken"
            assert error.error_message == "too slow"
            assert error.response["ResponseMetadata"]["RequestId"] == "req-aio"
            with pytest.raises(StreamError, match="already consumed"):
                await body.aiter_bytes().__anext__()
            other = await open_stream(client, "internal")
            with pytest.raises(InternalStreamFailure, match="oops"):
                [t async for t in other.aiter_text()]

    def handler(r: Received) -> Reply:
        if "/internal/" in r.path:
            return stream_reply(part(b"a"), exception_frame("InternalStreamFailure", "oops"))
        return stream_reply(*frames)

    with ScriptedServer(handler) as srv:
        run(main())
    assert len(got) == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_cut_stream_raises_incomplete_stream_error(transport: str) -> None:
    frame = part(b"the second part")
    got: list[bytes] = []

    async def main() -> AsyncEventStream:
        async with make_client(srv.url, transport) as client:
            body = await open_stream(client)
            with pytest.raises(IncompleteStreamError, match="offset"):
                async for data in body.aiter_bytes():
                    got.append(data)
            return body

    with ScriptedServer(lambda r: stream_reply(part(b"a"), frame[:20], Cut())) as srv:
        body = run(main())
    assert got == [b"a"]
    assert not body.stats.completed


# -- cancellation, closing, leaks ------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cancelling_the_consumer_closes_the_connection_and_ends_the_reader(
    transport: str,
) -> None:
    async def main() -> None:
        async with make_client(srv.url, transport) as client:
            body = await open_stream(client)
            before = reader_threads()
            got: list[Any] = []

            async def consume() -> None:
                async for event in body:
                    got.append(event)

            task = asyncio.create_task(consume())
            while len(got) < 3:
                await asyncio.sleep(0.005)
            mine = reader_threads() - before
            assert len(mine) == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert body.closed
            assert await wait_event(srv.disconnects), "the server never saw the disconnect"
            assert await ended(mine), "the reader thread is still running"

    with ScriptedServer(lambda r: Reply(200, list(STREAM_HEADERS), endless())) as srv:
        run(main())


def test_aclose_after_break_and_async_with() -> None:
    async def main() -> None:
        async with make_client(srv.url) as client:
            before = reader_threads()
            body = await open_stream(client)
            texts = body.aiter_bytes()
            async for _ in texts:
                break
            mine = reader_threads() - before
            await texts.aclose()  # what contextlib.aclosing does on break
            assert not any(t.is_alive() for t in mine)  # aclose waits for the reader
            assert body.closed
            assert await wait_event(srv.disconnects)
            assert [b async for b in texts] == []

            srv.disconnects.clear()
            async with await open_stream(client) as body:
                async with body.aiter_bytes() as parts:
                    await parts.__anext__()
            assert body.closed
            assert await wait_event(srv.disconnects)
            assert reader_threads() <= before

    with ScriptedServer(lambda r: Reply(200, list(STREAM_HEADERS), endless())) as srv:
        run(main())


def test_close_while_another_task_iterates_cuts_its_iteration() -> None:
    async def main() -> None:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            got: list[Any] = []

            async def consume() -> None:
                async for event in body:
                    got.append(event)

            task = asyncio.create_task(consume())
            while not got:
                await asyncio.sleep(0.005)
            await body.close()
            with pytest.raises(IncompleteStreamError, match="closed by the caller after"):
                await asyncio.wait_for(task, 5)
            assert body.closed

    with ScriptedServer(lambda r: Reply(200, list(STREAM_HEADERS), endless())) as srv:
        run(main())
        assert srv.disconnects.wait(5)


def test_cancelling_the_call_closes_the_stream_it_opened() -> None:
    reply = Reply(200, list(STREAM_HEADERS), endless(), before_headers=0.3)

    async def main() -> None:
        async with make_client(srv.url) as client:
            task = asyncio.create_task(
                client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"x")
            )
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await wait_event(srv.disconnects), "the abandoned stream kept its connection"

    with ScriptedServer(lambda r: reply) as srv:
        run(main())
    assert len(srv.requests) == 1


def test_a_dropped_iterator_releases_the_connection_and_the_reader() -> None:
    async def main() -> None:
        async with make_client(srv.url) as client:
            before = reader_threads()
            response = await client.invoke_endpoint_with_response_stream(
                EndpointName="e", Body=b"x"
            )
            events = response["Body"].aiter_bytes()
            await events.__anext__()
            mine = reader_threads() - before
            del events, response
            gc.collect()
            assert await wait_event(srv.disconnects), "an abandoned stream kept its connection"
            assert await ended(mine)

    with ScriptedServer(lambda r: Reply(200, list(STREAM_HEADERS), endless())) as srv:
        run(main())


def test_break_without_aclose_releases_the_connection_at_once() -> None:
    """No cycle between the body and its view: reference counting alone closes the stream."""

    async def main() -> None:
        async with make_client(srv.url) as client:
            before = reader_threads()
            body = await open_stream(client)
            async for _ in body:
                break
            assert body.closed  # no gc.collect(): the dropped iterator was finalized at once
            assert await wait_event(srv.disconnects), "the server never saw the disconnect"
            assert await ended(reader_threads() - before)

    gc.disable()
    try:
        with ScriptedServer(lambda r: Reply(200, list(STREAM_HEADERS), endless())) as srv:
            run(main())
    finally:
        gc.enable()


def test_a_cancelled_call_sends_no_further_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    from smruntime import _retries
    from smruntime._client import _CallCancelled

    def decide(self: Any, attempt: int, **kw: Any) -> _retries.RetryDecision:
        return _retries.RetryDecision(True, 30.0, "test: a long back-off")

    monkeypatch.setattr(_retries.RetryPolicy, "decide", decide)
    throttled = Reply(
        503,
        [("Content-Type", "application/x-amz-json-1.1")],
        [b'{"__type": "ServiceUnavailable", "message": "busy"}'],
        chunked=False,
    )
    outcome: list[BaseException] = []
    finished = threading.Event()

    async def main() -> None:
        async with make_client(srv.url) as client:
            sync_call = client.sync_client._call

            def recording_call(*args: Any, **kwargs: Any) -> Any:
                try:
                    return sync_call(*args, **kwargs)
                except BaseException as exc:
                    outcome.append(exc)
                    raise
                finally:
                    finished.set()

            client.sync_client._call = recording_call  # type: ignore[method-assign]
            task = asyncio.create_task(client.invoke_endpoint(EndpointName="e", Body=b"x"))
            while not srv.requests:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)  # the answer is in: the worker waits to retry
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await wait_event(finished, 5), "the back-off wait did not end"

    with ScriptedServer(lambda r: throttled) as srv:
        run(main())
        assert len(srv.requests) == 1
    assert len(outcome) == 1
    assert isinstance(outcome[0], _CallCancelled)


def test_two_tasks_on_one_iterator_fail_fast() -> None:
    async def main() -> None:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            events = body.aiter_bytes()
            first = asyncio.create_task(events.__anext__())
            await asyncio.sleep(0.05)  # the first get is pending (the server pauses)
            with pytest.raises(RuntimeError, match="already being awaited"):
                await events.__anext__()
            assert await asyncio.wait_for(first, 5) == b"late"
            await body.close()

    with ScriptedServer(lambda r: stream_reply(Pause(0.3), part(b"late"), Pause(5))) as srv:
        run(main())


def test_abandon_takes_no_channel_lock() -> None:
    """The finalizer may run (in a GC pass) in a thread that holds the channel's lock."""
    from smruntime.aio import _abandon, _Channel

    class FakeStream:
        closed = False

        def close(self) -> None:
            self.closed = True

    async def main() -> None:
        channel = _Channel(asyncio.get_running_loop(), 4)
        stream = FakeStream()
        with channel._lock:  # held, as by a reader thread inside put()
            worker = threading.Thread(target=_abandon, args=(channel, stream), daemon=True)
            worker.start()
            worker.join(2)
            assert not worker.is_alive(), "_abandon blocked on the channel lock"
        assert stream.closed
        assert not channel.put(0, "late")  # the reader sees the channel closed
        with channel._lock:
            _abandon(channel, stream)  # same thread, lock held: no deadlock either

    run(main())


def test_closing_an_unused_view_leaves_the_reading_view_alone() -> None:
    async def main() -> None:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            parts = body.aiter_bytes()
            first = await parts.__anext__()
            unused = body.aiter_text()
            await unused.aclose()
            assert not body.closed
            rest = [p async for p in parts]
            assert [first, *rest] == PARTS
            assert body.stats.completed

    pieces = [part(PARTS[0]), Pause(0.3), *(part(p) for p in PARTS[1:])]
    with ScriptedServer(lambda r: stream_reply(*pieces)) as srv:
        run(main())


def test_a_reader_thread_that_fails_to_start_leaves_the_iterator_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_start = threading.Thread.start

    def failing_start(self: threading.Thread) -> None:
        if self.name.startswith(READER_THREAD_PREFIX):
            raise RuntimeError("can't start new thread")
        real_start(self)

    async def main() -> None:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            events = body.aiter_bytes()
            monkeypatch.setattr(threading.Thread, "start", failing_start)
            with pytest.raises(RuntimeError, match="can't start new thread"):
                await events.__anext__()
            monkeypatch.setattr(threading.Thread, "start", real_start)
            assert body.closed
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(events.__anext__(), 5)

    with ScriptedServer(lambda r: stream_reply(*(part(p) for p in PARTS))) as srv:
        run(main())


# -- bounds, concurrency, responsiveness ----------------------------------------------------


def test_a_slow_consumer_keeps_the_buffer_bounded() -> None:
    burst = b"".join(part(b"%d" % i) for i in range(500))  # one write, as fast as it goes

    async def main() -> None:
        async with make_client(srv.url, max_buffered_events=8) as client:
            body = await open_stream(client)
            events = body.aiter_bytes()
            consumed = 0
            async for data in events:
                assert data == b"%d" % consumed
                consumed += 1
                if consumed % 50 == 1:
                    await asyncio.sleep(0.05)  # the reader runs ahead and must stop
                # Held: at most 8 queued plus the one the reader is trying to hand over.
                assert body.stats.events - consumed <= 9
            assert consumed == 500
            assert events._channel is not None
            assert events._channel.high_water == 8

    with ScriptedServer(lambda r: stream_reply(burst)) as srv:
        run(main())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_20_concurrent_streams_on_one_client(transport: str) -> None:
    lock = threading.Lock()
    all_in = threading.Event()
    arrived = [0]

    def handler(r: Received) -> Reply:
        with lock:
            arrived[0] += 1
            if arrived[0] == 20:
                all_in.set()
        n = r.path.split("/")[2].encode()
        first = [part(n + b":%d" % i) for i in range(5)]
        rest = [part(n + b":%d" % i) for i in range(5, 10)]
        # Each stream finishes only once all 20 requests are in: they must run side by side.
        return stream_reply(*first, Pause(until=all_in), *rest)

    async def one(client: AsyncClient, n: int) -> list[bytes]:
        body = await open_stream(client, f"e{n}")
        return [data async for data in body.aiter_bytes()]

    async def main() -> list[list[bytes]]:
        async with make_client(srv.url, transport, config=_config(20)) as client:
            return await asyncio.gather(*(one(client, n) for n in range(20)))

    with ScriptedServer(handler) as srv:
        results = run(main())
    assert all_in.is_set()
    assert results == [[b"e%d:%d" % (n, i) for i in range(10)] for n in range(20)]


def _config(pool: int) -> Any:
    from smruntime import Config

    return Config(max_pool_connections=pool)


def test_the_event_loop_keeps_running_while_a_stream_waits() -> None:
    reply = stream_reply(Pause(0.5), part(b"late"), before_headers=0.3)
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    async def main() -> None:
        async with make_client(srv.url) as client:
            tick_task = asyncio.create_task(ticker())
            await asyncio.sleep(0)
            start = time.monotonic()
            body = await open_stream(client)  # 0.3 s until the headers
            headers_at = time.monotonic()
            events = [event async for event in body]  # 0.5 s until the event
            done = time.monotonic()
            tick_task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await tick_task
            assert events == [{"PayloadPart": {"Bytes": b"late"}}]
            during_call = [t for t in ticks if start < t < headers_at]
            during_stream = [t for t in ticks if headers_at < t < done]
            # A blocked loop would tick at most once in each wait (0.3 s, then 0.5 s).
            assert len(during_call) >= 5, len(during_call)
            assert len(during_stream) >= 10, len(during_stream)
            gaps = [b - a for a, b in zip(ticks, ticks[1:])]
            assert max(gaps) < 0.25

    with ScriptedServer(lambda r: reply) as srv:
        run(main())


# -- module ----------------------------------------------------------------------------------


def test_importing_the_module_is_cheap() -> None:
    code = (
        "import sys; import smruntime.aio; "
        "print(','.join(m for m in ('asyncio', 'smruntime._client', 'requests') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


def test_max_buffered_events_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_buffered_events"):
        make_client("http://127.0.0.1:9", max_buffered_events=0)
