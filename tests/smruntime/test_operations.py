from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smruntime._http import HttpHeaders, HttpRequest
from smruntime._operations import (
    OPERATIONS,
    build_request,
    encode_label,
    get_operation,
    parse_response,
    response_metadata,
    validate,
)
from smruntime.exceptions import ParamValidationError

SPEC = Path(__file__).parent.parent / "data" / "spec"
VECTORS = json.loads((SPEC / "sagemaker-runtime" / "test-vectors.json").read_text("utf-8"))
IE = "invoke_endpoint"
IEA = "invoke_endpoint_async"
IES = "invoke_endpoint_with_response_stream"
BASE = "https://runtime.sagemaker.us-east-1.amazonaws.com"
_SIGNING_HEADERS = {"x-amz-date", "authorization", "x-amz-security-token", "content-length"}


def _minimal(op: str) -> dict[str, Any]:
    if op == IEA:
        return {"EndpointName": "ep", "InputLocation": "s3://bucket/key"}
    return {"EndpointName": "ep", "Body": b"{}"}


def _rejects(
    op: str, params: Mapping[str, Any], param: str, *fragments: str, strict: bool = True
) -> str:
    """``params`` are refused (by default under ``strict``, botocore's checks plus the model's
    patterns and maximums)."""
    with pytest.raises(ParamValidationError) as info:
        validate(op, params, strict=strict)
    err = info.value
    assert err.param == param
    assert err.operation_name == get_operation(op).name
    assert isinstance(err, ValueError)
    for fragment in fragments:
        assert fragment in str(err), str(err)
    return str(err)


# -- golden requests --------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS["sigv4"], ids=lambda v: v["operation"])
def test_golden_requests_match_botocore_vectors(vector: dict[str, Any]) -> None:
    base = vector["url"].split("/endpoints/")[0]
    request = build_request(
        vector["operation"],
        vector["params"],
        base,
        validate_params=" " not in vector["params"]["EndpointName"],
    )
    assert request.method == vector["method"]
    assert request.url == vector["url"]
    assert request.body == vector["body_utf8"].encode("utf-8")
    expected = [
        (k, v) for k, v in vector["headers_sent"].items() if k.lower() not in _SIGNING_HEADERS
    ]
    assert request.headers == expected


def test_invoke_endpoint_all_headers_exact() -> None:
    params = {
        "EndpointName": "my-ep",
        "Body": b"\x00\x01",
        "ContentType": "application/json",
        "Accept": "application/jsonlines",
        "CustomAttributes": "c=1",
        "TargetModel": "m.tar.gz",
        "TargetVariant": "v-1",
        "TargetContainerHostname": "host-1",
        "InferenceId": "id 1",
        "EnableExplanations": "`true`",
        "InferenceComponentName": "ic-a",
        "SessionId": "NEW_SESSION",
        "PrefixAwareId": "p-1",
    }
    request = build_request(IE, params, BASE)
    assert request == HttpRequest(
        method="POST",
        url=BASE + "/endpoints/my-ep/invocations",
        headers=[
            ("Content-Type", "application/json"),
            ("Accept", "application/jsonlines"),
            ("X-Amzn-SageMaker-Custom-Attributes", "c=1"),
            ("X-Amzn-SageMaker-Target-Model", "m.tar.gz"),
            ("X-Amzn-SageMaker-Target-Variant", "v-1"),
            ("X-Amzn-SageMaker-Target-Container-Hostname", "host-1"),
            ("X-Amzn-SageMaker-Inference-Id", "id 1"),
            ("X-Amzn-SageMaker-Enable-Explanations", "`true`"),
            ("X-Amzn-SageMaker-Inference-Component", "ic-a"),
            ("X-Amzn-SageMaker-Session-Id", "NEW_SESSION"),
            ("X-Amzn-SageMaker-Prefix-Aware-Id", "p-1"),
        ],
        body=b"\x00\x01",
    )


