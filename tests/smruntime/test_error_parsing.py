from __future__ import annotations

import json
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smruntime import exceptions as exc
from smruntime._http import HttpHeaders
from smruntime._operations import event_to_dict, parse_error, stream_error

SPEC = Path(__file__).parent.parent / "data" / "spec"
VECTORS = json.loads((SPEC / "sagemaker-runtime" / "test-vectors.json").read_text("utf-8"))
IE = "invoke_endpoint"
IES = "invoke_endpoint_with_response_stream"
IEA = "invoke_endpoint_async"


def _err(
    status: int,
    body: bytes = b"",
    headers: Optional[dict[str, str]] = None,
    op: str = IE,
    retry_attempts: int = 0,
) -> exc.ClientError:
    all_headers = {"x-amzn-RequestId": "req-123", **(headers or {})}
    return parse_error(op, status, HttpHeaders(all_headers), body, retry_attempts=retry_attempts)


# -- code forms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        (
            {},
            b'{"__type":"com.amazonaws.sagemaker#ValidationError","Message":"m"}',
            "ValidationError",
        ),
        ({}, b'{"__type":"ValidationError","message":"m"}', "ValidationError"),
        ({}, b'{"code":"ValidationError:foo","message":"m"}', "ValidationError"),
        ({}, b'{"Code":"ValidationError","Message":"m"}', "ValidationError"),
        (
            {
                "x-amzn-ErrorType": "ValidationError:http://internal.amazon.com/coral/com.amazonaws.sagemaker/"
            },
            b'{"message":"m"}',
            "ValidationError",
        ),
        (
            {"X-AMZN-ERRORTYPE": "aws.protocoltests#ValidationError:http://x"},
            b"{}",
            "ValidationError",
        ),
        ({"x-amzn-ErrorType": "ValidationError"}, b"", "ValidationError"),
        # the header wins over the body
        ({"x-amzn-ErrorType": "ValidationError"}, b'{"__type":"Other"}', "ValidationError"),
        # body "code" wins over "__type"
        ({}, b'{"code":"ValidationError","__type":"Other"}', "ValidationError"),
    ],
)
def test_code_forms(headers: dict[str, str], body: bytes, code: str) -> None:
    err = _err(400, body, headers)
    assert err.error_code == code
    assert type(err) is exc.ValidationError
    assert err.response["Error"]["Code"] == code
    assert err.status_code == 400
    assert err.request_id == "req-123"
    assert err.operation_name == "InvokeEndpoint"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"message":"lower","Message":"upper"}', "lower"),
        (b'{"Message":"upper"}', "upper"),
        (b'{"__type":"ValidationError"}', ""),
        (b'{"message": 5}', "5"),
    ],
)
def test_message_forms(body: bytes, message: str) -> None:
    err = _err(400, body, {"x-amzn-ErrorType": "ValidationError"})
    assert err.error_message == message
    assert err.response["Error"]["Message"] == message


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("ValidationError", 400, exc.ValidationError),
        ("InternalFailure", 500, exc.InternalFailure),
        ("ServiceUnavailable", 503, exc.ServiceUnavailable),
        ("ModelError", 424, exc.ModelError),
        ("InternalDependencyException", 530, exc.InternalDependencyException),
        ("ModelNotReadyException", 429, exc.ModelNotReadyException),
        ("ThrottlingException", 400, exc.ThrottlingException),
        ("AccessDeniedException", 403, exc.AccessDeniedException),
        ("UnrecognizedClientException", 403, exc.UnrecognizedClientException),
        ("InvalidSignatureException", 403, exc.InvalidSignatureException),
        ("ExpiredTokenException", 403, exc.ExpiredTokenException),
        ("IncompleteSignature", 400, exc.ClientError),
        ("SomethingNew", 418, exc.ClientError),
    ],
)
def test_class_per_code(code: str, status: int, cls: type[exc.ClientError]) -> None:
    err = _err(status, json.dumps({"__type": code, "message": "x"}).encode())
    assert type(err) is cls
    assert err.error_code == code
    restored = pickle.loads(pickle.dumps(err))
    assert type(restored) is cls
    assert restored.response == err.response
    assert str(restored) == str(err)


# -- modeled fields ---------------------------------------------------------------------------


