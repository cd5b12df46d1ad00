"""Request serialisation: exact bytes, refusals naming what is wrong, and a round trip
through h11's server side (test-only oracle)."""

from __future__ import annotations

import h11
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smruntime.exceptions import LocalProtocolError
from smruntime.http import SMALL_BODY, ClientConnection, serialize_request


def test_exact_bytes_and_content_length_added() -> None:
    conn = ClientConnection()
    out = conn.send_request(
        "POST", "/endpoints/e/invocations", [("Host", "h:8080"), ("X-Amz-Date", "1")], b"abc"
    )
    assert out == (
        b"POST /endpoints/e/invocations HTTP/1.1\r\nHost: h:8080\r\nX-Amz-Date: 1\r\n"
        b"Content-Length: 3\r\n\r\nabc"
    )
    assert not conn.body_separate


def test_given_content_length_is_kept_in_place() -> None:
    head, keep_alive = serialize_request(
        "PUT", "/x?a=1", [("Content-Length", "2"), ("Host", "h")], 2
    )
    assert head == b"PUT /x?a=1 HTTP/1.1\r\nContent-Length: 2\r\nHost: h\r\n\r\n"
    assert keep_alive
    head, _ = serialize_request("GET", "/", [("Host", "h"), ("X-Tab", "a\tb c")])
    assert head == b"GET / HTTP/1.1\r\nHost: h\r\nX-Tab: a\tb c\r\n\r\n"


def test_large_body_is_left_to_the_caller() -> None:
    conn = ClientConnection()
    assert conn.body_separate is False
    body = b"x" * (SMALL_BODY + 1)
    out = conn.send_request("POST", "/", [("Host", "h")], body)
    assert conn.body_separate
    assert out == b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65537\r\n\r\n"
    conn = ClientConnection()
    out = conn.send_request("POST", "/", [("Host", "h")], memoryview(body)[:SMALL_BODY])
    assert not conn.body_separate
    assert out.endswith(b"\r\n\r\n" + b"x" * SMALL_BODY)


@pytest.mark.parametrize(
    ("method", "target", "headers", "body", "message"),
    [
        ("GET", "/", [], b"", "the request has no Host header (HTTP/1.1 requires one)"),
        ("G T", "/", [("Host", "h")], b"", "invalid method 'G T': not an HTTP token"),
        ("", "/", [("Host", "h")], b"", "invalid method '': not an HTTP token"),
        ("GET", "/a b", [("Host", "h")], b"", "invalid request target '/a b'"),
        ("GET", "/a\r\nX: 1", [("Host", "h")], b"", "invalid request target"),
        ("GET", "", [("Host", "h")], b"", "invalid request target ''"),
        ("GET", "/\xe9", [("Host", "h")], b"", "invalid request target"),
        ("GET", "/\u20ac", [("Host", "h")], b"", "the request target has a character outside"),
        ("GET", "/", [("Host", "h"), ("X-A", "1\r\nInjected: 1")], b"", "header X-A has a control"),
        ("GET", "/", [("Host", "h"), ("X-A", "a\nb")], b"", "header X-A has a control"),
        ("GET", "/", [("Host", "h"), ("X-A", "a\x00b")], b"", "header X-A has a control"),
        ("GET", "/", [("Host", "h"), ("X-A", "a\x1fb")], b"", "header X-A has a control"),
        ("GET", "/", [("Host", "h"), ("X-A", "a\x7f")], b"", "header X-A has a control"),
        ("GET", "/\x7f", [("Host", "h")], b"", "invalid request target"),
        ("GET", "/", [("Host", "h"), ("X-A", "\u20ac")], b"", "header X-A has a character outside"),
        ("GET", "/", [("Host", "h"), ("X A", "1")], b"", "invalid header name 'X A'"),
        ("GET", "/", [("Host", "h"), ("X\r\n", "1")], b"", "invalid header name 'X\\r\\n'"),
        ("GET", "/", [("Host", "h"), ("", "1")], b"", "invalid header name ''"),
        ("GET", "/", [("Host", "h"), (b"X", "1")], b"", "a header name must be str, not bytes"),
        ("GET", "/", [("Host", "h"), ("X", 1)], b"", "header X must be str, not int"),
        (
            "POST",
            "/",
            [("Host", "h"), ("Content-Length", "3")],
            b"ab",
            "header Content-Length: '3' does not match the body's 2 bytes",
        ),
        (
            "POST",
            "/",
            [("Host", "h"), ("content-length", "2"), ("Content-Length", "2")],
            b"ab",
            "header Content-Length: '2' does not match the body's 2 bytes",
        ),
        (
            "POST",
            "/",
            [("Host", "h"), ("Transfer-Encoding", "chunked")],
            b"ab",
            "header Transfer-Encoding is not supported: the body is sent with Content-Length",
        ),
        ("POST", "/", [("Host", "h")], "text", "the body must be bytes, not str"),
    ],
)
def test_refusals(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, message: str
) -> None:
    conn = ClientConnection()
    with pytest.raises(LocalProtocolError) as info:
        conn.send_request(method, target, headers, body)
    assert message in str(info.value)
    assert info.value.request_sent is False
    # nothing was started: a good request still goes
    conn.send_request("GET", "/", [("Host", "h")])


TOKEN = st.text(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    min_size=1,
    max_size=12,
)
VALUE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20).map(
    lambda v: v
) | st.builds(lambda a, b: f"{a} {b}", st.text("abc", min_size=1), st.text("xyz", min_size=1))
TARGET = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30).map(
    lambda t: "/" + t
)
NAMES_TO_AVOID = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade"}


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]),
    target=TARGET,
    headers=st.lists(
        st.tuples(TOKEN.filter(lambda n: n.lower() not in NAMES_TO_AVOID), VALUE), max_size=6
    ),
    body=st.binary(max_size=200),
)
def test_round_trip_through_h11_server(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    conn = ClientConnection()
    sent = [("Host", "example.com"), *headers]
    out = conn.send_request(method, target, sent, body)
    server = h11.Connection(h11.SERVER)
    server.receive_data(out)
    req = server.next_event()
    assert isinstance(req, h11.Request)
    assert req.method == method.encode()
    assert req.target == target.encode()
    got = [(bytes(n).decode(), bytes(v).decode()) for n, v in req.headers.raw_items()]
    expected = [(n, v.strip(" \t")) for n, v in sent]
    if body:
        expected.append(("Content-Length", str(len(body))))
    assert got == expected
    data = b""
    while True:
        ev = server.next_event()
        if isinstance(ev, h11.Data):
            data += ev.data
        else:
            assert isinstance(ev, h11.EndOfMessage)
            break
    assert data == body


def test_keep_alive_follows_the_connection_header_only() -> None:
    hosts = [("Host", "h")]
    assert serialize_request("GET", "/", [*hosts, ("X-Mode", "close")])[1] is True
    assert serialize_request("GET", "/", [*hosts, ("Connection", "keep-alive")])[1] is True
    assert serialize_request("GET", "/", [*hosts, ("connection", "Upgrade, Close")])[1] is False
