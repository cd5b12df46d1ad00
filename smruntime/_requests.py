"""Request serialization (rest-json): the unsigned HTTP request of an operation.

No ``Content-Type`` is sent unless ``ContentType`` is given (botocore's behaviour), so requests
are byte-for-byte what botocore signs. Headers keep the caller's order.

For an input event stream (InvokeEndpointWithBidirectionalStream) the body is empty here: the
events follow the headers, each signed in a chain (``sigv4.EventSigner``). The request then
carries ``Content-Type: application/vnd.amazon.eventstream`` and ``X-Amz-Content-SHA256:
STREAMING-AWS4-HMAC-SHA256-EVENTS``, whose value ``sigv4.sign`` uses as the payload hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional
from urllib.parse import quote, urlsplit, urlunsplit

from smruntime._http import HttpRequest
from smruntime._model import Member, OperationSpec, get_operation, per_spec
from smruntime._validation import (
    _BYTES_LIKE,
    _check_body_size,
    _fail,
    _is_file,
    _type_name,
    validate,
    validate_wire,
)

__all__ = [
    "EVENT_STREAM_CONTENT_TYPE",
    "STREAMING_EVENTS_PAYLOAD",
    "build_request",
    "encode_label",
    "fast_request",
]

EVENT_STREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
STREAMING_EVENTS_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-EVENTS"  # = sigv4.STREAMING_EVENTS_PAYLOAD


def encode_label(value: str) -> str:
    """Percent-encode a URI label: everything but RFC 3986 unreserved characters, ``/``
    included; a label of only dots is fully encoded so no path normalization can eat it."""
    encoded = quote(value, safe="")
    if encoded and set(encoded) == {"."}:
        encoded = "%2E" * len(encoded)
    return encoded


def _read_body(spec: OperationSpec, member: Member, value: object, check: bool) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _fail(
                spec, member.name, f"str is not encodable as UTF-8 (at index {exc.start})"
            ) from None
    if _is_file(value):
        limit = member.shape.max
        if check and limit is not None:
            data = _read_up_to(spec, member, value, limit + 1)
        else:
            data = _checked_read(spec, member, value.read())  # type: ignore[attr-defined]
        if isinstance(data, str):
            # A text-mode file: UTF-8, with "surrogateescape" so that a file opened with
            # errors="surrogateescape" (sys.stdin under a C locale) gives back its original
            # bytes; any other lone surrogate cannot be sent, as for a str Body.
            try:
                return data.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError as exc:
                raise _fail(
                    spec,
                    member.name,
                    f"file text is not encodable as UTF-8 (at index {exc.start})",
                ) from None
        return bytes(data)
    raise _fail(
        spec,
        member.name,
        f"expected bytes, bytearray, str or a readable binary file, got {_type_name(value)}",
    )


def _checked_read(spec: OperationSpec, member: Member, data: object) -> bytes | str:
    if isinstance(data, str):
        return data
    if not isinstance(data, _BYTES_LIKE):
        raise _fail(spec, member.name, f"file read() returned {_type_name(data)}, expected bytes")
    return bytes(data)


def _read_up_to(spec: OperationSpec, member: Member, file: Any, size: int) -> bytes | str:
    """Read until EOF or ``size`` bytes (characters for a text file): one past the limit is
    enough to reject without loading a huge file. Loops, since a raw (unbuffered) file or a
    pipe may return fewer bytes than asked before EOF."""
    chunks: list[Any] = []
    got = 0
    while got < size:
        chunk = _checked_read(spec, member, file.read(size - got))
        if not chunk:
            break
        if chunks and type(chunk) is not type(chunks[0]):
            raise _fail(spec, member.name, "file read() mixed str and bytes")
        chunks.append(chunk)
        got += len(chunk)
    if not chunks:
        return b""
    return chunks[0][:0].join(chunks)  # type: ignore[no-any-return]


def _header_value(spec: OperationSpec, member: Member, value: object) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, str)):
        text = str(value)
    else:
        raise _fail(spec, member.name, f"expected a str, got {_type_name(value)}")
    if any(c in text for c in "\r\n\x00"):
        raise _fail(spec, member.name, "header values must not contain CR, LF or NUL")
    return text


_WIRE_MEMBERS: dict[int, tuple[OperationSpec, tuple[Member, ...]]] = {}


def _wire_members(spec: OperationSpec) -> tuple[Member, ...]:
    """The input members :func:`build_request` places (URI labels, the payload, an event
    stream), in model order (memoised per spec)."""
    return per_spec(_WIRE_MEMBERS, spec, _find_wire_members)


def _find_wire_members(spec: OperationSpec) -> tuple[Member, ...]:
    return tuple(
        m
        for m in spec.input.values()
        if m.location in ("uri", "payload") or m.shape.type == "eventstream"
    )


_URLS: dict[tuple[str, str], str] = {}
_LABELS: dict[str, str] = {}
_CACHE_MAX = 256  # endpoint names per process: a bound, not a working-set estimate


def _join_url(endpoint_url: str, path: str) -> str:
    found = _URLS.get((endpoint_url, path))
    if found is None:
        parts = urlsplit(endpoint_url)
        new_path = parts.path.rstrip("/") + path
        found = urlunsplit((parts.scheme, parts.netloc, new_path, parts.query, ""))
        if len(_URLS) >= _CACHE_MAX:
            _URLS.clear()
        _URLS[endpoint_url, path] = found
    return found


def _label(value: str) -> str:
    found = _LABELS.get(value)
    if found is None:
        found = encode_label(value)
        if len(_LABELS) >= _CACHE_MAX:
            _LABELS.clear()
        _LABELS[value] = found
    return found


def build_request(
    op: str,
    params: Mapping[str, Any],
    endpoint_url: str,
    *,
    validate_params: bool = True,
    strict: bool = False,
) -> HttpRequest:
    """The unsigned HTTP request for ``op``: method, URL, headers (in the order given, exact
    wire names) and body bytes. Runs :func:`validate` first (``strict`` adds the model's
    maximums and patterns) unless ``validate_params`` is False (botocore's
    ``parameter_validation=False``: only what cannot be sent is rejected). A file ``Body``
    is read here."""
    spec = get_operation(op)
    if validate_params:
        validate(spec.snake_name, params, strict=strict)
    else:
        validate_wire(spec.snake_name, params)
    check_size = validate_params and strict
    path = spec.uri
    body = b""
    event_stream = False
    for member in _wire_members(spec):
        value = params.get(member.name)
        if member.location == "uri":
            if not isinstance(value, str) or not value:
                raise _fail(spec, member.name, "missing required parameter (a non-empty str)")
            try:
                label = _label(value)
            except UnicodeEncodeError as exc:  # a lone surrogate (validation catches it too)
                raise _fail(
                    spec, member.name, f"str is not encodable as UTF-8 (at index {exc.start})"
                ) from None
            path = path.replace("{" + member.wire_name + "}", label)
        elif member.shape.type == "eventstream":
            event_stream = True  # the events are sent after the headers, not here
        elif member.location == "payload":
            body = _read_body(spec, member, value, check_size)
            if check_size:
                _check_body_size(spec, member, len(body))
    # Headers in the caller's order, as botocore sends them (the order is not signed).
    headers: list[tuple[str, str]] = []
    for name, value in params.items():
        target = spec.input.get(name) if isinstance(name, str) else None
        if target is not None and target.location == "header" and value is not None:
            headers.append((target.wire_name, _header_value(spec, target, value)))
    if event_stream:
        headers.append(("Content-Type", EVENT_STREAM_CONTENT_TYPE))
        headers.append(("X-Amz-Content-SHA256", STREAMING_EVENTS_PAYLOAD))
    return HttpRequest(
        method=spec.method, url=_join_url(endpoint_url, path), headers=headers, body=body
    )


# -- the fast path ---------------------------------------------------------------------------
#
# The common call (known names, exact str/bytes/int values, printable ASCII headers, default
# validation) built in one pass over the parameters from a table made once per operation. It
# never raises and never decides an error: anything else returns None and goes through
# validate + build_request, whose answer (request or error) is the reference.
# tests/smruntime/test_fast_request.py holds the two paths to the same bytes.

_LABEL, _BODY_BYTES, _TEXT, _INT = range(4)
_KINDS = {
    ("uri", "string"): _LABEL,
    ("payload", "blob"): _BODY_BYTES,
    ("header", "string"): _TEXT,
    ("header", "integer"): _INT,
}
# name -> (kind, wire name, minimum); the required names; the URI before and after its label
_FastTable = tuple[dict[str, tuple[int, str, int]], frozenset[str], tuple[str, str]]
_FAST: dict[int, tuple[OperationSpec, Optional[_FastTable]]] = {}


def _fast_table(spec: OperationSpec) -> Optional[_FastTable]:
    """The table of ``spec`` (memoised per spec); None for an operation the fast path does not
    take (an input event stream, a URI of other than one label, a member of another kind)."""
    return per_spec(_FAST, spec, _make_fast_table)


def _make_fast_table(spec: OperationSpec) -> Optional[_FastTable]:
    table: Optional[_FastTable] = None
    entries: dict[str, tuple[int, str, int]] = {}
    labels: list[Member] = []
    for member in spec.input.values():
        shape = member.shape
        where = (member.location, shape.type)
        kind = _KINDS.get(where)
        if kind is None:
            break  # an input event stream, a JSON member, ...: the checked path only
        if kind == _LABEL:
            labels.append(member)
        minimum = shape.min or 0
        if kind == _LABEL:
            minimum = max(minimum, 1)  # a URI label is never empty, whatever the model says
        entries[member.name] = (kind, member.wire_name, minimum)
    else:
        # One label, required (so present, and non-empty once checked), once in the URI.
        if len(labels) == 1 and labels[0].required:
            marker = "{" + labels[0].wire_name + "}"
            before, sep, after = spec.uri.partition(marker)
            if sep and marker not in after:
                required = frozenset(m.name for m in spec.input.values() if m.required)
                table = (entries, required, (before, after))
    return table


def fast_request(
    spec: OperationSpec, params: Mapping[str, Any], endpoint_url: str
) -> Optional[HttpRequest]:
    """The request :func:`build_request` makes for ``params`` with default validation, when
    the call is a common one; None when it is not (then :func:`build_request` decides)."""
    table = _fast_table(spec)
    if table is None or type(params) is not dict:
        return None
    entries, required, (before, after) = table
    headers: list[tuple[str, str]] = []
    body = b""
    label = ""
    for name, value in params.items():
        entry = entries.get(name)
        if entry is None:
            return None
        kind, wire, minimum = entry
        if kind == _TEXT:
            # printable ASCII (a tab, also allowed, is left to the checked path)
            if (
                type(value) is not str
                or len(value) < minimum
                or not value.isascii()
                or not value.isprintable()
            ):
                return None
            headers.append((wire, value))
        elif kind == _LABEL:
            if type(value) is not str or len(value) < minimum:
                return None
            label = value
        elif kind == _BODY_BYTES:
            if type(value) is not bytes:
                return None
            body = value
        else:
            if type(value) is not int or value < minimum:
                return None
            headers.append((wire, str(value)))
    if not required.issubset(params):
        return None
    try:
        path = before + _label(label) + after
    except UnicodeEncodeError:  # a lone surrogate: the checked path names it
        return None
    return HttpRequest(spec.method, _join_url(endpoint_url, path), headers, body)
