"""Every rule of the response reader, and every error with its exact message and offset.

Errors are asserted on the response fed at every chunk boundary (and byte by byte): the
message and the offset must not depend on how the bytes arrived.
"""

from __future__ import annotations

import pickle

import pytest

from smruntime.exceptions import LocalProtocolError, RemoteProtocolError, TransportError
from smruntime.http import (
    NEED_DATA,
    ClientConnection,
    Data,
    EndOfMessage,
    Limits,
    Response,
    ResponseReader,
)

from .helpers import connection, events, parse, pieces, splits, summary

OK = b"HTTP/1.1 200 OK\r\n"
CHUNKED = OK + b"Transfer-Encoding: chunked\r\n\r\n"


def assert_everywhere(
    raw: bytes,
    *,
    status: int = 200,
    body: bytes = b"",
    trailers: list[tuple[str, str]] | None = None,
    eof: bool = False,
    reusable: bool | None = None,
    method: str = "GET",
    limits: Limits | None = None,
) -> Response:
    """``raw`` parses to the same response, body and trailers under every chunking."""
    resp = None
    for cuts in splits(raw):
        conn, evs = parse(raw, cuts, eof=eof, method=method, limits=limits)
        resp, got, got_trailers = summary(evs)
        assert (resp.status, got, got_trailers) == (status, body, trailers or []), cuts
        if reusable is not None:
            assert conn.reusable is reusable, cuts
    assert resp is not None
    return resp


def assert_error(
    raw: bytes,
    message: str,
    offset: int,
    line: int | None = None,
    *,
    eof: bool = True,
    method: str = "GET",
    limits: Limits | None = None,
) -> None:
    """``raw`` fails with exactly this message, offset and line under every chunking."""
    where = "" if line is None else f"line {line}, "
    if line is not None and "trailer" in message:
        where = f"trailer line {line}, "
    expected = f"{message} ({where}at byte {offset} of the response)"
    for cuts in splits(raw):
        with pytest.raises(RemoteProtocolError) as info:
            parse(raw, cuts, eof=eof, method=method, limits=limits)
        assert str(info.value) == expected, cuts
        assert (info.value.offset, info.value.line) == (offset, line), cuts


# -- status line -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "status", "reason", "version"),
    [
        (b"HTTP/1.1 200 OK", 200, "OK", "1.1"),
        (b"HTTP/1.1 404 Not Found Here", 404, "Not Found Here", "1.1"),
        (b"HTTP/1.1 200", 200, "", "1.1"),
        (b"HTTP/1.1 200 ", 200, "", "1.1"),
        (b"HTTP/1.0 503 Busy\tnow", 503, "Busy\tnow", "1.0"),
        (b"HTTP/1.1 999 \xe9t\xe9", 999, "\xe9t\xe9", "1.1"),
        (b"HTTP/1.1 100 Continue", None, None, None),
    ],
)
def test_status_line(line: bytes, status: int, reason: str, version: str) -> None:
    raw = line + b"\r\nContent-Length: 0\r\n\r\n"
    if status is None:  # a lone 1xx is skipped: the final response is still to come
        _conn, evs = parse(raw, eof=False)
        assert evs == []
        return
    resp = assert_everywhere(raw, status=status)
    assert (resp.reason, resp.http_version) == (reason, version)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"HTTX/1.1 200 OK", "malformed status line b'HTTX/1.1 200 OK'"),
        (b"HTTP/1.1 20", "malformed status line b'HTTP/1.1 20'"),
        (b"HTTP/1.1", "malformed status line b'HTTP/1.1'"),
        (b"", "malformed status line b''"),
        (b"HTTP/1.1\t200 OK", "malformed status line b'HTTP/1.1\\t200 OK'"),
        (b"HTTP/2.0 200 OK", "unsupported HTTP version b'HTTP/2.0'"),
        (b"HTTP/1.2 200 OK", "unsupported HTTP version b'HTTP/1.2'"),
        (b"HTTP/0.9 200 OK", "unsupported HTTP version b'HTTP/0.9'"),
        (b"HTTP/1.1 2x0 OK", "malformed status code in b'HTTP/1.1 2x0 OK'"),
        (b"HTTP/1.1 2000 OK", "malformed status code in b'HTTP/1.1 2000 OK'"),
        (b"HTTP/1.1  200 OK", "malformed status code in b'HTTP/1.1  200 OK'"),
        (b"HTTP/1.1 200OK", "malformed status code in b'HTTP/1.1 200OK'"),
        (b"HTTP/1.1 200X", "malformed status code in b'HTTP/1.1 200X'"),
        (b"HTTP/1.1 099 Low", "status code 99 out of range"),
        (b"HTTP/1.1 000", "status code 0 out of range"),
        (b"HTTP/1.1 200 O\x00K", "control character in the reason phrase"),
        (b"HTTP/1.1 200 O\rK", "control character in the reason phrase"),
        (b"HTTP/1.1 200 O\x7fK", "control character in the reason phrase"),
    ],
)
def test_bad_status_line(line: bytes, message: str) -> None:
    assert_error(line + b"\r\nContent-Length: 0\r\n\r\n", message, 0, 1)


def test_status_line_after_1xx_is_numbered_and_placed() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 20 OK\r\n\r\n"
    assert_error(raw, "malformed status code in b'HTTP/1.1 20 OK'", 25, 3)


