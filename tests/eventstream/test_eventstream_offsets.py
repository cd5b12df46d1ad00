"""Error locations whatever the chunking: every error's offset is a position in the whole stream.

Each stream here is short, so it is fed cut at every byte boundary (two pieces), cut at every
pair of boundaries (three pieces) and one byte at a time: the messages delivered and the error
(class, fields, offset) must be the same every time.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import pytest

from eventstream import (
    ChecksumMismatch,
    Decoder,
    EventStreamError,
    InvalidHeader,
    InvalidLength,
    Message,
    TruncatedStream,
    encode,
)

HEADERS = {":event-type": "PayloadPart", ":message-type": "event"}


def part(text: str) -> bytes:
    return encode(Message(HEADERS, text.encode()))


def raw_frame(block: bytes, payload: bytes = b"") -> bytes:
    prelude = struct.pack(">II", 16 + len(block) + len(payload), len(block))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + block + payload
    return body + struct.pack(">I", zlib.crc32(body))


def prelude_only(total: int, hlen: int) -> bytes:
    head = struct.pack(">II", total, hlen)
    return head + struct.pack(">I", zlib.crc32(head))


GOOD = part("a") + part("bb")  # two messages before the fault: the fault is not at offset 0
FAULT_AT = len(GOOD)


def cuts(data: bytes, *, three_pieces: bool = True) -> Iterator[list[bytes]]:
    """``data`` in two pieces at every boundary, byte by byte, and in three at every pair of
    boundaries from the last byte of the good messages on (the faulty frame cut twice)."""
    n = len(data)
    for i in range(1, n):
        yield [data[:i], data[i:]]
    if three_pieces:
        for i in range(min(FAULT_AT - 1, n - 2), n - 1):
            for j in range(i + 1, n):
                yield [data[:i], data[i:j], data[j:]]
    yield [data[i : i + 1] for i in range(n)]


def run(pieces: list[bytes], **limits: int) -> tuple[list[bytes], EventStreamError | None, int]:
    """Feed ``pieces`` then close: (payloads delivered, error raised, bytes_consumed)."""
    decoder = Decoder(**limits)  # type: ignore[arg-type]
    got: list[bytes] = []
    try:
        for piece in pieces:
            got += [m.payload for m in decoder.feed(piece)]
        decoder.close()
    except EventStreamError as exc:
        return got, exc, decoder.bytes_consumed
    return got, None, decoder.bytes_consumed


def flipped(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def assert_same_everywhere(data: bytes, check: object, **limits: int) -> None:
    for pieces in cuts(data):
        got, error, consumed = run(pieces, **limits)
        assert got == [b"a", b"bb"], [len(p) for p in pieces]
        assert error is not None, [len(p) for p in pieces]
        assert consumed == FAULT_AT, [len(p) for p in pieces]
        check(error)  # type: ignore[operator]


def test_prelude_crc_error_offset_in_every_chunking() -> None:
    data = GOOD + flipped(part("ccc"), 2)

    def check(error: EventStreamError) -> None:
        assert isinstance(error, ChecksumMismatch)
        assert (error.part, error.offset) == ("prelude", FAULT_AT)
        assert f"offset {FAULT_AT}" in str(error)

    assert_same_everywhere(data, check)


def test_message_crc_error_offset_in_every_chunking() -> None:
    data = GOOD + flipped(part("ccc"), -6)

    def check(error: EventStreamError) -> None:
        assert isinstance(error, ChecksumMismatch)
        assert (error.part, error.offset) == ("message", FAULT_AT)

    assert_same_everywhere(data, check)


@pytest.mark.parametrize(
    ("prelude", "field", "value", "limit"),
    [
        (prelude_only(15, 0), "total_length", 15, 16),
        (prelude_only(0, 0), "total_length", 0, 16),
        (prelude_only(20, 5), "headers_length", 5, 4),
        (prelude_only(16, 1), "headers_length", 1, 0),
    ],
)
def test_length_error_offset_in_every_chunking(
    prelude: bytes, field: str, value: int, limit: int
) -> None:
    def check(error: EventStreamError) -> None:
        assert isinstance(error, InvalidLength)
        assert (error.field, error.value, error.limit, error.offset) == (
            field,
            value,
            limit,
            FAULT_AT,
        )

    assert_same_everywhere(GOOD + prelude, check)


def test_payload_limit_error_offset_in_every_chunking() -> None:
    data = GOOD + part("ccc")

    def check(error: EventStreamError) -> None:
        assert isinstance(error, InvalidLength)
        assert (error.field, error.value, error.limit, error.offset) == (
            "payload_length",
            3,
            2,
            FAULT_AT,
        )

    assert_same_everywhere(data, check, max_payload_bytes=2)


def test_headers_limit_error_offset_in_every_chunking() -> None:
    block = encode(Message(HEADERS))[12:-4]
    data = GOOD + encode(Message({**HEADERS, "x": "y"}, b"c"))

    def check(error: EventStreamError) -> None:
        assert isinstance(error, InvalidLength)
        assert error.field == "headers_length"
        assert (error.limit, error.offset) == (len(block), FAULT_AT)

    assert_same_everywhere(data, check, max_headers_bytes=len(block))


def test_invalid_header_offset_in_every_chunking() -> None:
    ok = bytes([2]) + b"ok" + bytes([0])  # a bool header
    data = GOOD + raw_frame(ok + bytes([3]) + b"bad" + bytes([10]), b"p")

    def check(error: EventStreamError) -> None:
        assert isinstance(error, InvalidHeader)
        assert error.name == "bad"
        assert error.offset == FAULT_AT + 12 + len(ok)

    assert_same_everywhere(data, check)


def _named(code: int, rest: bytes) -> bytes:
    return bytes([1]) + b"s" + bytes([code]) + rest


@pytest.mark.parametrize(
    ("bad", "name", "words"),
    [
        (bytes([200]) + b"xy", None, "name of 200 bytes"),
        (bytes([2]) + b"\xff\xfe" + bytes([0]), None, "not valid UTF-8"),
        (_named(7, b"\x00"), "s", "value length needs 2 bytes, the headers block has 1 left"),
        (_named(7, b"\x80\x00"), "s", "value length 32768 exceeds the limit"),
        (_named(6, b"\x00\x05ab"), "s", "value length 5 overruns the headers block (2 bytes"),
        (_named(7, b"\x00\x02\xff\xfe"), "s", "string value is not valid UTF-8"),
        (_named(4, b"\x00\x01"), "s", "a integer value needs 4 bytes, the headers block has 2"),
        (_named(8, b"\x7f" + b"\xff" * 7), "s", "outside the range a datetime can hold"),
        (_named(0, b""), "s", "duplicate header name"),
    ],
)
def test_header_error_offset_after_a_good_header_in_every_chunking(
    bad: bytes, name: str | None, words: str
) -> None:
    # a good header first (named "s" too, for the duplicate): the fault is not at the block start
    ok = bytes([1]) + b"s" + bytes([0])
    data = GOOD + raw_frame(ok + bad, b"p")

    def check(error: EventStreamError) -> None:
        assert isinstance(error, InvalidHeader)
        assert error.name == name
        assert error.offset == FAULT_AT + 12 + len(ok)
        assert words in str(error)

    assert_same_everywhere(data, check)


def test_truncation_offset_in_every_chunking() -> None:
    cut = part("ccc")
    for keep, needed in ((1, None), (11, None), (12, len(cut)), (len(cut) - 1, len(cut))):

        def check(error: EventStreamError, keep: int = keep, needed: object = needed) -> None:
            assert isinstance(error, TruncatedStream)
            assert (error.offset, error.pending, error.needed) == (FAULT_AT, keep, needed)

        assert_same_everywhere(GOOD + cut[:keep], check)


def test_frame_offsets_in_every_chunking() -> None:
    data = GOOD + part("ccc")
    expected = [0, len(part("a")), FAULT_AT]
    for pieces in cuts(data, three_pieces=False):
        decoder = Decoder()
        offsets = [f.offset for piece in pieces for f in decoder.feed_frames(piece)]
        assert offsets == expected
        assert decoder.bytes_consumed == len(data)


# -- limits at their boundary ---------------------------------------------------------------


def test_zero_payload_limit_accepts_empty_payloads_only() -> None:
    empty = encode(Message(HEADERS))
    assert len(Decoder(max_payload_bytes=0).feed(empty * 2)) == 2
    with pytest.raises(InvalidLength) as info:
        Decoder(max_payload_bytes=0).feed(empty + part("x"))
        Decoder(max_payload_bytes=0).feed(part("x"))
    assert (info.value.field, info.value.value, info.value.limit) == ("payload_length", 1, 0)


def test_zero_headers_limit_accepts_header_free_messages_only() -> None:
    bare = encode(Message({}, b"p"))
    assert [m.payload for m in Decoder(max_headers_bytes=0).feed(bare)] == [b"p"]
    with pytest.raises(InvalidLength) as info:
        Decoder(max_headers_bytes=0).feed(part("x"))
    assert (info.value.field, info.value.limit) == ("headers_length", 0)


def test_smallest_message_is_accepted() -> None:
    data = raw_frame(b"")
    assert len(data) == 16
    assert Decoder(max_payload_bytes=0, max_headers_bytes=0).feed(data) == [Message()]


# -- the shared header-block cache stays bounded ----------------------------------------------


def _block_of(size: int, tag: int) -> bytes:
    """A valid header block of exactly ``size`` bytes (one string header), unique per ``tag``."""
    name = b"h%05d" % tag
    value = b"v" * (size - 1 - len(name) - 1 - 2)
    return bytes([len(name)]) + name + b"\x07" + struct.pack(">H", len(value)) + value


def test_header_cache_holds_small_blocks_only() -> None:
    from eventstream import _decoder

    limit = _decoder._HEADER_CACHE_MAX_BLOCK
    _decoder._HEADER_CACHE.clear()
    at_limit, over = _block_of(limit, 1), _block_of(limit + 1, 2)
    Decoder().feed(raw_frame(at_limit) + raw_frame(over))
    assert at_limit in _decoder._HEADER_CACHE
    assert over not in _decoder._HEADER_CACHE


def test_header_cache_never_grows_past_its_bound() -> None:
    from eventstream import _decoder

    bound = _decoder._HEADER_CACHE_MAX_ENTRIES
    _decoder._HEADER_CACHE.clear()
    decoder = Decoder()
    sizes = []
    for tag in range(bound + 10):
        decoder.feed(raw_frame(_block_of(20, tag)))
        sizes.append(len(_decoder._HEADER_CACHE))
    assert max(sizes) == bound
    assert sizes[bound] == 1  # full: cleared, then the new block stored


@pytest.mark.parametrize(
    ("block", "says"),
    [
        (b"\x05ab", "name of 5 bytes and its type need 6 bytes, the headers block has 2 left"),
        (b"\x01s\x07\x00", "value length needs 2 bytes, the headers block has 1 left"),
        (b"\x01n\x04\x00\x00", "a integer value needs 4 bytes, the headers block has 2 left"),
    ],
)
def test_truncated_header_errors_count_the_bytes_left(block: bytes, says: str) -> None:
    with pytest.raises(InvalidHeader) as info:
        Decoder().feed(raw_frame(block))
    assert says in str(info.value)


def test_message_repr_shows_64_payload_bytes() -> None:
    assert repr(b"p" * 64) + " (64 bytes)" in repr(Message({}, b"p" * 64))
    assert repr(b"p" * 64) + "... (65 bytes)" in repr(Message({}, b"p" * 65))
