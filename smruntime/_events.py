"""Event-stream messages of a successful stream as boto3's event dicts."""

from __future__ import annotations

from typing import Any, Optional

from smruntime._errors import EventMessage, _header_text, stream_error
from smruntime._model import EVENT_TYPES

__all__ = ["event_to_dict"]


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