def test_bare_lf_is_an_error() -> None:
    assert_error(b"HTTP/1.1 200 OK\n\n", "status line ends in a bare LF, not CRLF", 0, 1)
    assert_error(b"\nHTTP/1.1 200 OK\r\n\r\n", "status line ends in a bare LF, not CRLF", 0, 1)
    assert_error(OK + b"X: 1\n\r\n", "header line ends in a bare LF, not CRLF", 17, 2)
    assert_error(OK + b"\n", "header line ends in a bare LF, not CRLF", 17, 2)


# -- header fields -----------------------------------------------------------------------------


def test_header_fields_keep_order_case_and_repeats() -> None:
    raw = OK + b"X-A: 1\r\nx-a:2\r\nEmpty:\r\nSpaced: \t v  w \t\r\nLatin: \xe9\xff\r\n"
    raw += b"Content-Length: 0\r\n\r\n"
    resp = assert_everywhere(raw)
    assert resp.headers == [
        ("X-A", "1"),
        ("x-a", "2"),
        ("Empty", ""),
        ("Spaced", "v  w"),
        ("Latin", "\xe9\xff"),
        ("Content-Length", "0"),
    ]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (b"No colon here", "header line without ':': b'No colon here'"),
        (b": value", "invalid header name b''"),
        (b"Bad Name: x", "invalid header name b'Bad Name'"),
        (b"Name : x", "invalid header name b'Name '"),
        (b"N\xe9: x", "invalid header name b'N\\xe9'"),
        (b"(x): y", "invalid header name b'(x)'"),
        (b" folded", "obs-fold (a header line starting with whitespace) is not allowed"),
        (b"\tfolded", "obs-fold (a header line starting with whitespace) is not allowed"),
        (b"X: a\x00b", "control character in the value of header X"),
        (b"X: a\rb", "control character in the value of header X"),
        (b"X: a\x1fb", "control character in the value of header X"),
        (b"X: a\x7f", "control character in the value of header X"),
    ],
)
def test_bad_header_line(field: bytes, message: str) -> None:
    assert_error(OK + b"A: 1\r\n" + field + b"\r\nContent-Length: 0\r\n\r\n", message, 23, 3)


def test_header_count_limit_at_its_boundary() -> None:
    limits = Limits(max_headers=3)
    fields = b"A: 1\r\nB: 2\r\nContent-Length: 0\r\n"
    assert_everywhere(OK + fields + b"\r\n", limits=limits)
    assert_error(
        OK + fields + b"D: 4\r\n\r\n", "more than max_headers=3 header fields", 48, 5, limits=limits
    )


def test_header_line_limit_at_its_boundary() -> None:
    limits = Limits(max_line_bytes=24)
    fine = b"X: " + b"a" * 19 + b"\r\n"  # 24 bytes, CRLF included
    assert_everywhere(OK + fine + b"Content-Length: 0\r\n\r\n", limits=limits)
    long = b"X: " + b"a" * 20 + b"\r\n"
    assert_error(
        OK + long + b"\r\n", "header line longer than max_line_bytes=24", 17, 2, limits=limits
    )
    assert_error(
        b"HTTP/1.1 200 " + b"x" * 12 + b"\r\n",
        "status line longer than max_line_bytes=24",
        0,
        1,
        limits=limits,
    )


def test_header_line_limit_fails_without_waiting_for_more() -> None:
    # A line with no end in sight fails once it has max_line_bytes bytes: not one byte later.
    conn = connection(limits=Limits(max_line_bytes=24))
    conn.receive_data(OK + b"X: " + b"a" * 20)
    assert conn.next_event() is NEED_DATA  # 23 bytes: the CRLF could still end it at 24... or 25
    conn.receive_data(b"a")
    with pytest.raises(RemoteProtocolError, match="longer than max_line_bytes=24"):
        conn.next_event()


def test_a_huge_header_line_fails_at_the_limit() -> None:
    # A 1 GB header line: the reader fails after max_line_bytes, having held no more than that
    # plus one read.
    conn = connection()
    conn.receive_data(OK + b"X-Big: ")
    fed = 0
    piece = b"a" * 4096
    with pytest.raises(RemoteProtocolError, match="longer than max_line_bytes=8192") as info:
        while fed < 2**30:
            conn.receive_data(piece)
            fed += len(piece)
            assert conn.next_event() is NEED_DATA
    assert fed <= 8192 + 4096
    assert info.value.offset == 17


def test_response_head_limit_at_its_boundary() -> None:
    limits = Limits(max_header_bytes=64)
    head = OK + b"Content-Length: 0\r\n" + b"X: " + b"a" * 21 + b"\r\n\r\n"
    assert len(head) == 64
    assert_everywhere(head, limits=limits)
    over = OK + b"Content-Length: 0\r\n" + b"X: " + b"a" * 22 + b"\r\n\r\n"
    assert_error(over, "response head larger than max_header_bytes=64", 63, 4, limits=limits)
    # a line that would cross the limit fails at its start
    over = OK + b"Content-Length: 0\r\n" + b"X: " + b"a" * 24 + b"\r\n\r\n"
    assert_error(over, "response head larger than max_header_bytes=64", 36, 3, limits=limits)


