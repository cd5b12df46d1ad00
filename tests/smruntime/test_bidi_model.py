"""The pure binding of InvokeEndpointWithBidirectionalStream (the HTTP/2 service): the model
tables against the vendored Smithy shapes, validation, the request, the response, the input and
output events, and error parsing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventstream import Decoder, Message
from sigv4 import Credentials, EventSigner, sign
from smruntime import exceptions
from smruntime._operations import (
    EVENT_STREAM_CONTENT_TYPE,
    H2_ERROR_SHAPES,
    H2_EVENT_TYPES,
    H2_OPERATIONS,
    H2_REQUEST_EVENT_TYPES,
    OPERATIONS,
    STREAMING_EVENTS_PAYLOAD,
    build_request,
    encode_request_event,
    encode_request_part,
    encode_signed_event,
    event_to_dict,
    get_operation,
    is_h2,
    parse_error,
    parse_response,
    request_event_headers,
    response_metadata,
    stream_error,
    validate,
    validate_request_event,
)
from smruntime.exceptions import (
    ClientError,
    InputValidationError,
    InternalServerError,
    InternalStreamFailure,
    ModelError,
    ModelStreamError,
    ParamValidationError,
    ServiceUnavailableError,
)

DATA = Path(__file__).parent.parent / "data" / "spec" / "sagemaker-runtime-http2"
SHAPES: dict[str, Any] = json.loads((DATA / "shapes.json").read_text("utf-8"))["shapes"]
NS = "com.amazonaws.sagemakerruntimehttp2#"
OP = "invoke_endpoint_with_bidirectional_stream"
SPEC = H2_OPERATIONS[OP]
BASE = "https://runtime.sagemaker.us-east-1.amazonaws.com:8443"


# -- the model ---------------------------------------------------------------------------------


def test_operation_binding_matches_the_model() -> None:
    model = SHAPES[NS + "InvokeEndpointWithBidirectionalStream"]
    http = model["traits"]["smithy.api#http"]
    assert (SPEC.method, SPEC.uri) == (http["method"], http["uri"])
    assert list(SPEC.errors) == [e["target"].split("#")[1] for e in model["errors"]]
    assert SPEC.name == "InvokeEndpointWithBidirectionalStream"
    assert get_operation(SPEC.name) is SPEC
    assert get_operation(OP) is SPEC
    assert is_h2(SPEC)
    assert not any(is_h2(spec) for spec in OPERATIONS.values())
    assert OP not in OPERATIONS  # the classic service's table is untouched
    service = SHAPES[NS + "AmazonSageMakerRuntimeHttp2"]
    assert service["traits"]["aws.auth#sigv4"]["name"] == "sagemaker"
    assert service["traits"]["aws.protocols#restJson1"]["http"] == ["h2"]


def _check_member(member: Any, model_member: dict[str, Any], structure: str, name: str) -> None:
    traits = model_member.get("traits", {})
    where = (structure, name)
    if "smithy.api#httpLabel" in traits:
        assert (member.location, member.wire_name) == ("uri", name), where
    elif "smithy.api#httpHeader" in traits:
        assert member.location == "header", where
        assert member.wire_name == traits["smithy.api#httpHeader"], where
    else:
        assert "smithy.api#httpPayload" in traits, where
        assert member.location == "payload", where
    length = traits.get("smithy.api#length", {})
    assert member.shape.min == length.get("min"), where
    assert member.shape.max == length.get("max"), where
    assert member.shape.model_pattern == traits.get("smithy.api#pattern"), where
    target = model_member["target"]
    if target.startswith(NS):
        kind = "eventstream" if "smithy.api#streaming" in SHAPES[target].get("traits", {}) else ""
        assert member.shape.type == (kind or SHAPES[target]["type"]), where
    # Body of the input is optional here by design (parts may go through the stream object).
    required = "smithy.api#required" in traits and not (
        structure.endswith("Input") and name == "Body"
    )
    assert member.required == required, where


@pytest.mark.parametrize(
    ("ours", "structure"),
    [
        ("input", "InvokeEndpointWithBidirectionalStreamInput"),
        ("output", "InvokeEndpointWithBidirectionalStreamOutput"),
    ],
)
def test_members_match_the_model(ours: str, structure: str) -> None:
    members = SHAPES[NS + structure]["members"]
    table = getattr(SPEC, ours)
    assert list(table) == list(members)
    for name, model_member in members.items():
        _check_member(table[name], model_member, structure, name)


def test_error_shapes_match_the_model() -> None:
    names = [e["target"].split("#")[1] for e in SHAPES[NS + SPEC.name]["errors"]]
    assert sorted(H2_ERROR_SHAPES) == sorted(names)
    assert sorted(exceptions.H2_MODELED_ERRORS) == sorted(names)
    for name, (status, members) in H2_ERROR_SHAPES.items():
        model = SHAPES[NS + name]
        assert status == model["traits"].get("smithy.api#httpError"), name
        assert list(members) == list(model["members"]), name
        for member, shape in members.items():
            want = model["members"][member]["target"].split("#")[1].lower()
            assert shape.type == want, (name, member)
        assert exceptions.error_class_for(name).__name__ == name
        assert name in exceptions.KNOWN_ERRORS


def test_event_tables_match_the_model() -> None:
    response = SHAPES[NS + "ResponseStreamEvent"]["members"]
    assert set(H2_EVENT_TYPES) | {"ModelStreamError", "InternalStreamFailure"} == set(response)
    assert set(H2_REQUEST_EVENT_TYPES) == set(SHAPES[NS + "RequestStreamEvent"]["members"])
    for table, part in (
        (H2_EVENT_TYPES, "ResponsePayloadPart"),
        (H2_REQUEST_EVENT_TYPES, "RequestPayloadPart"),
    ):
        model = SHAPES[NS + part]["members"]
        assert list(table["PayloadPart"]) == list(model)
        for name, (binding, shape) in table["PayloadPart"].items():
            traits = model[name].get("traits", {})
            assert binding == (
                "eventpayload" if "smithy.api#eventPayload" in traits else "eventheader"
            )
            assert shape.model_pattern == traits.get("smithy.api#pattern")
    assert H2_EVENT_TYPES["PayloadPart"]["Bytes"][1].sensitive


# Java regexes and our translations agree on samples (Java's semantics hand-checked here).
PATTERN_CASES = {
    "EndpointName": (["a", "my-endpoint", "a--b", "A1"], ["", "-a", "a-", "a_b", "a.b"]),
    "TargetVariant": (["AllTraffic", "v-1"], ["v_1", "-v"]),
    "ModelInvocationPath": (
        ["v1/listen", "a", "a.b-c_d/e", "...", "x/y/z"],
        ["", "/v1", "v1/", "v1//x", "v 1", "v1?x", "é"],
    ),
    "ModelQueryString": (
        ["model=nova-3", "a=b&c=d", "k_1-x=%2F~._-", "Z=%aF"],
        ["", "=x", "a=", "a=b&", "-a=b", "a=b c", "a=%G0", "a=%2", "a=b&&c=d", "a=b=c", "a=/"],
    ),
}


@pytest.mark.parametrize("member", sorted(PATTERN_CASES))
def test_header_patterns(member: str) -> None:
    good, bad = PATTERN_CASES[member]
    shape = SPEC.input[member].shape
    model = re.compile(
        shape.model_pattern.lstrip("^").rstrip("$")
    )  # Java syntax, Python-compatible here
    for value in good:
        assert shape.regex.fullmatch(value), value
        assert model.fullmatch(value), value
    for value in bad:
        assert shape.regex.fullmatch(value) is None, value
        assert model.fullmatch(value) is None, value


# -- validation and the request --------------------------------------------------------------


def test_minimal_request() -> None:
    request = build_request(OP, {"EndpointName": "asr"}, BASE)
    assert request.method == "POST"
    assert request.url == BASE + "/endpoints/asr/invocations-bidirectional-stream"
    assert request.body == b""
    assert request.headers == [
        ("Content-Type", EVENT_STREAM_CONTENT_TYPE),
        ("X-Amz-Content-SHA256", STREAMING_EVENTS_PAYLOAD),
    ]


def test_full_request_and_its_signature() -> None:
    params = {
        "EndpointName": "asr",
        "ModelInvocationPath": "v1/listen",
        "ModelQueryString": "model=nova-3&language=en",
        "TargetVariant": "AllTraffic",
        "Body": iter([b"x"]),
    }
    request = build_request(OP, params, "http://127.0.0.1:8443/")
    assert request.url == "http://127.0.0.1:8443/endpoints/asr/invocations-bidirectional-stream"
    assert request.headers == [
        ("X-Amzn-SageMaker-Model-Invocation-Path", "v1/listen"),
        ("X-Amzn-SageMaker-Model-Query-String", "model=nova-3&language=en"),
        ("X-Amzn-SageMaker-Target-Variant", "AllTraffic"),
        ("Content-Type", EVENT_STREAM_CONTENT_TYPE),
        ("X-Amz-Content-SHA256", STREAMING_EVENTS_PAYLOAD),
    ]
    signed = sign(
        request.method,
        request.url,
        request.headers,
        request.body,
        credentials=Credentials("AKID", "secret"),
        region="us-east-1",
        service="sagemaker",
        now=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc),
    )
    assert signed.payload_hash == STREAMING_EVENTS_PAYLOAD
    assert signed.canonical_request.endswith("\n" + STREAMING_EVENTS_PAYLOAD)
    assert signed.signed_headers == (
        "content-type;host;x-amz-content-sha256;x-amz-date;"
        "x-amzn-sagemaker-model-invocation-path;x-amzn-sagemaker-model-query-string;"
        "x-amzn-sagemaker-target-variant"
    )


def test_endpoint_name_is_label_encoded() -> None:
    validate(OP, {"EndpointName": "a-b"})
    request = build_request(OP, {"EndpointName": "a/b"}, BASE, validate_params=False)
    assert request.url.endswith("/endpoints/a%2Fb/invocations-bidirectional-stream")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "EndpointName.*missing required"),
        ({"EndpointName": "a" * 64}, "above the maximum of 63"),
        ({"EndpointName": "-a"}, "does not match"),
        (
            {"EndpointName": "a", "ModelInvocationPath": "/v1"},
            "ModelInvocationPath.*does not match",
        ),
        ({"EndpointName": "a", "ModelInvocationPath": "a" * 101}, "maximum of 100"),
        ({"EndpointName": "a", "ModelQueryString": "a=b c"}, "ModelQueryString.*does not match"),
        ({"EndpointName": "a", "ModelQueryString": "a=" + "b" * 2047}, "maximum of 2048"),
        ({"EndpointName": "a", "TargetVariant": "v_1"}, "TargetVariant.*does not match"),
        ({"EndpointName": "a", "Body": b"abc"}, "iterable of input events.*wrap a single"),
        ({"EndpointName": "a", "Body": "abc"}, "iterable of input events"),
        ({"EndpointName": "a", "Body": {"PayloadPart": {}}}, "wrap a single part in a list"),
        ({"EndpointName": "a", "Body": 5}, "got int"),
        ({"EndpointName": "a", "ContentType": "x"}, "unknown parameter"),
    ],
)
def test_validation_errors(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ParamValidationError, match=message):
        validate(OP, params)


def test_lengths_at_the_limit_are_valid() -> None:
    validate(
        OP,
        {
            "EndpointName": "a" * 63,
            "TargetVariant": "b" * 63,
            "ModelInvocationPath": "c" * 100,
            "ModelQueryString": "a=" + "b" * 2046,
        },
    )


def test_async_iterable_body_is_accepted() -> None:
    async def parts() -> Any:
        yield b"x"

    gen = parts()
    validate(OP, {"EndpointName": "a", "Body": gen})
    validate(OP, {"EndpointName": "a", "Body": [b"x", {"PayloadPart": {"Bytes": b"y"}}]})


# -- input events ------------------------------------------------------------------------------


def test_request_event_forms() -> None:
    assert validate_request_event(OP, b"ab") == {"PayloadPart": {"Bytes": b"ab"}}
    assert validate_request_event(OP, bytearray(b"ab")) == {"PayloadPart": {"Bytes": b"ab"}}
    assert validate_request_event(OP, "é") == {"PayloadPart": {"Bytes": "é".encode()}}
    full = {"Bytes": b"x", "DataType": "UTF8", "CompletionState": "COMPLETE", "P": "pad"}
    assert validate_request_event(OP, {"PayloadPart": full}) == {"PayloadPart": full}
    assert validate_request_event(OP, {"PayloadPart": {"DataType": None}}) == {
        "PayloadPart": {"Bytes": b""}
    }


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (5, "an input event is"),
        ({}, "with 0 keys"),
        ({"PayloadPart": {}, "x": 1}, "with 2 keys"),
        ({"Chunk": {"Bytes": b""}}, "unknown input event type 'Chunk'"),
        ({"PayloadPart": b"x"}, r"Body\[3\]\.PayloadPart for .*: expected a dict"),
        ({"PayloadPart": {"bytes": b"x"}}, r"PayloadPart\.bytes.*unknown member"),
        ({"PayloadPart": {"Bytes": 5}}, "expected bytes or str, got int"),
        ({"PayloadPart": {"Bytes": "\ud800"}}, "not encodable as UTF-8"),
        ({"PayloadPart": {"DataType": "utf8"}}, r"DataType.*does not match.*\^\(UTF8\)\$"),
        ({"PayloadPart": {"CompletionState": "DONE"}}, "CompletionState.*does not match"),
        ({"PayloadPart": {"P": 5}}, "P for .*: expected a str"),
    ],
)
def test_request_event_errors(event: object, message: str) -> None:
    with pytest.raises(ParamValidationError, match=message):
        validate_request_event(OP, event, 3)


def test_inner_message_layout() -> None:
    headers, payload = request_event_headers(
        {
            "PayloadPart": {
                "P": "x",
                "CompletionState": "PARTIAL",
                "Bytes": b"hi",
                "DataType": "UTF8",
            }
        }
    )
    assert headers == [
        (":message-type", "event"),
        (":event-type", "PayloadPart"),
        ("DataType", "UTF8"),
        ("CompletionState", "PARTIAL"),
        ("P", "x"),
        (":content-type", "application/octet-stream"),
    ]
    assert payload == b"hi"
    headers, payload = request_event_headers(b"")
    assert headers == [(":message-type", "event"), (":event-type", "PayloadPart")]
    inner = encode_request_event({"PayloadPart": {"Bytes": b"abc", "DataType": "BINARY"}})
    (msg,) = Decoder().feed(inner)
    assert dict(msg.headers) == {
        ":message-type": "event",
        ":event-type": "PayloadPart",
        "DataType": "BINARY",
        ":content-type": "application/octet-stream",
    }
    assert msg.payload == b"abc"


def test_signed_outer_messages_chain() -> None:
    creds = Credentials("AKID", "secret")
    seed = hashlib.sha256(b"request").hexdigest()
    signer = EventSigner(seed, credentials=creds, region="us-east-1", service="sagemaker")
    now = dt.datetime(2026, 12, 1, 21, 0, 0, 123000, tzinfo=dt.timezone.utc)
    inner = encode_request_event(b"part")
    wire = encode_signed_event(signer.sign(inner, now), inner)
    wire += encode_signed_event(signer.finish(now), b"")
    first, last = Decoder().feed(wire)
    assert list(first.headers) == [":date", ":chunk-signature"]
    assert first.headers[":date"] == now
    assert first.payload == inner
    assert last.payload == b""
    assert len(last.headers[":chunk-signature"]) == 32


# -- output: response and events ---------------------------------------------------------------


def test_response_shape() -> None:
    headers = {
        "x-amzn-invoked-production-variant": "AllTraffic",
        "x-amzn-requestid": "rid-1",
        "content-type": EVENT_STREAM_CONTENT_TYPE,
    }
    assert parse_response(OP, 200, headers, None) == {"InvokedProductionVariant": "AllTraffic"}
    assert parse_response(OP, 200, {}, None) == {}
    meta = response_metadata(200, headers)
    assert meta["RequestId"] == "rid-1"
    assert meta["HTTPStatusCode"] == 200
    assert meta["HTTPHeaders"]["x-amzn-invoked-production-variant"] == "AllTraffic"


def _event(event_type: str, payload: bytes = b"", **extra: str) -> Message:
    headers: list[tuple[str, Any]] = [(":message-type", "event"), (":event-type", event_type)]
    headers += list(extra.items())
    return Message(headers=headers, payload=payload)


def test_payload_part_to_dict_keeps_its_headers() -> None:
    msg = _event("PayloadPart", b"hi", DataType="UTF8", CompletionState="COMPLETE")
    assert event_to_dict(msg, OP) == {
        "PayloadPart": {"Bytes": b"hi", "DataType": "UTF8", "CompletionState": "COMPLETE"}
    }
    assert event_to_dict(_event("PayloadPart", b""), OP) == {"PayloadPart": {"Bytes": b""}}
    assert event_to_dict(_event("Unknown", b"x"), OP) is None
    # The classic operation still gives only Bytes.
    assert event_to_dict(msg) == {"PayloadPart": {"Bytes": b"hi"}}


@settings(max_examples=50, deadline=None)
@given(
    data=st.binary(max_size=256),
    data_type=st.sampled_from([None, "UTF8", "BINARY"]),
    state=st.sampled_from([None, "PARTIAL", "COMPLETE"]),
)
def test_request_event_round_trips_to_the_response_dict(
    data: bytes, data_type: str | None, state: str | None
) -> None:
    part: dict[str, Any] = {"Bytes": data, "DataType": data_type, "CompletionState": state}
    (msg,) = Decoder().feed(encode_request_event({"PayloadPart": part}))
    want = {k: v for k, v in part.items() if v is not None}
    assert event_to_dict(msg, OP) == {"PayloadPart": want}


def _exception(exc_type: str, body: dict[str, Any]) -> Message:
    return Message(
        headers=[
            (":message-type", "exception"),
            (":exception-type", exc_type),
            (":content-type", "application/json"),
        ],
        payload=json.dumps(body).encode(),
    )


def test_in_stream_errors_raise_the_modeled_classes() -> None:
    with pytest.raises(ModelStreamError) as info:
        event_to_dict(_exception("ModelStreamError", {"Message": "boom", "ErrorCode": "E42"}), OP)
    assert info.value.stream_error_code == "E42"
    assert info.value.response["ErrorCode"] == "E42"
    assert info.value.operation_name == SPEC.name
    err = stream_error(OP, _exception("InternalStreamFailure", {"Message": "down"}))
    assert isinstance(err, InternalStreamFailure)
    assert err.error_message == "down"
    assert stream_error(OP, _event("PayloadPart")) is None


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "InputValidationError", InputValidationError),
        (500, "InternalServerError", InternalServerError),
        (503, "ServiceUnavailableError", ServiceUnavailableError),
        (424, "ModelError", ModelError),
    ],
)
def test_http_errors_use_the_h2_names(status: int, code: str, cls: type[ClientError]) -> None:
    body = {"Message": "bad", "ErrorCode": "E1"}
    if code == "ModelError":
        body.update(OriginalStatusCode="500", OriginalMessage="oops", LogStreamArn="arn:x")
    err = parse_error(
        OP, status, {"x-amzn-ErrorType": f"{code}:http://x/"}, json.dumps(body).encode()
    )
    assert type(err) is cls
    assert err.error_code == code
    assert err.response["ErrorCode"] == "E1"
    assert err.status_code == status
    if isinstance(err, ModelError):
        assert err.original_status_code == 500
        assert err.log_stream_arn == "arn:x"
    # the same code found in the body's __type
    err2 = parse_error(OP, status, {}, json.dumps({**body, "__type": NS + code}).encode())
    assert type(err2) is cls


def test_generic_5xx_use_the_h2_classes() -> None:
    assert type(parse_error(OP, 500, {}, b"<html>")) is InternalServerError
    assert type(parse_error(OP, 503, {}, b"")) is ServiceUnavailableError
    # the classic operations keep theirs
    assert type(parse_error("invoke_endpoint", 503, {}, b"")) is exceptions.ServiceUnavailable


def test_input_validation_error_gets_the_validation_hint() -> None:
    err = parse_error(
        OP,
        400,
        {},
        json.dumps({"__type": "InputValidationError", "Message": "Endpoint x not found"}).encode(),
    )
    assert err.hint is not None
    assert "EndpointName" in err.hint


def test_client_exceptions_know_the_h2_names() -> None:
    from smruntime._client import _Exceptions

    exc = _Exceptions()
    assert exc.InputValidationError is InputValidationError
    assert exc.ServiceUnavailableError is ServiceUnavailableError
    assert exc.InternalServerError is InternalServerError


@pytest.mark.parametrize(
    "part",
    [
        {"Bytes": b""},
        {"Bytes": b"abc", "DataType": "BINARY"},
        {"Bytes": b"x" * 70000, "DataType": "UTF8", "CompletionState": "COMPLETE", "P": "pad"},
    ],
)
def test_encoded_events_are_the_generic_encodings(part: dict[str, Any]) -> None:
    from eventstream import Message, encode

    creds = Credentials("AKID", "secret")
    signer = EventSigner("a" * 64, credentials=creds, region="us-east-1", service="sagemaker")
    now = dt.datetime(2026, 12, 1, 21, 0, 0, 123000, tzinfo=dt.timezone.utc)
    for _ in range(2):  # the second time from the cache of header blocks
        headers, payload = request_event_headers({"PayloadPart": part})
        inner = encode_request_event({"PayloadPart": part})
        assert inner == encode(Message(headers=headers, payload=payload))
        signed = signer.sign(inner, now)
        generic = encode(Message(headers=signed.headers, payload=inner))
        assert encode_signed_event(signed, inner) == generic
    final = signer.finish(now)
    assert encode_signed_event(final, b"") == encode(Message(headers=final.headers))


def test_an_unusual_signature_length_is_encoded_generically() -> None:
    class Odd:
        date = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
        chunk_signature = b"\1" * 3
        headers = ((":date", date), (":chunk-signature", chunk_signature))

    (msg,) = Decoder().feed(encode_signed_event(Odd(), b"in"))  # type: ignore[arg-type]
    assert msg.headers[":chunk-signature"] == b"\1\1\1"
    assert msg.payload == b"in"


_MEMBER = st.one_of(
    st.none(),
    st.sampled_from(["UTF8", "BINARY", "PARTIAL", "COMPLETE", "", "utf8", "x" * 40]),
    st.text(max_size=8),
    st.integers(),
)


def _outcome(make: Any) -> Any:
    try:
        return make()
    except Exception as exc:  # noqa: BLE001 - the error's class and message are the answer
        return (type(exc), str(exc))


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(st.binary(max_size=64), st.text(max_size=8), st.none(), st.integers()),
    data_type=_MEMBER,
    state=_MEMBER,
    p=st.one_of(st.none(), st.text(max_size=8), st.integers()),
    again=st.booleans(),
)
def test_encode_request_part_is_encode_request_event(
    data: Any, data_type: Any, state: Any, p: Any, again: bool
) -> None:
    # the part's shortcut (members checked once, their headers reused) gives the whole path's
    # bytes and errors, the first time and every later time (cached)
    part: dict[str, Any] = {"Bytes": data}
    for name, value in (("DataType", data_type), ("CompletionState", state), ("P", p)):
        if value is not None:
            part[name] = value
    want = _outcome(lambda: encode_request_event({"PayloadPart": part}))
    for _ in range(2 if again else 1):
        assert _outcome(lambda: encode_request_part(data, data_type, state, p)) == want


def test_encode_request_part_keeps_the_payload_rule() -> None:
    # ":content-type" only with a payload, also once the same members were seen with one
    assert encode_request_part(b"x", "UTF8") == encode_request_event(
        {"PayloadPart": {"Bytes": b"x", "DataType": "UTF8"}}
    )
    (msg,) = Decoder().feed(encode_request_part(b"", "UTF8"))
    assert ":content-type" not in msg.headers
    (msg,) = Decoder().feed(encode_request_part(bytearray(b"ab"), "UTF8"))
    assert msg.payload == b"ab"


def test_event_headers_of_other_types_are_read_as_text() -> None:
    # string headers are the rule; bytes (type 6) values are read as their UTF-8 text, as the
    # error path reads them, so the event is the same
    msg = Message(
        headers=[
            (":message-type", b"event"),
            (":event-type", b"PayloadPart"),
            ("DataType", b"UTF8"),
            ("CompletionState", "PARTIAL"),
        ],
        payload=b"x",
    )
    assert event_to_dict(msg, OP) == {
        "PayloadPart": {"Bytes": b"x", "DataType": "UTF8", "CompletionState": "PARTIAL"}
    }
    odd = Message(headers=[(":message-type", "event"), (":event-type", 5)], payload=b"x")
    assert event_to_dict(odd, OP) is None  # "5": not a known event type
    with pytest.raises(exceptions.ClientError):  # no :message-type: an error, never skipped
        event_to_dict(Message(headers=[(":event-type", "PayloadPart")], payload=b"x"), OP)

    class NoHeaders:
        payload = b"x"

    with pytest.raises(exceptions.ClientError):
        event_to_dict(NoHeaders(), OP)  # type: ignore[arg-type]
