"""smruntime.aio: the native asyncio client against the emulator and scripted loopback servers.

No pytest-asyncio: each test runs its coroutine with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from eventstream import Message, encode
from smruntime import Client, Config
from smruntime.aio import AsyncClient, AsyncEventStream, AsyncStreamingBody
from smruntime.emulator import Emulator
from smruntime.exceptions import (
    BodyTooLargeError,
    ConnectionClosedError,
    IncompleteStreamError,
    InternalStreamFailure,
    ModelError,
    ModelStreamError,
    ParamValidationError,
    ReadTimeoutError,
    StreamError,
)
from smruntime.http._async import HIGH_WATER, READ_SIZE

from .frames import endless, exception_frame, part
from .scripted_server import Cut, Pause, Received, Reply, ScriptedServer

T = TypeVar("T")
STREAM_HEADERS = [
    ("Content-Type", "application/vnd.amazon.eventstream"),
    ("X-Amzn-SageMaker-Content-Type", "text/event-stream"),
    ("x-amzn-RequestId", "req-aio"),
]


def stream_reply(*pieces: bytes | Pause | Cut, **kw: Any) -> Reply:
    return Reply(200, list(STREAM_HEADERS), list(pieces), **kw)


def make_client(url: str, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("config", Config(proxies={}))
    return AsyncClient(
        region_name="us-west-2",
        endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        environ={},
        **kwargs,
    )


def sync_client(url: str, config: Config | None = None) -> Client:
    return Client(
        region_name="us-west-2",
        endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        config=config or Config(proxies={}),
        environ={},
    )


def emulator_client(emu: Emulator, **config: Any) -> AsyncClient:
    creds = emu.credentials
    return AsyncClient(
        region_name=emu.region,
        endpoint_url=emu.url,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        config=Config(proxies={}, **config),
        environ={},
    )


async def open_stream(client: AsyncClient, endpoint: str = "e") -> AsyncEventStream:
    response = await client.invoke_endpoint_with_response_stream(EndpointName=endpoint, Body=b"x")
    body = response["Body"]
    assert isinstance(body, AsyncEventStream)
    return body


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def wait_event(event: threading.Event, timeout: float = 5.0) -> bool:
    """Wait for a threading.Event without blocking the loop."""
    return await asyncio.get_running_loop().run_in_executor(None, event.wait, timeout)


def client_threads(before: set[threading.Thread]) -> set[str]:
    """Threads started since ``before`` that are not a loopback server's."""
    return {
        t.name
        for t in set(threading.enumerate()) - before
        if t.is_alive() and "emulator" not in t.name
    }


PARTS = [b'data: {"token": {"text": "Hel"}}\n\n', b'data: {"token": {"text": "lo"}}\n\n', b"x" * 70]


# -- the three operations against the emulator -----------------------------------------------


def test_the_three_operations_against_the_emulator() -> None:
    async def main(emu: Emulator) -> None:
        before = set(threading.enumerate())
        async with emulator_client(emu) as client:
            plain = await client.invoke_endpoint(
                EndpointName="echo", Body=b'{"x": 1}', ContentType="application/json"
            )
            assert list(plain) == [
                "Body",
                "ContentType",
                "InvokedProductionVariant",
                "ResponseMetadata",
            ]
            assert isinstance(plain["Body"], AsyncStreamingBody)
            async with plain["Body"] as body:
                assert await body.read() == b'{"x": 1}'
            queued = await client.invoke_endpoint_async(
                EndpointName="echo", InputLocation="s3://bucket/in.json"
            )
            assert queued["OutputLocation"].startswith("s3://")
            assert queued["ResponseMetadata"]["HTTPStatusCode"] == 202
            streamed = await client.invoke_endpoint_with_response_stream(
                EndpointName="tokens",
                Body=json.dumps({"inputs": "hello there"}),
                ContentType="application/json",
            )
            assert streamed["ContentType"] == "text/event-stream"
            async with streamed["Body"] as stream:
                assert await stream.read_text() == "You said: hello there"
            assert stream.stats.completed
            # keep-alive: the three calls shared one connection
            assert client_threads(before) == set()
        assert len({r.headers.get("amz-sdk-invocation-id") for r in emu.requests}) == 3

    with Emulator() as emu:
        run(main(emu))


@pytest.mark.parametrize(
    ("spec", "error", "partial"),
    [
        ("model-stream-error(after=2,code=StreamBroken)", ModelStreamError, "You said:"),
        ("internal-stream-failure(after=3)", InternalStreamFailure, "You said: hello"),
        ("model-stream-error(after=0)", ModelStreamError, ""),
        ("cut(after=1)", IncompleteStreamError, "You"),
    ],
)
def test_read_text_keeps_the_text_received_before_an_error(
    spec: str, error: type[Exception], partial: str
) -> None:
    # the blocking client and AsyncClient keep the same text on the same error (one rule)
    async def main(emu: Emulator) -> Exception:
        async with emulator_client(emu) as client:
            streamed = await client.invoke_endpoint_with_response_stream(
                EndpointName="tokens",
                Body=json.dumps({"inputs": "hello there"}),
                CustomAttributes=f"emulator-fault={spec}",
            )
            async with streamed["Body"] as stream:
                with pytest.raises(error) as info:
                    await stream.read_text()
                with pytest.raises(error) as again:  # the same error, its text kept
                    await stream.read_text()
                assert again.value is info.value
                return info.value

    with Emulator() as emu:
        raised = run(main(emu))
        creds = emu.credentials
        with Client(
            region_name=emu.region,
            endpoint_url=emu.url,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            config=Config(proxies={}),
            environ={},
        ) as client:
            streamed = client.invoke_endpoint_with_response_stream(
                EndpointName="tokens",
                Body=json.dumps({"inputs": "hello there"}),
                CustomAttributes=f"emulator-fault={spec}",
            )
            with pytest.raises(error) as info:
                streamed["Body"].read_text()
    assert raised.partial_text == partial  # type: ignore[attr-defined]
    assert info.value.partial_text == partial  # type: ignore[attr-defined]