def test_model_error_fields() -> None:
    body = json.dumps(
        {
            "Message": 'Received client error (400) from primary with message "bad".',
            "OriginalStatusCode": 400,
            "OriginalMessage": "bad",
            "LogStreamArn": "arn:aws:logs:us-east-1:1:log-group:/aws/sagemaker/Endpoints/ep",
            "ErrorCode": "CLIENT_ERROR_FROM_MODEL",
        }
    ).encode()
    err = _err(424, body, {"x-amzn-ErrorType": "ModelError:http://internal.amazon.com/coral/x/"})
    assert isinstance(err, exc.ModelError)
    assert err.response["OriginalStatusCode"] == 400
    assert err.response["OriginalMessage"] == "bad"
    assert err.response["LogStreamArn"].endswith("/ep")
    assert err.response["Message"].startswith("Received client error")
    assert err.response["ErrorCode"] == "CLIENT_ERROR_FROM_MODEL"
    assert err.original_status_code == 400
    assert err.original_message == "bad"
    assert err.log_stream_arn is not None
    assert err.hint is not None
    assert "log stream arn:aws:logs" in err.hint
    assert "container status 400" in err.hint
    assert "Hint:" not in str(err)  # botocore's one-line str; the hint is a note (3.11+)
    assert getattr(err, "__notes__", [f"Hint: {err.hint}"]) == [f"Hint: {err.hint}"]


def test_model_error_string_status_and_missing_fields() -> None:
    err = _err(424, b'{"__type":"ModelError","OriginalStatusCode":"503","message":"m"}')
    assert isinstance(err, exc.ModelError)
    assert err.response["OriginalStatusCode"] == 503
    assert "LogStreamArn" not in err.response
    assert "Message" not in err.response  # lower-case key: not the modeled member
    assert err.hint is not None
    assert "CloudWatch" in err.hint
    err = _err(424, b'{"__type":"ModelError","OriginalStatusCode":"n/a"}')
    assert err.response["OriginalStatusCode"] == "n/a"


def test_model_error_timeout_hint() -> None:
    message = (
        'Received server error (0) from model with message "Your invocation timed out while '
        'waiting for a response from container model."'
    )
    body = json.dumps({"__type": "ModelError", "Message": message}).encode()
    err = _err(424, body)
    assert err.hint is not None
    assert "60 s" in err.hint


def test_modeled_message_on_simple_errors() -> None:
    err = _err(400, b'{"__type":"ValidationError","Message":"bad thing"}')
    assert err.response["Message"] == "bad thing"
    err = _err(400, b'{"__type":"ThrottlingException","Message":"slow"}')
    assert "Message" not in err.response  # not a modeled shape of this service


# -- generic (non-JSON) responses -------------------------------------------------------------

HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


@pytest.mark.parametrize(
    ("status", "body", "code", "reason", "cls"),
    [
        (502, HTML_502, "502", "Bad Gateway", exc.ClientError),
        (
            504,
            b"<!DOCTYPE html><HTML><body>Gateway Timeout</body></HTML>",
            "504",
            "Gateway Timeout",
            exc.ClientError,
        ),
        (503, b"", "503", "Service Unavailable", exc.ServiceUnavailable),
        (500, b"   \n", "500", "Internal Server Error", exc.InternalFailure),
        (530, b"", "530", "HTTP 530", exc.InternalDependencyException),
        (
            502,
            b"upstream connect error or disconnect/reset before headers",
            "502",
            "Bad Gateway",
            exc.ClientError,
        ),
        (599, b"\xff\xfe\x00garbage", "599", "HTTP 599", exc.ClientError),
    ],
)
def test_generic_5xx(
    status: int, body: bytes, code: str, reason: str, cls: type[exc.ClientError]
) -> None:
    err = _err(status, body, retry_attempts=2)
    assert type(err) is cls
    assert err.error_code == code
    assert err.error_message.startswith(reason)
    if body.strip():
        assert "non-JSON body" in err.error_message
        assert len(err.error_message) < 260
    else:
        assert err.error_message == reason
    assert err.status_code == status
    assert err.request_id == "req-123"
    assert err.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert err.hint is not None
    assert "retried 2 times" in err.hint


def test_504_hint_mentions_model_time() -> None:
    err = _err(504, b"")
    assert err.hint is not None
    assert "60 s" in err.hint
    err = _err(504, b"", op=IEA)
    assert err.hint is not None
    assert "60 s" not in err.hint


def test_5xx_with_error_type_header_is_not_generic() -> None:
    err = _err(503, b"", {"x-amzn-ErrorType": "ServiceUnavailable"})
    assert type(err) is exc.ServiceUnavailable
    assert err.error_code == "ServiceUnavailable"


def test_5xx_json_without_code() -> None:
    err = _err(500, b'{"message":"oops"}')
    assert err.error_code == "500"
    assert err.error_message == "oops"
    assert type(err) is exc.InternalFailure


