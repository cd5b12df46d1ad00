"""The service model of SageMaker Runtime: shapes, members, the three operations, error shapes
and event types; and of the separate HTTP/2 service (SageMaker Runtime HTTP2, 2025-10-01) with
its one operation, InvokeEndpointWithBidirectionalStream.

Written from botocore 1.44.8 ``sagemaker-runtime/2017-05-13/service-2.json``;
``tests/smruntime/test_model_coverage.py`` checks it member by member against that file. The
HTTP/2 service's entries (``H2_*``) are written from its Smithy model (aws-sdk-js-v3
``sagemaker-runtime-http2.json``); ``tests/smruntime/test_bidi_model.py`` checks them against
the shapes vendored under ``tests/data/spec/sagemaker-runtime-http2/``.
The records are plain classes with ``__slots__`` (not dataclasses, whose import costs start-up
time); patterns are compiled on first use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Callable, Optional, TypeVar

from smruntime._record import _Record
from smruntime.exceptions import ParamValidationError

__all__ = [
    "ERROR_SHAPES",
    "EVENT_TYPES",
    "H2_ERROR_SHAPES",
    "H2_EVENT_TYPES",
    "H2_OPERATIONS",
    "H2_REQUEST_EVENT_TYPES",
    "OPERATIONS",
    "Member",
    "OperationSpec",
    "Shape",
    "error_shapes_for",
    "event_types_for",
    "get_operation",
    "is_h2",
    "per_spec",
]


class Shape(_Record):
    """A model shape with its constraints; ``pattern`` is the Python translation (full match)
    of ``model_pattern``, the Java regex in the model."""

    _FIELDS = ("name", "type", "min", "max", "model_pattern", "pattern", "sensitive")
    __slots__ = (*_FIELDS, "_regex")
    _NAME_IN_ERRORS = True

    name: str
    type: str  # "string" | "integer" | "blob" | "eventstream"
    min: Optional[int]
    max: Optional[int]
    model_pattern: Optional[str]
    pattern: Optional[str]
    sensitive: bool
    _regex: Optional[re.Pattern[str]]

    def __init__(
        self,
        name: str,
        type: str,
        min: Optional[int] = None,
        max: Optional[int] = None,
        model_pattern: Optional[str] = None,
        pattern: Optional[str] = None,
        sensitive: bool = False,
    ) -> None:
        self._init(name, type, min, max, model_pattern, pattern, sensitive)
        object.__setattr__(self, "_regex", None)

    @property
    def regex(self) -> Optional[re.Pattern[str]]:
        """``pattern`` compiled on first use and kept, to keep imports cheap."""
        regex = self._regex
        if regex is None and self.pattern is not None:
            regex = re.compile(self.pattern)
            object.__setattr__(self, "_regex", regex)
        return regex


class Member(_Record):
    """A member of an input or output structure and where it lives on the wire.

    ``location``: ``"uri"`` (path label), ``"header"``, ``"payload"`` (the raw HTTP body or,
    for the streaming output, the event stream) or ``"json"`` (a key of a JSON body).
    """

    _FIELDS = ("name", "location", "wire_name", "shape", "required")
    __slots__ = _FIELDS
    _NAME_IN_ERRORS = True

    name: str
    location: str
    wire_name: str
    shape: Shape
    required: bool

    def __init__(
        self, name: str, location: str, wire_name: str, shape: Shape, required: bool = False
    ) -> None:
        self._init(name, location, wire_name, shape, required)


class OperationSpec(_Record):
    """One operation: its HTTP binding and input/output members (keyed by boto3 name)."""

    _FIELDS = (
        "name",
        "snake_name",
        "method",
        "uri",
        "success_status",
        "streaming",
        "input",
        "output",
        "errors",
        "iam_action",
    )
    __slots__ = _FIELDS
    _NAME_IN_ERRORS = True

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

    def __init__(
        self,
        name: str,
        snake_name: str,
        method: str,
        uri: str,
        success_status: int,
        streaming: bool,
        input: Mapping[str, Member],
        output: Mapping[str, Member],
        errors: tuple[str, ...],
        iam_action: str,
    ) -> None:
        self._init(
            name,
            snake_name,
            method,
            uri,
            success_status,
            streaming,
            MappingProxyType(dict(input)),
            MappingProxyType(dict(output)),
            errors,
            iam_action,
        )


_T = TypeVar("_T")


def per_spec(
    memo: dict[int, tuple[OperationSpec, Any]],
    spec: OperationSpec,
    build: Callable[[OperationSpec], _T],
) -> _T:
    """``build(spec)``, memoised in ``memo`` per spec object (a spec is immutable, its members
    copied in). The spec is kept beside its entry, so a reused ``id`` never matches another."""
    found = memo.get(id(spec))
    if found is None or found[0] is not spec:
        found = memo[id(spec)] = (spec, build(spec))
    result: _T = found[1]
    return result


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


# -- the HTTP/2 service: SageMaker Runtime HTTP2 (2025-10-01), restJson1 over h2 only -----------

_H2_PATH = Shape(
    "ModelInvocationPath",
    "string",
    max=100,
    model_pattern="^[A-Za-z0-9\\-._]+(?:/[A-Za-z0-9\\-._]+)*$",
    pattern="[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*",
)
_QUERY_PAIR = "[a-zA-Z0-9][A-Za-z0-9_-]*=(?:[A-Za-z0-9._~-]|%[0-9A-Fa-f]{2})+"
_H2_QUERY = Shape(
    "ModelQueryString",
    "string",
    max=2048,
    model_pattern=(
        "^[a-zA-Z0-9][A-Za-z0-9_-]*=(?:[A-Za-z0-9._~\\-]|%[0-9A-Fa-f]{2})+"
        "(?:&[a-zA-Z0-9][A-Za-z0-9_-]*=(?:[A-Za-z0-9._~\\-]|%[0-9A-Fa-f]{2})+)*$"
    ),
    pattern=f"{_QUERY_PAIR}(?:&{_QUERY_PAIR})*",
)
_H2_ENDPOINT_NAME = Shape(
    "EndpointName", "string", max=63, model_pattern="^[a-zA-Z0-9](-*[a-zA-Z0-9])*", pattern=_NAME
)
_H2_TARGET_VARIANT = Shape(
    "TargetVariant", "string", max=63, model_pattern="^[a-zA-Z0-9](-*[a-zA-Z0-9])*", pattern=_NAME
)
_H2_VARIANT_OUT = Shape(
    "InvokedProductionVariant", "string", max=1024, model_pattern="\\p{ASCII}*", pattern=_ASCII
)
_H2_REQUEST_STREAM = Shape("RequestStreamEvent", "eventstream")
_H2_RESPONSE_STREAM = Shape("ResponseStreamEvent", "eventstream")
_H2_BLOB = Shape("SensitiveBlob", "blob", sensitive=True)
_H2_DATA_TYPE = Shape(
    "DataType", "string", model_pattern="^(UTF8)$|^(BINARY)$", pattern="UTF8|BINARY"
)
_H2_COMPLETION = Shape(
    "CompletionState",
    "string",
    model_pattern="^(PARTIAL)$|^(COMPLETE)$",
    pattern="PARTIAL|COMPLETE",
)
_H2_PADDING = Shape("P", "string")
_H2_STRING = Shape("String", "string")
_H2_INTEGER = Shape("Integer", "integer")

#: The HTTP/2 service's one operation. ``Body`` (the input event stream) is required in the
#: model but optional here: the caller may send every part through the stream object instead.
H2_OPERATIONS: dict[str, OperationSpec] = {
    "invoke_endpoint_with_bidirectional_stream": OperationSpec(
        name="InvokeEndpointWithBidirectionalStream",
        snake_name="invoke_endpoint_with_bidirectional_stream",
        method="POST",
        uri="/endpoints/{EndpointName}/invocations-bidirectional-stream",
        success_status=200,
        streaming=True,
        input=_members(
            Member("EndpointName", "uri", "EndpointName", _H2_ENDPOINT_NAME, required=True),
            Member("Body", "payload", "", _H2_REQUEST_STREAM),
            _header("TargetVariant", _SM + "Target-Variant", _H2_TARGET_VARIANT),
            _header("ModelInvocationPath", _SM + "Model-Invocation-Path", _H2_PATH),
            _header("ModelQueryString", _SM + "Model-Query-String", _H2_QUERY),
        ),
        output=_members(
            Member("Body", "payload", "", _H2_RESPONSE_STREAM, required=True),
            _header(
                "InvokedProductionVariant", "X-Amzn-Invoked-Production-Variant", _H2_VARIANT_OUT
            ),
        ),
        errors=(
            "InputValidationError",
            "InternalServerError",
            "InternalStreamFailure",
            "ModelError",
            "ModelStreamError",
            "ServiceUnavailableError",
        ),
        # Not stated in the model; the InvokeEndpoint family's action (unverified for h2).
        iam_action="sagemaker:InvokeEndpoint",
    ),
}

#: Error shapes of the HTTP/2 service (its names differ from the classic service's).
H2_ERROR_SHAPES: dict[str, tuple[Optional[int], dict[str, Shape]]] = {
    "InputValidationError": (400, {"Message": _H2_STRING, "ErrorCode": _H2_STRING}),
    "InternalServerError": (500, {"Message": _H2_STRING, "ErrorCode": _H2_STRING}),
    "ServiceUnavailableError": (503, {"Message": _H2_STRING, "ErrorCode": _H2_STRING}),
    "ModelError": (
        424,
        {
            "Message": _H2_STRING,
            "OriginalStatusCode": _H2_INTEGER,
            "OriginalMessage": _H2_STRING,
            "LogStreamArn": _H2_STRING,
            "ErrorCode": _H2_STRING,
        },
    ),
    "ModelStreamError": (None, {"Message": _H2_STRING, "ErrorCode": _H2_STRING}),
    "InternalStreamFailure": (None, {"Message": _H2_STRING}),
}

_PART_MEMBERS: dict[str, tuple[str, Shape]] = {
    "Bytes": ("eventpayload", _H2_BLOB),
    "DataType": ("eventheader", _H2_DATA_TYPE),
    "CompletionState": ("eventheader", _H2_COMPLETION),
    "P": ("eventheader", _H2_PADDING),
}
#: Members of the response union's events (exceptions are in H2_ERROR_SHAPES).
H2_EVENT_TYPES: dict[str, dict[str, tuple[str, Shape]]] = {"PayloadPart": dict(_PART_MEMBERS)}
#: Members of the request union's events (the client sends only PayloadPart).
H2_REQUEST_EVENT_TYPES: dict[str, dict[str, tuple[str, Shape]]] = {
    "PayloadPart": dict(_PART_MEMBERS)
}

_BY_NAME = {spec.name: spec for spec in (*OPERATIONS.values(), *H2_OPERATIONS.values())}


def is_h2(spec: OperationSpec) -> bool:
    """True for an operation of the HTTP/2 service."""
    return H2_OPERATIONS.get(spec.snake_name) is spec


def error_shapes_for(spec: OperationSpec) -> dict[str, tuple[Optional[int], dict[str, Shape]]]:
    """The error shapes of ``spec``'s service."""
    return H2_ERROR_SHAPES if is_h2(spec) else ERROR_SHAPES


def event_types_for(spec: OperationSpec) -> dict[str, dict[str, tuple[str, Shape]]]:
    """The response event types of ``spec``'s service."""
    return H2_EVENT_TYPES if is_h2(spec) else EVENT_TYPES


def get_operation(op: str) -> OperationSpec:
    """The spec of ``op``, given by boto3 name (``invoke_endpoint``) or API name."""
    spec = OPERATIONS.get(op) if isinstance(op, str) else None
    if spec is None and isinstance(op, str):
        spec = H2_OPERATIONS.get(op) or _BY_NAME.get(op)
    if spec is None:
        raise ParamValidationError(
            "operation",
            f"unknown operation {op!r}; expected one of {', '.join([*OPERATIONS, *H2_OPERATIONS])}",
        )
    return spec
