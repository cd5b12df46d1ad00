"""Errors raised by the event-stream codec.

Every error the codec raises for bad *data* (bytes to decode, a message to encode) derives from
:class:`EventStreamError`; no other exception escapes ``decode``, ``Decoder.feed``/``close`` or
``encode`` for them. Caller bugs are different: an argument of the wrong type (``decode("text")``,
``decode(None)``, ``Decoder().feed(123)``) raises ``TypeError``, and a bad ``max_*_bytes`` limit
given to ``decode``/``Decoder`` raises ``ValueError``. The tree::

    EventStreamError                 base; ``offset`` = stream offset of the message at fault
                                     (of the header, for InvalidHeader)
    ├── ChecksumMismatch             a CRC32 differs (``part``, ``expected``, ``found``)
    ├── InvalidLength                a length is impossible or over a limit (``field``, ...)
    ├── InvalidHeader                a header cannot be decoded (``name``, ``reason``)
    ├── TruncatedStream              the input ended inside a message (``pending`` bytes held)
    └── EncodeError (also ValueError)  a value given to ``encode`` cannot be represented

Errors keep their fields as attributes and survive ``pickle``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ChecksumMismatch",
    "EncodeError",
    "EventStreamError",
    "InvalidHeader",
    "InvalidLength",
    "TruncatedStream",
]


def _restore(cls: type[EventStreamError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    obj = cls.__new__(cls)
    Exception.__init__(obj, *args)
    obj.__dict__.update(state)
    return obj


class EventStreamError(Exception):
    """Base of every error of the event-stream codec.

    ``offset`` is the byte offset, in the whole stream fed so far, of the message at fault (for
    :class:`InvalidHeader`: of the header at fault; ``None`` where no stream position applies,
    e.g. when encoding).
    """

    offset: int | None

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, self.__dict__))


class ChecksumMismatch(EventStreamError):
    """A CRC32 check failed; ``part`` is ``"prelude"`` or ``"message"``."""

    def __init__(self, part: str, expected: int, found: int, *, offset: int | None = None) -> None:
        where = f" in the message at offset {offset}" if offset is not None else ""
        super().__init__(
            f"{part} checksum mismatch{where}: the frame says 0x{expected:08x}, "
            f"the bytes give 0x{found:08x}",
            offset=offset,
        )
        self.part = part
        self.expected = expected
        self.found = found


class InvalidLength(EventStreamError):
    """A length field is impossible (``limit`` is the bound it broke) or over a configured limit."""

    def __init__(
        self, field: str, value: int, limit: int, reason: str, *, offset: int | None = None
    ) -> None:
        where = f" in the message at offset {offset}" if offset is not None else ""
        super().__init__(f"invalid {field} {value}{where}: {reason}", offset=offset)
        self.field = field
        self.value = value
        self.limit = limit
        self.reason = reason


class InvalidHeader(EventStreamError):
    """A header could not be decoded (unknown type, truncated, bad UTF-8, duplicate name).

    ``name`` is the header's name where it could be read (else ``None``); ``offset`` is the
    stream offset of the header itself, not of its message (a :class:`~eventstream.Decoder`'s
    ``bytes_consumed`` is the message's offset after the error).
    """

    def __init__(self, name: str | None, reason: str, *, offset: int | None = None) -> None:
        label = f"header {name!r}" if name is not None else "header"
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"invalid {label}{where}: {reason}", offset=offset)
        self.name = name
        self.reason = reason


class TruncatedStream(EventStreamError):
    """The input ended inside a message: ``pending`` bytes of it were held, ``needed`` in all."""

    def __init__(
        self, pending: int, needed: int | None = None, *, offset: int | None = None
    ) -> None:
        of = f" of {needed}" if needed is not None else ""
        where = f" (message at offset {offset})" if offset is not None else ""
        super().__init__(
            f"stream ended inside a message: {pending}{of} bytes received{where}", offset=offset
        )
        self.pending = pending
        self.needed = needed


class EncodeError(EventStreamError, ValueError):
    """A value given to ``encode`` cannot be represented on the wire."""