def test_4xx_html_body() -> None:
    err = _err(403, b"<html><body>" + b"Forbidden " * 500 + b"</body></html>")
    assert err.error_code == "403"
    assert type(err) is exc.ClientError
    assert err.error_message.startswith("<html><body>Forbidden")
    assert len(err.error_message) <= 1024


def test_4xx_non_object_json() -> None:
    err = _err(400, b'["a", "b"]')
    assert err.error_code == "400"
    assert err.error_message == '["a", "b"]'


def test_empty_4xx() -> None:
    err = _err(404, b"")
    assert err.error_code == "404"
    assert err.error_message == ""
    # as botocore (observed: its parser gives Message '', its ClientError prints it so)
    assert str(err) == "An error occurred (404) when calling the InvokeEndpoint operation: "
    without = exc.ClientError({"Error": {"Code": "X"}}, "InvokeEndpoint")
    assert str(without).endswith("operation: Unknown")  # no Message at all: botocore's 'Unknown'


def test_deeply_nested_json_does_not_crash() -> None:
    err = _err(400, b"[" * 100000)
    assert err.error_code == "400"


def test_plain_dict_headers_and_none_body() -> None:
    err = parse_error(
        IE, 400, {"X-Amzn-ErrorType": "ValidationError", "X-Amzn-RequestId": "r"}, None
    )
    assert type(err) is exc.ValidationError
    assert err.request_id == "r"


def test_api_name_accepted() -> None:
    err = parse_error("InvokeEndpointAsync", 400, {}, b'{"__type":"ValidationError"}')
    assert err.operation_name == "InvokeEndpointAsync"


@given(status=st.integers(300, 599), body=st.binary(max_size=200), header=st.text(max_size=30))
def test_parse_error_never_crashes(status: int, body: bytes, header: str) -> None:
    headers = {"x-amzn-ErrorType": header} if header else {}
    err = parse_error(IE, status, headers, body)
    assert isinstance(err, exc.ClientError)
    assert err.error_code
    assert err.status_code == status


# -- hints ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "message", "fragment"),
    [
        (
            400,
            "ValidationError",
            "Inference Component Name header is required for endpoints to which you plan to "
            "deploy inference components.",
            "InferenceComponentName",
        ),
        (400, "ValidationError", "Endpoint ep of account 1 not found.", "region"),
        (
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match",
            "DEBUG",
        ),
        (
            403,
            "InvalidSignatureException",
            "Signature expired: 20240115T000000Z is now earlier than",
            "clock",
        ),
        (
            403,
            "ExpiredTokenException",
            "The security token included in the request is expired",
            "refresh",
        ),
        (
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid",
            "access key",
        ),
        (
            # AWS's words for an unknown access key id too, even when no token was sent
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid",
            "access key id is unknown",
        ),
        (403, "AccessDeniedException", "not authorized", "sagemaker:InvokeEndpoint"),
        (429, "ModelNotReadyException", "Model not ready", "wait"),
        (400, "ThrottlingException", "Rate exceeded", "retried 3 times"),
        (429, "TooManyRequestsException", "Rate exceeded", "throttled"),
        (503, "ServiceUnavailable", "busy", "retried 3 times"),
    ],
)
def test_hints(status: int, code: str, message: str, fragment: str) -> None:
    err = _err(status, json.dumps({"__type": code, "message": message}).encode(), retry_attempts=3)
    assert err.hint is not None, code
    assert fragment in err.hint
    assert str(err) == (
        f"An error occurred ({code}) when calling the InvokeEndpoint operation: {message}"
    )
    if sys.version_info >= (3, 11):
        assert err.__notes__ == [f"Hint: {err.hint}"]


def test_async_access_denied_hint_names_async_action() -> None:
    err = _err(403, b'{"__type":"AccessDeniedException"}', op=IEA)
    assert err.hint is not None
    assert "sagemaker:InvokeEndpointAsync" in err.hint


def test_throttle_not_retried_hint() -> None:
    err = _err(400, b'{"__type":"ThrottlingException"}')
    assert err.hint is not None
    assert "not retried" in err.hint


def test_no_hint_for_plain_validation_error() -> None:
    assert _err(400, b'{"__type":"ValidationError","message":"bad header"}').hint is None


def test_no_secrets_in_error() -> None:
    err = _err(403, b'{"__type":"InvalidSignatureException","message":"sig"}')
    text = str(err) + repr(err.response)
    assert "Authorization" not in text


# -- differential: botocore's parser ----------------------------------------------------------