def test_head_lines_filling_the_limit_wait_for_the_next_byte_before_failing() -> None:
    # the lines take all 64 bytes: nothing is wrong until a byte (the final CRLF) arrives
    limits = Limits(max_header_bytes=64)
    lines = OK + b"Content-Length: 0\r\n" + b"X: " + b"a" * 23 + b"\r\n"
    assert len(lines) == 64
    for cut in range(1, len(lines)):
        conn = connection(limits=limits)
        for piece in (lines[:cut], lines[cut:]):
            conn.receive_data(piece)
            assert conn.next_event() is NEED_DATA
        conn.receive_data(b"\r\n")
        with pytest.raises(RemoteProtocolError, match="larger than max_header_bytes=64"):
            conn.next_event()


def test_head_limit_counts_1xx_heads() -> None:
    limits = Limits(max_header_bytes=40)
    raw = b"HTTP/1.1 100 Continue\r\n\r\n" + b"HTTP/1.1 204 No\r\n\r\n"
    assert_error(raw, "response head larger than max_header_bytes=40", 25, 3, limits=limits)
    assert_everywhere(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204\r\n\r\n",
        status=204,
        limits=Limits(max_header_bytes=41),
    )


# -- framing -----------------------------------------------------------------------------------


def test_content_length_forms() -> None:
    for field in (
        b"Content-Length: 5",
        b"content-length:05",
        b"Content-Length: 5, 5",
        b"CONTENT-LENGTH:\t5 ",
    ):
        assert_everywhere(OK + field + b"\r\n\r\nhello", body=b"hello", reusable=True)
    twice = OK + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
    assert_everywhere(twice, body=b"hello", reusable=True)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"abc", "invalid Content-Length 'abc'"),
        (b"-1", "invalid Content-Length '-1'"),
        (b"+1", "invalid Content-Length '+1'"),
        (b"1 2", "invalid Content-Length '1 2'"),
        (b"", "invalid Content-Length ''"),
        (b"5,", "invalid Content-Length '5,'"),
        (b"1_0", "invalid Content-Length '1_0'"),
        (b"\xb2", "invalid Content-Length '\xb2'"),
        (b"9" * 19, f"invalid Content-Length '{'9' * 19}'"),
        (b"5, 6", "conflicting Content-Length values 5 and 6"),
    ],
)
def test_bad_content_length(value: bytes, message: str) -> None:
    assert_error(OK + b"Content-Length: " + value + b"\r\n\r\n", message, 17, 2)


def test_content_length_of_18_digits_is_accepted() -> None:
    _conn, evs = parse(OK + b"Content-Length: " + b"9" * 18 + b"\r\n\r\nabc", eof=False)
    assert evs[1:] == [Data(b"abc")]


def test_conflicting_content_length_lines() -> None:
    raw = OK + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"
    assert_error(raw, "conflicting Content-Length values 5 and 6", 36, 3)


@pytest.mark.parametrize(
    ("fields", "message", "offset", "line"),
    [
        (
            b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
            "both Content-Length and Transfer-Encoding in the response (at Content-Length)",
            45,
            3,
        ),
        (
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "both Content-Length and Transfer-Encoding in the response (at Transfer-Encoding)",
            36,
            3,
        ),
        (
            b"Transfer-Encoding: gzip, chunked\r\n",
            "unsupported Transfer-Encoding 'gzip, chunked' (only a single 'chunked' is accepted)",
            17,
            2,
        ),
        (
            b"Transfer-Encoding: identity\r\n",
            "unsupported Transfer-Encoding 'identity' (only a single 'chunked' is accepted)",
            17,
            2,
        ),
        (
            b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "unsupported Transfer-Encoding 'chunked, chunked' "
            "(only a single 'chunked' is accepted)",
            45,
            3,
        ),
        (
            b"Transfer-Encoding: chunked,\r\n",
            "unsupported Transfer-Encoding 'chunked, ' (only a single 'chunked' is accepted)",
            17,
            2,
        ),
    ],
)
def test_bad_transfer_encoding(fields: bytes, message: str, offset: int, line: int) -> None:
    assert_error(OK + fields + b"\r\n5\r\nhello\r\n0\r\n\r\n", message, offset, line)


def test_transfer_encoding_is_case_insensitive() -> None:
    raw = OK + b"transfer-encoding: Chunked \r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    assert_everywhere(raw, body=b"hello", reusable=True)


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    raw = b"HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\n" % status
    assert_everywhere(raw, status=status, reusable=True)
    conn, _ = parse(raw + b"hello", eof=False)
    assert not conn.reusable
    assert conn.extra_bytes == 5


def test_head_response_has_no_body() -> None:
    raw = OK + b"Content-Length: 1000\r\n\r\n"
    assert_everywhere(raw, method="HEAD", reusable=True)
    assert_everywhere(CHUNKED, method="head", reusable=True)


def test_informational_responses_are_skipped() -> None:
    raw = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nContent-Length: 3\r\n\r\n"
        + OK
        + b"Content-Length: 2\r\n\r\nhi"
    )
    resp = assert_everywhere(raw, body=b"hi", reusable=True)
    assert resp.headers == [("Content-Length", "2")]


def test_101_is_an_error() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"
    assert_error(raw, "101 Switching Protocols, but no upgrade was requested", 25, 3)


def test_content_length_zero() -> None:
    assert_everywhere(OK + b"Content-Length: 0\r\n\r\n", reusable=True)


def test_close_delimited_body() -> None:
    raw = OK + b"Server: x\r\n\r\nthe body\r\n0\r\n\r\nruns to the end"
    for cuts in splits(raw):
        conn, evs = parse(raw, cuts, eof=True)
        _, body, _ = summary(evs)
        assert body == b"the body\r\n0\r\n\r\nruns to the end"
        assert not conn.reusable
    conn, evs = parse(OK + b"\r\n", eof=True)
    assert evs[1:] == [EndOfMessage()]
    reader = ResponseReader()
    reader.receive_data(OK + b"Connection: keep-alive\r\n\r\nbody")
    assert isinstance(reader.next_event(), Response)
    assert reader.keep_alive is False


