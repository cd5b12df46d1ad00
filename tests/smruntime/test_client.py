"""The client end to end against scripted loopback servers: wire format, stream, errors, retries."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from email.utils import format_datetime

import pytest

import smruntime
from smruntime import Client, Config, _client
from smruntime.exceptions import (
    ClientError,
    ContainerStreamError,
    CorruptStreamError,
    IncompleteStreamError,
    InternalStreamFailure,
    ModelError,
    ModelStreamError,
    NotEventStreamError,
    ParamValidationError,
    ReadTimeoutError,
    ServiceUnavailable,
    ThrottlingException,
    ValidationError,
)

from .frames import endless, exception_frame, part
from .scripted_server import Cut, Pause, Received, Reply, ScriptedServer

TRANSPORTS = ["requests", "stdlib"]
STREAM_HEADERS = [
    ("Content-Type", "application/vnd.amazon.eventstream"),
    ("X-Amzn-SageMaker-Content-Type", "text/event-stream"),
    ("x-Amzn-Invoked-Production-Variant", "AllTraffic"),
    ("x-amzn-RequestId", "req-1234"),
]


def stream_reply(*pieces: bytes | Pause | Cut, **kw: object) -> Reply:
    return Reply(200, list(STREAM_HEADERS), list(pieces), **kw)  # type: ignore[arg-type]


def json_error(status: int, code: str, message: str, **fields: object) -> Reply:
    body = json.dumps({"__type": code, "message": message, **fields}).encode()
    return Reply(
        status,
        [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", "req-err")],
        [body],
        chunked=False,
    )


@pytest.fixture(autouse=True)
def backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    delays: list[float] = []
    monkeypatch.setattr(_client, "_sleep", delays.append)
    return delays


_open_clients: list[Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _open_clients:
        _open_clients.pop().close()


def make_client(url: str, transport: str, **config: object) -> Client:
    client = Client(
        region_name="us-west-2",
        endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        config=Config(**config),  # type: ignore[arg-type]
        transport=transport,
        environ={},
    )
    _open_clients.append(client)
    return client


def stream(client: Client, **params: object) -> smruntime.EventStream:
    params.setdefault("EndpointName", "my-endpoint")
    params.setdefault("Body", b'{"inputs": "hi"}')
    response = client.invoke_endpoint_with_response_stream(**params)
    body = response["Body"]
    assert isinstance(body, smruntime.EventStream)
    return body


PARTS = [b'data: {"token": {"text": "Hel"}}\n\n', b'data: {"token": {"text": "lo"}}\n\n', b"x" * 70]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stream_wire_format_and_events(transport: str) -> None:
    with ScriptedServer(lambda r: stream_reply(*(part(p) for p in PARTS))) as srv:
        client = make_client(srv.url, transport)
        response = client.invoke_endpoint_with_response_stream(
            EndpointName="my-endpoint",
            Body=b"{}",
            ContentType="application/json",
            Accept="text/event-stream",
            CustomAttributes="accept_eula=true",
            InferenceComponentName="ic-1",
        )
        with response["Body"] as body:
            events = list(body)
        client.close()
    assert events == [{"PayloadPart": {"Bytes": p}} for p in PARTS]
    assert response["ContentType"] == "text/event-stream"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    meta = response["ResponseMetadata"]
    assert meta["RequestId"] == "req-1234"
    assert meta["HTTPStatusCode"] == 200
    assert meta["RetryAttempts"] == 0
    (req,) = srv.requests
    assert req.method == "POST"
    assert req.path == "/endpoints/my-endpoint/invocations-response-stream"
    assert req.headers["x-amzn-sagemaker-accept"] == "text/event-stream"
    assert req.headers["x-amzn-sagemaker-custom-attributes"] == "accept_eula=true"
    assert req.headers["x-amzn-sagemaker-inference-component"] == "ic-1"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-west-2/sagemaker/aws4_request" in req.headers["authorization"]
    assert req.headers["user-agent"].startswith(f"smruntime/{smruntime.__version__} python/")
    assert req.headers["amz-sdk-request"] == "attempt=1; max=3"
    assert req.body == b"{}"
    assert body.stats.completed
    assert body.stats.events == 3
    assert body.stats.frames == 3


def _split_every(blob: bytes, size: int) -> list[bytes]:
    return [blob[i : i + size] for i in range(0, len(blob), size)]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("size", [1, 2, 7, 100, 4096, 1 << 20])
def test_any_chunking_gives_the_same_events(transport: str, size: int) -> None:
    blob = b"".join(part(p) for p in PARTS)
    with ScriptedServer(lambda r: stream_reply(*_split_every(blob, size))) as srv:
        events = list(stream(make_client(srv.url, transport)))
    assert events == [{"PayloadPart": {"Bytes": p}} for p in PARTS]


def test_split_at_every_offset() -> None:
    blob = part(PARTS[0]) + part(PARTS[1])
    offsets = iter(range(1, len(blob)))
    lock = threading.Lock()

    def handler(_: Received) -> Reply:
        with lock:
            cut = next(offsets)
        return stream_reply(blob[:cut], blob[cut:])

    with ScriptedServer(handler) as srv:
        client = make_client(srv.url, "stdlib")
        for _ in range(1, len(blob)):
            events = list(stream(client))
            assert [e["PayloadPart"]["Bytes"] for e in events] == PARTS[:2]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_each_event_is_handed_over_as_soon_as_it_arrives(transport: str) -> None:
    handed_over = threading.Event()
    seen_by_server: list[bool] = []

    def body() -> Iterator[bytes]:
        yield part(b"first")
        # The second part is only sent once the client has the first: a client that waits for
        # a buffer to fill would wait here until this gives up.
        seen_by_server.append(handed_over.wait(10))
        yield part(b"second")

    with ScriptedServer(lambda r: Reply(200, list(STREAM_HEADERS), body())) as srv:
        events = stream(make_client(srv.url, transport))
        iterator = iter(events)
        assert next(iterator) == {"PayloadPart": {"Bytes": b"first"}}
        handed_over.set()
        assert list(iterator) == [{"PayloadPart": {"Bytes": b"second"}}]
    assert seen_by_server == [True]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_model_stream_error_mid_stream(transport: str) -> None:
    frames = [
        part(b"a"),
        part(b"b"),
        exception_frame("ModelStreamError", "too slow", "StreamBroken"),
    ]
    with ScriptedServer(lambda r: stream_reply(*frames)) as srv:
        client = make_client(srv.url, transport)
        got = []
        with pytest.raises(client.exceptions.ModelStreamError) as info:
            for event in stream(client):
                got.append(event)
    assert len(got) == 2
    error = info.value
    assert isinstance(error, ModelStreamError)
    assert isinstance(error, ClientError)
    assert error.error_code == "ModelStreamError"
    assert error.stream_error_code == "StreamBroken"
    assert error.error_message == "too slow"
    assert error.response["ResponseMetadata"]["RequestId"] == "req-1234"


def test_internal_stream_failure() -> None:
    frames = [part(b"a"), exception_frame("InternalStreamFailure", "oops")]
    with ScriptedServer(lambda r: stream_reply(*frames)) as srv:
        with pytest.raises(InternalStreamFailure, match="oops"):
            list(stream(make_client(srv.url, "stdlib")))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_connection_cut_mid_frame_is_an_error(transport: str) -> None:
    frame = part(b"the second part")
    with ScriptedServer(lambda r: stream_reply(part(b"a"), frame[:20], Cut())) as srv:
        body = stream(make_client(srv.url, transport))
        got = []
        with pytest.raises(IncompleteStreamError) as info:
            for event in body:
                got.append(event)
    assert got == [{"PayloadPart": {"Bytes": b"a"}}]
    assert "offset" in str(info.value)
    assert not body.stats.completed


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_connection_cut_between_frames_is_an_error(transport: str) -> None:
    with ScriptedServer(lambda r: stream_reply(part(b"a"), Cut())) as srv:
        with pytest.raises(IncompleteStreamError):
            list(stream(make_client(srv.url, transport)))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_corrupt_crc(transport: str) -> None:
    bad = bytearray(part(b"hello"))
    bad[-1] ^= 0xFF
    with ScriptedServer(lambda r: stream_reply(part(b"a"), bytes(bad))) as srv:
        with pytest.raises(CorruptStreamError, match=r"CRC|crc|checksum"):
            list(stream(make_client(srv.url, transport)))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_200_that_is_not_an_event_stream(transport: str) -> None:
    html = b"<html><body>502 Bad Gateway from the corporate proxy</body></html>"
    reply = Reply(200, [("Content-Type", "text/html")], [html])
    with ScriptedServer(lambda r: reply) as srv, pytest.raises(NotEventStreamError) as info:
        list(stream(make_client(srv.url, transport)))
    assert info.value.preview.startswith(b"<html>")
    assert "text/html" in str(info.value)


def test_not_an_event_stream_without_content_type() -> None:
    reply = Reply(200, [], [b'data: {"token": "x"}\n\n'])
    with ScriptedServer(lambda r: reply) as srv:
        with pytest.raises(NotEventStreamError, match="data:"):
            list(stream(make_client(srv.url, "stdlib")))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_read_timeout_between_events(transport: str) -> None:
    with ScriptedServer(lambda r: stream_reply(part(b"a"), Pause(1.0), part(b"b"))) as srv:
        body = stream(make_client(srv.url, transport, event_timeout=0.3))
        got = []
        with pytest.raises(ReadTimeoutError) as info:
            for event in body:
                got.append(event)
    assert len(got) == 1
    assert info.value.phase == "between-events"
    assert info.value.timeout == 0.3


def test_first_event_timeout() -> None:
    with ScriptedServer(lambda r: stream_reply(Pause(1.0), part(b"b"))) as srv:
        with pytest.raises(ReadTimeoutError) as info:
            list(stream(make_client(srv.url, "stdlib", first_event_timeout=0.3)))
    assert info.value.phase == "first-byte"


def test_total_timeout() -> None:
    pieces = [x for _ in range(20) for x in (part(b"t"), Pause(0.1))]
    with ScriptedServer(lambda r: stream_reply(*pieces)) as srv:
        with pytest.raises(ReadTimeoutError) as info:
            list(stream(make_client(srv.url, "stdlib", total_timeout=0.5)))
    assert info.value.phase == "total"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_close_mid_stream_disconnects(transport: str) -> None:
    with ScriptedServer(lambda r: Reply(200, list(STREAM_HEADERS), endless())) as srv:
        body = stream(make_client(srv.url, transport))
        iterator = iter(body)
        next(iterator)
        body.close()
        assert srv.disconnects.wait(5), "the server never saw the client go away"
        assert body.closed


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_http_errors(transport: str) -> None:
    replies = {
        "/endpoints/bad/invocations-response-stream": json_error(
            400, "ValidationError", "Endpoint bad of account 123 not found."
        ),
        "/endpoints/model/invocations-response-stream": json_error(
            424,
            "ModelError",
            "Received client error (400) from primary",
            OriginalStatusCode=400,
            OriginalMessage="bad input",
            LogStreamArn="arn:aws:logs:us-west-2:123:log-group:/aws/sagemaker/Endpoints/model",
        ),
    }
    with ScriptedServer(lambda r: replies[r.path]) as srv:
        client = make_client(srv.url, transport)
        with pytest.raises(ValidationError, match="not found") as info:
            stream(client, EndpointName="bad")
        assert info.value.status_code == 400
        assert info.value.request_id == "req-err"
        with pytest.raises(client.exceptions.ModelError) as model_info:
            stream(client, EndpointName="model")
    error = model_info.value
    assert isinstance(error, ModelError)
    assert error.original_status_code == 400
    assert error.original_message == "bad input"
    assert error.response["LogStreamArn"].startswith("arn:aws:logs")
    assert error.response["Error"]["Code"] == "ModelError"
    assert len(srv.requests) == 2  # neither was retried


def test_html_5xx_is_retried_then_raised(backoff: list[float]) -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head></html>"
    reply = Reply(502, [("Content-Type", "text/html")], [page], chunked=False)
    with ScriptedServer(lambda r: reply) as srv, pytest.raises(ClientError) as info:
        stream(make_client(srv.url, "requests"))
    assert info.value.status_code == 502
    assert len(srv.requests) == 3
    assert len(backoff) == 2
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 2


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_throttling_then_success(transport: str, backoff: list[float]) -> None:
    replies = iter(
        [json_error(400, "ThrottlingException", "Rate exceeded"), stream_reply(part(b"ok"))]
    )
    with ScriptedServer(lambda r: next(replies)) as srv:
        response = make_client(srv.url, transport).invoke_endpoint_with_response_stream(
            EndpointName="e", Body=b"x"
        )
        assert list(response["Body"]) == [{"PayloadPart": {"Bytes": b"ok"}}]
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    first, second = srv.requests
    assert first.headers["amz-sdk-request"] == "attempt=1; max=3"
    assert second.headers["amz-sdk-request"] == "attempt=2; max=3"
    assert first.headers["amz-sdk-invocation-id"] == second.headers["amz-sdk-invocation-id"]
    assert first.headers["authorization"] != second.headers["authorization"]


def test_throttling_exhausts_attempts() -> None:
    with ScriptedServer(lambda r: json_error(429, "ThrottlingException", "slow down")) as srv:
        with pytest.raises(ThrottlingException):
            stream(make_client(srv.url, "stdlib", max_attempts=2))
    assert len(srv.requests) == 2


def test_service_unavailable_retried() -> None:
    replies = iter([json_error(503, "ServiceUnavailable", "busy")] * 3)
    with ScriptedServer(lambda r: next(replies)) as srv, pytest.raises(ServiceUnavailable):
        stream(make_client(srv.url, "stdlib"))
    assert len(srv.requests) == 3


def test_model_not_ready_is_not_retried() -> None:
    with ScriptedServer(lambda r: json_error(429, "ModelNotReadyException", "loading")) as srv:
        client = make_client(srv.url, "stdlib")
        with pytest.raises(client.exceptions.ModelNotReadyException):
            client.invoke_endpoint(EndpointName="e", Body=b"x")
    assert len(srv.requests) == 1


def test_clock_skew_is_corrected_once() -> None:
    server_now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
    date = format_datetime(server_now, usegmt=True)
    skewed = json_error(403, "InvalidSignatureException", "Signature expired: is now earlier")
    skewed.headers.append(("Date", date))
    replies = iter([skewed, stream_reply(part(b"ok"))])
    with ScriptedServer(lambda r: next(replies)) as srv:
        events = list(stream(make_client(srv.url, "stdlib")))
    assert events == [{"PayloadPart": {"Bytes": b"ok"}}]
    first, second = srv.requests
    d1 = dt.datetime.strptime(first.headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    d2 = dt.datetime.strptime(second.headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    assert dt.timedelta(minutes=110) < d2 - d1 < dt.timedelta(minutes=130)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_invoke_endpoint_and_async(transport: str) -> None:
    def handler(r: Received) -> Reply:
        if r.path.endswith("/async-invocations"):
            return Reply(
                202,
                [
                    ("X-Amzn-SageMaker-OutputLocation", "s3://bucket/out/1.out"),
                    ("X-Amzn-SageMaker-FailureLocation", "s3://bucket/fail/1.out"),
                    ("x-amzn-RequestId", "req-async"),
                    ("Content-Type", "application/json"),
                ],
                [b'{"InferenceId": "inf-1"}'],
                chunked=False,
            )
        return Reply(
            200,
            [("Content-Type", "application/json"), ("x-Amzn-Invoked-Production-Variant", "v1")],
            [b'{"answer": 42}'],
            chunked=False,
        )

    with ScriptedServer(handler) as srv:
        client = make_client(srv.url, transport)
        response = client.invoke_endpoint(
            EndpointName="e", Body='{"q": 1}', ContentType="application/json", Accept="*/*"
        )
        assert json.loads(response["Body"].read()) == {"answer": 42}
        assert response["ContentType"] == "application/json"
        assert response["InvokedProductionVariant"] == "v1"
        queued = client.invoke_endpoint_async(EndpointName="e", InputLocation="s3://bucket/in.json")
    assert queued["OutputLocation"] == "s3://bucket/out/1.out"
    assert queued["InferenceId"] == "inf-1"
    assert queued["ResponseMetadata"]["HTTPStatusCode"] == 202
    sync, queued_req = srv.requests
    assert sync.headers["accept"] == "*/*"
    assert sync.body == b'{"q": 1}'
    assert queued_req.headers["x-amzn-sagemaker-inputlocation"] == "s3://bucket/in.json"


def test_parameters_are_validated_before_any_request() -> None:
    with ScriptedServer(lambda r: stream_reply()) as srv:
        client = make_client(srv.url, "stdlib")
        with pytest.raises(ParamValidationError, match="EndpointName"):
            client.invoke_endpoint_with_response_stream(Body=b"x")
        with pytest.raises(ParamValidationError, match="Bogus"):
            client.invoke_endpoint(EndpointName="e", Body=b"x", Bogus=1)
    assert srv.requests == []


def test_32_threads_stream_on_one_client() -> None:
    with ScriptedServer(lambda r: stream_reply(*(part(b"%d" % i) for i in range(20)))) as srv:
        client = make_client(srv.url, "requests", max_pool_connections=32)
        results: list[int] = []
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                results.append(len(list(stream(client))))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert errors == []
    assert results == [20] * 32


def test_record_views() -> None:
    sse = [
        b'data: {"token": {"text": "Hel',
        b'lo"}}\n\ndata: {"token": {"text": " w',
        b'orld"}}\n\n',
        b"data: [DONE]\n\n",
    ]
    with ScriptedServer(lambda r: stream_reply(*(part(p) for p in sse))) as srv:
        client = make_client(srv.url, "stdlib")
        assert "".join(stream(client).iter_text()) == "Hello world"
        lines = list(stream(client).iter_lines())
        assert lines[0] == 'data: {"token": {"text": "Hello"}}'
        assert b"".join(stream(client).iter_bytes()) == b"".join(sse)


def test_container_error_record_raises() -> None:
    sse = [
        b'data: {"token": {"text": "a"}}\n\n',
        b'data: {"error": "CUDA OOM", "error_type": "x"}\n\n',
    ]
    with ScriptedServer(lambda r: stream_reply(*(part(p) for p in sse))) as srv:
        with pytest.raises(ContainerStreamError, match="CUDA OOM"):
            list(stream(make_client(srv.url, "stdlib")).iter_text())


def test_frames_view_yields_exceptions_without_raising() -> None:
    frames = [part(b"a"), exception_frame("ModelStreamError", "x", "StreamBroken")]
    with ScriptedServer(lambda r: stream_reply(*frames)) as srv:
        timed = list(stream(make_client(srv.url, "stdlib")).iter_frames())
    assert [t.frame.offset for t in timed] == [0, len(frames[0])]
    assert timed[1].message.headers[":message-type"] == "exception"


def test_importing_smruntime_imports_no_aws_sdk() -> None:
    code = (
        "import sys, smruntime; smruntime.Client; smruntime.EventStream; "
        "import smruntime._transport, smruntime._client; "
        "bad = [m for m in ('botocore', 'boto3', 'requests') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


def test_works_without_requests() -> None:
    with ScriptedServer(lambda r: stream_reply(part(b"ok"))) as srv:
        code = f"""
