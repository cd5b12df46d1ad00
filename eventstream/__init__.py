"""The AWS event-stream codec (``application/vnd.amazon.eventstream``): pure and incremental.

>>> from eventstream import Message, encode, decode
>>> decode(encode(Message({":message-type": "event"}, b"hi")))[0].payload
b'hi'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eventstream._decoder import (
    DEFAULT_MAX_HEADERS_BYTES,
    DEFAULT_MAX_PAYLOAD_BYTES,
    Decoder,
    Frame,
    decode,
)
from eventstream._encoder import encode, encode_frame, message_crc
from eventstream._headers import Int8, Int16, Int64
from eventstream._message import Headers, Message
from eventstream.exceptions import (
    ChecksumMismatch,
    EncodeError,
    EventStreamError,
    InvalidHeader,
    InvalidLength,
    TruncatedStream,
)

if TYPE_CHECKING:
    from eventstream._describe import FrameInfo, describe
    from eventstream._headers import HeaderValue

__all__ = [
    "DEFAULT_MAX_HEADERS_BYTES",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "ChecksumMismatch",
    "Decoder",
    "EncodeError",
    "EventStreamError",
    "Frame",
    "FrameInfo",
    "HeaderValue",
    "Headers",
    "Int8",
    "Int16",
    "Int64",
    "InvalidHeader",
    "InvalidLength",
    "Message",
    "TruncatedStream",
    "decode",
    "describe",
    "encode",
    "encode_frame",
    "message_crc",
]

# Imported on first use, so that a client start-up does not pay for them: ``describe`` is for
# debugging, and ``HeaderValue`` needs ``uuid``.
_LAZY = {
    "FrameInfo": "eventstream._describe",
    "describe": "eventstream._describe",
    "HeaderValue": "eventstream._headers",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'eventstream' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
