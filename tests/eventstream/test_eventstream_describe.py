"""describe() and FrameInfo on good, corrupt and truncated input."""

from __future__ import annotations

import json
import struct
import uuid
import zlib
from datetime import datetime, timezone

from eventstream import FrameInfo, Int8, Message, describe, encode

HEADERS = {
    ":event-type": "PayloadPart",
    ":content-type": "application/octet-stream",
    ":message-type": "event",
}


def good_stream() -> tuple[bytes, bytes]:
    return encode(Message(HEADERS, b'{"token":"Hi"}')), encode(Message({"n": Int8(3)}, b""))


def test_describe_good_stream() -> None:
    a, b = good_stream()
    infos = describe(a + b)
    assert [i.index for i in infos] == [0, 1]
    assert [i.offset for i in infos] == [0, len(a)]
    first = infos[0]
    assert first.error is None
    assert first.total_length == len(a)
    assert first.headers_length == len(a) - 16 - 14
    assert first.payload_length == 14
    assert first.prelude_crc_expected == first.prelude_crc_found == zlib.crc32(a[:8])
    assert first.message_crc_expected == first.message_crc_found == zlib.crc32(a[:-4])
    assert first.headers == (
        (":event-type", "string", "PayloadPart"),
        (":content-type", "string", "application/octet-stream"),
        (":message-type", "string", "event"),
    )
    assert first.payload_preview == b'{"token":"Hi"}'
    assert infos[1].headers == (("n", "byte", Int8(3)),)


def test_format_is_readable() -> None:
    a, _ = good_stream()
    text = describe(a)[0].format()
    assert text.splitlines()[0] == f"frame 0 at offset 0: {len(a)} bytes (headers 89, payload 14)"
    assert "prelude crc 0x3c670ae6 ok" in text
    assert ":event-type (string) = 'PayloadPart'" in text
    assert 'payload: b\'{"token":"Hi"}\'' in text
    assert "ERROR" not in text


def test_to_dict_is_json_serialisable() -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=timezone.utc)
    msg = Message(
        {"b": b"\x00\xff", "t": when, "u": uuid.UUID(int=1), "i": Int8(-1), "f": False},
        b"\xff\xfe text",
    )
    (info,) = describe(encode(msg))
    d = json.loads(json.dumps(info.to_dict()))
    assert d["error"] is None
    assert d["headers"] == [
        {"name": "b", "type": "byte_array", "value": "AP8="},
        {"name": "t", "type": "timestamp", "value": "2024-01-02T03:04:05.006000+00:00"},
        {"name": "u", "type": "uuid", "value": "00000000-0000-0000-0000-000000000001"},
        {"name": "i", "type": "byte", "value": -1},
        {"name": "f", "type": "bool_false", "value": False},
    ]
    assert d["payload_preview"] == "\\xff\\xfe text"
    assert d["payload_preview_base64"] == "//4gdGV4dA=="
    assert d["prelude_crc"]["expected"] == d["prelude_crc"]["found"]


def test_describe_stops_at_a_message_crc_error() -> None:
    a, b = good_stream()
    bad = bytearray(b)
    bad[-5] ^= 1
    infos = describe(a + bytes(bad) + a)
    assert len(infos) == 2
    assert infos[0].error is None
    info = infos[1]
    assert info.error is not None
    assert "message checksum mismatch" in info.error
    assert info.message_crc_expected != info.message_crc_found
    assert info.headers == (("n", "byte", Int8(2)),)  # the damaged value, shown best effort
    assert "MISMATCH" in info.format()
    assert "ERROR: message checksum mismatch" in info.format()


def test_describe_prelude_error_hints_at_a_non_event_stream_body() -> None:
    (info,) = describe(b'{"message":"Missing Authentication Token"}')
    assert info.error is not None
    assert "prelude checksum mismatch" in info.error
    assert "is this an event stream?" in info.error
    assert '{"message"' in info.error
    assert info.total_length is None


def test_describe_impossible_lengths() -> None:
    head = struct.pack(">II", 10, 0)
    (info,) = describe(head + struct.pack(">I", zlib.crc32(head)) + b"\x00" * 4)
    assert info.error is not None
    assert "total_length 10" in info.error


