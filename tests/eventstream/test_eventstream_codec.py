"""Message, Headers, header value types and encode()."""

from __future__ import annotations

import pickle
import uuid
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any

import pytest

from eventstream import (
    EncodeError,
    EventStreamError,
    Headers,
    Int8,
    Int16,
    Int64,
    Message,
    decode,
    encode,
)
from eventstream._headers import HEADER_TYPES, header_type

UTC = timezone.utc

ALL_TYPES: list[tuple[str, Any, int]] = [
    ("t", True, 0),
    ("f", False, 1),
    ("byte", Int8(-128), 2),
    ("short", Int16(32767), 3),
    ("integer", -(2**31), 4),
    ("long", Int64(2**63 - 1), 5),
    ("bytes", b"\x00\xff", 6),
    ("string", "h\u00e9llo \U0001f600", 7),
    ("timestamp", datetime(2024, 2, 29, 12, 34, 56, 789000, tzinfo=UTC), 8),
    ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678"), 9),
]


def roundtrip(msg: Message) -> Message:
    (out,) = decode(encode(msg))
    return out


def test_type_table_has_ten_types() -> None:
    assert sorted(HEADER_TYPES) == list(range(10))
    assert HEADER_TYPES[7] == ("string", -1)
    assert HEADER_TYPES[9] == ("uuid", 16)


def test_all_ten_types_round_trip_with_their_width() -> None:
    msg = Message([(n, v) for n, v, _ in ALL_TYPES], b"payload")
    out = roundtrip(msg)
    assert out == msg
    assert list(out.headers) == [n for n, _, _ in ALL_TYPES]
    for name, value, code in ALL_TYPES:
        got = out.headers[name]
        assert got == value
        assert header_type(got) == code
    assert type(out.headers["byte"]) is Int8
    assert type(out.headers["short"]) is Int16
    assert type(out.headers["integer"]) is int
    assert type(out.headers["long"]) is Int64
    assert type(out.headers["bytes"]) is bytes
    assert out.headers["timestamp"].tzinfo is not None
    assert out.headers["timestamp"].utcoffset() == timedelta(0)


def test_int_subclass_repr_and_value() -> None:
    assert repr(Int8(5)) == "Int8(5)"
    assert repr(Int16(-5)) == "Int16(-5)"
    assert repr(Int64(7)) == "Int64(7)"
    assert Int64(7) == 7
    assert pickle.loads(pickle.dumps(Int16(3))) == Int16(3)
    assert type(pickle.loads(pickle.dumps(Int16(3)))) is Int16


@pytest.mark.parametrize(
    ("value", "size"),
    [(Int8(1), 1), (Int16(1), 2), (1, 4), (Int64(1), 8)],
)
def test_integer_width_on_the_wire(value: int, size: int) -> None:
    data = encode(Message({"n": value}))
    # prelude 12 + name len 1 + name 1 + type 1 + value + crc 4
    assert len(data) == 12 + 3 + size + 4


@pytest.mark.parametrize(
    ("value", "code"),
    [(True, 0), (False, 1), (1, 4), (bytearray(b"x"), 6), (memoryview(b"x"), 6), (3.5, None)],
)
def test_header_type(value: Any, code: int | None) -> None:
    assert header_type(value) == code


@pytest.mark.parametrize(
    "ms",
    [0, 1, -1, 8675309, -62135596800000, 253402300799999, 1_700_000_000_123],
)
def test_timestamps_are_exact_to_the_millisecond(ms: int) -> None:
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    out = roundtrip(Message({"ts": when}))
    assert out.headers["ts"] == when
    data = encode(Message({"ts": when}))
    assert int.from_bytes(data[12 + 4 : 12 + 4 + 8], "big", signed=True) == ms


def test_timestamp_in_another_timezone_is_the_same_instant() -> None:
    tz = timezone(timedelta(hours=5, minutes=30))
    when = datetime(2020, 5, 17, 3, 4, 5, 6000, tzinfo=tz)
    out = roundtrip(Message({"ts": when})).headers["ts"]
    assert out == when
    assert out.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"n": 2**31}, "out of range"),
        ({"n": -(2**31) - 1}, "Int64"),
        ({"n": Int8(128)}, "Int8"),
        ({"n": Int8(-129)}, "Int8"),
        ({"n": Int16(32768)}, "Int16"),
        ({"n": Int16(-32769)}, "Int16"),
        ({"n": Int64(2**63)}, "Int64"),
        ({"n": Int64(-(2**63) - 1)}, "Int64"),
        ({"x" * 256: "v"}, "255"),
        ({"\u00e9" * 128: "v"}, "256 bytes"),
        ({"s": "a" * 32768}, "32767"),
        ({"b": b"a" * 32768}, "32767"),
        ({"ts": datetime(2020, 1, 1)}, "naive"),
        ({"ts": datetime(2020, 1, 1, 0, 0, 0, 1, tzinfo=UTC)}, "sub-millisecond"),
        ({"f": 1.5}, "float"),
        ({"none": None}, "NoneType"),
        ({"s": "\ud800"}, "UTF-8"),
        ({"\ud800": "v"}, "UTF-8"),
        ({1: "v"}, "not a str"),
    ],
)
def test_unrepresentable_values_raise_encode_error(headers: Any, words: str) -> None:
    with pytest.raises(EncodeError, match=words) as info:
        encode(Message(headers))
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, EventStreamError)