# -- keep-alive --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "reusable"),
    [
        (b"HTTP/1.1 200 OK\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\n", False),
        (b"HTTP/1.0 200 OK\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n", True),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n", False),
    ],
)
def test_reusable(head: bytes, reusable: bool) -> None:
    raw = head + b"Content-Length: 2\r\n\r\nhi"
    assert_everywhere(raw, body=b"hi", reusable=reusable)


def test_not_reusable_before_the_end_or_after_eof_or_extra_bytes() -> None:
    conn = connection()
    assert not conn.reusable
    conn.receive_data(OK + b"Content-Length: 2\r\n\r\nh")
    assert isinstance(conn.next_event(), Response)
    assert conn.next_event() == Data(b"h")
    assert not conn.reusable
    conn.receive_data(b"i")
    assert conn.next_event() == Data(b"i")
    assert not conn.reusable
    assert conn.next_event() == EndOfMessage()
    assert conn.reusable
    conn.receive_data(b"")  # the server closed the idle connection
    assert not conn.reusable
    with pytest.raises(LocalProtocolError, match="peer closed or sent unrequested"):
        conn.send_request("GET", "/", [("Host", "h")])

    conn, evs = parse(OK + b"Content-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\n", eof=False)
    assert summary(evs)[1] == b"hi"
    assert (conn.reusable, conn.extra_bytes) == (False, 17)

    conn, _ = parse(OK + b"Content-Length: 2\r\n\r\nhi", eof=False)
    conn.receive_data(b"junk")
    assert (conn.reusable, conn.extra_bytes) == (False, 4)


def test_request_connection_close_is_not_reusable() -> None:
    conn = ClientConnection()
    conn.send_request("GET", "/", [("Host", "h"), ("Connection", "close")])
    events(conn, [OK + b"Content-Length: 0\r\n\r\n"], eof=False)
    assert conn.response_complete
    assert not conn.reusable
    with pytest.raises(LocalProtocolError, match="not reusable"):
        conn.send_request("GET", "/", [("Host", "h")])


def test_keep_alive_cycle_resets_the_counters() -> None:
    conn = connection()
    events(conn, [OK + b"Content-Length: 2\r\n\r\nhi"], eof=False)
    assert conn.bytes_received == 40
    conn.send_request("GET", "/2", [("Host", "h")])
    assert (conn.bytes_received, conn.response_started, conn.response_complete) == (0, False, False)
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n")
    assert conn.response_started
    with pytest.raises(RemoteProtocolError, match=r"received 0\) \(at byte 38 of"):
        events(conn, [])


# -- chunked -----------------------------------------------------------------------------------


def test_chunk_forms() -> None:
    raw = CHUNKED + (
        b"5\r\nhello\r\n"
        b"A;name=value;other\r\n0123456789\r\n"
        b'000a ; q="a b" \r\nabcdefghij\r\n'
        b"1\t\r\n!\r\n"
        b"b;\xe9\r\n01234567890\r\n"
        b"10;e\r\n0123456789abcdef\r\n"
        b"0000;last\r\n\r\n"
    )
    assert_everywhere(
        raw, body=b"hello0123456789abcdefghij!012345678900123456789abcdef", reusable=True
    )


def test_trailers() -> None:
    raw = CHUNKED + b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nx-sum: 2\r\nEmpty:\r\n\r\n"
    assert_everywhere(
        raw, body=b"abc", trailers=[("X-Sum", "1"), ("x-sum", "2"), ("Empty", "")], reusable=True
    )


@pytest.mark.parametrize(
    ("size_line", "message"),
    [
        (b"zz", "invalid chunk-size line b'zz'"),
        (b"-5", "invalid chunk-size line b'-5'"),
        (b"0x5", "invalid chunk-size line b'0x5'"),
        (b"0X5", "invalid chunk-size line b'0X5'"),
        (b"0x", "invalid chunk-size line b'0x'"),
        (b"+5", "invalid chunk-size line b'+5'"),
        (b" 5", "invalid chunk-size line b' 5'"),
        (b"5_0", "invalid chunk-size line b'5_0'"),
        (b"", "invalid chunk-size line b''"),
        (b";ext", "invalid chunk-size line b';ext'"),
        (b"5 x", "invalid chunk-size line b'5 x'"),
        (b"5;\x00", "invalid chunk-size line b'5;\\x00'"),
        (b"5\rX", "invalid chunk-size line b'5\\rX'"),
        (b"ffffffffffff", "chunk size 281474976710655 over max_chunk_size=1099511627776"),
        (b"f" * 30, f"chunk size {16**30 - 1} over max_chunk_size=1099511627776"),
    ],
)
def test_bad_chunk_size(size_line: bytes, message: str) -> None:
    assert_error(CHUNKED + size_line + b"\r\nhello\r\n0\r\n\r\n", message, 47)


def test_bad_chunk_size_after_good_chunks() -> None:
    raw = CHUNKED + b"3\r\nabc\r\n2\r\nde\r\nxyz\r\n"
    assert_error(raw, "invalid chunk-size line b'xyz'", 62)


