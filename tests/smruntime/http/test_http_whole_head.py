"""The reader's whole-head path (a complete head in the buffer, read at once) against its
line-by-line path: for any bytes, valid or broken, and any limits, the same events, the same
connection state and the same errors (message, offset, line)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smruntime.exceptions import RemoteProtocolError
from smruntime.http import Limits
from smruntime.http import _parser as parser_module

from .helpers import parse
from .test_http_differential import mutate, responses


def _outcome(raw: bytes, limits: Limits | None, *, whole: bool) -> tuple[Any, ...]:
    """What the reader makes of ``raw`` in one piece, its whole-head path on or off."""
    original = parser_module.ResponseReader._whole_head
    if not whole:
        parser_module.ResponseReader._whole_head = lambda self: None  # type: ignore[method-assign]
    try:
        conn, evs = parse(raw, [], eof=True, limits=limits)
    except RemoteProtocolError as exc:
        return ("error", str(exc), exc.offset, exc.line)
    finally:
        parser_module.ResponseReader._whole_head = original  # type: ignore[method-assign]
    shown = [(type(ev).__name__, vars(ev) if hasattr(ev, "__dict__") else repr(ev)) for ev in evs]
    state = (conn.reusable, conn.extra_bytes, conn.bytes_received, conn.response_complete)
    return ("ok", [repr(ev) for ev in evs], shown, state)


def _same(raw: bytes, limits: Limits | None = None) -> None:
    assert _outcome(raw, limits, whole=True) == _outcome(raw, limits, whole=False), raw


any_limits = st.none() | st.builds(
    Limits,
    max_line_bytes=st.integers(1, 80),
    max_headers=st.integers(1, 6),
    max_header_bytes=st.integers(1, 300),
)


@given(spec=responses(), limits=any_limits)
def test_valid_responses(spec: dict[str, Any], limits: Limits | None) -> None:
    _same(spec["raw"], limits)


@given(data=st.data(), spec=responses())
def test_mutated_responses(data: Any, spec: dict[str, Any]) -> None:
    raw = mutate(data, spec["raw"], b"\r\n :;0a9fF\t\x00,xX-H1T/\x7f\xe9")
    _same(raw, data.draw(any_limits))


HEAD = b"HTTP/1.1 200 OK\r\nA: b\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        HEAD + b"Content-Length: 2\r\n\r\nab",
        HEAD + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\nab",
        HEAD + b"Content-Length: 2, 2\r\n\r\nab",
        HEAD + b"Content-Length: 3\r\nContent-Length: 2\r\n\r\nab",
        HEAD + b"Content-Length: +2\r\n\r\nab",
        HEAD + b"Content-Length: \xb2\r\n\r\nab",
        HEAD + b"Content-Length: 1234567890123456789\r\n\r\nab",
        HEAD + b"Content-Length: 123456789012345678\r\n\r\nab",
        HEAD + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
        HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nab\r\n0\r\n\r\n",
        HEAD + b"Transfer-Encoding: CHUNKED\r\n\r\n2\r\nab\r\n0\r\n\r\n",
        HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        HEAD + b"Transfer-Encoding: gzip\r\n\r\n",
        HEAD + b"Connection: close\r\nContent-Length: 0\r\n\r\n",
        HEAD + b"Connection: Keep-Alive, x\r\nConnection: close\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\n\r\n",
        b"HTTP/1.1 599 X\r\n\r\nclose-delimited",
        b"HTTP/1.1 600 X\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 199 X\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 101 Switching\r\n\r\n",
        b"HTTP/1.1 99\r\n\r\n",
        b"HTTP/1.1 099 X\r\n\r\n",
        b"HTTP/1.1 20\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200OK\r\n\r\n",
        b"HTTP/1.1  200 OK\r\n\r\n",
        b"HTTP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.2 200 OK\r\n\r\n",
        b"HTTX/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1_200 OK\r\n\r\n",
        b"HTTP/1.1 200 O\x01K\r\n\r\n",
        b"HTTP/1.1 200 O\rK\r\n\r\n",
        b"HTTP/1.1 200 OK\nA: b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\n\r\n",
        b"HTTP/1.1 200 OK\r\nA: b\r\n\n",
        b"\r\n\r\n",
        b"\r\nHTTP/1.1 200 OK\r\n\r\n",
        HEAD + b" B: obs-fold\r\n\r\n",
        HEAD + b"B : space\r\n\r\n",
        HEAD + b": no name\r\n\r\n",
        HEAD + b"NoColon\r\n\r\n",
        HEAD + b"B: \tpadded\t \r\nC:\r\nD:x\r\n\r\n",
        HEAD + b"B: caf\xe9\r\n\r\n",
        HEAD + b"B: a\x00b\r\n\r\n",
        HEAD + b"B: a\x7fb\r\n\r\n",
        HEAD + b"B\xe9: x\r\n\r\n",
        HEAD + b"b: 1\r\nB: 2\r\n\r\n",
    ],
)
@pytest.mark.parametrize(
    "limits",
    [
        None,
        Limits(max_headers=1),
        Limits(max_headers=2),
        Limits(max_line_bytes=16),
        Limits(max_line_bytes=17),
        Limits(max_line_bytes=18),
        Limits(max_header_bytes=46),
        Limits(max_header_bytes=47),
        Limits(max_header_bytes=48),
    ],
)
def test_edge_cases(raw: bytes, limits: Limits | None) -> None:
    _same(raw, limits)


def test_the_whole_head_path_is_taken() -> None:
    """A plain head in one piece is read at once (the path the tests above compare)."""
    reader = parser_module.ResponseReader()
    reader.receive_data(HEAD + b"Content-Length: 2\r\n\r\nab")
    assert reader._whole_head() is not None
    for raw in (HEAD, HEAD + b"X: y\n\r\n", b"HTTP/1.1 100 Continue\r\n\r\n"):
        reader = parser_module.ResponseReader()
        reader.receive_data(raw)
        assert reader._whole_head() is None


@pytest.mark.parametrize("max_line", [14, 15, 16, 17, 18, 19, 20])
@pytest.mark.parametrize("extra", [b"", b"Content-Length: 0\r\n"])
def test_heads_about_as_long_as_a_line_may_be(max_line: int, extra: bytes) -> None:
    # The longest-line scan is skipped only when the whole head is too short to hold a line
    # over the limit: around that size (a line of the limit, a byte or two more or less) both
    # paths must agree, the line reader's "longer than max_line_bytes" error included.
    for reason in (b"", b"O", b"OK", b"OKx", b"OKxy", b"OKxyz", b"OKxyzw"):
        raw = b"HTTP/1.1 200 " + reason + b"\r\n" + extra + b"\r\n"
        _same(raw, Limits(max_line_bytes=max_line))
