from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventstream import ChecksumMismatch, Decoder, Message, TruncatedStream, decode
from sigv4 import Credentials, sign
from smruntime._http import HttpHeaders
from smruntime.emulator import (
    Echo,
    Emulator,
    EmulatorEndpoint,
    EmulatorRequest,
    Fault,
    FaultSpecError,
    ModelFailure,
    Tokens,
    parse_faults,
)

INVOKE = "invocations"
STREAM = "invocations-response-stream"
ASYNC = "async-invocations"


class Reply:
    def __init__(self, status: int, headers: HttpHeaders, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def messages(self) -> list[Message]:
        return decode(self.body)

    def error_code(self) -> str:
        return self.headers["x-amzn-ErrorType"].split(":", 1)[0]


def signed_headers(
    emu: Emulator,
    path: str,
    body: bytes = b"",
    headers: Optional[Mapping[str, str]] = None,
    *,
    credentials: Optional[Credentials] = None,
    now: Optional[dt.datetime] = None,
    region: Optional[str] = None,
    method: str = "POST",
) -> list[tuple[str, str]]:
    signed = sign(
        method,
        emu.url + path,
        dict(headers or {}),
        body,
        credentials=credentials or emu.credentials,
        region=region or emu.region,
        service="sagemaker",
        now=now or dt.datetime.now(dt.timezone.utc),
    )
    return signed.headers


def path_for(endpoint: str, op: str = INVOKE) -> str:
    return f"/endpoints/{endpoint}/{op}"


def call(
    emu: Emulator,
    path: str,
    body: bytes = b"",
    headers: Optional[Mapping[str, str]] = None,
    *,
    raw_headers: Optional[list[tuple[str, str]]] = None,
    method: str = "POST",
    **sign_kwargs: Any,
) -> Reply:
    pairs = (
        raw_headers
        if raw_headers is not None
        else signed_headers(emu, path, body, headers, method=method, **sign_kwargs)
    )
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in pairs:
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        return Reply(resp.status, HttpHeaders(resp.getheaders()), data)
    finally:
        conn.close()


def open_stream(
    emu: Emulator, endpoint: str, body: bytes = b"", headers: Optional[Mapping[str, str]] = None
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    path = path_for(endpoint, STREAM)
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=10)
    conn.request("POST", path, body=body, headers=dict(signed_headers(emu, path, body, headers)))
    return conn, conn.getresponse()


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def payloads(messages: list[Message]) -> list[bytes]:
    return [m.payload for m in messages if m.headers.get(":event-type") == "PayloadPart"]


# -- InvokeEndpoint ------------------------------------------------------------------------------


def test_invoke_echo_returns_body_and_service_headers(emulator: Emulator) -> None:
    reply = call(emulator, path_for("echo"), b"hello", {"Content-Type": "text/plain"})
    assert reply.status == 200
    assert reply.body == b"hello"
    assert reply.headers["Content-Type"] == "text/plain"
    assert reply.headers["x-Amzn-Invoked-Production-Variant"] == "AllTraffic"
    request_id = reply.headers["x-amzn-RequestId"]
    [logged] = emulator.requests
    assert logged.request_id == request_id
    assert logged.operation == "InvokeEndpoint"
    assert logged.endpoint_name == "echo"
    assert logged.status == 200
    assert logged.body == b"hello"
    assert logged.access_key_id == emulator.credentials.access_key_id


def test_invoke_tokens_answers_one_document(emulator: Emulator) -> None:
    body = json.dumps({"inputs": "hello world"}).encode()
    reply = call(emulator, path_for("tokens"), body, {"Content-Type": "application/json"})
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == [{"generated_text": "You said: hello world"}]


def test_keep_alive_serves_several_requests_on_one_connection(emulator: Emulator) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    try:
        for i in range(3):
            body = f"n{i}".encode()
            path = path_for("echo")
            conn.request(
                "POST", path, body=body, headers=dict(signed_headers(emulator, path, body))
            )
            resp = conn.getresponse()
            assert resp.read() == body
    finally:
        conn.close()


def test_chunked_request_body_is_read(emulator: Emulator) -> None:
    body = b"chunked body"
    path = path_for("echo")
    sock = socket.create_connection(("127.0.0.1", emulator.port), timeout=10)
    try:
        lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{emulator.port}"]
        lines += ["Transfer-Encoding: chunked", "Connection: close"]
        lines += [f"{n}: {v}" for n, v in signed_headers(emulator, path, body, {})]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        sock.sendall(head + b"5\r\nchunk\r\n7\r\ned body\r\n0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    finally:
        sock.close()
    assert data.startswith(b"HTTP/1.1 200")
    assert data.endswith(b"\r\n\r\nchunked body")


def test_custom_handler_sees_request_fields() -> None:
    seen: list[EmulatorRequest] = []

    def handler(request: EmulatorRequest) -> bytes:
        seen.append(request)
        return json.dumps(
            {
                "ct": request.content_type,
                "accept": request.accept,
                "attrs": request.custom_attributes,
                "json": request.json(),
            }
        ).encode()

    endpoint = EmulatorEndpoint(handler, content_type="application/x-custom", variant="Blue")
    with Emulator({"mine": endpoint}) as emu:
        reply = call(
            emu,
            path_for("mine"),
            b'{"a": 1}',
            {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "X-Amzn-SageMaker-Custom-Attributes": "k=v",
            },
        )
    assert reply.status == 200
    assert reply.json() == {
        "ct": "application/json",
        "accept": "application/json",
        "attrs": "k=v",
        "json": {"a": 1},
    }
    assert reply.headers["Content-Type"] == "application/x-custom"
    assert reply.headers["x-Amzn-Invoked-Production-Variant"] == "Blue"
    assert not seen[0].streaming


def test_handler_failure_is_model_error() -> None:
    def failing(request: EmulatorRequest) -> bytes:
        raise ModelFailure("bad input shape", status=400)

    def crashing(request: EmulatorRequest) -> bytes:
        raise RuntimeError("boom")

    with Emulator({"fail": failing, "crash": crashing}) as emu:
        reply = call(emu, path_for("fail"), b"x")
        assert reply.status == 424
        assert reply.error_code() == "ModelError"
        doc = reply.json()
        assert doc["OriginalStatusCode"] == 400
        assert doc["OriginalMessage"] == "bad input shape"
        assert doc["LogStreamArn"] == (
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/fail"
        )
        assert doc["Message"].startswith('Received client error (400) from primary with message "')
        crash = call(emu, path_for("crash"), b"x").json()
        assert crash["OriginalStatusCode"] == 500
        assert "RuntimeError: boom" in crash["OriginalMessage"]
        assert crash["Message"].startswith("Received server error (500)")


# -- InvokeEndpointWithResponseStream -------------------------------------------------------------


def test_stream_echo_sends_parts_as_payload_frames(emulator: Emulator) -> None:
    body = bytes(range(50))
    reply = call(emulator, path_for("echo", STREAM), body, {"Content-Type": "application/x-bin"})
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/vnd.amazon.eventstream"
    assert reply.headers["X-Amzn-SageMaker-Content-Type"] == "application/x-bin"
    assert reply.headers["Transfer-Encoding"] == "chunked"
    assert reply.headers["x-Amzn-Invoked-Production-Variant"] == "AllTraffic"
    assert "x-amzn-RequestId" in reply.headers
    messages = reply.messages()
    assert [len(p) for p in payloads(messages)] == [16, 16, 16, 2]
    assert b"".join(payloads(messages)) == body
    for message in messages:
        assert dict(message.headers) == {
            ":event-type": "PayloadPart",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        }
    assert emulator.requests[-1].parts_sent == 4


def sse_records(data: bytes) -> list[dict[str, Any]]:
    events = [e for e in data.decode("utf-8").split("\n\n") if e]
    assert all(e.startswith("data:") for e in events)
    return [json.loads(e[len("data:") :]) for e in events]


def test_stream_tokens_sse_like_tgi(emulator: Emulator) -> None:
    body = json.dumps({"inputs": "what is up", "stream": True}).encode()
    reply = call(emulator, path_for("tokens", STREAM), body)
    assert reply.headers["X-Amzn-SageMaker-Content-Type"] == "text/event-stream"
    parts = payloads(reply.messages())
    assert all(p.startswith(b"data:{") and p.endswith(b"\n\n") for p in parts)
    records = sse_records(b"".join(parts))
    assert [r["token"]["text"] for r in records] == ["You", " said:", " what", " is", " up", "</s>"]
    assert [r["index"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert all(r["generated_text"] is None and r["details"] is None for r in records[:-1])
    last = records[-1]
    assert last["token"]["special"] is True
    assert last["generated_text"] == "You said: what is up"
    assert last["details"] == {
        "finish_reason": "eos_token",
        "generated_tokens": 6,
        "input_length": 3,
        "seed": None,
    }


def test_stream_tokens_max_new_tokens_stops_with_length(emulator: Emulator) -> None:
    body = json.dumps({"inputs": "a b c d", "parameters": {"max_new_tokens": 3}}).encode()
    records = sse_records(
        b"".join(payloads(call(emulator, path_for("tokens", STREAM), body).messages()))
    )
    assert len(records) == 3
    assert records[-1]["details"]["finish_reason"] == "length"
    assert records[-1]["generated_text"] == "You said: a"


def test_stream_tokens_jsonlines(emulator: Emulator) -> None:
    body = json.dumps({"inputs": "hi"}).encode()
    reply = call(emulator, path_for("tokens-jsonl", STREAM), body)
    assert reply.headers["X-Amzn-SageMaker-Content-Type"] == "application/jsonlines"
    parts = payloads(reply.messages())
    assert all(p.endswith(b"\n") and p.count(b"\n") == 1 for p in parts)
    records = [json.loads(p) for p in parts]
    assert set(records[0]["token"]) == {"id", "text", "log_prob"}
    assert records[-1]["generated_text"] == "You said: hi"
    assert records[-1]["details"]["finish_reason"] == "eos_token"


def test_stream_tokens_part_size_cuts_records_and_characters() -> None:
    text = "café au lait, très bien"
    whole = Tokens(text=text)
    cut = Tokens(text=text, part_size=5)
    with Emulator({"whole": whole, "cut": cut}) as emu:
        expected = b"".join(payloads(call(emu, path_for("whole", STREAM), b"{}").messages()))
        parts = payloads(call(emu, path_for("cut", STREAM), b"{}").messages())
    assert b"".join(parts) == expected
    assert all(len(p) == 5 for p in parts[:-1])
    assert sse_records(expected)[-1]["generated_text"] == text


def test_stream_frames_are_flushed_one_by_one() -> None:
    release = threading.Event()

    def gated(request: EmulatorRequest) -> Iterator[bytes]:
        yield b"first"
        release.wait(5)
        yield b"second"

    with Emulator({"gated": gated}) as emu:
        conn, resp = open_stream(emu, "gated", b"x")
        try:
            decoder = Decoder()
            got: list[Message] = []
            while not got:
                got = decoder.feed(resp.read1(65536))
            assert [m.payload for m in got] == [b"first"]  # arrived while the model still works
            release.set()
            rest = decoder.feed(resp.read())
            assert [m.payload for m in rest] == [b"second"]
        finally:
            release.set()
            conn.close()


def test_stream_handler_error_before_first_part_is_model_error() -> None:
    def failing(request: EmulatorRequest) -> Iterator[bytes]:
        if request.body:
            raise ModelFailure("not ready", status=503)
        yield b"never"

    with Emulator({"f": failing}) as emu:
        reply = call(emu, path_for("f", STREAM), b"x")
    assert reply.status == 424
    assert reply.json()["OriginalStatusCode"] == 503


def test_stream_handler_error_mid_stream_is_model_stream_error() -> None:
    def breaking(request: EmulatorRequest) -> Iterator[bytes]:
        yield b"one"
        raise RuntimeError("container died")

    with Emulator({"b": breaking}) as emu:
        reply = call(emu, path_for("b", STREAM), b"x")
    assert reply.status == 200
    first, error = reply.messages()
    assert first.payload == b"one"
    assert error.headers[":message-type"] == "exception"
    assert error.headers[":exception-type"] == "ModelStreamError"
    assert json.loads(error.payload)["ErrorCode"] == "StreamBroken"


# -- InvokeEndpointAsync --------------------------------------------------------------------------


def test_async_writes_output_and_reports_locations(tmp_path: Path) -> None:
    with Emulator({"echo": "echo"}, results_dir=tmp_path) as emu:
        reply = call(
            emu,
            path_for("echo", ASYNC),
            b"async body",
            {"X-Amzn-SageMaker-Content-Type": "text/plain"},
        )
        assert reply.status == 202
        inference_id = reply.json()["InferenceId"]
        output = reply.headers["X-Amzn-SageMaker-OutputLocation"]
        failure = reply.headers["X-Amzn-SageMaker-FailureLocation"]
        assert output == f"s3://sagemaker-emulator/async-outputs/{inference_id}.out"
        assert failure == f"s3://sagemaker-emulator/async-failures/{inference_id}-error.out"
        assert (
            emu.local_path(output)
            == tmp_path / "sagemaker-emulator" / "async-outputs" / f"{inference_id}.out"
        )
        assert emu.local_path(output).read_bytes() == b"async body"
        assert not emu.local_path(failure).exists()
    assert (tmp_path / "sagemaker-emulator" / "async-outputs" / f"{inference_id}.out").exists()


def test_async_honours_inference_id_extension_and_filename(tmp_path: Path) -> None:
    headers = {
        "X-Amzn-SageMaker-Inference-Id": "job-1",
        "X-Amzn-SageMaker-S3OutputPathExtension": "team/a",
        "X-Amzn-SageMaker-Filename": "result.json",
    }
    with Emulator({"echo": "echo"}, results_dir=tmp_path, results_uri="file") as emu:
        reply = call(emu, path_for("echo", ASYNC), b"{}", headers)
    assert reply.json() == {"InferenceId": "job-1"}
    output = reply.headers["X-Amzn-SageMaker-OutputLocation"]
    assert output.startswith("file://")
    assert output.endswith("/sagemaker-emulator/async-outputs/team/a/result.json")
    assert (tmp_path / "sagemaker-emulator/async-outputs/team/a/result.json").read_bytes() == b"{}"


def test_async_input_location_and_failure_file(tmp_path: Path) -> None:
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "req.json").write_bytes(b'{"inputs": "from s3"}')

    def failing(request: EmulatorRequest) -> bytes:
        raise ModelFailure("cannot", status=400)

    with Emulator({"tok": "tokens", "bad": failing}, results_dir=tmp_path) as emu:
        reply = call(
            emu,
            path_for("tok", ASYNC),
            b"",
            {"X-Amzn-SageMaker-InputLocation": "s3://inputs/req.json"},
        )
        assert reply.status == 202
        out = emu.local_path(reply.headers["X-Amzn-SageMaker-OutputLocation"])
        assert json.loads(out.read_bytes()) == [{"generated_text": "You said: from s3"}]
        bad = call(emu, path_for("bad", ASYNC), b"x", {"X-Amzn-SageMaker-Inference-Id": "b1"})
        assert bad.status == 202
        assert not emu.local_path(bad.headers["X-Amzn-SageMaker-OutputLocation"]).exists()
        failure = emu.local_path(bad.headers["X-Amzn-SageMaker-FailureLocation"]).read_text()
        assert "Received client error (400)" in failure
        missing = call(
            emu, path_for("tok", ASYNC), b"", {"X-Amzn-SageMaker-InputLocation": "s3://inputs/nope"}
        )
        assert (
            "Could not read input"
            in emu.local_path(missing.headers["X-Amzn-SageMaker-FailureLocation"]).read_text()
        )


def test_async_validation(emulator: Emulator) -> None:
    both = call(
        emulator, path_for("echo", ASYNC), b"x", {"X-Amzn-SageMaker-InputLocation": "s3://b/k"}
    )
    assert (both.status, both.error_code()) == (400, "ValidationError")
    neither = call(emulator, path_for("echo", ASYNC), b"")
    assert neither.status == 400
    big = call(emulator, path_for("echo", ASYNC), b"x" * 128001)
    assert big.status == 400
    assert "less than or equal to 128000" in big.json()["Message"]
    ttl = call(
        emulator, path_for("echo", ASYNC), b"x", {"X-Amzn-SageMaker-RequestTTLSeconds": "59"}
    )
    assert ttl.status == 400
    assert "requestTTLSeconds" in ttl.json()["Message"]
    assert call(emulator, path_for("echo", ASYNC), b"x" * 128000).status == 202


def test_local_path_rejects_escapes(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="escapes"):
        emulator.local_path("s3://bucket/../../etc/passwd")
    with pytest.raises(ValueError, match="neither"):
        emulator.local_path("https://example.com/x")


# -- faults ---------------------------------------------------------------------------------------


def fault_header(*faults: Fault) -> dict[str, str]:
    return {"X-Emulator-Fault": "+".join(f.spec() for f in faults)}


def test_fault_model_stream_error_after_n_parts(emulator: Emulator) -> None:
    fault = Fault.model_stream_error(after=2, code="StreamBroken", message="gone")
    reply = call(emulator, path_for("echo", STREAM), b"x" * 64, fault_header(fault))
    assert reply.status == 200
    messages = reply.messages()
    assert len(payloads(messages)) == 2
    error = messages[-1]
    assert dict(error.headers) == {
        ":exception-type": "ModelStreamError",
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    assert json.loads(error.payload) == {"Message": "gone", "ErrorCode": "StreamBroken"}


def test_fault_after_more_parts_than_produced_fires_at_end(emulator: Emulator) -> None:
    fault = Fault.model_stream_error(after=99)
    messages = call(emulator, path_for("echo", STREAM), b"x" * 20, fault_header(fault)).messages()
    assert len(payloads(messages)) == 2
    assert json.loads(messages[-1].payload)["ErrorCode"] == "ModelInvocationTimeExceeded"


def test_fault_internal_stream_failure(emulator: Emulator) -> None:
    reply = call(
        emulator,
        path_for("echo", STREAM),
        b"x" * 20,
        fault_header(Fault.internal_stream_failure(after=1)),
    )
    messages = reply.messages()
    assert len(payloads(messages)) == 1
    assert messages[-1].headers[":exception-type"] == "InternalStreamFailure"
    assert "Message" in json.loads(messages[-1].payload)


def test_fault_cut_connection_mid_frame(emulator: Emulator) -> None:
    conn, resp = open_stream(emulator, "echo", b"x" * 64, fault_header(Fault.cut(after=1)))
    try:
        with pytest.raises(http.client.IncompleteRead) as info:
            resp.read()
    finally:
        conn.close()
    partial = info.value.partial
    decoder = Decoder()
    assert [m.payload for m in decoder.feed(partial)] == [b"x" * 16]
    assert decoder.pending > 0
    with pytest.raises(TruncatedStream):
        decoder.close()


def test_fault_cut_non_streaming_body(emulator: Emulator) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    path = path_for("echo")
    try:
        conn.request(
            "POST",
            path,
            body=b"y" * 10,
            headers=dict(signed_headers(emulator, path, b"y" * 10, fault_header(Fault.cut()))),
        )
        resp = conn.getresponse()
        with pytest.raises(http.client.IncompleteRead) as info:
            resp.read()
    finally:
        conn.close()
    assert info.value.partial == b"y" * 5


def test_fault_corrupt_crc(emulator: Emulator) -> None:
    reply = call(
        emulator, path_for("echo", STREAM), b"x" * 40, fault_header(Fault.corrupt_crc(after=1))
    )
    assert reply.status == 200
    decoder = Decoder()
    first_len = int.from_bytes(reply.body[:4], "big")
    assert [m.payload for m in decoder.feed(reply.body[:first_len])] == [b"x" * 16]
    with pytest.raises(ChecksumMismatch):
        decoder.feed(reply.body[first_len:])


def test_fault_throttle_first_k_calls(emulator: Emulator) -> None:
    headers = fault_header(Fault.throttle(count=2))
    statuses = [call(emulator, path_for("echo"), b"x", headers) for _ in range(3)]
    assert [r.status for r in statuses] == [400, 400, 200]
    assert statuses[0].error_code() == "ThrottlingException"
    assert statuses[0].json() == {"message": "Rate exceeded"}


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault.model_error(status=418, message="teapot"), 424, "ModelError"),
        (Fault.service_unavailable(), 503, "ServiceUnavailable"),
        (Fault.internal_failure(), 500, "InternalFailure"),
        (Fault.model_not_ready(), 429, "ModelNotReadyException"),
    ],
)
@pytest.mark.parametrize("op", [INVOKE, STREAM])
def test_fault_http_errors(
    emulator: Emulator, fault: Fault, status: int, code: str, op: str
) -> None:
    if op == STREAM and code == "ModelNotReadyException":
        # only InvokeEndpoint answers ModelNotReadyException: see test_faults_follow_operations
        status, code = 400, "ValidationError"
    reply = call(emulator, path_for("echo", op), b"x", fault_header(fault))
    assert reply.status == status
    assert reply.headers["x-amzn-ErrorType"].startswith(f"{code}:http://internal.amazon.com/coral/")
    assert reply.headers["Content-Type"] == "application/json"
    doc = reply.json()
    assert doc["Message"]
    if code == "ModelError":
        assert doc["OriginalStatusCode"] == 418
        assert doc["OriginalMessage"] == "teapot"
        assert doc["LogStreamArn"].startswith("arn:aws:logs:us-east-1:")


def test_fault_html_body(emulator: Emulator) -> None:
    reply = call(emulator, path_for("echo", STREAM), b"x", fault_header(Fault.html()))
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html"
    assert reply.body.startswith(b"<html>")
    gateway = call(emulator, path_for("echo"), b"x", fault_header(Fault.html(status=502)))
    assert gateway.status == 502


def test_fault_delays_still_answer(emulator: Emulator) -> None:
    faults = fault_header(Fault.delay_headers(0.02), Fault.delay_events(0.01))
    reply = call(emulator, path_for("echo", STREAM), b"z" * 40, faults)
    assert b"".join(payloads(reply.messages())) == b"z" * 40


def test_fault_from_custom_attributes(emulator: Emulator) -> None:
    headers = {
        "X-Amzn-SageMaker-Custom-Attributes": "a=1;emulator-fault=model-stream-error(after=0)"
    }
    messages = call(emulator, path_for("echo", STREAM), b"x", headers).messages()
    assert [m.headers[":message-type"] for m in messages] == ["exception"]


def test_endpoint_and_emulator_faults() -> None:
    endpoint = EmulatorEndpoint("echo", faults=[Fault.service_unavailable(count=1)])
    with Emulator({"e": endpoint, "other": "echo"}) as emu:
        assert call(emu, path_for("e"), b"x").status == 503
        assert call(emu, path_for("e"), b"x").status == 200
        emu.add_fault("throttle(count=1)", endpoint="other")
        assert call(emu, path_for("other"), b"x").status == 400
        assert call(emu, path_for("other"), b"x").status == 200
        emu.add_fault(Fault.internal_failure())
        assert call(emu, path_for("e"), b"x").status == 500
        emu.clear_faults()
        assert call(emu, path_for("e"), b"x").status == 200


def test_bad_fault_spec_is_validation_error(emulator: Emulator) -> None:
    reply = call(emulator, path_for("echo"), b"x", {"X-Emulator-Fault": "explode"})
    assert reply.status == 400
    assert "unknown fault kind 'explode'" in reply.json()["Message"]


def test_parse_faults() -> None:
    assert parse_faults("cut(after=3)+delay-events(seconds=0.5)") == [
        Fault.cut(after=3),
        Fault.delay_events(0.5),
    ]
    assert parse_faults("  ") == []
    for bad in ("cut(after=x)", "cut(bogus=1)", "cut(", "nope", "cut(after=-1)"):
        with pytest.raises(FaultSpecError):
            parse_faults(bad)
    # the container's status: 0 (it gave none: timed out) or 100-599; an html page's 100-599
    assert parse_faults("model-error(status=0)") == [Fault("model-error", status=0)]
    assert parse_faults("model-error(status=599)+html(status=100)")[1].status == 100
    for bad in ("model-error(status=-5)", "model-error(status=99999)", "html(status=0)"):
        with pytest.raises(FaultSpecError, match="status must be"):
            parse_faults(bad)


def test_a_model_error_reads_the_same_on_both_sides() -> None:
    from smruntime.emulator._faults import model_error

    text, members = model_error("eu-west-1", "111122223333", "asr", 418, "teapot")
    assert text.startswith('Received client error (418) from primary with message "teapot".')
    assert "in account 111122223333" in text
    assert members == {
        "OriginalStatusCode": 418,
        "OriginalMessage": "teapot",
        "LogStreamArn": (
            "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/sagemaker/Endpoints/asr"
        ),
    }
    assert model_error("r", "a", "e", 0, "m")[0].startswith("Received server error (0) from")
    assert model_error("r", "a", "e", 503, "m")[0].startswith("Received server error (503)")


@given(
    kind=st.sampled_from(
        sorted(["cut", "throttle", "model-stream-error", "model-error", "delay-events"])
    ),
    after=st.integers(0, 1000),
    count=st.none() | st.integers(0, 100),
    seconds=st.floats(0, 10, allow_nan=False),
    code=st.none() | st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd")), max_size=10),
)
def test_fault_spec_round_trips(
    kind: str, after: int, count: Optional[int], seconds: float, code: Optional[str]
) -> None:
    fault = Fault(kind, after=after, count=count, seconds=seconds, code=code)
    assert parse_faults(fault.spec()) == [fault]


# -- authentication -------------------------------------------------------------------------------


def test_missing_authorization(emulator: Emulator) -> None:
    reply = call(emulator, path_for("echo"), b"x", raw_headers=[])
    assert reply.status == 403
    assert reply.error_code() == "MissingAuthenticationTokenException"
    assert reply.json() == {"message": "Missing Authentication Token"}


def test_wrong_secret_reports_canonical_request(emulator: Emulator) -> None:
    wrong = Credentials(emulator.credentials.access_key_id, "not-the-secret")
    reply = call(emulator, path_for("echo"), b"x", credentials=wrong)
    assert reply.status == 403
    assert reply.error_code() == "InvalidSignatureException"
    message = reply.json()["message"]
    assert message.startswith("The request signature we calculated does not match")
    expected = "The Canonical String for this request should have been\n'POST\n/endpoints/echo/"
    assert expected + "invocations\n" in message
    assert "AWS4-HMAC-SHA256\n" in message
    assert emulator.credentials.secret_access_key not in message


def test_tampered_body_is_rejected(emulator: Emulator) -> None:
    path = path_for("echo")
    headers = signed_headers(emulator, path, b"signed body")
    reply = call(emulator, path, b"other body", raw_headers=headers)
    assert (reply.status, reply.error_code()) == (403, "InvalidSignatureException")


def test_unknown_access_key(emulator: Emulator) -> None:
    reply = call(emulator, path_for("echo"), b"x", credentials=Credentials("AKIDUNKNOWN", "s"))
    assert (reply.status, reply.error_code()) == (403, "UnrecognizedClientException")
    assert reply.json()["message"] == "The security token included in the request is invalid."


def test_wrong_region_scope(emulator: Emulator) -> None:
    reply = call(emulator, path_for("echo"), b"x", region="eu-west-1")
    assert (reply.status, reply.error_code()) == (403, "InvalidSignatureException")
    assert "valid region" in reply.json()["message"]


def test_malformed_authorization(emulator: Emulator) -> None:
    headers = [
        ("X-Amz-Date", "20240101T000000Z"),
        ("Authorization", "AWS4-HMAC-SHA256 Credential=x"),
    ]
    reply = call(emulator, path_for("echo"), b"x", raw_headers=headers)
    assert (reply.status, reply.error_code()) == (400, "IncompleteSignatureException")


def test_signature_expired_against_emulator_clock() -> None:
    fixed = dt.datetime(2024, 1, 15, 12, 30, 45, tzinfo=dt.timezone.utc)
    with Emulator({"echo": "echo"}, clock=lambda: fixed.timestamp()) as emu:
        ok = call(emu, path_for("echo"), b"x", now=fixed - dt.timedelta(minutes=4))
        assert ok.status == 200
        old = call(emu, path_for("echo"), b"x", now=fixed - dt.timedelta(minutes=6))
        assert (old.status, old.error_code()) == (403, "InvalidSignatureException")
        assert old.json()["message"] == (
            "Signature expired: 20240115T122445Z is now earlier than 20240115T122545Z "
            "(20240115T123045Z - 5 min.)"
        )
        future = call(emu, path_for("echo"), b"x", now=fixed + dt.timedelta(minutes=6))
        assert future.status == 403
        assert future.json()["message"].startswith("Signature not yet current")


def test_session_tokens_and_expiry() -> None:
    now = dt.datetime(2024, 1, 15, 12, 0, 0, tzinfo=dt.timezone.utc)
    temporary = Credentials(
        "ASIATEMP", "secret", session_token="tok-123", expiration=now + dt.timedelta(hours=1)
    )
    with Emulator({"echo": "echo"}, credentials=temporary, clock=lambda: now.timestamp()) as emu:
        assert emu.credentials is temporary
        assert call(emu, path_for("echo"), b"x", now=now).status == 200
        no_token = Credentials("ASIATEMP", "secret")
        reply = call(emu, path_for("echo"), b"x", credentials=no_token, now=now)
        assert (reply.status, reply.error_code()) == (403, "UnrecognizedClientException")
        other = Credentials("ASIATEMP", "secret", session_token="tok-999")
        assert call(emu, path_for("echo"), b"x", credentials=other, now=now).status == 403
    later = now + dt.timedelta(hours=2)
    with Emulator({"echo": "echo"}, credentials=temporary, clock=lambda: later.timestamp()) as emu:
        signer = Credentials("ASIATEMP", "secret", session_token="tok-123")
        reply = call(emu, path_for("echo"), b"x", credentials=signer, now=later)
        assert (reply.status, reply.error_code()) == (403, "ExpiredTokenException")


def test_credentials_mapping_and_disabled_verification() -> None:
    with Emulator({"echo": "echo"}, credentials={"AKID1": "s1", "AKID2": "s2"}) as emu:
        assert (
            call(emu, path_for("echo"), b"x", credentials=Credentials("AKID2", "s2")).status == 200
        )
        assert (
            call(emu, path_for("echo"), b"x", credentials=Credentials("AKID2", "s1")).status == 403
        )
    with Emulator({"echo": "echo"}, verify_signatures=False) as emu:
        assert call(emu, path_for("echo"), b"x", raw_headers=[]).status == 200


# -- validation -----------------------------------------------------------------------------------


def test_unknown_endpoint(emulator: Emulator) -> None:
    reply = call(emulator, path_for("nope"), b"x")
    assert (reply.status, reply.error_code()) == (400, "ValidationError")
    assert reply.headers["x-amzn-ErrorType"] == (
        "ValidationError:http://internal.amazon.com/coral/com.amazonaws.sagemaker/"
    )
    assert reply.json() == {"Message": "Endpoint nope of account 123456789012 not found."}


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("bad_name", "Member must satisfy regular expression pattern"),
        ("my%20endpoint", "Member must satisfy regular expression pattern"),
        ("a" * 64, "less than or equal to 63"),
        ("-lead", "regular expression"),
    ],
)
def test_endpoint_name_validation(emulator: Emulator, name: str, fragment: str) -> None:
    reply = call(emulator, path_for(name), b"x")
    assert reply.status == 400
    message = reply.json()["Message"]
    assert message.startswith("1 validation error detected: Value ")
    assert "'endpointName'" in message
    assert fragment in message


