"""Incremental event-stream decoder: bytes in any chunking, complete messages out."""

from __future__ import annotations

import copy
import struct
import zlib
from typing import NamedTuple, Union

from eventstream._headers import decode_headers
from eventstream._message import Headers, Message
from eventstream.exceptions import (
    ChecksumMismatch,
    EventStreamError,
    InvalidLength,
    TruncatedStream,
)

__all__ = [
    "DEFAULT_MAX_HEADERS_BYTES",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "Decoder",
    "Frame",
    "decode",
]

DEFAULT_MAX_PAYLOAD_BYTES = 24 * 1024 * 1024
DEFAULT_MAX_HEADERS_BYTES = 128 * 1024

PRELUDE_LENGTH = 12
MIN_MESSAGE_LENGTH = 16

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")

Buffer = Union[bytes, bytearray, memoryview]

# Decoded header blocks keyed by their bytes. Streams repeat the same few blocks (SageMaker sends
# identical headers on every PayloadPart) and Headers is immutable, so sharing one is safe.
_HEADER_CACHE: dict[bytes, Headers] = {}
_HEADER_CACHE_MAX_ENTRIES = 256
_HEADER_CACHE_MAX_BLOCK = 512


_EMPTY_HEADERS = Headers()

# The slots' own setters: what object.__setattr__ finds by name on every call (Message's
# __setattr__ refuses assignment), taken once. A third of a small message's decoding was there.
_SET_HEADERS = Message.__dict__["headers"].__set__
_SET_PAYLOAD = Message.__dict__["payload"].__set__


class Frame(NamedTuple):
    """A decoded message with its wire facts (``offset`` = its position in the stream)."""

    message: Message
    offset: int
    total_length: int
    headers_length: int
    prelude_crc: int
    message_crc: int


def _headers_for(block: bytes, base: int) -> Headers:
    cached = _HEADER_CACHE.get(block)
    if cached is not None:
        return cached
    headers = Headers._wrap(decode_headers(block, base))
    if len(block) <= _HEADER_CACHE_MAX_BLOCK:
        if len(_HEADER_CACHE) >= _HEADER_CACHE_MAX_ENTRIES:
            _HEADER_CACHE.clear()
        _HEADER_CACHE[block] = headers
    return headers


def check_prelude(
    total: int,
    headers_length: int,
    offset: int,
    max_payload_bytes: int | None,
    max_headers_bytes: int | None,
) -> None:
    """Raise InvalidLength if a (CRC-verified) prelude's lengths are impossible or over a limit."""
    if total < MIN_MESSAGE_LENGTH:
        raise InvalidLength(
            "total_length",
            total,
            MIN_MESSAGE_LENGTH,
            f"a message is at least {MIN_MESSAGE_LENGTH} bytes (prelude + message CRC)",
            offset=offset,
        )
    if headers_length > total - MIN_MESSAGE_LENGTH:
        raise InvalidLength(
            "headers_length",
            headers_length,
            total - MIN_MESSAGE_LENGTH,
            f"the headers cannot be longer than total length {total} - 16",
            offset=offset,
        )
    if max_headers_bytes is not None and headers_length > max_headers_bytes:
        raise InvalidLength(
            "headers_length",
            headers_length,
            max_headers_bytes,
            f"over the limit of {max_headers_bytes} bytes (max_headers_bytes)",
            offset=offset,
        )
    payload_length = total - MIN_MESSAGE_LENGTH - headers_length
    if max_payload_bytes is not None and payload_length > max_payload_bytes:
        raise InvalidLength(
            "payload_length",
            payload_length,
            max_payload_bytes,
            f"over the limit of {max_payload_bytes} bytes (max_payload_bytes)",
            offset=offset,
        )