import sys
sys.modules["requests"] = None  # as if not installed
import smruntime
client = smruntime.Client(region_name="us-east-1", endpoint_url={srv.url!r},
    aws_access_key_id="AKID", aws_secret_access_key="secret", environ={{}})
events = list(client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"x")["Body"])
print(type(client._transport).__name__, events)
"""
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    assert out.strip() == "SyncPool [{'PayloadPart': {'Bytes': b'ok'}}]"


def test_repr_and_errors_hold_no_secret() -> None:
    with ScriptedServer(lambda r: json_error(403, "InvalidSignatureException", "no")) as srv:
        client = make_client(srv.url, "stdlib")
        with pytest.raises(ClientError) as info:
            stream(client)
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    assert secret not in repr(client)
    assert secret not in str(info.value)
    assert secret not in repr(info.value.response)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_connection_reset_mid_stream(transport: str) -> None:
    frame = part(b"second")
    with ScriptedServer(lambda r: stream_reply(part(b"a"), frame[:9], Cut(reset=True))) as srv:
        with pytest.raises(IncompleteStreamError):
            list(stream(make_client(srv.url, transport)))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_abandoned_stream_is_closed(transport: str) -> None:
    import gc

    with ScriptedServer(lambda r: Reply(200, list(STREAM_HEADERS), endless())) as srv:
        body = stream(make_client(srv.url, transport))
        next(iter(body))
        del body
        gc.collect()
        assert srv.disconnects.wait(5), "an abandoned stream kept its connection"


def test_debug_log_holds_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    secret, token = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "FwoGZXIvYXdzEXAMPLETOKEN"
    replies = iter(
        [
            json_error(403, "InvalidSignatureException", "The request signature does not match"),
        ]
    )
    with ScriptedServer(lambda r: next(replies)) as srv:
        client = Client(
            region_name="us-east-1",
            endpoint_url=srv.url,
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key=secret,
            aws_session_token=token,
            transport="stdlib",
            environ={},
        )
        _open_clients.append(client)
        with caplog.at_level("DEBUG", logger="smruntime"):
            with pytest.raises(ClientError):
                client.invoke_endpoint(EndpointName="e", Body=b"x")
    signature = srv.requests[0].headers["authorization"].rsplit("Signature=", 1)[1]
    text = caplog.text
    assert "canonical request" in text  # the signature mismatch is explained at debug level
    for value in (secret, token, signature):
        assert value not in text


@pytest.mark.parametrize("content_type", [None, "text/markdown", "text/csv", "text/plain"])
def test_iter_text_keeps_line_ends_of_plain_text(content_type: str | None) -> None:
    text = b"# Title\n\n- a\n- b\n"
    headers = [(k, v) for k, v in STREAM_HEADERS if k != "X-Amzn-SageMaker-Content-Type"]
    if content_type:
        headers.append(("X-Amzn-SageMaker-Content-Type", content_type))
    pieces = [part(text[i : i + 5]) for i in range(0, len(text), 5)]
    with ScriptedServer(lambda r: Reply(200, headers, pieces)) as srv:
        assert stream(make_client(srv.url, "stdlib")).read_text() == text.decode()


def test_iter_records_by_format_name() -> None:
    sse = b'data: {"a": 1}\n\ndata: {"a": 2}\n\n'
    with ScriptedServer(lambda r: stream_reply(part(sse[:9]), part(sse[9:]))) as srv:
        events = list(stream(make_client(srv.url, "stdlib")).iter_records("sse"))
    assert [e.json() for e in events] == [{"a": 1}, {"a": 2}]


def test_empty_200_of_another_type_is_not_a_clean_stream() -> None:
    reply = Reply(200, [("Content-Type", "text/html")], [], chunked=False)
    with ScriptedServer(lambda r: reply) as srv:
        with pytest.raises(NotEventStreamError, match="text/html"):
            list(stream(make_client(srv.url, "stdlib")))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_total_timeout_covers_the_wait_for_headers(transport: str) -> None:
    reply = stream_reply(part(b"late"))
    reply.before_headers = 1.0
    with ScriptedServer(lambda r: reply) as srv:
        client = make_client(srv.url, transport, total_timeout=0.3, first_event_timeout=5)
        with pytest.raises(ReadTimeoutError):
            stream(client)


def test_event_timeout_counts_whole_events_not_bytes() -> None:
    frame = part(b"trickled")
    trickle: list[bytes | Pause] = [part(b"first")]
    for i in range(len(frame)):
        trickle += [frame[i : i + 1], Pause(0.05)]
    with ScriptedServer(lambda r: stream_reply(*trickle)) as srv:
        body = stream(make_client(srv.url, "stdlib", event_timeout=0.4))
        with pytest.raises(ReadTimeoutError) as info:
            list(body)
    assert info.value.phase == "between-events"
    assert info.value.elapsed is not None


def test_bad_retry_mode_is_refused_at_construction() -> None:
    with pytest.raises(ParamValidationError, match="retry_mode"):
        Client(
            region_name="us-east-1",
            aws_access_key_id="A",
            aws_secret_access_key="S",
            environ={"AWS_RETRY_MODE": "fast"},
        )
    client = Client(
        region_name="us-east-1",
        aws_access_key_id="A",
        aws_secret_access_key="S",
        environ={"AWS_RETRY_MODE": "Standard"},
        transport="stdlib",
    )
    assert client.config.retry_mode == "standard"
    client.close()


def test_endpoint_url_with_a_password_is_refused_without_echoing_it() -> None:
    from smruntime.exceptions import EndpointResolutionError

    with pytest.raises(EndpointResolutionError) as info:
        Client(
            region_name="us-east-1",
            endpoint_url="https://user:hunter2@example.com",
            aws_access_key_id="A",
            aws_secret_access_key="S",
            environ={},
        )
    assert "hunter2" not in str(info.value)


def test_stdlib_proxy_without_a_scheme() -> None:
    with ScriptedServer(lambda r: stream_reply(part(b"via proxy"))) as proxy:
        client = Client(
            region_name="us-east-1",
            endpoint_url="http://runtime.example.invalid",
            aws_access_key_id="A",
            aws_secret_access_key="S",
            config=Config(proxies={"http": f"127.0.0.1:{proxy.port}"}),
            transport="stdlib",
            environ={},
        )
        _open_clients.append(client)
        events = list(stream(client))
    assert events == [{"PayloadPart": {"Bytes": b"via proxy"}}]
    assert proxy.requests[0].path.startswith("http://runtime.example.invalid/endpoints/")


def test_streaming_body_iter_lines_takes_botocore_arguments() -> None:
    body = smruntime.StreamingBody(b"a\nb\n")
    assert list(body.iter_lines(1024)) == [b"a", b"b"]
    assert list(smruntime.StreamingBody(b"a\nb\n").iter_lines(chunk_size=8, keepends=True)) == [
        b"a\n",
        b"b\n",
    ]


class _FlakySource:
    """Two pieces, then one failure, then the end."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.reads: list[object] = [b"ab", bytearray(b"cd"), OSError("cut"), b""]

    def read_some(self) -> bytes:
        got = self.reads.pop(0)
        if isinstance(got, BaseException):
            raise got
        return got  # type: ignore[return-value]

    def close(self) -> None:
        pass

    abort = close


