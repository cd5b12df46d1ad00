"""The response reader against two oracles: h11 and the standard library's http.client.

Generated responses (Content-Length, chunked with extensions and trailers, close-delimited,
1xx first, HTTP/1.0 and 1.1) parsed under random chunkings must give the same status, reason,
headers, body and trailers as h11 (fed the same chunks) and http.client. Broken responses from
families of faults where an oracle is strict must be rejected by both, and whenever both accept
a randomly mutated response they must agree on what it says.
"""

from __future__ import annotations

import http.client
import io
from typing import Any

import h11
from hypothesis import assume, given
from hypothesis import strategies as st

from smruntime.exceptions import RemoteProtocolError
from smruntime.http import Data, EndOfMessage, Response

from .helpers import parse

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
FRAMING = {"content-length", "transfer-encoding", "connection", "trailer", "upgrade"}

names = st.text(TCHARS, min_size=1, max_size=10).filter(lambda n: n.lower() not in FRAMING)
# visible ASCII with inner spaces and tabs (no leading/trailing whitespace: all three strip it)
values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=12) | st.builds(
    lambda a, sep, b: a + sep + b,
    st.text("abc=;", min_size=1, max_size=4),
    st.sampled_from([" ", "\t", "  "]),
    st.text('xyz,"', min_size=1, max_size=4),
)
fields = st.lists(st.tuples(names, values), max_size=5)
reasons = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=15).map(
    lambda r: r.strip()
)


@st.composite
def responses(draw: Any) -> dict[str, Any]:
    """A valid response: its bytes and what it means."""
    version = draw(st.sampled_from(["1.1", "1.0"]))
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    status = draw(st.integers(200, 599).filter(lambda s: s not in (204, 304)))
    reason = draw(reasons)
    headers = draw(fields)
    body = draw(st.binary(max_size=300))
    trailers: list[tuple[str, str]] = []
    head = [f"HTTP/{version} {status} {reason}".rstrip(" ").encode() + b"\r\n"]
    interim = draw(
        st.sampled_from(
            [b"", b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Hints\r\nLink: a\r\n\r\n"]
        )
    )
    sent = list(headers)
    if framing == "length":
        sent.insert(draw(st.integers(0, len(sent))), ("Content-Length", str(len(body))))
    elif framing == "chunked":
        sent.insert(draw(st.integers(0, len(sent))), ("Transfer-Encoding", "chunked"))
    keep = draw(st.sampled_from([None, "close", "keep-alive"]))
    if keep:
        sent.append(("Connection", keep))
    for name, value in sent:
        head.append(f"{name}: {value}\r\n".encode())
    head.append(b"\r\n")
    if framing == "chunked":
        payload = []
        rest = body
        while rest:
            size = draw(st.integers(1, len(rest)))
            piece, rest = rest[:size], rest[size:]
            digits = draw(st.sampled_from(["{:x}", "{:X}", "{:04x}"])).format(size)
            ext = draw(st.sampled_from(["", ";a", ";a=b", ';name="quoted value";x']))
            payload.append(f"{digits}{ext}\r\n".encode() + piece + b"\r\n")
        trailers = draw(fields)
        payload.append(b"0\r\n" + b"".join(f"{n}: {v}\r\n".encode() for n, v in trailers) + b"\r\n")
        encoded = b"".join(payload)
    else:
        encoded = body
    raw = interim + b"".join(head) + encoded
    return {
        "raw": raw,
        "status": status,
        "reason": reason,
        "headers": [(n, v.strip(" \t")) for n, v in sent],
        "body": body,
        "trailers": [(n, v.strip(" \t")) for n, v in trailers],
        "framing": framing,
        "version": version,
        "keep": keep,
    }


def cuts_for(raw: bytes) -> Any:
    return st.lists(st.integers(0, len(raw)), max_size=8)


def ours(raw: bytes, cuts: list[int]) -> tuple[Any, ...]:
    conn, evs = parse(raw, cuts, eof=True)
    resp = evs[0]
    assert isinstance(resp, Response)
    end = evs[-1]
    assert isinstance(end, EndOfMessage)
    body = b"".join(ev.data for ev in evs if isinstance(ev, Data))
    return (resp.status, resp.reason, resp.headers, body, end.trailers), conn


def with_h11(raw: bytes, cuts: list[int]) -> tuple[Any, ...]:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "h")]))
    conn.send(h11.EndOfMessage())
    bounds = [0, *sorted(set(cuts)), len(raw)]
    feed = [raw[a:b] for a, b in zip(bounds, bounds[1:]) if b > a] + [b""]
    resp: Any = None
    body = b""
    for chunk in feed:
        conn.receive_data(chunk)
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                break
            if isinstance(ev, h11.Response):
                resp = ev
            elif isinstance(ev, h11.Data):
                body += ev.data
            elif isinstance(ev, h11.EndOfMessage):
                trailers = [
                    (bytes(n).decode(), bytes(v).decode()) for n, v in ev.headers.raw_items()
                ]
                headers = [
                    (bytes(n).decode(), bytes(v).decode()) for n, v in resp.headers.raw_items()
                ]
                summary = (resp.status_code, resp.reason.decode(), headers, body, trailers)
                return summary, conn
    raise h11.RemoteProtocolError("no end")


