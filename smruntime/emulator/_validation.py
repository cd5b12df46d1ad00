"""Input validation of the three operations, with the service's constraints and messages.

:func:`validation_errors` checks the endpoint name, the body size and every modeled header of one
request, and returns the messages the service would join into one ``ValidationError``.
"""

from __future__ import annotations

import re
from typing import Optional

from smruntime._http import HttpHeaders
from smruntime.emulator._models import OPERATION_ASYNC, OPERATION_INVOKE, OPERATION_STREAM

__all__ = ["MAX_ASYNC_BODY_BYTES", "MAX_BODY_BYTES", "validation_errors"]

MAX_BODY_BYTES = 6291456
MAX_ASYNC_BODY_BYTES = 128000

_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*"
_PRINT = r"\A\S[\p{Print}]*\z"
_ASCII = r"\p{ASCII}*"
# (header, member name in messages, min length, max length, pattern shown, Python regex)
_Rule = tuple[str, str, int, int, str, str]
_NAME_RULE = (_NAME, r"[a-zA-Z0-9](?:-*[a-zA-Z0-9])*")
_PRINT_RULE = (_PRINT, r"[^ \t\n\x0b\f\r][\x20-\x7e]*")
_ASCII_RULE = (_ASCII, r"[\x00-\x7f]*")
_COMMON_RULES: list[_Rule] = [
    ("X-Amzn-SageMaker-Custom-Attributes", "customAttributes", 0, 1024, *_ASCII_RULE),
    ("X-Amzn-SageMaker-Inference-Id", "inferenceId", 1, 64, *_PRINT_RULE),
]
_REALTIME_RULES: list[_Rule] = [
    ("Content-Type", "contentType", 0, 1024, *_ASCII_RULE),
    ("X-Amzn-SageMaker-Target-Variant", "targetVariant", 0, 63, *_NAME_RULE),
    ("X-Amzn-SageMaker-Target-Container-Hostname", "targetContainerHostname", 0, 63, *_NAME_RULE),
    (
        "X-Amzn-SageMaker-Inference-Component",
        "inferenceComponentName",
        0,
        63,
        r"^[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?$",
        r"[a-zA-Z0-9](?:[\-a-zA-Z0-9]*[a-zA-Z0-9])?",
    ),
    ("X-Amzn-SageMaker-Prefix-Aware-Id", "prefixAwareId", 1, 64, *_PRINT_RULE),
]
_RULES: dict[str, list[_Rule]] = {
    OPERATION_INVOKE: [
        *_COMMON_RULES,
        *_REALTIME_RULES,
        ("Accept", "accept", 0, 1024, *_ASCII_RULE),
        ("X-Amzn-SageMaker-Target-Model", "targetModel", 1, 1024, *_PRINT_RULE),
        ("X-Amzn-SageMaker-Enable-Explanations", "enableExplanations", 1, 64, ".*", r".*"),
        (
            "X-Amzn-SageMaker-Session-Id",
            "sessionId",
            0,
            256,
            r"^(NEW_SESSION)$|^[a-zA-Z0-9](-*[a-zA-Z0-9])*$",
            r"NEW_SESSION|[a-zA-Z0-9](?:-*[a-zA-Z0-9])*",
        ),
    ],
    OPERATION_STREAM: [
        *_COMMON_RULES,
        *_REALTIME_RULES,
        ("X-Amzn-SageMaker-Accept", "accept", 0, 1024, *_ASCII_RULE),
        ("X-Amzn-SageMaker-Session-Id", "sessionId", 0, 256, *_NAME_RULE),
    ],
    OPERATION_ASYNC: [
        *_COMMON_RULES,
        ("X-Amzn-SageMaker-Content-Type", "contentType", 0, 1024, *_ASCII_RULE),
        ("X-Amzn-SageMaker-Accept", "accept", 0, 1024, *_ASCII_RULE),
        (
            "X-Amzn-SageMaker-InputLocation",
            "inputLocation",
            1,
            1024,
            r"^(https|s3)://([^/]+)/?(.*)$",
            r"(?:https|s3)://[^/]+/?.*",
        ),
        (
            "X-Amzn-SageMaker-S3OutputPathExtension",
            "s3OutputPathExtension",
            1,
            512,
            r"^(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+$",
            r"(?!s3:|https:)[a-zA-Z0-9!_.*'()/-]+",
        ),
        (
            "X-Amzn-SageMaker-Filename",
            "filename",
            1,
            32,
            r"^(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9-_\.]*$",
            r"(?!.*\..*\.)[a-zA-Z0-9][a-zA-Z0-9\-_.]*",
        ),
    ],
}
# Members the service model marks sensitive: their values never appear in messages.
_SENSITIVE = frozenset({"customAttributes"})
_INT_RULES: dict[str, list[tuple[str, str, int, int]]] = {
    OPERATION_ASYNC: [
        ("X-Amzn-SageMaker-RequestTTLSeconds", "requestTTLSeconds", 60, 21600),
        ("X-Amzn-SageMaker-InvocationTimeoutSeconds", "invocationTimeoutSeconds", 1, 3600),
    ]
}


def _failed(member: str, value: Optional[object], constraint: str) -> str:
    """One message; *value* None leaves the value out (as the service does for long or
    sensitive ones)."""
    shown = "Value" if value is None else f"Value '{value}'"
    return f"{shown} at '{member}' failed to satisfy constraint: {constraint}"


def _too_long(high: int) -> str:
    return f"Member must have length less than or equal to {high}"


def _pattern(shown: str) -> str:
    return f"Member must satisfy regular expression pattern: {shown}"


def validation_errors(
    operation: str, endpoint_name: str, headers: HttpHeaders, body: bytes
) -> list[str]:
    """Every constraint this request breaks, as the service words it (empty when valid)."""
    errors: list[str] = []
    if len(endpoint_name) > 63:
        errors.append(_failed("endpointName", endpoint_name, _too_long(63)))
    elif not re.fullmatch(_NAME_RULE[1], endpoint_name):
        errors.append(_failed("endpointName", endpoint_name, _pattern(_NAME)))
    limit = MAX_ASYNC_BODY_BYTES if operation == OPERATION_ASYNC else MAX_BODY_BYTES
    if len(body) > limit:
        errors.append(_failed("body", None, _too_long(limit)))
    present = headers.to_dict()  # one dict for every lookup below (most headers are absent)
    for header, member, low, high, shown, regex in _RULES[operation]:
        value = present.get(header.lower())
        if value is None:
            continue
        quoted = None if member in _SENSITIVE else value
        if len(value) < low:
            errors.append(
                _failed(member, quoted, f"Member must have length greater than or equal to {low}")
            )
        elif len(value) > high:
            errors.append(_failed(member, None, _too_long(high)))
        elif not re.fullmatch(regex, value, flags=re.DOTALL):
            errors.append(_failed(member, quoted, _pattern(shown)))
    for header, member, low, high in _INT_RULES.get(operation, ()):
        raw = present.get(header.lower())
        if raw is None:
            continue
        try:
            number = int(raw)
        except ValueError:
            errors.append(_failed(member, raw, "not a number"))
            continue
        if not low <= number <= high:
            errors.append(
                _failed(member, number, f"Member must have value between {low} and {high}")
            )
    return errors