def test_streaming_body_read_all_keeps_what_it_read_before_an_error() -> None:
    body = smruntime.StreamingBody(_FlakySource())
    with pytest.raises(OSError, match="cut"):
        body.read()
    out = body.read()
    assert out == b"abcd"
    assert type(out) is bytes
    assert body.tell() == 4
    assert body.read() == b""
    one = smruntime.StreamingBody(b"xyz").read()
    assert one == b"xyz"
    assert type(one) is bytes


class _CountingSource:
    """One piece, then the end; counts the closes and aborts it gets."""

    def __init__(self) -> None:
        self.headers = {"content-length": "2"}
        self.reads = [b"ab", b""]
        self.closes = 0

    def read_some(self) -> bytes:
        return self.reads.pop(0)

    def close(self) -> None:
        self.closes += 1

    abort = close


def test_streaming_body_closes_its_source_once_at_the_end_or_on_close() -> None:
    read = smruntime.StreamingBody(_CountingSource())
    assert read.read() == b"ab"
    source = read._source
    assert source.closes == 1  # at the end of the body
    read.close()
    assert read.closed
    assert source.closes == 1  # closed already: not again
    unread = smruntime.StreamingBody(_CountingSource())
    assert unread.content_length == 2
    unread.close()
    assert unread.closed
    assert unread._source.closes == 1  # not read to the end: the body's close releases it
    with smruntime.StreamingBody(b"x") as body:
        body.tag = "any attribute"  # type: ignore[attr-defined] # (slots, and io's dict)
        assert body.tag == "any attribute"  # type: ignore[attr-defined]
        assert body.read(1) == b"x"


