"""Header value types of the event-stream wire format: the type table, encoding and decoding."""

from __future__ import annotations

import struct
import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Union

from eventstream.exceptions import EncodeError, InvalidHeader

__all__ = [
    "HEADER_TYPES",
    "MAX_HEADER_NAME_BYTES",
    "MAX_HEADER_VALUE_BYTES",
    "HeaderValue",
    "Int8",
    "Int16",
    "Int64",
    "decode_headers",
    "encode_headers",
    "header_type",
]

if TYPE_CHECKING:
    import uuid

    HeaderValue = Union[str, bytes, bool, int, datetime, uuid.UUID]
    """A decoded header value (``Int8``/``Int16``/``Int64`` are ``int`` subclasses)."""


def __getattr__(name: str) -> Any:
    # ``HeaderValue`` is built on first access: it needs ``uuid``, whose import costs a couple
    # of milliseconds that a client start-up should not pay (uuid headers are rare).
    if name == "HeaderValue":
        import uuid

        value = Union[str, bytes, bool, int, datetime, uuid.UUID]
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


MAX_HEADER_NAME_BYTES = 255
MAX_HEADER_VALUE_BYTES = 32767

# Wire type code -> (name, width of the value in bytes; -1 = uint16 length prefix + bytes).
HEADER_TYPES: dict[int, tuple[str, int]] = {
    0: ("bool_true", 0),
    1: ("bool_false", 0),
    2: ("byte", 1),
    3: ("short", 2),
    4: ("integer", 4),
    5: ("long", 8),
    6: ("byte_array", -1),
    7: ("string", -1),
    8: ("timestamp", 8),
    9: ("uuid", 16),
}

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS_PER_DAY = 86_400_000
_MIN_MS = (datetime.min.replace(tzinfo=timezone.utc) - _EPOCH) // timedelta(milliseconds=1)
_MAX_MS = (datetime.max.replace(tzinfo=timezone.utc) - _EPOCH) // timedelta(milliseconds=1)

_B = struct.Struct(">b")
_H = struct.Struct(">h")
_I = struct.Struct(">i")
_Q = struct.Struct(">q")
_U16 = struct.Struct(">H")


class Int8(int):
    """An integer sent as a ``byte`` header (type 2, signed 8-bit)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Int8({int(self)})"


class Int16(int):
    """An integer sent as a ``short`` header (type 3, signed 16-bit)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Int16({int(self)})"