def test_chunk_size_limit_at_its_boundary() -> None:
    limits = Limits(max_chunk_size=16)
    assert_everywhere(
        CHUNKED + b"10\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n", body=b"x" * 16, limits=limits
    )
    assert_error(
        CHUNKED + b"11\r\n" + b"x" * 17 + b"\r\n0\r\n\r\n",
        "chunk size 17 over max_chunk_size=16",
        47,
        limits=limits,
    )


def test_chunk_line_limit_at_its_boundary() -> None:
    limits = Limits(max_chunk_line_bytes=8)
    assert_everywhere(CHUNKED + b"3;abcd\r\nxyz\r\n0\r\n\r\n", body=b"xyz", limits=limits)
    assert_error(
        CHUNKED + b"3;abcde\r\nxyz\r\n0\r\n\r\n",
        "chunk-size line longer than max_chunk_line_bytes=8",
        47,
        limits=limits,
    )
    # an endless chunk-size line fails at the limit, not at the EOF
    assert_error(
        CHUNKED + b"3" * 8,
        "chunk-size line longer than max_chunk_line_bytes=8",
        47,
        limits=limits,
        eof=False,
    )


@pytest.mark.parametrize(
    ("after", "found"),
    [(b"X\r\n0\r\n\r\n", "b'X'"), (b"\rX0\r\n\r\n", "b'\\rX'"), (b"\n0\r\n\r\n", "b'\\n'")],
)
def test_chunk_data_must_end_in_crlf(after: bytes, found: str) -> None:
    raw = CHUNKED + b"5\r\nhello" + after
    assert_error(raw, f"expected CRLF after the chunk data, found {found}", 55)


def test_missing_crlf_seen_on_its_first_byte() -> None:
    conn = connection()
    conn.receive_data(CHUNKED + b"5\r\nhelloX")
    assert isinstance(conn.next_event(), Response)
    with pytest.raises(RemoteProtocolError, match=r"found b'X' \(at byte 55 "):
        conn.next_event()


def test_chunk_size_line_bare_lf() -> None:
    assert_error(CHUNKED + b"5\nhello\r\n", "chunk-size line ends in a bare LF, not CRLF", 47)
    assert_error(CHUNKED + b"\n", "chunk-size line ends in a bare LF, not CRLF", 47)
    assert_error(CHUNKED + b"3\r\nabc\r\n\n", "chunk-size line ends in a bare LF, not CRLF", 55)
    assert_error(CHUNKED + b"0\r\n\n", "trailer line ends in a bare LF, not CRLF", 50, 1)


def test_trailer_errors() -> None:
    end = CHUNKED + b"0\r\n"
    assert_error(
        end + b" folded\r\n\r\n",
        "obs-fold (a trailer line starting with whitespace) is not allowed",
        50,
        1,
    )
    assert_error(end + b"T: 1\nX\r\n\r\n", "trailer line ends in a bare LF, not CRLF", 50, 1)
    assert_error(end + b"T: 1\r\nBad Name: 2\r\n\r\n", "invalid trailer name b'Bad Name'", 56, 2)
    assert_error(end + b"T: \x00\r\n\r\n", "control character in the value of trailer T", 50, 1)
    limits = Limits(max_headers=2, max_line_bytes=30, max_header_bytes=50)
    assert_error(
        end + b"A: 1\r\nB: 2\r\nC: 3\r\n\r\n",
        "more than max_headers=2 trailer fields",
        62,
        3,
        limits=limits,
    )
    assert_error(
        end + b"A: " + b"1" * 26 + b"\r\n\r\n",
        "trailer line longer than max_line_bytes=30",
        50,
        1,
        limits=limits,
    )
    twenty = b"12345678901234567890"
    assert_everywhere(
        end + b"A: " + twenty + b"\r\nB: " + twenty[:-2] + b"\r\n\r\n",
        trailers=[("A", twenty.decode()), ("B", twenty[:-2].decode())],
        limits=limits,
    )
    assert_error(
        end + b"A: " + twenty + b"\r\nB: " + twenty + b"\r\n\r\n",
        "trailer section larger than max_header_bytes=50",
        100,
        3,
        limits=limits,
    )


# -- EOF before the end ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "connection closed before any byte of the response"),
        (b"HTTP/1.1 200", "connection closed inside the response head after 12 bytes"),
        (
            b"HTTP/1.1 100 Continue\r\n\r\n",
            "connection closed inside the response head after 25 bytes",
        ),
        (
            OK + b"Content-Length: 5\r\n\r\nhel",
            "connection closed 2 bytes before the end of the body (Content-Length 5, received 3)",
        ),
        (
            OK + b"Content-Length: 5\r\n\r\n",
            "connection closed 5 bytes before the end of the body (Content-Length 5, received 0)",
        ),
        (CHUNKED, "connection closed before the last chunk (chunked body incomplete)"),
        (CHUNKED + b"5", "connection closed before the last chunk (chunked body incomplete)"),
        (CHUNKED + b"5\r\nhel", "connection closed inside a chunk, 2 bytes of it missing"),
        (CHUNKED + b"5\r\nhello", "connection closed before the CRLF that ends a chunk"),
        (CHUNKED + b"5\r\nhello\r", "connection closed before the CRLF that ends a chunk"),
        (
            CHUNKED + b"5\r\nhello\r\n",
            "connection closed before the last chunk (chunked body incomplete)",
        ),
        (CHUNKED + b"0\r\n", "connection closed inside the chunked trailer section"),
        (CHUNKED + b"0\r\nT: 1\r\n", "connection closed inside the chunked trailer section"),
        (CHUNKED + b"0\r\n\r", "connection closed inside the chunked trailer section"),
    ],
)
def test_eof_before_the_end(raw: bytes, message: str) -> None:
    assert_error(raw, message, len(raw))


