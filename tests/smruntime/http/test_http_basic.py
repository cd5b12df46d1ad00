from __future__ import annotations

import pytest

from smruntime.exceptions import LocalProtocolError, RemoteProtocolError, TransportError
from smruntime.http import NEED_DATA, ClientConnection, Data, EndOfMessage, Response

from .helpers import connection, events, parse, splits, summary

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n"
)


def test_send_request_serialises_head_and_small_body() -> None:
    conn = ClientConnection()
    out = conn.send_request("POST", "/invocations", [("Host", "h"), ("X-A", "1")], b"{}")
    assert out == b"POST /invocations HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nContent-Length: 2\r\n\r\n{}"
    assert conn.body_separate is False


def test_content_length_body_at_every_split() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    for cuts in splits(raw):
        conn, evs = parse(raw, cuts, eof=False)
        resp, body, trailers = summary(evs)
        assert (resp.status, resp.reason, resp.headers) == (200, "OK", [("Content-Length", "5")])
        assert (body, trailers) == (b"hello", [])
        assert conn.reusable


def test_chunked_body_coalesced_with_trailers_at_every_split() -> None:
    for cuts in splits(CHUNKED):
        conn, evs = parse(CHUNKED, cuts, eof=False)
        resp, body, trailers = summary(evs)
        assert resp.headers[1] == ("Transfer-Encoding", "chunked")
        assert body == b"hello world"
        assert trailers == [("X-Trailer", "yes")]
        assert conn.reusable


def test_one_data_event_per_read_for_many_chunks() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"".join(b"3\r\nabc\r\n" for _ in range(100))
    conn = connection()
    conn.receive_data(head + body)
    assert isinstance(conn.next_event(), Response)
    ev = conn.next_event()
    assert ev == Data(b"abc" * 100)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"0\r\n\r\n")
    assert conn.next_event() == EndOfMessage([])


def test_close_delimited_body_ends_at_eof_and_is_not_reusable() -> None:
    conn, evs = parse(b"HTTP/1.0 200 OK\r\n\r\nsome body")
    resp, body, _ = summary(evs)
    assert (resp.http_version, body) == ("1.0", b"some body")
    assert not conn.reusable


def test_incomplete_content_length_body_is_an_error() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", [20, 39])
    assert str(info.value) == (
        "connection closed 2 bytes before the end of the body (Content-Length 5, received 3) "
        "(at byte 41 of the response)"
    )
    assert info.value.offset == 41
    assert isinstance(info.value, TransportError)


def test_misuse_is_a_local_error() -> None:
    conn = ClientConnection()
    with pytest.raises(LocalProtocolError, match="before send_request"):
        conn.next_event()
    conn = connection()
    with pytest.raises(LocalProtocolError, match="still being read"):
        conn.send_request("GET", "/", [("Host", "h")])
    events(conn, [b"HTTP/1.1 204 No Content\r\n\r\n"], eof=False)
    assert conn.reusable
    conn.send_request("GET", "/again", [("Host", "h")])
