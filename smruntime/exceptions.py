"""Errors raised by the SageMaker Runtime client.

Everything the client raises derives from :class:`SMRuntimeError`, except the credential and
region errors of :mod:`sigv4` (``sigv4.exceptions.CredentialsError``, ``NoRegionError``), which
pass through unchanged. The tree::

    SMRuntimeError
    ├── ParamValidationError (ValueError)  bad parameters, caught before any network call
    ├── UnknownServiceError (ValueError)  another service or API version was asked for
    ├── ProfileNotFound (LookupError)      Session(profile_name=...) of no such profile
    ├── EndpointResolutionError    no endpoint URL for this region/FIPS/dual-stack mix
    ├── TransportError             the HTTP exchange failed (``__cause__`` = the original)
    │   ├── EndpointConnectionError    could not connect (refused, DNS, TLS, proxy)
    │   ├── ConnectTimeoutError        connect took longer than the connect timeout
    │   ├── ReadTimeoutError           no bytes in time (``phase`` says where)
    │   ├── WriteTimeoutError          the peer took no input in time (HTTP/2 flow control)
    │   ├── ConnectionClosedError      the connection broke after the request was sent
    │   │   └── StreamResetError           the HTTP/2 stream was reset (RST_STREAM, GOAWAY)
    │   └── ProtocolError              an HTTP/1.1 rule was broken (``smruntime.http``)
    │       ├── RemoteProtocolError        the peer sent bytes that break HTTP/1.1 (``offset``)
    │       └── LocalProtocolError         the protocol object was misused (a bad request, ...)
    ├── StreamError                the response stream is unusable
    │   ├── NotEventStreamError        a 200 whose body is not an event stream (``preview``)
    │   ├── CorruptStreamError         a frame failed its checks (``__cause__`` = codec error)
    │   ├── IncompleteStreamError      the body ended (or broke) inside a frame
    │   ├── InputClosedError           sending on a duplex stream whose input is closed
    │   ├── BodyTooLargeError          an InvokeEndpoint body grew past its cap (``limit``)
    │   └── RecordError                the record layer (lines, JSON, SSE) could not go on
    │       ├── IncompleteRecordError      the stream ended inside a record or a character
    │       ├── RecordTooLargeError        a record grew over ``max_record_bytes``
    │       └── ContainerStreamError       the container sent an error record in the stream
    └── ClientError                the service answered with an error (boto3's ``response``)
        ├── ValidationError, InternalFailure, ServiceUnavailable, ModelError,
        │   InternalDependencyException, ModelNotReadyException      (modeled HTTP errors)
        ├── EventStreamError                                         (in-stream errors)
        │   └── ModelStreamError, InternalStreamFailure              (modeled in-stream errors)
        ├── InputValidationError, InternalServerError, ServiceUnavailableError
        │                          (the HTTP/2 service's 400/500/503; it shares ModelError)
        └── ThrottlingException, AccessDeniedException, ...          (common AWS errors)

``ClientError`` carries ``response`` exactly as boto3 shapes it (``Error.Code``, ``Error.Message``,
``ResponseMetadata``, modeled fields such as ``OriginalStatusCode``) plus typed attributes
``error_code``, ``error_message``, ``status_code``, ``request_id`` and ``operation_name``.
Errors survive ``pickle``; none holds a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AccessDeniedException",
    "BodyTooLargeError",
    "ClientError",
    "ConnectTimeoutError",
    "ConnectionClosedError",
    "ContainerStreamError",
    "CorruptStreamError",
    "EndpointConnectionError",
    "EndpointResolutionError",
    "EventStreamError",
    "ExpiredTokenException",
    "IncompleteRecordError",
    "IncompleteStreamError",
    "InputClosedError",
    "InternalDependencyException",
    "InternalFailure",
    "InputValidationError",
    "InternalServerError",
    "InternalStreamFailure",
    "InvalidSignatureException",
    "LocalProtocolError",
    "ModelError",
    "ModelNotReadyException",
    "ModelStreamError",
    "NotEventStreamError",
    "OperationNotPageableError",
    "ParamValidationError",
    "ProfileNotFound",
    "ProtocolError",
    "ReadTimeoutError",
    "RecordError",
    "RecordTooLargeError",
    "RemoteProtocolError",
    "SMRuntimeError",
    "SSLError",
    "ServiceUnavailable",
    "ServiceUnavailableError",
    "StreamError",
    "StreamResetError",
    "ThrottlingException",
    "TransportError",
    "UnknownServiceError",
    "UnrecognizedClientException",
    "ValidationError",
    "WriteTimeoutError",
    "error_class_for",
]


def _restore(cls: type[SMRuntimeError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    obj = cls.__new__(cls)
    Exception.__init__(obj, *args)
    obj.__dict__.update(state)
    return obj


class SMRuntimeError(Exception):
    """Base of every error raised by :mod:`smruntime`.

    ``partial_text``: on an error raised by a stream's ``read_text()`` (``EventStream`` or
    ``AsyncEventStream``), the text received before it, joined (``""`` if none), so that a
    caller can keep what the model generated; ``None`` on every other error.
    """

    partial_text: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, self.__dict__))


class ParamValidationError(SMRuntimeError, ValueError):
    """A parameter is missing, of the wrong type, or out of its modeled bounds."""

    def __init__(self, param: str, reason: str, *, operation_name: str | None = None) -> None:
        op = f" for {operation_name}" if operation_name else ""
        super().__init__(f"invalid parameter {param}{op}: {reason}")
        self.param = param
        self.reason = reason
        self.operation_name = operation_name


class UnknownServiceError(SMRuntimeError, ValueError):
    """The client was asked for another service, or an API version it does not have."""


class OperationNotPageableError(SMRuntimeError):
    """``get_paginator``: the operation does not paginate (none of this service's does)."""

    def __init__(self, operation_name: str) -> None:
        super().__init__(f"Operation cannot be paginated: {operation_name}")
        self.operation_name = operation_name


class ProfileNotFound(SMRuntimeError, LookupError):
    """``Session(profile_name=...)`` names a profile that neither shared file has."""

    def __init__(self, profile: str) -> None:
        super().__init__(f"The config profile ({profile}) could not be found")
        self.profile = profile


class EndpointResolutionError(SMRuntimeError, ValueError):
    """No endpoint could be resolved for the given region and options, or ``endpoint_url``
    is not a usable URL (a ``ValueError``, as botocore's ``Invalid endpoint``)."""


class TransportError(SMRuntimeError):
    """The HTTP exchange failed; the original exception is ``__cause__``.

    ``request_sent`` tells whether the request may have reached the service (if so, the
    model may have run, which matters for retries).
    """

    def __init__(self, message: str, *, url: str | None = None, request_sent: bool = True) -> None:
        super().__init__(message)
        self.url = url
        self.request_sent = request_sent


class EndpointConnectionError(TransportError):
    """Could not connect to the endpoint (refused, DNS, TLS, proxy)."""


class SSLError(EndpointConnectionError):
    """The TLS handshake failed: the certificate was not trusted or did not match the host,
    or the server did not answer in TLS (botocore's name; an :class:`EndpointConnectionError`
    here, so that code catching that still catches it)."""


class ConnectTimeoutError(TransportError):
    """Connecting took longer than the connect timeout."""


class ReadTimeoutError(TransportError):
    """No bytes arrived in time.

    ``phase`` is ``"first-byte"`` (waiting for the response headers or the first event),
    ``"between-events"`` (idle gap inside the stream) or ``"total"`` (the overall deadline);
    ``timeout`` is the limit in seconds and ``elapsed`` the seconds waited.
    """

    def __init__(
        self,
        message: str,
        *,
        phase: str,
        timeout: float | None = None,
        elapsed: float | None = None,
        url: str | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message, url=url, request_sent=request_sent)
        self.phase = phase
        self.timeout = timeout
        self.elapsed = elapsed


class WriteTimeoutError(TransportError):
    """The peer took no input for ``timeout`` seconds (an HTTP/2 send blocked by flow
    control, or a socket that stopped draining); ``elapsed`` is the seconds waited."""

    def __init__(
        self,
        message: str,
        *,
        timeout: float | None = None,
        elapsed: float | None = None,
        url: str | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message, url=url, request_sent=request_sent)
        self.timeout = timeout
        self.elapsed = elapsed


class ConnectionClosedError(TransportError):
    """The connection broke after the request was sent."""


class StreamResetError(ConnectionClosedError):
    """The HTTP/2 stream was ended abnormally: reset by the peer (RST_STREAM) or cut by a
    GOAWAY with an error code or not covering the stream (a graceful one lets it finish).
    ``error_code`` is the HTTP/2 error code (``0`` NO_ERROR, ``2`` INTERNAL_ERROR, ``8`` CANCEL,
    ...), ``remote`` whether the peer sent it."""

    def __init__(
        self,
        message: str,
        *,
        error_code: int = 0,
        remote: bool = True,
        url: str | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message, url=url, request_sent=request_sent)
        self.error_code = error_code
        self.remote = remote


class ProtocolError(TransportError):
    """An HTTP/1.1 protocol rule was broken, by the peer or by the caller."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes that break HTTP/1.1 (framing, syntax, a limit, a cut-off message).

    ``offset`` is the byte offset in the response where the problem starts and ``line`` the
    line number in the response head or trailer (1 is the status line), when they apply.
    """

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        line: int | None = None,
        url: str | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message, url=url, request_sent=request_sent)
        self.offset = offset
        self.line = line


