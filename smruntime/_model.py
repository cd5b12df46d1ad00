"""The service model of SageMaker Runtime: shapes, members, the three operations, error shapes
and event types.

Written from botocore 1.44.8 ``sagemaker-runtime/2017-05-13/service-2.json``;
``tests/smruntime/test_model_coverage.py`` checks it member by member against that file.
The records are plain classes with ``__slots__`` (not dataclasses, whose import costs start-up
time); patterns are compiled on first use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Optional

from smruntime._record import _Record
from smruntime.exceptions import ParamValidationError

__all__ = [
    "ERROR_SHAPES",
    "EVENT_TYPES",
    "OPERATIONS",
    "Member",
    "OperationSpec",
    "Shape",
    "get_operation",
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
