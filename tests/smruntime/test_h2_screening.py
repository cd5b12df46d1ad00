"""The HTTP/2 client's DATA screening (smruntime.http._h2, H2ClientStream._screen):
frames split at every byte boundary, padding, empty END_STREAM frames, frames after the end,
CONTINUATION, window overruns, a SETTINGS change of the initial window, huge frame lengths;
in memory against h2's server side, and the blocking driver against a raw-socket h2c server
writing hand-made frames."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional

import pytest

pytest.importorskip("h2")

import h2.settings

from smruntime.http import _h2
from smruntime.http._h2_sync import open_stream
from tests.smruntime.test_h2_protocol import Pair

_STATUS_200 = b"\x88"  # HPACK: the static table's ":status: 200"


def frame(kind: int, flags: int, sid: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "big") + bytes((kind, flags)) + sid.to_bytes(4, "big") + payload


def data(sid: int, body: bytes, flags: int = 0) -> bytes:
    return frame(0x0, flags, sid, body)


def headers(sid: int, block: bytes = _STATUS_200, flags: int = 0x4) -> bytes:
    return frame(0x1, flags, sid, block)


def normal(events: list[_h2.H2Event]) -> list[tuple[Any, ...]]:
    """Events with consecutive Data joined (their split depends on the reads)."""
    out: list[tuple[Any, ...]] = []
    for event in events:
        if isinstance(event, _h2.Data):
            if out and out[-1][0] == "Data":
                out[-1] = ("Data", out[-1][1] + event.data, out[-1][2] + event.flow)
            else:
                out.append(("Data", event.data, event.flow))
        elif isinstance(event, _h2.Failed):
            out.append(("Failed", type(event.error).__name__))
        else:
            out.append((type(event).__name__,))
    return out


def feed(
    wire: bytes, cuts: list[int], window: int = 65535, input_closed: bool = False
) -> tuple[list[Any], Pair]:
    pair = Pair(window=window)
    if input_closed:  # our END_STREAM queued first
        pair.client.end_input()
        pair.to_server()
    assert pair.to_client() == []  # the server's SETTINGS
    points = [0, *cuts, len(wire)]
    events: list[_h2.H2Event] = []
    for a, b in zip(points, points[1:]):
        if b > a:
            events += pair.client.receive(wire[a:b])
    return normal(events), pair


def continued(sid: int) -> bytes:
    """A response header block in a HEADERS frame and a CONTINUATION frame."""
    block = _STATUS_200 + b"\x40\x05x-abc\x03def"  # :status 200, then x-abc: def (literal)
    return headers(sid, block[:2], flags=0) + frame(0x9, 0x4, sid, block[2:])


SCENARIOS: dict[str, Callable[[int], bytes]] = {
    "padded, empty and empty END_STREAM": lambda s: (
        headers(s)
        + data(s, b"\x03abc\x00\x00\x00", flags=0x8)
        + data(s, b"")
        + data(s, b"\x02\x00\x00", flags=0x8)
        + data(s, b"", flags=0x1)
    ),
    "CONTINUATION then body": lambda s: continued(s) + data(s, b"xyz") + data(s, b"q", 0x1),
    "DATA inside a header block": lambda s: (
        headers(s, _STATUS_200[:1], 0) + data(s, b"no") + frame(0x9, 0x4, s, b"")
    ),
    "trailers": lambda s: headers(s) + data(s, b"a" * 50) + headers(s, b"\x40\x01t\x01v", 0x5),
    "graceful GOAWAY mid-body": lambda s: (
        headers(s)
        + data(s, b"a" * 40)
        + frame(0x7, 0, 0, s.to_bytes(4, "big") + bytes(4))
        + data(s, b"b", 0x1)
    ),
    "GOAWAY with an error": lambda s: (
        headers(s)
        + data(s, b"a" * 10)
        + frame(0x7, 0, 0, s.to_bytes(4, "big") + b"\x00\x00\x00\x02")
        + data(s, b"b", 0x1)
    ),
    "RST_STREAM mid-body": lambda s: (
        headers(s) + data(s, b"a" * 30) + frame(0x3, 0, s, b"\x00\x00\x00\x02")
    ),
    "DATA after END_STREAM": lambda s: headers(s) + data(s, b"a" * 10, 0x1) + data(s, b"late"),
    "SETTINGS and PING between bodies": lambda s: (
        headers(s)
        + data(s, b"one")
        + frame(0x4, 0, 0, (4).to_bytes(2, "big") + (100).to_bytes(4, "big"))
        + frame(0x6, 0, 0, b"12345678")
        + data(s, b"two", 0x1)
    ),
    "a bad pad length": lambda s: headers(s) + data(s, b"ok") + data(s, b"\x05abcd", 0x8),
    "a frame of another stream": lambda s: headers(s) + data(s, b"ok") + data(s + 2, b"x"),
}


def same(got: list[Any], whole: list[Any]) -> bool:
    """The events of a split read match those of the whole read. A read h2 refuses is refused
    whole, with the events of the frames before it in that read (h2's receive_data is all or
    nothing): where the whole read fails, only the failure must match."""
    if whole[-1][0] == "Failed":
        return bool(got) and got[-1] == whole[-1]
    return got == whole


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_single_cut_gives_the_events_of_the_whole_read(name: str) -> None:
    wire = SCENARIOS[name](1)
    whole, _ = feed(wire, [])
    for cut in range(1, len(wire)):
        got, _ = feed(wire, [cut])
        assert same(got, whole), f"cut at byte {cut}: {got} != {whole}"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_single_cut_gives_the_events_of_the_whole_read_after_our_end_stream(
    name: str,
) -> None:
    """As above with our END_STREAM queued first: the frame that ends the response is then
    not handed to h2 when it is the last of its read (the exchange is over)."""
    wire = SCENARIOS[name](1)
    whole, _ = feed(wire, [], input_closed=True)
    for cut in range(1, len(wire)):
        got, _ = feed(wire, [cut], input_closed=True)
        assert same(got, whole), f"cut at byte {cut}: {got} != {whole}"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_byte_by_byte_gives_the_events_of_the_whole_read(name: str) -> None:
    wire = SCENARIOS[name](1)
    whole, _ = feed(wire, [])
    got, _ = feed(wire, list(range(1, len(wire))))
    assert same(got, whole), f"{got} != {whole}"


def test_a_settings_change_of_the_initial_window_mid_stream() -> None:
    pair = Pair(window=65535)
    pair.respond()
    pair.to_server()
    assert pair.client.send(b"x" * 30000) == 30000
    pair.to_server()
    pair.server.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000})
    pair.to_client()
    assert pair.client.send_capacity() == 0  # 1000 - 30000: below zero, nothing to send
    assert pair.client.send(b"y") == 0
    pair.to_server()
    pair.server.increment_flow_control_window(40000, stream_id=pair.sid)
    pair.to_client()
    assert pair.client.send_capacity() == 1000 - 30000 + 40000
    # our receive window is ours: the server's SETTINGS do not move it
    pair.server.send_data(pair.sid, b"r" * 16000)
    assert pair.client.failed is None
    assert sum(e.flow for e in pair.to_client() if isinstance(e, _h2.Data)) == 16000


def _split_headers_then(pair: Pair, body: bytes) -> list[_h2.H2Event]:
    """The response's HEADERS frame in two reads, ``body`` in the second."""
    assert pair.to_client() == []
    head = headers(pair.sid)
    return pair.client.receive(head[:-1]) + pair.client.receive(head[-1:] + body)