def test_the_cursor_matches_the_sync_client_on_the_emulator() -> None:
    async def main(emu: Emulator) -> list[Any]:
        async with emulator_client(emu) as client:

            async def open_body() -> AsyncEventStream:
                response = await client.invoke_endpoint_with_response_stream(
                    EndpointName="tokens",
                    Body=json.dumps({"inputs": "one two three four"}),
                    ContentType="application/json",
                )
                return response["Body"]  # type: ignore[no-any-return]

            out: list[Any] = []
            body = await open_body()
            async for event in body:
                out.append(event)
                break
            assert not body.closed
            out.append([e async for e in body][:2])
            out.append([e async for e in body])  # after the end: nothing
            body = await open_body()
            await body.close()
            await body.close()
            out.append([e async for e in body])  # after close: nothing
            return out

    with Emulator() as emu:
        got = run(main(emu))
    assert got[0]["PayloadPart"]["Bytes"].startswith(b'data:{"index":1,')
    assert got[1][0]["PayloadPart"]["Bytes"].startswith(b'data:{"index":2,')
    assert got[2:] == [[], []]


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


def test_retries_then_success() -> None:
    busy = Reply(
        503,
        [("Content-Type", "application/x-amz-json-1.1")],
        [b'{"__type": "ServiceUnavailable", "message": "busy"}'],
        chunked=False,
    )
    ok = Reply(200, [("Content-Type", "application/json")], [b"{}"], chunked=False)
    replies = iter([busy, ok])

    async def main() -> dict[str, Any]:
        async with make_client(srv.url) as client:
            result = await client.invoke_endpoint(EndpointName="e", Body=b"x")
            assert await result["Body"].read() == b"{}"
            return result

    with ScriptedServer(lambda r: next(replies)) as srv:
        result = run(main())
    assert result["ResponseMetadata"]["RetryAttempts"] == 1
    assert [r.headers["amz-sdk-request"] for r in srv.requests] == [
        "attempt=1; max=3",
        "attempt=2; max=3",
    ]


# -- the stream ------------------------------------------------------------------------------


def test_each_event_is_handed_over_as_soon_as_it_arrives() -> None:
    handed_over = threading.Event()
    seen_by_server: list[bool] = []

    def body() -> Iterator[bytes]:
        yield part(b"first")
        # Sent only once the consumer has the first: a client that batches would stall here.
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


def test_views() -> None:
    def handler(r: Received) -> Reply:
        parts = JSONL if "/jsonl/" in r.path else SSE
        return stream_reply(*(part(p) for p in parts))

    async def main() -> None:
        async with make_client(srv.url) as client:
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
            sse_json = [doc async for doc in (await open_stream(client)).aiter_json()]
            assert sse_json == [{"token": {"text": "Hello"}}, {"token": {"text": " world"}}]
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


def test_views_share_one_cursor_and_a_started_record_view_is_kept() -> None:
    async def main() -> None:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            assert await body.aiter_bytes().__anext__() == SSE[0]
            assert await body.__aiter__().__anext__() == {"PayloadPart": {"Bytes": SSE[1]}}
            with pytest.raises(StreamError, match="iter_frames"):
                body.aiter_frames()
            lines = body.aiter_lines()
            assert await lines.__anext__() == 'orld"}}'
            with pytest.raises(StreamError, match="lines"):
                await body.aiter_bytes().__anext__()
            with pytest.raises(StreamError, match="lines"):
                await body.__aiter__().__anext__()
            assert [line async for line in body.aiter_lines()] == ["", "data: [DONE]", ""]
            assert body.closed

    with ScriptedServer(lambda r: stream_reply(*(part(p) for p in SSE))) as srv:
        run(main())


def test_the_event_view_counts_as_the_blocking_stream_counts() -> None:
    # `async for` takes most PayloadParts off the cursor in one call (next_payload_event), as
    # the blocking stream's generator does; the statistics and the cursor must not change.
    other = encode(Message([(":event-type", "SomethingNew"), (":message-type", "event")], b"?"))
    script = [
        part(b"a") + part(b"bb"),
        Pause(0.02),
        part(b"ccc") + other + part(b"dddd") + part(b"e" * 5),
        Pause(0.02),
        part(b"f\n") + part(b"g\n"),
    ]

    async def main() -> tuple[list[Any], Any]:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            taken: list[Any] = []
            async for event in body:
                taken.append(event["PayloadPart"]["Bytes"])
                if len(taken) == 4:
                    break
            assert body.stats.events == 4
            taken.append(await body.aiter_bytes().__anext__())
            taken += [line async for line in body.aiter_lines()]
            return taken, body.stats

    with ScriptedServer(lambda r: stream_reply(*script)) as srv:
        taken, stats = run(main())
        client = sync_client(srv.url)
        body = client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"x")["Body"]
        expected: list[Any] = []
        for event in body:
            expected.append(event["PayloadPart"]["Bytes"])
            if len(expected) == 4:
                break
        expected.append(next(body.iter_bytes()))
        expected += list(body.iter_lines())
        client.close()
    assert taken == expected == [b"a", b"bb", b"ccc", b"dddd", b"eeeee", "f", "g"]
    assert stats.completed
    assert body.stats.completed
    assert stats.events == body.stats.events == 7
    assert stats.payload_bytes == body.stats.payload_bytes == 19
    assert len(stats.event_times) == 7
    assert stats.time_to_first_event is not None
    assert stats.event_times == sorted(stats.event_times)