def test_a_closed_stdlib_transport_pools_nothing() -> None:
    with ScriptedServer(lambda r: stream_reply(part(b"x"))) as srv:
        client = make_client(srv.url, "stdlib")
        body = stream(client)
        client.close()
        assert list(body) == [{"PayloadPart": {"Bytes": b"x"}}]
        assert not any(client._transport._idle.values())  # type: ignore[attr-defined]


def test_a_client_used_after_close_pools_again() -> None:
    """close() closes what is pooled and what is in use once released; calls after it pool
    their connections again, as boto3's (sync and asyncio)."""
    import asyncio

    from smruntime.aio import AsyncClient

    reply = Reply(200, [("Content-Type", "text/plain")], [b"ok"], chunked=False)
    with ScriptedServer(lambda r: reply) as srv:
        client = make_client(srv.url, "stdlib")
        client.close()
        before = srv.connections
        for _ in range(4):
            assert client.invoke_endpoint(EndpointName="e", Body=b"x")["Body"].read() == b"ok"
        assert srv.connections - before == 1
        client.close()

        async def main() -> int:
            aclient = AsyncClient.from_client(make_client(srv.url, "stdlib"))
            first = await aclient.invoke_endpoint(EndpointName="e", Body=b"x")
            await aclient.close()  # with a response in use: its connection is not pooled
            assert await first["Body"].read() == b"ok"
            start = srv.connections
            for _ in range(4):
                answer = await aclient.invoke_endpoint(EndpointName="e", Body=b"x")
                assert await answer["Body"].read() == b"ok"
            await aclient.close()
            return srv.connections - start

        assert asyncio.run(main()) == 1