def test_describe_truncated_frames() -> None:
    a, b = good_stream()
    infos = describe(a + b[:-1])
    assert infos[1].error == f"truncated: {len(b) - 1} of {len(b)} bytes present"
    infos = describe(a + b[:5])
    assert infos[1].error == "truncated: 5 bytes left, a prelude needs 12"
    assert infos[1].offset == len(a)


def test_describe_bad_header() -> None:
    block = b"\x01x\x0a"
    head = struct.pack(">II", 16 + len(block), len(block))
    body = head + struct.pack(">I", zlib.crc32(head)) + block
    (info,) = describe(body + struct.pack(">I", zlib.crc32(body)))
    assert info.error is not None
    assert "unknown value type 10" in info.error


def test_describe_empty_and_odd_input() -> None:
    assert describe(b"") == []
    (info,) = describe(object())  # type: ignore[arg-type]
    assert isinstance(info, FrameInfo)
    assert (info.index, info.offset) == (0, 0)
    assert info.error == "cannot describe a object: bytes expected"
    released = memoryview(b"abc")
    released.release()
    (info,) = describe(released)
    assert (info.index, info.offset) == (0, 0)
    assert info.error is not None
    assert info.error.startswith("cannot read input as bytes")
    assert describe(bytearray(encode(Message())))[0].error is None


def test_preview_is_capped() -> None:
    (info,) = describe(encode(Message({}, b"x" * 500)), preview_bytes=10)
    assert info.payload_preview == b"x" * 10
    assert info.payload_length == 500
    assert "payload: b'xxxxxxxxxx'..." in info.format()
    (info,) = describe(encode(Message({}, b"x" * 500)))
    assert info.payload_preview == b"x" * 64  # the default


def test_describe_names_every_header_type() -> None:
    from eventstream import Int16, Int64

    when = datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=timezone.utc)
    ident = uuid.UUID(int=7)
    msg = Message(
        [
            ("t", True),
            ("f", False),
            ("b", Int8(-1)),
            ("s", Int16(2)),
            ("i", 3),
            ("l", Int64(4)),
            ("a", b"\x00"),
            ("str", "x"),
            ("ts", when),
            ("u", ident),
        ]
    )
    (info,) = describe(encode(msg))
    assert info.error is None
    assert info.headers == (
        ("t", "bool_true", True),
        ("f", "bool_false", False),
        ("b", "byte", -1),
        ("s", "short", 2),
        ("i", "integer", 3),
        ("l", "long", 4),
        ("a", "byte_array", b"\x00"),
        ("str", "string", "x"),
        ("ts", "timestamp", when),
        ("u", "uuid", ident),
    )


def test_frame_info_is_frozen() -> None:
    import dataclasses

    import pytest

    info = describe(encode(Message({"a": "b"}, b"x")))[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.index = 5  # type: ignore[misc]
    assert hash(info) == hash(describe(encode(Message({"a": "b"}, b"x")))[0])


def test_format_shows_only_what_was_read() -> None:
    # a CRC with one side unknown, a payload length without the frame's: no line for either
    text = FrameInfo(0, 0, prelude_crc_expected=1, message_crc_found=2, payload_length=3).format()
    assert text == "frame 0 at offset 0"
    a, _ = good_stream()
    lines = describe(a)[0].format().splitlines()
    assert '  payload: b\'{"token":"Hi"}\'' in lines  # the whole payload: no "..."


def test_describe_at_the_edges_of_a_frame() -> None:
    frame = encode(Message({"a": "b"}, b"payload"))
    hlen = struct.unpack_from(">I", frame, 4)[0]
    # a prelude alone (12 bytes) is read: the lengths are known, the rest is missing
    (info,) = describe(frame[:12])
    assert info.total_length == len(frame)
    assert info.error == f"truncated: 12 of {len(frame)} bytes present"
    # cut just after the headers block: the headers are still shown
    (info,) = describe(frame[: 12 + hlen])
    assert info.headers == (("a", "string", "b"),)
    assert info.error == f"truncated: {12 + hlen} of {len(frame)} bytes present"
    # no preview at all when asked for none (or fewer than none)
    for preview in (0, -5):
        assert describe(frame, preview_bytes=preview)[0].payload_preview == b""


def test_prelude_error_hint_shows_the_first_24_bytes() -> None:
    data = b"<html><body>not a stream at all</body></html>"
    (info,) = describe(data)
    assert info.error is not None
    assert info.error.endswith(f"it starts with {data[:24]!r})")
