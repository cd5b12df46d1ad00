"""The wire behaviour of SageMaker Runtime's three operations, as the emulator serves them.

:class:`RequestHandler` authenticates (SigV4), routes and validates each request as the service
does, then answers from the endpoint's handler (see :mod:`smruntime.emulator._models`): status
codes, response headers, error shapes (``x-amzn-ErrorType`` and a JSON body) and event-stream
frames. Faults (see :mod:`smruntime.emulator._faults`) break the answer on purpose.

Async results (InvokeEndpointAsync) are written *before* the 202 is sent, so a test can read them
as soon as the call returns. Outputs go to
``async-outputs/[<S3OutputPathExtension>/]<Filename or InferenceId.out>``, failures (a failing
handler, or a ``model-error`` fault: the service answers 202 and reports the error there) to
``async-failures/<InferenceId>-error.out``, both below the emulator's results bucket (see
:meth:`Emulator.local_path <smruntime.emulator.Emulator.local_path>`). An ``InputLocation`` is read
through the same mapping. Since results are local files, an InferenceId or S3OutputPathExtension
with a ``.`` or ``..`` path segment is refused (400 ValidationError); other characters (``/``,
``#``, ``?``...) are kept in the key and percent-encoded in the reported location.

An unexpected failure while answering becomes a 500 InternalFailure (or, once the head is sent,
a cut connection): a request is never dropped without a response.

InvokeEndpoint with ``SessionId="NEW_SESSION"`` opens a session: the answer carries
``X-Amzn-SageMaker-New-Session-Id: <id>; Expires=<UTC time>`` and the emulator records it
(:attr:`Emulator.sessions <smruntime.emulator.Emulator.sessions>`); closing sessions is up to the
model on the service and is not emulated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import logging
import re
import struct
import time
import uuid
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import unquote, urlsplit

from eventstream import Message, encode
from smruntime._http import HttpHeaders
from smruntime.emulator._auth import AuthFailure, verify_signature
from smruntime.emulator._faults import (
    HTTP_FAULT_KINDS,
    Fault,
    FaultSpecError,
    error_document,
    fault_not_served,
    faults_from_headers,
    injected_model_error,
    model_error,
)
from smruntime.emulator._http import BodyError, Cancelled, ConnectionHandler
from smruntime.emulator._models import (
    OPERATION_ASYNC,
    OPERATION_INVOKE,
    OPERATION_STREAM,
    EmulatorRequest,
    ModelFailure,
    recut,
)
from smruntime.emulator._validation import validation_errors

if TYPE_CHECKING:
    from smruntime.emulator._server import EmulatorEndpoint

__all__ = ["Reply", "RequestHandler"]

logger = logging.getLogger("smruntime.emulator")

SAGEMAKER_NS = "http://internal.amazon.com/coral/com.amazonaws.sagemaker/"
CORAL_NS = "http://internal.amazon.com/coral/com.amazon.coral.service/"
AVAILABILITY_NS = "http://internal.amazon.com/coral/com.amazon.coral.availability/"
EVENTSTREAM_TYPE = "application/vnd.amazon.eventstream"
_HTML_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)

_ROUTE = re.compile(
    r"/endpoints/([^/]*)/(invocations|async-invocations|invocations-response-stream)"
)
_OPERATIONS = {
    "invocations": OPERATION_INVOKE,
    "async-invocations": OPERATION_ASYNC,
    "invocations-response-stream": OPERATION_STREAM,
}

# HTTP faults answered with a service error: kind -> (status, code, default message, namespace).
# The other two HTTP fault kinds are model-error (a ModelError) and html (a page, not an error).
_FAULT_ERRORS: dict[str, tuple[int, str, str, str]] = {
    "throttle": (400, "ThrottlingException", "Rate exceeded", AVAILABILITY_NS),
    "service-unavailable": (
        503,
        "ServiceUnavailable",
        "The service is unavailable. Please try again.",
        SAGEMAKER_NS,
    ),
    "internal-failure": (
        500,
        "InternalFailure",
        "An internal failure occurred. Please try again.",
        SAGEMAKER_NS,
    ),
    "model-not-ready": (
        429,
        "ModelNotReadyException",
        "Model is not ready to serve requests. Please retry.",
        SAGEMAKER_NS,
    ),
}
# How often a stream asks the socket whether the client went away (seconds).
_GONE_CHECK = 0.002
_STREAM_FAULTS = frozenset({"model-stream-error", "internal-stream-failure", "cut", "corrupt-crc"})


class _StreamOver(Exception):
    """The stream already ended with an exception frame (a handler failed mid-stream)."""


def _dot_segment(value: Optional[str]) -> bool:
    return value is not None and any(seg in (".", "..") for seg in value.split("/"))


class Reply(Exception):
    """Stop serving this request with an error response (the service's error shape)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        namespace: str = SAGEMAKER_NS,
        members: Optional[Mapping[str, Any]] = None,
        close: bool = False,
    ) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.message = message
        self.namespace = namespace
        self.members = dict(members or {})
        self.close = close


