"""Every operation, member, shape and constraint of the newest service model is handled."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smruntime._http import HttpHeaders
from smruntime._operations import (
    ERROR_SHAPES,
    EVENT_TYPES,
    OPERATIONS,
    Member,
    OperationSpec,
    Shape,
    build_request,
    get_operation,
    parse_response,
    validate,
)
from smruntime.exceptions import MODELED_ERRORS

SPEC = Path(__file__).parent.parent / "data" / "spec"
MODEL = json.loads(
    (SPEC / "sagemaker-runtime" / "2017-05-13" / "service-2.json").read_text("utf-8")
)
SHAPES: dict[str, Any] = MODEL["shapes"]
MODEL_OPS: dict[str, Any] = MODEL["operations"]
BASE = "https://runtime.sagemaker.us-east-1.amazonaws.com"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _spec(op_name: str) -> OperationSpec:
    return OPERATIONS[_snake(op_name)]


# A valid sample value for every input shape of the model (the test fails on a new shape).
SAMPLES: dict[str, Any] = {
    "EndpointName": "my-endpoint",
    "BodyBlob": b'{"inputs":"hi"}',
    "AsyncBodyBlob": b"1,2,3",
    "Header": "application/json",
    "CustomAttributesHeader": "trace=1",
    "TargetModelHeader": "model-a.tar.gz",
    "TargetVariantHeader": "AllTraffic",
    "TargetContainerHostname" + "Header": "container-1",
    "InferenceId": "inference 1",
    "EnableExplanationsHeader": "`true`",
    "InferenceComponentHeader": "ic-1",
    "SessionIdOrNewSessionConstantHeader": "NEW_SESSION",
    "SessionIdHeader": "session-1",
    "PrefixAwareIdHeader": "conversation-1",
    "InputLocationHeader": "s3://bucket/input.json",
    "S3OutputPathExtensionHeader": "out/run-1",
    "FilenameHeader": "result.json",
    "RequestTTLSecondsHeader": 3600,
    "InvocationTimeoutSecondsHeader": 900,
    "NewSessionResponseHeader": "session-1; Expires=2024-01-15T12:30:45Z",
}


def test_service_metadata() -> None:
    meta = MODEL["metadata"]
    assert meta["protocol"] == "rest-json"
    assert meta["endpointPrefix"] == "runtime.sagemaker"
    assert meta["signingName"] == "sagemaker"


def test_same_operations() -> None:
    assert sorted(spec.name for spec in OPERATIONS.values()) == sorted(MODEL_OPS)
    assert sorted(OPERATIONS) == sorted(_snake(name) for name in MODEL_OPS)
    for key, spec in OPERATIONS.items():
        assert spec.snake_name == key
        assert get_operation(spec.name) is spec


@pytest.mark.parametrize("op_name", sorted(MODEL_OPS))
def test_http_binding(op_name: str) -> None:
    model_op = MODEL_OPS[op_name]
    spec = _spec(op_name)
    assert spec.method == model_op["http"]["method"]
    assert spec.uri == model_op["http"]["requestUri"]
    assert spec.success_status == model_op["http"].get("responseCode", 200)
    assert list(spec.errors) == [e["shape"] for e in model_op["errors"]]
    output = SHAPES[model_op["output"]["shape"]]
    payload = output.get("payload")
    streaming = bool(payload and SHAPES[output["members"][payload]["shape"]].get("eventstream"))
    assert spec.streaming == streaming


def _check_shape(ours: Shape, shape_name: str) -> None:
    theirs = SHAPES[shape_name]
    assert ours.name == shape_name
    kind = "eventstream" if theirs.get("eventstream") else theirs["type"]
    assert ours.type == kind, shape_name
    assert ours.min == theirs.get("min"), shape_name
    assert ours.max == theirs.get("max"), shape_name
    assert ours.model_pattern == theirs.get("pattern"), shape_name
    assert (ours.pattern is None) == ("pattern" not in theirs), shape_name
    assert ours.sensitive == bool(theirs.get("sensitive")), shape_name


def _check_members(ours: dict[str, Member] | Any, structure_name: str) -> None:
    structure = SHAPES[structure_name]
    members = structure["members"]
    assert list(ours) == list(members), structure_name
    required = set(structure.get("required", []))
    payload = structure.get("payload")
    for name, model_member in members.items():
        member = ours[name]
        assert member.name == name
        assert member.required == (name in required), (structure_name, name)
        location = model_member.get("location")
        if location is not None:
            assert member.location == location, (structure_name, name)
            assert member.wire_name == model_member["locationName"], (structure_name, name)
        elif name == payload:
            assert member.location == "payload", (structure_name, name)
        else:
            assert member.location == "json", (structure_name, name)
            assert member.wire_name == model_member.get("locationName", name)
        _check_shape(member.shape, model_member["shape"])


@pytest.mark.parametrize("op_name", sorted(MODEL_OPS))
def test_input_members(op_name: str) -> None:
    _check_members(_spec(op_name).input, MODEL_OPS[op_name]["input"]["shape"])


@pytest.mark.parametrize("op_name", sorted(MODEL_OPS))
def test_output_members(op_name: str) -> None:
    _check_members(_spec(op_name).output, MODEL_OPS[op_name]["output"]["shape"])


def test_error_shapes() -> None:
    model_errors = {name for name, shape in SHAPES.items() if shape.get("exception")}
    assert set(ERROR_SHAPES) == model_errors
    assert set(MODELED_ERRORS) == model_errors
    for name, (status, members) in ERROR_SHAPES.items():
        shape = SHAPES[name]
        assert status == shape.get("error", {}).get("httpStatusCode"), name
        assert list(members) == list(shape["members"]), name
        for member_name, member_shape in members.items():
            _check_shape(member_shape, shape["members"][member_name]["shape"])


def test_event_union() -> None:
    union = SHAPES["ResponseStream"]
    assert union.get("eventstream")
    events = {n for n, m in union["members"].items() if SHAPES[m["shape"]].get("event")}
    exceptions = {n for n, m in union["members"].items() if SHAPES[m["shape"]].get("exception")}
    assert set(EVENT_TYPES) == events
    assert exceptions <= set(ERROR_SHAPES)
    assert events | exceptions == set(union["members"])
    for event, members in EVENT_TYPES.items():
        model_members = SHAPES[union["members"][event]["shape"]]["members"]
        assert list(members) == list(model_members)
        for name, (binding, shape) in members.items():
            model_member = model_members[name]
            expected = "eventpayload" if model_member.get("eventpayload") else "eventheader"
            assert binding == expected
            _check_shape(shape, model_member["shape"])


def test_every_input_shape_has_a_sample() -> None:
    for op_name, model_op in MODEL_OPS.items():
        for name, member in SHAPES[model_op["input"]["shape"]]["members"].items():
            assert member["shape"] in SAMPLES, (op_name, name)


def _full_params(op_name: str) -> dict[str, Any]:
    members = SHAPES[MODEL_OPS[op_name]["input"]["shape"]]["members"]
    params = {name: SAMPLES[m["shape"]] for name, m in members.items()}
    if op_name == "InvokeEndpointAsync":
        params.pop("Body")  # Body and InputLocation exclude each other
    return params


@pytest.mark.parametrize("op_name", sorted(MODEL_OPS))
def test_every_input_member_reaches_the_wire(op_name: str) -> None:
    params = _full_params(op_name)
    validate(_snake(op_name), params)
    request = build_request(_snake(op_name), params, BASE)
    headers = dict(request.headers)
    members = SHAPES[MODEL_OPS[op_name]["input"]["shape"]]["members"]
    for name, member in members.items():
        if name not in params:
            continue
        value = params[name]
        if member.get("location") == "header":
            assert headers[member["locationName"]] == str(value), name
        elif member.get("location") == "uri":
            assert f"/{value}/" in request.url
        else:
            assert request.body == value
    assert len(headers) == len(request.headers)  # no header twice


def test_async_inline_body_member() -> None:
    params = {**_full_params("InvokeEndpointAsync"), "Body": SAMPLES["AsyncBodyBlob"]}
    params.pop("InputLocation")
    assert build_request("invoke_endpoint_async", params, BASE).body == b"1,2,3"


@pytest.mark.parametrize("op_name", sorted(MODEL_OPS))
def test_every_output_member_is_parsed(op_name: str) -> None:
    structure = SHAPES[MODEL_OPS[op_name]["output"]["shape"]]
    headers: list[tuple[str, str]] = []
    body: dict[str, str] = {}
    expected: dict[str, Any] = {}
    for name, member in structure["members"].items():
        value = SAMPLES.get(member["shape"], f"value-of-{name}")
        if member.get("location") == "header":
            headers.append((member["locationName"].upper(), value))
            expected[name] = value
        elif name != structure.get("payload"):
            body[member.get("locationName", name)] = value
            expected[name] = value
    raw = json.dumps(body).encode() if body else b"model output"
    spec = _spec(op_name)
    out = parse_response(spec.snake_name, spec.success_status, HttpHeaders(headers), raw)
    if structure.get("payload") and not spec.streaming:
        expected[structure["payload"]] = raw
    assert out == expected


# -- the Python pattern translations agree with the model's Java patterns ----------------------


def _java_to_python(pattern: str) -> str:
    """A mechanical translation used only as an oracle (the module's are written by hand)."""
    out = pattern.replace("[\\p{Print}]", "[\\x20-\\x7e]").replace("\\p{ASCII}", "[\\x00-\\x7f]")
    out = out.replace("\\S", "[^ \\t\\n\\x0b\\f\\r]").replace("\\z", "\\Z")
    # Java's "." (outside a class) also stops at CR and the Unicode line separators.
    result: list[str] = []
    in_class = escaped = False
    for char in out:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "." and not in_class:
            char = "[^\\n\\r\\u0085\\u2028\\u2029]"
        result.append(char)
    return "".join(result)


def test_oracle_translation() -> None:
    assert _java_to_python("\\A\\S[\\p{Print}]*\\z") == (
        "\\A[^ \\t\\n\\x0b\\f\\r][\\x20-\\x7e]*\\Z"
    )
    assert _java_to_python("\\p{ASCII}*") == "[\\x00-\\x7f]*"
    assert _java_to_python("a.[.]\\.") == "a[^\\n\\r\\u0085\\u2028\\u2029][.]\\."


PATTERN_SHAPES = sorted(
    {
        (name, shape["pattern"])
        for name, shape in SHAPES.items()
        if shape.get("type") == "string" and "pattern" in shape
    }
)
_ALPHABET = st.sampled_from(
    [*"aZ09-_./:;!*'() ~#é\t\r\n\x00\x7f\u2028", "s3://", "https://", "NEW_SESSION", "Expires="]
)


def _our_shape(name: str) -> Shape:
    for spec in OPERATIONS.values():
        for member in (*spec.input.values(), *spec.output.values()):
            if member.shape.name == name:
                return member.shape
    for _status, members in ERROR_SHAPES.values():
        for shape in members.values():
            if shape.name == name:
                return shape
    raise AssertionError(f"shape {name} is not used")


@pytest.mark.parametrize(("name", "pattern"), PATTERN_SHAPES)
def test_samples_match_both_patterns(name: str, pattern: str) -> None:
    ours = _our_shape(name)
    assert ours.regex is not None
    oracle = re.compile(_java_to_python(pattern))
    sample = SAMPLES[name]
    assert ours.regex.fullmatch(sample)
    assert oracle.fullmatch(sample)


@pytest.mark.parametrize(("name", "pattern"), PATTERN_SHAPES)
@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(_ALPHABET, max_size=12))
def test_pattern_translation_agrees(name: str, pattern: str, pieces: list[str]) -> None:
    value = "".join(pieces)
    ours = _our_shape(name)
    assert ours.regex is not None
    oracle = re.compile(_java_to_python(pattern))
    assert bool(ours.regex.fullmatch(value)) == bool(oracle.fullmatch(value)), (name, value)