def test_datetime_whose_utc_value_is_before_year_one_is_an_encode_error() -> None:
    tz = timezone(timedelta(hours=5))
    with pytest.raises(EncodeError, match="ts"):
        encode(Message({"ts": datetime(1, 1, 1, tzinfo=tz)}))


def test_limits_are_inclusive() -> None:
    msg = Message({"x" * 255: "a" * 32767, "b": b"\x00" * 32767})
    assert roundtrip(msg) == msg


def test_encode_rejects_a_non_message() -> None:
    with pytest.raises(EncodeError, match="Message"):
        encode({"a": 1})  # type: ignore[arg-type]


def test_empty_message_is_16_bytes() -> None:
    data = encode(Message())
    assert len(data) == 16
    assert decode(data) == [Message()]


def test_headers_are_ordered_and_read_only() -> None:
    h = Headers([("b", 1), ("a", 2)])
    assert list(h) == ["b", "a"]
    assert list(h.items()) == [("b", 1), ("a", 2)]
    assert len(h) == 2
    assert "a" in h
    assert "z" not in h
    assert h.get("z") is None
    assert h.get("z", 5) == 5
    with pytest.raises(TypeError):
        h["c"] = 3  # type: ignore[index]
    with pytest.raises(KeyError):
        h["z"]
    assert not hasattr(h, "__setitem__")


def test_headers_from_mapping_keeps_order() -> None:
    h = Headers({"z": 1, "y": 2})
    assert list(h) == ["z", "y"]


def test_headers_duplicate_pairs_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Headers([("a", 1), ("a", 2)])


def test_headers_equality_is_strict_between_headers() -> None:
    assert Headers({"a": 1}) == Headers({"a": 1})
    assert Headers({"a": 1}) != Headers({"a": Int64(1)})
    assert Headers({"a": True}) != Headers({"a": 1})
    assert Headers([("a", 1), ("b", 2)]) != Headers([("b", 2), ("a", 1)])
    assert Headers({"a": 1}) == {"a": 1}
    assert Headers({"a": 1}) != {"a": 2}
    assert Headers({"a": 1}) != 5
    assert hash(Headers({"a": 1})) == hash(Headers({"a": 1}))


def test_timestamp_whose_tzinfo_gives_no_offset_is_naive() -> None:
    class NoOffset(tzinfo):
        def utcoffset(self, dt: datetime | None) -> None:
            return None

    with pytest.raises(EncodeError, match="naive"):
        encode(Message({"ts": datetime(2020, 1, 1, tzinfo=NoOffset())}))


def test_long_header_name_error_shows_its_first_40_characters() -> None:
    name = "abcdefghij" * 26
    with pytest.raises(EncodeError) as info:
        encode(Message({name: "v"}))
    assert f"header name {name[:40]!r}... is 260 bytes" in str(info.value)


def test_headers_equality_goes_by_wire_type_not_python_type() -> None:
    # A subclass of str is sent as a string: the same bytes, so equal Headers; values with no
    # wire type (never encodable) compare by their Python type.
    class Name(str):
        pass

    assert header_type(Name("x")) == header_type("x")
    assert encode(Message({"a": Name("x")})) == encode(Message({"a": "x"}))
    assert Headers({"a": Name("x")}) == Headers({"a": "x"})
    assert Message({"a": Name("x")}) == decode(encode(Message({"a": "x"})))[0]
    assert Headers({"a": 1.0}) != Headers({"a": Decimal(1)})
    assert Headers({"a": 1.0}) == Headers({"a": 1.0})


def test_headers_repr_and_pickle() -> None:
    h = Headers({"a": Int8(1)})
    assert repr(h) == "Headers({'a': Int8(1)})"
    assert pickle.loads(pickle.dumps(h)) == h


def test_message_is_frozen_and_normalises_its_fields() -> None:
    msg = Message({"a": "b"}, bytearray(b"xy"))
    assert type(msg.headers) is Headers
    assert type(msg.payload) is bytes
    assert msg.payload == b"xy"
    with pytest.raises(AttributeError):
        msg.payload = b"z"  # type: ignore[misc]
    assert Message(msg.headers, b"xy") == msg
    assert hash(Message(msg.headers, b"xy")) == hash(msg)
    assert Message(headers={"a": "b"}, payload=memoryview(b"xy")) == msg
    assert Message().headers == {}
    assert Message().payload == b""


def test_mutable_buffer_header_values_are_copied() -> None:
    buf = bytearray(b"x")
    backing = bytearray(b"y")
    msg = Message({"a": buf, "b": memoryview(backing)}, b"")
    assert type(msg.headers["a"]) is bytes
    assert type(msg.headers["b"]) is bytes
    before = hash(msg)  # hashable, though built from unhashable buffers
    buf[0] = ord("z")
    backing[0] = ord("z")
    assert msg.headers == {"a": b"x", "b": b"y"}
    assert hash(msg) == before
    assert msg in {msg}
    assert Headers({"a": bytearray(b"x")}) == Headers({"a": b"x"})
    assert decode(encode(msg)) == [msg]


def test_message_pickles() -> None:
    msg = Message([(n, v) for n, v, _ in ALL_TYPES], b"p")
    assert pickle.loads(pickle.dumps(msg)) == msg
    decoded = roundtrip(msg)
    assert pickle.loads(pickle.dumps(decoded)) == msg


def test_message_repr_previews_the_payload() -> None:
    text = repr(Message({"a": "b"}, b"x" * 1000))
    assert "1000 bytes" in text
    assert len(text) < 200