def test_events_after_frames_keep_the_frames_cursor() -> None:
    async def main() -> list[Any]:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            frames = body.aiter_frames()
            first = await frames.__anext__()
            return [first.message.payload] + [e["PayloadPart"]["Bytes"] async for e in body]

    script = [b"".join(part(p) for p in SSE)]  # one chunk: the rest waits in the cursor
    with ScriptedServer(lambda r: stream_reply(*script)) as srv:
        assert run(main()) == SSE


def test_model_stream_error_is_raised_with_its_class_and_again() -> None:
    frames = [part(b"a"), part(b"b"), exception_frame("ModelStreamError", "too slow", "Broken")]
    got: list[Any] = []

    async def main() -> None:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            with pytest.raises(client.exceptions.ModelStreamError) as info:
                async for event in body:
                    got.append(event)
            error = info.value
            assert type(error) is ModelStreamError
            assert error.stream_error_code == "Broken"
            assert error.error_message == "too slow"
            assert error.response["ResponseMetadata"]["RequestId"] == "req-aio"
            with pytest.raises(ModelStreamError):
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


def test_a_cut_stream_raises_incomplete_stream_error_with_the_offset() -> None:
    frame = part(b"the second part")
    got: list[bytes] = []

    async def main() -> AsyncEventStream:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            with pytest.raises(IncompleteStreamError, match="offset"):
                async for data in body.aiter_bytes():
                    got.append(data)
            with pytest.raises(IncompleteStreamError):
                [e async for e in body]  # raised again, never a quiet end
            return body

    with ScriptedServer(lambda r: stream_reply(part(b"a"), frame[:20], Cut())) as srv:
        body = run(main())
    assert got == [b"a"]
    assert not body.stats.completed


# -- cancellation and closing ----------------------------------------------------------------


def test_cancelling_the_consumer_closes_the_connection() -> None:
    async def main() -> None:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            got: list[Any] = []

            async def consume() -> None:
                async for event in body:
                    got.append(event)

            task = asyncio.create_task(consume())
            while len(got) < 3:
                await asyncio.sleep(0.005)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert body.closed
            assert await wait_event(srv.disconnects), "the server never saw the disconnect"
            # the rest of the stream is lost: a later read says so, never a quiet end
            with pytest.raises(IncompleteStreamError, match=r"interrupted \(CancelledError\)"):
                await body.__aiter__().__anext__()
            with pytest.raises(IncompleteStreamError):
                async for _ in body.aiter_bytes():
                    pass
            await body.close()  # closed by the caller: every view now ends
            assert [e async for e in body] == []

    with ScriptedServer(lambda r: Reply(200, list(STREAM_HEADERS), endless())) as srv:
        run(main())


def test_a_blocking_read_interrupted_leaves_a_stream_that_says_so() -> None:
    class Interrupting:
        def __init__(self) -> None:
            self.writes = 0

        def write(self, data: bytes) -> None:
            self.writes += 1
            if self.writes == 3:
                raise KeyboardInterrupt  # as a Ctrl-C landing inside a read

    pieces = [part(b"a"), Pause(0.05), part(b"b"), Pause(0.05), part(b"c"), Pause(0.05)]
    with ScriptedServer(lambda r: stream_reply(*pieces, *[part(b"x")] * 5)) as srv:
        client = sync_client(srv.url)
        body = client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}")["Body"]
        body.capture(Interrupting())
        got = []
        with pytest.raises(KeyboardInterrupt):
            for event in body:
                got.append(event)
        assert body.closed
        with pytest.raises(IncompleteStreamError, match=r"interrupted \(KeyboardInterrupt\)"):
            list(body)
        body.close()
        assert list(body) == []
        client.close()


def test_break_keeps_the_stream_and_aclose_or_async_with_closes_it() -> None:
    async def main() -> None:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            parts = body.aiter_bytes()
            async for _ in parts:
                break
            assert not body.closed
            assert await parts.__anext__() == b"token "  # the next one, none lost
            await parts.aclose()
            assert body.closed
            assert await wait_event(srv.disconnects)
            assert [b async for b in parts] == []

            srv.disconnects.clear()
            async with await open_stream(client) as body:
                async with body.aiter_bytes() as more:
                    await more.__anext__()
            assert body.closed
            assert await wait_event(srv.disconnects)

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
            with pytest.raises(IncompleteStreamError, match="closed by the caller"):
                await asyncio.wait_for(task, 5)
            assert body.closed

    with ScriptedServer(lambda r: Reply(200, list(STREAM_HEADERS), endless())) as srv:
        run(main())
        assert srv.disconnects.wait(5)


def test_cancelling_the_call_closes_its_connection() -> None:
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
            assert await wait_event(srv.disconnects), "the cancelled call kept its connection"

    with ScriptedServer(lambda r: reply) as srv:
        run(main())
    assert len(srv.requests) == 1


def test_a_dropped_body_releases_the_connection() -> None:
    async def main() -> None:
        async with make_client(srv.url) as client:
            response = await client.invoke_endpoint_with_response_stream(
                EndpointName="e", Body=b"x"
            )
            events = response["Body"].aiter_bytes()
            await events.__anext__()
            del events, response
            gc.collect()
            assert await wait_event(srv.disconnects), "an abandoned stream kept its connection"

    with ScriptedServer(lambda r: Reply(200, list(STREAM_HEADERS), endless())) as srv:
        run(main())


