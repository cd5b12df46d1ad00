"""The SageMaker Runtime operations on the wire (rest-json): requests, responses, errors.

The three operations of the classic service, plus InvokeEndpointWithBidirectionalStream of the
separate HTTP/2 service (``H2_*`` tables; its error names differ: InputValidationError,
InternalServerError, ServiceUnavailableError, ModelError with ErrorCode).

Pure: no I/O, no clock. This module is the facade the client and the stream use; the work is
done in modules named for what they hold:

* :mod:`smruntime._model` -- shapes, members, the operation tables, error shapes, event types
  (written from botocore 1.44.8 ``sagemaker-runtime/2017-05-13/service-2.json``;
  ``tests/smruntime/test_model_coverage.py`` checks them member by member against that file);
* :mod:`smruntime._validation` -- parameter validation;
* :mod:`smruntime._requests` -- the unsigned HTTP request;
* :mod:`smruntime._responses` -- output dicts and ``ResponseMetadata``;
* :mod:`smruntime._errors` -- HTTP error responses and in-stream errors, with hints;
* :mod:`smruntime._events` -- event-stream messages as boto3's event dicts, and input events
  as inner and signed outer messages.

Decisions (see NOTES.md §2, §3, §4, §8, §15):

* Validation is botocore's by default: required members, types and ``min``; with
  ``strict=True`` (``Config(parameter_validation="strict")``) also ``max`` lengths, the model's
  patterns (translated from Java regex, full match), integer ranges and the body limits of the
  model (6291456 bytes for InvokeEndpoint and InvokeEndpointWithResponseStream, 128000 bytes for
  InvokeEndpointAsync's inline body) and InvokeEndpointAsync's one of ``Body`` and
  ``InputLocation``. Always: header values must be printable ASCII (HTTP forbids control
  characters; CR/LF would inject headers) and URI labels are percent-encoded. A parameter given
  as ``None`` counts as absent.
* No ``Content-Type`` is sent unless ``ContentType`` is given (botocore's behaviour), so
  requests are byte-for-byte what botocore signs.
* Error responses are parsed as botocore does, plus a ``hint`` when the cause is known; a
  5xx with an HTML/empty body keeps botocore's code (the status as a string) and gets a short
  body preview in its message.
"""

from __future__ import annotations

from smruntime._errors import EventMessage, parse_error, stream_error
from smruntime._events import (
    encode_request_event,
    encode_request_part,
    encode_signed_event,
    encode_signed_raw,
    event_to_dict,
    payload_part_event,
    request_event_headers,
)
from smruntime._model import (
    ERROR_SHAPES,
    EVENT_TYPES,
    H2_ERROR_SHAPES,
    H2_EVENT_TYPES,
    H2_OPERATIONS,
    H2_REQUEST_EVENT_TYPES,
    OPERATIONS,
    Member,
    OperationSpec,
    Shape,
    get_operation,
    is_h2,
)
from smruntime._requests import (
    EVENT_STREAM_CONTENT_TYPE,
    STREAMING_EVENTS_PAYLOAD,
    build_request,
    encode_label,
)
from smruntime._responses import parse_response, response_metadata
from smruntime._validation import validate, validate_request_event

__all__ = [
    "ERROR_SHAPES",
    "EVENT_STREAM_CONTENT_TYPE",
    "EVENT_TYPES",
    "EventMessage",
    "H2_ERROR_SHAPES",
    "H2_EVENT_TYPES",
    "H2_OPERATIONS",
    "H2_REQUEST_EVENT_TYPES",
    "OPERATIONS",
    "Member",
    "OperationSpec",
    "STREAMING_EVENTS_PAYLOAD",
    "Shape",
    "build_request",
    "encode_label",
    "encode_request_event",
    "encode_request_part",
    "encode_signed_event",
    "encode_signed_raw",
    "event_to_dict",
    "get_operation",
    "is_h2",
    "parse_error",
    "parse_response",
    "payload_part_event",
    "response_metadata",
    "request_event_headers",
    "stream_error",
    "validate",
    "validate_request_event",
]