def test_stream_headers_exact() -> None:
    params = {
        "EndpointName": "llm",
        "Body": '{"inputs":"hé"}',
        "ContentType": "application/json",
        "Accept": "application/jsonlines",
        "CustomAttributes": "x",
        "TargetVariant": "AllTraffic",
        "TargetContainerHostname": "c",
        "InferenceId": "i",
        "InferenceComponentName": "ic",
        "SessionId": "sess-1",
        "PrefixAwareId": "conv-9",
    }
    request = build_request(IES, params, BASE)
    assert request.url == BASE + "/endpoints/llm/invocations-response-stream"
    assert request.body == '{"inputs":"hé"}'.encode()
    assert request.headers == [
        ("Content-Type", "application/json"),
        ("X-Amzn-SageMaker-Accept", "application/jsonlines"),
        ("X-Amzn-SageMaker-Custom-Attributes", "x"),
        ("X-Amzn-SageMaker-Target-Variant", "AllTraffic"),
        ("X-Amzn-SageMaker-Target-Container-Hostname", "c"),
        ("X-Amzn-SageMaker-Inference-Id", "i"),
        ("X-Amzn-SageMaker-Inference-Component", "ic"),
        ("X-Amzn-SageMaker-Session-Id", "sess-1"),
        ("X-Amzn-SageMaker-Prefix-Aware-Id", "conv-9"),
    ]


def test_async_headers_exact() -> None:
    params = {
        "EndpointName": "a",
        "ContentType": "text/csv",
        "Accept": "text/csv",
        "CustomAttributes": "k=v",
        "InferenceId": "inf",
        "InputLocation": "s3://b/k.csv",
        "S3OutputPathExtension": "out/dir",
        "Filename": "result.csv",
        "RequestTTLSeconds": 60,
        "InvocationTimeoutSeconds": 3600,
    }
    request = build_request(IEA, params, BASE)
    assert request.url == BASE + "/endpoints/a/async-invocations"
    assert request.body == b""
    assert request.headers == [
        ("X-Amzn-SageMaker-Content-Type", "text/csv"),
        ("X-Amzn-SageMaker-Accept", "text/csv"),
        ("X-Amzn-SageMaker-Custom-Attributes", "k=v"),
        ("X-Amzn-SageMaker-Inference-Id", "inf"),
        ("X-Amzn-SageMaker-InputLocation", "s3://b/k.csv"),
        ("X-Amzn-SageMaker-S3OutputPathExtension", "out/dir"),
        ("X-Amzn-SageMaker-Filename", "result.csv"),
        ("X-Amzn-SageMaker-RequestTTLSeconds", "60"),
        ("X-Amzn-SageMaker-InvocationTimeoutSeconds", "3600"),
    ]


def test_async_inline_body() -> None:
    request = build_request(IEA, {"EndpointName": "a", "Body": b"1,2,3"}, BASE)
    assert request.body == b"1,2,3"
    assert request.headers == []


def test_no_default_content_type() -> None:
    request = build_request(IE, {"EndpointName": "ep", "Body": b"x"}, BASE)
    assert request.headers == []


def test_none_values_are_absent_without_validation() -> None:
    params = {"EndpointName": "ep", "Body": b"x", "ContentType": None, "TargetVariant": None}
    request = build_request(IE, params, BASE, validate_params=False)
    assert request.headers == []
    # validated (the default), None is a type error, as in botocore
    _rejects(IE, params, "ContentType", "expected a str, got NoneType")


@pytest.mark.parametrize(
    ("endpoint_url", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/endpoints/ep/invocations"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/endpoints/ep/invocations"),
        ("https://proxy.example/sm/", "https://proxy.example/sm/endpoints/ep/invocations"),
        ("http://[::1]:9000", "http://[::1]:9000/endpoints/ep/invocations"),
    ],
)
def test_url_join(endpoint_url: str, expected: str) -> None:
    assert build_request(IE, _minimal(IE), endpoint_url).url == expected


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("my-endpoint", "my-endpoint"),
        ("my endpoint", "my%20endpoint"),
        ("my endpoint/x", "my%20endpoint%2Fx"),
        ("a/b", "a%2Fb"),
        ("A_b.c~d", "A_b.c~d"),
        ("a?b#c", "a%3Fb%23c"),
        ("100%", "100%25"),
        ("ü", "%C3%BC"),
        ("a+b", "a%2Bb"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a..b", "a..b"),
    ],
)
def test_label_encoding(name: str, encoded: str) -> None:
    assert encode_label(name) == encoded
    request = build_request(IE, {"EndpointName": name, "Body": b""}, BASE, validate_params=False)
    assert request.url == f"{BASE}/endpoints/{encoded}/invocations"


@given(st.text(min_size=1, max_size=40))
def test_label_encoding_is_reversible(name: str) -> None:
    from urllib.parse import unquote

    encoded = encode_label(name.replace("\ud800", ""))  # lone surrogates cannot be UTF-8
    assert "/" not in encoded
    assert all(c.isascii() and c not in " ?#" for c in encoded)
    assert unquote(encoded) == name.replace("\ud800", "")


