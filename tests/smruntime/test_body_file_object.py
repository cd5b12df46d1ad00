"""StreamingBody (smruntime._body) in slots without io's __init__: the io wrappers
over it, readinto with views, readline limits, close, use after close, iteration after a
partial read, the cap, pickling."""

from __future__ import annotations

import array
import io
import pickle
import threading
from typing import Any

import pytest

from smruntime import StreamingBody
from smruntime.exceptions import BodyTooLargeError, ConnectionClosedError


class Pieces:
    """A source handing out ``pieces`` then the end; counts closes and aborts."""

    def __init__(self, *pieces: bytes, length: Any = None) -> None:
        self.headers: dict[str, str] = {} if length is None else {"content-length": str(length)}
        self.pieces = list(pieces)
        self.closes = 0
        self.aborts = 0
        self.reads = 0

    def read_some(self) -> bytes:
        self.reads += 1
        return self.pieces.pop(0) if self.pieces else b""

    def close(self) -> None:
        self.closes += 1

    def abort(self) -> None:
        self.aborts += 1


class Live(Pieces):
    """A source holding a lock, as a connection's response does."""

    def __init__(self) -> None:
        super().__init__(b"abc")
        self.lock = threading.Lock()


TEXT = b"first line\nsecond \xc3\xa9\nthird"


def body(*pieces: bytes, **kw: Any) -> StreamingBody:
    return StreamingBody(Pieces(*pieces), "text/plain", **kw)


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 3, 100])
def test_text_and_buffered_wrappers_read_the_body(size: int) -> None:
    text = io.TextIOWrapper(body(*split(TEXT, size)), encoding="utf-8")
    assert text.readline() == "first line\n"
    assert list(text) == ["second é\n", "third"]
    text.close()
    buffered = io.BufferedReader(body(*split(TEXT, size)), buffer_size=4)
    assert buffered.read(2) == b"fi"
    assert buffered.peek(1)[:1] == b"r"
    assert buffered.readline() == b"rst line\n"
    assert buffered.read1(3)  # one raw read at most
    assert buffered.read()
    assert buffered.read() == b""
    buffered.close()
    assert buffered.raw.closed


def test_readinto_takes_any_writable_buffer() -> None:
    b = body(b"abcdefgh", b"ij")
    ints = array.array("i", [0, 0])  # 8 bytes, not a byte format
    assert b.readinto(ints) == 8
    assert ints.tobytes() == b"abcdefgh"
    target = bytearray(10)
    view = memoryview(target)[3:]
    assert b.readinto(view) == 2  # one piece at most, no more
    assert target[3:5] == b"ij"
    assert b.readinto(bytearray(4)) == 0  # the end


def test_readline_limits_and_line_boundaries_across_pieces() -> None:
    b = body(b"ab", b"cd\nef", b"\n", b"gh")
    assert b.readline(0) == b""
    assert b.readline(3) == b"abc"
    assert b.readline(1) == b"d"
    assert b.readline(10) == b"\n"
    assert b.readline(None) == b"ef\n"
    assert b.readline(-5) == b"gh"
    assert b.readline() == b""
    assert b.tell() == 10


def test_close_twice_and_the_source_closed_once() -> None:
    source = Pieces(b"abc")
    b = StreamingBody(source)
    b.close()
    b.close()
    assert b.closed
    assert source.closes == 1
    with pytest.raises(ValueError, match="closed"):
        b.read(1)
    with pytest.raises(ValueError, match="closed"):
        b.readinto(bytearray(1))


def test_iteration_after_a_partial_read_goes_on_from_there() -> None:
    b = body(b"x" * 1500, b"y" * 600)
    assert b.read(100) == b"x" * 100
    chunks = list(b)
    assert b"".join(chunks) == b"x" * 1400 + b"y" * 600
    assert all(len(c) == 1024 for c in chunks[:-1])
    b = body(b"a\nb\nc")
    assert b.readline() == b"a\n"
    assert list(b.iter_lines()) == [b"b", b"c"]


@pytest.mark.parametrize("length", [None, 30])
def test_after_the_cap_is_passed_every_read_fails(length: Any) -> None:
    b = StreamingBody(Pieces(b"x" * 6, b"y" * 6, b"z" * 18, length=length), max_bytes=10)
    with pytest.raises(BodyTooLargeError):
        b.read()
    with pytest.raises((BodyTooLargeError, ValueError)):
        b.read()


