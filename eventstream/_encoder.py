"""Encode a :class:`Message` into one binary event-stream frame."""

from __future__ import annotations

import struct
import zlib
from typing import Union

from eventstream._headers import encode_headers
from eventstream._message import Message
from eventstream.exceptions import EncodeError

__all__ = ["encode", "encode_frame", "message_crc"]

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


def encode_frame(
    header_block: bytes,
    payload: Union[bytes, bytearray, memoryview],
    payload_is_message: bool = False,
) -> bytes:
    """The frame around an already encoded headers block and ``payload``: for a sender that
    encodes the same headers again and again (the block is not checked; the payload is copied
    once). ``payload_is_message``: ``payload`` is a whole message this process just encoded
    (wrapped in another, as a signed event is): a large one is then not read again for the
    message CRC, which follows from its own (:func:`message_crc`). Raises
    :class:`~eventstream.EncodeError` for a frame over 4 GiB."""
    total = 16 + len(header_block) + len(payload)
    if total > _MAX_U32:
        raise EncodeError(f"message of {total} bytes does not fit the 32-bit total length field")
    prelude = _PRELUDE.pack(total, len(header_block))
    head = prelude + _U32.pack(zlib.crc32(prelude))
    crc = zlib.crc32(header_block, zlib.crc32(head))
    if payload_is_message and len(payload) >= _COMBINE_MIN:
        crc = _crc32_combine(crc, message_crc(payload), len(payload))
    else:
        crc = zlib.crc32(payload, crc)
    return b"".join((head, header_block, payload, _U32.pack(crc)))


def message_crc(message: Union[bytes, bytearray, memoryview]) -> int:
    """``zlib.crc32(message)`` of a whole encoded message, from its own message CRC (its last
    four bytes, the CRC of what precedes them) without reading the rest: for a message this
    process just encoded, which becomes the payload of another (:func:`encode_frame`)."""
    tail = message[-4:]
    return zlib.crc32(tail, int.from_bytes(tail, "big"))


# CRC-32 of a concatenation from the CRCs of its parts (as zlib's crc32_combine, which
# Python's zlib does not expose): multiplying by x^(8n) modulo the polynomial. Worth it past
# a few KiB; the factor of each length is kept (a stream's parts are often of one size).
_COMBINE_MIN = 8192
_POLY = 0xEDB88320  # reflected


def _multmodp(a: int, b: int) -> int:
    """a * b modulo the CRC polynomial (reflected bit order)."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2n_table() -> list[int]:
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multmodp(table[-1], table[-1]))  # x^(2^k)
    return table


_X2N = _x2n_table()
# Per length in bytes: multiplying by x^(8 * length) modulo the polynomial as eight tables of
# sixteen, one per four bits of the other factor (the product is linear in it): eight look-ups
# instead of a loop over 32 bits, for the length of every part of a stream that keeps one size.
_FACTORS: dict[int, tuple[tuple[int, ...], ...]] = {}


def _factor(length: int) -> tuple[tuple[int, ...], ...]:
    tables = _FACTORS.get(length)
    if tables is None:
        factor, n, k = 1 << 31, length, 3  # x^0; 8 = 2^3 bits a byte
        while n:
            if n & 1:
                factor = _multmodp(_X2N[k & 31], factor)
            n >>= 1
            k += 1
        # factor * x^d for d = 0..31, x^d being bit 31 - d of the other factor
        powers = [factor]
        for _ in range(31):
            b = powers[-1]
            powers.append((b >> 1) ^ _POLY if b & 1 else b >> 1)
        rows = []
        for shift in (0, 4, 8, 12, 16, 20, 24, 28):  # bits shift..shift+3: x^(31-shift)...
            row = [0] * 16
            for nibble in range(1, 16):
                low = nibble & -nibble  # its lowest bit; the others make an earlier entry
                row[nibble] = row[nibble ^ low] ^ powers[32 - shift - low.bit_length()]
            rows.append(tuple(row))
        tables = tuple(rows)
        if len(_FACTORS) >= 64:
            _FACTORS.clear()
        _FACTORS[length] = tables
    return tables


def _crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """``zlib.crc32(a + b)`` from ``zlib.crc32(a)``, ``zlib.crc32(b)`` and ``len(b)``."""
    t = _factor(length2)
    return (
        t[0][crc1 & 15]
        ^ t[1][crc1 >> 4 & 15]
        ^ t[2][crc1 >> 8 & 15]
        ^ t[3][crc1 >> 12 & 15]
        ^ t[4][crc1 >> 16 & 15]
        ^ t[5][crc1 >> 20 & 15]
        ^ t[6][crc1 >> 24 & 15]
        ^ t[7][crc1 >> 28]
        ^ crc2
    )