# -- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"raw", b"raw"),
        (bytearray(b"ba"), b"ba"),
        (memoryview(b"mv"), b"mv"),
        ("héllo", "héllo".encode()),
        (io.BytesIO(b"file"), b"file"),
        (io.StringIO("text file"), b"text file"),
        (b"", b""),
        ("", b""),
    ],
)
def test_body_types(body: Any, expected: bytes) -> None:
    request = build_request(IE, {"EndpointName": "ep", "Body": body}, BASE)
    assert request.body == expected
    assert isinstance(request.body, bytes)


@pytest.mark.parametrize("bad", [123, 1.5, ["a"], {"a": 1}, True, object()])
def test_body_wrong_type(bad: Any) -> None:
    _rejects(IE, {"EndpointName": "ep", "Body": bad}, "Body", "expected bytes")
    with pytest.raises(ParamValidationError, match="expected bytes"):
        build_request(IE, {"EndpointName": "ep", "Body": bad}, BASE, validate_params=False)


def test_body_lone_surrogate() -> None:
    _rejects(IE, {"EndpointName": "ep", "Body": "a\ud800"}, "Body", "UTF-8", "index 1")


def test_body_file_returning_garbage() -> None:
    class Weird:
        def read(self, n: int = -1) -> int:
            return 5

    with pytest.raises(ParamValidationError, match="returned int"):
        build_request(IE, {"EndpointName": "ep", "Body": Weird()}, BASE)