def test_a_cancelled_call_sends_no_further_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    from smruntime import _retries

    def decide(self: Any, attempt: int, **kw: Any) -> _retries.RetryDecision:
        return _retries.RetryDecision(True, 30.0, "test: a long back-off")

    monkeypatch.setattr(_retries.RetryPolicy, "decide", decide)
    throttled = Reply(
        503,
        [("Content-Type", "application/x-amz-json-1.1")],
        [b'{"__type": "ServiceUnavailable", "message": "busy"}'],
        chunked=False,
    )

    async def main() -> None:
        async with make_client(srv.url) as client:
            task = asyncio.create_task(client.invoke_endpoint(EndpointName="e", Body=b"x"))
            while not srv.requests:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.1)  # the answer is in: the call waits to retry
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.1)

    with ScriptedServer(lambda r: throttled) as srv:
        run(main())
        assert len(srv.requests) == 1


def test_two_tasks_on_one_stream_fail_fast() -> None:
    async def main() -> None:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            events = body.aiter_bytes()
            first = asyncio.create_task(events.__anext__())
            await asyncio.sleep(0.05)  # the first read is pending (the server pauses)
            with pytest.raises(RuntimeError, match="already being awaited"):
                await body.aiter_bytes().__anext__()
            assert await asyncio.wait_for(first, 5) == b"late"
            await body.close()

    with ScriptedServer(lambda r: stream_reply(Pause(0.3), part(b"late"), Pause(1))) as srv:
        run(main())


# -- InvokeEndpoint's body -------------------------------------------------------------------


def test_invoke_endpoint_body_reads_lazily_and_is_capped() -> None:
    big = b"0123456789" * 10_000

    def handler(r: Received) -> Reply:
        if "/big/" in r.path:
            return Reply(200, [("Content-Type", "text/plain")], [big[:40_000], big[40_000:]])
        lines = [b"one\n", b"two\nthr", b"ee\n", b"four"]
        return Reply(200, [("Content-Type", "text/plain")], lines)

    async def main() -> None:
        async with make_client(srv.url) as client:
            body = (await client.invoke_endpoint(EndpointName="lines", Body=b"x"))["Body"]
            assert [line async for line in body.aiter_lines()] == [
                b"one",
                b"two",
                b"three",
                b"four",
            ]
            body = (await client.invoke_endpoint(EndpointName="big", Body=b"x"))["Body"]
            assert await body.read(5) == b"01234"
            assert len(await body.read()) == len(big) - 5
            if "max_body_bytes" not in Config.__slots__:
                return  # the cap's option comes with the blocking driver's change
            small = make_client(srv.url, config=Config(proxies={}, max_body_bytes=50_000))
            async with small:
                body = (await small.invoke_endpoint(EndpointName="big", Body=b"x"))["Body"]
                with pytest.raises(BodyTooLargeError):
                    await body.read()

    with ScriptedServer(handler) as srv:
        run(main())


# -- deadlines against a dripping server -----------------------------------------------------


class DripServer:
    """Answers every request with ``script``: (bytes, seconds to wait before them) pairs."""

    def __init__(self, script: list[tuple[bytes, float]]) -> None:
        self.script = script
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DripServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        self._thread.join(5)

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            try:
                for piece, delay in self.script:
                    time.sleep(delay)
                    conn.sendall(piece)
                conn.recv(1)  # until the client goes
            except OSError:
                pass
            self.closed.set()


def dripped(data: bytes, every: float) -> list[tuple[bytes, float]]:
    return [(data[i : i + 1], every) for i in range(len(data))]


HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
    b"Transfer-Encoding: chunked\r\nX-Amzn-SageMaker-Content-Type: text/plain\r\n\r\n"
)


@pytest.mark.parametrize(
    ("script", "phase"),
    [
        (dripped(HEAD, 0.1), "total"),  # the header block, dripped
        ([(HEAD, 0), *dripped(b"%x\r\n%s\r\n" % (20, part(b"x")[:20]), 0.1)], "total"),
    ],
)
def test_a_dripped_stream_ends_at_its_total_deadline(
    script: list[tuple[bytes, float]], phase: str
) -> None:
    async def main() -> tuple[BaseException, float]:
        cfg = Config(proxies={}, total_timeout=0.6, read_timeout=5.0, max_attempts=1)
        async with make_client(srv.url, config=cfg) as client:
            start = time.monotonic()
            with pytest.raises(ReadTimeoutError) as info:
                body = await open_stream(client)
                [e async for e in body]
            return info.value, time.monotonic() - start

    with DripServer(script) as srv:
        error, took = run(main())
        assert srv.closed.wait(5), "the connection was not closed"
    assert error.phase == phase  # type: ignore[attr-defined]
    assert took < 0.6 + 1.0


def test_bytes_that_never_complete_an_event_hit_the_event_deadline() -> None:
    frame = part(b"x" * 50)
    chunk = b"%x\r\n%s\r\n"
    script = [(HEAD + chunk % (len(frame), frame), 0)]
    script += [(chunk % (1, b"a"), 0.05) for _ in range(40)]  # bytes, but no whole frame

    async def main() -> tuple[BaseException, list[Any]]:
        cfg = Config(proxies={}, event_timeout=0.4, max_attempts=1)
        async with make_client(srv.url, config=cfg) as client:
            got: list[Any] = []
            body = await open_stream(client)
            with pytest.raises(ReadTimeoutError) as info:
                async for event in body:
                    got.append(event)
            return info.value, got

    with DripServer(script) as srv:
        error, got = run(main())
    assert len(got) == 1
    assert error.phase == "between-events"  # type: ignore[attr-defined]


def test_a_dripped_invoke_endpoint_body_ends_at_the_total_deadline() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
    script = [(head, 0), *dripped(b"y" * 100, 0.1)]

    async def main() -> float:
        cfg = Config(proxies={}, total_timeout=0.5, max_attempts=1)
        async with make_client(srv.url, config=cfg) as client:
            start = time.monotonic()
            body = (await client.invoke_endpoint(EndpointName="e", Body=b"x"))["Body"]
            with pytest.raises(ReadTimeoutError, match="total"):
                await body.read()
            return time.monotonic() - start

    with DripServer(script) as srv:
        took = run(main())
    assert took < 1.5


