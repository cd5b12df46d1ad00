"""The writer's path for names and methods it has checked before (the head built at once, the
values checked together) against its checked path: for any request, valid or not, the same
bytes or the same error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smruntime.exceptions import LocalProtocolError
from smruntime.http import _writer

TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

NAMES = ["Host", "host", "User-Agent", "X-Amz-Date", "Content-Length", "content-length"]
ODD_NAMES = ["Transfer-Encoding", "Connection", "connection", "Bad Name", "", "Caf\xe9", "\u20ac"]
names = st.sampled_from([*NAMES, *ODD_NAMES]) | st.text(TOKEN, min_size=1, max_size=6)
values = st.text(
    st.sampled_from(["a", " ", "\t", "\r", "\n", "\x00", "\x7f", "\x01", "\xe9", "\u20ac", "5"]),
    max_size=6,
) | st.sampled_from(["0", "2", " 2 ", "close", "keep-alive, Close", "chunked"])
targets = st.sampled_from(["/a", "/", "", "/a b", "/\x00", "/caf\xe9", "/\u20ac", "*", "/%20"])
methods = st.sampled_from(["POST", "GET", "post", "PO ST", "", "P\xe9", "\u20ac"])


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except LocalProtocolError as exc:
        return ("error", str(exc))


@given(
    method=methods,
    target=targets,
    headers=st.lists(st.tuples(names, values), max_size=5),
    body_length=st.sampled_from([0, 2, 10]),
)
def test_same_as_the_checked_path(
    method: str, target: str, headers: list[tuple[str, str]], body_length: int
) -> None:
    # warm the caches with every name and the method (valid ones are remembered)
    for name, _ in headers:
        _outcome(_writer._checked_head, method, "/", [("Host", "h"), (name, "v")], 0)
    _outcome(_writer._checked_head, method, "/", [("Host", "h")], 0)
    expected = _outcome(_writer._checked_head, method, target, headers, body_length)
    assert _outcome(_writer.serialize_request, method, target, headers, body_length) == expected


@pytest.mark.parametrize(
    "headers",
    [
        [("Host", "h"), ("A", "b")],
        [("A", "b"), ("Host", "h")],
        [("Host", "h"), ("Host", "h2")],
        [("A", "b")],
        [],
        [("Host", "h"), ("A", "")],
        [("Host", "h"), ("A", "b\r\nC: d")],
        [("Host", "h"), ("A", "b\rc")],
        [("Host", "h"), ("A", 5)],
        [("Host", "h"), (5, "a")],
    ],
)
@pytest.mark.parametrize("target", ["/a", "/a b", "", "/\u20ac", "/\x00", "/\xe9"])
@pytest.mark.parametrize("body_length", [0, 7])
def test_edge_cases(headers: list[tuple[Any, Any]], target: str, body_length: int) -> None:
    _writer.serialize_request("POST", "/", [("Host", "h"), ("A", "b")])  # warm
    expected = _outcome(_writer._checked_head, "POST", target, headers, body_length)
    got = _outcome(_writer.serialize_request, "POST", target, headers, body_length)
    assert got == expected
    if expected[0] != "error":
        assert _writer._known_head("POST", target, headers, body_length) in (None, expected[0])


def test_the_known_path_is_taken() -> None:
    headers = [("Host", "h"), ("User-Agent", "u")]
    _writer.serialize_request("POST", "/", headers, 2)
    head = _writer._known_head("POST", "/x", headers, 2)
    assert head == b"POST /x HTTP/1.1\r\nHost: h\r\nUser-Agent: u\r\nContent-Length: 2\r\n\r\n"
    assert _writer._known_head("POST", "/x", headers, 0) == (
        b"POST /x HTTP/1.1\r\nHost: h\r\nUser-Agent: u\r\n\r\n"
    )
    assert _writer._known_head("POST", "/x", [*headers, ("Content-Length", "2")], 2) is None


def test_the_caches_stay_bounded() -> None:
    _writer._NAMES.clear()
    _writer._METHODS.clear()
    try:
        for i in range(_writer._CACHE_MAX + 5):
            _writer.serialize_request(f"M{i}", "/", [("Host", "h"), (f"X-{i}", "v")])
        assert len(_writer._NAMES) == len(_writer._METHODS) == _writer._CACHE_MAX
        # a name first seen after the bound is still written, through the checked path
        head, _ = _writer.serialize_request("POST", "/", [("Host", "h"), ("X-Late", "v")])
        assert head == b"POST / HTTP/1.1\r\nHost: h\r\nX-Late: v\r\n\r\n"
        assert "X-Late" not in _writer._NAMES
    finally:  # (full caches would keep later tests off the known path)
        _writer._NAMES.clear()
        _writer._METHODS.clear()
