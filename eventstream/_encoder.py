"""Encode a :class:`Message` into one binary event-stream frame."""

from __future__ import annotations

import struct
import zlib

from eventstream._headers import encode_headers
from eventstream._message import Message
from eventstream.exceptions import EncodeError

__all__ = ["encode"]

_PRELUDE = struct.Struct(">II")
_U32 = struct.Struct(">I")
_MAX_U32 = 0xFFFFFFFF


def encode(message: Message) -> bytes:
    """Return the wire bytes of ``message`` (prelude, CRCs, headers, payload).

    Raises :class:`~eventstream.EncodeError` (a ``ValueError``) for a value the format cannot
    hold: an int out of its type's range, a name over 255 bytes, a string or bytes value over
    32767 bytes, a naive or sub-millisecond datetime, an unsupported type, or a frame over 4 GiB.
    """
    if not isinstance(message, Message):
        raise EncodeError(f"encode() takes a Message, not {type(message).__name__}")
    block = encode_headers(message.headers)
    payload = message.payload
    total = 16 + len(block) + len(payload)
    if total > _MAX_U32:
        raise EncodeError(f"message of {total} bytes does not fit the 32-bit total length field")
    prelude = _PRELUDE.pack(total, len(block))
    crc = zlib.crc32(prelude)
    out = bytearray(prelude)
    out += _U32.pack(crc)
    crc = zlib.crc32(out[8:12], crc)
    crc = zlib.crc32(block, crc)
    crc = zlib.crc32(payload, crc)
    out += block
    out += payload
    out += _U32.pack(crc)
    return bytes(out)
