"""Event-stream messages of a successful stream as boto3's event dicts, and the reverse for the
input events of InvokeEndpointWithBidirectionalStream (inner message, then the signed outer one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from smruntime._errors import EventMessage, _as_text, _header_text, stream_error
from smruntime._model import event_types_for, get_operation
from smruntime._validation import validate_request_event

if TYPE_CHECKING:
    from sigv4 import SignedEvent

__all__ = [
    "encode_request_event",
    "encode_request_part",
    "encode_signed_event",
    "encode_signed_raw",
    "event_to_dict",
    "payload_part_event",
    "request_event_headers",
]

_BIDI = "invoke_endpoint_with_bidirectional_stream"


# The response event types of each operation asked for (a few known names).
_EVENT_TABLES: dict[str, dict[str, dict[str, tuple[str, Any]]]] = {}


def event_to_dict(
    message: EventMessage, op: str = "invoke_endpoint_with_response_stream"
) -> Optional[dict[str, Any]]:
    """boto3's event dict for an ``event`` message: ``{"PayloadPart": {"Bytes": payload}}``
    (the payload is the raw bytes of the part, not JSON); for the HTTP/2 operation also its
    ``DataType``, ``CompletionState`` and ``P`` headers, when sent. None for an event type this
    client does not know (skipped, as botocore does). Raises the :func:`stream_error` of an
    exception/error message, so an error can never be skipped by mistake."""
    table = _EVENT_TABLES.get(op)
    if table is None:  # an unknown op raises here, and is never kept
        table = _EVENT_TABLES[op] = event_types_for(get_operation(op))
    try:  # text values (the usual) as they are; anything else through _header_text
        kind, event_type = message.headers.get(":message-type"), message.headers.get(":event-type")
    except (AttributeError, TypeError):
        kind = event_type = None
    if type(kind) is not str:
        kind = _header_text(message, ":message-type")
    if kind != "event":  # stream_error: None for an event
        error = stream_error(op, message)
        if error is not None:
            raise error
    if type(event_type) is not str:
        event_type = _header_text(message, ":event-type")
    members = table.get(event_type or "")
    if event_type is None or members is None:
        return None
    payload = bytes(getattr(message, "payload", b"") or b"")
    out: dict[str, Any] = {}
    for name, (binding, _shape) in members.items():
        if binding == "eventpayload":
            out[name] = payload
        elif binding == "eventheader":
            value = message.headers.get(name)
            if value is not None:
                out[name] = value if type(value) is str else _as_text(value)
    return {event_type: out}


def request_event_headers(event: object, op: str = _BIDI) -> tuple[list[tuple[str, str]], bytes]:
    """The inner message's headers and payload for one input event (validated by
    :func:`~smruntime._validation.validate_request_event`): ``:message-type``, ``:event-type``,
    then ``DataType`` / ``CompletionState`` / ``P`` when set, then ``:content-type`` only when
    the payload is not empty (the order the official client sends)."""
    ((event_type, part),) = validate_request_event(op, event).items()
    headers = [(":message-type", "event"), (":event-type", event_type)]
    for name in ("DataType", "CompletionState", "P"):
        if name in part:
            headers.append((name, part[name]))
    payload: bytes = part["Bytes"]
    if payload:
        headers.append((":content-type", "application/octet-stream"))
    return headers, payload


# Encoded header blocks of inner messages, by their headers: a stream sends the same few
# (DataType/CompletionState/P combinations) again and again. Bounded: P is free text.
_BLOCKS: dict[tuple[tuple[str, str], ...], bytes] = {}
_MAX_BLOCKS = 64
# The outer message's second header up to its value: name length 16, ":chunk-signature",
# type 6 (bytes), value length 32.
_SIGNATURE_HEADER = b"\x10:chunk-signature\x06\x00\x20"


def encode_request_event(event: object, op: str = _BIDI) -> bytes:
    """The encoded inner event-stream message of one input event (the payload to sign)."""
    from eventstream import encode_frame

    headers, payload = request_event_headers(event, op)
    return encode_frame(_block(headers), payload)


def _block(headers: list[tuple[str, str]]) -> bytes:
    from eventstream._headers import encode_headers

    key = tuple(headers)
    block = _BLOCKS.get(key)
    if block is None:
        block = encode_headers(dict(headers))
        if len(_BLOCKS) < _MAX_BLOCKS:
            _BLOCKS[key] = block
    return block


# The header blocks of parts given as bytes (``send(data, DataType=...)``), by operation,
# members and whether the payload is empty: checked once by the whole path, then reused.
_PART_BLOCKS: dict[tuple[str, Optional[str], Optional[str], Optional[str], bool], bytes] = {}
_PLAIN = (str, type(None))


def payload_part_event(
    data: Any, data_type: Optional[str], completion_state: Optional[str], p: Optional[str]
) -> dict[str, Any]:
    """``{"PayloadPart": {"Bytes": data, ...}}`` with the members given as None left out."""
    part: dict[str, Any] = {"Bytes": data}
    if data_type is not None:
        part["DataType"] = data_type
    if completion_state is not None:
        part["CompletionState"] = completion_state
    if p is not None:
        part["P"] = p
    return {"PayloadPart": part}


def encode_request_part(
    data: Any,
    data_type: Optional[str] = None,
    completion_state: Optional[str] = None,
    p: Optional[str] = None,
    op: str = _BIDI,
) -> bytes:
    """:func:`encode_request_event` of ``{"PayloadPart": {"Bytes": data, "DataType":
    data_type, "CompletionState": completion_state, "P": p}}`` (the members given as None left
    out): the same bytes and the same errors. A part of ``bytes`` whose members (str or None)
    were checked before skips the checks and reuses their encoded headers."""
    from eventstream._encoder import encode_frame  # (a module: no package fromlist step)

    plain = (
        type(data) is bytes
        and type(data_type) in _PLAIN
        and type(completion_state) in _PLAIN
        and type(p) in _PLAIN
    )
    key = (op, data_type, completion_state, p, not data)
    if plain:
        block = _PART_BLOCKS.get(key)
        if block is not None:
            return encode_frame(block, data)
    headers, payload = request_event_headers(
        payload_part_event(data, data_type, completion_state, p), op
    )
    block = _block(headers)
    if plain and len(_PART_BLOCKS) < _MAX_BLOCKS:
        _PART_BLOCKS[key] = block
    return encode_frame(block, payload)


def encode_signed_event(signed: SignedEvent, inner: bytes) -> bytes:
    """The outer message sent on the wire: ``signed``'s ``:date`` and ``:chunk-signature``
    headers around ``inner`` (the encoded inner message, or ``b""`` for the end of input)."""
    from sigv4 import encode_date_header

    signature = signed.chunk_signature
    if len(signature) != 32:  # a SHA-256 HMAC always is; anything else is encoded generically
        from eventstream import Message, encode

        return encode(Message(headers=signed.headers, payload=inner))
    return encode_signed_raw(encode_date_header(signed.date), signature, inner)


def encode_signed_raw(date_header: bytes, signature: bytes, inner: bytes) -> bytes:
    """:func:`encode_signed_event` from what ``EventSigner.sign_raw`` returns: the encoded
    ``:date`` header and the 32 raw bytes of the signature."""
    from eventstream._encoder import encode_frame  # (a module: no package fromlist step)

    return encode_frame(date_header + _SIGNATURE_HEADER + signature, inner, True)
