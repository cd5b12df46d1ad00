"""Container mode against a real ASGI model server (uvicorn + Starlette, started by the tests)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("starlette")

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError as BotoClientError
from botocore.exceptions import EventStreamError

from smruntime import Client, Config
from smruntime.emulator import Container, Emulator, EmulatorEndpoint
from smruntime.exceptions import ModelError, ModelStreamError, ServiceUnavailable

ROOT = Path(__file__).resolve().parents[2]
SANITY = 30.0


@contextlib.contextmanager
def model_server(**env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """uvicorn serving tests/smruntime/container_app.py on a socket bound here (no port race)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    environ = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.smruntime.container_app:app",
            "--fd",
            str(listener.fileno()),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=environ,
        pass_fds=[listener.fileno()],
        stdin=subprocess.DEVNULL,
    )
    listener.close()
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.kill()  # uvicorn's graceful stop would wait for the hanging requests
        proc.wait(SANITY)


@pytest.fixture(scope="module")
def container_url() -> Iterator[str]:
    with model_server() as (url, _):
        yield url


@contextlib.contextmanager
def emulated(url: str, **options: Any) -> Iterator[Emulator]:
    part_size = options.pop("part_size", None)
    container = Container(url, **options)
    endpoint = EmulatorEndpoint(container, part_size=part_size)
    with Emulator({"model": endpoint}) as emu:
        assert container.wait_healthy(SANITY), container.last_ping
        yield emu


def smruntime_client(emu: Emulator) -> Client:
    creds = emu.credentials
    return Client(
        region_name=emu.region,
        endpoint_url=emu.url,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=Config(proxies={}, max_attempts=1),
        environ={},
    )


_BOTO3_CLIENTS: list[Any] = []


@pytest.fixture(autouse=True)
def _close_boto3_clients() -> Iterator[None]:
    yield
    while _BOTO3_CLIENTS:
        _BOTO3_CLIENTS.pop().close()


def boto3_client(emu: Emulator) -> Any:
    creds = emu.credentials
    client = boto3.client(
        "sagemaker-runtime",
        region_name=emu.region,
        endpoint_url=emu.url,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=BotoConfig(retries={"max_attempts": 0}, proxies={}),
    )
    _BOTO3_CLIENTS.append(client)
    return client


def stream_body(text: str, **extra: Any) -> bytes:
    return json.dumps({"inputs": text, "stream": True, **extra}).encode()


def test_invoke_passes_headers_through_both_ways(container_url: str) -> None:
    with emulated(container_url) as emu:
        body = b'{"inputs": "hello"}'
        answer = boto3_client(emu).invoke_endpoint(
            EndpointName="model",
            Body=body,
            ContentType="application/json",
            Accept="application/json",
            CustomAttributes="trace=abc",
        )
        seen = json.loads(answer["Body"].read())
        assert seen == {
            "body": body.decode(),
            "content_type": "application/json",
            "accept": "application/json",
            "custom_attributes": "trace=abc",
        }
        assert answer["ContentType"] == "application/json"
        assert answer["CustomAttributes"] == "container=yes"
        client = smruntime_client(emu)
        try:
            mine = client.invoke_endpoint(EndpointName="model", Body=body, Accept="text/csv")
            assert json.loads(mine["Body"].read())["accept"] == "text/csv"
            assert mine["CustomAttributes"] == "container=yes"
        finally:
            client.close()


def test_stream_is_reframed_as_it_arrives(container_url: str) -> None:
    with emulated(container_url) as emu:
        client = smruntime_client(emu)
        try:
            answer = client.invoke_endpoint_with_response_stream(
                EndpointName="model",
                Body=stream_body("one two three"),
                ContentType="application/json",
                Accept="text/event-stream",
                CustomAttributes="k=v",
            )
            assert answer["ContentType"] == "text/event-stream; charset=utf-8"
            assert answer["CustomAttributes"] == "container=yes"
            assert "".join(answer["Body"].iter_text()) == " one two three"
        finally:
            client.close()
        events = boto3_client(emu).invoke_endpoint_with_response_stream(
            EndpointName="model", Body=stream_body("a b c d")
        )["Body"]
        with contextlib.closing(events):
            parts = [event["PayloadPart"]["Bytes"] for event in events]
        assert len(parts) >= 2  # the container's chunks, not one buffered answer
        assert b"".join(parts).count(b"data:") == 4


def test_part_size_recuts_the_containers_chunks(container_url: str) -> None:
    with emulated(container_url, part_size=7) as emu:
        events = boto3_client(emu).invoke_endpoint_with_response_stream(
            EndpointName="model", Body=stream_body("alpha beta gamma")
        )["Body"]
        with contextlib.closing(events):
            parts = [event["PayloadPart"]["Bytes"] for event in events]
        assert all(len(part) <= 7 for part in parts)
        assert max(len(part) for part in parts) == 7
        records = b"".join(parts).split(b"\n\n")
        assert [json.loads(r[5:])["token"]["text"] for r in records if r] == [
            " alpha",
            " beta",
            " gamma",
        ]


