"""Golden vectors: aws-sdk-go test data and the SageMaker frames of test-vectors.json."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from eventstream import (
    ChecksumMismatch,
    Decoder,
    Int8,
    Int16,
    Int64,
    Message,
    decode,
    encode,
)
from eventstream._headers import header_type

DATA = Path(__file__).parent.parent / "data"
GO = DATA / "vectors" / "eventstream" / "aws-sdk-go"
POSITIVE = sorted(p.name for p in (GO / "encoded" / "positive").iterdir())
NEGATIVE = sorted(p.name for p in (GO / "encoded" / "negative").iterdir())
SAGEMAKER = json.loads((DATA / "spec" / "sagemaker-runtime" / "test-vectors.json").read_text())[
    "eventstream"
]
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def expected_value(type_code: int, value: Any) -> Any:
    if type_code in (0, 1):
        return value
    if type_code == 2:
        return Int8(value)
    if type_code == 3:
        return Int16(value)
    if type_code == 4:
        return value
    if type_code == 5:
        return Int64(value)
    raw = base64.b64decode(value) if type_code in (6, 7, 9) else None
    if type_code == 6:
        return raw
    if type_code == 7:
        assert raw is not None
        return raw.decode("utf-8")
    if type_code == 8:
        return EPOCH + timedelta(milliseconds=value)
    assert raw is not None
    return uuid.UUID(bytes=raw)


def test_vector_sets_are_present() -> None:
    assert len(POSITIVE) == 5
    assert len(NEGATIVE) == 4


@pytest.mark.parametrize("name", POSITIVE)
def test_positive_vector_decodes_to_expected(name: str) -> None:
    data = (GO / "encoded" / "positive" / name).read_bytes()
    want = json.loads((GO / "decoded" / "positive" / name).read_text())
    frames = Decoder().feed_frames(data)
    assert len(frames) == 1
    frame = frames[0]
    assert frame.offset == 0
    assert frame.total_length == want["total_length"] == len(data)
    assert frame.headers_length == want["headers_length"]
    assert frame.prelude_crc == want["prelude_crc"] & 0xFFFFFFFF
    assert frame.message_crc == want["message_crc"] & 0xFFFFFFFF
    msg = frame.message
    assert msg.payload == base64.b64decode(want["payload"])
    assert list(msg.headers) == [h["name"] for h in want["headers"]]
    for h in want["headers"]:
        got = msg.headers[h["name"]]
        assert header_type(got) == h["type"], h["name"]
        assert got == expected_value(h["type"], h["value"]), h["name"]
        assert type(got) is type(expected_value(h["type"], h["value"]))


@pytest.mark.parametrize("name", POSITIVE)
def test_positive_vector_reencodes_byte_identically(name: str) -> None:
    data = (GO / "encoded" / "positive" / name).read_bytes()
    (msg,) = decode(data)
    assert encode(msg) == data
    # Rebuilding from plain values (not the decoded objects) gives the same bytes too.
    assert encode(Message(list(msg.headers.items()), bytearray(msg.payload))) == data


@pytest.mark.parametrize("name", NEGATIVE)
def test_negative_vector_raises_the_named_error(name: str) -> None:
    data = (GO / "encoded" / "negative" / name).read_bytes()
    words = (GO / "decoded" / "negative" / name).read_text().strip()
    part = {"Prelude checksum mismatch": "prelude", "Message checksum mismatch": "message"}[words]
    with pytest.raises(ChecksumMismatch) as info:
        decode(data)
    assert info.value.part == part
    assert info.value.offset == 0
    assert info.value.expected != info.value.found


@pytest.mark.parametrize("name", NEGATIVE)
def test_negative_vector_raises_whatever_the_chunking(name: str) -> None:
    data = (GO / "encoded" / "negative" / name).read_bytes()
    decoder = Decoder()
    with pytest.raises(ChecksumMismatch):
        for i in range(len(data)):
            assert decoder.feed(data[i : i + 1]) == []
        decoder.close()


@pytest.mark.parametrize("vector", SAGEMAKER, ids=[v["name"] for v in SAGEMAKER])
def test_sagemaker_frame(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["hex"])
    assert len(data) == vector["total_length"]
    decoder = Decoder()
    got = []
    for i in range(0, len(data), 7):  # the chunking botocore was fed when the vector was made
        got += decoder.feed(data[i : i + 7])
    decoder.close()
    assert len(got) == 1
    msg = got[0]
    assert dict(msg.headers) == vector["headers"]
    assert list(msg.headers) == list(vector["headers"])
    assert msg.payload == vector["payload_utf8"].encode("utf-8")
    assert encode(msg) == data


def test_sagemaker_frames_as_one_stream() -> None:
    frames = [bytes.fromhex(v["hex"]) for v in SAGEMAKER]
    stream = b"".join(frames)
    got = Decoder().feed_frames(stream)
    assert [f.offset for f in got] == [sum(len(f) for f in frames[:i]) for i in range(len(frames))]
    assert [encode(f.message) for f in got] == frames


def test_payload_part_prelude_matches_notes() -> None:
    data = bytes.fromhex(SAGEMAKER[0]["hex"])
    (frame,) = Decoder().feed_frames(data)
    assert (frame.total_length, frame.headers_length) == (0x77, 0x59)
    assert frame.prelude_crc == 0x3C670AE6
    assert frame.message_crc == 0xE362EC31
