"""``ResponseReader.take_rest`` (the whole rest of a sized body at once, after the head)
against reading event by event: for any response cut anywhere, valid or broken, the same body
bytes, the same connection state afterwards and the same errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smruntime.exceptions import RemoteProtocolError
from smruntime.http import NEED_DATA, Data, EndOfMessage, Response

from .helpers import connection, pieces
from .test_http_differential import mutate, responses


def _drive(raw: bytes, cuts: list[int], method: str, *, take: bool) -> tuple[Any, ...]:
    """Feed ``raw`` cut at ``cuts`` (then the EOF); after each Response, if ``take``, try
    ``take_rest`` once. The body, how it ended and the connection's state."""
    conn = connection(method)
    reader = conn.reader
    assert reader is not None
    body: list[bytes] = []
    ended = "open"
    taken: Any = "not tried"
    try:
        for chunk in [*pieces(raw, cuts), b""]:
            conn.receive_data(chunk)
            while ended == "open":
                ev = conn.next_event()
                if ev is NEED_DATA:
                    break
                if isinstance(ev, Response):
                    if take:
                        taken = reader.take_rest()
                        if taken is not None:
                            assert type(taken) is bytes
                            body.append(taken)
                            ended = "end"
                elif isinstance(ev, Data):
                    body.append(ev.data)
                else:
                    assert isinstance(ev, EndOfMessage)
                    ended = "end"
            if ended != "open":
                break
    except RemoteProtocolError as exc:
        ended = f"error {exc} {exc.offset}"
    state = (conn.reusable, conn.extra_bytes, conn.bytes_received, conn.response_complete)
    return b"".join(body), ended, state


def _same(raw: bytes, cuts: list[int], method: str = "GET") -> None:
    taken = _drive(raw, cuts, method, take=True)
    assert taken == _drive(raw, cuts, method, take=False), (raw, cuts)


cut_lists = st.lists(st.integers(0, 400), max_size=4)


@given(spec=responses(), cuts=cut_lists, method=st.sampled_from(["GET", "HEAD"]))
def test_valid_responses(spec: dict[str, Any], cuts: list[int], method: str) -> None:
    _same(spec["raw"], cuts, method)


@given(data=st.data(), spec=responses(), cuts=cut_lists)
def test_mutated_responses(data: Any, spec: dict[str, Any], cuts: list[int]) -> None:
    _same(mutate(data, spec["raw"], b"\r\n :0a9\t,xX-H1T/"), cuts)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"


def _after_head(raw: bytes, method: str = "GET") -> Any:
    conn = connection(method)
    conn.receive_data(raw)
    assert isinstance(conn.next_event(), Response)
    reader = conn.reader
    assert reader is not None
    return conn, reader


def test_a_whole_sized_body_is_taken_and_the_message_is_complete() -> None:
    conn, reader = _after_head(OK + b"abc")
    assert reader.take_rest() == b"abc"
    assert conn.response_complete
    assert conn.reusable
    assert conn.extra_bytes == 0
    with pytest.raises(Exception, match="after EndOfMessage"):
        conn.next_event()


def test_bytes_after_the_body_are_counted_and_end_reuse() -> None:
    conn, reader = _after_head(OK + b"abcHTTP")
    assert reader.take_rest() == b"abc"
    assert conn.extra_bytes == 4
    assert not conn.reusable


def test_part_of_a_body_is_not_taken_until_the_rest_is_in() -> None:
    conn, reader = _after_head(OK + b"ab")
    assert reader.take_rest() is None
    assert not conn.response_complete
    ev = conn.next_event()
    assert isinstance(ev, Data)
    assert ev.data == b"ab"
    conn.receive_data(b"c")
    assert reader.take_rest() == b"c"  # the rest, whatever was handed out before
    assert conn.response_complete
    assert conn.reusable


def test_a_body_completed_across_reads_comes_as_bytes() -> None:
    conn = connection()
    conn.receive_data(OK)
    conn.receive_data(b"a")  # the buffer is now a bytearray holding "a"
    assert isinstance(conn.next_event(), Response)
    conn.receive_data(b"bc")
    reader = conn.reader
    assert reader is not None
    taken = reader.take_rest()
    assert taken == b"abc"
    assert type(taken) is bytes


@pytest.mark.parametrize(
    ("raw", "method"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "GET"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", "GET"),
        (OK, "HEAD"),
    ],
)
def test_no_body_left_is_an_empty_rest(raw: bytes, method: str) -> None:
    conn, reader = _after_head(raw, method)
    assert reader.take_rest() == b""
    assert conn.response_complete
    assert conn.reusable


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\nabc",  # delimited by the close
    ],
)
def test_other_bodies_are_not_taken(raw: bytes) -> None:
    conn, reader = _after_head(raw)
    assert reader.take_rest() is None
    assert not conn.response_complete
    assert conn.next_event() == Data(b"abc")