# -- bounds, concurrency, responsiveness -----------------------------------------------------


def test_a_slow_consumer_keeps_the_buffer_bounded() -> None:
    burst = b"".join(part(b"%05d" % i + b"z" * 1000) for i in range(2000))  # ~2 MB at once

    async def main() -> None:
        async with make_client(srv.url) as client:
            body = await open_stream(client)
            conn = body._response._conn
            assert conn is not None
            most = 0
            consumed = 0
            async for data in body.aiter_bytes():
                assert data.startswith(b"%05d" % consumed)
                consumed += 1
                most = max(most, conn.queued)
                if consumed % 200 == 1:
                    await asyncio.sleep(0.05)  # the socket fills; reading must pause
                    most = max(most, conn.queued)
            assert consumed == 2000
            assert most <= HIGH_WATER + READ_SIZE

    with ScriptedServer(lambda r: stream_reply(burst)) as srv:
        run(main())


def test_20_concurrent_streams_on_one_client() -> None:
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
        async with make_client(srv.url) as client:
            return await asyncio.gather(*(one(client, n) for n in range(20)))

    with ScriptedServer(handler) as srv:
        results = run(main())
    assert all_in.is_set()
    assert results == [[b"e%d:%d" % (n, i) for i in range(10)] for n in range(20)]


FAST_SERVER = r"""
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from tests.smruntime.frames import part
EVENTS, PAUSE = int(sys.argv[2]), float(sys.argv[3])
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")

async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(HEAD)
            for i in range(EVENTS):
                frame = part(b"%d" % i)
                writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                if PAUSE:
                    await asyncio.sleep(PAUSE)
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=2048)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"""


