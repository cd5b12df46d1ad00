"""Encode a :class:`Message` into one binary event-stream frame."""

from __future__ import annotations

import struct
import zlib
from typing import Union

from eventstream._headers import encode_headers
from eventstream._message import Message
from eventstream.exceptions import EncodeError

__all__ = ["encode", "encode_frame"]

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
    return encode_frame(encode_headers(message.headers), message.payload)


def encode_frame(header_block: bytes, payload: Union[bytes, bytearray, memoryview]) -> bytes:
    """The frame around an already encoded headers block and ``payload``: for a sender that
    encodes the same headers again and again (the block is not checked; the payload is copied
    once). Raises :class:`~eventstream.EncodeError` for a frame over 4 GiB."""
    total = 16 + len(header_block) + len(payload)
    if total > _MAX_U32:
        raise EncodeError(f"message of {total} bytes does not fit the 32-bit total length field")
    prelude = _PRELUDE.pack(total, len(header_block))
    head = prelude + _U32.pack(zlib.crc32(prelude))
    crc = zlib.crc32(payload, zlib.crc32(header_block, zlib.crc32(head)))
    return b"".join((head, header_block, payload, _U32.pack(crc)))