@pytest.mark.parametrize(("op", "limit"), [(IE, 6291456), (IES, 6291456), (IEA, 128000)])
def test_body_size_limits(op: str, limit: int) -> None:
    params: dict[str, Any] = {"EndpointName": "ep", "Body": b"x" * limit}
    validate(op, params)
    assert len(build_request(op, params, BASE).body) == limit
    params["Body"] = b"x" * (limit + 1)
    message = _rejects(op, params, "Body", f"{limit + 1} bytes", f"limit of {limit}")
    assert ("InputLocation" in message) == (op == IEA)
    with pytest.raises(ParamValidationError, match=f"limit of {limit}"):
        build_request(op, params, BASE, strict=True)
    # by default (botocore's checks) the body goes to the service, which decides
    assert len(build_request(op, params, BASE).body) == limit + 1
    # a str counts its UTF-8 bytes
    params["Body"] = "é" * (limit // 2 + 1)
    _rejects(op, params, "Body", "limit")
    # with validation off the body is sent as is (the service decides)
    params["Body"] = b"x" * (limit + 1)
    assert len(build_request(op, params, BASE, validate_params=False).body) == limit + 1


def test_file_body_size_checked_without_reading_it_all() -> None:
    class Counting(io.BytesIO):
        asked: list[int]

        def read(self, n: int | None = -1) -> bytes:
            self.asked.append(-1 if n is None else n)
            return super().read(n)

    body = Counting(b"x" * 7_000_000)
    body.asked = []
    with pytest.raises(ParamValidationError, match="6291457 bytes"):
        build_request(IE, {"EndpointName": "ep", "Body": body}, BASE, strict=True)
    assert body.asked == [6291457]


# -- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_minimal_params_valid(op: str) -> None:
    validate(op, _minimal(op))
    validate(get_operation(op).name, _minimal(op))


def test_unknown_operation() -> None:
    with pytest.raises(ParamValidationError, match="unknown operation"):
        validate("invoke", {})
    with pytest.raises(ParamValidationError, match="unknown operation"):
        build_request("nope", {}, BASE)


def test_params_not_a_mapping() -> None:
    with pytest.raises(ParamValidationError, match="mapping"):
        validate(IE, [("EndpointName", "x")])  # type: ignore[arg-type]
    with pytest.raises(ParamValidationError, match="mapping"):
        build_request(IE, "x", BASE, validate_params=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("op", "name", "suggestion"),
    [
        (IE, "Endpointname", "EndpointName"),
        (IE, "endpoint_name", "EndpointName"),
        (IE, "InferenceComponent", "InferenceComponentName"),
        (IE, "TargetVarient", "TargetVariant"),
        (IES, "ContentTyp", "ContentType"),
        (IEA, "Inputlocation", "InputLocation"),
        (IEA, "RequestTTL", "RequestTTLSeconds"),
    ],
)
def test_unknown_param_suggests(op: str, name: str, suggestion: str) -> None:
    params = {**_minimal(op), name: "x"}
    msg = _rejects(op, params, name, f"did you mean {suggestion}?", "valid parameters are")
    assert "EndpointName" in msg


def test_unknown_param_from_other_operation() -> None:
    params = {**_minimal(IES), "TargetModel": "m.tar.gz"}
    _rejects(IES, params, "TargetModel", "belongs to InvokeEndpoint")
    params = {**_minimal(IE), "InputLocation": "s3://b/k"}
    _rejects(IE, params, "InputLocation", "belongs to InvokeEndpointAsync")


def test_unknown_param_without_suggestion() -> None:
    _rejects(IE, {**_minimal(IE), "Zzzzzz": 1}, "Zzzzzz", "valid parameters are")
    odd: dict[Any, Any] = {**_minimal(IE), 5: 1}
    _rejects(IE, odd, "5", "unknown parameter")


@pytest.mark.parametrize(
    ("op", "missing"), [(IE, "EndpointName"), (IE, "Body"), (IES, "Body"), (IEA, "EndpointName")]
)
def test_missing_required(op: str, missing: str) -> None:
    params = _minimal(op)
    del params[missing]
    _rejects(op, params, missing, "missing required parameter")
    params[missing] = None  # botocore: "Invalid type for parameter ..., value: None"
    _rejects(op, params, missing, "got NoneType")


def test_missing_endpoint_name_even_without_validation() -> None:
    with pytest.raises(ParamValidationError, match="EndpointName"):
        build_request(IE, {"Body": b""}, BASE, validate_params=False)
    with pytest.raises(ParamValidationError, match="EndpointName"):
        build_request(IE, {"EndpointName": "", "Body": b""}, BASE, validate_params=False)


def test_async_body_xor_input_location() -> None:
    _rejects(IEA, {"EndpointName": "a"}, "InputLocation", "InputLocation", "Body")
    _rejects(
        IEA,
        {"EndpointName": "a", "Body": b"x", "InputLocation": "s3://b/k"},
        "Body",
        "exclude each other",
    )


# (op, param, valid values, invalid values with an expected fragment of the reason)
STRING_CASES: list[tuple[str, str, list[str], list[tuple[str, str]]]] = [
    (
        IE,
        "EndpointName",
        ["a", "my-endpoint", "a--b", "A1", "x" * 63],
        [
            ("", "empty string is not allowed"),
            ("-a", "pattern"),
            ("a-", "pattern"),
            ("a_b", "pattern"),
            ("a b", "pattern"),
            ("a/b", "pattern"),
            ("x" * 64, "maximum of 63"),
        ],
    ),
    (
        IE,
        "ContentType",
        ["", "application/json", "text/csv; charset=utf-8", "x" * 1024],
        [("x" * 1025, "maximum of 1024"), ("é", "pattern"), ("a\r\nX-Evil: 1", "CR, LF or NUL")],
    ),
    (IE, "Accept", ["*/*"], [("ü", "pattern"), ("a\x00", "CR, LF or NUL")]),
    (
        IE,
        "CustomAttributes",
        ["k=v;k2=v2", "x" * 1024],
        [("x" * 1025, "maximum"), ("secret\u00e9", "pattern")],
    ),
    (
        IE,
        "TargetModel",
        ["model.tar.gz", "a b c", "x" * 1024],
        [("", "minimum of 1"), (" a", "pattern"), ("\ta", "printable"), ("x" * 1025, "maximum")],
    ),
    (IE, "TargetVariant", ["AllTraffic", "v-1"], [("v_1", "pattern"), ("x" * 64, "maximum")]),
    (IE, "TargetContainerHostname", ["c1"], [("c.1", "pattern"), ("-c", "pattern")]),
    (
        IE,
        "InferenceId",
        ["id-1", "id with spaces", "x" * 64],
        [
            ("", "minimum"),
            ("x" * 65, "maximum"),
            (" lead", "pattern"),
            ("\u00e9", "printable ASCII"),
        ],
    ),
    (
        IE,
        "EnableExplanations",
        ["`true`", "`false`", "x" * 64],
        [("", "minimum"), ("x" * 65, "maximum"), ("a\nb", "pattern"), ("a\tb\x7f", "printable")],
    ),
    (
        IE,
        "InferenceComponentName",
        ["ic", "ic-1", "a--b", "x" * 63],
        [("-ic", "pattern"), ("ic-", "pattern"), ("ic_1", "pattern"), ("x" * 64, "maximum")],
    ),
    (
        IE,
        "SessionId",
        ["NEW_SESSION", "abc-123", "x" * 256],
        [("new_session", "pattern"), ("NEW_SESSION2", "pattern"), ("x" * 257, "maximum")],
    ),
    (IES, "SessionId", ["abc-123"], [("NEW_SESSION", "pattern")]),
    (
        IE,
        "PrefixAwareId",
        ["conv-1", "x" * 64],
        [("", "minimum"), ("x" * 65, "maximum"), (" x", "pattern")],
    ),
    (IES, "PrefixAwareId", ["p"], [("", "minimum")]),
    (IES, "InferenceComponentName", ["ic"], [("ic!", "pattern")]),
    (IES, "Accept", ["application/json"], [("x" * 1025, "maximum")]),
    (
        IEA,
        "InputLocation",
        ["s3://bucket/key.json", "https://host/path?x=1", "s3://bucket", "s3://b/"],
        [
            ("", "minimum"),
            ("http://host/x", "pattern"),
            ("s3:///key", "pattern"),
            ("bucket/key", "pattern"),
            ("s3://" + "b" * 1020, "maximum"),
        ],
    ),
    (
        IEA,
        "S3OutputPathExtension",
        ["out", "a/b/c", "x!_.*'()-"],
        [("", "minimum"), ("s3:x", "pattern"), ("https:x", "pattern"), ("a b", "pattern")],
    ),
    (
        IEA,
        "Filename",
        ["a", "out.json", "a-b_c", "x" * 32],
        [("", "minimum"), ("a.b.c", "pattern"), ("_a", "pattern"), ("x" * 33, "maximum")],
    ),
    (IEA, "ContentType", ["text/csv"], [("x" * 1025, "maximum")]),
    (IEA, "InferenceId", ["i"], [("", "minimum")]),
]


@pytest.mark.parametrize(
    ("op", "param", "good", "bad"), STRING_CASES, ids=[f"{c[0]}.{c[1]}" for c in STRING_CASES]
)
def test_string_constraints(
    op: str, param: str, good: list[str], bad: list[tuple[str, str]]
) -> None:
    base = _minimal(op)
    if param == "InputLocation":
        base.pop("InputLocation")
    for value in good:
        validate(op, {**base, param: value})
    for value, fragment in bad:
        _rejects(op, {**base, param: value}, param, fragment)


@pytest.mark.parametrize("op", list(OPERATIONS))
def test_string_members_reject_other_types(op: str) -> None:
    for member in get_operation(op).input.values():
        if member.location == "payload":
            continue
        params = {**_minimal(op)}
        if member.shape.type == "integer":
            bad_ints: tuple[Any, ...] = ("60", 60.0, True, [60])
            for bad in bad_ints:
                _rejects(op, {**params, member.name: bad}, member.name, "expected an int")
        else:
            bad_strs: tuple[Any, ...] = (1, b"x", ["x"], True)
            for bad in bad_strs:
                _rejects(op, {**params, member.name: bad}, member.name, "expected a str")


@pytest.mark.parametrize(
    ("param", "low", "high"),
    [("RequestTTLSeconds", 60, 21600), ("InvocationTimeoutSeconds", 1, 3600)],
)
def test_integer_ranges(param: str, low: int, high: int) -> None:
    base = _minimal(IEA)
    validate(IEA, {**base, param: low})
    validate(IEA, {**base, param: high})
    _rejects(IEA, {**base, param: low - 1}, param, f"below the minimum of {low}")
    _rejects(IEA, {**base, param: high + 1}, param, f"above the maximum of {high}")


def test_sensitive_values_not_echoed() -> None:
    msg = _rejects(IE, {**_minimal(IE), "CustomAttributes": "tok=s3cr3t\u00e9"}, "CustomAttributes")
    assert "s3cr3t" not in msg
    msg = _rejects(IE, {**_minimal(IE), "TargetVariant": "bad_variant"}, "TargetVariant")
    assert "bad_variant" in msg


def test_header_injection_blocked_without_validation() -> None:
    params = {"EndpointName": "ep", "Body": b"", "ContentType": "a\r\nX-Evil: 1"}
    with pytest.raises(ParamValidationError, match="CR, LF or NUL"):
        build_request(IE, params, BASE, validate_params=False)


def test_validation_off_allows_odd_values() -> None:
    params = {"EndpointName": "odd name", "Body": b"", "TargetVariant": "v_1", "Zzz": 1}
    request = build_request(IE, params, BASE, validate_params=False)
    assert request.url.endswith("/endpoints/odd%20name/invocations")
    assert ("X-Amzn-SageMaker-Target-Variant", "v_1") in request.headers


@given(
    name=st.from_regex(r"[a-zA-Z0-9](-{0,2}[a-zA-Z0-9]){0,20}", fullmatch=True),
    variant=st.from_regex(r"[a-zA-Z0-9](-{0,2}[a-zA-Z0-9]){0,20}", fullmatch=True),
    inference_id=st.from_regex(r"[!-~][ -~]{0,60}", fullmatch=True),
    body=st.binary(max_size=64),
)
def test_valid_values_always_accepted(
    name: str, variant: str, inference_id: str, body: bytes
) -> None:
    params = {
        "EndpointName": name,
        "Body": body,
        "TargetVariant": variant,
        "InferenceId": inference_id,
    }
    request = build_request(IE, params, BASE)
    assert request.url == f"{BASE}/endpoints/{name}/invocations"
    assert request.body == body


@given(value=st.text(max_size=80))
def test_validation_never_crashes(value: str) -> None:
    for op in OPERATIONS:
        for member in get_operation(op).input.values():
            try:
                build_request(op, {**_minimal(op), member.name: value}, BASE)
            except ParamValidationError:
                pass


# -- responses --------------------------------------------------------------------------------


def test_parse_invoke_endpoint_response() -> None:
    headers = HttpHeaders(
        [
            ("Content-Type", "application/json"),
            ("x-Amzn-Invoked-Production-Variant", "AllTraffic"),
            ("X-Amzn-SageMaker-Custom-Attributes", "a=b"),
            ("X-Amzn-SageMaker-New-Session-Id", "s-1; Expires=2024-01-15T12:30:45Z"),
            ("X-Amzn-SageMaker-Closed-Session-Id", "s-0"),
            ("x-amzn-RequestId", "req-1"),
        ]
    )
    out = parse_response(IE, 200, headers, b'{"ok":1}')
    assert out == {
        "Body": b'{"ok":1}',
        "ContentType": "application/json",
        "InvokedProductionVariant": "AllTraffic",
        "CustomAttributes": "a=b",
        "NewSessionId": "s-1; Expires=2024-01-15T12:30:45Z",
        "ClosedSessionId": "s-0",
    }


def test_parse_response_omits_absent_headers_and_matches_case_insensitively() -> None:
    out = parse_response(IE, 200, {"content-type": "text/plain"}, None)
    assert out == {"Body": b"", "ContentType": "text/plain"}


def test_parse_stream_response() -> None:
    headers = HttpHeaders(
        {
            "Content-Type": "application/vnd.amazon.eventstream",
            "X-Amzn-SageMaker-Content-Type": "application/jsonlines",
            "x-amzn-invoked-production-variant": "v1",
            "X-Amzn-SageMaker-Custom-Attributes": "z",
        }
    )
    out = parse_response(IES, 200, headers, None)
    assert out == {
        "ContentType": "application/jsonlines",
        "InvokedProductionVariant": "v1",
        "CustomAttributes": "z",
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"InferenceId":"abc"}', {"InferenceId": "abc"}),
        (b"", {}),
        (b"not json", {}),
        (b"[1,2]", {}),
        (b'{"InferenceId": 5}', {}),
        (b"\xff\xfe", {}),
        (b"[" * 100000, {}),
    ],
)
def test_parse_async_response(body: bytes, expected: dict[str, str]) -> None:
    headers = HttpHeaders(
        {
            "X-Amzn-SageMaker-OutputLocation": "s3://b/out",
            "X-Amzn-SageMaker-FailureLocation": "s3://b/err",
        }
    )
    out = parse_response(IEA, 202, headers, body)
    assert out == {**expected, "OutputLocation": "s3://b/out", "FailureLocation": "s3://b/err"}


