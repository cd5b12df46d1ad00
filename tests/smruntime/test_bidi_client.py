"""InvokeEndpointWithBidirectionalStream on Client and AsyncClient, against the test HTTP/2
server: the request on the wire, overlap, Body iterables, errors, timeouts, closing."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

pytest.importorskip("h2")

from eventstream import Decoder, Message, encode
from smruntime import Client
from smruntime.aio import AsyncClient
from smruntime.exceptions import (
    InputClosedError,
    InputValidationError,
    ModelError,
    ModelStreamError,
    ParamValidationError,
    ReadTimeoutError,
    StreamResetError,
    WriteTimeoutError,
)
from tests.smruntime.h2_server import H2TestServer

ENDPOINT = "my-endpoint"


def client_for_url(url: str, **config: Any) -> Client:
    from smruntime import Config

    return Client(
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret-key-never-shown",
        config=Config(**config) if config else None,
    )


def client_for(srv: H2TestServer, **config: Any) -> Client:
    return client_for_url(srv.url, **config)


def part(event: dict[str, Any]) -> dict[str, Any]:
    assert list(event) == ["PayloadPart"]
    payload: dict[str, Any] = event["PayloadPart"]
    return payload


def test_request_on_the_wire_and_echo_while_sending() -> None:
    with H2TestServer("events") as srv, client_for(srv) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(
            EndpointName=ENDPOINT,
            ModelInvocationPath="v1/listen",
            ModelQueryString="model=nova-3",
            TargetVariant="v1",
        )
        assert resp["InvokedProductionVariant"] == "AllTraffic"
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
        with resp["Body"] as stream:
            for i in range(5):
                stream.send(f"part {i}".encode(), DataType="UTF8", CompletionState="PARTIAL")
                # the echo arrives while our input is still open
                got = part(next(stream))
                assert got == {
                    "Bytes": f"part {i}".encode(),
                    "DataType": "UTF8",
                    "CompletionState": "PARTIAL",
                }
            stream.send(
                {
                    "PayloadPart": {
                        "Bytes": b"\x00\x01",
                        "DataType": "BINARY",
                        "CompletionState": "COMPLETE",
                    }
                }
            )
            stream.close_input()
            rest = [part(e) for e in stream]
            assert rest == [
                {"Bytes": b"\x00\x01", "DataType": "BINARY", "CompletionState": "COMPLETE"}
            ]
            with pytest.raises(InputClosedError):
                stream.send(b"late")
        req = srv.requests[0]
        assert req[":method"] == "POST"
        assert req[":path"] == f"/endpoints/{ENDPOINT}/invocations-bidirectional-stream"
        assert req[":authority"] == f"127.0.0.1:{srv.port}"
        assert req["x-amz-content-sha256"] == "STREAMING-AWS4-HMAC-SHA256-EVENTS"
        assert req["content-type"] == "application/vnd.amazon.eventstream"
        assert req["x-amzn-sagemaker-model-invocation-path"] == "v1/listen"
        assert req["x-amzn-sagemaker-model-query-string"] == "model=nova-3"
        assert req["x-amzn-sagemaker-target-variant"] == "v1"
        assert "content-length" not in req
        assert req["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
        # 6 parts + the signed empty message, each wrapped with :date and :chunk-signature
        outer = srv.received_messages
        assert len(outer) == 7
        assert all(set(m.headers) == {":date", ":chunk-signature"} for m in outer)
        assert outer[-1].payload == b""


def test_body_iterable_is_sent_by_a_sender_and_input_closed() -> None:
    parts = [{"PayloadPart": {"Bytes": bytes([i]) * 100, "DataType": "BINARY"}} for i in range(50)]
    with H2TestServer("events") as srv, client_for(srv) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT, Body=parts)
        got = [part(e)["Bytes"] for e in resp["Body"]]
        assert got == [p["PayloadPart"]["Bytes"] for p in parts]
        assert resp["Body"].input_closed


def test_server_echoes_before_the_input_ends() -> None:
    """Responses arrive while a slow Body generator is still producing."""
    produced: list[float] = []
    gate = threading.Event()

    def slow() -> Any:
        for i in range(3):
            produced.append(time.monotonic())
            yield f"p{i}".encode()
            gate.wait(2)  # held until the caller has seen the echo
            gate.clear()

    with H2TestServer("events") as srv, client_for(srv) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT, Body=slow())
        out = []
        for event in resp["Body"]:
            out.append(part(event)["Bytes"])
            assert len(produced) == len(out)  # the next part is not produced yet
            gate.set()
        assert out == [b"p0", b"p1", b"p2"]


def test_close_does_not_wait_for_a_body_iterator_that_blocks() -> None:
    """A Body waiting on a microphone or a queue: close() returns at once (the sender sends
    nothing after it and may wait in the iterator for ever); before, it waited 5 s."""
    release = threading.Event()

    def microphone() -> Any:
        yield b"first"
        release.wait(30)  # no more audio for now
        yield b"late"

    with H2TestServer("events") as srv, client_for(srv) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(
            EndpointName=ENDPOINT, Body=microphone()
        )
        stream = resp["Body"]
        assert part(next(stream))["Bytes"] == b"first"
        started = time.monotonic()
        stream.close()
        assert time.monotonic() - started < 2.5
        release.set()  # the iterator's next part is never sent: the stream is closed
        assert stream.parts_sent == 1


def test_invalid_parameters_fail_before_any_connection() -> None:
    with H2TestServer("events") as srv, client_for(srv) as client:
        with pytest.raises(ParamValidationError, match="EndpointName"):
            client.invoke_endpoint_with_bidirectional_stream(EndpointName="bad name")
        with pytest.raises(ParamValidationError, match="ModelInvocationPath"):
            client.invoke_endpoint_with_bidirectional_stream(
                EndpointName=ENDPOINT, ModelInvocationPath="/leading"
            )
        with pytest.raises(ParamValidationError, match="Body"):
            client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT, Body=b"x")
        assert srv.requests == []
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        with resp["Body"] as stream:
            with pytest.raises(ParamValidationError, match="DataType"):
                stream.send(b"x", DataType="TEXT")


def test_http_errors_use_the_http2_service_names() -> None:
    body = json.dumps({"message": "bad path", "ErrorCode": "INVALID_PATH"}).encode()
    hdrs = [
        ("content-type", "application/json"),
        ("x-amzn-errortype", "InputValidationError"),
        ("x-amzn-requestid", "rid-1"),
    ]
    with H2TestServer("status", status=400, body=body, response_headers=hdrs) as srv:
        with client_for(srv) as client, pytest.raises(InputValidationError) as info:
            client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        assert info.value.status_code == 400
        assert info.value.request_id == "rid-1"
        assert "bad path" in str(info.value)
    body = json.dumps(
        {"Message": "boom", "OriginalStatusCode": 500, "ErrorCode": "CLIENT_ERROR"}
    ).encode()
    hdrs = [("content-type", "application/json"), ("x-amzn-errortype", "ModelError")]
    with H2TestServer("status", status=424, body=body, response_headers=hdrs) as srv:
        with client_for(srv) as client, pytest.raises(ModelError) as minfo:
            client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        assert minfo.value.original_status_code == 500
        assert minfo.value.response.get("ErrorCode") == "CLIENT_ERROR"


def _exception_event(kind: str, doc: dict[str, Any]) -> bytes:
    return encode(
        Message(
            headers=[
                (":message-type", "exception"),
                (":exception-type", kind),
                (":content-type", "application/json"),
            ],
            payload=json.dumps(doc).encode(),
        )
    )


def test_model_stream_error_keeps_its_error_code() -> None:
    payload = encode(
        Message(
            headers=[(":message-type", "event"), (":event-type", "PayloadPart")], payload=b"hello"
        )
    )
    payload += _exception_event(
        "ModelStreamError", {"Message": "model died", "ErrorCode": "StreamBroken"}
    )
    with H2TestServer("status", status=200, body=payload) as srv, client_for(srv) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        stream = resp["Body"]
        assert part(next(stream))["Bytes"] == b"hello"
        with pytest.raises(ModelStreamError) as info:
            next(stream)
        assert info.value.stream_error_code == "StreamBroken"
        with pytest.raises(ModelStreamError):  # raised again, never a quiet end
            next(stream)
        stream.close()


def test_reset_mid_stream_raises_and_is_not_retried() -> None:
    with H2TestServer("events", rst_after=300) as srv, client_for(srv) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        stream = resp["Body"]
        with pytest.raises(StreamResetError):
            for _ in range(10):
                stream.send(b"x" * 100)
                next(stream)
        stream.close()
        assert len(srv.requests) == 1


def test_first_event_timeout() -> None:
    with H2TestServer("events") as srv, client_for(srv, first_event_timeout=0.3) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        with resp["Body"] as stream, pytest.raises(ReadTimeoutError) as info:
            next(stream)  # nothing sent: nothing echoed
        assert info.value.phase == "first-byte"


def test_closing_early_resets_the_stream() -> None:
    with H2TestServer("events") as srv, client_for(srv) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        with resp["Body"] as stream:
            stream.send(b"one")
            next(stream)
        deadline = time.monotonic() + 3
        while not srv.resets and time.monotonic() < deadline:
            time.sleep(0.02)
        assert srv.resets == [8]


def test_repr_and_errors_hold_no_secret() -> None:
    with H2TestServer("events") as srv, client_for(srv) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        with resp["Body"] as stream:
            assert "secret" not in repr(stream)
            assert "Signature" not in repr(stream)


# -- asyncio -------------------------------------------------------------------------------------


def async_client_for(srv: H2TestServer, **config: Any) -> AsyncClient:
    return AsyncClient.from_client(client_for(srv, **config))


def test_async_echo_and_async_body() -> None:
    async def body() -> Any:
        for i in range(20):
            yield {"PayloadPart": {"Bytes": f"a{i}".encode(), "DataType": "UTF8"}}
            await asyncio.sleep(0)

    async def main() -> None:
        with H2TestServer("events") as srv:
            client = async_client_for(srv)
            resp = await client.invoke_endpoint_with_bidirectional_stream(
                EndpointName=ENDPOINT, Body=body()
            )
            got = [part(e)["Bytes"] async for e in resp["Body"]]
            assert got == [f"a{i}".encode() for i in range(20)]
            resp = await client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
            async with resp["Body"] as stream:
                await stream.send(b"x", DataType="BINARY", CompletionState="COMPLETE")
                first = await stream.__anext__()
                assert part(first) == {
                    "Bytes": b"x",
                    "DataType": "BINARY",
                    "CompletionState": "COMPLETE",
                }
                await stream.close_input()
                assert [e async for e in stream] == []

    asyncio.run(main())


def test_async_many_concurrent_streams_on_one_client() -> None:
    async def one(client: AsyncClient, n: int) -> list[bytes]:
        resp = await client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        out = []
        async with resp["Body"] as stream:
            for i in range(3):
                await stream.send(f"{n}-{i}".encode())
                out.append(part(await stream.__anext__())["Bytes"])
            await stream.close_input()
        return out

    async def main() -> None:
        with H2TestServer("events") as srv:
            client = async_client_for(srv)
            results = await asyncio.gather(*(one(client, n) for n in range(20)))
            assert results == [[f"{n}-{i}".encode() for i in range(3)] for n in range(20)]

    asyncio.run(main())


def test_async_http_error() -> None:
    body = json.dumps({"message": "nope"}).encode()
    hdrs = [("content-type", "application/json"), ("x-amzn-errortype", "InputValidationError")]

    async def main() -> None:
        with H2TestServer("status", status=400, body=body, response_headers=hdrs) as srv:
            client = async_client_for(srv)
            with pytest.raises(InputValidationError):
                await client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)

    asyncio.run(main())


def test_decoder_sanity() -> None:
    # the test server's unwrapping relies on the outer framing being a valid event stream
    assert Decoder().feed(encode(Message(headers=[], payload=b"x")))[0].payload == b"x"


def test_a_failing_body_iterable_is_raised_to_the_reader() -> None:
    def body() -> Any:
        yield b"first"
        raise RuntimeError("the microphone broke")

    with H2TestServer("events") as srv, client_for(srv) as client:
        # raised by the call (before the headers) or by the iteration, whichever sees it first
        with pytest.raises(RuntimeError, match="microphone"):
            resp = client.invoke_endpoint_with_bidirectional_stream(
                EndpointName=ENDPOINT, Body=body()
            )
            with resp["Body"] as stream:
                for _ in stream:
                    pass


def test_a_bad_part_in_body_names_its_index() -> None:
    parts = [b"ok", {"PayloadPart": {"Bytes": b"x", "DataType": "TEXT"}}]
    with H2TestServer("events") as srv, client_for(srv) as client:
        with pytest.raises(ParamValidationError, match=r"Body\[1\]"):  # at the call or later
            resp = client.invoke_endpoint_with_bidirectional_stream(
                EndpointName=ENDPOINT, Body=parts
            )
            with resp["Body"] as stream:
                list(stream)


def test_close_from_another_thread_ends_a_blocked_reader() -> None:
    with H2TestServer("events") as srv, client_for(srv) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        stream = resp["Body"]
        threading.Timer(0.3, stream.close).start()
        assert list(stream) == []  # the wait ends quietly: the caller closed it


def test_a_dropped_stream_is_reset() -> None:
    import gc

    with H2TestServer("events") as srv, client_for(srv) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        resp["Body"].send(b"x")
        del resp
        gc.collect()
        deadline = time.monotonic() + 3
        while not srv.resets and time.monotonic() < deadline:
            time.sleep(0.02)
        assert srv.resets == [8]


def test_async_failing_body_and_cancelled_reader() -> None:
    async def body() -> Any:
        yield b"one"
        raise RuntimeError("async source failed")

    async def main() -> None:
        with H2TestServer("events") as srv:
            client = async_client_for(srv)
            with pytest.raises(RuntimeError, match="async source failed"):
                resp = await client.invoke_endpoint_with_bidirectional_stream(
                    EndpointName=ENDPOINT, Body=body()
                )
                async with resp["Body"] as stream:
                    async for _ in stream:
                        pass
            resp = await client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
            stream = resp["Body"]
            reader = asyncio.ensure_future(stream.__anext__())
            await asyncio.sleep(0.1)
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            await stream.close()

    asyncio.run(main())


def test_connection_refused_is_retried_then_raised() -> None:
    from smruntime import Config
    from smruntime.exceptions import EndpointConnectionError

    with H2TestServer("events") as srv:
        url = srv.url
    client = Client(
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="AK",
        aws_secret_access_key="SK",
        config=Config(max_attempts=2, connect_timeout=2),
    )
    with client, pytest.raises(EndpointConnectionError) as info:
        client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
    assert info.value.request_sent is False

    async def main() -> None:
        with pytest.raises(EndpointConnectionError):
            await AsyncClient.from_client(client).invoke_endpoint_with_bidirectional_stream(
                EndpointName=ENDPOINT
            )

    asyncio.run(main())


def test_async_dropped_stream_is_reset() -> None:
    import gc

    async def main() -> None:
        with H2TestServer("events") as srv:
            client = async_client_for(srv)
            resp = await client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
            await resp["Body"].send(b"x")
            del resp
            gc.collect()
            for _ in range(150):
                if srv.resets:
                    break
                await asyncio.sleep(0.02)
            assert srv.resets == [8]

    asyncio.run(main())


def test_a_200_that_is_not_an_event_stream() -> None:
    from smruntime.exceptions import CorruptStreamError, NotEventStreamError

    body = b"<html><body>proxy says hello</body></html>" * 3
    with H2TestServer("status", status=200, body=body) as srv, client_for(srv) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        with resp["Body"] as stream, pytest.raises(NotEventStreamError) as info:
            next(stream)
        assert info.value.preview.startswith(b"<html>")
    good = encode(
        Message(headers=[(":message-type", "event"), (":event-type", "PayloadPart")], payload=b"ok")
    )
    bad = bytearray(good)
    bad[-1] ^= 1  # message CRC
    with H2TestServer("status", status=200, body=good + bytes(bad)) as srv:
        with client_for(srv) as client:
            resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
            with resp["Body"] as stream:
                assert part(next(stream))["Bytes"] == b"ok"
                with pytest.raises(CorruptStreamError):
                    next(stream)


def test_a_body_cut_inside_a_frame() -> None:
    from smruntime.exceptions import IncompleteStreamError

    good = encode(
        Message(
            headers=[(":message-type", "event"), (":event-type", "PayloadPart")], payload=b"whole"
        )
    )
    with H2TestServer("status", status=200, body=good + good[:7]) as srv:
        with client_for(srv) as client:
            resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
            with resp["Body"] as stream:
                assert part(next(stream))["Bytes"] == b"whole"
                with pytest.raises(IncompleteStreamError, match="inside a frame"):
                    next(stream)


def test_between_events_and_total_timeouts() -> None:
    with H2TestServer("events") as srv, client_for(srv, event_timeout=0.3) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        with resp["Body"] as stream:
            stream.send(b"one")
            next(stream)
            with pytest.raises(ReadTimeoutError) as info:
                next(stream)  # nothing more sent: nothing more comes
            assert info.value.phase == "between-events"
            assert info.value.timeout == 0.3
    with H2TestServer("events") as srv, client_for(srv, total_timeout=0.6) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        with resp["Body"] as stream, pytest.raises(ReadTimeoutError) as info:
            for _ in range(100):  # events keep coming, but the whole exchange is bounded
                stream.send(b"tick")
                next(stream)
                time.sleep(0.05)
        assert info.value.phase == "total"


def test_a_send_the_server_never_takes_times_out() -> None:
    from smruntime.exceptions import WriteTimeoutError

    with H2TestServer("events") as srv, client_for(srv, event_timeout=0.4) as client:
        srv.hold.set()  # the server stops acknowledging input
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
        with resp["Body"] as stream, pytest.raises(WriteTimeoutError):
            for _ in range(200):
                stream.send(b"w" * 16384)
        srv.hold.clear()


def test_async_first_event_timeout() -> None:
    async def main() -> None:
        with H2TestServer("events") as srv:
            client = async_client_for(srv, first_event_timeout=0.3)
            resp = await client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
            async with resp["Body"] as stream:
                with pytest.raises(ReadTimeoutError) as info:
                    await stream.__anext__()
                assert info.value.phase == "first-byte"

    asyncio.run(main())


# -- found by a review: sends that do not complete, deadlines, slow consumers, close -------------


def _emulated(models: dict[str, Any]) -> Any:
    from sigv4 import Credentials
    from smruntime.emulator._h2 import serve_h2

    return serve_h2(Credentials("AKIDEXAMPLE", "secret-key-never-shown"), models=models)


def _held_model(gate: threading.Event, pause: float = 0.0) -> Any:
    def model(request: Any, parts: Any) -> Any:
        gate.wait(10)  # busy: takes no input for a while, then one part every ``pause``
        for p in parts:
            time.sleep(pause)
            yield {"Bytes": p["Bytes"][:8]}

    return model


def test_a_send_that_timed_out_ends_the_input_with_its_reason() -> None:
    """Its part was signed (the chain moved on) but not queued: later sends, and
    close_input, raise InputClosedError naming why, instead of parts the server refuses."""
    gate = threading.Event()
    with _emulated({"held": _held_model(gate)}) as srv, client_for(srv, event_timeout=0.3) as c:
        with c.invoke_endpoint_with_bidirectional_stream(EndpointName="held")["Body"] as stream:
            with pytest.raises(WriteTimeoutError):
                for _ in range(200):
                    stream.send(b"x" * 60_000)
            gate.set()
            for retry in (lambda: stream.send(b"after"), stream.close_input):
                with pytest.raises(InputClosedError, match="an earlier send did not complete") as e:
                    retry()
                assert "WriteTimeoutError" in str(e.value)
            assert not stream.input_closed


def test_a_send_blocked_by_a_trickled_window_ends_at_the_total_deadline() -> None:
    gate = threading.Event()
    gate.set()  # the model takes a part every 0.1 s: progress, but never enough
    model = _held_model(gate, pause=0.1)
    with _emulated({"slow": model}) as srv, client_for(srv, total_timeout=1.5) as c:
        started = time.monotonic()
        with c.invoke_endpoint_with_bidirectional_stream(EndpointName="slow")["Body"] as stream:
            with pytest.raises(WriteTimeoutError, match="total deadline"):
                while time.monotonic() - started < 15:
                    stream.send(b"y" * 60_000)
            assert time.monotonic() - started < 1.5 + 1.0


def test_a_consumer_slower_than_the_event_timeout_gets_the_event_waiting() -> None:
    def echo(request: Any, parts: Any) -> Any:
        for p in parts:
            yield {"Bytes": p["Bytes"]}

    async def main(url: str) -> list[bytes]:
        ac = AsyncClient.from_client(client_for_url(url, event_timeout=0.3))
        got = []
        async with (await ac.invoke_endpoint_with_bidirectional_stream(EndpointName="e"))[
            "Body"
        ] as stream:
            await stream.send(b"one")
            got.append(part(await stream.__anext__())["Bytes"])
            await stream.send(b"two")
            await asyncio.sleep(0.5)  # the echo came at once; the consumer is late
            got.append(part(await stream.__anext__())["Bytes"])
        await ac.close()
        return got

    with _emulated({"e": echo}) as srv:
        with client_for(srv, event_timeout=0.3) as c:
            with c.invoke_endpoint_with_bidirectional_stream(EndpointName="e")["Body"] as stream:
                stream.send(b"one")
                assert part(next(stream))["Bytes"] == b"one"
                stream.send(b"two")
                time.sleep(0.5)
                assert part(next(stream))["Bytes"] == b"two"
        assert asyncio.run(main(srv.url)) == [b"one", b"two"]


def test_async_a_cancelled_send_ends_the_input_and_close_keeps_the_callers_cancel() -> None:
    gate = threading.Event()

    class Source:  # an input source whose cleanup takes a moment once cancelled
        def __aiter__(self) -> Source:
            return self

        async def __anext__(self) -> bytes:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                await asyncio.sleep(0.3)
                raise
            raise StopAsyncIteration

    async def main(url: str) -> None:
        ac = AsyncClient.from_client(client_for_url(url))
        stream = (await ac.invoke_endpoint_with_bidirectional_stream(EndpointName="held"))["Body"]
        with pytest.raises(asyncio.TimeoutError):
            for _ in range(200):
                await asyncio.wait_for(stream.send(b"x" * 60_000), 0.3)
        with pytest.raises(InputClosedError, match=r"did not complete \(cancelled\)"):
            await stream.send(b"after")
        await stream.close()

        stream = (
            await ac.invoke_endpoint_with_bidirectional_stream(EndpointName="held", Body=Source())
        )["Body"]

        async def worker() -> str:
            await stream.close()
            await asyncio.sleep(0)
            return "went on"

        task = asyncio.ensure_future(worker())
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await ac.close()

    with _emulated({"held": _held_model(gate)}) as srv:
        try:
            asyncio.run(main(srv.url))
        finally:
            gate.set()


def test_an_error_body_that_stalls_fails_with_the_timeout_naming_the_status() -> None:
    """As the HTTP/1.1 operations' error bodies (README): not an error built from a fragment."""
    body = b'{"message": "partial'
    with H2TestServer("status", status=500, body=body, body_ends=False) as srv:
        with client_for(srv, read_timeout=0.4) as client:
            started = time.monotonic()
            with pytest.raises(ReadTimeoutError, match="HTTP 500 answer's error body") as info:
                client.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)
            assert time.monotonic() - started < 0.4 + 1.0
            assert f"({len(body)} bytes of it received)" in str(info.value)

        async def main() -> None:
            async with async_client_for(srv, read_timeout=0.4) as ac:
                with pytest.raises(ReadTimeoutError, match="HTTP 500 answer's error body"):
                    await ac.invoke_endpoint_with_bidirectional_stream(EndpointName=ENDPOINT)

        asyncio.run(main())
