"""Property tests: round trips, chunking, bit flips, arbitrary bytes, and the two oracles
(botocore's EventStreamBuffer and crcmod's CRC-32)."""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from eventstream import (
    Decoder,
    EncodeError,
    EventStreamError,
    Int8,
    Int16,
    Int64,
    Message,
    decode,
    describe,
    encode,
    encode_frame,
    message_crc,
)

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

timestamps = st.integers(
    min_value=(datetime(1, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1),
    max_value=(datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - EPOCH)
    // timedelta(milliseconds=1),
).map(lambda ms: EPOCH + timedelta(milliseconds=ms))

header_values = st.one_of(
    st.booleans(),
    st.integers(-(2**7), 2**7 - 1).map(Int8),
    st.integers(-(2**15), 2**15 - 1).map(Int16),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1).map(Int64),
    st.binary(max_size=40),
    st.text(max_size=40),
    timestamps,
    st.uuids(),
)
header_names = st.text(max_size=16)
headers_st = st.lists(st.tuples(header_names, header_values), max_size=8, unique_by=lambda p: p[0])
messages = st.builds(Message, headers_st, st.binary(max_size=300))
streams = st.lists(messages, max_size=8)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def feed_all(chunks: list[bytes], decoder: Decoder | None = None) -> list[Message]:
    decoder = decoder or Decoder()
    out: list[Message] = []
    for chunk in chunks:
        out += decoder.feed(chunk)
    decoder.close()
    return out


# -- round trips -----------------------------------------------------------------------------


@given(messages)
def test_round_trip_message(msg: Message) -> None:
    data = encode(msg)
    (out,) = decode(data)
    assert out == msg
    assert encode(out) == data


@given(streams, st.lists(st.integers(min_value=0), max_size=30))
def test_any_chunking_gives_the_same_messages(msgs: list[Message], cuts: list[int]) -> None:
    data = b"".join(encode(m) for m in msgs)
    assert feed_all(split(data, cuts)) == msgs


@given(streams)
def test_frame_offsets_are_cumulative(msgs: list[Message]) -> None:
    encoded = [encode(m) for m in msgs]
    frames = Decoder().feed_frames(b"".join(encoded))
    offset = 0
    for frame, raw in zip(frames, encoded):
        assert frame.offset == offset
        assert frame.total_length == len(raw)
        offset += len(raw)
    assert len(frames) == len(msgs)


@given(st.binary(max_size=300), st.lists(st.integers(min_value=0), max_size=10))
def test_valid_crc_frames_with_arbitrary_header_bytes(block: bytes, cuts: list[int]) -> None:
    """Garbage behind correct CRCs reaches the header parser: it errors cleanly or decodes a
    message that re-encodes to the very same bytes."""
    prelude = struct.pack(">II", 16 + len(block) + 3, len(block))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + block + b"pay"
    data = body + struct.pack(">I", zlib.crc32(body))
    try:
        got = feed_all(split(data, cuts))
    except EventStreamError:
        return
    assert len(got) == 1
    assert encode(got[0]) == data


# -- corruption ------------------------------------------------------------------------------


def assert_every_bit_flip_detected(data: bytes, expected: list[Message]) -> None:
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        decoder = Decoder()
        got: list[Message] = []
        with pytest.raises(EventStreamError):
            got += decoder.feed(bytes(flipped))
            decoder.close()
        # Whatever came out before the error is an exact prefix of the true messages.
        assert got == expected[: len(got)]


@given(messages)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_single_bit_flip_is_detected(msg: Message) -> None:
    data = encode(msg)
    assume(len(data) <= 400)
    assert_every_bit_flip_detected(data, [msg])


def test_every_single_bit_flip_in_a_two_message_stream_is_detected() -> None:
    msgs = [
        Message({":event-type": "PayloadPart", ":message-type": "event"}, b'{"token":"Hi"}'),
        Message({"ts": EPOCH, "u": uuid.UUID(int=7), "n": Int64(-1)}, b""),
    ]
    assert_every_bit_flip_detected(b"".join(encode(m) for m in msgs), msgs)


@given(st.binary(max_size=600), st.lists(st.integers(min_value=0), max_size=20))
def test_arbitrary_bytes_raise_only_event_stream_errors(data: bytes, cuts: list[int]) -> None:
    try:
        got = feed_all(split(data, cuts))
    except EventStreamError:
        return
    assert b"".join(encode(m) for m in got) == data


@given(streams, st.binary(min_size=1, max_size=40), st.integers(min_value=0))
def test_garbage_inserted_into_a_stream(msgs: list[Message], junk: bytes, where: int) -> None:
    data = b"".join(encode(m) for m in msgs)
    at = where % (len(data) + 1)
    corrupted = data[:at] + junk + data[at:]
    try:
        got = decode(corrupted)
    except EventStreamError:
        return
    assert b"".join(encode(m) for m in got) == corrupted


# -- describe ---------------------------------------------------------------------------------


@given(streams)
def test_describe_agrees_with_the_decoder(msgs: list[Message]) -> None:
    data = b"".join(encode(m) for m in msgs)
    infos = describe(data)
    assert len(infos) == len(msgs)
    for info, msg in zip(infos, msgs):
        assert info.error is None
        assert [(n, v) for n, _, v in info.headers] == list(msg.headers.items())
        assert info.payload_length == len(msg.payload)
        assert info.to_dict()["error"] is None