@pytest.mark.parametrize(
    ("mode", "status", "text"), [("error", 400, "bad input"), ("crash", 500, "model exploded")]
)
def test_container_errors_are_model_errors(
    container_url: str, mode: str, status: int, text: str
) -> None:
    with emulated(container_url) as emu:
        body = json.dumps({"inputs": "x", "mode": mode}).encode()
        client = smruntime_client(emu)
        try:
            with pytest.raises(ModelError) as caught:
                client.invoke_endpoint(EndpointName="model", Body=body)
            assert caught.value.status_code == 424
            assert caught.value.original_status_code == status
            assert text in (caught.value.original_message or "")
            with pytest.raises(ModelError) as streamed:
                client.invoke_endpoint_with_response_stream(
                    EndpointName="model", Body=json.dumps({"mode": mode, "stream": True}).encode()
                )
            assert streamed.value.original_status_code == status
        finally:
            client.close()
        with pytest.raises(BotoClientError) as boto_caught:
            boto3_client(emu).invoke_endpoint(EndpointName="model", Body=body)
        error = boto_caught.value.response
        assert error["Error"]["Code"] == "ModelError"
        assert error["OriginalStatusCode"] == status
        assert f"Received {'client' if status < 500 else 'server'} error ({status})" in str(
            error["Error"]["Message"]
        )


def test_container_that_does_not_answer_in_time(container_url: str) -> None:
    with emulated(container_url, timeout=0.5) as emu:
        client = smruntime_client(emu)
        try:
            with pytest.raises(ModelError) as caught:
                client.invoke_endpoint(
                    EndpointName="model", Body=json.dumps({"mode": "hang"}).encode()
                )
            assert caught.value.original_status_code == 0
            assert "timed out while waiting for a response" in (caught.value.original_message or "")
            answer = client.invoke_endpoint_with_response_stream(
                EndpointName="model", Body=stream_body("x y", mode="stall", tokens=5)
            )
            with pytest.raises(ModelStreamError) as stalled:
                for _ in answer["Body"].iter_text():
                    pass
            assert stalled.value.stream_error_code == "ModelInvocationTimeExceeded"
        finally:
            client.close()


def test_container_killed_mid_stream_is_stream_broken() -> None:
    with model_server(CONTAINER_TOKEN_DELAY="0.05") as (url, proc):
        with emulated(url) as emu:
            events = boto3_client(emu).invoke_endpoint_with_response_stream(
                EndpointName="model", Body=stream_body("w", tokens=400)
            )["Body"]
            got: list[Any] = []
            with contextlib.closing(events), pytest.raises(EventStreamError) as caught:
                for event in events:
                    got.append(event)
                    if len(got) == 2:
                        proc.send_signal(signal.SIGKILL)
            assert caught.value.response["Error"]["Code"] == "ModelStreamError"
            assert len(got) < 400
            [request] = [r for r in emu.requests if r.operation is not None]
            assert request.error_code == "ModelStreamError"


def test_503_until_the_container_is_healthy(tmp_path: Path) -> None:
    healthy = tmp_path / "healthy"
    with model_server(CONTAINER_HEALTHY_FILE=str(healthy)) as (url, _):
        container = Container(url)
        with Emulator({"model": container}) as emu:
            client = smruntime_client(emu)
            try:
                with pytest.raises(ServiceUnavailable) as caught:
                    client.invoke_endpoint(EndpointName="model", Body=b"{}")
                assert caught.value.status_code == 503
                healthy.touch()  # the next GET /ping answers 200
                assert container.wait_healthy(SANITY), container.last_ping
                answer = client.invoke_endpoint(EndpointName="model", Body=b"{}")
                assert json.loads(answer["Body"].read())["body"] == "{}"
            finally:
                client.close()
        assert container.last_ping is None


def test_async_writes_the_containers_answer(container_url: str, tmp_path: Path) -> None:
    container = Container(container_url)
    with Emulator({"model": container}, results_dir=tmp_path) as emu:
        assert container.wait_healthy(SANITY)
        client = smruntime_client(emu)
        try:
            answer = client.invoke_endpoint_async(
                EndpointName="model",
                Body=b'{"inputs": "later"}',
                ContentType="application/json",
            )
            output = emu.local_path(answer["OutputLocation"]).read_bytes()
            assert json.loads(output)["body"] == '{"inputs": "later"}'
            failed = client.invoke_endpoint_async(
                EndpointName="model", Body=json.dumps({"mode": "error"}).encode()
            )
            text = emu.local_path(failed["FailureLocation"]).read_text()
            assert "Received client error (400)" in text
        finally:
            client.close()


def test_container_url_must_be_http() -> None:
    for bad in ("https://x:8080", "127.0.0.1:8080", "http://"):
        with pytest.raises(ValueError, match="container URL"):
            Container(bad)