def test_response_metadata() -> None:
    headers = HttpHeaders(
        [("x-amzn-RequestId", "r-1"), ("Date", "x"), ("X-Multi", "a"), ("x-multi", "b")]
    )
    assert response_metadata(200, headers, 2) == {
        "RequestId": "r-1",
        "HTTPStatusCode": 200,
        "HTTPHeaders": {"x-amzn-requestid": "r-1", "date": "x", "x-multi": "a, b"},
        "RetryAttempts": 2,
    }
    assert response_metadata(500, {"X-Other": "1"}, 0) == {
        "HTTPStatusCode": 500,
        "HTTPHeaders": {"x-other": "1"},
        "RetryAttempts": 0,
    }
    meta = response_metadata(200, {"x-amz-request-id": "r2", "x-amz-id-2": "h"}, 0)
    assert meta["RequestId"] == "r2"
    assert meta["HostId"] == "h"


# -- differential: botocore's serializer and parser -------------------------------------------


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def _botocore_client() -> Any:
    session_mod = pytest.importorskip("botocore.session")
    session = session_mod.Session()
    # The newest model (vendored) rather than the installed botocore's, which may predate members
    # such as PrefixAwareId (Python 3.9 resolves an older botocore).
    session.get_component("data_loader").search_paths.insert(0, str(SPEC))
    client = session.create_client(
        "sagemaker-runtime",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="fake-secret",
    )

    def capture(request: Any, **kwargs: Any) -> None:
        raise _Captured(request)

    client.meta.events.register("before-send.sagemaker-runtime", capture)
    return client


