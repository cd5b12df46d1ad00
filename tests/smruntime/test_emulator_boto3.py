"""boto3 pointed at the emulator: the emulator must look like the real service to the SDK."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from smruntime.emulator import Emulator, EmulatorRequest, Fault, Tokens

boto3 = pytest.importorskip("boto3")
botocore_config = pytest.importorskip("botocore.config")
botocore_session = pytest.importorskip("botocore.session")
pytest.importorskip("boto3.session")
botocore_exceptions = pytest.importorskip("botocore.exceptions")
urllib3_exceptions = pytest.importorskip("urllib3.exceptions")


SPEC = Path(__file__).resolve().parent.parent / "data" / "spec"


@functools.cache
def _core_session() -> Any:
    """One botocore session for the module's clients (they pass their keys and region): it loads
    the service model and the endpoint rules once, not for each client (50 ms or more each)."""
    # The newest model (vendored), not the installed botocore's: Python 3.9 resolves an older
    # botocore whose model predates members such as InvokeEndpointAsync's inline Body.
    core = botocore_session.Session()
    core.get_component("data_loader").search_paths.insert(0, str(SPEC))
    return core


def make_client(emu: Emulator, *, secret: str | None = None, attempts: int = 1) -> Any:
    creds = emu.credentials
    return boto3.session.Session(botocore_session=_core_session()).client(
        "sagemaker-runtime",
        endpoint_url=emu.url,
        region_name=emu.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=secret or creds.secret_access_key,
        aws_session_token=creds.session_token,
        config=botocore_config.Config(
            retries={"mode": "standard", "total_max_attempts": attempts},
            connect_timeout=5,
            read_timeout=10,
        ),
    )


@pytest.fixture
def client(emulator: Emulator) -> Iterator[Any]:
    c = make_client(emulator)
    yield c
    c.close()


def test_invoke_endpoint(client: Any, emulator: Emulator) -> None:
    response = client.invoke_endpoint(
        EndpointName="echo",
        Body=b'{"x": 1}',
        ContentType="application/json",
        Accept="application/json",
        CustomAttributes="a=b",
        InferenceId="inf-1",
    )
    assert response["Body"].read() == b'{"x": 1}'
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    request = emulator.requests[-1]
    assert response["ResponseMetadata"]["RequestId"] == request.request_id
    assert request.custom_attributes == "a=b"
    assert request.headers["X-Amzn-SageMaker-Inference-Id"] == "inf-1"


def test_invoke_endpoint_with_response_stream(client: Any) -> None:
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="tokens",
        Body=json.dumps({"inputs": "hi there"}),
        ContentType="application/json",
    )
    assert response["ContentType"] == "text/event-stream"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    with closing(response["Body"]):
        parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert len(parts) == 5
    last = json.loads(parts[-1].decode()[len("data:") :])
    assert last["generated_text"] == "You said: hi there"


def test_invoke_endpoint_async(client: Any, tmp_path: Path) -> None:
    with Emulator({"echo": "echo"}, results_dir=tmp_path) as emu:
        c = make_client(emu)
        response = c.invoke_endpoint_async(
            EndpointName="echo", Body=b"async!", ContentType="text/plain", InferenceId="abc"
        )
        c.close()
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
        assert response["InferenceId"] == "abc"
        assert response["OutputLocation"] == "s3://sagemaker-emulator/async-outputs/abc.out"
        assert response["FailureLocation"].startswith("s3://sagemaker-emulator/async-failures/")
        assert emu.local_path(response["OutputLocation"]).read_bytes() == b"async!"
        assert emu.requests[-1].content_type == "text/plain"


def test_model_error(client: Any) -> None:
    with pytest.raises(client.exceptions.ModelError) as info:
        client.invoke_endpoint(
            EndpointName="echo",
            Body=b"x",
            CustomAttributes="emulator-fault=model-error(status=400,message=bad shape)",
        )
    response = info.value.response
    assert response["Error"]["Code"] == "ModelError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["OriginalStatusCode"] == 400
    assert response["OriginalMessage"] == "bad shape"
    assert response["LogStreamArn"].endswith(":log-group:/aws/sagemaker/Endpoints/echo")


def test_model_error_on_stream(client: Any) -> None:
    with pytest.raises(client.exceptions.ModelError):
        client.invoke_endpoint_with_response_stream(
            EndpointName="echo", Body=b"x", CustomAttributes="emulator-fault=model-error"
        )


@pytest.mark.parametrize("code", ["ModelInvocationTimeExceeded", "StreamBroken"])
def test_model_stream_error(client: Any, code: str) -> None:
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="echo",
        Body=b"y" * 40,
        CustomAttributes=f"emulator-fault=model-stream-error(after=1,code={code})",
    )
    events = []
    with closing(response["Body"]), pytest.raises(botocore_exceptions.EventStreamError) as info:
        for event in response["Body"]:
            events.append(event)
    assert events == [{"PayloadPart": {"Bytes": b"y" * 16}}]
    assert info.value.response["Error"]["Code"] == "ModelStreamError"
    assert info.value.response["Error"]["Message"]


def test_internal_stream_failure(client: Any) -> None:
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="echo",
        Body=b"y",
        CustomAttributes="emulator-fault=internal-stream-failure",
    )
    with closing(response["Body"]), pytest.raises(botocore_exceptions.EventStreamError) as info:
        list(response["Body"])
    assert info.value.response["Error"]["Code"] == "InternalStreamFailure"


def test_validation_error(client: Any) -> None:
    with pytest.raises(client.exceptions.ValidationError) as info:
        client.invoke_endpoint(EndpointName="missing", Body=b"x")
    assert info.value.response["Error"]["Message"] == (
        "Endpoint missing of account 123456789012 not found."
    )


def test_a_non_ascii_custom_attributes_is_the_patterns_validation_error(client: Any) -> None:
    # boto3 signs it as UTF-8; the service's answer is the \p{ASCII}* pattern's 400, not a 403
    with pytest.raises(client.exceptions.ValidationError) as info:
        client.invoke_endpoint(EndpointName="echo", Body=b"x", CustomAttributes="caf\u00e9")
    message = info.value.response["Error"]["Message"]
    assert "Value at 'customAttributes' failed to satisfy constraint" in message


@pytest.mark.usefixtures("small_jitter")
def test_throttling_is_retried_by_boto3(emulator: Emulator) -> None:
    c = make_client(emulator, attempts=3)
    try:
        response = c.invoke_endpoint(
            EndpointName="echo", Body=b"x", CustomAttributes="emulator-fault=throttle(count=2)"
        )
    finally:
        c.close()
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert [r.status for r in emulator.requests] == [400, 400, 200]


def test_service_unavailable(client: Any) -> None:
    with pytest.raises(client.exceptions.ServiceUnavailable):
        client.invoke_endpoint(
            EndpointName="echo", Body=b"x", CustomAttributes="emulator-fault=service-unavailable"
        )


def test_wrong_secret(emulator: Emulator) -> None:
    c = make_client(emulator, secret="wrong-secret")
    try:
        with pytest.raises(botocore_exceptions.ClientError) as info:
            c.invoke_endpoint(EndpointName="echo", Body=b"x")
    finally:
        c.close()
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_stream_cut_raises(client: Any) -> None:
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="echo", Body=b"z" * 40, CustomAttributes="emulator-fault=cut(after=1)"
    )
    # botocore lets urllib3's error through from the event-stream iterator.
    with closing(response["Body"]), pytest.raises(urllib3_exceptions.ProtocolError):
        list(response["Body"])


def test_callable_handler_via_boto3() -> None:
    def upper(request: EmulatorRequest) -> Iterator[bytes]:
        for word in request.body.split():
            yield word.upper() + b"\n"

    with Emulator({"upper": upper, "slow": Tokens(delay=0.001, text="a b c")}) as emu:
        c = make_client(emu)
        try:
            response = c.invoke_endpoint_with_response_stream(EndpointName="upper", Body=b"a b")
            assert [e["PayloadPart"]["Bytes"] for e in response["Body"]] == [b"A\n", b"B\n"]
            plain = c.invoke_endpoint(EndpointName="upper", Body=b"a b")
            assert plain["Body"].read() == b"A\nB\n"
        finally:
            c.close()


def test_fault_object_spec_in_custom_attributes(client: Any) -> None:
    spec = Fault.model_not_ready().spec()
    with pytest.raises(client.exceptions.ModelNotReadyException):
        client.invoke_endpoint(
            EndpointName="echo", Body=b"x", CustomAttributes=f"emulator-fault={spec}"
        )


def test_new_session_id(client: Any, emulator: Emulator) -> None:
    response = client.invoke_endpoint(EndpointName="echo", Body=b"x", SessionId="NEW_SESSION")
    session_id, _, expires = response["NewSessionId"].partition("; Expires=")
    assert session_id in emulator.sessions
    assert expires.endswith("Z")


def test_async_model_error_is_reported_in_the_failure_location(client: Any) -> None:
    response = client.invoke_endpoint_async(
        EndpointName="echo", Body=b"x", CustomAttributes="emulator-fault=model-error"
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert response["FailureLocation"].endswith(f"{response['InferenceId']}-error.out")