class Int64(int):
    """An integer sent as a ``long`` header (type 5, signed 64-bit)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Int64({int(self)})"


_INT_RANGES: dict[int, tuple[int, int, str]] = {
    2: (-(1 << 7), (1 << 7) - 1, "Int8"),
    3: (-(1 << 15), (1 << 15) - 1, "Int16"),
    4: (-(1 << 31), (1 << 31) - 1, "int (int32)"),
    5: (-(1 << 63), (1 << 63) - 1, "Int64"),
}


def header_type(value: object) -> int | None:
    """Return the wire type code ``value`` would be sent as, or ``None`` if it has none."""
    if value is True:
        return 0
    if value is False:
        return 1
    if isinstance(value, Int8):
        return 2
    if isinstance(value, Int16):
        return 3
    if isinstance(value, Int64):
        return 5
    if isinstance(value, int) and not isinstance(value, bool):
        return 4
    if isinstance(value, (bytes, bytearray, memoryview)):
        return 6
    if isinstance(value, str):
        return 7
    if isinstance(value, datetime):
        return 8
    # A UUID instance implies that ``uuid`` is imported; if it is not, ``value`` is none.
    uuid_module = sys.modules.get("uuid")
    if uuid_module is not None and isinstance(value, uuid_module.UUID):
        return 9
    return None


def _timestamp_ms(name: str, value: datetime) -> int:
    if value.tzinfo is None or value.utcoffset() is None:
        raise EncodeError(
            f"header {name!r}: naive datetime {value.isoformat()} (give it a timezone, e.g. UTC)"
        )
    delta = value - _EPOCH
    if delta.microseconds % 1000:
        raise EncodeError(
            f"header {name!r}: timestamp {value.isoformat()} has sub-millisecond precision "
            "(the wire holds milliseconds; round it first)"
        )
    # Integer arithmetic keeps every millisecond exact (no float round trip).
    ms = delta.days * _MS_PER_DAY + delta.seconds * 1000 + delta.microseconds // 1000
    if not _MIN_MS <= ms <= _MAX_MS:
        # Only instants a UTC datetime can hold, so that whatever encodes also decodes.
        raise EncodeError(
            f"header {name!r}: timestamp {value.isoformat()} is outside the datetime range in UTC"
        )
    return ms


def encode_headers(headers: Any) -> bytes:
    """Encode a mapping of header name -> value into a headers block (raises EncodeError)."""
    out = bytearray()
    for name, value in headers.items():
        if not isinstance(name, str):
            raise EncodeError(f"header name {name!r} is not a str")
        try:
            raw_name = name.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise EncodeError(f"header name {name!r} is not encodable as UTF-8: {exc}") from None
        if len(raw_name) > MAX_HEADER_NAME_BYTES:
            raise EncodeError(
                f"header name {name[:40]!r}... is {len(raw_name)} bytes in UTF-8, "
                f"the limit is {MAX_HEADER_NAME_BYTES}"
            )
        code = header_type(value)
        if code is None:
            raise EncodeError(
                f"header {name!r}: a {type(value).__name__} cannot be sent "
                "(use str, bytes, bool, int, Int8/Int16/Int64, aware datetime or uuid.UUID)"
            )
        out.append(len(raw_name))
        out += raw_name
        out.append(code)
        if code <= 1:
            continue
        if code in _INT_RANGES:
            lo, hi, label = _INT_RANGES[code]
            if not lo <= value <= hi:
                hint = " (use Int64 for a long header)" if code == 4 else ""
                raise EncodeError(
                    f"header {name!r}: {int(value)} is out of range for {label} [{lo}, {hi}]{hint}"
                )
            fmt = _B if code == 2 else _H if code == 3 else _I if code == 4 else _Q
            out += fmt.pack(value)
        elif code == 6 or code == 7:
            if code == 7:
                try:
                    raw = value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    raise EncodeError(
                        f"header {name!r}: string value is not encodable as UTF-8: {exc}"
                    ) from None
            else:
                raw = bytes(value)
            if len(raw) > MAX_HEADER_VALUE_BYTES:
                raise EncodeError(
                    f"header {name!r}: value is {len(raw)} bytes, "
                    f"the limit is {MAX_HEADER_VALUE_BYTES}"
                )
            out += _U16.pack(len(raw))
            out += raw
        elif code == 8:
            ms = _timestamp_ms(name, value)
            out += _Q.pack(ms)
        else:
            out += value.bytes
    return bytes(out)


def _ms_to_datetime(ms: int) -> datetime:
    days, rem = divmod(ms, _MS_PER_DAY)
    seconds, millis = divmod(rem, 1000)
    return _EPOCH + timedelta(days=days, seconds=seconds, microseconds=millis * 1000)


def decode_headers(
    block: bytes, base: int, items: list[tuple[str, int, HeaderValue]] | None = None
) -> dict[str, HeaderValue]:
    """Decode a headers block into an ordered dict (raises InvalidHeader).

    ``base`` is the stream offset of the block (for error offsets). If ``items`` is given, each
    decoded ``(name, type code, value)`` is appended to it as it is read, so a caller can keep
    what preceded an error.
    """
    result: dict[str, HeaderValue] = {}
    end = len(block)
    pos = 0
    while pos < end:
        start = pos
        name_len = block[pos]
        pos += 1
        if pos + name_len + 1 > end:
            raise InvalidHeader(
                None,
                f"truncated: name of {name_len} bytes and its type need {name_len + 1} bytes, "
                f"the headers block has {end - pos} left",
                offset=base + start,
            )
        try:
            name = block[pos : pos + name_len].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidHeader(
                None,
                f"name is not valid UTF-8 ({exc.reason} at byte {exc.start})",
                offset=base + start,
            ) from None
        pos += name_len
        code = block[pos]
        pos += 1
        value: HeaderValue
        if code == 7 or code == 6:
            if pos + 2 > end:
                raise InvalidHeader(
                    name,
                    "truncated: value length needs 2 bytes, "
                    f"the headers block has {end - pos} left",
                    offset=base + start,
                )
            vlen = (block[pos] << 8) | block[pos + 1]
            pos += 2
            if vlen > MAX_HEADER_VALUE_BYTES:
                raise InvalidHeader(
                    name,
                    f"value length {vlen} exceeds the limit of {MAX_HEADER_VALUE_BYTES}",
                    offset=base + start,
                )
            if pos + vlen > end:
                raise InvalidHeader(
                    name,
                    f"value length {vlen} overruns the headers block ({end - pos} bytes left)",
                    offset=base + start,
                )
            raw = block[pos : pos + vlen]
            pos += vlen
            if code == 7:
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidHeader(
                        name,
                        f"string value is not valid UTF-8 ({exc.reason} at byte {exc.start})",
                        offset=base + start,
                    ) from None
            else:
                value = raw
        elif code == 0:
            value = True
        elif code == 1:
            value = False
        else:
            spec = HEADER_TYPES.get(code)
            if spec is None:
                raise InvalidHeader(
                    name, f"unknown value type {code} (expected 0-9)", offset=base + start
                )
            width = spec[1]
            if pos + width > end:
                raise InvalidHeader(
                    name,
                    f"truncated: a {spec[0]} value needs {width} bytes, "
                    f"the headers block has {end - pos} left",
                    offset=base + start,
                )
            if code == 4:
                value = _I.unpack_from(block, pos)[0]
            elif code == 2:
                value = Int8(_B.unpack_from(block, pos)[0])
            elif code == 3:
                value = Int16(_H.unpack_from(block, pos)[0])
            elif code == 5:
                value = Int64(_Q.unpack_from(block, pos)[0])
            elif code == 8:
                ms = _Q.unpack_from(block, pos)[0]
                try:
                    value = _ms_to_datetime(ms)
                except OverflowError:
                    raise InvalidHeader(
                        name,
                        f"timestamp {ms} ms is outside the range a datetime can hold",
                        offset=base + start,
                    ) from None
            else:
                import uuid

                value = uuid.UUID(bytes=bytes(block[pos : pos + 16]))
            pos += width
        if name in result:
            raise InvalidHeader(name, "duplicate header name", offset=base + start)
        result[name] = value
        if items is not None:
            items.append((name, code, value))
    return result