class LocalProtocolError(ProtocolError):
    """The protocol object was misused: a malformed request, or a call in the wrong state."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message, url=url, request_sent=False)


class StreamError(SMRuntimeError):
    """The response stream cannot be read to its end.

    ``bytes_received`` counts the body bytes read so far, ``events`` the events handed out.
    """

    def __init__(self, message: str, *, bytes_received: int = 0, events: int = 0) -> None:
        super().__init__(message)
        self.bytes_received = bytes_received
        self.events = events


class NotEventStreamError(StreamError):
    """A 200 response whose body is not an event stream; ``preview`` holds its first bytes."""

    def __init__(
        self, message: str, *, preview: bytes = b"", content_type: str | None = None
    ) -> None:
        super().__init__(message, bytes_received=len(preview))
        self.preview = preview
        self.content_type = content_type


class CorruptStreamError(StreamError):
    """A frame failed its checks (CRC, lengths, headers); the codec error is ``__cause__``."""


class IncompleteStreamError(StreamError):
    """The body ended, or the connection broke, inside a frame."""


class InputClosedError(StreamError):
    """A part was sent on a duplex stream whose input side is already closed (by
    ``close_input()``, ``close()``, or the server ending the exchange)."""


class BodyTooLargeError(StreamError):
    """A response body is larger than the client accepts (``limit`` bytes,
    ``Config.max_body_bytes``); the connection was dropped."""

    def __init__(self, message: str, *, limit: int, bytes_received: int = 0) -> None:
        super().__init__(message, bytes_received=bytes_received)
        self.limit = limit


class RecordError(StreamError):
    """The record layer (lines, JSON lines, SSE) cannot go on."""


class IncompleteRecordError(RecordError):
    """The stream ended inside a record or inside a UTF-8 character; ``leftover`` holds it."""

    def __init__(self, message: str, *, leftover: bytes = b"") -> None:
        super().__init__(message)
        self.leftover = leftover


class RecordTooLargeError(RecordError):
    """An unterminated record grew past ``limit`` bytes."""

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class ContainerStreamError(RecordError):
    """The model container put an error record inside a 200 stream; ``record`` is that record."""

    def __init__(self, message: str, *, record: Any = None) -> None:
        super().__init__(message)
        self.record = record


class ClientError(SMRuntimeError):
    """The service answered with an error.

    ``response`` has boto3's shape: ``{"Error": {"Code", "Message"}, "ResponseMetadata": {...},
    ...modeled fields}``. ``hint``, when set, says what usually fixes this error.
    """

    def __init__(
        self, error_response: Mapping[str, Any], operation_name: str, *, hint: str | None = None
    ) -> None:
        response = dict(error_response)
        error = response.get("Error") or {}
        meta = response.get("ResponseMetadata") or {}
        self.response: dict[str, Any] = response
        self.operation_name = operation_name
        self.error_code: str = str(error.get("Code") or "Unknown")
        self.error_message: str = str(error.get("Message") or "")
        status = meta.get("HTTPStatusCode")
        self.status_code: int | None = int(status) if status is not None else None
        self.request_id: str | None = meta.get("RequestId") or None
        self.hint = hint
        super().__init__(self._message())
        if hint and hasattr(self, "add_note"):  # Python 3.11+: shown under the traceback
            self.add_note(f"Hint: {hint}")

    def _message(self) -> str:
        """botocore's one-line form, ``(reached max retries: N)`` included when set."""
        meta = self.response.get("ResponseMetadata") or {}
        retry_info = ""
        if isinstance(meta, Mapping) and meta.get("MaxAttemptsReached"):
            retry_info = f" (reached max retries: {meta.get('RetryAttempts', 0)})"
        error = self.response.get("Error") or {}
        # as botocore: "Unknown" when the error has no Message, an empty one kept as it is
        message = self.error_message if "Message" in error else "Unknown"
        return (
            f"An error occurred ({self.error_code}) when calling the {self.operation_name} "
            f"operation{retry_info}: {message}"
        )

    def _set_response_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Replace ``ResponseMetadata`` (the client sets it once retries are over)."""
        self.response["ResponseMetadata"] = dict(metadata)
        status = metadata.get("HTTPStatusCode")
        self.status_code = int(status) if status is not None else None
        self.request_id = metadata.get("RequestId") or self.request_id
        self.args = (self._message(),)


class ValidationError(ClientError):
    """HTTP 400: the service rejected the request's parameters."""