class Decoder:
    """Push decoder: :meth:`feed` bytes as they arrive, get every message they complete.

    Messages come out as soon as their last byte is fed, whatever the chunking. Each prelude is
    verified (CRC first, then lengths and limits) as soon as its 12 bytes are held, before any
    more of the message is buffered; each message CRC and header block before it is returned.

    Errors in the bytes: an :class:`~eventstream.EventStreamError` subclass whose ``offset`` is the
    stream position of the bad message, except :class:`~eventstream.InvalidHeader`, whose
    ``offset`` is that of the bad header inside it (the message's own start is then
    :attr:`bytes_consumed`). If messages preceding the bad one were completed by the same
    :meth:`feed` call they are returned first and the error is raised by the next ``feed`` or
    :meth:`close` (so the messages delivered never depend on the chunking). After an error the
    decoder is *poisoned*: every further ``feed``/``close`` raises the same error again.

    ``max_payload_bytes``/``max_headers_bytes`` bound memory (``None`` = no limit beyond the
    format's 4 GiB). Not thread-safe: feed one decoder from one thread at a time.

    Caller bugs are not stream errors: ``feed``/``feed_frames`` given anything but a bytes-like
    object of single bytes (``bytes``, ``bytearray``, a 1-D byte ``memoryview``, ...) raise
    ``TypeError`` (``None``, ``0`` and ``""`` included) and do not poison the decoder; a bad
    limit raises ``ValueError``.
    """

    __slots__ = ("_error", "_held", "_max_headers", "_max_payload", "_need", "_offset", "_parts")

    def __init__(
        self,
        max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
        max_headers_bytes: int | None = DEFAULT_MAX_HEADERS_BYTES,
    ) -> None:
        for label, value in (
            ("max_payload_bytes", max_payload_bytes),
            ("max_headers_bytes", max_headers_bytes),
        ):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{label} must be a non-negative int or None, not {value!r}")
        self._max_payload = max_payload_bytes
        self._max_headers = max_headers_bytes
        # Bytes of an incomplete message, kept as the chunks they came in and joined once when
        # the message is complete: each byte is copied O(1) times whatever the chunking.
        self._parts: list[bytes] = []
        self._held = 0
        self._offset = 0  # stream offset of the first held byte
        self._need = PRELUDE_LENGTH  # bytes to hold before parsing is worth trying
        self._error: EventStreamError | None = None

    @property
    def bytes_consumed(self) -> int:
        """Stream offset of the next (not yet complete) message: bytes of whole messages seen."""
        return self._offset

    @property
    def pending(self) -> int:
        """Bytes held of an incomplete message."""
        return self._held

    def feed(self, data: Buffer) -> list[Message]:
        """Add bytes; return every message they complete, in order.

        ``TypeError`` if ``data`` is not a bytes-like object of single bytes.
        """
        return self._feed(data, False)  # type: ignore[return-value]

    def feed_frames(self, data: Buffer) -> list[Frame]:
        """Like :meth:`feed`, but return :class:`Frame` objects with the wire facts."""
        return self._feed(data, True)  # type: ignore[return-value]

    def close(self) -> None:
        """Declare the end of the stream: raise TruncatedStream if a partial message is held."""
        self._raise_if_poisoned()
        if self._held:
            head = b"".join(self._parts)[:PRELUDE_LENGTH]
            needed = _U32.unpack_from(head, 0)[0] if len(head) >= PRELUDE_LENGTH else None
            self._error = TruncatedStream(self._held, needed, offset=self._offset)
            raise self._error

    def _raise_if_poisoned(self) -> None:
        if self._error is not None:
            raise copy.copy(self._error)

    def _feed(self, data: Buffer, frames: bool) -> list[Message] | list[Frame]:
        if type(data) is not bytes:
            # Checked first, so that None, 0 or "" are refused rather than read as "no bytes".
            try:
                view = memoryview(data)
            except TypeError:
                raise TypeError(
                    f"feed() takes a bytes-like object, not {type(data).__name__}"
                ) from None
            with view:
                if view.ndim != 1 or view.itemsize != 1:
                    raise TypeError("feed() takes a bytes-like object of single bytes")
            data = bytes(data)  # the caller may reuse its buffer: keep our own copy
        if self._error is not None:
            raise copy.copy(self._error)
        if not data:
            return []
        parts = self._parts
        if parts:
            parts.append(data)
            self._held += len(data)
            if self._held < self._need:
                return []
            src = b"".join(parts)
            parts.clear()
        else:
            src = data
        out: list[Message] | list[Frame] = []
        pos, error = self._parse(src, out, frames)
        if pos < len(src):
            parts.append(src[pos:] if pos else src)
        self._held = len(src) - pos
        self._offset += pos
        if error is not None:
            self._error = error
            if not out:
                raise copy.copy(error)
        return out

    def _parse(
        self, src: bytes, out: list[Message] | list[Frame], frames: bool
    ) -> tuple[int, EventStreamError | None]:
        """Decode whole messages from ``src`` into ``out``; return bytes used and any error."""
        end = len(src)
        pos = 0
        base = self._offset
        crc32 = zlib.crc32
        unpack_prelude = _PRELUDE.unpack_from
        unpack_u32 = _U32.unpack_from
        max_payload = self._max_payload
        max_headers = self._max_headers
        append = out.append
        check = check_prelude
        cache_get = _HEADER_CACHE.get
        new_message = object.__new__
        set_headers = _SET_HEADERS
        set_payload = _SET_PAYLOAD
        last_block = b""
        last_len = -1
        last_headers = _EMPTY_HEADERS
        try:
            with memoryview(src) as mv:
                while end - pos >= PRELUDE_LENGTH:
                    total, hlen, prelude_crc = unpack_prelude(src, pos)
                    found = crc32(src[pos : pos + 8])
                    if found != prelude_crc:
                        raise ChecksumMismatch("prelude", prelude_crc, found, offset=base + pos)
                    check(total, hlen, base + pos, max_payload, max_headers)
                    if end - pos < total:
                        self._need = total
                        break
                    msg_end = pos + total - 4
                    message_crc = unpack_u32(src, msg_end)[0]
                    # A memoryview slice: the CRC must not copy a large body.
                    found = crc32(mv[pos + 8 : msg_end], found)
                    if found != message_crc:
                        raise ChecksumMismatch("message", message_crc, found, offset=base + pos)
                    hstart = pos + PRELUDE_LENGTH
                    pstart = hstart + hlen
                    # Consecutive messages usually repeat the previous header block: compare in
                    # place before paying for a slice and a cache lookup.
                    if hlen == last_len and src.startswith(last_block, hstart):
                        headers = last_headers
                    else:
                        block = src[hstart:pstart]
                        cached = cache_get(block)
                        headers = (
                            cached if cached is not None else _headers_for(block, base + hstart)
                        )
                        last_block, last_len, last_headers = block, hlen, headers
                    # Bypass Message.__init__: both fields are already of their final types.
                    message = new_message(Message)
                    set_headers(message, headers)
                    set_payload(message, src[pstart:msg_end])
                    if frames:
                        append(Frame(message, base + pos, total, hlen, prelude_crc, message_crc))  # type: ignore[arg-type]
                    else:
                        append(message)  # type: ignore[arg-type]
                    pos += total
                else:
                    self._need = PRELUDE_LENGTH
        except EventStreamError as exc:
            return pos, exc
        return pos, None


def decode(
    data: Buffer,
    *,
    max_payload_bytes: int | None = DEFAULT_MAX_PAYLOAD_BYTES,
    max_headers_bytes: int | None = DEFAULT_MAX_HEADERS_BYTES,
) -> list[Message]:
    """Decode a whole buffer of messages; TruncatedStream if it ends inside one.

    Bad bytes raise an :class:`~eventstream.EventStreamError`; ``data`` that is not a bytes-like
    object (e.g. ``str``, ``int``, ``None``) raises ``TypeError``; a limit that is not a
    non-negative int or ``None`` raises ``ValueError``.
    """
    decoder = Decoder(max_payload_bytes=max_payload_bytes, max_headers_bytes=max_headers_bytes)
    messages = decoder.feed(data)
    decoder.close()
    return messages
