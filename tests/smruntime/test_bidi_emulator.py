"""The client end to end against the emulator's HTTP/2 side (which checks the request
signature and every chained event signature), over h2c, TLS with ALPN, and a real proxy."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("h2")

from sigv4 import Credentials
from smruntime import Client, Config
from smruntime.aio import AsyncClient
from smruntime.emulator._faults import parse_faults
from smruntime.emulator._h2 import serve_h2, tls_server_context
from smruntime.exceptions import (
    ClientError,
    EndpointConnectionError,
    IncompleteStreamError,
    InputValidationError,
    InternalServerError,
    InternalStreamFailure,
    InvalidSignatureException,
    ModelError,
    ModelStreamError,
    ServiceUnavailableError,
    ThrottlingException,
)

TLS = Path(__file__).resolve().parents[1] / "data" / "tls"
CERT, KEY = str(TLS / "cert.pem"), str(TLS / "key.pem")
CREDS = Credentials("AKIDBIDI", "bidi-emulator-secret")


def make_client(url: str, secret: str = CREDS.secret_access_key, **config: Any) -> Client:
    return Client(
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=CREDS.access_key_id,
        aws_secret_access_key=secret,
        config=Config(**config) if config else None,
        environ={},
    )


def parts_of(stream: Any) -> list[dict[str, Any]]:
    return [event["PayloadPart"] for event in stream]


def test_echo_every_signature_checked() -> None:
    with serve_h2(CREDS) as srv, make_client(srv.url) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(
            EndpointName="echo", ModelInvocationPath="v1/listen", ModelQueryString="a=b&c=d"
        )
        with resp["Body"] as stream:
            for i in range(30):
                stream.send(f"{i}".encode(), DataType="UTF8", CompletionState="PARTIAL")
                assert next(stream)["PayloadPart"]["Bytes"] == f"{i}".encode()
            stream.close_input()
            assert parts_of(stream) == []
        req = srv.requests[0]
        assert req.invocation_path == "v1/listen"
        assert req.query_string == "a=b&c=d"


def test_transcribe_binary_in_json_out() -> None:
    audio = [{"PayloadPart": {"Bytes": b"\x00" * 3200, "DataType": "BINARY"}} for _ in range(5)]
    with serve_h2(CREDS) as srv, make_client(srv.url) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(
            EndpointName="transcribe", Body=audio
        )
        results = parts_of(resp["Body"])
        assert results, "no transcription results"
        assert all(p["DataType"] == "UTF8" for p in results)
        assert json.loads(results[-1]["Bytes"])["is_final"] is True
        assert results[-1]["CompletionState"] == "COMPLETE"


def test_transcribe_answers_each_part_as_it_comes() -> None:
    # A model on its own thread is woken by each part: before, parts taken out of h2's sight
    # woke nobody and each answer waited for the model thread's quarter-second poll.
    with serve_h2(CREDS) as srv, make_client(srv.url) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName="transcribe")
        with resp["Body"] as stream:
            started = time.monotonic()
            for i in range(10):
                stream.send(b"\x00" * 3200, DataType="BINARY")
                result = json.loads(next(stream)["PayloadPart"]["Bytes"])
                assert result["bytes"] == 3200 * (i + 1)
            assert time.monotonic() - started < 2.0  # (10 quarter-second waits took 2.5 s)
            stream.close_input()


def test_wrong_secret_is_refused() -> None:
    with serve_h2(CREDS) as srv, make_client(srv.url, secret="wrong") as client:
        with pytest.raises(InvalidSignatureException):
            client.invoke_endpoint_with_bidirectional_stream(EndpointName="echo")


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("model-stream-error(after=2,code=StreamBroken)", ModelStreamError),
        ("internal-stream-failure(after=2)", InternalStreamFailure),
        ("cut(after=2)", (IncompleteStreamError, EndpointConnectionError, Exception)),
    ],
)
def test_in_stream_faults(spec: str, error: Any) -> None:
    with serve_h2(CREDS, faults=parse_faults(spec)) as srv, make_client(srv.url) as client:
        resp = client.invoke_endpoint_with_bidirectional_stream(
            EndpointName="echo", Body=[b"a", b"b", b"c", b"d"]
        )
        got = []
        with pytest.raises(error) as info:
            for event in resp["Body"]:
                got.append(event["PayloadPart"]["Bytes"])
        assert got == [b"a", b"b"]
        if isinstance(info.value, ModelStreamError):
            assert info.value.stream_error_code == "StreamBroken"
        resp["Body"].close()


def test_http_error_with_the_http2_service_name() -> None:
    with serve_h2(CREDS, faults=parse_faults("service-unavailable")) as srv:
        with make_client(srv.url, max_attempts=1) as client:
            with pytest.raises(ServiceUnavailableError):
                client.invoke_endpoint_with_bidirectional_stream(EndpointName="echo")


# (fault, endpoint, class, ErrorCode in the response or None, the message's start)
HTTP_ERRORS = [
    ("", "nope", InputValidationError, "InputValidationError", "Endpoint nope of account "),
    ("service-unavailable", "echo", ServiceUnavailableError, "ServiceUnavailableError", "Serv"),
    ("internal-failure", "echo", InternalServerError, "InternalServerError", "An internal "),
    ("model-error(status=502)", "echo", ModelError, "SERVER_ERROR_FROM_MODEL", "Received "),
    ("model-error(code=E7)", "echo", ModelError, "E7", "Received server error (500)"),
    ("throttle", "echo", ThrottlingException, None, "Rate exceeded"),
]


def _check_http_error(
    error: ClientError, cls: type[ClientError], code: str | None, message: str
) -> None:
    # the client parses the emulator's bodies as the service's: the class, the message and the
    # model's ErrorCode (InputValidationError, InternalServerError, ServiceUnavailableError and
    # ModelError have one in the HTTP/2 service's model)
    assert type(error) is cls
    assert error.response["Error"]["Message"].startswith(message)
    assert error.response.get("ErrorCode") == code
    if cls is ModelError:
        assert error.response["OriginalStatusCode"] in (500, 502)
        assert error.response["LogStreamArn"].endswith("/aws/sagemaker/Endpoints/echo")


@pytest.mark.parametrize(("spec", "endpoint", "cls", "code", "message"), HTTP_ERRORS)
def test_http_errors_end_to_end(
    spec: str, endpoint: str, cls: type[ClientError], code: str | None, message: str
) -> None:
    faults = parse_faults(spec) if spec else []
    with serve_h2(CREDS, faults=faults) as srv, make_client(srv.url, max_attempts=1) as client:
        with pytest.raises(ClientError) as info:
            client.invoke_endpoint_with_bidirectional_stream(EndpointName=endpoint)
        _check_http_error(info.value, cls, code, message)


@pytest.mark.parametrize(("spec", "endpoint", "cls", "code", "message"), HTTP_ERRORS)
def test_http_errors_end_to_end_async(
    spec: str, endpoint: str, cls: type[ClientError], code: str | None, message: str
) -> None:
    faults = parse_faults(spec) if spec else []

    async def main(url: str) -> ClientError:
        config = Config(max_attempts=1)
        async with AsyncClient(
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id=CREDS.access_key_id,
            aws_secret_access_key=CREDS.secret_access_key,
            config=config,
            environ={},
        ) as client:
            with pytest.raises(ClientError) as info:
                await client.invoke_endpoint_with_bidirectional_stream(EndpointName=endpoint)
            return info.value

    with serve_h2(CREDS, faults=faults) as srv:
        _check_http_error(asyncio.run(main(srv.url)), cls, code, message)


def test_a_wrong_secret_keeps_its_message() -> None:
    with serve_h2(CREDS) as srv, make_client(srv.url, secret="wrong") as client:
        with pytest.raises(InvalidSignatureException) as info:
            client.invoke_endpoint_with_bidirectional_stream(EndpointName="echo")
    assert "signature we calculated does not match" in info.value.response["Error"]["Message"]
    assert "ErrorCode" not in info.value.response


def test_tls_alpn_h2_with_the_test_certificate() -> None:
    with serve_h2(CREDS, tls=tls_server_context(CERT, KEY)) as srv:
        with make_client(srv.url.replace("127.0.0.1", "localhost"), verify=CERT) as client:
            resp = client.invoke_endpoint_with_bidirectional_stream(
                EndpointName="echo", Body=[b"secure"]
            )
            assert [p["Bytes"] for p in parts_of(resp["Body"])] == [b"secure"]


def test_tls_server_that_refuses_h2() -> None:
    ctx = tls_server_context(CERT, KEY, alpn=("http/1.1",))
    with serve_h2(CREDS, tls=ctx) as srv, make_client(srv.url, verify=CERT) as client:
        with pytest.raises(EndpointConnectionError, match="does not speak HTTP/2"):
            client.invoke_endpoint_with_bidirectional_stream(EndpointName="echo")


def test_through_a_real_proxy_with_tls(proxy_url: str) -> None:
    with serve_h2(CREDS, tls=tls_server_context(CERT, KEY)) as srv:
        client = make_client(srv.url, verify=CERT, proxies={"https": proxy_url})
        with client:
            resp = client.invoke_endpoint_with_bidirectional_stream(
                EndpointName="echo", Body=[b"via", b"proxy"]
            )
            assert [p["Bytes"] for p in parts_of(resp["Body"])] == [b"via", b"proxy"]


def test_async_echo_and_transcribe() -> None:
    async def main() -> None:
        with serve_h2(CREDS) as srv:
            client = AsyncClient.from_client(make_client(srv.url))
            resp = await client.invoke_endpoint_with_bidirectional_stream(EndpointName="echo")
            async with resp["Body"] as stream:
                for i in range(10):
                    await stream.send(bytes([i]) * 1000, DataType="BINARY")
                    event = await stream.__anext__()
                    assert event["PayloadPart"]["Bytes"] == bytes([i]) * 1000
                await stream.close_input()
                assert [e async for e in stream] == []

        async def audio() -> Iterator[Any]:  # type: ignore[misc]
            for _ in range(3):
                yield b"\x01" * 3200

        # a new emulator: the HTTP/2 emulator stops serving once its first connection ends
        with serve_h2(CREDS) as srv:
            client = AsyncClient.from_client(make_client(srv.url))
            resp = await client.invoke_endpoint_with_bidirectional_stream(
                EndpointName="transcribe", Body=audio()
            )
            results = [e["PayloadPart"] async for e in resp["Body"]]
            assert json.loads(results[-1]["Bytes"])["is_final"] is True

    asyncio.run(main())


def test_async_concurrent_senders_keep_the_chain_in_wire_order() -> None:
    # Several tasks send on one stream while the reader lags, so sends meet a full send buffer
    # (the waiting path) as well as room (the at-once path): every event is signed in the
    # order it goes on the wire, or the emulator would end the stream with
    # InvalidSignatureException.
    async def main() -> None:
        with serve_h2(CREDS) as srv:
            client = AsyncClient.from_client(make_client(srv.url))
            resp = await client.invoke_endpoint_with_bidirectional_stream(EndpointName="echo")
            async with resp["Body"] as stream:
                part = 64 * 1024

                async def sender(tag: int) -> None:
                    for i in range(30):
                        await stream.send(bytes([tag]) * (part - i), DataType="BINARY")
                        if i % 7 == 0:
                            await asyncio.sleep(0)

                senders = asyncio.gather(*(sender(tag) for tag in range(4)))
                got: list[bytes] = []
                while len(got) < 4 * 30:
                    event = await stream.__anext__()
                    got.append(event["PayloadPart"]["Bytes"])
                    if len(got) < 20:
                        await asyncio.sleep(0.01)  # lag at first: the buffer fills
                await senders
                await stream.close_input()
                assert [e async for e in stream] == []
            assert sorted((b[0], len(b)) for b in got) == sorted(
                (tag, part - i) for tag in range(4) for i in range(30)
            )

    asyncio.run(asyncio.wait_for(main(), 60))


def test_the_emulator_routes_the_call_by_endpoint_name_like_http11() -> None:
    from smruntime.emulator import Emulator, EmulatorEndpoint
    from smruntime.exceptions import InputValidationError, ValidationError

    endpoints = {"asr": EmulatorEndpoint("echo", duplex="transcribe"), "chatty": "tokens"}
    with Emulator(endpoints=endpoints, account_id="111122223333") as emu:
        creds = emu.credentials
        client = Client(
            region_name=emu.region,
            endpoint_url=emu.url,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            environ={},
        )
        with client:
            audio = [{"PayloadPart": {"Bytes": b"\x00" * 3200, "DataType": "BINARY"}}]
            resp = client.invoke_endpoint_with_bidirectional_stream(EndpointName="asr", Body=audio)
            results = parts_of(resp["Body"])
            assert json.loads(results[-1]["Bytes"])["is_final"] is True  # its duplex model
            resp = client.invoke_endpoint_with_bidirectional_stream(
                EndpointName="chatty", Body=[b"hi"]
            )
            assert [p["Bytes"] for p in parts_of(resp["Body"])] == [b"hi"]  # default: echo
            assert [r.endpoint_name for r in emu.h2_requests] == ["asr", "chatty"]
            with pytest.raises(ValidationError) as http11:
                client.invoke_endpoint(EndpointName="nope", Body=b"x")
            with pytest.raises(InputValidationError) as http2:
                client.invoke_endpoint_with_bidirectional_stream(EndpointName="nope")
            message = "Endpoint nope of account 111122223333 not found."
            assert http11.value.error_message == message
            assert http2.value.error_message == message
            assert http2.value.status_code == 400


def test_an_unknown_duplex_model_is_refused() -> None:
    from smruntime.emulator import EmulatorEndpoint

    with pytest.raises(ValueError, match="duplex model 'nope'; expected echo or transcribe"):
        EmulatorEndpoint("echo", duplex="nope")
