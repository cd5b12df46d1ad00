"""How ``smruntime duplex`` cuts its input into parts: a file one part ahead (its last part
COMPLETE), a pipe or terminal as its bytes arrive (never held back waiting for the next read)."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path
from typing import Any, Optional

import pytest

from smruntime.cli._duplex import input_parts, is_live
from smruntime.cli._errors import CLIError


def parts(source: Any, size: int = 4, **kwargs: Any) -> list[tuple[bytes, str]]:
    return [
        (e["PayloadPart"]["Bytes"], e["PayloadPart"]["CompletionState"])
        for e in input_parts(source, size, None, None, **kwargs)
    ]


class Gate:
    """A live source whose reads return only what the test releases, one read per release."""

    def __init__(self) -> None:
        self._items: list[Optional[bytes]] = []
        self._cv = threading.Condition()

    def release(self, data: bytes) -> None:
        with self._cv:
            self._items.append(data)
            self._cv.notify()

    def read1(self, size: int) -> bytes:
        with self._cv:
            self._cv.wait_for(lambda: self._items)
            data = self._items.pop(0)
        assert data is not None
        assert len(data) <= size
        return data


def test_a_file_is_cut_in_parts_of_part_size_the_last_complete(tmp_path: Path) -> None:
    path = tmp_path / "in.bin"
    path.write_bytes(b"abcdefghij")
    with path.open("rb") as f:
        assert not is_live(f)
        assert parts(f) == [(b"abcd", "PARTIAL"), (b"efgh", "PARTIAL"), (b"ij", "COMPLETE")]
    path.write_bytes(b"abcdefgh")  # a last part of exactly part-size
    with path.open("rb") as f:
        assert parts(f) == [(b"abcd", "PARTIAL"), (b"efgh", "COMPLETE")]
    path.write_bytes(b"")
    with path.open("rb") as f:
        assert parts(f) == []


def test_a_pipe_is_live_and_a_bytesio_is_not() -> None:
    r, w = os.pipe()
    with os.fdopen(r, "rb") as reader, os.fdopen(w, "wb"):
        assert is_live(reader)
    assert not is_live(io.BytesIO(b"x"))  # no file descriptor: read as a file


def test_a_live_part_is_sent_before_the_next_bytes_come() -> None:
    gate = Gate()
    events = input_parts(gate, 8192, "BINARY", None, live=True)
    gate.release(b"first")
    started = time.monotonic()
    first = next(events)  # sent although nothing follows yet: not held until the next read
    assert time.monotonic() - started < 5
    assert first == {
        "PayloadPart": {"Bytes": b"first", "CompletionState": "PARTIAL", "DataType": "BINARY"}
    }
    gate.release(b"second")
    gate.release(b"")  # the input ends right after: that part is COMPLETE
    assert next(events)["PayloadPart"] == {
        "Bytes": b"second",
        "CompletionState": "COMPLETE",
        "DataType": "BINARY",
    }
    assert list(events) == []


def test_a_live_input_that_ends_after_a_pause_sends_an_empty_complete_part() -> None:
    gate = Gate()
    events = input_parts(gate, 8192, None, None, live=True)
    gate.release(b"only")
    assert next(events)["PayloadPart"] == {"Bytes": b"only", "CompletionState": "PARTIAL"}
    gate.release(b"")
    assert next(events)["PayloadPart"] == {"Bytes": b"", "CompletionState": "COMPLETE"}
    assert list(events) == []


def test_an_empty_live_input_sends_no_part() -> None:
    gate = Gate()
    gate.release(b"")
    assert parts(gate, live=True) == []


def test_a_live_input_that_fails_to_read_is_a_cli_error() -> None:
    class Broken:
        def read1(self, size: int) -> bytes:
            raise OSError(5, "Input/output error")

    with pytest.raises(CLIError, match=r"cannot read the input: .*Input/output error"):
        parts(Broken(), live=True)


def test_a_pipe_written_at_once_keeps_every_byte_in_order() -> None:
    data = bytes(range(256)) * 400  # 100 KiB
    r, w = os.pipe()

    def write() -> None:
        with os.fdopen(w, "wb") as writer:
            for i in range(0, len(data), 3000):
                writer.write(data[i : i + 3000])
                writer.flush()

    writer = threading.Thread(target=write)
    writer.start()
    with os.fdopen(r, "rb") as reader:
        got = parts(reader, 8192)
    writer.join()
    assert b"".join(chunk for chunk, _ in got) == data
    assert all(0 < len(chunk) <= 8192 for chunk, _ in got[:-1])
    assert [state for _, state in got[:-1]] == ["PARTIAL"] * (len(got) - 1)
    assert got[-1][1] == "COMPLETE"
