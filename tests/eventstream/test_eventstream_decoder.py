"""Decoder: incremental feeding, checks, limits, poisoning and the USER-NEEDS §5 pitfalls."""

from __future__ import annotations

import pickle
import struct
import zlib

import pytest

from eventstream import (
    DEFAULT_MAX_HEADERS_BYTES,
    DEFAULT_MAX_PAYLOAD_BYTES,
    ChecksumMismatch,
    Decoder,
    EventStreamError,
    InvalidHeader,
    InvalidLength,
    Message,
    TruncatedStream,
    decode,
    encode,
)

SAGEMAKER_HEADERS = {
    ":event-type": "PayloadPart",
    ":content-type": "application/octet-stream",
    ":message-type": "event",
}


def raw_frame(
    block: bytes, payload: bytes = b"", *, total: int | None = None, hlen: int | None = None
) -> bytes:
    """A frame with correct CRCs around arbitrary (possibly invalid) header bytes and lengths."""
    total = 16 + len(block) + len(payload) if total is None else total
    hlen = len(block) if hlen is None else hlen
    prelude = struct.pack(">II", total, hlen)
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + block + payload
    return body + struct.pack(">I", zlib.crc32(body))


def prelude_only(total: int, hlen: int) -> bytes:
    head = struct.pack(">II", total, hlen)
    return head + struct.pack(">I", zlib.crc32(head))


def part(text: str) -> bytes:
    return encode(Message(SAGEMAKER_HEADERS, text.encode()))


# -- incremental feeding --------------------------------------------------------------------


def test_message_comes_out_exactly_when_its_last_byte_arrives() -> None:
    data = part("hello") + part("world")
    decoder = Decoder()
    first_end = len(part("hello"))
    got: list[tuple[int, Message]] = []
    for i in range(len(data)):
        for msg in decoder.feed(data[i : i + 1]):
            got.append((i + 1, msg))
    assert [(n, m.payload) for n, m in got] == [(first_end, b"hello"), (len(data), b"world")]
    decoder.close()


def test_bytes_consumed_and_pending() -> None:
    a, b = part("a"), part("bb")
    decoder = Decoder()
    assert (decoder.bytes_consumed, decoder.pending) == (0, 0)
    assert decoder.feed(a + b[:5]) == [Message(SAGEMAKER_HEADERS, b"a")]
    assert (decoder.bytes_consumed, decoder.pending) == (len(a), 5)
    assert decoder.feed(b[5:20]) == []
    assert (decoder.bytes_consumed, decoder.pending) == (len(a), 20)
    assert len(decoder.feed(b[20:])) == 1
    assert (decoder.bytes_consumed, decoder.pending) == (len(a) + len(b), 0)


def test_feed_frames_reports_wire_facts() -> None:
    a, b = part("a"), part("bb")
    frames = Decoder().feed_frames(a + b)
    assert [f.offset for f in frames] == [0, len(a)]
    assert [f.total_length for f in frames] == [len(a), len(b)]
    assert frames[1].headers_length == len(b) - 16 - 2
    assert frames[1].prelude_crc == zlib.crc32(b[:8])
    assert frames[1].message_crc == zlib.crc32(b[:-4])
    assert frames[1].message.payload == b"bb"


def test_feed_frames_offsets_continue_across_feeds() -> None:
    a, b = part("a"), part("bb")
    decoder = Decoder()
    decoder.feed(a + b[:3])
    (frame,) = decoder.feed_frames(b[3:])
    assert frame.offset == len(a)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_feed_accepts_bytes_like(kind: type) -> None:
    data = part("x") * 3
    decoder = Decoder()
    assert len(decoder.feed(kind(data[:10]))) == 0
    assert len(decoder.feed(kind(data[10:]))) == 3


def test_feed_of_empty_is_a_no_op() -> None:
    decoder = Decoder()
    assert decoder.feed(b"") == []
    decoder.close()