DIFF_ERRORS: list[tuple[int, dict[str, str], bytes]] = [
    (
        424,
        {"x-amzn-ErrorType": "ModelError:http://internal.amazon.com/coral/x/"},
        b'{"Message":"m","OriginalStatusCode":400,"OriginalMessage":"o","LogStreamArn":"arn"}',
    ),
    (400, {}, b'{"__type":"com.amazonaws.sagemaker#ValidationError","Message":"v"}'),
    (400, {}, b'{"code":"ValidationError:foo","message":"v"}'),
    (400, {}, b'{"Code":"ThrottlingException","Message":"slow"}'),
    (429, {}, b'{"__type":"ModelNotReadyException","Message":"wait"}'),
    (530, {"x-amzn-ErrorType": "InternalDependencyException"}, b'{"Message":"dep"}'),
    (502, {}, HTML_502),
    (503, {}, b""),
    (500, {}, b'{"message":"oops"}'),
    (403, {}, b'{"message":"no code"}'),
    (400, {}, b"not json at all"),
]


@pytest.mark.parametrize(("status", "headers", "body"), DIFF_ERRORS)
def test_same_error_as_botocore(status: int, headers: dict[str, str], body: bytes) -> None:
    parsers = pytest.importorskip("botocore.parsers")
    model_mod = pytest.importorskip("botocore.model")
    awsrequest = pytest.importorskip("botocore.awsrequest")
    raw = json.loads((SPEC / "sagemaker-runtime" / "2017-05-13" / "service-2.json").read_text())
    service = model_mod.ServiceModel(raw)
    op_model = service.operation_model("InvokeEndpoint")
    response = {
        "headers": awsrequest.HeadersDict({"x-amzn-RequestId": "rid", **headers}),
        "status_code": status,
        "body": body,
        "context": {"operation_name": "InvokeEndpoint"},
    }
    parser = parsers.create_parser("rest-json")
    theirs = parser.parse(response, op_model.output_shape)
    code = theirs["Error"]["Code"]
    error_shape = service.shape_for_error_code(code)
    if error_shape is not None:
        theirs.update(parser.parse(response, error_shape))
    ours = _err(status, body, {"x-amzn-RequestId": "rid", **headers}).response
    assert ours["Error"]["Code"] == code
    if body.strip().startswith(b"<") or not body.strip():
        assert ours["Error"]["Message"].startswith(theirs["Error"]["Message"])
    else:
        assert ours["Error"]["Message"] == theirs["Error"]["Message"]
    assert ours["ResponseMetadata"]["RequestId"] == "rid"
    if "RequestId" in theirs["ResponseMetadata"]:  # botocore skips it for generic errors
        assert theirs["ResponseMetadata"]["RequestId"] == "rid"
    for key, value in theirs.items():
        if key not in ("Error", "ResponseMetadata"):
            assert ours[key] == value, key


# -- stream errors ----------------------------------------------------------------------------


@dataclass
class FakeMessage:
    headers: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""


def test_model_stream_error() -> None:
    message = FakeMessage(
        {
            ":message-type": "exception",
            ":exception-type": "ModelStreamError",
            ":content-type": "application/json",
        },
        b'{"Message":"Model timed out","ErrorCode":"ModelInvocationTimeExceeded"}',
    )
    err = stream_error(IES, message)
    assert type(err) is exc.ModelStreamError
    assert err.error_code == "ModelStreamError"
    assert err.error_message == "Model timed out"
    assert err.stream_error_code == "ModelInvocationTimeExceeded"
    assert err.response["ErrorCode"] == "ModelInvocationTimeExceeded"
    assert err.operation_name == "InvokeEndpointWithResponseStream"
    assert err.hint is not None
    assert "allowed time" in err.hint
    assert "ResponseMetadata" not in err.response


def test_stream_broken_hint_and_metadata() -> None:
    message = FakeMessage(
        {":message-type": "exception", ":exception-type": "ModelStreamError"},
        b'{"message":"reset","ErrorCode":"StreamBroken"}',
    )
    err = stream_error(IES, message, response_metadata={"RequestId": "r-9", "HTTPStatusCode": 200})
    assert err is not None
    assert err.error_message == "reset"
    assert err.request_id == "r-9"
    assert err.hint is not None
    assert "broke" in err.hint


def test_internal_stream_failure() -> None:
    message = FakeMessage(
        {":message-type": b"exception", ":exception-type": b"InternalStreamFailure"},
        b'{"Message":"try again"}',
    )
    err = stream_error(IES, message)
    assert type(err) is exc.InternalStreamFailure
    assert err.error_message == "try again"
    assert err.hint is not None
    assert "retry" in err.hint