def test_serve_container_from_the_command_line(tmp_path: Path) -> None:
    from tests.smruntime.cli_helpers import clean_env, run_cli, serving, stderr_text

    keys = {"AWS_ACCESS_KEY_ID": "AKIDCONTAINER", "AWS_SECRET_ACCESS_KEY": "container-secret"}
    env = clean_env(tmp_path, keys)
    with model_server() as (url, _):
        with serving(env, "--container", url, "--endpoint", "local") as found:
            deadline = time.monotonic() + SANITY
            while "container healthy" not in found["stderr"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "container healthy" in found["stderr"], found["stderr"]
            args = ("--endpoint-url", found["url"], "--region", "us-east-1")
            body = json.dumps({"inputs": "from the cli", "stream": True})
            ok = run_cli("invoke", "local", "--stream", "--body", body, *args, env=env)
            assert ok.returncode == 0, stderr_text(ok)
            assert ok.stdout.decode() == " from the cli\n"


# -- InvokeEndpointWithBidirectionalStream bridged to the container's WebSocket ----------------


def bidi_parts(stream: Any) -> list[dict[str, Any]]:
    return [event["PayloadPart"] for event in stream]


def test_bidi_echo_utf8_as_text_and_binary_as_binary(container_url: str) -> None:
    pytest.importorskip("h2")
    with emulated(container_url) as emu, smruntime_client(emu) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName="model")
        with resp["Body"] as stream:
            stream.send("héllo".encode(), DataType="UTF8")
            first = next(stream)["PayloadPart"]
            stream.send(b"\x00\xff" * 40000, DataType="BINARY")
            second = next(stream)["PayloadPart"]
            stream.send(b"no data type")
            third = next(stream)["PayloadPart"]
            stream.close_input()
            rest = bidi_parts(stream)
        assert first["Bytes"] == "héllo".encode()
        assert first["DataType"] == "UTF8"
        assert second["Bytes"] == b"\x00\xff" * 40000
        assert second["DataType"] == "BINARY"
        assert third["Bytes"] == b"no data type"
        assert third["DataType"] == "BINARY"
        assert rest == []  # our close (end of input) answered by the container's close
        assert emu.h2_requests[-1].status == 200


def test_bidi_passes_the_sagemaker_headers_in_the_handshake(container_url: str) -> None:
    pytest.importorskip("h2")
    with emulated(container_url) as emu, smruntime_client(emu) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(
            EndpointName="model", ModelInvocationPath="v1/listen", ModelQueryString="a=b"
        )
        with resp["Body"] as stream:
            stream.send(b"headers", DataType="UTF8")
            seen = json.loads(next(stream)["PayloadPart"]["Bytes"])
            stream.send(b"bye", DataType="UTF8")
            assert bidi_parts(stream) == []  # the container's normal close ends the output
        assert seen["x-amzn-sagemaker-model-invocation-path"] == "v1/listen"
        assert seen["x-amzn-sagemaker-model-query-string"] == "a=b"


def test_bidi_container_closing_with_an_error_is_a_model_stream_error(container_url: str) -> None:
    pytest.importorskip("h2")
    with emulated(container_url) as emu, smruntime_client(emu) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName="model")
        with resp["Body"] as stream:
            stream.send(b"one", DataType="UTF8")
            assert next(stream)["PayloadPart"]["Bytes"] == b"one"
            stream.send(b"fail", DataType="UTF8")
            with pytest.raises(ModelStreamError) as info:
                next(stream)
        assert info.value.stream_error_code == "StreamBroken"
        assert "1011" in str(info.value)
        assert "model exploded" in str(info.value)


def test_bidi_container_killed_mid_stream() -> None:
    pytest.importorskip("h2")
    with model_server() as (url, proc), emulated(url) as emu, smruntime_client(emu) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName="model")
        with resp["Body"] as stream:
            stream.send(b"one", DataType="UTF8")
            assert next(stream)["PayloadPart"]["Bytes"] == b"one"
            proc.send_signal(signal.SIGKILL)
            with pytest.raises(ModelStreamError) as info:
                next(stream)
        assert info.value.stream_error_code == "StreamBroken"


def test_bidi_container_without_the_websocket_route() -> None:
    pytest.importorskip("h2")
    with model_server(CONTAINER_NO_WEBSOCKET="1") as (url, _):
        with emulated(url) as emu, smruntime_client(emu) as client:
            resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName="model")
            with resp["Body"] as stream:
                stream.send(b"one", DataType="UTF8")
                with pytest.raises(ModelStreamError) as info:
                    next(stream)
        assert info.value.stream_error_code == "StreamBroken"
        assert "/invocations-bidirectional-stream" in str(info.value)
        assert "HTTP 403" in str(info.value) or "HTTP 404" in str(info.value)


def test_bidi_builtin_models_still_served_beside_a_container(container_url: str) -> None:
    pytest.importorskip("h2")
    with emulated(container_url) as emu, smruntime_client(emu) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName="echo")
        with resp["Body"] as stream:
            stream.send(b"built-in", DataType="UTF8")
            assert next(stream)["PayloadPart"]["Bytes"] == b"built-in"
            stream.close_input()