def start_fast_server(events: int, pause: float) -> tuple[subprocess.Popen[str], str]:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen(
        [sys.executable, "-c", FAST_SERVER, root, str(events), str(pause)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = proc.stdout.readline().strip()
    return proc, f"http://127.0.0.1:{port}"


def stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.mark.slow
def test_1000_concurrent_streams_on_one_client() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2200 and hard >= 2200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (2200, hard))
    elif soft < 2200:
        pytest.skip("needs 2200 file descriptors")
    proc, url = start_fast_server(events=20, pause=0.02)
    try:

        async def one(client: AsyncClient, n: int) -> list[bytes]:
            body = await open_stream(client, f"e{n}")
            return [data async for data in body.aiter_bytes()]

        async def main() -> list[list[bytes]]:
            async with make_client(url) as client:
                return await asyncio.gather(*(one(client, n) for n in range(1000)))

        results = run(main())
    finally:
        stop(proc)
    assert results == [[b"%d" % i for i in range(20)]] * 1000


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
            assert len(during_call) >= 5, len(during_call)
            assert len(during_stream) >= 10, len(during_stream)

    with ScriptedServer(lambda r: reply) as srv:
        run(main())


def test_a_forked_child_gets_a_fresh_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    reply = Reply(200, [("Content-Type", "application/json")], [b"{}"], chunked=False)

    async def main() -> None:
        async with make_client(srv.url) as client:
            await (await client.invoke_endpoint(EndpointName="e", Body=b"x"))["Body"].read()
            await (await client.invoke_endpoint(EndpointName="e", Body=b"x"))["Body"].read()
            assert srv.connections == 1  # keep-alive
            parents = [
                conn
                for pool in client._pool._loops.values()
                for idle in pool.idle.values()
                for conn in idle
            ]
            real = os.getpid()
            monkeypatch.setattr(os, "getpid", lambda: real + 1)  # as in a forked child
            await (await client.invoke_endpoint(EndpointName="e", Body=b"x"))["Body"].read()
            assert srv.connections == 2  # the parent's socket was not used
            for conn in parents:  # in a real child they stay the parent's; here, close them
                conn.abort()

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


def test_no_other_transport() -> None:
    with pytest.raises(ValueError, match="transport"):
        make_client("http://127.0.0.1:9", transport="requests")


def test_from_client_shares_the_configuration_and_credentials() -> None:
    from smruntime import Client

    reply = Reply(200, [("Content-Type", "application/json")], [b"{}"], chunked=False)

    async def main() -> None:
        sync = Client(
            region_name="eu-west-1",
            endpoint_url=srv.url,
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
            config=Config(proxies={}, max_attempts=1),
            environ={},
        )
        async with AsyncClient.from_client(sync) as client:
            assert client.sync_client is sync
            assert client.region_name == "eu-west-1"
            assert client.config is sync.config
            assert client.exceptions.ModelError is ModelError
            assert "secret" not in repr(client)
            result = await client.invoke_endpoint(EndpointName="e", Body=b"x")
            assert await result["Body"].read() == b"{}"

    with ScriptedServer(lambda r: reply) as srv:
        run(main())
    assert "Credential=AKIDEXAMPLE/" in srv.requests[0].headers["authorization"]
    assert "/eu-west-1/sagemaker/" in srv.requests[0].headers["authorization"]


def test_a_dripped_error_body_ends_at_the_deadline() -> None:
    head = (
        b"HTTP/1.1 500 Internal\r\nContent-Type: application/x-amz-json-1.1\r\n"
        b"Content-Length: 200\r\n\r\n"
    )
    script = [(head, 0), *dripped(b'{"__type": "InternalFailure"' + b" " * 172, 0.1)]

    async def main() -> float:
        cfg = Config(proxies={}, read_timeout=0.3, total_timeout=0.5, max_attempts=1)
        async with make_client(srv.url, config=cfg) as client:
            start = time.monotonic()
            with pytest.raises(ReadTimeoutError, match="total"):
                await client.invoke_endpoint(EndpointName="e", Body=b"x")
            return time.monotonic() - start

    with DripServer(script) as srv:
        took = run(main())
    assert took < 0.5 + 1.0


def test_silence_after_an_event_hits_the_event_deadline_not_the_header_one() -> None:
    # The header wait armed a timer 70 s away; the event deadline is earlier and must win.
    script = [(HEAD + b"%x\r\n%s\r\n" % (len(part(b"a")), part(b"a")), 0)]

    async def main() -> tuple[BaseException, float]:
        cfg = Config(proxies={}, event_timeout=0.3, max_attempts=1)
        async with make_client(srv.url, config=cfg) as client:
            body = await open_stream(client)
            assert await body.aiter_bytes().__anext__() == b"a"
            start = time.monotonic()
            with pytest.raises(ReadTimeoutError) as info:
                await body.aiter_bytes().__anext__()
            return info.value, time.monotonic() - start

    with DripServer(script) as srv:
        error, took = run(main())
    assert error.phase == "between-events"  # type: ignore[attr-defined]
    assert took < 0.3 + 1.0


def idle_connections(client: AsyncClient) -> int:
    return sum(len(idle) for pool in client._pool._loops.values() for idle in pool.idle.values())


def test_connection_close_is_not_pooled_and_the_pool_is_bounded() -> None:
    def handler(r: Received) -> Reply:
        headers = [("Content-Type", "application/json")]
        if "/close/" in r.path:
            headers.append(("Connection", "close"))
        return Reply(200, headers, [b"{}"], chunked=False)

    async def main() -> None:
        cfg = Config(proxies={}, max_pool_connections=2)
        async with make_client(srv.url, config=cfg) as client:
            body = (await client.invoke_endpoint(EndpointName="close", Body=b"x"))["Body"]
            assert await body.read() == b"{}"
            assert idle_connections(client) == 0
            body = (await client.invoke_endpoint(EndpointName="close", Body=b"x"))["Body"]
            assert await body.read() == b"{}"
            assert srv.connections == 2  # the first was not reused

            async def one() -> bytes:
                result = await client.invoke_endpoint(EndpointName="keep", Body=b"x")
                return bytes(await result["Body"].read())

            assert await asyncio.gather(*(one() for _ in range(4))) == [b"{}"] * 4
            assert idle_connections(client) == 2

    with ScriptedServer(handler) as srv:
        run(main())


def test_a_proxy_that_refuses_connect() -> None:
    from smruntime.exceptions import EndpointConnectionError

    from .hostile_server import HostileServer

    def refuse(sock: socket.socket, request: bytes | None) -> bool:
        if request is not None:
            sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        return False

    async def main(proxy: str) -> None:
        cfg = Config(proxies={"https": proxy}, max_attempts=1)
        async with make_client("https://example.invalid", config=cfg) as client:
            with pytest.raises(EndpointConnectionError, match=r"refused CONNECT.*403"):
                await client.invoke_endpoint(EndpointName="e", Body=b"x")

    with HostileServer(refuse) as proxy:
        run(main(proxy.url))
        assert proxy.requests[0].startswith(b"CONNECT example.invalid:443 HTTP/1.1\r\n")


# -- the wire's shared rules (smruntime.http._config) on the asyncio driver -----------------


@pytest.mark.parametrize(("method", "resent"), [("GET", True), ("POST", False)])
def test_a_pooled_connection_closed_before_the_answer_is_resent_only_if_safe(
    method: str, resent: bool
) -> None:
    from smruntime.exceptions import ConnectionClosedError
    from smruntime.http._async import AsyncPool
    from smruntime.http._config import Deadlines, WireConfig

    from .hostile_server import HostileServer

    answered: list[socket.socket] = []  # the sockets, not their fds: a closed fd is reused

    def handler(sock: socket.socket, request: bytes | None) -> bool:
        if request is None or any(seen is sock for seen in answered):
            return False
        answered.append(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    async def main(url: str) -> None:
        pool = AsyncPool(WireConfig())
        deadlines = Deadlines(connect=5, headers=5, between=5, total=10)
        first = await pool.request(method, url + "/a", [], b"", deadlines)
        assert await first.read() == b"ok"
        first.close()
        if resent:
            again = await pool.request(method, url + "/b", [], b"", deadlines)
            assert await again.read() == b"ok"
            again.close()
        else:
            with pytest.raises(ConnectionClosedError, match="before the response arrived"):
                await pool.request(method, url + "/b", [], b"", deadlines)
        pool.close()

    with HostileServer(handler) as srv:
        run(main(srv.url))
        assert srv.connections == (2 if resent else 1)
        assert len(srv.requests) == (3 if resent else 2)
        # request_head: Host first, Content-Length: 0 for an empty POST
        assert srv.requests[0].split(b"\r\n")[1].startswith(b"Host: 127.0.0.1:")
        assert (b"\r\nContent-Length: 0\r\n" in srv.requests[0]) == (method == "POST")


def test_a_proxy_that_closes_during_connect_or_answers_garbage() -> None:
    from smruntime.exceptions import EndpointConnectionError

    from .hostile_server import HostileServer

    def close(sock: socket.socket, request: bytes | None) -> bool:
        return False

    def garbage(sock: socket.socket, request: bytes | None) -> bool:
        if request is not None:
            sock.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
        return False

    def endless(sock: socket.socket, request: bytes | None) -> bool:
        if request is not None:
            sock.sendall(b"HTTP/1.1 200 OK\r\nX: " + b"x" * (80 * 1024))
            proxy.pause(3)  # ends when the test stops the server
        return False

    async def main(proxy: str, match: str) -> None:
        cfg = Config(proxies={"https": proxy}, max_attempts=1, connect_timeout=2)
        async with make_client("https://example.invalid", config=cfg) as client:
            with pytest.raises(EndpointConnectionError, match=match):
                await client.invoke_endpoint(EndpointName="e", Body=b"x")

    with HostileServer(close) as proxy:
        run(main(proxy.url, r"closed the connection during CONNECT example\.invalid:443"))
    with HostileServer(garbage) as proxy:
        run(main(proxy.url, r"answered CONNECT with 'SSH-2\.0-OpenSSH'"))
    with HostileServer(endless) as proxy:
        run(main(proxy.url, r"answer to CONNECT example\.invalid:443 is over 65536 bytes"))


def test_a_pooled_connection_cut_after_part_of_the_answer_is_not_resent() -> None:
    from smruntime.exceptions import TransportError
    from smruntime.http._async import AsyncPool
    from smruntime.http._config import Deadlines, WireConfig

    from .hostile_server import HostileServer

    answered: list[socket.socket] = []  # the sockets, not their fds: a closed fd is reused

    def handler(sock: socket.socket, request: bytes | None) -> bool:
        if request is None:
            return False
        if any(seen is sock for seen in answered):
            sock.sendall(b"HTTP/1.1 200 OK\r\n")  # the answer started: the server acted
            return False
        answered.append(sock)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    async def main(url: str) -> None:
        pool = AsyncPool(WireConfig())
        deadlines = Deadlines(connect=5, headers=5, between=5, total=10)
        first = await pool.request("GET", url + "/a", [], b"", deadlines)
        assert await first.read() == b"ok"
        first.close()
        with pytest.raises(TransportError):
            await pool.request("GET", url + "/b", [], b"", deadlines)
        pool.close()

    with HostileServer(handler) as srv:
        run(main(srv.url))
        assert srv.connections == 1
        assert len(srv.requests) == 2


# -- the driver's sink (AsyncResponse.deliver_to), over a fake transport ----------------------


class _FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closing = False
        self.paused = False

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def abort(self) -> None:
        self.closing = True

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


_CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def _fake_response(first: bytes = b"") -> tuple[Any, Any, _FakeTransport]:
    """A response whose head (and ``first`` bytes after it) arrived on a fake transport."""
    from smruntime.http._async import AsyncPool, AsyncResponse, _Connection
    from smruntime.http._config import Deadlines
    from smruntime.http._parser import DEFAULT_LIMITS

    view = memoryview(bytearray(READ_SIZE))
    conn = _Connection(asyncio.get_running_loop(), DEFAULT_LIMITS, view)
    transport = _FakeTransport()
    conn.connection_made(transport)
    conn.http.send_request("GET", "/x", [("Host", "x")], b"")
    conn.start_response()

    def receive(data: bytes) -> None:
        view[: len(data)] = data
        conn.buffer_updated(len(data))

    receive(_CHUNKED_HEAD + first)
    assert conn.head is not None
    deadline = Deadlines(connect=60, headers=60, between=60, total=60).start(time.monotonic())
    response = AsyncResponse(AsyncPool(), ("http", "x", 80), conn, conn.head, deadline, "u")
    return response, receive, transport


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def test_deliver_to_gives_queued_then_decoded_body_bytes_in_the_callback() -> None:
    async def main() -> None:
        response, receive, _ = _fake_response(_chunk(b"early"))
        got: list[bytes] = []
        response.deliver_to(got.append)
        assert got == [b"early"]  # what was queued goes first
        waiter = response.read_nowait(None)
        assert type(waiter) is not bytes
        for piece in (b"4\r\nab", b"cd\r\n3\r", b"\nxyz\r\n"):
            receive(piece)
        assert b"".join(got) == b"earlyabcdxyz"
        assert waiter.done()  # woken by the bytes given to the sink
        receive(b"0\r\n\r\n")
        await waiter
        assert response.read_nowait(None) == b""  # the end: nothing else comes this way

    run(main())


def test_deliver_to_pauses_reading_until_the_reader_asks_again() -> None:
    async def main() -> None:
        response, receive, transport = _fake_response()
        response.deliver_to(lambda data: None)
        block = b"z" * 1000
        for _ in range(HIGH_WATER // len(block) + 1):
            receive(_chunk(block))
        assert transport.paused
        response.read_nowait(None)  # the reader took what it was given
        assert not transport.paused

    run(main())


def test_deliver_to_a_failing_sink_is_raised_by_the_next_read_and_drops_the_connection() -> None:
    async def main() -> None:
        response, receive, transport = _fake_response()

        def sink(data: bytes) -> None:
            raise OSError("disk full")

        response.deliver_to(sink)
        waiter = response.read_nowait(None)
        receive(_chunk(b"abc"))
        assert waiter.done()
        with pytest.raises(OSError, match="disk full"):
            response.read_nowait(None)
        assert transport.closing

    run(main())


def test_a_timer_verdict_stands_only_if_the_readers_deadline_passed() -> None:
    async def main() -> None:
        response, receive, _ = _fake_response()
        response.deliver_to(lambda data: None)
        soon = time.monotonic() + 0.01
        waiter = response.read_nowait(soon)
        await waiter  # the timer's verdict: timed out
        receive(_chunk(b"abc"))  # then bytes arrive, taken by the sink's reader
        later = time.monotonic() + 5  # whose deadline moved on
        waiter = response.read_nowait(later)
        assert type(waiter) is not bytes
        assert not waiter.done()
        waiter.cancel()
        response.abort()
        response, _, _ = _fake_response()
        waiter = response.read_nowait(soon := time.monotonic() + 0.01)
        await waiter
        with pytest.raises(ReadTimeoutError):
            response.read_nowait(soon)  # the same deadline: it passed

    run(main())


# -- a consumer slower than the timeouts (found by a review: the limits counted its time) --------


def test_a_consumer_slower_than_the_event_timeout_reads_every_event_sent_at_once() -> None:
    """The event limits count from when the caller comes back for more, not from the last
    frame decoded: a consumer that takes longer than ``event_timeout`` per event, over bytes
    that all arrived at once, is not a slow server (sync and asyncio)."""
    events = [part(b"%02d" % i + b"x" * 4096) for i in range(6)]
    cfg = Config(proxies={}, event_timeout=0.3, max_attempts=1)

    async def main() -> int:
        async with make_client(srv.url, config=cfg) as client:
            count = 0
            async for _event in await open_stream(client):
                count += 1
                await asyncio.sleep(0.45)  # the consumer's own work, longer than the limit
            return count

    with ScriptedServer(lambda r: stream_reply(Pause(0.05), b"".join(events))) as srv:
        assert run(main()) == 6
        client = sync_client(srv.url, cfg)
        with client:
            body = client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"x")["Body"]
            count = 0
            for _event in body:
                count += 1
                time.sleep(0.45)
            assert count == 6
            # a late first read too: the first-event limit counts from the first ask
            body = client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"x")["Body"]
            time.sleep(0.45)
            assert len(list(body)) == 6


def test_a_reader_slower_than_the_read_timeout_reads_the_whole_body() -> None:
    data = os.urandom(300_000)
    head = [("Content-Type", "application/octet-stream")]
    cfg = Config(proxies={}, read_timeout=0.3, max_attempts=1)
    with ScriptedServer(lambda r: Reply(200, head, [data])) as srv:
        client = sync_client(srv.url, cfg)
        with client:
            body = client.invoke_endpoint(EndpointName="e", Body=b"x")["Body"]
            got = b""
            while True:
                piece = body.read(100_000)
                if not piece:
                    break
                got += piece
                time.sleep(0.45)  # longer than the limit, between reads
            assert got == data


def test_a_read_after_a_failed_read_raises_instead_of_a_short_body() -> None:
    head = [("Content-Type", "application/json")]

    async def main() -> None:
        cfg = Config(proxies={}, read_timeout=0.3, max_attempts=1)
        async with make_client(srv.url, config=cfg) as client:
            body = (await client.invoke_endpoint(EndpointName="e", Body=b"x"))["Body"]
            with pytest.raises(ReadTimeoutError):
                await body.read()
            with pytest.raises(ConnectionClosedError, match="cut after 10 bytes"):
                await body.read()
            body = (await client.invoke_endpoint(EndpointName="e", Body=b"x"))["Body"]
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(body.read(), 0.1)
            with pytest.raises(ConnectionClosedError, match=r"failed \(cancelled\)"):
                await body.read()

    reply = Reply(200, head, [b"0123456789", Pause(2)], chunked=False, content_length=100)
    with ScriptedServer(lambda r: reply) as srv:
        run(main())


def test_a_cut_body_hands_over_every_byte_before_raising() -> None:
    data = bytes(range(256)) * 40  # 10,240 bytes of a 20,000-byte body, then the cut
    head = [("Content-Type", "application/octet-stream")]

    async def main() -> None:
        cfg = Config(proxies={}, max_attempts=1)
        async with make_client(srv.url, config=cfg) as client:
            body = (await client.invoke_endpoint(EndpointName="e", Body=b"x"))["Body"]
            got = b""
            with pytest.raises(ConnectionClosedError):
                async for chunk in body.aiter_chunks(1000):
                    got += chunk
            assert got == data  # a short read carried the last 240 bytes
            with pytest.raises(ConnectionClosedError):
                await body.read(10)  # and it stays cut
            body = (await client.invoke_endpoint(EndpointName="e", Body=b"x"))["Body"]
            with pytest.raises(ConnectionClosedError):
                await body.read()  # the whole body: never a short one
            assert await body.read(100_000) == data  # what came is still there
            with pytest.raises(ConnectionClosedError):
                await body.read(10)

    reply = Reply(200, head, [data, Cut()], chunked=False, content_length=20_000)
    with ScriptedServer(lambda r: reply) as srv:
        run(main())


def test_aiter_lines_keeps_a_crlf_cut_between_chunks_whole() -> None:
    data = b"alpha\r\nbeta\r\ngamma"  # read 6 bytes at a time: "alpha\r" then "\nbeta\r" ...

    async def main() -> list[bytes]:
        async with make_client(srv.url) as client:
            body = (await client.invoke_endpoint(EndpointName="e", Body=b"x"))["Body"]
            return [line async for line in body.aiter_lines(6)]

    with ScriptedServer(lambda r: Reply(200, [("Content-Type", "text/plain")], [data])) as srv:
        assert run(main()) == [b"alpha", b"beta", b"gamma"]
        with sync_client(srv.url) as client:
            body = client.invoke_endpoint(EndpointName="e", Body=b"x")["Body"]
            assert list(body.iter_lines(6)) == [b"alpha", b"beta", b"gamma"]


def test_invoke_endpoint_async_reads_its_answer_up_to_the_body_cap() -> None:
    # over the cap below, then a pause: a client reading past the cap waits it out
    huge = [b"{" + b" " * 300_000, Pause(5), b" " * 3_000_000]

    async def main() -> dict[str, Any]:
        cfg = Config(proxies={}, max_body_bytes=100_000, max_attempts=1)
        async with make_client(srv.url, config=cfg) as client:
            return await client.invoke_endpoint_async(EndpointName="e", InputLocation="s3://b/i")

    headers = [
        ("X-Amzn-SageMaker-OutputLocation", "s3://b/o"),
        ("Content-Type", "application/json"),
    ]
    with ScriptedServer(lambda r: Reply(202, headers, huge)) as srv:
        started = time.monotonic()
        assert run(main())["OutputLocation"] == "s3://b/o"
        assert time.monotonic() - started < 3
