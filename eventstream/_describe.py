"""Human- and machine-readable dissection of event-stream bytes, for debugging (never raises)."""

from __future__ import annotations

import base64
import struct
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union

from eventstream._decoder import MIN_MESSAGE_LENGTH, PRELUDE_LENGTH, check_prelude
from eventstream._headers import HEADER_TYPES, HeaderValue, decode_headers
from eventstream.exceptions import EventStreamError

__all__ = ["FrameInfo", "describe"]

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")

Buffer = Union[bytes, bytearray, memoryview]


@dataclass(frozen=True)
class FrameInfo:
    """What :func:`describe` found at one frame position.

    Fields that could not be read are ``None``. ``headers`` holds ``(name, type name, value)``
    for each header decoded (up to a bad one). ``error`` is set on the frame where decoding
    stopped; ``describe`` returns nothing after it.
    """

    index: int
    offset: int
    total_length: int | None = None
    headers_length: int | None = None
    payload_length: int | None = None
    prelude_crc_expected: int | None = None
    prelude_crc_found: int | None = None
    message_crc_expected: int | None = None
    message_crc_found: int | None = None
    headers: tuple[tuple[str, str, HeaderValue], ...] = ()
    payload_preview: bytes = b""
    error: str | None = None

    def format(self) -> str:
        """Return a multi-line human-readable description."""
        lines = [f"frame {self.index} at offset {self.offset}"]
        if self.total_length is not None:
            lines[0] += (
                f": {self.total_length} bytes (headers {self.headers_length}, "
                f"payload {self.payload_length})"
            )
        for part, expected, found in (
            ("prelude", self.prelude_crc_expected, self.prelude_crc_found),
            ("message", self.message_crc_expected, self.message_crc_found),
        ):
            if expected is not None and found is not None:
                verdict = "ok" if expected == found else f"MISMATCH (bytes give 0x{found:08x})"
                lines.append(f"  {part} crc 0x{expected:08x} {verdict}")
        if self.headers:
            lines.append("  headers:")
            for name, type_name, value in self.headers:
                lines.append(f"    {name} ({type_name}) = {_show(value)}")
        if self.payload_length is not None and self.total_length is not None:
            more = "..." if self.payload_length > len(self.payload_preview) else ""
            lines.append(f"  payload: {self.payload_preview!r}{more}")
        if self.error is not None:
            lines.append(f"  ERROR: {self.error}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (bytes as base64, datetimes ISO 8601, UUIDs as str)."""
        return {
            "index": self.index,
            "offset": self.offset,
            "total_length": self.total_length,
            "headers_length": self.headers_length,
            "payload_length": self.payload_length,
            "prelude_crc": {"expected": self.prelude_crc_expected, "found": self.prelude_crc_found},
            "message_crc": {"expected": self.message_crc_expected, "found": self.message_crc_found},
            "headers": [
                {"name": name, "type": type_name, "value": _jsonable(value)}
                for name, type_name, value in self.headers
            ],
            "payload_preview": self.payload_preview.decode("utf-8", "backslashreplace"),
            "payload_preview_base64": base64.b64encode(self.payload_preview).decode("ascii"),
            "error": self.error,
        }


def _show(value: HeaderValue) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(int(value))
    return repr(value)


def _jsonable(value: HeaderValue) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (datetime, uuid.UUID)):
        return _show(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    return value


def describe(data: Buffer, *, preview_bytes: int = 64) -> list[FrameInfo]:
    """Dissect ``data`` frame by frame; report the first corruption in ``FrameInfo.error``.

    Never raises: whatever the input, the result describes each whole frame and, at the first
    frame that fails a check (or is cut short), what is wrong there; nothing after it.
    """
    given: object = data  # checked at run time too: the contract is "never raises"
    if not isinstance(given, (bytes, bytearray, memoryview)):
        return [FrameInfo(0, 0, error=f"cannot describe a {type(given).__name__}: bytes expected")]
    try:
        raw = bytes(data)
    except (TypeError, ValueError, BufferError) as exc:
        return [FrameInfo(0, 0, error=f"cannot read input as bytes: {exc}")]
    infos: list[FrameInfo] = []
    pos = 0
    index = 0
    while pos < len(raw):
        info = _describe_one(raw, pos, index, max(preview_bytes, 0))
        infos.append(info)
        if info.error is not None or info.total_length is None:
            break
        pos += info.total_length
        index += 1
    return infos


def _describe_one(raw: bytes, pos: int, index: int, preview_bytes: int) -> FrameInfo:
    left = len(raw) - pos
    if left < PRELUDE_LENGTH:
        return FrameInfo(
            index,
            pos,
            error=f"truncated: {left} bytes left, a prelude needs {PRELUDE_LENGTH}",
        )
    total, hlen, prelude_crc = _PRELUDE.unpack_from(raw, pos)
    prelude_found = zlib.crc32(raw[pos : pos + 8])
    facts: dict[str, Any] = {
        "prelude_crc_expected": prelude_crc,
        "prelude_crc_found": prelude_found,
    }
    if prelude_found != prelude_crc:
        hint = ""
        if pos == 0:
            hint = f" (is this an event stream? it starts with {raw[:24]!r})"
        return FrameInfo(
            index,
            pos,
            **facts,
            error=(
                f"prelude checksum mismatch: the frame says 0x{prelude_crc:08x}, the bytes give "
                f"0x{prelude_found:08x}; lengths {total}/{hlen} not trusted{hint}"
            ),
        )
    facts.update(total_length=total, headers_length=hlen)
    try:
        check_prelude(total, hlen, pos, None, None)
    except EventStreamError as exc:
        return FrameInfo(index, pos, **facts, error=str(exc))
    payload_length = total - MIN_MESSAGE_LENGTH - hlen
    facts["payload_length"] = payload_length
    hstart = pos + PRELUDE_LENGTH
    pstart = hstart + hlen
    facts["payload_preview"] = raw[pstart : min(pstart + payload_length, pstart + preview_bytes)]
    error: str | None = None
    if left < total:
        error = f"truncated: {left} of {total} bytes present"
    else:
        message_crc = _U32.unpack_from(raw, pos + total - 4)[0]
        message_found = zlib.crc32(raw[pos + 8 : pos + total - 4], prelude_found)
        facts.update(message_crc_expected=message_crc, message_crc_found=message_found)
        if message_found != message_crc:
            error = (
                f"message checksum mismatch: the frame says 0x{message_crc:08x}, "
                f"the bytes give 0x{message_found:08x}"
            )
    items: list[tuple[str, int, HeaderValue]] = []
    if len(raw) >= pstart:
        try:
            decode_headers(raw[hstart:pstart], hstart, items)
        except EventStreamError as exc:
            error = error or str(exc)
    facts["headers"] = tuple((name, HEADER_TYPES[code][0], value) for name, code, value in items)
    return FrameInfo(index, pos, **facts, error=error)