@pytest.mark.parametrize(
    "options",
    [
        {"read_timeout": float("nan")},
        {"event_timeout": float("inf")},
        {"connect_timeout": 0},
        {"total_timeout": -1.0},
        {"first_event_timeout": "5"},
        {"max_pool_connections": 0},
        {"max_payload_bytes": True},
    ],
)
def test_config_values_are_checked(options: dict[str, object]) -> None:
    with pytest.raises(ParamValidationError, match=next(iter(options))):
        Client(
            region_name="us-east-1",
            aws_access_key_id="A",
            aws_secret_access_key="S",
            config=Config(**options),  # type: ignore[arg-type]
            environ={},
        )


def test_config_repr_masks_a_proxy_password() -> None:
    config = Config(proxies={"https": "http://user:hunter2@proxy.example:3128"})
    assert "hunter2" not in repr(config)
    assert "proxy.example:3128" in repr(config)
    client = Client(
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKID",
        aws_secret_access_key="SECRET",
        config=config,
    )
    assert "hunter2" not in repr(client.meta.config)
    assert client.meta.config.proxies == {"https": "http://user:hunter2@proxy.example:3128"}


@pytest.mark.parametrize(
    "config",
    [Config(use_fips_endpoint=True), Config(use_dualstack_endpoint=True)],
)
def test_endpoint_url_wins_over_fips_and_dualstack_as_botocore(config: Config) -> None:
    # botocore drops UseFIPS/UseDualStack when an endpoint_url is given (no error).
    client = Client(
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKID",
        aws_secret_access_key="SECRET",
        config=config,
    )
    assert client.meta.endpoint_url == "http://127.0.0.1:9"


