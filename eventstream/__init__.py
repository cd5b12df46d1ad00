"""The AWS event-stream codec (``application/vnd.amazon.eventstream``): pure and incremental."""

from __future__ import annotations

from eventstream.exceptions import (
    ChecksumMismatch,
    EncodeError,
    EventStreamError,
    InvalidHeader,
    InvalidLength,
    TruncatedStream,
)

__all__ = [
    "ChecksumMismatch",
    "EncodeError",
    "EventStreamError",
    "InvalidHeader",
    "InvalidLength",
    "TruncatedStream",
]