DIFF_CASES: list[tuple[str, dict[str, Any]]] = [
    (IE, {"EndpointName": "ep", "Body": b"abc"}),
    (IE, {"EndpointName": "ep", "Body": "h\u00e9", "ContentType": "text/plain", "Accept": "*/*"}),
    (IE, {**VECTORS["sigv4"][4]["params"]}),
    (IES, {"EndpointName": "llm", "Body": b"{}", "Accept": "a/b", "SessionId": "s-1"}),
    (
        IES,
        {
            "EndpointName": "llm",
            "Body": b"{}",
            "InferenceComponentName": "ic",
            "PrefixAwareId": "p",
            "TargetVariant": "v",
            "TargetContainerHostname": "h",
            "InferenceId": "i",
            "CustomAttributes": "c",
            "ContentType": "application/json",
        },
    ),
    (
        IEA,
        {
            "EndpointName": "a",
            "InputLocation": "s3://b/k",
            "ContentType": "text/csv",
            "Accept": "text/csv",
            "S3OutputPathExtension": "o",
            "Filename": "f.csv",
            "RequestTTLSeconds": 120,
            "InvocationTimeoutSeconds": 30,
            "InferenceId": "i",
            "CustomAttributes": "c",
        },
    ),
    (IEA, {"EndpointName": "a", "Body": b"1,2"}),
]


