"""Response parsing: boto3's output dict of a successful response and its ``ResponseMetadata``,
and the header and JSON helpers error parsing shares."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Optional

from smruntime._http import HttpHeaders
from smruntime._model import get_operation

__all__ = ["parse_response", "response_metadata"]


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
    get = _header_getter(headers)
    for member in spec.output.values():
        if member.location == "header":
            value = get(member.wire_name)
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
    get = _header_getter(headers)
    request_id = get("x-amzn-RequestId") or get("x-amz-request-id")
    if request_id:
        meta["RequestId"] = request_id
    host_id = get("x-amz-id-2")
    if host_id:
        meta["HostId"] = host_id
    meta["HTTPStatusCode"] = int(status)
    meta["HTTPHeaders"] = _headers_dict(headers)
    meta["RetryAttempts"] = int(retry_attempts)
    return meta
