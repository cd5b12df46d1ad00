"""The three SageMaker Runtime operations on the wire (rest-json): requests, responses, errors.

Pure: no I/O, no clock. The tables below are written from the service model (botocore 1.44.8
``sagemaker-runtime/2017-05-13/service-2.json``); ``tests/smruntime/test_model_coverage.py``
checks them member by member against that file.

Decisions (see NOTES.md §2, §3, §4, §8, §15):

* Validation is stricter than botocore's: besides required members, types and ``min``, it
  checks ``max`` lengths, the model's patterns (translated from Java regex, full match), integer
  ranges and the body limits of the model (6291456 bytes for InvokeEndpoint and
  InvokeEndpointWithResponseStream, 128000 bytes for InvokeEndpointAsync's inline body). Header
  values must be printable ASCII (HTTP forbids control characters; CR/LF would inject
  headers). InvokeEndpointAsync needs exactly one of ``Body`` and ``InputLocation``, as its
  documentation says. A parameter given as ``None`` counts as absent.
* No ``Content-Type`` is sent unless ``ContentType`` is given (botocore's behaviour), so
  requests are byte-for-byte what botocore signs.
* Error responses are parsed as botocore does, plus a ``hint`` when the cause is known; a
  5xx with an HTML/empty body keeps botocore's code (the status as a string) and gets a short
  body preview in its message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Optional, Protocol
from urllib.parse import quote, urlsplit, urlunsplit

from smruntime._http import HttpHeaders, HttpRequest
from smruntime.exceptions import (
    ClientError,
    InternalDependencyException,
    InternalFailure,
    ParamValidationError,
    ServiceUnavailable,
    error_class_for,
)

__all__ = [
    "ERROR_SHAPES",
    "EVENT_TYPES",
    "EventMessage",
    "OPERATIONS",
    "Member",
    "OperationSpec",
    "Shape",
    "build_request",
    "encode_label",
    "event_to_dict",
    "get_operation",
    "parse_error",
    "parse_response",
    "response_metadata",
    "stream_error",
    "validate",
]


# --------------------------------------------------------------------------------------------
# Model tables


@dataclass(frozen=True)
class Shape:
    """A model shape with its constraints; ``pattern`` is the Python translation (full match)
    of ``model_pattern``, the Java regex in the model."""

    name: str
    type: str  # "string" | "integer" | "blob" | "eventstream"
    min: Optional[int] = None
    max: Optional[int] = None
    model_pattern: Optional[str] = None
    pattern: Optional[str] = None
    sensitive: bool = False

    @property
    def regex(self) -> Optional[re.Pattern[str]]:
        """``pattern`` compiled on first use (``re`` caches it), to keep imports cheap."""
        return None if self.pattern is None else re.compile(self.pattern)


@dataclass(frozen=True)
class Member:
    """A member of an input or output structure and where it lives on the wire.

    ``location``: ``"uri"`` (path label), ``"header"``, ``"payload"`` (the raw HTTP body or,
    for the streaming output, the event stream) or ``"json"`` (a key of a JSON body).
    """

    name: str
    location: str
    wire_name: str
    shape: Shape
    required: bool = False


@dataclass(frozen=True)
class OperationSpec:
    """One operation: its HTTP binding and input/output members (keyed by boto3 name)."""

    name: str
    snake_name: str
    method: str
    uri: str
    success_status: int
    streaming: bool
    input: Mapping[str, Member]
    output: Mapping[str, Member]
    errors: tuple[str, ...]
    iam_action: str


# Java-regex translations (NOTES §3.4). Java's "." excludes these line terminators.
_NOT_LINE_END = "[^\\n\\r\\u0085\\u2028\\u2029]"
_NAME = "[a-zA-Z0-9](?:-*[a-zA-Z0-9])*"
_ASCII = "[\\x00-\\x7f]*"
_PRINT_ID = "[^ \\t\\n\\x0b\\f\\r][\\x20-\\x7e]*"

_HEADER = Shape("Header", "string", max=1024, model_pattern="\\p{ASCII}*", pattern=_ASCII)
_CUSTOM_ATTRIBUTES = Shape(
    "CustomAttributesHeader",
    "string",
    max=1024,
    model_pattern="\\p{ASCII}*",
    pattern=_ASCII,
    sensitive=True,
)
_ENDPOINT_NAME = Shape(
    "EndpointName",
    "string",
    max=63,
    model_pattern="^[a-zA-Z0-9](-*[a-zA-Z0-9])*",
    pattern=_NAME,
)
_BODY = Shape("BodyBlob", "blob", max=6291456, sensitive=True)
_ASYNC_BODY = Shape("AsyncBodyBlob", "blob", max=128000, sensitive=True)
_TARGET_MODEL = Shape(
    "TargetModelHeader",
    "string",
    min=1,
    max=1024,
    model_pattern="\\A\\S[\\p{Print}]*\\z",
    pattern=_PRINT_ID,
)
_TARGET_VARIANT = Shape(
    "TargetVariantHeader",
    "string",
    max=63,
    model_pattern="^[a-zA-Z0-9](-*[a-zA-Z0-9])*",
    pattern=_NAME,
)
_TARGET_CONTAINER = Shape(
    "TargetContainerHostnameHeader",
    "string",
    max=63,
    model_pattern="^[a-zA-Z0-9](-*[a-zA-Z0-9])*",
    pattern=_NAME,
)
_INFERENCE_ID = Shape(
    "InferenceId",
    "string",
    min=1,
    max=64,
    model_pattern="\\A\\S[\\p{Print}]*\\z",
    pattern=_PRINT_ID,
)
_ENABLE_EXPLANATIONS = Shape(
    "EnableExplanationsHeader",
    "string",
    min=1,
    max=64,
    model_pattern=".*",
    pattern=_NOT_LINE_END + "*",
)
_INFERENCE_COMPONENT = Shape(
    "InferenceComponentHeader",
    "string",
    max=63,
    model_pattern="^[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?$",
    pattern="[a-zA-Z0-9](?:[\\-a-zA-Z0-9]*[a-zA-Z0-9])?",
)
_SESSION_ID_OR_NEW = Shape(
    "SessionIdOrNewSessionConstantHeader",
    "string",
    max=256,
    model_pattern="^(NEW_SESSION)$|^[a-zA-Z0-9](-*[a-zA-Z0-9])*$",
    pattern="NEW_SESSION|" + _NAME,
)
_SESSION_ID = Shape(
    "SessionIdHeader",
    "string",
    max=256,
    model_pattern="^[a-zA-Z0-9](-*[a-zA-Z0-9])*$",
    pattern=_NAME,
)
_PREFIX_AWARE_ID = Shape(
    "PrefixAwareIdHeader",
    "string",
    min=1,
    max=64,
    model_pattern="\\A\\S[\\p{Print}]*\\z",
    pattern=_PRINT_ID,
)
_INPUT_LOCATION = Shape(
    "InputLocationHeader",
    "string",
    min=1,
    max=1024,
    model_pattern="^(https|s3)://([^/]+)/?(.*)$",
    pattern="(?:https|s3)://[^/]+/?" + _NOT_LINE_END + "*",
)
_S3_OUTPUT_PATH_EXTENSION = Shape(
    "S3OutputPathExtensionHeader",
    "string",
    min=1,
    max=512,
    model_pattern="^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$",
    pattern="(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+",
)
_FILENAME = Shape(
    "FilenameHeader",
    "string",
    min=1,
    max=32,
    model_pattern="^(?!.*\\..*\\.)[a-zA-Z0-9][a-zA-Z0-9-_\\.]*$",
    pattern="(?!.*\\..*\\.)[a-zA-Z0-9][a-zA-Z0-9_.-]*",
)
_REQUEST_TTL = Shape("RequestTTLSecondsHeader", "integer", min=60, max=21600)
_INVOCATION_TIMEOUT = Shape("InvocationTimeoutSecondsHeader", "integer", min=1, max=3600)
_NEW_SESSION_RESPONSE = Shape(
    "NewSessionResponseHeader",
    "string",
    max=256,
    model_pattern=(
        "^[a-zA-Z0-9](-*[a-zA-Z0-9])*;\\sExpires=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
        ":[0-9]{2}Z$"
    ),
    pattern=(
        _NAME + ";[ \\t\\n\\x0b\\f\\r]Expires=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}"
        ":[0-9]{2}Z"
    ),
)
_RESPONSE_STREAM = Shape("ResponseStream", "eventstream")
_MESSAGE = Shape("Message", "string", max=2048)
_STATUS_CODE = Shape("StatusCode", "integer")
_LOG_STREAM_ARN = Shape("LogStreamArn", "string")
_ERROR_CODE = Shape("ErrorCode", "string")
_PART_BLOB = Shape("PartBlob", "blob", sensitive=True)


def _header(name: str, wire: str, shape: Shape) -> Member:
    return Member(name, "header", wire, shape)


def _members(*members: Member) -> dict[str, Member]:
    return {m.name: m for m in members}


_SM = "X-Amzn-SageMaker-"

OPERATIONS: dict[str, OperationSpec] = {
    "invoke_endpoint": OperationSpec(
        name="InvokeEndpoint",
        snake_name="invoke_endpoint",
        method="POST",
        uri="/endpoints/{EndpointName}/invocations",
        success_status=200,
        streaming=False,
        input=_members(
            Member("EndpointName", "uri", "EndpointName", _ENDPOINT_NAME, required=True),
            Member("Body", "payload", "", _BODY, required=True),
            _header("ContentType", "Content-Type", _HEADER),
            _header("Accept", "Accept", _HEADER),
            _header("CustomAttributes", _SM + "Custom-Attributes", _CUSTOM_ATTRIBUTES),
            _header("TargetModel", _SM + "Target-Model", _TARGET_MODEL),
            _header("TargetVariant", _SM + "Target-Variant", _TARGET_VARIANT),
            _header(
                "TargetContainerHostname", _SM + "Target-Container-Hostname", _TARGET_CONTAINER
            ),
            _header("InferenceId", _SM + "Inference-Id", _INFERENCE_ID),
            _header("EnableExplanations", _SM + "Enable-Explanations", _ENABLE_EXPLANATIONS),
            _header("InferenceComponentName", _SM + "Inference-Component", _INFERENCE_COMPONENT),
            _header("SessionId", _SM + "Session-Id", _SESSION_ID_OR_NEW),
            _header("PrefixAwareId", _SM + "Prefix-Aware-Id", _PREFIX_AWARE_ID),
        ),
        output=_members(
            Member("Body", "payload", "", _BODY, required=True),
            _header("ContentType", "Content-Type", _HEADER),
            _header("InvokedProductionVariant", "x-Amzn-Invoked-Production-Variant", _HEADER),
            _header("CustomAttributes", _SM + "Custom-Attributes", _CUSTOM_ATTRIBUTES),
            _header("NewSessionId", _SM + "New-Session-Id", _NEW_SESSION_RESPONSE),
            _header("ClosedSessionId", _SM + "Closed-Session-Id", _SESSION_ID),
        ),
        errors=(
            "InternalFailure",
            "ServiceUnavailable",
            "ValidationError",
            "ModelError",
            "InternalDependencyException",
            "ModelNotReadyException",
        ),
        iam_action="sagemaker:InvokeEndpoint",
    ),
    "invoke_endpoint_async": OperationSpec(
        name="InvokeEndpointAsync",
        snake_name="invoke_endpoint_async",
        method="POST",
        uri="/endpoints/{EndpointName}/async-invocations",
        success_status=202,
        streaming=False,
        input=_members(
            Member("EndpointName", "uri", "EndpointName", _ENDPOINT_NAME, required=True),
            _header("ContentType", _SM + "Content-Type", _HEADER),
            _header("Accept", _SM + "Accept", _HEADER),
            _header("CustomAttributes", _SM + "Custom-Attributes", _CUSTOM_ATTRIBUTES),
            _header("InferenceId", _SM + "Inference-Id", _INFERENCE_ID),
            _header("InputLocation", _SM + "InputLocation", _INPUT_LOCATION),
            _header(
                "S3OutputPathExtension", _SM + "S3OutputPathExtension", _S3_OUTPUT_PATH_EXTENSION
            ),
            _header("Filename", _SM + "Filename", _FILENAME),
            _header("RequestTTLSeconds", _SM + "RequestTTLSeconds", _REQUEST_TTL),
            _header(
                "InvocationTimeoutSeconds", _SM + "InvocationTimeoutSeconds", _INVOCATION_TIMEOUT
            ),
            Member("Body", "payload", "", _ASYNC_BODY),
        ),
        output=_members(
            Member("InferenceId", "json", "InferenceId", _HEADER),
            _header("OutputLocation", _SM + "OutputLocation", _HEADER),
            _header("FailureLocation", _SM + "FailureLocation", _HEADER),
        ),
        errors=("InternalFailure", "ServiceUnavailable", "ValidationError"),
        iam_action="sagemaker:InvokeEndpointAsync",
    ),
    "invoke_endpoint_with_response_stream": OperationSpec(
        name="InvokeEndpointWithResponseStream",
        snake_name="invoke_endpoint_with_response_stream",
        method="POST",
        uri="/endpoints/{EndpointName}/invocations-response-stream",
        success_status=200,
        streaming=True,
        input=_members(
            Member("EndpointName", "uri", "EndpointName", _ENDPOINT_NAME, required=True),
            Member("Body", "payload", "", _BODY, required=True),
            _header("ContentType", "Content-Type", _HEADER),
            _header("Accept", _SM + "Accept", _HEADER),
            _header("CustomAttributes", _SM + "Custom-Attributes", _CUSTOM_ATTRIBUTES),
            _header("TargetVariant", _SM + "Target-Variant", _TARGET_VARIANT),
            _header(
                "TargetContainerHostname", _SM + "Target-Container-Hostname", _TARGET_CONTAINER
            ),
            _header("InferenceId", _SM + "Inference-Id", _INFERENCE_ID),
            _header("InferenceComponentName", _SM + "Inference-Component", _INFERENCE_COMPONENT),
            _header("SessionId", _SM + "Session-Id", _SESSION_ID),
            _header("PrefixAwareId", _SM + "Prefix-Aware-Id", _PREFIX_AWARE_ID),
        ),
        output=_members(
            Member("Body", "payload", "", _RESPONSE_STREAM, required=True),
            _header("ContentType", _SM + "Content-Type", _HEADER),
            _header("InvokedProductionVariant", "x-Amzn-Invoked-Production-Variant", _HEADER),
            _header("CustomAttributes", _SM + "Custom-Attributes", _CUSTOM_ATTRIBUTES),
        ),
        errors=(
            "InternalFailure",
            "ServiceUnavailable",
            "ValidationError",
            "ModelError",
            "ModelStreamError",
            "InternalStreamFailure",
        ),
        iam_action="sagemaker:InvokeEndpoint",
    ),
}

#: Error shapes of the service: code -> (HTTP status or None for in-stream errors, members).
ERROR_SHAPES: dict[str, tuple[Optional[int], dict[str, Shape]]] = {
    "ValidationError": (400, {"Message": _MESSAGE}),
    "InternalFailure": (500, {"Message": _MESSAGE}),
    "ServiceUnavailable": (503, {"Message": _MESSAGE}),
    "ModelError": (
        424,
        {
            "Message": _MESSAGE,
            "OriginalStatusCode": _STATUS_CODE,
            "OriginalMessage": _MESSAGE,
            "LogStreamArn": _LOG_STREAM_ARN,
        },
    ),
    "InternalDependencyException": (530, {"Message": _MESSAGE}),
    "ModelNotReadyException": (429, {"Message": _MESSAGE}),
    "ModelStreamError": (None, {"Message": _MESSAGE, "ErrorCode": _ERROR_CODE}),
    "InternalStreamFailure": (None, {"Message": _MESSAGE}),
}

#: Members of the ``ResponseStream`` event union: event type -> {member: (binding, shape)}.
EVENT_TYPES: dict[str, dict[str, tuple[str, Shape]]] = {
    "PayloadPart": {"Bytes": ("eventpayload", _PART_BLOB)},
}

# Extra body keys kept on ModelError beyond the classic model (the HTTP/2 service models it).
_EXTRA_ERROR_FIELDS: dict[str, dict[str, Shape]] = {"ModelError": {"ErrorCode": _ERROR_CODE}}

# Generic (non-JSON) 5xx errors: the class follows the status since the code is only a number.
_STATUS_CLASSES: dict[int, type[ClientError]] = {
    500: InternalFailure,
    503: ServiceUnavailable,
    530: InternalDependencyException,
}

_BY_NAME = {spec.name: spec for spec in OPERATIONS.values()}


def get_operation(op: str) -> OperationSpec:
    """The spec of ``op``, given by boto3 name (``invoke_endpoint``) or API name."""
    spec = OPERATIONS.get(op) if isinstance(op, str) else None
    if spec is None and isinstance(op, str):
        spec = _BY_NAME.get(op)
    if spec is None:
        raise ParamValidationError(
            "operation",
            f"unknown operation {op!r}; expected one of {', '.join(OPERATIONS)}",
        )
    return spec


# --------------------------------------------------------------------------------------------
# Validation

_HEADER_FORBIDDEN = re.compile(r"[^\x20-\x7e\t]")
_BYTES_LIKE = (bytes, bytearray, memoryview)


def _fail(spec: OperationSpec, param: str, reason: str) -> ParamValidationError:
    return ParamValidationError(param, reason, operation_name=spec.name)


def _type_name(value: object) -> str:
    return type(value).__name__


def _is_file(value: object) -> bool:
    return callable(getattr(value, "read", None))


def _unknown_param(spec: OperationSpec, name: object) -> ParamValidationError:
    valid = list(spec.input)
    text = name if isinstance(name, str) else repr(name)
    reason = f"unknown parameter; valid parameters are {', '.join(valid)}"
    if isinstance(name, str):
        folded = {v.lower(): v for v in valid}
        guess = folded.get(name.lower().replace("_", ""))
        if guess is None:
            import difflib

            close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
            guess = close[0] if close else None
        if guess is not None:
            reason = f"unknown parameter (did you mean {guess}?); valid parameters are " + (
                ", ".join(valid)
            )
        else:
            for other in OPERATIONS.values():
                if other is not spec and name in other.input:
                    reason += f" ({name} belongs to {other.name})"
                    break
    return _fail(spec, text, reason)


def _check_header_text(spec: OperationSpec, member: Member, value: str) -> None:
    bad = _HEADER_FORBIDDEN.search(value)
    if bad is not None:
        raise _fail(
            spec,
            member.name,
            f"header values must be printable ASCII; found U+{ord(bad.group()):04X} "
            f"at index {bad.start()}",
        )


def _check_string(spec: OperationSpec, member: Member, value: object) -> None:
    shape = member.shape
    if not isinstance(value, str):
        raise _fail(spec, member.name, f"expected a str, got {_type_name(value)}")
    shown = "<redacted>" if shape.sensitive else repr(value[:80])
    if shape.min is not None and len(value) < shape.min:
        raise _fail(
            spec,
            member.name,
            f"length {len(value)} is below the minimum of {shape.min}"
            + ("" if value else " (an empty string is not allowed)"),
        )
    if shape.max is not None and len(value) > shape.max:
        raise _fail(spec, member.name, f"length {len(value)} is above the maximum of {shape.max}")
    if shape.regex is not None and shape.regex.fullmatch(value) is None:
        if not value:
            raise _fail(spec, member.name, "an empty string is not allowed")
        raise _fail(
            spec,
            member.name,
            f"value {shown} does not match the pattern {shape.model_pattern}"
            + _pattern_help(shape),
        )
    if member.location == "header":
        _check_header_text(spec, member, value)


def _pattern_help(shape: Shape) -> str:
    if shape.pattern is not None and shape.pattern.endswith(_NAME):
        return " (letters, digits and single or repeated '-' between them, no leading '-')"
    if shape.pattern == _PRINT_ID:
        return " (printable ASCII, not starting with a blank)"
    return ""


def _check_integer(spec: OperationSpec, member: Member, value: object) -> None:
    shape = member.shape
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(spec, member.name, f"expected an int, got {_type_name(value)}")
    if shape.min is not None and value < shape.min:
        raise _fail(spec, member.name, f"{value} is below the minimum of {shape.min}")
    if shape.max is not None and value > shape.max:
        raise _fail(spec, member.name, f"{value} is above the maximum of {shape.max}")


def _check_body(spec: OperationSpec, member: Member, value: object) -> None:
    if isinstance(value, _BYTES_LIKE):
        size = memoryview(value).nbytes
    elif isinstance(value, str):
        if len(value) > (member.shape.max or len(value)):
            size = len(value)  # UTF-8 is never shorter: no need to encode
        else:
            try:
                size = len(value.encode("utf-8"))
            except UnicodeEncodeError as exc:
                raise _fail(
                    spec, member.name, f"str is not encodable as UTF-8 (at index {exc.start})"
                ) from None
    elif _is_file(value):
        return
    else:
        raise _fail(
            spec,
            member.name,
            f"expected bytes, bytearray, str or a readable binary file, got {_type_name(value)}",
        )
    _check_body_size(spec, member, size)


def _check_body_size(spec: OperationSpec, member: Member, size: int) -> None:
    limit = member.shape.max
    if limit is not None and size > limit:
        extra = ""
        if spec.snake_name == "invoke_endpoint_async":
            extra = "; upload larger inputs to S3 and pass InputLocation instead"
        raise _fail(
            spec,
            member.name,
            f"body is {size} bytes, above the {spec.name} limit of {limit} bytes{extra}",
        )


def validate(op: str, params: Mapping[str, Any]) -> None:
    """Check ``params`` against the model of ``op``; raise :class:`ParamValidationError`.

    Checks: unknown names (with a suggestion), required members, Python types, lengths,
    patterns, integer ranges, body type and size. ``None`` values count as absent. A file
    body's size is checked when :func:`build_request` reads it.
    """
    spec = get_operation(op)
    if not isinstance(params, Mapping):
        raise _fail(spec, "params", f"expected a mapping of parameters, got {_type_name(params)}")
    for name in params:
        if name not in spec.input:
            raise _unknown_param(spec, name)
    for member in spec.input.values():
        value = params.get(member.name)
        if value is None:
            if member.required:
                raise _fail(spec, member.name, "missing required parameter")
            continue
        if member.location == "payload":
            _check_body(spec, member, value)
        elif member.shape.type == "integer":
            _check_integer(spec, member, value)
        else:
            _check_string(spec, member, value)
    if spec.snake_name == "invoke_endpoint_async":
        has_body = params.get("Body") is not None
        has_location = params.get("InputLocation") is not None
        if has_body and has_location:
            raise _fail(
                spec, "Body", "Body and InputLocation exclude each other; give only one of them"
            )
        if not has_body and not has_location:
            raise _fail(
                spec,
                "InputLocation",
                "missing: give InputLocation (an s3:// or https:// URI of the input) or an "
                "inline Body of at most 128000 bytes",
            )


# --------------------------------------------------------------------------------------------
# Requests


def encode_label(value: str) -> str:
    """Percent-encode a URI label: everything but RFC 3986 unreserved characters, ``/``
    included; a label of only dots is fully encoded so no path normalization can eat it."""
    encoded = quote(value, safe="")
    if encoded and set(encoded) == {"."}:
        encoded = "%2E" * len(encoded)
    return encoded


def _read_body(spec: OperationSpec, member: Member, value: object, check: bool) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _fail(
                spec, member.name, f"str is not encodable as UTF-8 (at index {exc.start})"
            ) from None
    if _is_file(value):
        limit = member.shape.max
        # Read one byte past the limit: enough to reject without loading a huge file.
        data = value.read(limit + 1) if check and limit is not None else value.read()  # type: ignore[attr-defined]
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        if not isinstance(data, _BYTES_LIKE):
            raise _fail(
                spec, member.name, f"file read() returned {_type_name(data)}, expected bytes"
            )
        return bytes(data)
    raise _fail(
        spec,
        member.name,
        f"expected bytes, bytearray, str or a readable binary file, got {_type_name(value)}",
    )


def _header_value(spec: OperationSpec, member: Member, value: object) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, str)):
        text = str(value)
    else:
        raise _fail(spec, member.name, f"expected a str, got {_type_name(value)}")
    if any(c in text for c in "\r\n\x00"):
        raise _fail(spec, member.name, "header values must not contain CR, LF or NUL")
    return text


def _join_url(endpoint_url: str, path: str) -> str:
    parts = urlsplit(endpoint_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path, parts.query, ""))


def build_request(
    op: str, params: Mapping[str, Any], endpoint_url: str, *, validate_params: bool = True
) -> HttpRequest:
    """The unsigned HTTP request for ``op``: method, URL, headers (in the order given, exact
    wire names) and body bytes. Runs :func:`validate` first unless ``validate_params`` is False
    (botocore's ``parameter_validation=False``: only what cannot be serialized is rejected).
    A file ``Body`` is read here."""
    spec = get_operation(op)
    if validate_params:
        validate(spec.snake_name, params)
    elif not isinstance(params, Mapping):
        raise _fail(spec, "params", f"expected a mapping of parameters, got {_type_name(params)}")
    path = spec.uri
    body = b""
    for member in spec.input.values():
        value = params.get(member.name)
        if member.location == "uri":
            if not isinstance(value, str) or not value:
                raise _fail(spec, member.name, "missing required parameter (a non-empty str)")
            path = path.replace("{" + member.wire_name + "}", encode_label(value))
        elif member.location == "payload":
            body = _read_body(spec, member, value, validate_params)
            if validate_params:
                _check_body_size(spec, member, len(body))
    # Headers in the caller's order, as botocore sends them (the order is not signed).
    headers: list[tuple[str, str]] = []
    for name, value in params.items():
        target = spec.input.get(name) if isinstance(name, str) else None
        if target is not None and target.location == "header" and value is not None:
            headers.append((target.wire_name, _header_value(spec, target, value)))
    return HttpRequest(
        method=spec.method, url=_join_url(endpoint_url, path), headers=headers, body=body
    )


# --------------------------------------------------------------------------------------------
# Responses


def _get_header(headers: Mapping[str, str], name: str) -> Optional[str]:
    if isinstance(headers, HttpHeaders):
        return headers.get(name)
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def _headers_dict(headers: Mapping[str, str]) -> dict[str, str]:
    if isinstance(headers, HttpHeaders):
        return headers.to_dict()
    return {str(k).lower(): str(v) for k, v in headers.items()}


def _load_json(body: Optional[bytes]) -> Any:
    if not body or not body.strip():
        return None
    try:
        return json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None


def parse_response(
    op: str, status: int, headers: Mapping[str, str], body: Optional[bytes]
) -> dict[str, Any]:
    """boto3's output dict for a successful response, without ``ResponseMetadata``.

    Header members appear only when their header is present. ``Body`` is the raw body bytes
    for InvokeEndpoint and absent for the streaming operation (the caller wraps the stream).
    """
    spec = get_operation(op)
    out: dict[str, Any] = {}
    doc: Any = None
    for member in spec.output.values():
        if member.location == "header":
            value = _get_header(headers, member.wire_name)
            if value is not None:
                out[member.name] = value
        elif member.location == "json":
            if doc is None:
                doc = _load_json(body)
            if isinstance(doc, dict) and isinstance(doc.get(member.wire_name), str):
                out[member.name] = doc[member.wire_name]
        elif member.location == "payload" and not spec.streaming:
            out[member.name] = bytes(body) if body is not None else b""
    return out


def response_metadata(
    status: int, headers: Mapping[str, str], retry_attempts: int = 0
) -> dict[str, Any]:
    """boto3's ``ResponseMetadata``: RequestId (when sent), HostId (when sent),
    HTTPStatusCode, HTTPHeaders (lower-cased names) and RetryAttempts."""
    meta: dict[str, Any] = {}
    request_id = _get_header(headers, "x-amzn-RequestId") or _get_header(
        headers, "x-amz-request-id"
    )
    if request_id:
        meta["RequestId"] = request_id
    host_id = _get_header(headers, "x-amz-id-2")
    if host_id:
        meta["HostId"] = host_id
    meta["HTTPStatusCode"] = int(status)
    meta["HTTPHeaders"] = _headers_dict(headers)
    meta["RetryAttempts"] = int(retry_attempts)
    return meta


# --------------------------------------------------------------------------------------------
# Errors

_PREVIEW_CHARS = 160
_MESSAGE_CHARS = 1024


def _preview(text: str, limit: int = _PREVIEW_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _sanitize_code(raw: object) -> str:
    code = str(raw).split(":", 1)[0]
    if "#" in code:
        code = code.rsplit("#", 1)[1]
    return code.strip()


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _modeled_fields(code: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    members = dict(ERROR_SHAPES.get(code, (None, {}))[1])
    members.update(_EXTRA_ERROR_FIELDS.get(code, {}))
    out: dict[str, Any] = {}
    for name, shape in members.items():
        if name not in doc or doc[name] is None:
            continue
        value = doc[name]
        if shape.type == "integer":
            try:
                out[name] = int(value)
            except (TypeError, ValueError, OverflowError):
                out[name] = value
        else:
            out[name] = _as_text(value)
    return out


def _hint(
    spec: OperationSpec,
    code: str,
    status: Optional[int],
    message: str,
    fields: Mapping[str, Any],
    retry_attempts: int,
) -> Optional[str]:
    low = message.lower()
    retried = (
        f"already retried {retry_attempts} time{'s' if retry_attempts != 1 else ''}"
        if retry_attempts
        else "not retried (retries off or no attempts left)"
    )
    if code == "ValidationError":
        if "inference component" in low:
            return (
                "this endpoint hosts inference components: pass InferenceComponentName= with "
                "the component to invoke"
            )
        if "not found" in low and "endpoint" in low:
            return "check EndpointName and the region: endpoints are per account and region"
        return None
    if code == "InvalidSignatureException":
        if "expired" in low or "not yet current" in low:
            return (
                "the signing time is too far from AWS time: fix the system clock (NTP); "
                "requests are valid for 5 minutes"
            )
        return (
            "the signature did not match: check that the secret key belongs to the access key "
            "and that the system clock is right; nothing must change the request after signing "
            "(proxies rewriting the path or headers). Enable DEBUG logging for 'smruntime' to "
            "see the canonical request and string to sign"
        )
    if code in ("ExpiredTokenException", "ExpiredToken", "RequestExpired"):
        return (
            "the session credentials have expired: refresh them (re-assume the role, "
            "'aws sso login', or let a refreshing provider fetch new ones)"
        )
    if code == "UnrecognizedClientException":
        return (
            "AWS does not know this access key (or the session token does not belong to it): "
            "check the credentials and that they belong to this region's partition"
        )
    if code == "AccessDeniedException":
        return (
            f"the caller needs {spec.iam_action} on the endpoint's ARN; check identity "
            "policies, permission boundaries, SCPs and VPC endpoint policies"
        )
    if code == "ModelError":
        where = fields.get("LogStreamArn")
        status_part = ""
        if fields.get("OriginalStatusCode") is not None:
            status_part = f" (container status {fields['OriginalStatusCode']})"
        text = f"the model container itself returned an error{status_part}"
        if "timed out" in low:
            text += "; it must answer within 60 s: make the model faster or use async inference"
        if where:
            return f"{text}; see its log stream {where}"
        return f"{text}; see its CloudWatch logs (log group /aws/sagemaker/Endpoints/<name>)"
    if code == "ModelNotReadyException":
        return (
            "the model is still loading (serverless cold start or multi-model endpoint): "
            "wait a few seconds and call again"
        )
    if code in ("ThrottlingException", "ThrottledException", "TooManyRequestsException") or (
        status == 429 and code != "ModelNotReadyException"
    ):
        return f"the request was throttled and {retried}; slow down or raise max_attempts"
    if code in ("ServiceUnavailable", "InternalFailure", "InternalDependencyException") or (
        status is not None and status >= 500
    ):
        extra = ""
        if status == 504 and spec.snake_name == "invoke_endpoint":
            extra = "; a 504 often means the model took longer than 60 s to answer"
        return f"a server-side error; the request was {retried}{extra}"
    return None


def parse_error(
    op: str,
    status: int,
    headers: Mapping[str, str],
    body: Optional[bytes],
    *,
    retry_attempts: int = 0,
) -> ClientError:
    """The :class:`ClientError` subclass for an error response (status >= 300), with
    ``response`` shaped as boto3's (Error, ResponseMetadata, modeled fields at top level)."""
    spec = get_operation(op)
    raw = bytes(body) if body else b""
    text = raw.decode("utf-8", "replace")
    header_code = _get_header(headers, "x-amzn-ErrorType")
    meta = response_metadata(status, headers, retry_attempts)
    stripped = text.strip()
    generic = (
        status >= 500
        and not header_code
        and (not stripped or stripped[:1] == "<" or _load_json(raw) is None)
    )
    fields: dict[str, Any] = {}
    if generic:
        code = str(status)
        message = _reason(status)
        if stripped:
            message += f" (non-JSON body of {len(raw)} bytes: {_preview(stripped)!r})"
        cls = _STATUS_CLASSES.get(status, ClientError)
    else:
        doc = _load_json(raw)
        if isinstance(doc, dict):
            message = _as_text(doc.get("message", doc.get("Message", "")))
        else:
            doc = {}
            message = _preview(stripped, _MESSAGE_CHARS) if stripped else ""
        raw_code: object = header_code
        if not raw_code:
            raw_code = doc.get("code") or doc.get("Code") or doc.get("__type")
        code = _sanitize_code(raw_code) if raw_code else ""
        if not code:
            code = str(status)
        fields = _modeled_fields(code, doc)
        cls = error_class_for(code)
        if cls is ClientError and code == str(status):
            cls = _STATUS_CLASSES.get(status, ClientError)
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": meta,
    }
    response.update(fields)
    hint = _hint(spec, code, status, message, fields, retry_attempts)
    return cls(response, spec.name, hint=hint)