@pytest.mark.parametrize(("op", "params"), DIFF_CASES)
def test_same_request_as_botocore(op: str, params: dict[str, Any]) -> None:
    client = _botocore_client()
    with pytest.raises(_Captured) as info:
        getattr(client, op)(**params)
    theirs = info.value.request
    ours = build_request(op, params, "https://runtime.sagemaker.us-east-1.amazonaws.com")
    assert ours.method == theirs.method
    assert ours.url == theirs.url
    their_body = theirs.body or b""
    if not isinstance(their_body, bytes):
        their_body = their_body.read() if hasattr(their_body, "read") else bytes(their_body)
    assert ours.body == their_body
    skip = _SIGNING_HEADERS | {"user-agent", "amz-sdk-invocation-id", "amz-sdk-request"}
    their_headers = {k: v for k, v in theirs.headers.items() if k.lower() not in skip}
    their_headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in their_headers.items()}
    assert dict(ours.headers) == their_headers


@pytest.mark.parametrize("op", [IE, IES, IEA])
def test_same_output_as_botocore_parser(op: str) -> None:
    parsers = pytest.importorskip("botocore.parsers")
    loaders = pytest.importorskip("botocore.loaders")
    model_mod = pytest.importorskip("botocore.model")
    raw = json.loads((SPEC / "sagemaker-runtime" / "2017-05-13" / "service-2.json").read_text())
    del loaders
    service = model_mod.ServiceModel(raw)
    spec = get_operation(op)
    output_shape = service.operation_model(spec.name).output_shape
    headers = {
        "Content-Type": "application/json",
        "x-amzn-invoked-production-variant": "AllTraffic",
        "X-Amzn-SageMaker-Custom-Attributes": "a=b",
        "X-Amzn-SageMaker-New-Session-Id": "s-1; Expires=2024-01-15T12:30:45Z",
        "X-Amzn-SageMaker-Closed-Session-Id": "s-0",
        "X-Amzn-SageMaker-Content-Type": "text/plain",
        "X-Amzn-SageMaker-OutputLocation": "s3://b/o",
        "X-Amzn-SageMaker-FailureLocation": "s3://b/f",
    }
    body = b'{"InferenceId":"inf-1"}'
    status = spec.success_status
    parser = parsers.create_parser("rest-json")
    awsrequest = pytest.importorskip("botocore.awsrequest")
    response: dict[str, Any] = {
        "headers": awsrequest.HeadersDict(headers),
        "status_code": status,
        "body": body,
        "context": {"operation_name": spec.name},
    }
    if spec.streaming or op == IE:
        # botocore hands the payload through as the raw stream object; compare the rest.
        response["body"] = io.BytesIO(body)
    theirs = parser.parse(response, output_shape)
    theirs.pop("Body", None)
    theirs.pop("ResponseMetadata", None)
    ours = parse_response(op, status, HttpHeaders(headers), body)
    ours.pop("Body", None)
    assert ours == theirs