def test_body_size_limit(emulator: Emulator) -> None:
    reply = call(emulator, path_for("echo", STREAM), b"x" * (6291456 + 1))
    assert reply.status == 400
    assert "Member must have length less than or equal to 6291456" in reply.json()["Message"]


def test_header_validation_counts_errors(emulator: Emulator) -> None:
    headers = {
        "X-Amzn-SageMaker-Inference-Id": "i" * 65,
        "X-Amzn-SageMaker-Target-Variant": "bad_variant",
    }
    reply = call(emulator, path_for("echo"), b"x", headers)
    assert reply.status == 400
    message = reply.json()["Message"]
    assert message.startswith("2 validation errors detected:")
    assert "'inferenceId'" in message
    assert "'targetVariant'" in message


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/endpoints/echo/other"), ("GET", "/endpoints/echo/invocations"), ("POST", "/")],
)
def test_unknown_operation(emulator: Emulator, method: str, path: str) -> None:
    reply = call(emulator, path, b"", method=method)
    assert (reply.status, reply.error_code()) == (404, "UnknownOperationException")


# -- concurrency, cancellation, lifecycle ---------------------------------------------------------


def test_concurrent_streams() -> None:
    with Emulator({"t": Tokens(delay=0.005, text="one two three four")}) as emu:

        def one(i: int) -> str:
            body = json.dumps({"inputs": str(i)}).encode()
            reply = call(emu, path_for("t", STREAM), body)
            return str(sse_records(b"".join(payloads(reply.messages())))[-1]["generated_text"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(one, range(16)))
        assert results == ["one two three four"] * 16
        assert len(emu.requests) == 16
        wait_until(lambda: all(r.finished for r in emu.requests))
        assert all(r.status == 200 and not r.cancelled for r in emu.requests)
        assert emu.cancelled == 0


class Endless:
    """Yields parts until closed; records how far it got."""

    def __init__(self) -> None:
        self.produced = 0
        self.closed = threading.Event()

    def __call__(self, request: EmulatorRequest) -> Iterator[bytes]:
        try:
            while request.sleep(0.005):
                self.produced += 1
                yield b"part"
        finally:
            self.closed.set()


def test_client_disconnect_stops_generation() -> None:
    model = Endless()
    with Emulator({"endless": model}) as emu:
        conn, resp = open_stream(emu, "endless", b"x")
        got: list[Message] = []
        decoder = Decoder()
        while len(got) < 3:
            got += decoder.feed(resp.read1(65536))
        conn.close()
        resp.close()
        assert model.closed.wait(5)
        wait_until(lambda: emu.cancelled == 1)
        produced = model.produced
        [request] = emu.requests
        assert request.cancelled
        assert request.parts_sent >= 3
    assert model.produced == produced


def test_stop_closes_open_stream_and_threads() -> None:
    before = set(threading.enumerate())
    model = Endless()
    emu = Emulator({"endless": model}).start()
    conn, resp = open_stream(emu, "endless", b"x")
    try:
        assert resp.read1(65536)
        emu.stop()
        assert model.closed.is_set()
        with pytest.raises((http.client.IncompleteRead, OSError)):
            while resp.read1(65536):
                pass
    finally:
        conn.close()
    assert emu.cancelled == 1
    assert set(threading.enumerate()) - before == set()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", emu.port), timeout=1).close()
    emu.stop()  # idempotent


def test_serve_forever_until_stopped() -> None:
    emu = Emulator({"echo": "echo"}, port=0)
    server = threading.Thread(target=emu.serve_forever)
    server.start()
    try:
        wait_until(lambda: emu._server is not None)
        assert call(emu, path_for("echo"), b"ping").body == b"ping"
    finally:
        emu.stop()
        server.join(5)
    assert not server.is_alive()


def test_start_twice_is_an_error(emulator: Emulator) -> None:
    with pytest.raises(RuntimeError):
        emulator.start()


def test_default_credentials_are_generated_and_masked() -> None:
    a, b = Emulator(), Emulator()
    assert a.credentials.access_key_id != b.credentials.access_key_id
    assert a.credentials.secret_access_key not in repr(a.credentials)
    assert a.region == "us-east-1"
    assert sorted(a.endpoints) == ["echo", "tokens", "tokens-jsonl"]


def test_request_repr_hides_secrets() -> None:
    creds = Credentials("AKIDREPR", "secret", session_token="session-token-value")
    with Emulator({"echo": "echo"}, credentials=creds) as emu:
        call(emu, path_for("echo"), b"body-secret", credentials=creds)
        [request] = emu.requests
    text = repr(request)
    assert "session-token-value" not in text
    assert "Signature=" not in text
    assert "body-secret" not in text
    assert "<11 bytes>" in text


def test_builtin_handler_options() -> None:
    with pytest.raises(ValueError, match="unknown built-in handler"):
        EmulatorEndpoint("nope")
    with pytest.raises(ValueError, match="format"):
        Tokens(format="xml")
    with pytest.raises(ValueError, match="part_size"):
        Echo(part_size=0)
    with pytest.raises(ValueError, match="results_uri"):
        Emulator(results_uri="ftp")


def test_tokens_rejects_bad_parameters(emulator: Emulator) -> None:
    body = json.dumps({"inputs": "x", "parameters": {"max_new_tokens": 0}}).encode()
    reply = call(emulator, path_for("tokens", STREAM), body)
    assert reply.status == 424
    assert reply.json()["OriginalStatusCode"] == 422
    bad_json = call(emulator, path_for("tokens"), b"{not json")
    assert bad_json.json()["OriginalStatusCode"] == 400
    plain = call(emulator, path_for("tokens"), b"plain prompt")
    assert plain.json() == [{"generated_text": "You said: plain prompt"}]


# -- regressions of the emulator review ------------------------------------------------------------


def raw_exchange(emu: Emulator, data: bytes, *, half_close: bool = False) -> bytes:
    """Send *data* on a fresh connection and read until the emulator closes it."""
    with socket.create_connection(("127.0.0.1", emu.port), timeout=10) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            got = sock.recv(65536)
            if not got:
                return out
            out += got


def raw_request(path: str, body: bytes, *headers: str, version: str = "HTTP/1.1") -> bytes:
    head = [f"POST {path} {version}", "Host: emulator", "Connection: close", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + body


@pytest.mark.parametrize("mode", ["s3", "file"])
def test_async_result_paths_stay_inside_the_results_folder(tmp_path: Path, mode: str) -> None:
    results = tmp_path / "results"
    with Emulator({"echo": "echo"}, results_dir=results, results_uri=mode) as emu:
        for headers in (
            {"X-Amzn-SageMaker-Inference-Id": "../../../../outside"},
            {"X-Amzn-SageMaker-Inference-Id": "a/../../b"},
            {
                "X-Amzn-SageMaker-S3OutputPathExtension": "../../../x",
                "X-Amzn-SageMaker-Filename": "f",
            },
            {"X-Amzn-SageMaker-S3OutputPathExtension": "a/./b"},
        ):
            reply = call(emu, path_for("echo", ASYNC), b"x", headers)
            assert (reply.status, reply.error_code()) == (400, "ValidationError")
            assert "'..' path segments are not allowed" in reply.json()["Message"]
        odd = call(
            emu, path_for("echo", ASYNC), b"odd", {"X-Amzn-SageMaker-Inference-Id": "a#b?c/d%e"}
        )
        assert odd.status == 202
        output = odd.headers["X-Amzn-SageMaker-OutputLocation"]
        assert "#" not in output
        assert "?" not in output
        path = emu.local_path(output)
        assert path == (results / "sagemaker-emulator/async-outputs/a#b?c/d%e.out").resolve()
        assert path.read_bytes() == b"odd"
        with pytest.raises(ValueError, match="escapes"):
            emu._write_result("file:///tmp/elsewhere.out", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_client_gone_works_for_descriptors_above_1024() -> None:
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:
        if hard != resource.RLIM_INFINITY and hard < 2048:
            pytest.skip("cannot open descriptors above 2000 here")
        resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
    try:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            client = socket.create_connection(listener.getsockname())
            accepted, _ = listener.accept()
            high = socket.socket(fileno=os.dup2(accepted.fileno(), 2000))
            accepted.close()
            try:
                request = EmulatorRequest("POST", "/", HttpHeaders(), b"", "id", _sock=high)
                assert not request.client_gone()
                client.shutdown(socket.SHUT_WR)  # half-close: a hint, not a cancel
                wait_until(lambda: (request.client_gone(), request.client_eof)[1])
                assert not request.client_gone()
                client.close()
                high.sendall(b"x")  # the closed peer answers with a reset
                wait_until(request.client_gone)
            finally:
                high.close()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (["Transfer-Encoding: chunked"], b"-1\r\n"),
        (["Transfer-Encoding: chunked"], b"0x2\r\nhi\r\n0\r\n\r\n"),
        (["Transfer-Encoding: chunked"], b"1_0\r\n"),
        (["Transfer-Encoding: chunked"], b"+2\r\nhi\r\n0\r\n\r\n"),
        (["Transfer-Encoding: chunked"], b"2\nhi\r\n0\r\n\r\n"),
        (["Transfer-Encoding: chunked"], b"2\r\nhiXX0\r\n\r\n"),
        (["Transfer-Encoding: chunked"], b"2\r\nhi\r\n0\r\n"),
        (["Transfer-Encoding: gzip"], b"hi"),
        (["Content-Length: 1_0"], b"0123456789"),
        (["Content-Length: +10"], b"0123456789"),
        (["Content-Length: \u0661\u0660"], b"0123456789"),
        (["Content-Length: 10, 10"], b"0123456789"),
        (["Content-Length: 3", "Content-Length: 10"], b"0123456789"),
    ],
)
def test_request_framing_is_strict(headers: list[str], body: bytes) -> None:
    emu = Emulator({"echo": "echo"}, verify_signatures=False).start()
    try:
        out = raw_exchange(emu, raw_request(path_for("echo"), body, *headers), half_close=True)
    finally:
        emu.stop()
    assert out.startswith(b"HTTP/1.1 400 ")
    assert out.count(b"HTTP/1.1") == 1
    assert b"SerializationException" in out


def test_request_framing_accepts_the_valid_forms() -> None:
    with Emulator({"echo": "echo"}, verify_signatures=False) as emu:
        chunked = raw_request(
            path_for("echo"),
            b"2;ext=1\r\nhi\r\na\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
            "Transfer-Encoding: chunked",
        )
        assert raw_exchange(emu, chunked).endswith(b"\r\n\r\nhi0123456789")
        same = raw_request(path_for("echo"), b"hi", "Content-Length: 2", "Content-Length: 2")
        assert raw_exchange(emu, same).endswith(b"\r\n\r\nhi")


def test_stop_joins_connection_threads_and_skips_late_results() -> None:
    started = threading.Event()

    def slow(request: EmulatorRequest) -> bytes:
        started.set()
        time.sleep(0.5)  # a model that does not use request.sleep
        return b"late"

    emu = Emulator({"slow": slow}).start()
    results = emu.results_dir

    def invoke() -> None:
        with pytest.raises(http.client.RemoteDisconnected):
            call(emu, path_for("slow", ASYNC), b"x")

    caller = threading.Thread(target=invoke, daemon=True)
    caller.start()
    assert started.wait(5)
    began = time.monotonic()
    emu.stop()
    assert time.monotonic() - began >= 0.3  # it waited for the handler
    assert not [t for t in threading.enumerate() if t.name.startswith("smruntime-emulator")]
    time.sleep(0.1)
    assert not results.exists()
    caller.join(10)
    fresh = Emulator()
    fresh.start().stop()
    with pytest.raises(RuntimeError, match="stopped"):
        fresh.results_dir  # noqa: B018


def third_party_headers(
    emu: Emulator, path: str, body: bytes, headers: Mapping[str, str], secret: Optional[str] = None
) -> dict[str, str]:
    """A SigV4 signer that signs every header it is given (user-agent too), as some SDKs do."""

    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    amz = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    signed = {k.lower(): v for k, v in headers.items()}
    signed.update({"host": f"127.0.0.1:{emu.port}", "x-amz-date": amz})
    names = sorted(signed)
    canonical = "\n".join(
        [
            "POST",
            path,
            "",
            *[f"{n}:{signed[n]}" for n in names],
            "",
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{amz[:8]}/{emu.region}/sagemaker/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + (secret or emu.credentials.secret_access_key)).encode()
    for part in (amz[:8], emu.region, "sagemaker", "aws4_request"):
        key = mac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={emu.credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


def test_signature_covers_exactly_the_headers_the_client_signed(emulator: Emulator) -> None:
    path = path_for("echo")
    headers = {"Content-Type": "text/plain", "User-Agent": "my-app/1.0", "X-Amzn-Trace-Id": "t"}
    good = third_party_headers(emulator, path, b"hi", headers)
    del good["host"]  # http.client sends it
    reply = call(emulator, path, b"hi", raw_headers=list(good.items()))
    assert (reply.status, reply.body) == (200, b"hi")
    bad = third_party_headers(emulator, path, b"hi", headers, secret="wrong")
    del bad["host"]
    reply = call(emulator, path, b"hi", raw_headers=list(bad.items()))
    assert reply.error_code() == "InvalidSignatureException"
    message = reply.json()["message"]
    assert "\nuser-agent:my-app/1.0\nx-amz-date:" in message
    assert "\ncontent-type;host;user-agent;x-amz-date;x-amzn-trace-id\n" in message


def test_half_closed_client_still_gets_the_whole_stream() -> None:
    with Emulator({"tokens": Tokens(delay=0.01)}, verify_signatures=False) as emu:
        request = raw_request(path_for("tokens", STREAM), b"hi there", "Content-Length: 8")
        out = raw_exchange(emu, request, half_close=True)
        assert out.endswith(b"\r\n0\r\n\r\n")
        [logged] = emu.requests
        assert not logged.cancelled
        assert logged.parts_sent == 5
        assert logged.client_eof


@pytest.mark.parametrize("fault", [Fault.corrupt_crc(after=1), Fault.cut(after=1)])
def test_handler_failure_inside_a_fault_is_model_stream_error(fault: Fault) -> None:
    def breaking(request: EmulatorRequest) -> Iterator[bytes]:
        yield b"first"
        raise ModelFailure("boom")

    with Emulator({"b": breaking}) as emu:
        reply = call(emu, path_for("b", STREAM), b"x", fault_header(fault))
        [part, error] = reply.messages()
        assert part.payload == b"first"
        assert error.headers[":exception-type"] == "ModelStreamError"
        assert json.loads(error.payload)["Message"].endswith("boom")
        wait_until(lambda: emu.requests[-1].finished)
        assert emu.requests[-1].error_code == "ModelStreamError"


def test_stalled_client_is_dropped_after_the_timeout() -> None:
    assert Emulator().timeout == 60.0
    with Emulator(timeout=0.2) as emu:
        with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
            sock.sendall(b"POST /endpoints/echo/invocations HTTP/1.1\r\n")  # never finishes
            began = time.monotonic()
            out = b""
            while True:
                got = sock.recv(4096)
                if not got:
                    break
                out += got
            assert out.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
            assert b"Connection: close\r\n" in out
            assert time.monotonic() - began < 3


def test_faults_follow_what_each_operation_can_answer(tmp_path: Path) -> None:
    with Emulator({"echo": "echo"}, results_dir=tmp_path) as emu:
        spec = fault_header(Fault.model_error(status=418, message="teapot"))
        reply = call(emu, path_for("echo", ASYNC), b"x", spec)
        assert reply.status == 202
        assert not emu.local_path(reply.headers["X-Amzn-SageMaker-OutputLocation"]).exists()
        failure = emu.local_path(reply.headers["X-Amzn-SageMaker-FailureLocation"]).read_text()
        assert 'Received client error (418) from primary with message "teapot"' in failure
        for op in (STREAM, ASYNC):
            refused = call(emu, path_for("echo", op), b"x", fault_header(Fault.model_not_ready()))
            assert (refused.status, refused.error_code()) == (400, "ValidationError")
            assert "fault model-not-ready" in refused.json()["Message"]
        emu.add_fault(Fault.model_not_ready(count=1))
        assert call(emu, path_for("echo", STREAM), b"x").status == 200  # budget not consumed
        assert call(emu, path_for("echo"), b"x").status == 429
        assert call(emu, path_for("echo"), b"x").status == 200


def test_new_session_returns_an_id_and_expiry(emulator: Emulator) -> None:
    reply = call(emulator, path_for("echo"), b"x", {"X-Amzn-SageMaker-Session-Id": "NEW_SESSION"})
    assert reply.status == 200
    value = reply.headers["X-Amzn-SageMaker-New-Session-Id"]
    match = re.fullmatch(
        r"([a-zA-Z0-9](?:-*[a-zA-Z0-9])*);\sExpires=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", value
    )
    assert match is not None
    expires = emulator.sessions[match.group(1)]
    assert expires.strftime("%Y-%m-%dT%H:%M:%SZ") == match.group(2)
    assert expires > dt.datetime.now(dt.timezone.utc)
    plain = call(emulator, path_for("echo"), b"x", {"X-Amzn-SageMaker-Session-Id": "s-1"})
    assert "X-Amzn-SageMaker-New-Session-Id" not in plain.headers


def test_http10_stream_is_raw_frames_ended_by_the_close() -> None:
    with Emulator(verify_signatures=False) as emu:
        request = raw_request(
            path_for("tokens", STREAM), b"hi", "Content-Length: 2", version="HTTP/1.0"
        )
        head, _, body = raw_exchange(emu, request).partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head
    assert b"Connection: close" in head
    messages = decode(body)
    assert len(payloads(messages)) == 4


def test_custom_attributes_never_echoed_in_errors() -> None:
    with Emulator({"echo": "echo"}, verify_signatures=False) as emu:
        secret = "api_key=sk-SECRET\u00e9"
        request = raw_request(
            path_for("echo"),
            b"",
            f"X-Amzn-SageMaker-Custom-Attributes: {secret}",
            "Content-Length: 0",
        )
        out = raw_exchange(emu, request)
        assert b"400 Bad Request" in out
        assert b"sk-SECRET" not in out
        assert b"Value at 'customAttributes'" in out
        spec = raw_request(
            path_for("echo"),
            b"",
            "X-Amzn-SageMaker-Custom-Attributes: token=sk-SECRET;emulator-fault=bogus",
            "Content-Length: 0",
        )
        out = raw_exchange(emu, spec)
        assert b"sk-SECRET" not in out
        assert b"CustomAttributes emulator-fault: unknown fault kind 'bogus'" in out
        header = call(emu, path_for("echo"), b"", {"X-Emulator-Fault": "bogus"})
        assert header.json()["Message"].startswith("X-Emulator-Fault: unknown fault kind")


def test_unexpected_failure_still_answers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(uri: str, data: bytes) -> bool:
        raise RuntimeError("disk on fire")

    with Emulator({"echo": "echo"}, results_dir=tmp_path) as emu:
        monkeypatch.setattr(emu, "_write_result", broken)
        reply = call(emu, path_for("echo", ASYNC), b"x")
        assert (reply.status, reply.error_code()) == (500, "InternalFailure")
        assert reply.headers["Connection"] == "close"
