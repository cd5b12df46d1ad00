"""Error parsing: HTTP error responses and in-stream (event-stream) errors as
:class:`ClientError` subclasses shaped as boto3's, with a ``hint`` when the cause is known.

Error responses are parsed as botocore does; a 5xx with an HTML/empty body keeps botocore's
code (the status as a string) and gets a short body preview in its message.
``ModelStreamError`` keeps its modeled ``ErrorCode`` (botocore drops it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Optional, Protocol

from smruntime._model import (
    _EXTRA_ERROR_FIELDS,
    ERROR_SHAPES,
    OperationSpec,
    Shape,
    error_shapes_for,
    get_operation,
    is_h2,
)
from smruntime._responses import _get_header, _load_json, response_metadata
from smruntime.exceptions import (
    ClientError,
    EventStreamError,
    InternalDependencyException,
    InternalFailure,
    InternalServerError,
    ServiceUnavailable,
    ServiceUnavailableError,
    error_class_for,
)

__all__ = ["EventMessage", "parse_error", "stream_error"]


# --------------------------------------------------------------------------------------------
# HTTP error responses

# Generic (non-JSON) 5xx errors: the class follows the status since the code is only a number.
_STATUS_CLASSES: dict[int, type[ClientError]] = {
    500: InternalFailure,
    503: ServiceUnavailable,
    530: InternalDependencyException,
}
_H2_STATUS_CLASSES: dict[int, type[ClientError]] = {
    500: InternalServerError,
    503: ServiceUnavailableError,
}

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


def _integer(value: object) -> Optional[int]:
    """An integer member's value as an int (``503``, ``"503"``, ``503.0``), else ``None``
    (``"n/a"``, ``true``, ``424.5``, ``1e400``): such a value is kept as sent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        # short only: int() of a very long digit string raises (int_max_str_digits)
        return int(text) if text.isascii() and text.isdigit() and len(text) < 20 else None
    return None


def _modeled_fields(
    code: str,
    doc: Mapping[str, Any],
    shapes: Mapping[str, tuple[Optional[int], dict[str, Shape]]] = ERROR_SHAPES,
) -> dict[str, Any]:
    members = dict(shapes.get(code, (None, {}))[1])
    members.update(_EXTRA_ERROR_FIELDS.get(code, {}))
    out: dict[str, Any] = {}
    for name, shape in members.items():
        if name not in doc or doc[name] is None:
            continue
        value = doc[name]
        if shape.type == "integer":
            number = _integer(value)
            out[name] = value if number is None else number
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
    if code in ("ValidationError", "InputValidationError"):
        if "inference component" in low:
            return (
                "this endpoint hosts inference components: pass InferenceComponentName= with "
                "the component to invoke"
            )
        if "not found" in low and "endpoint" in low:
            return "check EndpointName and the region: endpoints are per account and region"
        return None
    if code in ("InvalidSignatureException", "SignatureDoesNotMatch", "IncompleteSignature"):
        return _signature_hint(low)
    if code in ("ExpiredTokenException", "ExpiredToken", "RequestExpired") or (
        "token" in low and "expired" in low
    ):
        return (
            "the session credentials have expired: refresh them (re-assume the role, "
            "'aws sso login', or let a refreshing provider fetch new ones)"
        )
    if code == "UnrecognizedClientException":
        if "token" in low:
            # AWS says "security token ... invalid" for an unknown access key id too, with or
            # without a session token: name both.
            return (
                "AWS does not know these credentials: the access key id is unknown, or the "
                "session token is invalid or belongs to other keys; check aws_access_key_id "
                "and aws_session_token (drop it for long-term keys)"
            )
        return (
            "AWS does not know this access key: check the credentials and that they belong to "
            "this region's partition (aws, aws-cn, aws-us-gov)"
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
    if code in (
        "ServiceUnavailable",
        "InternalFailure",
        "InternalDependencyException",
        "InternalServerError",
        "ServiceUnavailableError",
    ) or (status is not None and status >= 500):
        extra = ""
        if status == 504 and spec.snake_name == "invoke_endpoint":
            extra = "; a 504 often means the model took longer than 60 s to answer"
        return f"a server-side error; the request was {retried}{extra}"
    return None


def _signature_hint(low: str) -> str:
    """The hint for a rejected signature, following what the service said was wrong."""
    if "scoped to a valid region" in low:
        return (
            "the request was signed for another region than the endpoint's: set region_name "
            "to the endpoint's region (or sign for the region in endpoint_url)"
        )
    if "scoped to correct service" in low:
        return (
            "the request was signed for another service: SageMaker Runtime's signing name is "
            "'sagemaker'"
        )
    if "signature expired" in low or "not yet current" in low:
        return (
            "the signing time is too far from AWS time: fix the system clock (NTP); "
            "requests are valid for 5 minutes"
        )
    if "credential scope" in low:
        return (
            "the date in the credential scope is not the signing date: something changed "
            "X-Amz-Date or the Authorization header after signing"
        )
    if "signature we calculated" in low or "does not match" in low:
        return (
            "the signature did not match: check that the secret key belongs to the access key; "
            "nothing must change the request after signing (a proxy rewriting the path or "
            "headers, a header added in before-send). Enable DEBUG logging for 'smruntime' to "
            "see the canonical request and string to sign"
        )
    return (
        "the Authorization header was rejected as malformed: something between the client and "
        "AWS may have changed it"
    )


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
    status_classes = _H2_STATUS_CLASSES if is_h2(spec) else _STATUS_CLASSES
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
        cls = status_classes.get(status, ClientError)
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
        fields = _modeled_fields(code, doc, error_shapes_for(spec))
        cls = error_class_for(code)
        if cls is ClientError and code == str(status):
            cls = status_classes.get(status, ClientError)
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": meta,
    }
    response.update(fields)
    hint = _hint(spec, code, status, message, fields, retry_attempts)
    return cls(response, spec.name, hint=hint)


# --------------------------------------------------------------------------------------------
# In-stream errors


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
        shapes = error_shapes_for(spec)
        if exc_type in shapes:
            code = exc_type
            fields = _modeled_fields(code, doc, shapes)
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
        # The call's retries were over long before: an in-stream error was never retried.
        response["ResponseMetadata"].pop("MaxAttemptsReached", None)
    response.update(fields)
    cls = error_class_for(code)
    if cls is ClientError:
        cls = EventStreamError  # an unknown code: botocore's class name for in-stream errors
    return cls(response, spec.name, hint=_stream_hint(code, fields))