@pytest.mark.parametrize("op", ["read1", "readline", "readall_at_end", "readinto_at_end"])
def test_every_read_after_close_is_refused(op: str) -> None:
    b = body(b"hello\nworld")
    if op.endswith("_at_end"):
        assert b.read() == b"hello\nworld"
    else:
        assert b.read(2) == b"he"  # the rest of the piece stays buffered
    b.close()
    with pytest.raises(ValueError, match="closed"):
        if op == "read1":
            b.read(1)
        elif op == "readline":
            b.readline()
        elif op == "readinto_at_end":
            b.readinto(bytearray(4))
        else:
            b.read()


def test_pickling_a_live_body_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match="StreamingBody"):
        pickle.dumps(StreamingBody(Live()))


def test_a_body_over_bytes_pickles_with_its_contents() -> None:
    copy = pickle.loads(pickle.dumps(StreamingBody(b"in memory")))
    assert copy.read() == b"in memory"


def test_readinto_a_read_only_buffer_loses_nothing() -> None:
    b = body(b"abcdef")
    with pytest.raises(TypeError):
        b.readinto(b"four")  # type: ignore[arg-type]
    assert b.read() == b"abcdef"


class CutAfter(Pieces):
    """``pieces``, then the connection closes (every later read raises)."""

    def read_some(self) -> bytes:
        if self.pieces:
            return super().read_some()
        self.reads += 1
        raise ConnectionClosedError("connection closed 10 bytes before the end of the body")


@pytest.mark.parametrize("size", [1, 3, 4, 7, 1024])
def test_a_cut_body_hands_over_every_byte_before_raising(size: int) -> None:
    data = bytes(range(10))
    b = StreamingBody(CutAfter(*split(data, 4)), "application/octet-stream")
    got = b""
    with pytest.raises(ConnectionClosedError, match="before the end"):
        for chunk in b.iter_chunks(size):
            got += chunk
    assert got == data  # a short read carried the last bytes; the cut came after them
    for _ in range(2):  # and it stays cut: never a quiet end
        with pytest.raises(ConnectionClosedError):
            b.read(size)
    b2 = StreamingBody(CutAfter(*split(data, 4)), "application/octet-stream")
    with pytest.raises(ConnectionClosedError):
        b2.read()  # all of it: the bytes are kept for a later read, the error raised now
    assert b2.read(100) == data


def test_botocore_names_next_and_set_socket_timeout() -> None:
    class Timed(Pieces):
        def __init__(self) -> None:
            super().__init__(b"a" * 1500)
            self.timeouts: list[Any] = []

        def set_read_timeout(self, seconds: Any) -> None:
            self.timeouts.append(seconds)

    source = Timed()
    b = StreamingBody(source, "text/plain")
    b.set_socket_timeout(2.5)
    b.set_socket_timeout(None)
    assert source.timeouts == [2.5, None]
    assert b.next() == b"a" * 1024  # as __next__: a chunk of 1 KiB
    assert next(b) == b"a" * 476
    StreamingBody(b"in memory").set_socket_timeout(1)  # nothing to time: ignored


def test_a_read_interrupted_inside_the_source_cuts_the_body_for_good() -> None:
    class Interrupted(Pieces):
        def read_some(self) -> bytes:
            if self.reads == 1:
                self.reads += 1
                raise KeyboardInterrupt  # as a Ctrl-C just after recv: that read's bytes lost
            return super().read_some()

    source = Interrupted(b"AAAA", b"CCCC", b"DDDD")
    b = StreamingBody(source, "application/octet-stream")
    assert b.read(4) == b"AAAA"
    with pytest.raises(KeyboardInterrupt):
        b.read(4)
    assert source.aborts == 1
    for _ in range(2):  # never the rest with a hole in it
        with pytest.raises(ConnectionClosedError, match=r"interrupted \(KeyboardInterrupt\)"):
            b.read()


def test_a_cut_body_read_by_lines_loses_nothing() -> None:
    data = b"line1\nline2\npart"
    b = StreamingBody(CutAfter(*split(data, 4)), "text/plain")
    assert [b.readline(), b.readline(), b.readline()] == [b"line1\n", b"line2\n", b"part"]
    with pytest.raises(ConnectionClosedError):  # the last line was short: the cut comes next
        b.readline()
    b = StreamingBody(CutAfter(*split(data, 4)), "text/plain")
    with pytest.raises(ConnectionClosedError):
        b.readlines()  # never a short list taken for the whole body
    assert b.tell() == 0
    assert b.read(100) == data  # the lines it had taken are still there
    with pytest.raises(ConnectionClosedError):
        b.read(1)