def test_unknown_exception_type() -> None:
    message = FakeMessage(
        {":message-type": "exception", ":exception-type": "NewThing", ":error-message": "hm"}, b""
    )
    err = stream_error(IES, message)
    assert type(err) is exc.EventStreamError  # botocore's class name for in-stream errors
    assert err.error_code == "NewThing"
    assert err.error_message == "hm"
    message = FakeMessage({":message-type": "exception"}, b"plain text failure")
    err = stream_error(IES, message)
    assert err is not None
    assert err.error_code == "Unknown"
    assert err.error_message == "plain text failure"


def test_generic_error_message() -> None:
    message = FakeMessage(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}
    )
    err = stream_error(IES, message)
    assert type(err) is exc.InternalFailure
    assert err.error_code == "InternalFailure"
    assert err.error_message == "boom"
    assert err.status_code is None


@pytest.mark.parametrize("headers", [{}, {":message-type": "weird"}])
def test_missing_or_unknown_message_type_is_an_error(headers: dict[str, Any]) -> None:
    err = stream_error(IES, FakeMessage(headers, b"x"))
    assert err is not None
    assert err.error_code == "UnknownMessageType"
    with pytest.raises(exc.ClientError):
        event_to_dict(FakeMessage(headers, b"x"))


def test_events() -> None:
    part = FakeMessage({":message-type": "event", ":event-type": "PayloadPart"}, b'{"token":"Hi"}')
    assert stream_error(IES, part) is None
    assert event_to_dict(part) == {"PayloadPart": {"Bytes": b'{"token":"Hi"}'}}
    empty = FakeMessage({":message-type": "event", ":event-type": "PayloadPart"}, b"")
    assert event_to_dict(empty) == {"PayloadPart": {"Bytes": b""}}
    unknown = FakeMessage({":message-type": "event", ":event-type": "SomethingNew"}, b"{}")
    assert stream_error(IES, unknown) is None
    assert event_to_dict(unknown) is None
    no_type = FakeMessage({":message-type": "event"}, b"{}")
    assert event_to_dict(no_type) is None


def test_event_to_dict_raises_for_exceptions() -> None:
    message = FakeMessage(
        {":message-type": "exception", ":exception-type": "InternalStreamFailure"},
        b'{"Message":"x"}',
    )
    with pytest.raises(exc.InternalStreamFailure):
        event_to_dict(message)


@pytest.mark.parametrize("vector", VECTORS["eventstream"], ids=lambda v: v["name"])
def test_eventstream_vectors(vector: dict[str, Any]) -> None:
    eventstream = pytest.importorskip("eventstream")
    messages = eventstream.decode(bytes.fromhex(vector["hex"]))
    assert len(messages) == 1
    message = messages[0]
    expected = vector["expected"]
    if "raise" in expected:
        err = stream_error(IES, message)
        assert err is not None
        assert err.error_code == expected["raise"]["Code"]
        assert err.error_message == expected["raise"]["Message"]
        for key, value in expected["raise"].items():
            if key.startswith("ErrorCode"):
                assert err.response["ErrorCode"] == value
    elif "PayloadPart" in expected:
        assert stream_error(IES, message) is None
        assert event_to_dict(message) == {
            "PayloadPart": {"Bytes": expected["PayloadPart"]["Bytes_utf8"].encode()}
        }
    else:
        assert stream_error(IES, message) is None
        assert event_to_dict(message) is None


@given(
    headers=st.dictionaries(
        st.sampled_from(
            [":message-type", ":event-type", ":exception-type", ":error-code", ":error-message"]
        ),
        st.one_of(st.text(max_size=20), st.binary(max_size=20), st.integers(), st.booleans()),
    ),
    payload=st.binary(max_size=100),
)
def test_stream_functions_never_crash(headers: dict[str, Any], payload: bytes) -> None:
    message = FakeMessage(headers, payload)
    err = stream_error(IES, message)
    if err is None:
        result = event_to_dict(message)
        assert result is None or set(result) == {"PayloadPart"}
    else:
        assert isinstance(err, exc.ClientError)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'"n/a"', None),
        (b"1e400", None),  # inf
        (b"424.5", None),
        (b"true", None),
        (b'"' + b"9" * 5000 + b'"', None),
        (b'"\xc2\xb2"', None),  # a superscript two: isdigit() but not int()
        (b"[400]", None),
        (b'" 503 "', 503),
        (b"500.0", 500),
    ],
)
def test_model_error_original_status_code_never_raises(raw: bytes, expected: Any) -> None:
    err = _err(424, b'{"__type":"ModelError","OriginalStatusCode":' + raw + b"}")
    assert isinstance(err, exc.ModelError)
    assert err.original_status_code == expected