def test_feed_rejects_non_bytes() -> None:
    with pytest.raises(TypeError):
        Decoder().feed("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Decoder().feed(memoryview(bytes(8)).cast("I"))


@pytest.mark.parametrize("bad", ["text", "", 123, 0, None, 1.5, [1, 2]])
def test_wrong_argument_type_is_a_type_error_checked_first(bad: object) -> None:
    # A caller bug, not bad input: TypeError, never "no bytes" (None, 0, "" used to give []).
    with pytest.raises(TypeError, match="bytes-like object, not"):
        decode(bad)  # type: ignore[arg-type]
    decoder = Decoder()
    with pytest.raises(TypeError):
        decoder.feed(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        decoder.feed_frames(bad)  # type: ignore[arg-type]
    # ... and it does not poison the decoder
    assert decoder.feed(part("x")) == [Message(SAGEMAKER_HEADERS, b"x")]


def test_decoded_messages_do_not_alias_the_input() -> None:
    data = bytearray(part("abc"))
    (msg,) = Decoder().feed(data)
    data[-7:] = b"\x00" * 7
    assert msg.payload == b"abc"


@pytest.mark.parametrize("bad", [-1, 1.5, "1"])
def test_limits_must_be_non_negative_ints(bad: object) -> None:
    with pytest.raises(ValueError, match="max_payload_bytes"):
        Decoder(max_payload_bytes=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_headers_bytes"):
        Decoder(max_headers_bytes=bad)  # type: ignore[arg-type]


# -- close / truncation (X4) ----------------------------------------------------------------


def test_close_on_a_boundary_is_clean() -> None:
    decoder = Decoder()
    decoder.feed(part("a"))
    decoder.close()
    decoder.close()


def test_close_with_a_partial_message() -> None:
    a, b = part("a"), part("bb")
    decoder = Decoder()
    decoder.feed(a + b[:-1])
    with pytest.raises(TruncatedStream) as info:
        decoder.close()
    assert info.value.pending == len(b) - 1
    assert info.value.needed == len(b)
    assert info.value.offset == len(a)
    assert str(len(b) - 1) in str(info.value)


def test_close_with_a_partial_prelude() -> None:
    decoder = Decoder()
    decoder.feed(part("a")[:5])
    with pytest.raises(TruncatedStream) as info:
        decoder.close()
    assert (info.value.pending, info.value.needed, info.value.offset) == (5, None, 0)


def test_decode_raises_on_truncation() -> None:
    with pytest.raises(TruncatedStream):
        decode(part("a")[:-1])
    with pytest.raises(TruncatedStream):
        decode(b"\x00")


def test_decode_of_nothing_is_empty() -> None:
    assert decode(b"") == []


# -- poisoning and deferred errors ----------------------------------------------------------


def test_decoder_is_poisoned_after_an_error() -> None:
    bad = bytearray(part("a"))
    bad[-1] ^= 1
    decoder = Decoder()
    with pytest.raises(ChecksumMismatch):
        decoder.feed(bad)
    with pytest.raises(ChecksumMismatch) as again:
        decoder.feed(part("b"))
    assert again.value.part == "message"
    with pytest.raises(ChecksumMismatch):
        decoder.close()


def test_poisoned_by_truncation_on_close() -> None:
    decoder = Decoder()
    decoder.feed(b"\x00\x00")
    with pytest.raises(TruncatedStream):
        decoder.close()
    with pytest.raises(TruncatedStream):
        decoder.feed(b"\x00")


def test_messages_before_an_error_in_the_same_feed_are_delivered_first() -> None:
    good = part("good")
    bad = bytearray(part("bad"))
    bad[20] ^= 0x10
    decoder = Decoder()
    assert [m.payload for m in decoder.feed(good + bytes(bad))] == [b"good"]
    assert decoder.bytes_consumed == len(good)
    with pytest.raises(ChecksumMismatch) as info:
        decoder.feed(b"")
    assert info.value.offset == len(good)


def test_deferred_error_is_raised_by_close() -> None:
    decoder = Decoder()
    decoder.feed(part("good") + b"NOT AN EVENT STREAM AT ALL")
    with pytest.raises(ChecksumMismatch) as info:
        decoder.close()
    assert info.value.part == "prelude"


def test_decode_raises_even_after_good_messages() -> None:
    with pytest.raises(ChecksumMismatch):
        decode(part("good") + b"\x00" * 16)


# -- X1: prelude CRC before any length is trusted -------------------------------------------


def test_prelude_crc_is_checked_before_lengths() -> None:
    # A huge total length that would blow every limit, but the prelude CRC is wrong: the CRC
    # error must win, after only 12 bytes, with nothing buffered "to wait for" the length.
    bogus = struct.pack(">III", 0xFFFFFFF0, 0xFFFFFF00, 0)
    decoder = Decoder()
    with pytest.raises(ChecksumMismatch) as info:
        decoder.feed(bogus)
    assert info.value.part == "prelude"
    assert info.value.expected == 0
    assert info.value.found == zlib.crc32(bogus[:8])
    assert info.value.offset == 0


def test_prelude_crc_mismatch_reports_the_stream_offset() -> None:
    a = part("a")
    bad = bytearray(part("b"))
    bad[2] ^= 0x01
    with pytest.raises(ChecksumMismatch) as info:
        decode(a + bytes(bad))
    assert info.value.offset == len(a)
    assert f"offset {len(a)}" in str(info.value)


def test_message_crc_mismatch_is_distinct() -> None:
    bad = bytearray(part("abc"))
    bad[-6] ^= 0x80
    with pytest.raises(ChecksumMismatch) as info:
        decode(bytes(bad))
    assert info.value.part == "message"
    assert info.value.expected == int.from_bytes(bad[-4:], "big")


# -- X2: inconsistent lengths ---------------------------------------------------------------


@pytest.mark.parametrize("total", [0, 1, 12, 15])
def test_total_length_under_16(total: int) -> None:
    with pytest.raises(InvalidLength) as info:
        Decoder().feed(prelude_only(total, 0))
    assert info.value.field == "total_length"
    assert info.value.value == total
    assert info.value.limit == 16


@pytest.mark.parametrize(("total", "hlen"), [(16, 1), (30, 15), (30, 0xFFFFFFFF)])
def test_headers_length_over_total_minus_16(total: int, hlen: int) -> None:
    with pytest.raises(InvalidLength) as info:
        Decoder().feed(prelude_only(total, hlen))
    assert info.value.field == "headers_length"
    assert info.value.value == hlen
    assert info.value.limit == total - 16


def test_headers_length_equal_to_total_minus_16_is_fine() -> None:
    msg = Message({"a": "b"})
    assert decode(encode(msg)) == [msg]


# -- X3: limits, enforced from the prelude alone --------------------------------------------


def test_default_limits() -> None:
    assert DEFAULT_MAX_PAYLOAD_BYTES == 24 * 1024 * 1024
    assert DEFAULT_MAX_HEADERS_BYTES == 128 * 1024


def test_payload_over_the_default_limit_fails_on_the_prelude() -> None:
    payload_len = DEFAULT_MAX_PAYLOAD_BYTES + 1
    with pytest.raises(InvalidLength) as info:
        Decoder().feed(prelude_only(16 + payload_len, 0))
    assert info.value.field == "payload_length"
    assert info.value.value == payload_len
    assert info.value.limit == DEFAULT_MAX_PAYLOAD_BYTES
    assert "max_payload_bytes" in str(info.value)


def test_headers_over_the_default_limit_fails_on_the_prelude() -> None:
    hlen = DEFAULT_MAX_HEADERS_BYTES + 1
    with pytest.raises(InvalidLength) as info:
        Decoder().feed(prelude_only(16 + hlen, hlen))
    assert info.value.field == "headers_length"
    assert info.value.limit == DEFAULT_MAX_HEADERS_BYTES


def test_a_24_mib_payload_is_accepted_in_1_kib_pieces() -> None:
    payload = bytes(range(256)) * (DEFAULT_MAX_PAYLOAD_BYTES // 256)
    data = encode(Message(SAGEMAKER_HEADERS, payload))
    decoder = Decoder()
    got: list[Message] = []
    for i in range(0, len(data), 1024):
        got += decoder.feed(data[i : i + 1024])
        if not got:
            assert decoder.pending == min(i + 1024, len(data))
    decoder.close()
    assert len(got) == 1
    assert got[0].payload == payload


def test_custom_limits_are_inclusive() -> None:
    msg = Message({"a": "bc"}, b"x" * 10)
    data = encode(msg)
    hlen = len(data) - 16 - 10
    assert Decoder(max_payload_bytes=10, max_headers_bytes=hlen).feed(data) == [msg]
    with pytest.raises(InvalidLength):
        Decoder(max_payload_bytes=9).feed(data)
    with pytest.raises(InvalidLength):
        Decoder(max_headers_bytes=hlen - 1).feed(data)


def test_no_limits() -> None:
    data = encode(Message({"a": "b" * 200}, b"x" * 100))
    assert len(Decoder(max_payload_bytes=None, max_headers_bytes=None).feed(data)) == 1
    assert len(decode(data, max_payload_bytes=None, max_headers_bytes=None)) == 1
    with pytest.raises(InvalidLength):
        decode(data, max_payload_bytes=99)


def test_limit_error_arrives_before_the_body_is_buffered() -> None:
    decoder = Decoder(max_payload_bytes=100)
    head = prelude_only(16 + 1000, 0)
    for i in range(11):
        assert decoder.feed(head[i : i + 1]) == []
    with pytest.raises(InvalidLength):
        decoder.feed(head[11:12])


# -- X6: bodies that are not event streams --------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"message":"The security token included in the request is invalid."}',
        b'data: {"token": "hi"}\n\n',
        b"<html><body>502 Bad Gateway</body></html>",
        b'<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>',
    ],
)
def test_non_event_stream_bodies(body: bytes) -> None:
    with pytest.raises(ChecksumMismatch) as info:
        decode(body)
    assert info.value.part == "prelude"
    assert info.value.offset == 0


def test_short_non_event_stream_body_is_truncated() -> None:
    with pytest.raises(TruncatedStream):
        decode(b"{}")


# -- X5: exception and error frames decode as ordinary messages -----------------------------


def test_exception_and_error_frames_keep_their_headers() -> None:
    exc = Message(
        {":exception-type": "ModelStreamError", ":message-type": "exception"}, b'{"Message":"x"}'
    )
    err = Message({":error-code": "InternalFailure", ":message-type": "error"})
    got = decode(encode(exc) + encode(err))
    assert [m.headers[":message-type"] for m in got] == ["exception", "error"]
    assert got[0].payload == b'{"Message":"x"}'
    assert got[1].headers[":error-code"] == "InternalFailure"


# -- X8: strict header decoding -------------------------------------------------------------


def hdr(name: bytes, code: int, value: bytes = b"") -> bytes:
    return bytes([len(name)]) + name + bytes([code]) + value


def string_value(raw: bytes) -> bytes:
    return struct.pack(">H", len(raw)) + raw


@pytest.mark.parametrize(
    ("block", "name", "reason"),
    [
        (hdr(b"\xff\xfe", 7, string_value(b"v")), None, "name is not valid UTF-8"),
        (hdr(b"s", 7, string_value(b"\xc3\x28")), "s", "string value is not valid UTF-8"),
        (hdr(b"a", 7, string_value(b"1")) + hdr(b"a", 0), "a", "duplicate"),
        (hdr(b"u", 10), "u", "unknown value type 10"),
        (hdr(b"u", 255), "u", "unknown value type 255"),
        (b"\x05ab", None, "truncated"),
        (b"\x01a", None, "truncated"),
        (hdr(b"n", 4, b"\x00\x00"), "n", "needs 4 bytes"),
        (hdr(b"n", 5, b"\x00"), "n", "needs 8 bytes"),
        (hdr(b"n", 9, bytes(15)), "n", "needs 16 bytes"),
        (hdr(b"s", 7, b"\x00"), "s", "value length needs 2 bytes"),
        (hdr(b"s", 7, b"\x00\x05abc"), "s", "overruns"),
        (hdr(b"b", 6, b"\xff\xffabc"), "b", "exceeds the limit of 32767"),
        (hdr(b"t", 8, struct.pack(">q", 2**62)), "t", "outside the range"),
        (hdr(b"t", 8, struct.pack(">q", -(2**63))), "t", "outside the range"),
    ],
)
def test_invalid_headers(block: bytes, name: str | None, reason: str) -> None:
    data = part("first") + raw_frame(block, b"payload")
    decoder = Decoder()
    with pytest.raises(InvalidHeader) as info:
        decoder.feed(data)
        decoder.close()
    assert info.value.name == name
    assert reason in info.value.reason
    # The offset points inside the bad message's header block.
    start = len(part("first")) + 12
    assert start <= (info.value.offset or 0) < start + len(block)


def test_invalid_header_offset_is_the_header_position() -> None:
    block = hdr(b"ok", 0) + hdr(b"bad", 10)
    with pytest.raises(InvalidHeader) as info:
        decode(raw_frame(block))
    assert info.value.offset == 12 + len(hdr(b"ok", 0))


def test_invalid_header_message_start_is_bytes_consumed() -> None:
    good = part("first")
    block = hdr(b"ok", 0) + hdr(b"bad", 15)
    decoder = Decoder()
    decoder.feed(good)
    with pytest.raises(InvalidHeader) as info:
        decoder.feed(raw_frame(block))
    assert info.value.offset == len(good) + 12 + len(hdr(b"ok", 0))  # the header, not message
    assert decoder.bytes_consumed == len(good)  # the message's start


def test_empty_header_name_round_trips() -> None:
    msg = Message({"": "v"})
    assert decode(encode(msg)) == [msg]


# -- errors pickle ---------------------------------------------------------------------------


def collect_errors() -> list[EventStreamError]:
    errors: list[EventStreamError] = []
    bad_crc = bytearray(part("x"))
    bad_crc[-1] ^= 1
    for data in [
        bytes(bad_crc),
        prelude_only(8, 0),
        raw_frame(hdr(b"u", 10)),
        part("x")[:-3],
    ]:
        try:
            decode(data)
        except EventStreamError as exc:
            errors.append(exc)
    return errors


def test_every_error_kind_pickles_with_its_fields() -> None:
    errors = collect_errors()
    assert [type(e) for e in errors] == [
        ChecksumMismatch,
        InvalidLength,
        InvalidHeader,
        TruncatedStream,
    ]
    for exc in errors:
        again = pickle.loads(pickle.dumps(exc))
        assert type(again) is type(exc)
        assert str(again) == str(exc)
        assert again.__dict__ == exc.__dict__


def test_error_messages_say_what_and_where() -> None:
    crc, length, header, trunc = collect_errors()
    assert "0x" in str(crc)
    assert "offset 0" in str(crc)
    assert "total_length 8" in str(length)
    assert "'u'" in str(header)
    assert "received" in str(trunc)
