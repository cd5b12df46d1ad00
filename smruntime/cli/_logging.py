"""``--debug`` logging to stderr, with secrets redacted.

The library already masks secrets in what it logs; this is belt and braces.
"""

from __future__ import annotations

import logging
import re
import sys

_SECRET_PATTERNS = (
    (re.compile(r"(Signature=)[0-9a-fA-F]+"), r"\1****"),
    # (bytes reprs too: hpack logs b'x-amz-security-token'=b'...' and "(b'...', b'...')")
    (
        re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=,]\s*(?:b?['\"])?)[^\s'\",})]+"),
        r"\1****",
    ),
    (re.compile(r"(?i)(secret_access_key['\"]?\s*[:=]\s*['\"]?)[^\s'\",)]+"), r"\1****"),
    (re.compile(r"(?i)(session_token['\"]?\s*[:=]\s*['\"]?)[^\s'\",)]+"), r"\1****"),
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:=,]\s*['\"]?AWS4-HMAC-SHA256 )[^'\"\n]+"),
        r"\1****",
    ),
)


def redact(text: str) -> str:
    """Mask signatures, session tokens, secret keys and Authorization values in ``text``."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_debug_logging() -> None:
    """Send every logger's records, DEBUG and up, to stderr through ``redact``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _RedactingFormatter("%(asctime)s %(name)s %(levelname)s %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)