def test_errors_are_transport_errors_that_pickle_and_repeat() -> None:
    conn = connection()
    conn.receive_data(CHUNKED + b"zz\r\n")
    assert isinstance(conn.next_event(), Response)
    with pytest.raises(RemoteProtocolError) as first:
        conn.next_event()
    with pytest.raises(RemoteProtocolError) as again:
        conn.next_event()
    assert again.value is first.value
    assert isinstance(first.value, TransportError)
    copy = pickle.loads(pickle.dumps(first.value))
    assert (str(copy), copy.offset, copy.line) == (str(first.value), 47, None)
    conn.receive_data(b"more")  # ignored: the connection is dead
    assert not conn.reusable


# -- misuse ------------------------------------------------------------------------------------


def test_misuse() -> None:
    conn = connection()
    conn.receive_data(b"")
    with pytest.raises(LocalProtocolError, match="after the end of input"):
        conn.receive_data(b"x")
    conn = connection()
    events(conn, [OK + b"Content-Length: 0\r\n\r\n"], eof=False)
    with pytest.raises(LocalProtocolError, match="after EndOfMessage"):
        conn.next_event()


def test_bytes_between_requests_poison_the_connection() -> None:
    conn = ClientConnection()
    assert (conn.bytes_received, conn.extra_bytes, conn.response_started) == (0, 0, False)
    assert (conn.reusable, conn.response_complete) == (False, False)
    conn.receive_data(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    assert not conn.reusable
    with pytest.raises(LocalProtocolError, match="unrequested"):
        conn.send_request("GET", "/", [("Host", "h")])


# -- coalescing and the buffer -----------------------------------------------------------------


def test_data_is_coalesced_across_chunks_and_partial_chunks() -> None:
    conn = connection()
    conn.receive_data(CHUNKED + b"3\r\nabc\r\n4\r\ndefg\r\n5\r\nhi")
    assert isinstance(conn.next_event(), Response)
    assert conn.next_event() == Data(b"abcdefghi")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"jkl\r\n2\r")
    assert conn.next_event() == Data(b"jkl")
    conn.receive_data(b"\nmn")
    assert conn.next_event() == Data(b"mn")
    conn.receive_data(b"\r\n0\r\n\r\n")
    assert conn.next_event() == EndOfMessage()
    assert conn.reusable


def test_data_events_are_bytes() -> None:
    for cuts in splits(CHUNKED + b"3\r\nabc\r\n0\r\n\r\n"):
        _, evs = parse(CHUNKED + b"3\r\nabc\r\n0\r\n\r\n", cuts, eof=False)
        assert all(type(ev.data) is bytes for ev in evs if isinstance(ev, Data))
    # a chunk ending the buffer, read from a held tail (a bytearray) joined to new bytes
    conn = connection()
    evs = events(conn, [CHUNKED + b"3", b"\r\nabc\r\n", b"0\r\n\r\n"], eof=False)
    assert [type(ev.data) for ev in evs if isinstance(ev, Data)] == [bytes]
    raw = OK + b"Content-Length: 6\r\n\r\nabcdef"
    for cuts in splits(raw):
        _, evs = parse(raw, cuts, eof=False)
        assert all(type(ev.data) is bytes for ev in evs if isinstance(ev, Data))
    raw = OK + b"\r\nabcdef"
    for cuts in splits(raw):
        _, evs = parse(raw, cuts, eof=True)
        assert all(type(ev.data) is bytes for ev in evs if isinstance(ev, Data))


def test_offsets_count_across_pieces() -> None:
    raw = CHUNKED + b"3\r\nabc\r\n" * 50 + b"q\r\n"
    for size in (1, 2, 3, 7, 64):
        conn = connection()
        with pytest.raises(RemoteProtocolError) as info:
            events(conn, pieces(raw, range(size, len(raw), size)))
        assert info.value.offset == len(raw) - 3


def test_events_repr_and_equality() -> None:
    resp = Response(200, "OK", [("A", "1")], "1.1")
    assert repr(resp) == "Response(status=200, reason='OK', headers=<1 fields>, http_version='1.1')"
    assert resp == Response(200, "OK", [("A", "1")])
    assert resp != Response(201, "OK", [("A", "1")])
    assert resp != "x"
    assert repr(Data(b"secret")) == "Data(<6 bytes>)"
    assert repr(EndOfMessage([("T", "1")])) == "EndOfMessage(trailers=<1 fields>)"
    assert Data(b"a") != Data(b"b")
    assert EndOfMessage() != EndOfMessage([("T", "1")])
    assert repr(NEED_DATA) == "NEED_DATA"
    assert pickle.loads(pickle.dumps(NEED_DATA)) is NEED_DATA
    assert type(NEED_DATA)() is NEED_DATA


def test_limits_value() -> None:
    assert Limits() == Limits(max_line_bytes=8192)
    assert Limits() != Limits(max_headers=1)
    assert "max_headers=128" in repr(Limits())
    for bad in (0, -1, 1.5, True, None):
        with pytest.raises(ValueError, match="max_headers must be a positive int"):
            Limits(max_headers=bad)  # type: ignore[arg-type]