# -- regressions ------------------------------------------------------------------------------


class _Trickle(io.RawIOBase):
    """A raw file handing out at most ``step`` bytes a read, as a pipe or socket does."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), self._step, len(self._data))
        buf[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


@pytest.mark.parametrize("check", [True, False])
def test_raw_file_body_read_to_eof(check: bool) -> None:
    body = _Trickle(b"A" * 1000 + b"B" * 1000, 300)
    request = build_request(IE, {"EndpointName": "ep", "Body": body}, BASE, validate_params=check)
    assert request.body == b"A" * 1000 + b"B" * 1000


def test_raw_file_body_over_limit_rejected_without_reading_it_all() -> None:
    body = _Trickle(b"x" * 7_000_000, 1 << 20)
    with pytest.raises(ParamValidationError, match="6291457 bytes"):
        build_request(IE, {"EndpointName": "ep", "Body": body}, BASE, strict=True)
    assert len(body.read()) == 7_000_000 - 6291457


def test_text_file_body_surrogateescape_round_trips(tmp_path: Path) -> None:
    raw = b"caf\xe9 \xff\n"
    (tmp_path / "latin.bin").write_bytes(raw)
    with open(tmp_path / "latin.bin", encoding="utf-8", errors="surrogateescape") as f:
        assert build_request(IE, {"EndpointName": "ep", "Body": f}, BASE).body == raw
    with pytest.raises(ParamValidationError, match="not encodable as UTF-8"):
        build_request(IE, {"EndpointName": "ep", "Body": io.StringIO("a\ud800")}, BASE)


def test_unencodable_label_without_validation() -> None:
    with pytest.raises(ParamValidationError, match=r"EndpointName.*index 1"):
        build_request(IE, {"EndpointName": "a\ud800", "Body": b""}, BASE, validate_params=False)


def test_operation_specs_are_hashable_and_read_only() -> None:
    import copy
    import pickle

    spec = get_operation(IE)
    assert len(set(OPERATIONS.values())) == len(OPERATIONS)
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec
    assert hash(again) == hash(spec) == hash(copy.deepcopy(spec))
    with pytest.raises(TypeError):
        spec.input["Body"] = spec.input["Body"]  # type: ignore[index]


def test_wire_members_memo_follows_the_spec_object() -> None:
    """build_request's per-spec member memo is keyed by the spec object: every operation gets
    exactly its own members, and another spec (same name, other input) never reuses them."""
    from smruntime._model import H2_OPERATIONS, OPERATIONS, OperationSpec
    from smruntime._requests import _wire_members

    for spec in [*OPERATIONS.values(), *H2_OPERATIONS.values()]:
        expected = tuple(
            m
            for m in spec.input.values()
            if m.location in ("uri", "payload") or m.shape.type == "eventstream"
        )
        assert _wire_members(spec) == expected
        assert _wire_members(spec) == expected  # memoised: the same answer again
    base = OPERATIONS["invoke_endpoint"]
    fewer = {k: v for k, v in base.input.items() if v.location != "payload"}
    other = OperationSpec(
        base.name,
        base.snake_name,
        base.method,
        base.uri,
        base.success_status,
        base.streaming,
        fewer,
        base.output,
        base.errors,
        base.iam_action,
    )
    assert all(m.location != "payload" for m in _wire_members(other))
    assert any(m.location == "payload" for m in _wire_members(base))
    built = build_request("invoke_endpoint", {"EndpointName": "e", "Body": b"x"}, "https://h")
    assert built.body == b"x"