class InternalFailure(ClientError):
    """HTTP 500: the service failed internally."""


class ServiceUnavailable(ClientError):
    """HTTP 503: the service is unavailable; retried by default."""


class ModelError(ClientError):
    """HTTP 424: the model container answered with an error.

    ``original_status_code``, ``original_message`` and ``log_stream_arn`` come from the
    modeled fields of the response (``original_status_code`` is ``None`` when the container's
    value is missing or not an integer; ``response`` keeps it as sent).
    """

    @property
    def original_status_code(self) -> int | None:
        value = self.response.get("OriginalStatusCode")
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

    @property
    def original_message(self) -> str | None:
        return self.response.get("OriginalMessage")

    @property
    def log_stream_arn(self) -> str | None:
        return self.response.get("LogStreamArn")


class InternalDependencyException(ClientError):
    """HTTP 530: an internal dependency of the service failed."""


class ModelNotReadyException(ClientError):
    """HTTP 429: the model is still loading (serverless cold start or multi-model endpoint)."""


class EventStreamError(ClientError):
    """An error inside an event stream: the base of the in-stream errors, under the name
    botocore gives the class it raises for them (``botocore.exceptions.EventStreamError``)."""


class ModelStreamError(EventStreamError):
    """In-stream error from the model; ``stream_error_code`` is the modeled ``ErrorCode``
    (``ModelInvocationTimeExceeded``, ``StreamBroken``), which boto3 drops."""

    @property
    def stream_error_code(self) -> str | None:
        return self.response.get("ErrorCode")