def test_limits_defaults() -> None:
    limits = Limits()
    assert (
        limits.max_line_bytes,
        limits.max_headers,
        limits.max_header_bytes,
        limits.max_chunk_line_bytes,
        limits.max_chunk_size,
    ) == (8192, 128, 65536, 4096, 2**40)


def test_excerpts_in_messages_are_cut_at_40_bytes() -> None:
    for size, shown in ((40, "b'" + "z" * 40 + "'"), (41, "b'" + "z" * 40 + "'...")):
        assert_error(CHUNKED + b"z" * size + b"\r\n", f"invalid chunk-size line {shown}", 47)


def test_reader_alone_reads_a_body_by_default() -> None:
    reader = ResponseReader()
    reader.receive_data(OK + b"Content-Length: 2\r\n\r\nhi")
    assert isinstance(reader.next_event(), Response)
    assert reader.next_event() == Data(b"hi")
    assert reader.next_event() == EndOfMessage()
    assert (reader.complete, reader.keep_alive, reader.extra_bytes) == (True, True, 0)
    head = ResponseReader(head_only=True)
    head.receive_data(OK + b"Content-Length: 2\r\n\r\n")
    assert isinstance(head.next_event(), Response)
    assert head.next_event() == EndOfMessage()


def test_reader_state_before_and_after() -> None:
    reader = ResponseReader()
    assert (reader.keep_alive, reader.response_started, reader.complete, reader.eof) == (
        False,
        False,
        False,
        False,
    )
    reader.receive_data(b"H")
    assert reader.response_started
    reader.receive_data(b"TTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    assert isinstance(reader.next_event(), Response)
    assert reader.next_event() == Data(b"hi")
    reader.receive_data(b"ab")  # after the body, before EndOfMessage was handed out
    assert reader.next_event() == EndOfMessage()
    assert reader.extra_bytes == 2
    reader.receive_data(b"cde")  # after EndOfMessage
    assert reader.extra_bytes == 5
    reader.receive_data(b"")
    assert reader.eof


def test_a_broken_chunk_end_in_the_same_read_comes_before_its_data() -> None:
    for after in (b"\rX", b"X\r"):
        conn = connection()
        conn.receive_data(CHUNKED + b"5\r\nhello" + after)
        assert isinstance(conn.next_event(), Response)
        with pytest.raises(RemoteProtocolError, match="expected CRLF after the chunk data"):
            conn.next_event()
    conn = connection()
    conn.receive_data(CHUNKED + b"5\r\nhello\r\n")  # the chunk and its CRLF end the read
    assert isinstance(conn.next_event(), Response)
    assert conn.next_event() == Data(b"hello")
    conn.receive_data(b"\n")
    with pytest.raises(RemoteProtocolError, match="bare LF"):
        conn.next_event()


NEEDS_DATA_CASES = [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nT: v\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nabcdefg",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nclose-delimited body",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
]


@pytest.mark.parametrize("raw", NEEDS_DATA_CASES)
def test_needs_data_is_true_only_when_next_event_would_need_data(raw: bytes) -> None:
    seen_true = False
    for cuts in splits(raw):
        conn = connection()
        for piece in [*pieces(raw, cuts), b""]:
            conn.receive_data(piece)
            while True:
                needs = conn.needs_data
                ev = conn.next_event()
                if needs:
                    seen_true = True
                    assert ev is NEED_DATA, (cuts, ev)
                if ev is NEED_DATA or isinstance(ev, EndOfMessage):
                    break
            if isinstance(ev, EndOfMessage):
                assert not conn.needs_data
                break
        assert isinstance(ev, EndOfMessage), cuts
    # and it is said in the common case, every body byte handed out before the end
    assert seen_true == (b"Content-Length: 0" not in raw and b"204" not in raw)


def test_needs_data_before_a_request_and_at_the_eof() -> None:
    assert not ClientConnection().needs_data
    conn = connection()
    assert not conn.needs_data  # the head: not inside a body
    conn.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab")
    assert conn.next_event() is not NEED_DATA  # the Response
    assert not conn.needs_data  # "ab" not handed out yet
    assert conn.next_event() == Data(b"ab")
    assert conn.needs_data
    conn.receive_data(b"")
    assert not conn.needs_data  # the EOF: next_event() raises
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


# -- receive_body (the asyncio driver's whole-chunk path) ------------------------------------


_taken: list[int] = []  # pieces receive_body took, in the last _drive


def _drive(
    pieces_: list[bytes], body_first: bool, limits: Limits | None = None, eof: bool = True
) -> tuple[list[object], int, bool]:
    """Events (Data as bytes) or the error, bytes received and reusability, for ``pieces_``
    fed as the blocking driver does, or (``body_first``) as the asyncio one: each piece to
    ``receive_body`` first (how many it took: ``_taken[0]``)."""
    _taken[:] = [0]
    conn = connection(limits=limits)
    reader = conn.reader
    assert reader is not None
    out: list[object] = []
    try:
        for piece in [*pieces_, b""] if eof else pieces_:
            if body_first:
                got = reader.receive_body(piece)
                if got is not None:
                    assert reader.needs_data  # as after the Data event next_event gives
                    assert reader.next_event() is NEED_DATA
                    out.append(got)
                    _taken[0] += 1
                    continue
            conn.receive_data(piece)
            while True:
                ev = conn.next_event()
                if ev is NEED_DATA:
                    break
                out.append(ev.data if isinstance(ev, Data) else ev)
                if isinstance(ev, EndOfMessage):
                    return out, reader.bytes_received, conn.reusable
    except RemoteProtocolError as exc:
        out.append((str(exc), exc.offset))
    return out, reader.bytes_received, conn.reusable


@pytest.mark.parametrize(
    ("body", "limits", "fast"),
    [
        ([b"5\r\nhello\r\n", b"3\r\nabc\r\n", b"0\r\n\r\n"], None, 2),
        ([b"5\r\nhello\r\n", b"3\r\nabc\r\n", b"zz\r\n"], None, 2),  # offsets after them
        ([b"5\r\nhello\r\n", b"1", b"3\r\nabc\r\nX"], None, 1),
        ([b"A;name=value\r\n0123456789\r\n", b"1\t\r\n!\r\n", b"0\r\n\r\n"], None, 2),
        ([b"5\r\nhello\r\n3\r\nabc\r\n", b"0\r\n\r\n"], None, 0),  # two chunks in one piece
        ([b"5\r\nhello\r\n0\r\n\r\n"], None, 0),
        ([b"0\r\n\r\n"], None, 0),
        ([b"0;e\r\n", b"\r\n"], None, 0),
        ([b"ab\r\n" + b"x" * 0xAB + b"\r\n", b"0\r\n\r\n"], None, 1),
        ([b"0x5\r\nhello\r\n"], None, 0),
        ([b"0X5\r\nhello\r\n"], None, 0),
        ([b"+5\r\nhello\r\n"], None, 0),
        ([b" 5\r\nhello\r\n"], None, 0),
        ([b"-5\r\nhello\r\n"], None, 0),
        ([b"zz\r\nhello\r\n"], None, 0),
        ([b"5_0\r\n" + b"x" * 80 + b"\r\n"], None, 0),
        ([b"5\nhello\r\n"], None, 0),
        ([b"\r\nhello\r\n"], None, 0),
        ([b"5\r\nhelloX\r\n"], None, 0),
        ([b"5\r\nhello\rX"], None, 0),
        ([b"5\r\nhell\r\n", b"o\r\n0\r\n\r\n"], None, 0),
        ([b"5\r\nhello\r\n\r\n"], None, 0),
        ([b"5\r\nhel", b"lo\r\n", b"3\r\nabc\r\n", b"0\r\n\r\n"], None, 1),
        ([b"1", b"3\r\nabc\r\n", b"x" * 14 + b"\r\n0\r\n\r\n"], None, 0),  # bytes held before
        ([b"8\r\n", b"3\r\nabc\r\n", b"\r\n0\r\n\r\n"], None, 0),  # a chunk-like piece of data
        ([b"0\r\n", b"3\r\nabc\r\n", b"\r\n"], None, 0),  # ... of the trailer section
        ([b"10\r\n" + b"x" * 16 + b"\r\n", b"0\r\n\r\n"], Limits(max_chunk_size=16), 1),
        ([b"11\r\n" + b"x" * 17 + b"\r\n", b"0\r\n\r\n"], Limits(max_chunk_size=16), 0),
        ([b"3;abcd\r\nxyz\r\n", b"0\r\n\r\n"], Limits(max_chunk_line_bytes=8), 1),
        ([b"3;abcde\r\nxyz\r\n", b"0\r\n\r\n"], Limits(max_chunk_line_bytes=8), 0),
        ([b"000003\r\nxyz\r\n", b"0\r\n\r\n"], Limits(max_chunk_line_bytes=8), 1),
        ([b"0000003\r\nxyz\r\n", b"0\r\n\r\n"], Limits(max_chunk_line_bytes=8), 0),
        ([b"f\r\n" + b"y" * 15 + b"\r\n", b"0\r\n\r\n"], Limits(max_chunk_size=15), 1),
    ],
)
def test_receive_body_gives_what_next_event_gives(
    body: list[bytes], limits: Limits | None, fast: int
) -> None:
    """The same events, errors and state either way; ``fast``: the pieces it takes (one
    whole chunk each, nothing held)."""
    for head in ([CHUNKED], [OK, b"Transfer-Encoding: chunked\r\n\r\n"]):
        expected = _drive([*head, *body], False, limits)
        assert _drive([*head, *body], True, limits) == expected
        assert _taken == [fast]
    # the same pieces in a Content-Length body, or one delimited by the close: bytes as sent
    raw = b"".join(body)
    for head in (OK + b"Content-Length: %d\r\n\r\n" % len(raw), OK + b"\r\n"):
        got, _, _ = _drive([head, *body], True, limits)
        assert b"".join(x for x in got if isinstance(x, bytes)) == raw
        assert _taken == [0]
        assert got == _drive([head, *body], False, limits)[0]


def test_receive_body_takes_nothing_before_the_head_or_after_the_eof() -> None:
    reader = ResponseReader()
    assert reader.receive_body(b"3\r\nabc\r\n") is None
    assert reader.bytes_received == 0
    reader.receive_data(CHUNKED)
    assert isinstance(reader.next_event(), Response)
    assert reader.receive_body(b"") is None
    assert reader.receive_body(b"3\r\nabc\r\n") == b"abc"
    assert reader.bytes_received == len(CHUNKED) + 8
    reader.receive_data(b"")  # the EOF, not yet seen by next_event
    assert reader.receive_body(b"3\r\nabc\r\n") is None
    with pytest.raises(LocalProtocolError):
        reader.receive_data(b"3\r\nabc\r\n")