# --------------------------------------------------------------------------------------------
# Event-stream messages


class EventMessage(Protocol):
    """What :func:`stream_error` and :func:`event_to_dict` read of an event-stream message."""

    @property
    def headers(self) -> Mapping[str, Any]: ...

    @property
    def payload(self) -> bytes: ...


def _header_text(message: EventMessage, name: str) -> Optional[str]:
    try:
        value = message.headers.get(name)
    except (AttributeError, TypeError):
        return None
    if value is None:
        return None
    return _as_text(value)


def _stream_hint(code: str, fields: Mapping[str, Any]) -> Optional[str]:
    if code == "ModelStreamError":
        sub = fields.get("ErrorCode")
        if sub == "ModelInvocationTimeExceeded":
            return "the model did not finish streaming in the allowed time"
        if sub == "StreamBroken":
            return "the connection between SageMaker and the model container broke mid-stream"
        return "the model container failed while streaming; see its CloudWatch logs"
    if code == "InternalStreamFailure":
        return "SageMaker failed while streaming; retrying the whole request is safe to try"
    return None


def stream_error(
    op: str,
    message: EventMessage,
    *,
    response_metadata: Optional[Mapping[str, Any]] = None,
) -> Optional[ClientError]:
    """The :class:`ClientError` for an ``exception`` or ``error`` event-stream message (or one
    with a missing/unknown ``:message-type``); None for an ``event``.

    ``ModelStreamError`` keeps its modeled ``ErrorCode`` at the top of ``response`` (botocore
    drops it). ``response_metadata`` (of the HTTP response) is copied into the error.
    """
    spec = get_operation(op)
    kind = _header_text(message, ":message-type")
    if kind == "event":
        return None
    payload = getattr(message, "payload", b"") or b""
    fields: dict[str, Any] = {}
    if kind == "exception":
        exc_type = _header_text(message, ":exception-type") or ""
        doc = _load_json(bytes(payload))
        doc = doc if isinstance(doc, dict) else {}
        if exc_type in ERROR_SHAPES:
            code = exc_type
            fields = _modeled_fields(code, doc)
            text = _as_text(doc.get("Message", doc.get("message", "")))
        else:
            code = _header_text(message, ":error-code") or exc_type
            text = _header_text(message, ":error-message") or _as_text(
                doc.get("Message", doc.get("message", ""))
            )
        if not text and payload and not doc:
            text = _preview(bytes(payload).decode("utf-8", "replace"), _MESSAGE_CHARS)
    elif kind == "error":
        code = _header_text(message, ":error-code") or ""
        text = _header_text(message, ":error-message") or ""
    else:
        code = _header_text(message, ":error-code") or "UnknownMessageType"
        text = _header_text(message, ":error-message") or (
            f"event-stream message with unexpected :message-type {kind!r}"
        )
    response: dict[str, Any] = {"Error": {"Code": code or "Unknown", "Message": text}}
    if response_metadata is not None:
        response["ResponseMetadata"] = dict(response_metadata)
    response.update(fields)
    return error_class_for(code)(response, spec.name, hint=_stream_hint(code, fields))


def event_to_dict(
    message: EventMessage, op: str = "invoke_endpoint_with_response_stream"
) -> Optional[dict[str, Any]]:
    """boto3's event dict for an ``event`` message: ``{"PayloadPart": {"Bytes": payload}}``
    (the payload is the raw bytes of the part, not JSON). None for an event type this
    client does not know (skipped, as botocore does). Raises the :func:`stream_error` of an
    exception/error message, so an error can never be skipped by mistake."""
    error = stream_error(op, message)
    if error is not None:
        raise error
    event_type = _header_text(message, ":event-type")
    members = EVENT_TYPES.get(event_type or "")
    if event_type is None or members is None:
        return None
    payload = bytes(getattr(message, "payload", b"") or b"")
    out: dict[str, Any] = {}
    for name, (binding, _shape) in members.items():
        if binding == "eventpayload":
            out[name] = payload
    return {event_type: out}
