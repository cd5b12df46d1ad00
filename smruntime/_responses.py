"""Response parsing: boto3's output dict of a successful response and its ``ResponseMetadata``,
and the header and JSON helpers error parsing shares."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Optional

from smruntime._http import HttpHeaders
from smruntime._model import OperationSpec, get_operation, per_spec

__all__ = ["parse_response", "response_metadata", "shape_output"]


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


def _header_getter(headers: Mapping[str, str]) -> Callable[[str], Optional[str]]:
    """``_get_header`` bound to ``headers`` (an :class:`HttpHeaders` answers any case itself)."""
    if isinstance(headers, HttpHeaders):
        return headers.get
    return lambda name: _get_header(headers, name)


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


# Per operation, the output members in model order: (location, name, wire name, lower-case
# wire name); memoised per spec.
_OutputTable = tuple[tuple[str, str, str, str], ...]
_OUTPUTS: dict[int, tuple[OperationSpec, _OutputTable]] = {}


def _output_table(spec: OperationSpec) -> _OutputTable:
    return per_spec(_OUTPUTS, spec, _make_output_table)


def _make_output_table(spec: OperationSpec) -> _OutputTable:
    return tuple(
        (m.location, m.name, m.wire_name, m.wire_name.lower()) for m in spec.output.values()
    )


def parse_response(
    op: str, status: int, headers: Mapping[str, str], body: Optional[bytes]
) -> dict[str, Any]:
    """boto3's output dict for a successful response, without ``ResponseMetadata``.

    Header members appear only when their header is present. ``Body`` is the raw body bytes
    for InvokeEndpoint and absent for the streaming operation (the caller wraps the stream).
    """
    return shape_output(get_operation(op), headers, body)


def shape_output(
    spec: OperationSpec, headers: Mapping[str, str], body: Optional[bytes]
) -> dict[str, Any]:
    """:func:`parse_response` of an operation's spec."""
    out: dict[str, Any] = {}
    doc: Any = None
    # An HttpHeaders is read by the lower-case names of the table (no case folding per call).
    get_lower = headers.get_lower if isinstance(headers, HttpHeaders) else None
    for location, name, wire, lowered in _output_table(spec):
        if location == "header":
            value = get_lower(lowered) if get_lower is not None else _get_header(headers, wire)
            if value is not None:
                out[name] = value
        elif location == "json":
            if doc is None:
                doc = _load_json(body)
            if isinstance(doc, dict) and isinstance(doc.get(wire), str):
                out[name] = doc[wire]
        elif location == "payload" and not spec.streaming:
            out[name] = bytes(body) if body is not None else b""
    return out


def response_metadata(
    status: int, headers: Mapping[str, str], retry_attempts: int = 0
) -> dict[str, Any]:
    """boto3's ``ResponseMetadata``: RequestId (when sent), HostId (when sent),
    HTTPStatusCode, HTTPHeaders (lower-cased names) and RetryAttempts."""
    meta: dict[str, Any] = {}
    all_headers = _headers_dict(headers)
    if isinstance(headers, HttpHeaders):
        get: Callable[[str], Optional[str]] = all_headers.get  # the same values, lower-case names
        request_id = get("x-amzn-requestid") or get("x-amz-request-id")
    else:
        get = _header_getter(headers)
        request_id = get("x-amzn-RequestId") or get("x-amz-request-id")
    host_id = get("x-amz-id-2")
    if request_id:
        meta["RequestId"] = request_id
    if host_id:
        meta["HostId"] = host_id
    meta["HTTPStatusCode"] = int(status)
    meta["HTTPHeaders"] = all_headers
    meta["RetryAttempts"] = int(retry_attempts)
    return meta