@given(st.binary(max_size=600))
def test_describe_never_raises(data: bytes) -> None:
    infos = describe(data)
    for info in infos:
        info.format()
        info.to_dict()
    if data:
        assert infos


# -- oracles ---------------------------------------------------------------------------------


def botocore_view(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value - EPOCH) // timedelta(milliseconds=1)
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    return value


def botocore_decode(chunks: list[bytes]) -> list[tuple[dict[str, Any], bytes]]:
    eventstream = pytest.importorskip("botocore.eventstream")
    buffer = eventstream.EventStreamBuffer()
    out = []
    for chunk in chunks:
        buffer.add_data(chunk)
        out += [(m.headers, m.payload) for m in buffer]
    return out


@given(streams, st.lists(st.integers(min_value=0), max_size=20))
def test_differential_against_botocore(msgs: list[Message], cuts: list[int]) -> None:
    chunks = split(b"".join(encode(m) for m in msgs), cuts)
    ours = [
        ({k: botocore_view(v) for k, v in m.headers.items()}, m.payload) for m in feed_all(chunks)
    ]
    assert ours == botocore_decode(chunks)


@given(streams, st.integers(min_value=0))
def test_botocore_reads_what_we_write_and_both_reject_a_flip(msgs: list[Message], bit: int) -> None:
    assume(msgs)
    data = bytearray(b"".join(encode(m) for m in msgs))
    bit %= len(data) * 8
    data[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(EventStreamError):
        decode(bytes(data))
    botocore_failed = False
    try:
        botocore_decode([bytes(data)])
    except Exception:  # noqa: BLE001 - botocore raises its own ParserError tree
        botocore_failed = True
    # botocore silently waits on a prelude whose (corrupted) length runs past the data.
    if not botocore_failed:
        assert len(botocore_decode([bytes(data)])) < len(msgs)


@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=2**32 - 1))
def test_zlib_crc32_equals_crcmod_crc32(data: bytes, start: int) -> None:
    crcmod_predefined = pytest.importorskip("crcmod.predefined")
    crc = crcmod_predefined.mkCrcFun("crc-32")
    assert zlib.crc32(data) == crc(data)
    half = len(data) // 2
    assert zlib.crc32(data[half:], zlib.crc32(data[:half])) == crc(data)


@given(messages)
def test_frame_crcs_match_crcmod(msg: Message) -> None:
    crcmod_predefined = pytest.importorskip("crcmod.predefined")
    crc = crcmod_predefined.mkCrcFun("crc-32")
    data = encode(msg)
    (frame,) = Decoder().feed_frames(data)
    assert frame.prelude_crc == crc(data[:8])
    assert frame.message_crc == crc(data[:-4])


@given(messages)
def test_encode_frame_around_an_encoded_block_is_encode(msg: Message) -> None:
    from eventstream._headers import encode_headers

    block = encode_headers(msg.headers)
    assert encode_frame(block, msg.payload) == encode(msg)
    assert encode_frame(block, bytearray(msg.payload)) == encode(msg)
    assert encode_frame(block, memoryview(msg.payload)) == encode(msg)


@settings(max_examples=50, deadline=None)
@given(
    messages,
    st.one_of(st.integers(0, 64), st.integers(8150, 8250), st.integers(60000, 70000)),
    st.binary(max_size=40),
)
def test_a_frame_around_a_message_is_the_same_frame(msg: Message, size: int, block: bytes) -> None:
    """A frame around an encoded message, its CRC combined from the message's own, is the
    frame made by reading it; from the threshold of the shortcut on, and below."""
    inner = encode(Message(msg.headers, bytes(range(256)) * (size // 256) + b"p" * (size % 256)))
    assert message_crc(inner) == zlib.crc32(inner)
    assert encode_frame(block, inner, True) == encode_frame(block, inner)
    assert encode_frame(block, memoryview(inner), True) == encode_frame(block, inner)
    assert message_crc(b"") == zlib.crc32(b"") == 0


def test_crc_combine_on_its_edges() -> None:
    from eventstream import _encoder

    for a, b in [(b"", b""), (b"a", b""), (b"", b"b"), (b"\xff" * 3, b"\x00" * 9000)]:
        combined = _encoder._crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b))
        assert combined == zlib.crc32(a + b)
    assert _encoder._X2N[0] == 1 << 30  # x^1
    # the CRC of a payload said to be a message is taken from its last four bytes: not a
    # message, a wrong frame, as from 8 KiB (shorter payloads are read)
    big = b"z" * 8192
    assert encode_frame(b"", big, True) != encode_frame(b"", big)
    assert encode_frame(b"", big[:-1], True) == encode_frame(b"", big[:-1])


def test_encode_frame_refuses_a_frame_over_4_gib() -> None:
    class Huge(bytes):
        def __len__(self) -> int:
            return 0xFFFFFFFF - 16

    with pytest.raises(EncodeError, match="4294967296 bytes does not fit"):
        encode_frame(b"\0", Huge())
    # one byte less fits the length check (the CRC then runs over the real, short bytes)
    assert encode_frame(b"", Huge())[:4] == b"\xff\xff\xff\xff"