def _validation(errors: list[str]) -> Reply:
    count = len(errors)
    noun = "error" if count == 1 else "errors"
    return Reply(
        400, "ValidationError", f"{count} validation {noun} detected: " + "; ".join(errors)
    )


def exception_frame(exception_type: str, members: Mapping[str, Any]) -> bytes:
    """An exception message (``:exception-type``) with *members* as its JSON payload."""
    return encode(
        Message(
            [
                (":exception-type", exception_type),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            json.dumps(members).encode(),
        )
    )


_PAYLOAD_HEADERS = [
    (":event-type", "PayloadPart"),
    (":content-type", "application/octet-stream"),
    (":message-type", "event"),
]
# The header block of every PayloadPart, encoded once by the codec (an empty-payload frame is
# prelude, prelude CRC, headers, message CRC): payload_frame() only adds lengths and CRCs.
_PAYLOAD_BLOCK = encode(Message(_PAYLOAD_HEADERS, b""))[12:-4]
_PRELUDE = struct.Struct(">II")
_U32 = struct.Struct(">I")


def payload_frame(data: bytes) -> bytes:
    """A ``PayloadPart`` event carrying *data* (the bytes :func:`eventstream.encode` gives)."""
    prelude = _PRELUDE.pack(16 + len(_PAYLOAD_BLOCK) + len(data), len(_PAYLOAD_BLOCK))
    head = prelude + _U32.pack(zlib.crc32(prelude)) + _PAYLOAD_BLOCK
    return b"".join((head, data, _U32.pack(zlib.crc32(data, zlib.crc32(head)))))


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    for part in rest:
        if part:
            yield bytes(part)


def _close_iterator(parts: Iterable[bytes]) -> None:
    close = getattr(parts, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


class RequestHandler(ConnectionHandler):
    """Serves one request as SageMaker Runtime does."""

    _gone_check_at = 0.0

    def serve(self) -> None:
        emu = self.emulator
        request: Optional[EmulatorRequest] = None
        try:
            try:
                body = self.read_body()
            except BodyError as exc:
                raise Reply(
                    exc.status, exc.code, exc.message, namespace=CORAL_NS, close=True
                ) from None
            finally:
                request = EmulatorRequest(
                    method=self.command,
                    path=self.path,
                    headers=HttpHeaders(self.headers),
                    body=b"",
                    request_id=str(uuid.uuid4()),
                    received_at=time.time(),
                    _stop=emu._stop_event,
                    _sock=self.connection,
                )
                emu._log(request)
            request.body = body
            self._handle(request)
        except Reply as reply:
            self._send_error_reply(request, reply)
        except Cancelled:
            if request is not None:
                emu._count_cancel(request)
            self.close_connection = True
        except OSError:
            logger.debug("emulator: connection lost", exc_info=True)
            if request is not None and not request.finished:
                emu._count_cancel(request)
            self.close_connection = True
        except Exception:
            logger.warning("emulator: failed to answer a request", exc_info=True)
            self._internal_failure(request)
        finally:
            if request is not None:
                request.finished = True

    def _internal_failure(self, request: Optional[EmulatorRequest]) -> None:
        """Answer 500 InternalFailure, or cut the connection if the head is already sent."""
        if request is not None and request.status is not None:
            request.error_code = "InternalFailure"
            self.cut_connection()
            return
        error = _FAULT_ERRORS["internal-failure"]
        reply = Reply(error[0], error[1], error[2], namespace=error[3], close=True)
        try:
            self._send_error_reply(request, reply)
        except OSError:
            self.close_connection = True

    # -- answers ------------------------------------------------------------------------------

    def _send_head(
        self, request: Optional[EmulatorRequest], status: int, headers: Iterable[tuple[str, str]]
    ) -> None:
        if request is not None:
            request.status = status
        self.send_head(status, headers)

    def _send_error_reply(self, request: Optional[EmulatorRequest], reply: Reply) -> None:
        body = error_document(reply.message, reply.members, modeled=reply.namespace == SAGEMAKER_NS)
        data = json.dumps(body).encode()
        if request is not None:
            request.error_code = reply.code
        headers = [
            ("x-amzn-RequestId", request.request_id if request else str(uuid.uuid4())),
            ("x-amzn-ErrorType", f"{reply.code}:{reply.namespace}"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(data))),
        ]
        if reply.close:
            headers.append(("Connection", "close"))
            self.close_connection = True
        self._send_head(request, reply.status, headers)
        if self.command != "HEAD":
            self.write(data)

    def _common_headers(
        self, request: EmulatorRequest, endpoint: EmulatorEndpoint
    ) -> list[tuple[str, str]]:
        headers = [
            ("x-amzn-RequestId", request.request_id),
            ("x-Amzn-Invoked-Production-Variant", endpoint.variant),
        ]
        attributes = request.reply_custom_attributes or endpoint.custom_attributes
        if attributes is not None:
            headers.append(("X-Amzn-SageMaker-Custom-Attributes", attributes))
        return headers

    def _model_error(self, request: EmulatorRequest, status: int, message: str) -> Reply:
        emu = self.emulator
        text, members = model_error(
            emu.region, emu.account_id, request.endpoint_name or "", status, message
        )
        return Reply(424, "ModelError", text, members=members)

    @contextlib.contextmanager
    def _model_errors(self, request: EmulatorRequest) -> Iterator[None]:
        """Handler failures inside the block (before the first byte) become a ModelError."""
        try:
            yield
        except ModelFailure as failure:
            raise self._model_error(request, failure.status, failure.message) from None
        except Exception as exc:
            logger.debug("emulator: handler failed", exc_info=True)
            raise self._model_error(request, 500, f"{type(exc).__name__}: {exc}") from None

    # -- the request --------------------------------------------------------------------------

    def _authenticate(self, request: EmulatorRequest) -> None:
        emu = self.emulator
        try:
            parsed = verify_signature(
                method=request.method,
                path=request.path,
                headers=request.headers,
                body=request.body,
                credentials=emu._credentials,
                region=emu.region,
                now=emu._now(),
                max_skew=_dt.timedelta(seconds=emu.max_skew),
            )
        except AuthFailure as failure:
            raise Reply(failure.status, failure.code, failure.message, namespace=CORAL_NS) from None
        request.access_key_id = parsed.access_key_id

    def _handle(self, request: EmulatorRequest) -> None:
        emu = self.emulator
        route = _ROUTE.fullmatch(urlsplit(request.path).path)
        if route is not None and not all(value.isascii() for _, value in request.headers.items()):
            # A header that is not ASCII (CustomAttributes="é" signed as UTF-8 by boto3): the
            # service's answer is its pattern's ValidationError. Checked before the signature,
            # which this server could not recompute over bytes it reads as Latin-1.
            errors = validation_errors(
                _OPERATIONS[route.group(2)], unquote(route.group(1)), request.headers, b""
            )
            if errors:
                raise _validation(errors)
        if emu.verify_signatures:
            self._authenticate(request)
        if request.method != "POST" or route is None:
            raise Reply(404, "UnknownOperationException", "", namespace=CORAL_NS)
        request.operation = _OPERATIONS[route.group(2)]
        name = unquote(route.group(1))
        request.endpoint_name = name
        errors = validation_errors(request.operation, name, request.headers, request.body)
        if errors:
            raise _validation(errors)
        endpoint = emu._lookup(name)
        if endpoint is None:
            raise Reply(
                400, "ValidationError", f"Endpoint {name} of account {emu.account_id} not found."
            )
        ready = getattr(endpoint.handler, "ready", None)
        if callable(ready) and not ready():
            # A container that does not answer GET /ping with 200 yet (or any more).
            error = _FAULT_ERRORS["service-unavailable"]
            raise Reply(error[0], error[1], error[2], namespace=error[3])
        try:
            requested = faults_from_headers(request.headers)
        except FaultSpecError as exc:
            raise Reply(400, "ValidationError", str(exc)) from None
        for fault in requested:
            reason = fault_not_served(fault, request.operation)
            if reason is not None:
                raise Reply(400, "ValidationError", reason)
        faults = emu._active_faults(name, requested, request.operation)
        for fault in faults:
            if fault.kind == "delay-headers" and not request.sleep(fault.seconds):
                raise Cancelled
        for fault in faults:
            if fault.kind == "model-error" and request.operation == OPERATION_ASYNC:
                continue  # the service reports it in the failure location (see _invoke_async)
            if fault.kind in HTTP_FAULT_KINDS:
                self._http_fault(request, fault)
                return
        if request.operation == OPERATION_ASYNC:
            self._invoke_async(request, endpoint, faults)
        elif request.operation == OPERATION_STREAM:
            self._invoke_stream(request, endpoint, faults)
        else:
            self._invoke(request, endpoint, faults)

    def _http_fault(self, request: EmulatorRequest, fault: Fault) -> None:
        error = _FAULT_ERRORS.get(fault.kind)
        if error is not None:
            status, code, message, namespace = error
            raise Reply(status, code, fault.message or message, namespace=namespace)
        if fault.kind == "model-error":
            raise self._model_error(request, *injected_model_error(fault))
        # html: a page from something in the middle (proxy, captive portal, load balancer)
        self._send_head(
            request,
            fault.status or 200,
            [("Content-Type", "text/html"), ("Content-Length", str(len(_HTML_PAGE)))],
        )
        self.write(_HTML_PAGE)

    def _results(self, request: EmulatorRequest, endpoint: EmulatorEndpoint) -> Iterator[bytes]:
        """Run the handler; ModelFailure/exceptions before the first part become ModelError."""
        with self._model_errors(request):
            result = endpoint.handler(request)  # type: ignore[operator]
            if isinstance(result, (bytes, bytearray, memoryview)):
                return iter([bytes(result)])
            return iter(result)

    def _collect(self, request: EmulatorRequest, endpoint: EmulatorEndpoint) -> bytes:
        parts = self._results(request, endpoint)
        try:
            with self._model_errors(request):
                return b"".join(bytes(part) for part in parts)
        finally:
            _close_iterator(parts)

    # -- InvokeEndpoint -----------------------------------------------------------------------

    def _invoke(
        self, request: EmulatorRequest, endpoint: EmulatorEndpoint, faults: list[Fault]
    ) -> None:
        data = self._collect(request, endpoint)
        cut = any(fault.kind == "cut" for fault in faults)
        headers = [
            ("Content-Type", endpoint.model_content_type(request)),
            ("Content-Length", str(len(data))),
            *self._common_headers(request, endpoint),
        ]
        if request.headers.get("X-Amzn-SageMaker-Session-Id") == "NEW_SESSION":
            session_id, expires = self.emulator._open_session()
            stamp = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
            headers.append(("X-Amzn-SageMaker-New-Session-Id", f"{session_id}; Expires={stamp}"))
        self._send_head(request, 200, headers)
        if cut:
            self.write(data[: len(data) // 2])
            self.cut_connection()
            return
        self.write(data)

    # -- InvokeEndpointWithResponseStream -----------------------------------------------------

    def _invoke_stream(
        self, request: EmulatorRequest, endpoint: EmulatorEndpoint, faults: list[Fault]
    ) -> None:
        parts = self._results(request, endpoint)
        if endpoint.part_size is not None:
            parts = recut(parts, endpoint.part_size)
        try:
            first = self._first_part(request, parts)
            headers = [
                ("Content-Type", EVENTSTREAM_TYPE),
                ("X-Amzn-SageMaker-Content-Type", endpoint.model_content_type(request)),
                *self._common_headers(request, endpoint),
            ]
            if self.raw_body:
                # HTTP/1.0 has no chunked encoding: raw frames, and the close ends the body.
                headers.append(("Connection", "close"))
                self.close_connection = True
            else:
                headers.append(("Transfer-Encoding", "chunked"))
            self._send_head(request, 200, headers)
            self._stream_parts(request, first, parts, faults)
        finally:
            _close_iterator(parts)

    def _first_part(self, request: EmulatorRequest, parts: Iterator[bytes]) -> Optional[bytes]:
        with self._model_errors(request):
            for part in parts:
                if part:
                    return bytes(part)
            return None

    def _send_frame(self, request: EmulatorRequest, frame: bytes) -> None:
        # Whether the client is gone is asked of the socket at most every _GONE_CHECK seconds
        # (a poll per frame would cost more than the frame); a failed write is seen at once.
        now = time.monotonic()
        if now >= self._gone_check_at:
            self._gone_check_at = now + _GONE_CHECK
            if request.client_gone():
                raise Cancelled
        elif request.cancelled:
            raise Cancelled
        self.write_chunk(frame)

    def _end_with_exception(
        self, request: EmulatorRequest, exception_type: str, members: Mapping[str, Any]
    ) -> None:
        request.error_code = exception_type
        self._send_frame(request, exception_frame(exception_type, members))
        self.end_chunks()

    def _next_part(self, request: EmulatorRequest, source: Iterator[bytes]) -> Optional[bytes]:
        """The model's next part (None at its end); a handler failure ends the stream with a
        ModelStreamError frame and raises :class:`_StreamOver`."""
        try:
            return next(source, None)
        except Exception as exc:
            logger.debug("emulator: handler failed mid-stream", exc_info=True)
            code = exc.stream_error_code if isinstance(exc, ModelFailure) else None
            message = exc.message if isinstance(exc, ModelFailure) else str(exc)
            if code is None:
                code = "StreamBroken"
                message = f"Your model primary failed while streaming: {message}"
            self._end_with_exception(
                request, "ModelStreamError", {"Message": message, "ErrorCode": code}
            )
            raise _StreamOver from None

    def _stream_parts(
        self,
        request: EmulatorRequest,
        first: Optional[bytes],
        parts: Iterator[bytes],
        faults: list[Fault],
    ) -> None:
        stream_faults = sorted(
            (f for f in faults if f.kind in _STREAM_FAULTS), key=lambda fault: fault.after
        )
        delay = sum(f.seconds for f in faults if f.kind == "delay-events")
        pending = [first] if first is not None else []
        source = _chain(pending, parts)
        with contextlib.suppress(_StreamOver):
            self._stream_loop(request, source, stream_faults, delay)

    def _stream_loop(
        self,
        request: EmulatorRequest,
        source: Iterator[bytes],
        stream_faults: list[Fault],
        delay: float,
    ) -> None:
        while True:
            # A fault due now (after == parts sent) comes before the next part.
            if stream_faults and stream_faults[0].after <= request.parts_sent:
                if self._stream_fault(request, stream_faults.pop(0), source):
                    return
                continue
            if delay and not request.sleep(delay):
                raise Cancelled
            part = self._next_part(request, source)
            if part is None:
                if request.client_gone():
                    # The model stopped because nobody listens: no clean end-of-stream.
                    raise Cancelled
                if stream_faults:
                    # Faults due after more parts than the model produced fire at the end.
                    stream_faults = [dataclasses.replace(f, after=0) for f in stream_faults]
                    continue
                self.end_chunks()
                return
            if request.cancelled:
                raise Cancelled
            self._send_frame(request, payload_frame(part))
            request.parts_sent += 1

    def _stream_fault(
        self, request: EmulatorRequest, fault: Fault, source: Iterator[bytes]
    ) -> bool:
        """Apply one in-stream fault; True when the stream is over."""
        if fault.kind == "model-stream-error":
            self._end_with_exception(
                request,
                "ModelStreamError",
                {
                    "Message": fault.message
                    or "Your model primary did not complete sending the inference response in "
                    "the allotted time.",
                    "ErrorCode": fault.code or "ModelInvocationTimeExceeded",
                },
            )
            return True
        if fault.kind == "internal-stream-failure":
            self._end_with_exception(
                request,
                "InternalStreamFailure",
                {"Message": fault.message or "An internal stream failure occurred."},
            )
            return True
        part = self._next_part(request, source)
        frame = payload_frame(part if part is not None else b"emulator: cut")
        if fault.kind == "corrupt-crc":
            corrupt = frame[:-4] + bytes(b ^ 0xFF for b in frame[-4:])
            self._send_frame(request, corrupt)
            request.parts_sent += 1
            return False
        # cut: half a frame, then the socket goes away
        self._send_frame(request, frame[: len(frame) // 2])
        request.error_code = "cut"
        self.cut_connection()
        return True

    # -- InvokeEndpointAsync ------------------------------------------------------------------

    def _invoke_async(
        self, request: EmulatorRequest, endpoint: EmulatorEndpoint, faults: list[Fault]
    ) -> None:
        emu = self.emulator
        headers = request.headers
        location = headers.get("X-Amzn-SageMaker-InputLocation")
        if location is not None and request.body:
            raise _validation(["Only one of 'body' and 'inputLocation' can be provided"])
        if location is None and not request.body:
            raise _validation(["Either 'body' or 'inputLocation' must be provided"])
        inference_id = headers.get("X-Amzn-SageMaker-Inference-Id") or str(uuid.uuid4())
        extension = headers.get("X-Amzn-SageMaker-S3OutputPathExtension")
        for member, value in (("inferenceId", inference_id), ("s3OutputPathExtension", extension)):
            if _dot_segment(value):
                raise _validation(
                    [
                        f"Value '{value}' at '{member}' failed to satisfy constraint: the "
                        "emulator keeps results in local files, so '.' and '..' path segments "
                        "are not allowed"
                    ]
                )
        filename = headers.get("X-Amzn-SageMaker-Filename") or f"{inference_id}.out"
        output_key = "/".join(
            p for p in ("async-outputs", (extension or "").strip("/"), filename) if p
        )
        output_uri = emu._result_uri(output_key)
        failure_uri = emu._result_uri(f"async-failures/{inference_id}-error.out")
        work = request
        error: Optional[str] = None
        injected = next((f for f in faults if f.kind == "model-error"), None)
        if injected is not None:
            status, message = injected_model_error(injected)
            error = self._model_error(request, status, message).message
        elif location is not None:
            try:
                work = dataclasses.replace(request, body=emu.local_path(location).read_bytes())
            except (OSError, ValueError) as exc:
                error = f"Could not read input from {location}: {exc}"
        output = b""
        if error is None:
            try:
                output = self._collect(work, endpoint)
            except Reply as reply:
                error = reply.message
        if error is None and any(f.kind == "cut" for f in faults):
            error = "The model container closed the connection."
        if error is not None:
            written = emu._write_result(failure_uri, error.encode())
        else:
            written = emu._write_result(output_uri, output)
        if not written:
            raise Cancelled  # the emulator is stopping
        data = json.dumps({"InferenceId": inference_id}).encode()
        self._send_head(
            request,
            202,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(data))),
                ("x-amzn-RequestId", request.request_id),
                ("X-Amzn-SageMaker-OutputLocation", output_uri),
                ("X-Amzn-SageMaker-FailureLocation", failure_uri),
            ],
        )
        self.write(data)