def test_fips_from_the_environment_with_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_USE_FIPS_ENDPOINT", "true")
    client = Client(
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKID",
        aws_secret_access_key="SECRET",
    )
    assert client.meta.endpoint_url == "http://127.0.0.1:9"


def test_credentials_now_only_where_getting_them_cannot_fetch() -> None:
    from sigv4 import Credentials, RefreshableCredentials

    client = Client(region_name="us-east-1", aws_access_key_id="AKID", aws_secret_access_key="s")
    static = client._credentials_source
    assert client._credentials_now() is static
    fetched: list[int] = []

    def fetch() -> Credentials:
        fetched.append(1)
        return Credentials("AKID2", "s2", expiration=dt.datetime.now(dt.timezone.utc))

    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    fresh = Credentials("AKID1", "s1", expiration=later)
    client._credentials_source = RefreshableCredentials(fetch, initial=fresh)
    assert client._credentials_now() is fresh  # held and fresh: no fetch
    soon = Credentials("AKID1", "s1", expiration=dt.datetime.now(dt.timezone.utc))
    client._credentials_source = RefreshableCredentials(fetch, initial=soon)
    assert client._credentials_now() is None  # a refresh is due: the caller's executor
    client._credentials_source = RefreshableCredentials(fetch)
    assert client._credentials_now() is None  # nothing fetched yet
    client._credentials_source = None
    assert client._credentials_now() is None  # the default chain not resolved yet
    assert fetched == []
    client.close()