class InternalStreamFailure(EventStreamError):
    """In-stream failure of the service; the request may be retried."""


class ThrottlingException(ClientError):
    """The request was throttled; retried by default."""


class AccessDeniedException(ClientError):
    """HTTP 403: the caller lacks permission (for InvokeEndpoint: ``sagemaker:InvokeEndpoint``)."""


class UnrecognizedClientException(ClientError):
    """HTTP 403: the access key is not known to AWS."""


class InvalidSignatureException(ClientError):
    """HTTP 403: the request signature does not match (wrong secret, clock skew, proxy rewrite)."""


class ExpiredTokenException(ClientError):
    """The session token has expired."""


class InputValidationError(ClientError):
    """HTTP 400 from the HTTP/2 service (InvokeEndpointWithBidirectionalStream): the request's
    parameters were rejected; ``response["ErrorCode"]`` holds the service's code when sent."""


class InternalServerError(ClientError):
    """HTTP 500 from the HTTP/2 service: it failed internally (``response["ErrorCode"]``)."""


class ServiceUnavailableError(ClientError):
    """HTTP 503 from the HTTP/2 service: it is unavailable (``response["ErrorCode"]``)."""


MODELED_ERRORS: dict[str, type[ClientError]] = {
    cls.__name__: cls
    for cls in (
        ValidationError,
        InternalFailure,
        ServiceUnavailable,
        ModelError,
        InternalDependencyException,
        ModelNotReadyException,
        ModelStreamError,
        InternalStreamFailure,
    )
}

#: The HTTP/2 service's modeled errors (SageMaker Runtime HTTP2; different names for 400/500/503).
H2_MODELED_ERRORS: dict[str, type[ClientError]] = {
    cls.__name__: cls
    for cls in (
        InputValidationError,
        InternalServerError,
        InternalStreamFailure,
        ModelError,
        ModelStreamError,
        ServiceUnavailableError,
    )
}

KNOWN_ERRORS: dict[str, type[ClientError]] = {
    **MODELED_ERRORS,
    **H2_MODELED_ERRORS,
    **{
        cls.__name__: cls
        for cls in (
            ThrottlingException,
            AccessDeniedException,
            UnrecognizedClientException,
            InvalidSignatureException,
            ExpiredTokenException,
        )
    },
}


def error_class_for(code: str) -> type[ClientError]:
    """The :class:`ClientError` subclass for a service error code (``ClientError`` if unknown)."""
    return KNOWN_ERRORS.get(code, ClientError)