class _Sock:
    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self._raw)


def with_http_client(raw: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
    resp = http.client.HTTPResponse(_Sock(raw))  # type: ignore[arg-type]
    resp.begin()
    return resp.status, resp.reason, resp.getheaders(), resp.read()


@given(data=st.data(), spec=responses())
def test_same_as_h11_under_random_chunkings(data: Any, spec: dict[str, Any]) -> None:
    raw = spec["raw"]
    cuts = data.draw(cuts_for(raw))
    got, _conn = ours(raw, cuts)
    expected = (spec["status"], spec["reason"], spec["headers"], spec["body"], spec["trailers"])
    assert got == expected
    oracle, _h11_conn = with_h11(raw, data.draw(cuts_for(raw)))
    assert got == oracle
    # keep-alive: h11 keeps the connection iff its peer's state is DONE (not MUST_CLOSE/CLOSED)
    # (h11 reads the EOF we fed too, so compare the verdict before any EOF: framing + headers)
    if spec["framing"] != "close":
        conn2, _ = parse(raw, cuts, eof=False)
        h11_again = h11.Connection(h11.CLIENT)
        h11_again.send(h11.Request(method="GET", target="/", headers=[("Host", "h")]))
        h11_again.send(h11.EndOfMessage())
        h11_again.receive_data(raw)
        while not isinstance(h11_again.next_event(), h11.EndOfMessage):
            pass
        if spec["version"] == "1.1":  # h11 never keeps an HTTP/1.0 connection (we honour
            # "Connection: keep-alive" from an HTTP/1.0 server, as http.client does)
            assert conn2.reusable is (h11_again.their_state is h11.DONE)
        else:
            assert conn2.reusable is (spec["keep"] == "keep-alive")


@given(spec=responses())
def test_same_as_http_client(spec: dict[str, Any]) -> None:
    raw = spec["raw"]
    assume(b" 103 " not in raw)  # http.client skips 100 Continue only
    got, _ = ours(raw, [])
    status, reason, headers, body = with_http_client(raw)
    assert (got[0], got[1], got[3]) == (status, reason, body)
    assert got[2] == headers


# -- rejects ---------------------------------------------------------------------------------


def _rejects_ours(raw: bytes, cuts: list[int]) -> bool:
    try:
        ours(raw, cuts)
    except RemoteProtocolError:
        return True
    return False


def _rejects_h11(raw: bytes, cuts: list[int]) -> bool:
    try:
        with_h11(raw, cuts)
    except h11.RemoteProtocolError:
        return True
    return False


def _rejects_http_client(raw: bytes) -> bool:
    try:
        with_http_client(raw)
    except (http.client.HTTPException, ValueError):
        return True
    return False


CHUNK_FAULTS = [b"zz", b"-1", b"0x5", b" 5", b"", b"5_0", b"+5", b"1" * 21]


@st.composite
def broken(draw: Any) -> tuple[bytes, bool]:
    """A response broken in a way h11 also rejects; and whether http.client must reject it."""
    spec = draw(responses())
    raw: bytes = spec["raw"]
    kind = draw(
        st.sampled_from(
            ["truncate", "status", "chunk-size", "chunk-end", "coding", "name-space", "no-colon"]
        )
    )
    start = 0  # the final response's status line, after any 1xx head
    while raw[start + 9 : start + 10] == b"1":
        start = raw.index(b"\r\n\r\n", start) + 4
    head_end = raw.index(b"\r\n\r\n", start) + 4
    if kind == "truncate":
        assume(spec["framing"] != "close")
        cut = draw(st.integers(0, len(raw) - 1))
        # http.client tolerates an EOF in the head or the trailers: strict on sized bodies only,
        # and it takes a 103 for the final response (whose body it then never reads)
        strict = spec["framing"] == "length" and cut >= head_end and b" 103 " not in raw[:start]
        return raw[:cut], strict
    if kind == "status":
        bad = draw(
            st.sampled_from(
                [b"HTTP/1.1 2x0 OK", b"HTTP/1.1 20", b"HTTX/1.1 200 OK", b"HTTP/1.1 099 X"]
            )
        )
        line_end = raw.index(b"\r\n", start)
        # http.client takes a 103 for the final response
        return raw[:start] + bad + raw[line_end:], b" 103 " not in raw[:start]
    if kind == "name-space":
        return raw[: head_end - 2] + b"Bad Name: x\r\n\r\n" + raw[head_end:], False
    if kind == "no-colon":
        return raw[: head_end - 2] + b"NoColon\r\n\r\n" + raw[head_end:], False
    if kind == "coding":
        assume(spec["framing"] != "length")
        coding = draw(st.sampled_from([b"gzip", b"identity", b"gzip, chunked", b"chunked, gzip"]))
        if spec["framing"] == "chunked":
            return raw.replace(
                b"Transfer-Encoding: chunked", b"Transfer-Encoding: " + coding, 1
            ), False
        return raw[: head_end - 2] + b"Transfer-Encoding: " + coding + b"\r\n\r\n" + raw[
            head_end:
        ], False
    assume(spec["framing"] == "chunked")
    if kind == "chunk-size":
        fault = draw(st.sampled_from(CHUNK_FAULTS))
        line_end = raw.index(b"\r\n", head_end)
        return raw[:head_end] + fault + raw[line_end:], False
    # chunk-end: the CRLF after the first chunk's data replaced
    assume(spec["body"])
    line_end = raw.index(b"\r\n", head_end)
    size = int(raw[head_end:line_end].split(b";")[0], 16)
    data_end = line_end + 2 + size
    return raw[:data_end] + draw(st.sampled_from([b"XX", b"\n\n", b"\rX"])) + raw[
        data_end + 2 :
    ], False


@given(data=st.data(), case=broken())
def test_rejected_where_the_oracles_are_strict(data: Any, case: tuple[bytes, bool]) -> None:
    raw, http_client_strict = case
    cuts = data.draw(cuts_for(raw))
    assert _rejects_ours(raw, cuts), raw
    assert _rejects_h11(raw, cuts), raw
    if http_client_strict:
        assert _rejects_http_client(raw), raw


def mutate(data: Any, raw: bytes, alphabet: bytes) -> bytes:
    """``raw`` with 1-3 drawn bytes replaced, inserted or deleted (bytes from ``alphabet``)."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(out) - 1))
        op = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = data.draw(st.sampled_from(alphabet))
        if op == "replace":
            out[at] = byte
        elif op == "insert":
            out.insert(at, byte)
        elif len(out) > 1:
            del out[at]
    return bytes(out)


@given(data=st.data(), spec=responses())
def test_random_mutations_never_parse_differently(data: Any, spec: dict[str, Any]) -> None:
    # Where ours and h11 both accept a mutated response, they say the same thing (no silent
    # misparse in either direction). Where only one accepts, the strictness differs: allowed.
    mutated = mutate(data, spec["raw"], b"\r\n :;0a9fF\t\x00,xX-")
    cuts = data.draw(cuts_for(mutated))
    try:
        got, _ = ours(mutated, cuts)
    except RemoteProtocolError:
        return
    try:
        oracle, _ = with_h11(mutated, cuts)
    except h11.RemoteProtocolError:
        return
    # h11 lower-cases nothing in raw_items, strips the same whitespace
    assert got == oracle