def _window_of_frames(sid: int, window: int) -> bytes:
    sizes = [16384] * (window // 16384) + [window % 16384]
    return b"".join(data(sid, b"w" * n) for n in sizes if n)


def test_a_body_in_the_read_that_ends_split_headers_counts_against_the_window() -> None:
    window = 65535
    pair = Pair(window=window)
    events = _split_headers_then(pair, _window_of_frames(pair.sid, window))
    assert not any(isinstance(e, _h2.Failed) for e in events)
    assert sum(e.flow for e in events if isinstance(e, _h2.Data)) == window
    # nothing consumed, nothing announced: one byte more is past the window
    late = pair.client.receive(data(pair.sid, b"!"))
    assert [type(e) for e in late] == [_h2.Failed], normal(late)
    assert "flow control" in str(late[0].error)  # type: ignore[union-attr]


_LONG_BLOCK = _STATUS_200 + b"\x40\x05x-abc\x03def"  # :status 200, x-abc: def (literal)


@pytest.mark.parametrize(
    ("head", "last"),  # the header block, where its last frame starts
    [
        (headers(1, _LONG_BLOCK), 0),  # one HEADERS frame
        (headers(1, _LONG_BLOCK[:2], flags=0) + frame(0x9, 0x4, 1, _LONG_BLOCK[2:]), 11),
    ],
    ids=["HEADERS", "CONTINUATION"],
)
def test_a_body_after_a_header_block_over_three_reads_counts_against_the_window(
    head: bytes, last: int
) -> None:
    # the last header frame starts in one read, has a byte in the next alone and ends in the
    # third, with a whole window of DATA after it: each cut point in that frame
    window = 65535
    body = _window_of_frames(1, window)
    assert head[last + 3] in (0x1, 0x9)
    assert head[last + 4] & 0x4
    for a in range(last + 1, len(head) - 1):  # a: in the last frame, b: past a, before its end
        for b in range(a + 1, len(head)):
            pair = Pair(window=window)
            assert pair.sid == 1
            assert pair.to_client() == []
            events = pair.client.receive(head[:a]) + pair.client.receive(head[a:b])
            events += pair.client.receive(head[b:] + body)
            assert [type(e) for e in events][:1] == [_h2.Response], (a, b)
            assert sum(e.flow for e in events if isinstance(e, _h2.Data)) == window
            late = pair.client.receive(data(1, b"!"))
            assert [type(e) for e in late] == [_h2.Failed], (a, b, normal(late))


def test_a_window_overrun_over_many_frames_is_a_flow_control_error() -> None:
    window = 65535
    pair = Pair(window=window)
    pair.respond()
    events = pair.client.receive(_window_of_frames(pair.sid, window) + data(pair.sid, b"!"))
    assert normal(events)[-1] == ("Failed", "ConnectionClosedError")
    assert sum(e.flow for e in events if isinstance(e, _h2.Data)) == window
    failed = events[-1]
    assert isinstance(failed, _h2.Failed)
    assert "flow control" in str(failed.error)
    out = pair.client.data_to_send()
    at = out.index(b"\x07\x00\x00\x00\x00\x00")  # GOAWAY, FLOW_CONTROL_ERROR
    assert out[at + 10 : at + 14] == (3).to_bytes(4, "big")


def test_the_overrun_message_counts_the_bodies_of_its_own_read() -> None:
    pair = Pair(window=65535)
    pair.respond()
    events = pair.client.receive(data(pair.sid, b"a" * 60000) + data(pair.sid, b"b" * 6000))
    failed = events[-1]
    assert isinstance(failed, _h2.Failed)
    assert "after 60000 response bytes" in str(failed.error)


@pytest.mark.parametrize("kind", [0x0, 0x6, 0x1])  # DATA of ours, PING, HEADERS
def test_a_huge_frame_length_fails_at_its_header(kind: int) -> None:
    pair = Pair(window=65535)
    pair.respond()
    sid = 0 if kind == 0x6 else pair.sid
    header = (1 << 24) - 1
    wire = header.to_bytes(3, "big") + bytes((kind, 0)) + sid.to_bytes(4, "big") + b"x" * 100
    events = pair.client.receive(wire)
    assert [type(e) for e in events] == [_h2.Failed]


def test_a_frame_length_at_the_limit_is_taken_and_one_past_it_refused_at_its_header() -> None:
    pair = Pair(window=65535)
    pair.respond()
    ping = (_h2.MAX_FRAME_SIZE).to_bytes(3, "big") + b"\x06\x00" + bytes(4)
    assert pair.client.receive(ping + b"p" * 1000) == []  # the rest is awaited
    header = (_h2.MAX_FRAME_SIZE + 1).to_bytes(3, "big") + b"\x06\x00" + bytes(4)
    for cut in range(1, len(header)):  # refused as soon as its length is known, however cut
        pair = Pair(window=65535)
        pair.respond()
        assert pair.client.receive(header[:cut]) == []
        events = pair.client.receive(header[cut:])
        assert [type(e) for e in events] == [_h2.Failed]
        message = str(events[0].error)  # type: ignore[union-attr]
        assert f"a frame of {_h2.MAX_FRAME_SIZE + 1} bytes (type 0x6)" in message
        assert "FRAME_SIZE_ERROR" in message
        out = pair.client.data_to_send()
        at = out.index(b"\x07\x00\x00\x00\x00\x00")  # GOAWAY
        assert out[at + 10 : at + 14] == (6).to_bytes(4, "big")  # FRAME_SIZE_ERROR


# -- the blocking driver against hand-written frames -----------------------------------------


@contextmanager
def raw_h2c(script: Callable[[socket.socket], None]) -> Iterator[str]:
    """A one-connection h2c server: reads the preface, SETTINGS and HEADERS the client sends
    first, then runs ``script`` on the socket (which must write the server's SETTINGS)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    done = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            got = b""
            while b"\x01" not in got[24:] or not _has_headers(got):
                more = conn.recv(65536)
                if not more:
                    return
                got += more
            script(conn)
            done.wait(5)
        except OSError:
            pass
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/x"
    finally:
        done.set()
        thread.join(5)
        listener.close()


def _has_headers(wire: bytes) -> bool:
    pos = 24  # the preface
    while pos + 9 <= len(wire):
        length = int.from_bytes(wire[pos : pos + 3], "big")
        if wire[pos + 3] == 0x1:
            return pos + 9 + length <= len(wire)
        pos += 9 + length
    return False


SERVER_SETTINGS = frame(0x4, 0, 0, b"") + frame(0x4, 0x1, 0, b"")  # ours, and the ACK of theirs


def events_until_end(stream: Any, timeout: float = 2.0) -> list[Any]:
    out: list[Any] = []
    while True:
        event: Optional[_h2.H2Event] = stream.next_event(timeout)
        if event is None:
            out.append(("timed out",))
            return out
        out += normal([event])
        if isinstance(event, (_h2.End, _h2.Failed)):
            return out


def test_driver_padded_and_empty_frames_dribbled_byte_by_byte() -> None:
    wire = SERVER_SETTINGS + SCENARIOS["padded, empty and empty END_STREAM"](1)

    def script(conn: socket.socket) -> None:
        for i in range(len(wire)):
            conn.sendall(wire[i : i + 1])

    with raw_h2c(script) as url:
        stream = open_stream(url, "POST", [], connect_timeout=5)
        try:
            got = events_until_end(stream)
        finally:
            stream.close()
    assert got[0] == ("Response",)
    body = b"".join(e[1] for e in got if e[0] == "Data")
    assert body == b"abc"
    assert got[-1] == ("End",)


def test_driver_a_window_overrun_is_a_flow_control_error() -> None:
    window = 65535

    def script(conn: socket.socket) -> None:
        conn.sendall(SERVER_SETTINGS + headers(1) + _window_of_frames(1, window + 10))

    with raw_h2c(script) as url:
        stream = open_stream(url, "POST", [], connect_timeout=5, receive_window=window)
        try:
            got = events_until_end(stream)
        finally:
            stream.close()
    assert got[-1] == ("Failed", "ConnectionClosedError"), got


def test_driver_a_huge_frame_length_fails_without_waiting_for_the_frame() -> None:
    def script(conn: socket.socket) -> None:
        huge = ((1 << 24) - 1).to_bytes(3, "big") + b"\x00\x00" + (1).to_bytes(4, "big")
        conn.sendall(SERVER_SETTINGS + headers(1) + huge + b"x" * 1000)

    with raw_h2c(script) as url:
        stream = open_stream(url, "POST", [], connect_timeout=5)
        try:
            got = events_until_end(stream, timeout=0.5)
        finally:
            stream.close()
    assert got[-1][0] == "Failed", got


def test_data_after_the_servers_end_stream_is_not_called_a_server_reset() -> None:
    pair = Pair(window=65535)
    pair.respond()
    events = pair.client.receive(data(pair.sid, b"end", 0x1) + data(pair.sid, b"late"))
    assert [type(e) for e in events] == [_h2.Data, _h2.End, _h2.Failed]
    failed = events[-1]
    assert isinstance(failed, _h2.Failed)
    assert "server reset" not in str(failed.error)


def _count_h2_reads(pair: Pair) -> list[bytes]:
    """The bytes h2 is handed from here on (its receive_data wrapped)."""
    seen: list[bytes] = []
    conn = pair.client._conn
    receive_data = conn.receive_data

    def counted(data: bytes) -> Any:
        seen.append(bytes(data))
        return receive_data(data)

    conn.receive_data = counted  # type: ignore[method-assign]
    return seen


def _credits(sid: int) -> bytes:
    """The server's WINDOW_UPDATEs for the connection and the stream (taken out by _screen)."""
    return frame(0x8, 0, 0, (10).to_bytes(4, "big")) + frame(0x8, 0, sid, (10).to_bytes(4, "big"))


@pytest.mark.parametrize("body", [b"", b"tail", b"\x02tail\x00\x00"])
def test_the_end_of_the_response_after_our_end_stream_is_not_parsed_by_h2(body: bytes) -> None:
    """The frame that ends the response, last in its read once our END_STREAM is queued,
    ends the stream here: the exchange is over and nothing after it reaches h2, so h2 (its
    frame objects, its state machine) is not paid for it. The events are those h2 gives."""
    pair = Pair(window=65535)
    pair.respond()
    pair.client.end_input()
    pair.to_server()
    seen = _count_h2_reads(pair)
    flags = 0x9 if body.startswith(b"\x02") else 0x1  # padded, or not
    events = pair.client.receive(_credits(pair.sid) + data(pair.sid, body, flags))
    want = [("Data", b"tail", len(body))] if body else []
    assert normal(events) == [*want, ("End",)]
    assert seen == []
    assert pair.client.ended
    assert pair.client.input_closed
    assert pair.client.data_to_send() == b""  # h2 has nothing to say either
    assert pair.client.receive(data(pair.sid, b"late")) == []  # the exchange is over
    assert pair.client.bytes_received == (4 if body else 0)


def test_the_end_of_the_response_followed_by_a_frame_goes_to_h2() -> None:
    """Not last in its read, the frame that ends the response goes to h2 with what follows
    (h2 must see the stream closed to judge those frames): a PING after it is answered, and
    DATA after it is h2's to refuse."""
    pair = Pair(window=65535)
    pair.respond()
    pair.client.end_input()
    pair.to_server()
    seen = _count_h2_reads(pair)
    ping = frame(0x6, 0, 0, b"12345678")
    events = pair.client.receive(data(pair.sid, b"end", 0x1) + ping)
    assert normal(events) == [("Data", b"end", 3), ("End",)]
    assert seen[0].startswith(data(pair.sid, b"", 0x1))  # to h2, its body taken out
    assert frame(0x6, 0x1, 0, b"12345678") in pair.client.data_to_send()  # the PING's ACK
    pair = Pair(window=65535)
    pair.respond()
    pair.client.end_input()
    pair.to_server()
    seen = _count_h2_reads(pair)
    events = pair.client.receive(data(pair.sid, b"end", 0x1) + data(pair.sid, b"late"))
    assert normal(events) == [("Data", b"end", 3), ("End",)]
    assert seen[0].startswith(data(pair.sid, b"", 0x1))  # to h2, its body taken out


def test_the_end_of_the_response_before_our_end_stream_goes_to_h2() -> None:
    """With our input still open, the frame that ends the response goes to h2 even last in
    its read: the stream goes on (our input), and h2 must know the response is over."""
    pair = Pair(window=65535)
    pair.respond()
    seen = _count_h2_reads(pair)
    events = pair.client.receive(data(pair.sid, b"end", 0x1))
    assert normal(events) == [("Data", b"end", 3), ("End",)]
    assert seen[0].startswith(data(pair.sid, b"", 0x1))  # to h2, its body taken out
    events = pair.client.receive(data(pair.sid, b"late"))  # h2 resets the closed stream
    assert normal(events) == [("Failed", "StreamResetError")]


# Inside a field block (a HEADERS or PUSH_PROMISE frame without END_HEADERS), any frame but its
# CONTINUATION is the server's PROTOCOL_ERROR (RFC 9113 §6.10): never taken out of what h2
# sees, so h2 refuses it, our END_STREAM queued or not. (A DATA frame ending the stream, last
# of its read after our END_STREAM, had ended the stream cleanly: the open block unchecked.)
_IN_BLOCK: dict[str, Callable[[int], bytes]] = {
    "trailers without END_HEADERS, then DATA END_STREAM": lambda s: (
        headers(s) + data(s, b"a") + headers(s, b"\x40\x01t\x01v", flags=0x0) + data(s, b"", 0x1)
    ),
    "trailers END_STREAM without END_HEADERS, then DATA END_STREAM": lambda s: (
        headers(s) + headers(s, b"\x40\x01t\x01v", flags=0x1) + data(s, b"z", 0x1)
    ),
    "PUSH_PROMISE without END_HEADERS, then DATA END_STREAM": lambda s: (
        headers(s) + frame(0x5, 0x0, s, (2).to_bytes(4, "big") + _STATUS_200) + data(s, b"", 0x1)
    ),
    "HEADERS on another stream without END_HEADERS, then DATA END_STREAM": lambda s: (
        headers(s) + headers(s + 2, flags=0x0) + data(s, b"", 0x1)
    ),
    "trailers without END_HEADERS, then DATA": lambda s: (
        headers(s) + headers(s, b"\x40\x01t\x01v", flags=0x0) + data(s, b"q")
    ),
    "trailers without END_HEADERS, then WINDOW_UPDATE": lambda s: (
        headers(s)
        + headers(s, b"\x40\x01t\x01v", flags=0x0)
        + frame(0x8, 0, 0, (10).to_bytes(4, "big"))
    ),
}


@pytest.mark.parametrize("input_closed", [True, False], ids=["our end queued", "input open"])
@pytest.mark.parametrize("name", list(_IN_BLOCK))
def test_a_frame_inside_an_open_field_block_is_a_protocol_error(
    name: str, input_closed: bool
) -> None:
    wire = _IN_BLOCK[name](1)
    for cuts in ([], list(range(1, len(wire))), *([c] for c in range(1, len(wire)))):
        got, pair = feed(wire, cuts, input_closed=input_closed)
        assert got[-1] == ("Failed", "ConnectionClosedError"), (cuts, got)
        assert ("End",) not in got
        assert not [e for e in got if e[0] == "Data" and e[1] in (b"z", b"q")]
        assert _goaway_codes(pair.client.data_to_send()) == [1], cuts  # PROTOCOL_ERROR


def _goaway_codes(sent: bytes) -> list[int]:
    """The error codes of the GOAWAY frames in ``sent`` (whole frames, as the client writes)."""
    codes, pos = [], 0
    while pos + 9 <= len(sent):
        length = int.from_bytes(sent[pos : pos + 3], "big")
        if sent[pos + 3] == 0x7:
            codes.append(int.from_bytes(sent[pos + 13 : pos + 17], "big"))
        pos += 9 + length
    return codes


def test_a_field_block_ended_by_its_continuation_lets_data_be_taken_out_again() -> None:
    pair = Pair(window=65535)
    pair.respond()
    pair.client.end_input()
    pair.to_server()
    seen = _count_h2_reads(pair)
    trailers = headers(pair.sid, b"\x40\x01t", flags=0x1) + frame(0x9, 0x4, pair.sid, b"\x01v")
    events = pair.client.receive(trailers)
    assert normal(events) == [("End",)]  # trailers with END_STREAM end the response (via h2)
    assert seen  # the block went to h2


@pytest.mark.parametrize("after", [b"", frame(0x6, 0, 0, b"12345678")], ids=["last", "a PING"])
def test_no_window_update_for_the_stream_once_an_empty_padded_frame_ended_it(after: bytes) -> None:
    # 127 padded empty frames take half the window; the 128th, empty and padded too, ends the
    # stream: its flow is not announced back (no WINDOW_UPDATE on a closed stream, RFC 9113 §5.1)
    pair = Pair(window=65535)
    pair.respond()
    pair.client.end_input()
    pair.to_server()
    pad = b"\xff" + b"\x00" * 255
    wire = data(pair.sid, pad, 0x8) * 127 + data(pair.sid, pad, 0x9) + after
    events = pair.client.receive(wire)
    assert normal(events) == [("End",)]
    sent = pair.client.data_to_send()
    streams = []
    pos = 0
    while pos + 9 <= len(sent):
        length = int.from_bytes(sent[pos : pos + 3], "big")
        if sent[pos + 3] == 0x8:
            streams.append(int.from_bytes(sent[pos + 5 : pos + 9], "big"))
        pos += 9 + length
    assert pair.sid not in streams, sent
