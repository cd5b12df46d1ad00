"""The fast paths of a call against the checked ones they stand in for.

``_requests.fast_request`` (one pass over the parameters with a table per operation) must build
exactly the request ``build_request`` builds whenever it builds one, and give up (None) on
anything else, leaving the answer to validation; ``_responses.shape_output`` reads an
``HttpHeaders`` by the lower-case names of its table (``get_lower``) and must answer as the
case-insensitive ``get`` does, and ``response_metadata`` as before. The whole ``CallPlan`` is
compared with the fast path switched off: the same request bytes and signature, or the same
error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Optional

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import smruntime
from sigv4 import Credentials, sign
from smruntime import _call, _requests
from smruntime._http import HttpHeaders, HttpRequest
from smruntime._model import H2_OPERATIONS, OPERATIONS, Member, OperationSpec, Shape
from smruntime._requests import build_request, fast_request
from smruntime._responses import (
    _get_header,
    _headers_dict,
    _output_table,
    parse_response,
    response_metadata,
    shape_output,
)
from smruntime.http import ClientConnection

BASE = "https://runtime.sagemaker.us-east-1.amazonaws.com"
NOW = dt.datetime(2026, 12, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
CREDS = Credentials("AKIDFAST", "fast-secret", "token/with+chars")

# Values of every kind a caller may pass: the common ones, and each unusual one the fast path
# must leave to the checked path (wrong types, None, control bytes, tabs, non-ASCII, lone
# surrogates, empty strings, bools for ints, bytes-likes and files for the body).
TEXT = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "tenant=42; trace=abc",
            "",
            "a\tb",
            "bad\r\nX-Injected: 1",
            "nul\x00",
            "caf\u00e9",
            "\u2603 snow",
            "\ud800",
            "\x7f",
            " leading",
            "x" * 1100,
        ]
    ),
    st.text(max_size=12),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20),
)
NAME = st.one_of(
    st.sampled_from(["my-endpoint", "ep", "a.b", "..", "x/y", "caf\u00e9", "", "\ud800", "e" * 70]),
    st.text(max_size=8),
)
INT = st.one_of(st.integers(-5, 30000), st.booleans())
BODY = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b"", b"{}", '{"inputs": "h\u00e9"}', bytearray(b"ba"), memoryview(b"mv")]),
)
ODD = st.sampled_from([None, 3, 2.5, b"bytes", ["list"], {"k": "v"}, object()])


PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1)


def _clean_value(spec: OperationSpec, name: str) -> st.SearchStrategy[Any]:
    """Values the fast path takes (most calls): str headers of printable ASCII, bytes bodies,
    ints from 60, any non-empty endpoint name (non-ASCII included)."""
    member = spec.input[name]
    if member.location == "uri":
        return st.one_of(st.text(min_size=1, max_size=10), NAME)
    if member.location == "payload":
        return st.binary(max_size=64)
    if member.shape.type == "integer":
        return st.integers(60, 30000)
    return PRINTABLE


def _value(spec: OperationSpec, name: str) -> st.SearchStrategy[Any]:
    member = spec.input[name]
    if member.location == "uri":
        base: st.SearchStrategy[Any] = NAME
    elif member.location == "payload":
        base = BODY
    elif member.shape.type == "integer":
        base = INT
    else:
        base = TEXT
    return st.one_of(base, base, base, ODD)


@st.composite
def _params(draw: Any, spec: OperationSpec) -> dict[str, Any]:
    names = list(spec.input)
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    if draw(st.booleans()):  # mostly well-formed: both required members present
        chosen = [n for n in ("EndpointName", "Body") if n in spec.input] + [
            n for n in chosen if n not in ("EndpointName", "Body")
        ]
    value = _clean_value if draw(st.booleans()) else _value
    params = {name: draw(value(spec, name)) for name in chosen}
    if draw(st.integers(0, 9)) == 0:
        params[draw(st.sampled_from(["Bodyy", "endpoint_name", "Target", "X"]))] = "v"
    return params


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as exc:  # noqa: BLE001 - the error is the outcome compared
        return "error", (type(exc), str(exc), getattr(exc, "param", None))


def _wire(request: HttpRequest) -> bytes:
    """The signed request as the HTTP protocol writes it (fixed clock, ids and credentials)."""
    headers = [
        *request.headers,
        ("amz-sdk-invocation-id", "00000000-0000-4000-8000-000000000000"),
        ("amz-sdk-request", "attempt=1; max=3"),
    ]
    signed = sign(
        request.method,
        request.url,
        headers,
        request.body,
        credentials=CREDS,
        region="us-east-1",
        service="sagemaker",
        now=NOW,
    )
    conn = ClientConnection()
    head = conn.send_request(
        signed.method,
        "/" + signed.url.split("/", 3)[3],
        [("Host", "runtime.sagemaker.us-east-1.amazonaws.com"), *signed.headers],
        signed.body,
    )
    return head


OPS = sorted(OPERATIONS)


@pytest.mark.parametrize("op", OPS)
@given(data=st.data())
def test_fast_request_is_build_request_or_declines(op: str, data: Any) -> None:
    spec = OPERATIONS[op]
    params = data.draw(_params(spec))
    fast = fast_request(spec, params, BASE)
    checked = _outcome(lambda: build_request(op, params, BASE))
    if fast is not None:
        assert checked == ("ok", fast)
        assert _wire(fast) == _wire(checked[1])


@pytest.mark.parametrize(
    ("op", "params"),
    [
        ("invoke_endpoint", {"EndpointName": "ep", "Body": b"{}"}),
        ("invoke_endpoint", {"EndpointName": "e", "Body": b"{}", "PrefixAwareId": "p"}),
        (
            "invoke_endpoint",
            {
                "Body": b"x" * 1024,
                "CustomAttributes": "tenant=42",
                "EndpointName": "my-endpoint",
                "ContentType": "application/json",
                "Accept": "*/*",
                "TargetVariant": "v1",
                "InferenceComponentName": "ic",
                "SessionId": "NEW_SESSION",
                "EnableExplanations": "`true`",
                "PrefixAwareId": "p",
            },
        ),
        ("invoke_endpoint", {"EndpointName": "caf\u00e9/..", "Body": b""}),
        ("invoke_endpoint", {"EndpointName": "..", "Body": b"", "CustomAttributes": ""}),
        (
            "invoke_endpoint_with_response_stream",
            {
                "EndpointName": "ep",
                "Body": b"{}",
                "SessionId": "s-1",
                "Accept": "text/event-stream",
            },
        ),
        (
            "invoke_endpoint_async",
            {
                "EndpointName": "ep",
                "InputLocation": "s3://bucket/key",
                "RequestTTLSeconds": 600,
                "InvocationTimeoutSeconds": 60,
                "CustomAttributes": "a=b",
            },
        ),
        ("invoke_endpoint_async", {"EndpointName": "ep", "Body": b"inline"}),
        (  # the model's minimums exactly
            "invoke_endpoint_async",
            {"EndpointName": "ep", "RequestTTLSeconds": 60, "InvocationTimeoutSeconds": 1},
        ),
    ],
)
def test_common_calls_take_the_fast_path(op: str, params: dict[str, Any]) -> None:
    spec = OPERATIONS[op]
    fast = fast_request(spec, params, BASE)
    assert fast is not None
    assert fast == build_request(op, params, BASE)
    assert _wire(fast) == _wire(build_request(op, params, BASE))


@pytest.mark.parametrize(
    ("op", "params"),
    [
        ("invoke_endpoint", {"EndpointName": "ep"}),  # required Body missing
        ("invoke_endpoint", {"Body": b"{}"}),
        ("invoke_endpoint", {"EndpointName": "", "Body": b"{}"}),
        ("invoke_endpoint", {"EndpointName": "ep", "Body": None}),
        ("invoke_endpoint", {"EndpointName": "ep", "Body": "text"}),
        ("invoke_endpoint", {"EndpointName": "ep", "Body": bytearray(b"x")}),
        ("invoke_endpoint", {"EndpointName": "ep", "Body": b"", "CustomAttributes": "a\tb"}),
        ("invoke_endpoint", {"EndpointName": "ep", "Body": b"", "CustomAttributes": "a\r\nb"}),
        ("invoke_endpoint", {"EndpointName": "ep", "Body": b"", "CustomAttributes": "\u00e9"}),
        ("invoke_endpoint", {"EndpointName": "ep", "Body": b"", "CustomAttributes": None}),
        ("invoke_endpoint", {"EndpointName": "ep", "Body": b"", "Accept": 3}),
        ("invoke_endpoint", {"EndpointName": "\ud800", "Body": b""}),
        ("invoke_endpoint", {"EndpointName": "ep", "Body": b"", "Unknown": "x"}),
        ("invoke_endpoint_async", {"EndpointName": "ep", "RequestTTLSeconds": True}),
        ("invoke_endpoint_async", {"EndpointName": "ep", "RequestTTLSeconds": 59}),
        ("invoke_endpoint_async", {"EndpointName": "ep", "Filename": ""}),
    ],
)
def test_unusual_calls_are_left_to_the_checked_path(op: str, params: dict[str, Any]) -> None:
    assert fast_request(OPERATIONS[op], params, BASE) is None


def test_not_a_dict_or_the_http2_operation_is_left_to_the_checked_path() -> None:
    spec = OPERATIONS["invoke_endpoint"]

    class Params(dict):  # type: ignore[type-arg]
        pass

    assert fast_request(spec, Params(EndpointName="ep", Body=b""), BASE) is None
    h2 = H2_OPERATIONS["invoke_endpoint_with_bidirectional_stream"]
    assert fast_request(h2, {"EndpointName": "ep"}, BASE) is None


def _client(**config: Any) -> smruntime.Client:
    return smruntime.Client(
        region_name="us-east-1",
        endpoint_url=BASE + "/base/",
        aws_access_key_id="AKIDFAST",
        aws_secret_access_key="fast-secret",
        config=smruntime.Config(**config),
        environ={},
    )


def _plan(client: smruntime.Client, op: str, params: dict[str, Any]) -> Any:
    plan = _call.CallPlan(client, op, dict(params))
    plan.invocation_id = "00000000-0000-4000-8000-000000000000"
    return plan.request, _wire(plan.request)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("validation", [True, False, "strict"])
@given(data=st.data())
def test_call_plan_same_request_or_error_without_the_fast_path(
    op: str, validation: Any, data: Any
) -> None:
    client = _client(parameter_validation=validation)
    params = data.draw(_params(OPERATIONS[op]))
    fast = _outcome(lambda: _plan(client, op, params))
    original = _call.fast_request
    _call.fast_request = lambda *args: None  # type: ignore[assignment]
    try:
        checked = _outcome(lambda: _plan(client, op, params))
    finally:
        _call.fast_request = original
    assert fast == checked


# -- responses ------------------------------------------------------------------------------

HEADER_NAMES = st.sampled_from(
    [
        "Content-Type",
        "content-type",
        "x-Amzn-Invoked-Production-Variant",
        "X-AMZN-INVOKED-PRODUCTION-VARIANT",
        "X-Amzn-SageMaker-Custom-Attributes",
        "x-amzn-sagemaker-new-session-id",
        "X-Amzn-SageMaker-Closed-Session-Id",
        "X-Amzn-SageMaker-Content-Type",
        "X-Amzn-SageMaker-OutputLocation",
        "x-amzn-RequestId",
        "x-amz-request-id",
        "x-amz-id-2",
        "Date",
        "Content-Length",
    ]
)
PAIRS = st.lists(st.tuples(HEADER_NAMES, st.sampled_from(["", "v", "a, b", "caf\u00e9"])))


def _reference_output(spec: OperationSpec, headers: Mapping[str, str], body: Any) -> Any:
    """The output shaping as it was written before the table (member by member, ``get``)."""
    import json

    out: dict[str, Any] = {}
    doc: Any = None
    for member in spec.output.values():
        if member.location == "header":
            value = _get_header(headers, member.wire_name)
            if value is not None:
                out[member.name] = value
        elif member.location == "json":
            if doc is None and body and body.strip():
                try:
                    doc = json.loads(body.decode("utf-8", "replace"))
                except ValueError:
                    doc = None
            if isinstance(doc, dict) and isinstance(doc.get(member.wire_name), str):
                out[member.name] = doc[member.wire_name]
        elif member.location == "payload" and not spec.streaming:
            out[member.name] = bytes(body) if body is not None else b""
    return out


def _reference_metadata(status: int, headers: Mapping[str, str], attempts: int) -> Any:
    meta: dict[str, Any] = {}
    request_id = _get_header(headers, "x-amzn-RequestId") or _get_header(
        headers, "x-amz-request-id"
    )
    if request_id:
        meta["RequestId"] = request_id
    host_id = _get_header(headers, "x-amz-id-2")
    if host_id:
        meta["HostId"] = host_id
    meta["HTTPStatusCode"] = status
    meta["HTTPHeaders"] = _headers_dict(headers)
    meta["RetryAttempts"] = attempts
    return meta


@pytest.mark.parametrize("op", OPS)
@given(pairs=PAIRS, body=st.sampled_from([None, b"", b"{}", b'{"InferenceId": "i-1"}', b"[1]"]))
@example(pairs=[("x-amzn-RequestId", ""), ("x-amz-request-id", "r2")], body=None)
def test_shape_output_and_metadata_match_the_reference(
    op: str, pairs: list[tuple[str, str]], body: Optional[bytes]
) -> None:
    spec = OPERATIONS[op]
    headers = HttpHeaders(pairs)
    parsed = HttpHeaders.of_str_pairs(pairs)  # the drivers' constructor
    assert parsed.items_raw() == headers.items_raw() == pairs
    assert parsed.to_dict() == headers.to_dict()
    assert [parsed.get(n) for n, _ in pairs] == [headers.get(n) for n, _ in pairs]
    assert shape_output(spec, headers, body) == _reference_output(spec, headers, body)
    assert parse_response(op, 200, headers, body) == _reference_output(spec, headers, body)
    plain = dict(pairs)  # a plain mapping goes through the case-insensitive scan
    assert shape_output(spec, plain, body) == _reference_output(spec, plain, body)
    for given_headers in (headers, plain):
        assert response_metadata(200, given_headers, 2) == _reference_metadata(
            200, given_headers, 2
        )


def test_fast_table_is_kept_per_spec_object() -> None:
    spec = OPERATIONS["invoke_endpoint"]
    assert _requests._fast_table(spec) is _requests._fast_table(spec)
    assert _requests._fast_table(H2_OPERATIONS["invoke_endpoint_with_bidirectional_stream"]) is None


_NAME_SHAPE = Shape("Name", "string")
_LABEL_MEMBER = Member("EndpointName", "uri", "EndpointName", _NAME_SHAPE, required=True)


def _spec(uri: str, *members: Member) -> OperationSpec:
    return OperationSpec(
        name="Made",
        snake_name="made",
        method="POST",
        uri=uri,
        success_status=200,
        streaming=False,
        input={m.name: m for m in members},
        output={},
        errors=(),
        iam_action="sagemaker:Made",
    )


@pytest.mark.parametrize(
    "spec",
    [
        _spec(
            "/e/{EndpointName}",
            _LABEL_MEMBER,
            Member("Body", "payload", "", Shape("S", "eventstream")),
        ),
        _spec("/e/{EndpointName}", _LABEL_MEMBER, Member("N", "json", "N", Shape("I", "integer"))),
        _spec("/e/{EndpointName}", _LABEL_MEMBER, Member("B", "header", "B", Shape("B", "blob"))),
        _spec("/e/{EndpointName}", Member("EndpointName", "uri", "EndpointName", _NAME_SHAPE)),
        _spec("/e/{EndpointName}/{EndpointName}", _LABEL_MEMBER),
        _spec("/e/{Other}", _LABEL_MEMBER),
        _spec("/e", Member("H", "header", "H", _NAME_SHAPE)),
        _spec(
            "/e/{EndpointName}/{Two}",
            _LABEL_MEMBER,
            Member("Two", "uri", "Two", _NAME_SHAPE, required=True),
        ),
    ],
    ids=[
        "event-stream",
        "json-int",
        "blob-header",
        "optional-label",
        "label-twice",
        "no-marker",
        "no-label",
        "two-labels",
    ],
)
def test_operations_of_other_shapes_have_no_fast_table(spec: OperationSpec) -> None:
    assert _requests._fast_table(spec) is None
    assert fast_request(spec, {"EndpointName": "ep"}, BASE) is None


def test_a_made_operation_of_the_common_shape_takes_the_fast_path() -> None:
    spec = _spec(
        "/e/{EndpointName}/x",
        _LABEL_MEMBER,
        Member("H", "header", "X-H", Shape("H", "string", min=2)),
        Member("N", "header", "X-N", Shape("N", "integer", min=5)),
    )
    made = fast_request(spec, {"N": 5, "EndpointName": "a b", "H": "hi"}, BASE)
    assert made == HttpRequest("POST", BASE + "/e/a%20b/x", [("X-N", "5"), ("X-H", "hi")], b"")
    assert fast_request(spec, {"EndpointName": "a", "H": "h"}, BASE) is None
    assert fast_request(spec, {"EndpointName": "a", "N": 4}, BASE) is None


def test_tables_are_memoised_per_spec() -> None:
    for spec in OPERATIONS.values():
        assert _output_table(spec) is _output_table(spec)
        assert _requests._wire_members(spec) is _requests._wire_members(spec)


# -- the checked path, beside it (the mutation check of _requests.py runs these tests) --------


@pytest.mark.parametrize("validation", [False, True])
def test_a_file_body_over_the_limit_is_read_whole_unless_strict(validation: bool) -> None:
    import io

    size = OPERATIONS["invoke_endpoint_async"].input["Body"].shape.max + 10  # type: ignore[operator]
    params = {"EndpointName": "ep", "Body": io.BytesIO(b"x" * size)}
    request = build_request("invoke_endpoint_async", params, BASE, validate_params=validation)
    assert len(request.body) == size


def test_the_url_and_label_memos_stay_bounded() -> None:
    for i in range(_requests._CACHE_MAX + 40):
        build_request("invoke_endpoint", {"EndpointName": f"ep-{i}", "Body": b""}, BASE)
        assert len(_requests._URLS) <= _requests._CACHE_MAX
        assert len(_requests._LABELS) <= _requests._CACHE_MAX


def test_an_input_event_stream_is_announced_in_the_headers() -> None:
    request = build_request(
        "invoke_endpoint_with_bidirectional_stream", {"EndpointName": "ep", "Body": []}, BASE
    )
    assert request.body == b""
    assert request.headers[-2:] == [
        ("Content-Type", "application/vnd.amazon.eventstream"),
        ("X-Amz-Content-SHA256", "STREAMING-AWS4-HMAC-SHA256-EVENTS"),
    ]


def test_response_metadata_counts_no_retry_by_default() -> None:
    assert response_metadata(200, HttpHeaders([("x-amzn-RequestId", "r")])) == {
        "RequestId": "r",
        "HTTPStatusCode": 200,
        "HTTPHeaders": {"x-amzn-requestid": "r"},
        "RetryAttempts": 0,
    }


def test_http_headers_get_lower_takes_the_folded_name_as_given() -> None:
    headers = HttpHeaders([("X-Amzn-RequestId", "r1"), ("X-Amzn-RequestId", "r2")])
    assert headers.get_lower("x-amzn-requestid") == "r1, r2"
    assert headers.get_lower("X-Amzn-RequestId") is None  # not folded here: give it lower-case
    assert headers.get_lower("absent") is None


def test_http_headers_to_dict_is_a_copy_and_get_lower_survives_pickling_and_copying() -> None:
    import copy
    import pickle

    headers = HttpHeaders([("Content-Type", "a"), ("x-amzn-RequestId", "r"), ("content-type", "b")])
    out = headers.to_dict()
    out["content-type"] = "changed"
    out["new"] = "x"
    assert headers.to_dict() == {"content-type": "a, b", "x-amzn-requestid": "r"}
    assert headers["CONTENT-TYPE"] == headers.get_lower("content-type") == "a, b"
    assert list(headers) == ["Content-Type", "x-amzn-RequestId"]  # first spellings, in order
    for other in (pickle.loads(pickle.dumps(headers)), copy.copy(headers), copy.deepcopy(headers)):
        assert other == headers
        assert other.get_lower("x-amzn-requestid") == "r"
        assert other.items_raw() == headers.items_raw()
