"""Parameter validation of the operations, before any network call.

By default exactly what botocore validates: unknown names, required members, Python types and
the model's minimums (string lengths, integer values). ``strict=True``
(``Config(parameter_validation="strict")``) adds the rest of the model: maximum lengths, the
patterns (translated from Java regex, full match), integer maximums, the body limits, and
InvokeEndpointAsync's one of ``Body`` and ``InputLocation``. Always, whatever the level (also
with ``parameter_validation=False``), the checks that keep the request well-formed on the wire:
header values must be printable ASCII (CR/LF would inject headers, NUL and non-ASCII cannot be
sent); URI labels are percent-encoded by :mod:`smruntime._requests`, so no value can change the
path. A parameter given as ``None`` is a type error, as in botocore (absent with
``parameter_validation=False``). Every failure is one
:class:`ParamValidationError` naming the parameter.

InvokeEndpointWithBidirectionalStream (the HTTP/2 service, which boto3 lacks) is always checked
at the strict level: its three headers' patterns and lengths as in its model. Its ``Body`` is an
iterable of input events (each checked as it is sent, by :func:`validate_request_event`): here
only its type is checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from smruntime._model import (
    _NAME,
    _PRINT_ID,
    H2_REQUEST_EVENT_TYPES,
    OPERATIONS,
    Member,
    OperationSpec,
    Shape,
    get_operation,
    is_h2,
)
from smruntime.exceptions import ParamValidationError

__all__ = ["validate", "validate_request_event", "validate_wire"]

# Compiled on first use (``re`` caches it), to keep imports cheap.
_HEADER_FORBIDDEN = r"[^\x20-\x7e\t]"
_BYTES_LIKE = (bytes, bytearray, memoryview)


def _fail(spec: OperationSpec, param: str, reason: str) -> ParamValidationError:
    return ParamValidationError(param, reason, operation_name=spec.name)


def _type_name(value: object) -> str:
    return type(value).__name__


def _is_file(value: object) -> bool:
    return callable(getattr(value, "read", None))


def _unknown_param(spec: OperationSpec, name: object) -> ParamValidationError:
    valid = list(spec.input)
    text = name if isinstance(name, str) else repr(name)
    reason = f"unknown parameter; valid parameters are {', '.join(valid)}"
    if isinstance(name, str):
        folded = {v.lower(): v for v in valid}
        guess = folded.get(name.lower().replace("_", ""))
        if guess is None:
            import difflib

            close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
            guess = close[0] if close else None
        if guess is not None:
            reason = f"unknown parameter (did you mean {guess}?); valid parameters are " + (
                ", ".join(valid)
            )
        else:
            for other in OPERATIONS.values():
                if other is not spec and name in other.input:
                    reason += f" ({name} belongs to {other.name})"
                    break
    return _fail(spec, text, reason)


def _check_header_text(spec: OperationSpec, member: Member, value: str) -> None:
    bad = re.search(_HEADER_FORBIDDEN, value)
    if bad is not None:
        if bad.group() in "\r\n\x00":
            raise _fail(
                spec,
                member.name,
                f"header values must not contain CR, LF or NUL (at index {bad.start()})",
            )
        raise _fail(
            spec,
            member.name,
            f"header values must be printable ASCII; found U+{ord(bad.group()):04X} "
            f"at index {bad.start()}",
        )


def _check_string(spec: OperationSpec, member: Member, value: object, strict: bool) -> None:
    shape = member.shape
    if not isinstance(value, str):
        raise _fail(spec, member.name, f"expected a str, got {_type_name(value)}")
    shown = "<redacted>" if shape.sensitive else repr(value[:80])
    if shape.min is not None and len(value) < shape.min:
        raise _fail(
            spec,
            member.name,
            f"length {len(value)} is below the minimum of {shape.min}"
            + ("" if value else " (an empty string is not allowed)"),
        )
    if strict:
        _check_model_string(spec, member, value, shown)
    if member.location == "header":
        _check_header_text(spec, member, value)


def _check_model_string(spec: OperationSpec, member: Member, value: str, shown: str) -> None:
    shape = member.shape
    if shape.max is not None and len(value) > shape.max:
        raise _fail(spec, member.name, f"length {len(value)} is above the maximum of {shape.max}")
    if shape.regex is not None and shape.regex.fullmatch(value) is None:
        if not value:
            raise _fail(spec, member.name, "an empty string is not allowed")
        raise _fail(
            spec,
            member.name,
            f"value {shown} does not match the pattern {shape.model_pattern}"
            + _pattern_help(shape),
        )


def _pattern_help(shape: Shape) -> str:
    if shape.pattern is not None and shape.pattern.endswith(_NAME):
        return " (letters, digits and single or repeated '-' between them, no leading '-')"
    if shape.pattern == _PRINT_ID:
        return " (printable ASCII, not starting with a blank)"
    return ""


def _check_integer(spec: OperationSpec, member: Member, value: object, strict: bool) -> None:
    shape = member.shape
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(spec, member.name, f"expected an int, got {_type_name(value)}")
    if shape.min is not None and value < shape.min:
        raise _fail(spec, member.name, f"{value} is below the minimum of {shape.min}")
    if strict and shape.max is not None and value > shape.max:
        raise _fail(spec, member.name, f"{value} is above the maximum of {shape.max}")


def _check_body(spec: OperationSpec, member: Member, value: object, strict: bool) -> None:
    if isinstance(value, _BYTES_LIKE):
        size = memoryview(value).nbytes
    elif isinstance(value, str):
        if len(value) > (member.shape.max or len(value)):
            size = len(value)  # UTF-8 is never shorter: no need to encode
        else:
            try:
                size = len(value.encode("utf-8"))
            except UnicodeEncodeError as exc:
                raise _fail(
                    spec, member.name, f"str is not encodable as UTF-8 (at index {exc.start})"
                ) from None
    elif _is_file(value):
        return
    else:
        raise _fail(
            spec,
            member.name,
            f"expected bytes, bytearray, str or a readable binary file, got {_type_name(value)}",
        )
    if strict:
        _check_body_size(spec, member, size)


def _check_body_size(spec: OperationSpec, member: Member, size: int) -> None:
    limit = member.shape.max
    if limit is not None and size > limit:
        extra = ""
        if spec.snake_name == "invoke_endpoint_async":
            extra = "; upload larger inputs to S3 and pass InputLocation instead"
        raise _fail(
            spec,
            member.name,
            f"body is {size} bytes, above the {spec.name} limit of {limit} bytes{extra}",
        )


def validate_wire(op: str, params: Mapping[str, Any]) -> None:
    """The checks made even with ``parameter_validation=False``: header values that are
    strings must be printable ASCII."""
    spec = get_operation(op)
    if not isinstance(params, Mapping):
        raise _fail(spec, "params", f"expected a mapping of parameters, got {_type_name(params)}")
    for name, value in params.items():
        member = spec.input.get(name) if isinstance(name, str) else None
        if member is not None and member.location == "header" and isinstance(value, str):
            _check_header_text(spec, member, value)


def validate(op: str, params: Mapping[str, Any], *, strict: bool = False) -> None:
    """Check ``params`` against the model of ``op``; raise :class:`ParamValidationError`.

    Checks: unknown names (with a suggestion), required members, Python types, minimum
    lengths and values, body type, header text; with ``strict``, also maximum lengths and
    values, patterns, body size and InvokeEndpointAsync's Body/InputLocation rule. A ``None``
    value is a type error, as in botocore. A file body's size is checked (strict) when
    :func:`build_request` reads it.
    """
    spec = get_operation(op)
    strict = strict or is_h2(spec)
    if not isinstance(params, Mapping):
        raise _fail(spec, "params", f"expected a mapping of parameters, got {_type_name(params)}")
    for name in params:
        if name not in spec.input:
            raise _unknown_param(spec, name)
    for member in spec.input.values():
        value = params.get(member.name)
        if value is None and member.name not in params:  # given as None: a type error below
            if member.required:
                raise _fail(spec, member.name, "missing required parameter")
            continue
        if member.shape.type == "eventstream":
            _check_event_iterable(spec, member, value)
        elif member.location == "payload":
            _check_body(spec, member, value, strict)
        elif member.shape.type == "integer":
            _check_integer(spec, member, value, strict)
        else:
            _check_string(spec, member, value, strict)
    if strict and spec.snake_name == "invoke_endpoint_async":
        has_body = params.get("Body") is not None
        has_location = params.get("InputLocation") is not None
        if has_body and has_location:
            raise _fail(
                spec, "Body", "Body and InputLocation exclude each other; give only one of them"
            )
        if not has_body and not has_location:
            raise _fail(
                spec,
                "InputLocation",
                "missing: give InputLocation (an s3:// or https:// URI of the input) or an "
                "inline Body of at most 128000 bytes",
            )


def _check_event_iterable(spec: OperationSpec, member: Member, value: object) -> None:
    if isinstance(value, (*_BYTES_LIKE, str, Mapping)) or not (
        hasattr(value, "__iter__") or hasattr(value, "__aiter__")
    ):
        raise _fail(
            spec,
            member.name,
            f"expected an iterable of input events (bytes or {{'PayloadPart': {{...}}}} dicts), "
            f"got {_type_name(value)}"
            + (" (wrap a single part in a list)" if isinstance(value, (bytes, Mapping)) else ""),
        )


def validate_request_event(op: str, event: object, index: int | None = None) -> dict[str, Any]:
    """Check one input event of ``op``'s input stream and return it normalized:
    ``{"PayloadPart": {"Bytes": bytes, "DataType"?: str, "CompletionState"?: str, "P"?: str}}``.

    ``event`` is ``{"PayloadPart": {...}}`` or, as a shorthand, the part's bytes. ``Bytes`` is
    bytes-like (a str is sent as UTF-8; absent means empty), ``DataType`` is ``UTF8`` or ``BINARY``,
    ``CompletionState`` is ``PARTIAL`` or ``COMPLETE``, ``None`` counts as absent. ``index``
    (the event's position) goes into the error's parameter name.
    """
    spec = get_operation(op)
    where = "Body" if index is None else f"Body[{index}]"
    if isinstance(event, (*_BYTES_LIKE, str)):
        event = {"PayloadPart": {"Bytes": event}}
    if not isinstance(event, Mapping) or len(event) != 1:
        raise _fail(
            spec,
            where,
            "an input event is {'PayloadPart': {'Bytes': b'...', 'DataType': 'UTF8'|'BINARY', "
            f"'CompletionState': 'PARTIAL'|'COMPLETE'}}}} or bytes; got {_type_name(event)}"
            + (f" with {len(event)} keys" if isinstance(event, Mapping) else ""),
        )
    ((event_type, part),) = event.items()
    members = H2_REQUEST_EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if members is None:
        raise _fail(
            spec,
            where,
            f"unknown input event type {event_type!r}; expected one of "
            f"{', '.join(H2_REQUEST_EVENT_TYPES)}",
        )
    where = f"{where}.{event_type}"
    if not isinstance(part, Mapping):
        raise _fail(spec, where, f"expected a dict of members, got {_type_name(part)}")
    out: dict[str, Any] = {}
    for name, value in part.items():
        member = members.get(name) if isinstance(name, str) else None
        if member is None:
            raise _fail(
                spec,
                f"{where}.{name}",
                f"unknown member; valid members are {', '.join(members)}",
            )
        if value is None:
            continue
        binding, shape = member
        if binding == "eventpayload":
            if isinstance(value, str):
                try:
                    value = value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise _fail(
                        spec,
                        f"{where}.{name}",
                        f"str is not encodable as UTF-8 (at index {exc.start})",
                    ) from None
            elif isinstance(value, _BYTES_LIKE):
                value = bytes(value)
            else:
                raise _fail(
                    spec, f"{where}.{name}", f"expected bytes or str, got {_type_name(value)}"
                )
        else:
            if not isinstance(value, str):
                raise _fail(spec, f"{where}.{name}", f"expected a str, got {_type_name(value)}")
            if shape.regex is not None and shape.regex.fullmatch(value) is None:
                raise _fail(
                    spec,
                    f"{where}.{name}",
                    f"value {value[:40]!r} does not match the pattern {shape.model_pattern}",
                )
        out[name] = value
    out.setdefault("Bytes", b"")
    return {event_type: out}
