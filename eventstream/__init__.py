"""The AWS event-stream codec (``application/vnd.amazon.eventstream``): pure and incremental.

>>> from eventstream import Message, encode, decode
>>> decode(encode(Message({":message-type": "event"}, b"hi")))[0].payload
b'hi'
"""

from __future__ import annotations

from eventstream._decoder import (
    DEFAULT_MAX_HEADERS_BYTES,
    DEFAULT_MAX_PAYLOAD_BYTES,
    Decoder,
    Frame,
    decode,
)
from eventstream._describe import FrameInfo, describe
from eventstream._encoder import encode
from eventstream._headers import HeaderValue, Int8, Int16, Int64
from eventstream._message import Headers, Message
from eventstream.exceptions import (
    ChecksumMismatch,
    EncodeError,
    EventStreamError,
    InvalidHeader,
    InvalidLength,
    TruncatedStream,
)

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
]
