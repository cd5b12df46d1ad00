"""The sans-IO HTTP/2 client stream (smruntime.http._h2) against an in-memory h2 server:
flow control accounting, GOAWAY and RST_STREAM rules, EOF, protocol violations, bytes fed in
many chunks."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("h2")

import h2.config
import h2.connection
import h2.events
import h2.stream

from smruntime.exceptions import (
    ConnectionClosedError,
    InputClosedError,
    StreamResetError,
    WriteTimeoutError,
)
from smruntime.http import _h2


class Pair:
    """Our client stream wired to an h2 server connection in memory."""

    def __init__(self, window: int = _h2.DEFAULT_RECEIVE_WINDOW) -> None:
        self.client = _h2.H2ClientStream(receive_window=window, url="http://x/")
        self.server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        self.server.initiate_connection()
        self.client.start("POST", "http", "x:1", "/p", [("content-type", "a/b"), ("Host", "x")])
        self.server_events: list[Any] = []
        self.to_server()
        self.sid = self.client.stream_id

    def to_server(self) -> None:
        data = self.client.data_to_send()
        if data:
            self.server_events.extend(self.server.receive_data(data))

    def to_client(self, chunk: int = 0) -> list[_h2.H2Event]:
        data = self.server.data_to_send()
        if not data:
            return []  # nothing sent (b"" would mean EOF)
        if not chunk:
            return self.client.receive(data)
        out: list[_h2.H2Event] = []
        for i in range(0, len(data), chunk):
            out.extend(self.client.receive(data[i : i + chunk]))
        return out

    def respond(self, status: int = 200) -> _h2.Response:
        self.server.send_headers(self.sid, [(":status", str(status)), ("x-a", "1")])
        (event,) = [e for e in self.to_client() if not isinstance(e, _h2.Data)]
        assert isinstance(event, _h2.Response)
        return event


def test_request_headers_and_settings() -> None:
    pair = Pair()
    (req,) = [e for e in pair.server_events if isinstance(e, h2.events.RequestReceived)]
    headers = dict(req.headers)
    assert headers[b":method"] == b"POST"
    assert headers[b":authority"] == b"x:1"
    assert headers[b":path"] == b"/p"
    assert headers[b"content-type"] == b"a/b"
    assert b"host" not in headers  # hop-by-hop and Host become :authority
    response = pair.respond()
    assert response.status == 200
    assert response.headers == [("x-a", "1")]


def test_received_data_is_acknowledged_only_when_consumed() -> None:
    pair = Pair(window=65535)
    pair.respond()
    pair.server.send_data(pair.sid, b"x" * 60000)
    events = pair.to_client(chunk=1000)  # fed in many chunks
    got = b"".join(e.data for e in events if isinstance(e, _h2.Data))
    flow = sum(e.flow for e in events if isinstance(e, _h2.Data))
    assert got == b"x" * 60000
    assert flow == 60000
    pair.to_server()
    # nothing consumed: the server's window for us stays closed
    assert pair.server.local_flow_control_window(pair.sid) == 65535 - 60000
    pair.client.consumed(flow)
    pair.to_server()
    assert pair.server.local_flow_control_window(pair.sid) == 65535


def test_taken_data_is_acknowledged_in_batches_of_an_eighth_window() -> None:
    window = 8 * 10000
    pair = Pair(window=window)
    pair.respond()
    pair.server.send_data(pair.sid, b"x" * 30000)
    events = pair.to_client()
    flows = [e.flow for e in events if isinstance(e, _h2.Data)]
    assert sum(flows) == 30000
    pair.to_server()  # SETTINGS ACK and the like
    assert pair.client.consumed(9999) is False  # under window/8: held back
    assert pair.client.data_to_send() == b""
    assert pair.client.consumed(0) is False
    assert pair.client.consumed(1) is True  # 10000 = window/8: handed to h2
    assert pair.client.consumed(9999) is False  # the count starts over from nothing
    assert pair.client.consumed(10001) is True
    pair.to_server()
    # h2 itself sends WINDOW_UPDATE at half a window: 30000 of 80000 is not yet that
    assert pair.server.local_flow_control_window(pair.sid) == window - 30000
    pair.server.send_data(pair.sid, b"y" * 20000, end_stream=True)
    pair.to_client()
    assert pair.client.ended
    # the response is complete: nothing more to open, h2 is not asked
    assert pair.client.consumed(20000) is False
    assert pair.client.data_to_send() == b""


def test_send_respects_the_peer_window_and_frame_size() -> None:
    pair = Pair()
    pair.respond()
    assert pair.client.send_capacity() == 65535
    taken = pair.client.send(b"y" * 100000)
    assert taken == 65535
    assert pair.client.send(b"more") == 0  # window closed
    pair.to_server()
    sizes = [len(e.data) for e in pair.server_events if isinstance(e, h2.events.DataReceived)]
    assert sum(sizes) == 65535
    assert max(sizes) <= 16384
    for e in pair.server_events:
        if isinstance(e, h2.events.DataReceived):
            pair.server.acknowledge_received_data(e.flow_controlled_length, pair.sid)
    pair.to_client()
    assert pair.client.send_capacity() > 0


def test_send_takes_views_and_whole_objects_byte_for_byte() -> None:
    # Whole objects, views of part of one, reversed views and other buffers: the server gets
    # the same bytes, in frames of its size.
    pair = Pair()
    pair.respond()
    data = bytes(range(256)) * 20  # 5120 bytes, under the 16 KiB frame size
    big = bytes(range(251)) * 100  # 25100 bytes: two frames
    sent = [
        data,
        memoryview(data),
        memoryview(data)[1:],
        memoryview(data)[:-1],
        memoryview(data)[::-1],
        bytearray(data),
        big,
    ]
    for item in sent:
        assert pair.client.send(item) == memoryview(item).nbytes
    pair.to_server()
    got = b"".join(e.data for e in pair.server_events if isinstance(e, h2.events.DataReceived))
    assert got == b"".join(memoryview(item).tobytes() for item in sent)


def test_end_input_then_send_is_refused() -> None:
    pair = Pair()
    pair.client.end_input()
    with pytest.raises(InputClosedError):
        pair.client.send(b"x")
    with pytest.raises(InputClosedError):
        pair.client.end_input()
    pair.to_server()
    assert any(isinstance(e, h2.events.StreamEnded) for e in pair.server_events)


def _end_stream_frame(sid: int) -> bytes:
    """An empty DATA frame with END_STREAM: what h2's end_stream queues."""
    return b"\x00\x00\x00\x00\x01" + sid.to_bytes(4, "big")


def _h2_end_streams(pair: Pair) -> list[int]:
    """The stream ids h2's end_stream is called with from here on."""
    calls: list[int] = []
    conn = pair.client._conn
    end_stream = conn.end_stream

    def counted(stream_id: int) -> None:
        calls.append(stream_id)
        end_stream(stream_id)

    conn.end_stream = counted  # type: ignore[method-assign]
    return calls


def test_our_end_stream_is_h2s_frame_made_here_after_what_h2_queued() -> None:
    """end_input queues the empty DATA frame with END_STREAM that h2 would, after what h2 has
    queued (a PING's answer here) and our DATA, without h2: the server sees the stream end."""
    pair = Pair()
    pair.respond()
    pair.to_server()  # (h2's SETTINGS ACK)
    calls = _h2_end_streams(pair)
    pair.server.ping(b"12345678")
    pair.to_client()
    assert pair.client.send(b"abc") == 3
    pair.client.end_input()
    wire = pair.client.data_to_send()
    ack = b"\x00\x00\x08\x06\x01\x00\x00\x00\x00" + b"12345678"
    body = b"\x00\x00\x03\x00\x00" + pair.sid.to_bytes(4, "big") + b"abc"
    assert wire == ack + body + _end_stream_frame(pair.sid)
    assert calls == []
    assert pair.client.input_closed
    events = pair.server.receive_data(wire)
    got = [(type(e), getattr(e, "data", None)) for e in events]
    assert got[1:] == [
        (h2.events.DataReceived, b"abc"),
        (h2.events.DataReceived, b""),  # (h2 reports the empty frame too)
        (h2.events.StreamEnded, None),
    ]


def test_h2_learns_of_our_end_stream_before_it_next_reads_and_sends_it_once() -> None:
    """Once h2 must read a frame (a PING here) after our END_STREAM, it is told first (its
    stream half closed, as if it had ended it), and the frame its end_stream queues is not
    sent twice: one END_STREAM, in place, then the PING's answer."""
    pair = Pair()
    pair.respond()
    pair.to_server()  # (h2's SETTINGS ACK)
    calls = _h2_end_streams(pair)
    pair.client.end_input()
    pair.server.ping(b"abcdefgh")
    pair.to_client()
    assert calls == [pair.sid]
    state = pair.client._conn.streams[pair.sid].state_machine.state
    assert state == h2.stream.StreamState.HALF_CLOSED_LOCAL
    wire = pair.client.data_to_send()
    ack = b"\x00\x00\x08\x06\x01\x00\x00\x00\x00" + b"abcdefgh"
    assert wire == _end_stream_frame(pair.sid) + ack
    pair.client.receive(b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"12345678")
    assert calls == [pair.sid]  # told once
    server_events = pair.server.receive_data(wire)
    assert sum(isinstance(e, h2.events.StreamEnded) for e in server_events) == 1


def test_h2_learns_of_our_end_stream_before_a_reset_or_an_acknowledgement() -> None:
    """A reset after our END_STREAM (the response unfinished) sends RST_STREAM after it, h2
    told first; so is h2 before it acknowledges a body it saw whole (a Content-Length)."""
    pair = Pair()
    pair.respond()
    pair.to_server()  # (h2's SETTINGS ACK)
    calls = _h2_end_streams(pair)
    pair.client.end_input()
    pair.client.reset()
    assert calls == [pair.sid]
    wire = pair.client.data_to_send()
    assert wire.startswith(_end_stream_frame(pair.sid))
    assert wire.count(_end_stream_frame(pair.sid)) == 1
    events = pair.server.receive_data(wire)
    kinds = [type(e) for e in events]
    assert kinds[:3] == [h2.events.DataReceived, h2.events.StreamEnded, h2.events.StreamReset]
    sized = Pair(window=65535)
    sized.server.send_headers(sized.sid, [(":status", "200"), ("content-length", "40000")])
    for _ in range(4):
        sized.server.send_data(sized.sid, b"x" * 10000)
    flow = sum(e.flow for e in sized.to_client() if isinstance(e, _h2.Data))
    sized.to_server()
    calls = _h2_end_streams(sized)
    sized.client.end_input()
    assert calls == []
    assert sized.client.consumed(flow)  # h2 saw the body: h2 acknowledges it
    assert calls == [sized.sid]
    wire = sized.client.data_to_send()
    assert wire.count(_end_stream_frame(sized.sid)) == 1
    events = sized.server.receive_data(wire)
    assert any(isinstance(e, h2.events.WindowUpdated) for e in events)


def test_our_end_stream_after_a_goaway_is_h2s_and_its_refusal_the_error() -> None:
    """After a GOAWAY h2 saw (the response complete), h2 ends the stream itself and refuses:
    end_input raises the stream's error, as a send does."""
    pair = Pair()
    pair.respond()
    pair.server.send_data(pair.sid, b"tail", end_stream=True)
    pair.server.close_connection(2, last_stream_id=pair.sid)  # not graceful: h2 closes
    assert [type(e) for e in pair.to_client()] == [_h2.Data, _h2.End]
    calls = _h2_end_streams(pair)
    with pytest.raises(ConnectionClosedError, match="closed while sending") as caught:
        pair.client.end_input()
    assert calls == [pair.sid]
    assert pair.client.failed is caught.value
    graceful = Pair()
    graceful.respond()
    graceful.server.close_connection(0, last_stream_id=graceful.sid)  # screened: h2 sees none
    graceful.to_client()
    assert graceful.client.goaway == (0, graceful.sid)
    calls = _h2_end_streams(graceful)
    graceful.client.end_input()
    assert calls == [graceful.sid]
    assert graceful.client.data_to_send().endswith(_end_stream_frame(graceful.sid))


def test_rst_stream_fails_with_the_code() -> None:
    pair = Pair()
    pair.respond()
    pair.server.reset_stream(pair.sid, 2)
    events = pair.to_client()
    assert len(events) == 1
    assert isinstance(events[0], _h2.Failed)
    error = events[0].error
    assert isinstance(error, StreamResetError)
    assert error.error_code == 2
    assert "INTERNAL_ERROR" in str(error)
    assert "after 0 response bytes" in str(error)
    with pytest.raises(StreamResetError):
        pair.client.send(b"x")
    assert pair.client.receive(b"more") == []  # delivered once


def test_rst_no_error_after_the_response_ends_only_closes_input() -> None:
    pair = Pair()
    pair.respond()
    pair.server.send_data(pair.sid, b"done", end_stream=True)
    pair.server.reset_stream(pair.sid, 0)
    events = pair.to_client()
    assert [type(e) for e in events] == [_h2.Data, _h2.End]
    assert pair.client.input_closed
    assert pair.client.failed is None


def test_rst_no_error_before_the_end_is_a_failure() -> None:
    pair = Pair()
    pair.respond()
    pair.server.reset_stream(pair.sid, 0)
    (event,) = pair.to_client()
    assert isinstance(event, _h2.Failed)
    assert isinstance(event.error, StreamResetError)
    assert event.error.error_code == 0


def test_goaway_after_the_response_ended_is_harmless() -> None:
    pair = Pair()
    pair.respond()
    pair.server.send_data(pair.sid, b"tail", end_stream=True)
    pair.server.close_connection(0, last_stream_id=pair.sid)
    events = pair.to_client()
    assert [type(e) for e in events] == [_h2.Data, _h2.End]
    assert pair.client.failed is None


def goaway(last: int, code: int = 0, debug: bytes = b"", stream: int = 0) -> bytes:
    """A GOAWAY frame, built by hand (h2's own server side stops sending after one)."""
    payload = last.to_bytes(4, "big") + code.to_bytes(4, "big") + debug
    return len(payload).to_bytes(3, "big") + b"\x07\x00" + stream.to_bytes(4, "big") + payload


@pytest.mark.parametrize("chunk", [0, 1, 5, 9, 13])
def test_graceful_goaway_lets_our_stream_run_to_completion(chunk: int) -> None:
    # RFC 9113 6.8: NO_ERROR with last_stream_id >= ours: the stream finishes, both ways
    pair = Pair()
    pair.respond()
    pair.server.send_data(pair.sid, b"before")
    wire = pair.server.data_to_send() + goaway(pair.sid, debug=b"draining")
    pair.server.send_data(pair.sid, b"after")
    wire += pair.server.data_to_send()
    events: list[_h2.H2Event] = []
    step = chunk or len(wire)
    for i in range(0, len(wire), step):
        events.extend(pair.client.receive(wire[i : i + step]))
    assert pair.client.failed is None
    assert pair.client.goaway == (0, pair.sid)
    assert b"".join(e.data for e in events if isinstance(e, _h2.Data)) == b"beforeafter"
    assert pair.client.send(b"more input") == 10  # our side still sends
    pair.client.end_input()
    pair.to_server()
    got = [e for e in pair.server_events if isinstance(e, h2.events.DataReceived)]
    assert b"".join(e.data for e in got) == b"more input"
    pair.server.send_data(pair.sid, b"end", end_stream=True)
    assert [type(e) for e in pair.to_client(chunk=3)] == [_h2.Data, _h2.End]
    assert pair.client.failed is None
    assert pair.client.receive(b"") == []  # the server closes once the stream is over


def test_eof_after_a_graceful_goaway_says_so() -> None:
    pair = Pair()
    pair.respond()
    assert pair.client.receive(goaway(pair.sid)) == []
    (event,) = pair.client.receive(b"")
    assert isinstance(event, _h2.Failed)
    assert "after GOAWAY" in str(event.error)
    assert event.error.request_sent is True


@pytest.mark.parametrize(
    ("code", "name"),
    [(2, "INTERNAL_ERROR"), (11, "ENHANCE_YOUR_CALM"), (0x1000000, "unknown error")],
)
def test_goaway_with_an_error_code_fails_naming_it(code: int, name: str) -> None:
    pair = Pair()
    pair.respond()
    # frames after it are dropped, not a protocol error
    pair.server.ping(b"12345678")
    pair.server.send_data(pair.sid, b"late")
    (event,) = pair.client.receive(goaway(pair.sid, code) + pair.server.data_to_send())
    assert isinstance(event, _h2.Failed)
    assert isinstance(event.error, StreamResetError)
    assert event.error.error_code == code
    assert f"{name} (0x{code:x})" in str(event.error)
    assert event.error.request_sent is True
    assert pair.client.goaway is None


def test_goaway_below_our_stream_fails_as_never_processed() -> None:
    pair = Pair()
    (event,) = pair.client.receive(goaway(0))
    assert isinstance(event, _h2.Failed)
    assert event.error.request_sent is False
    assert "safe to retry on a new connection" in str(event.error)
    assert "last stream 0" in str(event.error)


def test_a_second_goaway_lowering_last_stream_fails_the_stream() -> None:
    pair = Pair()
    pair.respond()
    assert pair.client.receive(goaway(2**31 - 1)) == []
    assert pair.client.goaway == (0, 2**31 - 1)
    (event,) = pair.client.receive(goaway(0))
    assert isinstance(event, _h2.Failed)
    # the server answered the stream: it processed it, whatever its last stream id says
    assert event.error.request_sent is True
    assert "safe to retry" not in str(event.error)
    pair = Pair()  # no answer yet: below ours, the stream was never processed
    (event,) = pair.client.receive(goaway(0))
    assert isinstance(event, _h2.Failed)
    assert event.error.request_sent is False
    assert "safe to retry on a new connection" in str(event.error)


def test_a_refused_stream_before_any_answer_was_never_processed() -> None:
    def reset(pair: Pair, code: int) -> Any:
        pair.server.reset_stream(pair.sid, error_code=code)
        (event,) = pair.to_client()
        assert isinstance(event, _h2.Failed)
        return event.error

    error = reset(Pair(), _h2.REFUSED_STREAM)
    assert error.request_sent is False
    assert "REFUSED_STREAM" in str(error)
    assert "safe to retry" in str(error)
    pair = Pair()
    pair.respond()  # after the answer began: processed
    assert reset(pair, _h2.REFUSED_STREAM).request_sent is True
    assert reset(Pair(), 0x2).request_sent is True  # INTERNAL_ERROR: it may have run


@pytest.mark.parametrize(
    "status", [b"2x0", b"\xd9\xa2\xd9\xa0\xd9\xa0", b"099", b"20", b"000", b"600"]
)
def test_a_response_status_that_is_not_three_digits_200_599_is_a_protocol_error(
    status: bytes,
) -> None:
    import hpack

    pair = Pair()
    block = hpack.Encoder().encode([(b":status", status)])
    frame = len(block).to_bytes(3, "big") + b"\x01\x04" + pair.sid.to_bytes(4, "big") + block
    (event,) = pair.client.receive(frame)
    assert isinstance(event, _h2.Failed)
    if status.isascii():
        assert f"a response :status of {status.decode()!r} (three digits" in str(event.error)
    assert "broke the HTTP/2 protocol" in str(event.error)
    said = pair.server.receive_data(pair.client.data_to_send())  # our GOAWAY says why
    (bye,) = [e for e in said if isinstance(e, h2.events.ConnectionTerminated)]
    assert bye.error_code == _h2.PROTOCOL_ERROR == 1


@pytest.mark.parametrize("status", [200, 599])
def test_the_ends_of_the_status_range_are_answers(status: int) -> None:
    assert Pair().respond(status).status == status


def test_a_goaway_with_an_error_covering_our_stream_says_it_may_have_run() -> None:
    pair = Pair()  # last stream = ours, with an error code: it was (maybe) processed
    (event,) = pair.client.receive(goaway(pair.sid, code=2))
    assert isinstance(event, _h2.Failed)
    assert event.error.request_sent is True


def test_malformed_goaway_frames_go_to_h2_as_protocol_errors() -> None:
    short = b"\x00\x00\x04\x07\x00\x00\x00\x00\x00\x00\x00\x00\x01"  # 4-byte payload
    for frame in (goaway(1, stream=1), goaway(1, stream=1 << 24), short):
        pair = Pair()
        pair.respond()
        (event,) = pair.client.receive(frame)
        assert isinstance(event, _h2.Failed)
        assert "broke the HTTP/2 protocol" in str(event.error)
    pair = Pair()
    pair.respond()
    big = goaway(1, debug=b"d" * (_h2.MAX_FRAME_SIZE))  # longer than any frame we accept
    (event,) = pair.client.receive(big)
    assert isinstance(event, _h2.Failed)
    assert "broke the HTTP/2 protocol" in str(event.error)


def test_eof_before_the_end_is_an_error_never_a_quiet_end() -> None:
    pair = Pair()
    (event,) = pair.client.receive(b"")
    assert isinstance(event, _h2.Failed)
    assert isinstance(event.error, ConnectionClosedError)
    assert "before the response headers" in str(event.error)
    pair = Pair()
    pair.respond()
    pair.server.send_data(pair.sid, b"abc")
    pair.to_client()
    (event,) = pair.client.receive(b"")
    assert isinstance(event, _h2.Failed)
    assert "after 3 bytes" in str(event.error)


def test_eof_after_the_end_is_fine() -> None:
    pair = Pair()
    pair.client.end_input()
    pair.to_server()
    pair.respond()
    pair.server.send_data(pair.sid, b"", end_stream=True)
    assert [type(e) for e in pair.to_client()] == [_h2.End]
    assert pair.client.receive(b"") == []


def test_protocol_violation_is_a_connection_error_with_goaway() -> None:
    pair = Pair()
    pair.respond()
    pair.client.data_to_send()
    garbage = b"\x00\x00\x04\x00\x00\x00\x00\x00\x09abcd"  # DATA on stream 9, never opened
    (event,) = pair.client.receive(garbage)
    assert isinstance(event, _h2.Failed)
    # h2's NoSuchStreamError says only "9": the message names the error and where it came
    assert str(event.error).endswith(
        "broke the HTTP/2 protocol: NoSuchStreamError (stream 9) after 0 response bytes"
    )
    assert event.error.__cause__ is not None
    assert pair.client.data_to_send()  # the GOAWAY h2 queued


def test_an_http11_answer_to_h2c_is_named() -> None:
    pair = Pair()
    events = pair.client.receive(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    assert [type(e) for e in events] == [_h2.Failed]
    message = str(events[0].error)  # type: ignore[union-attr]
    assert "(FRAME_SIZE_ERROR); the server answered b'HTTP/1.1 400': it speaks HTTP/1.1" in message
    assert message.endswith("before the response headers")
    pair = Pair()
    pair.respond()  # a frame that long after the headers is only too long
    (event,) = pair.client.receive(b"HTTP/1.1 400 Bad Request\r\n")
    assert "speaks HTTP/1.1" not in str(event.error)  # type: ignore[union-attr]
    assert "answered text" not in str(event.error)  # type: ignore[union-attr]


def test_a_text_answer_to_h2c_is_named() -> None:
    # http.server answers the preface with an HTML error page and no status line
    pair = Pair()
    (event,) = pair.client.receive(b"<!DOCTYPE HTML>\n<html lang=en>\n")
    message = str(event.error)  # type: ignore[union-attr]
    assert "the server answered text (b'<!DOCTYPE HT'), not HTTP/2 frames" in message
    assert "does not speak HTTP/2" in message
    pair = Pair()
    (event,) = pair.client.receive(b"\xff\xff\xff\x04" + b"\x00" * 20)  # binary: only too long
    assert "answered text" not in str(event.error)  # type: ignore[union-attr]
    pair = Pair()
    (event,) = pair.client.receive(b"<!D\x7fOCTYPE HTML>")  # DEL is no text either
    assert "answered text" not in str(event.error)  # type: ignore[union-attr]


def test_flow_control_violation_by_the_server() -> None:
    pair = Pair(window=65535)
    pair.respond()
    # a DATA frame past our window: forged, h2 would not send it
    frame = b"\x00\x40\x00\x00\x00\x00\x00\x00\x01" + b"z" * 16384
    events: list[Any] = []
    for _ in range(5):
        events.extend(pair.client.receive(frame))
        if any(isinstance(e, _h2.Failed) for e in events):
            break
    assert isinstance(events[-1], _h2.Failed)


def test_local_reset_sends_cancel_and_fails_locally() -> None:
    pair = Pair()
    pair.respond()
    pair.client.reset()
    pair.to_server()
    resets = [e for e in pair.server_events if isinstance(e, h2.events.StreamReset)]
    assert [r.error_code for r in resets] == [8]
    assert isinstance(pair.client.failed, StreamResetError)
    assert pair.client.failed.remote is False
    pair.client.reset()  # idempotent


def test_receive_window_bounds() -> None:
    with pytest.raises(ValueError, match="receive_window"):
        _h2.H2ClientStream(receive_window=1000)
    with pytest.raises(ValueError, match="receive_window"):
        _h2.H2ClientStream(receive_window=2**31)
    for edge in (65535, 2**31 - 1):  # both ends are valid windows
        stream = _h2.H2ClientStream(receive_window=edge)
        assert stream.stream_id == 0  # no stream until start()


def test_larger_frames_accepted_in_the_same_read_as_the_settings_ack() -> None:
    pair = Pair()
    pair.respond()
    pair.to_server()  # the server takes our MAX_FRAME_SIZE and ACKs it
    pair.server.send_data(pair.sid, b"q" * 200000)
    events = pair.to_client()  # ACK and 64 KiB+ frames in one buffer
    assert sum(len(e.data) for e in events if isinstance(e, _h2.Data)) == 200000


def test_padding_only_frames_are_acknowledged_at_once() -> None:
    pair = Pair(window=65535)
    pair.respond()
    pair.server.send_data(pair.sid, b"", pad_length=200)
    assert pair.to_client() == []  # nothing for the consumer
    pair.to_server()
    # the padding was acknowledged without waiting for a consumer (h2 batches: compare the
    # connection windows after enough padding to cross its threshold)
    for _ in range(200):
        pair.server.send_data(pair.sid, b"", pad_length=200)
        pair.to_client()
        pair.to_server()
    assert pair.server.local_flow_control_window(pair.sid) > 65535 - 201 * 201


def test_sending_after_the_server_finished_and_reset_no_error() -> None:
    pair = Pair()
    pair.respond()
    pair.server.send_data(pair.sid, b"bye", end_stream=True)
    pair.server.reset_stream(pair.sid, 0)
    assert [type(e) for e in pair.to_client()] == [_h2.Data, _h2.End]
    with pytest.raises(InputClosedError):
        pair.client.send(b"late")
    assert pair.client.send_capacity() == 0


def test_ping_and_settings_are_answered() -> None:
    from h2.settings import SettingCodes

    pair = Pair()
    pair.respond()
    pair.server.ping(b"12345678")
    pair.server.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 1000})
    assert pair.to_client() == []
    pair.to_server()
    acks = [e for e in pair.server_events if isinstance(e, h2.events.PingAckReceived)]
    assert [a.ping_data for a in acks] == [b"12345678"]
    assert any(isinstance(e, h2.events.SettingsAcknowledged) for e in pair.server_events)
    assert pair.client.send_capacity() == 1000  # the peer's new window applies


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=1, max_value=64))
def test_any_bytes_from_the_server_give_events_or_one_failure(junk: bytes, chunk: int) -> None:
    pair = Pair()
    prefix = pair.server.data_to_send()  # a valid server preface first, then anything
    events: list[Any] = []
    data = prefix + junk
    for i in range(0, len(data), chunk):
        events.extend(pair.client.receive(data[i : i + chunk]))
    events.extend(pair.client.receive(b""))
    failures = [e for e in events if isinstance(e, _h2.Failed)]
    assert len(failures) == 1  # EOF at the latest: never a quiet end
    assert events[-1] is failures[0]
    pair.client.data_to_send()  # still usable


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["data", "ack", "ping", "settings", "end"]), max_size=30))
def test_windows_never_go_negative(script: list[str]) -> None:
    pair = Pair(window=65535)
    pair.respond()
    for step in script:
        if step == "data":
            room = pair.server.local_flow_control_window(pair.sid)
            if room > 0:
                pair.server.send_data(pair.sid, b"d" * min(room, 10000))
        elif step == "ping":
            pair.server.ping(b"p" * 8)
        elif step == "settings":
            pair.server.update_settings({})
        elif step == "end":
            pair.server.send_data(pair.sid, b"", end_stream=True)
            pair.to_client()
            break
        events = pair.to_client()
        if step == "ack":
            for e in events:
                if isinstance(e, _h2.Data):
                    pair.client.consumed(e.flow)
        pair.to_server()
        assert pair.server.local_flow_control_window(pair.sid) >= 0
        assert pair.client.failed is None


def test_take_event_joins_consecutive_data_only() -> None:
    from collections import deque

    queue: deque[_h2.H2Event] = deque(
        [_h2.Data(b"a", 1), _h2.Data(b"bc", 12), _h2.End(), _h2.Data(b"z", 1)]
    )
    first = _h2.take_event(queue)
    assert isinstance(first, _h2.Data)
    assert (first.data, first.flow) == (b"abc", 13)
    assert isinstance(_h2.take_event(queue), _h2.End)
    last = _h2.take_event(queue)
    assert isinstance(last, _h2.Data)
    assert last.data == b"z"
    assert not queue


def test_eof_after_the_response_ended_and_a_goaway_names_the_goaway() -> None:
    pair = Pair()
    pair.respond()
    pair.server.send_data(pair.sid, b"x", end_stream=True)
    assert [type(e) for e in pair.to_client()] == [_h2.Data, _h2.End]
    assert pair.client.receive(goaway(pair.sid, 2)) == []  # the response is complete
    (event,) = pair.client.receive(b"")  # our input was still open
    assert isinstance(event, _h2.Failed)
    assert "after GOAWAY" in str(event.error)


def test_a_graceful_goaway_of_the_largest_frame_size_is_screened() -> None:
    pair = Pair()
    pair.respond()
    frame = goaway(pair.sid, debug=b"d" * (_h2.MAX_FRAME_SIZE - 8))
    assert pair.client.receive(frame[:100]) == []  # held until complete
    assert pair.client.receive(frame[100:]) == []
    assert pair.client.goaway == (0, pair.sid)
    assert pair.client.failed is None


def test_every_error_code_of_rfc_9113_is_named_as_h2_names_it() -> None:
    import h2.errors

    for code in h2.errors.ErrorCodes:
        assert _h2.error_name(int(code)) == f"{code.name} (0x{int(code):x})"
    assert _h2.error_name(0xE) == "unknown error (0xe)"


def test_eof_before_any_answer_says_whether_input_left() -> None:
    pair = Pair()
    (event,) = pair.client.receive(b"")
    assert isinstance(event, _h2.Failed)
    assert str(event.error).startswith(
        "the server closed the HTTP/2 connection before the response headers"
    )
    assert event.error.request_sent is False  # no GOAWAY, no body byte sent
    pair = Pair()
    assert pair.client.send(b"abc") == 3
    assert pair.client.bytes_sent == 3
    (event,) = pair.client.receive(b"")
    assert event.error.request_sent is True


def test_our_settings_as_the_server_sees_them() -> None:
    window = 100000
    pair = Pair(window=window)
    theirs = pair.server.remote_settings
    assert theirs.enable_push == 0
    assert theirs.max_concurrent_streams == 1
    assert theirs.initial_window_size == window
    # the connection's window is opened to the same size (the protocol starts it at 65535)
    assert pair.server.outbound_flow_control_window == window


def test_a_request_without_a_body_closes_input_at_once() -> None:
    client = _h2.H2ClientStream(url="http://x/")
    client.start("GET", "http", "x:1", "/p", [], end_stream=True)
    assert client.input_closed
    assert client.send_capacity() == 0
    with pytest.raises(InputClosedError):
        client.send(b"x")


def test_the_last_byte_of_the_window_is_sent() -> None:
    pair = Pair()
    pair.respond()
    assert pair.client.send(b"x" * 65534) == 65534
    assert pair.client.send_capacity() == 1
    assert pair.client.send(b"yz") == 1
    assert pair.client.send_capacity() == 0
    assert pair.client.send(b"z") == 0  # the window is shut: wait for WINDOW_UPDATE
    assert pair.client.bytes_sent == 65535


def test_a_send_h2_refuses_fails_the_stream_once() -> None:
    pair = Pair()
    pair.respond()
    pair.server.send_data(pair.sid, b"tail", end_stream=True)
    pair.server.close_connection(2, last_stream_id=pair.sid)  # not graceful: h2 closes
    assert [type(e) for e in pair.to_client()] == [_h2.Data, _h2.End]
    assert pair.client.failed is None  # the response was complete: nothing lost
    with pytest.raises(ConnectionClosedError, match="closed while sending") as caught:
        pair.client.send(b"late")
    assert pair.client.failed is caught.value
    assert pair.client.input_closed
    with pytest.raises(ConnectionClosedError) as again:
        pair.client.end_input()
    assert again.value is caught.value


def test_every_failure_closes_input() -> None:
    eof = Pair()
    eof.client.receive(b"")
    assert eof.client.input_closed
    local = Pair()
    local.client.reset()
    assert local.client.input_closed


def test_a_local_reset_after_the_end_or_a_failure_keeps_what_happened() -> None:
    done = Pair()
    done.respond()
    done.server.send_data(done.sid, b"all", end_stream=True)
    done.to_client()
    done.client.reset()
    assert done.client.failed is None  # the response was complete
    remote = Pair()
    remote.respond()
    remote.server.reset_stream(remote.sid, 2)
    remote.to_client()
    first = remote.client.failed
    assert isinstance(first, StreamResetError)
    assert first.remote is True
    remote.client.reset()
    assert remote.client.failed is first


def test_a_local_reset_with_input_closed_still_cancels_the_response() -> None:
    pair = Pair()
    pair.respond()
    pair.client.end_input()
    pair.client.reset()
    pair.to_server()
    resets = [e for e in pair.server_events if isinstance(e, h2.events.StreamReset)]
    assert [r.error_code for r in resets] == [8]


def test_a_local_reset_after_a_failure_sends_no_rst_stream() -> None:
    pair = Pair()
    pair.respond()
    pair.client.receive(b"")  # EOF: failed, though h2 still holds the stream open
    pair.client.reset()
    pair.to_server()
    assert not [e for e in pair.server_events if isinstance(e, h2.events.StreamReset)]
    assert [e for e in pair.server_events if isinstance(e, h2.events.ConnectionTerminated)]


def test_eof_after_one_byte_sent_says_the_request_was_sent() -> None:
    pair = Pair()
    assert pair.client.send(b"a") == 1
    (event,) = pair.client.receive(b"")
    assert isinstance(event, _h2.Failed)
    assert event.error.request_sent is True


# -- DATA bodies taken out of what h2 sees (h2 would hex-dump each frame) ----------------------


def data_frame(sid: int, body: bytes, flags: int = 0) -> bytes:
    return len(body).to_bytes(3, "big") + bytes((0, flags)) + sid.to_bytes(4, "big") + body


def _h2_window(pair: Pair) -> int:
    """What h2 (inside our client) thinks the server may still send us."""
    return int(pair.client._conn.remote_flow_control_window(pair.sid))


@pytest.mark.parametrize("chunk", [0, 1, 7, 1000])
def test_bodies_bypass_h2_padding_and_end_stream_included(chunk: int) -> None:
    pair = Pair(window=65535)
    pair.respond()
    pair.server.send_data(pair.sid, b"abc", pad_length=10)
    pair.server.send_data(pair.sid, b"")  # empty
    pair.server.send_data(pair.sid, b"d" * 3000)
    pair.server.send_data(pair.sid, b"ef", end_stream=True)
    events = pair.to_client(chunk)
    data = [(e.data, e.flow) for e in events if isinstance(e, _h2.Data)]
    assert b"".join(d for d, _ in data) == b"abc" + b"d" * 3000 + b"ef"
    assert sum(f for _, f in data) == 14 + 3000 + 2  # padding counts against the window
    assert isinstance(events[-1], _h2.End)
    assert pair.client.ended
    assert _h2_window(pair) == 65535  # h2 saw none of those bytes
    assert pair.client.bytes_received == 3005


def test_headers_and_body_in_one_read_the_body_still_bypasses_h2() -> None:
    pair = Pair(window=65535)
    pair.server.send_headers(pair.sid, [(":status", "200")])
    pair.server.send_data(pair.sid, b"z" * 1000)
    events = pair.to_client()
    assert [type(e) for e in events] == [_h2.Response, _h2.Data]
    assert _h2_window(pair) == 65535
    pair.to_server()
    assert pair.server.local_flow_control_window(pair.sid) == 65535 - 1000


def test_our_window_updates_open_the_stream_and_the_connection() -> None:
    window = 65535
    pair = Pair(window=window)
    pair.respond()
    pair.to_server()
    sent = 0
    while sent < 3 * window:  # three windows' worth: the server needs every update
        room = pair.server.local_flow_control_window(pair.sid)
        assert room > 0
        size = min(room, 16384)
        pair.server.send_data(pair.sid, b"w" * size)
        sent += size
        for event in pair.to_client():
            assert isinstance(event, _h2.Data)
            pair.client.consumed(event.flow)
        pair.to_server()
    assert pair.client.failed is None
    # at most half a window (and a batch) is left unannounced on either window
    assert pair.server.local_flow_control_window(pair.sid) >= window // 2 - window // 8
    assert pair.server.outbound_flow_control_window >= window // 2 - window // 8


def test_a_body_that_fills_the_window_exactly_is_taken() -> None:
    pair = Pair(window=65535)
    pair.respond()
    frame = data_frame(pair.sid, b"f" * 16383)
    events: list[Any] = []
    for _ in range(4):  # 65532 bytes
        events.extend(pair.client.receive(frame))
    events.extend(pair.client.receive(data_frame(pair.sid, b"g" * 3)))  # the last 3 bytes
    assert not any(isinstance(e, _h2.Failed) for e in events)
    (event,) = pair.client.receive(data_frame(pair.sid, b"h"))  # one byte too many
    assert isinstance(event, _h2.Failed)
    assert "flow control" in str(event.error)
    assert "0 bytes left in the receive window" in str(event.error)
    assert isinstance(event.error, ConnectionClosedError)
    out = pair.client.data_to_send()
    # GOAWAY (type 7) with FLOW_CONTROL_ERROR (0x3) queued
    at = out.index(b"\x07\x00\x00\x00\x00\x00")
    assert out[at + 10 : at + 14] == (3).to_bytes(4, "big")


def test_nothing_after_a_window_overrun_is_passed_on() -> None:
    pair = Pair(window=65535)
    pair.respond()
    big = data_frame(pair.sid, b"o" * 65536)
    after = data_frame(pair.sid, b"late")
    events = pair.client.receive(data_frame(pair.sid, b"ok") + big + after)
    assert [type(e) for e in events] == [_h2.Data, _h2.Failed]
    assert events[0].data == b"ok"
    assert pair.client.receive(after) == []  # failed: nothing more


@pytest.mark.parametrize(
    "frame",
    [
        data_frame(1, b"", flags=0x8),  # PADDED with no pad length
        data_frame(1, b"\x05abcd", flags=0x8),  # pad length 5 of a 5-byte body
    ],
)
def test_data_frames_h2_must_refuse_reach_it_whole(frame: bytes) -> None:
    pair = Pair()
    assert pair.sid == 1
    pair.respond()
    events = pair.client.receive(frame)
    assert [type(e) for e in events] == [_h2.Failed]
    assert "broke the HTTP/2 protocol" in str(events[0].error)
    assert events[0].error.__cause__ is not None  # h2's own error


def test_the_largest_padding_leaves_an_empty_body() -> None:
    pair = Pair(window=65535)
    pair.respond()
    # pad length 4 of a 5-byte body: nothing for the consumer, acknowledged at once
    assert pair.client.receive(data_frame(pair.sid, b"\x04abcd", flags=0x8)) == []
    events = pair.client.receive(data_frame(pair.sid, b"\x01ab", flags=0x8 | 0x1))
    assert [type(e) for e in events] == [_h2.Data, _h2.End]  # END_STREAM kept
    assert (events[0].data, events[0].flow) == (b"a", 3)


def test_a_body_with_content_length_goes_to_h2_whole() -> None:
    pair = Pair(window=65535)
    pair.server.send_headers(pair.sid, [(":status", "400"), ("content-length", "5")])
    pair.to_client()
    pair.server.send_data(pair.sid, b"12345", end_stream=True)
    events = pair.to_client()
    assert [type(e) for e in events] == [_h2.Data, _h2.End]
    assert _h2_window(pair) == 65535 - 5  # h2 counted it (and checked its length)
    pair2 = Pair(window=65535)
    pair2.server.send_headers(pair2.sid, [(":status", "400"), ("content-length", "9")])
    pair2.to_client()
    bad = data_frame(pair2.sid, b"123", flags=0x1)  # shorter than its Content-Length
    (event,) = pair2.client.receive(bad)
    assert isinstance(event, _h2.Failed)
    assert "broke the HTTP/2 protocol" in str(event.error)


def test_h2_counted_bodies_are_acknowledged_through_h2() -> None:
    window = 8 * 10000
    pair = Pair(window=window)
    pair.server.send_headers(pair.sid, [(":status", "200"), ("content-length", "60000")])
    pair.to_client()
    pair.server.send_data(pair.sid, b"c" * 60000)
    flow = sum(e.flow for e in pair.to_client() if isinstance(e, _h2.Data))
    assert flow == 60000
    assert pair.client.consumed(9999) is False  # batches of window/8 here too
    assert pair.client.consumed(30001) is True
    assert pair.client.consumed(9999) is False  # the count starts over from nothing
    assert pair.client.consumed(10001) is True
    pair.to_server()
    # h2 announced the first 40000 (half its window); the next 10000 wait for more
    assert pair.server.local_flow_control_window(pair.sid) == window - 20000
    assert _h2_window(pair) == window - 20000


def test_a_view_of_a_reused_buffer_is_not_kept() -> None:
    pair = Pair(window=65535)
    pair.respond()
    wire = data_frame(pair.sid, b"first") + data_frame(pair.sid, b"second")
    buf = bytearray(wire)
    view = memoryview(buf)
    events = pair.client.receive(view[:20])  # the first frame, and part of the second
    buf[:] = b"\xff" * len(buf)  # the caller reuses its buffer
    events += pair.client.receive(memoryview(bytearray(wire[20:])))
    assert [e.data for e in events if isinstance(e, _h2.Data)] == [b"first", b"second"]


def test_headers_continued_then_body_in_one_read_the_body_still_bypasses_h2() -> None:
    pair = Pair(window=65535)
    assert pair.to_client() == []  # the server's SETTINGS first
    pair.server.send_headers(pair.sid, [(":status", "200"), ("x-long", "v" * 100)])
    frame = pair.server.data_to_send()
    assert frame[3] == 0x1  # one HEADERS frame
    assert frame[4] & 0x4  # with END_HEADERS
    block = frame[9:]
    sid = pair.sid.to_bytes(4, "big")
    headers = len(block[:10]).to_bytes(3, "big") + bytes((0x1, frame[4] & ~0x4)) + sid + block[:10]
    continued = len(block[10:]).to_bytes(3, "big") + bytes((0x9, 0x4)) + sid + block[10:]
    events = pair.client.receive(headers + continued + data_frame(pair.sid, b"body"))
    assert [type(e) for e in events] == [_h2.Response, _h2.Data]
    assert _h2_window(pair) == 65535  # the body did not go through h2


def test_half_a_window_taken_is_announced_byte_for_byte() -> None:
    window = 8 * 10000
    pair = Pair(window=window)
    pair.respond()
    pair.to_server()
    for _ in range(3):
        pair.server.send_data(pair.sid, b"h" * (window // 2))
        flow = sum(e.flow for e in pair.to_client() if isinstance(e, _h2.Data))
        assert flow == window // 2
        assert pair.client.consumed(flow) is True  # exactly half a window: announced
        pair.to_server()
        assert pair.server.local_flow_control_window(pair.sid) == window
        assert pair.server.outbound_flow_control_window == window


def test_data_of_another_stream_goes_to_h2_whole() -> None:
    pair = Pair(window=65535)
    pair.respond()
    # past our window, on a stream whose low three bytes are ours: h2's error, not a window's
    other = (1 << 24) | pair.sid
    frame = (70000).to_bytes(3, "big") + b"\x00\x00" + other.to_bytes(4, "big") + b"o" * 70000
    (event,) = pair.client.receive(frame)
    assert isinstance(event, _h2.Failed)
    assert "broke the HTTP/2 protocol" in str(event.error)
    assert "flow control" not in str(event.error)
    assert event.error.__cause__ is not None  # h2 refused it


def test_a_content_length_body_in_the_headers_read_goes_to_h2_whole() -> None:
    pair = Pair(window=65535)
    pair.server.send_headers(pair.sid, [(":status", "400"), ("content-length", "5")])
    pair.server.send_data(pair.sid, b"12345", end_stream=True)
    events = pair.to_client()  # headers and body in one read
    assert [type(e) for e in events] == [_h2.Response, _h2.Data, _h2.End]
    assert _h2_window(pair) == 65535 - 5


def test_a_padded_frame_of_its_pad_length_alone_is_taken() -> None:
    pair = Pair(window=65535)
    pair.respond()
    assert pair.client.receive(data_frame(pair.sid, b"\x00", flags=0x8)) == []
    assert _h2_window(pair) == 65535  # taken here, not by h2
    assert pair.client.failed is None


def test_headers_and_body_fed_byte_by_byte() -> None:
    pair = Pair(window=65535)
    assert pair.to_client() == []
    pair.server.send_headers(pair.sid, [(":status", "200"), ("x-a", "1")])
    pair.server.send_data(pair.sid, b"abc", pad_length=3)
    pair.server.send_data(pair.sid, b"de", end_stream=True)
    events = pair.to_client(chunk=1)
    assert [type(e) for e in events] == [_h2.Response, _h2.Data, _h2.Data, _h2.End]
    assert b"".join(e.data for e in events if isinstance(e, _h2.Data)) == b"abcde"
    assert _h2_window(pair) == 65535


# -- DATA frames that change nothing in h2 do not reach it at all --------------------------------


class _Counting:
    """Counts what our client stream hands its h2 connection."""

    def __init__(self, pair: Pair) -> None:
        self.calls: list[bytes] = []
        conn = pair.client._conn
        real = conn.receive_data

        def receive_data(data: bytes) -> Any:
            self.calls.append(bytes(data))
            return real(data)

        conn.receive_data = receive_data  # type: ignore[method-assign]


def test_plain_data_frames_of_an_open_stream_do_not_reach_h2() -> None:
    pair = Pair(window=65535)
    pair.respond()
    seen = _Counting(pair)
    frames = data_frame(pair.sid, b"one") + data_frame(pair.sid, b"\x01tw", flags=0x8)
    events = pair.client.receive(frames)
    assert [(e.data, e.flow) for e in events if isinstance(e, _h2.Data)] == [
        (b"one", 3),
        (b"t", 3),
    ]
    assert seen.calls == []
    # the frame that ends the stream goes to h2, with no body
    events = pair.client.receive(data_frame(pair.sid, b"end", flags=0x1))
    assert [type(e) for e in events] == [_h2.Data, _h2.End]
    assert seen.calls == [b"\x00\x00\x00\x00\x01" + pair.sid.to_bytes(4, "big")]


def test_frames_before_a_body_reach_h2_first_and_in_order() -> None:
    pair = Pair(window=65535)
    pair.respond()
    seen = _Counting(pair)
    pair.server.ping(b"12345678")
    ping = pair.server.data_to_send()
    late = data_frame(pair.sid, b"late")
    events = pair.client.receive(data_frame(pair.sid, b"a") + ping + data_frame(pair.sid, b"b"))
    assert [e.data for e in events if isinstance(e, _h2.Data)] == [b"a", b"b"]
    assert seen.calls == [ping]
    assert pair.client.data_to_send()  # h2 answered the PING
    # a reset before a body: the stream fails, the body is not delivered
    pair.server.reset_stream(pair.sid, 2)
    events = pair.client.receive(data_frame(pair.sid, b"c") + pair.server.data_to_send() + late)
    assert [type(e) for e in events] == [_h2.Data, _h2.Failed]
    assert isinstance(events[1].error, StreamResetError)
    assert len(seen.calls) == 2  # the reset alone, then nothing more


def test_a_body_after_trailers_in_the_same_read_goes_to_h2() -> None:
    pair = Pair(window=65535)
    pair.respond()
    pair.server.send_data(pair.sid, b"x")
    pair.server.send_headers(pair.sid, [("x-trailer", "1")], end_stream=True)
    wire = pair.server.data_to_send() + data_frame(pair.sid, b"after the end")
    events = pair.client.receive(wire)
    assert [type(e) for e in events] == [_h2.Data, _h2.End, _h2.Failed]
    assert events[0].data == b"x"
    assert pair.client.ended
    # h2 refused the body on its closed stream: RST_STREAM STREAM_CLOSED
    assert isinstance(events[2].error, StreamResetError)
    assert events[2].error.error_code == 5


def test_a_body_after_a_protocol_error_is_dropped() -> None:
    pair = Pair(window=65535)
    pair.respond()
    bad = data_frame(pair.sid, b"", flags=0x8)  # PADDED without a pad length: h2 refuses it
    events = pair.client.receive(bad + data_frame(pair.sid, b"after"))
    assert [type(e) for e in events] == [_h2.Failed]


def test_graceful_goaways_between_other_frames_and_bodies() -> None:
    pair = Pair(window=65535)
    pair.respond()
    seen = _Counting(pair)
    ping = [b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + bytes([n]) * 8 for n in range(4)]
    body = data_frame(pair.sid, b"b")
    wire = ping[0] + goaway(pair.sid) + ping[1] + goaway(pair.sid) + ping[2] + body + ping[3]
    events = pair.client.receive(wire)
    assert [(type(e), getattr(e, "data", None)) for e in events] == [(_h2.Data, b"b")]
    assert pair.client.goaway == (0, pair.sid)
    assert seen.calls == [ping[0] + ping[1] + ping[2], ping[3]]  # the GOAWAYs taken out
    assert pair.client.data_to_send().count(b"\x00\x00\x08\x06\x01") == 4  # each PING answered


# -- sending: our DATA frames, the windows kept here (h2 sees no WINDOW_UPDATE of ours) ----------


def window_update(stream: int, increment: int, length: int = 4) -> bytes:
    body = increment.to_bytes(4, "big")[:length].rjust(length, b"\x00")
    return length.to_bytes(3, "big") + b"\x08\x00" + stream.to_bytes(4, "big") + body


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("send"), st.integers(1, 70000)),
            st.tuples(st.just("ack"), st.integers(0, 70000)),
            st.tuples(st.just("grant"), st.integers(1, 100000)),
            st.tuples(st.just("grant-stream"), st.integers(1, 100000)),
            st.tuples(st.just("initial"), st.integers(0, 200000)),
            st.tuples(st.just("frame"), st.integers(16384, 100000)),
        ),
        max_size=25,
    )
)
def test_send_capacity_is_what_the_server_allows(script: list[tuple[str, int]]) -> None:
    from h2.settings import SettingCodes

    pair = Pair()
    pair.respond()
    unacked = 0
    sent = b""
    for step, n in script:
        if step == "send":
            room = pair.client.send_capacity()
            chunk = bytes([len(sent) % 251]) * n
            assert pair.client.send(chunk) == min(n, room)
            sent += chunk[: min(n, room)]
        elif step == "ack":
            take = min(n, unacked)
            pair.server.acknowledge_received_data(take, pair.sid)
            unacked -= take
        elif step == "grant":
            pair.server.increment_flow_control_window(n)
        elif step == "grant-stream":
            pair.server.increment_flow_control_window(n, stream_id=pair.sid)
        elif step == "initial":
            pair.server.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: n})
        else:
            pair.server.update_settings({SettingCodes.MAX_FRAME_SIZE: n})
        before = len(pair.server_events)
        pair.to_server()
        new = pair.server_events[before:]
        unacked += sum(
            e.flow_controlled_length for e in new if isinstance(e, h2.events.DataReceived)
        )
        assert (
            max([len(e.data) for e in new if isinstance(e, h2.events.DataReceived)], default=0)
            <= pair.server.local_settings.max_frame_size
        )
        assert pair.to_client() == []
        pair.to_server()
        assert pair.client.failed is None
        # what the server's h2 lets us send (both windows), once every frame is across
        assert pair.client.send_capacity() == max(
            0, pair.server.remote_flow_control_window(pair.sid)
        )
    got = b"".join(e.data for e in pair.server_events if isinstance(e, h2.events.DataReceived))
    assert got == sent


def test_window_updates_of_ours_do_not_reach_h2_and_open_the_windows() -> None:
    pair = Pair()
    pair.respond()
    seen = _Counting(pair)
    assert pair.client.send(b"s" * 65535) == 65535
    assert pair.client.send_capacity() == 0
    assert pair.client.receive(window_update(0, 1000)) == []
    assert pair.client.send_capacity() == 0  # the stream's window is still shut
    wire = window_update(pair.sid, 600)
    for i in range(len(wire)):  # held across reads, counted once
        assert pair.client.receive(wire[i : i + 1]) == []
    assert pair.client.send_capacity() == 600
    assert pair.client.receive(window_update(pair.sid, 5000)) == []
    assert pair.client.send_capacity() == 1000  # now the connection's
    assert seen.calls == []
    # several in one read, each on its own window
    assert pair.client.send(b"s" * 1000) == 1000
    assert pair.client.receive(window_update(pair.sid, 700) + window_update(0, 300)) == []
    assert pair.client.send_capacity() == 300
    assert pair.client.receive(window_update(0, 500) + window_update(pair.sid, 9)) == []
    assert pair.client.send_capacity() == 800
    assert pair.client.send(b"s" * 800) == 800
    # the high bit of the increment is reserved: ignored
    assert pair.client.receive(window_update(0, (1 << 31) | 7)) == []
    assert pair.client.send_capacity() == 7


def test_frames_go_out_in_order_h2_bytes_first() -> None:
    client = _h2.H2ClientStream(url="http://x/")
    client.start("POST", "http", "x:1", "/p", [])
    assert client.send(b"body") == 4  # before the HEADERS were written
    client.end_input()
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    events = server.receive_data(client.data_to_send())
    ours = (h2.events.RequestReceived, h2.events.DataReceived, h2.events.StreamEnded)
    kinds = [type(e) for e in events if isinstance(e, ours)]
    # HEADERS, our DATA, then h2's empty DATA with END_STREAM
    assert kinds == [
        h2.events.RequestReceived,
        h2.events.DataReceived,
        h2.events.DataReceived,
        h2.events.StreamEnded,
    ]
    assert [e.data for e in events if isinstance(e, h2.events.DataReceived)] == [b"body", b""]
    assert client.data_to_send() == b""


@pytest.mark.parametrize(
    ("wire", "what"),
    [
        (lambda sid: window_update(0, 2**31 - 65535), "a WINDOW_UPDATE"),
        (lambda sid: window_update(sid, 2**31 - 65535), "a WINDOW_UPDATE"),
    ],
)
def test_a_window_past_the_maximum_is_a_flow_control_error(wire: Any, what: str) -> None:
    pair = Pair()
    pair.respond()
    assert pair.client.receive(window_update(0, 2**31 - 65536)) == []  # exactly the maximum
    assert pair.client.receive(window_update(pair.sid, 2**31 - 65536)) == []
    assert pair.client.send_capacity() == 2**31 - 1
    ping = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"p" * 8
    events = pair.client.receive(wire(pair.sid) + ping)
    assert [type(e) for e in events] == [_h2.Failed]
    assert f"{what} took a send window past 2**31-1" in str(events[0].error)
    assert isinstance(events[0].error, ConnectionClosedError)
    out = pair.client.data_to_send()
    at = out.index(b"\x07\x00\x00\x00\x00\x00")  # GOAWAY FLOW_CONTROL_ERROR
    assert out[at + 10 : at + 14] == (3).to_bytes(4, "big")
    assert b"\x00\x00\x08\x06\x01" not in out  # nothing after it was passed on


def test_a_settings_change_past_the_maximum_window_is_a_flow_control_error() -> None:
    from h2.settings import SettingCodes

    pair = Pair()
    pair.respond()
    assert pair.client.receive(window_update(pair.sid, 2**31 - 65536)) == []
    pair.server.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 65535})  # no change
    assert pair.to_client() == []
    pair.server.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 65536})
    events = pair.to_client()
    assert [type(e) for e in events] == [_h2.Failed]
    assert "a SETTINGS frame took a send window past 2**31-1" in str(events[0].error)


@pytest.mark.parametrize(
    "frame",
    [
        window_update(1, 0),  # a zero increment
        window_update(0, 0),
        window_update(1, 5, length=5),  # not 4 bytes long
        window_update(3, 5),  # another (idle) stream
        window_update((1 << 24) | 1, 5),  # another, whose low three bytes are ours
    ],
)
def test_window_updates_h2_must_refuse_reach_it(frame: bytes) -> None:
    pair = Pair()
    pair.respond()
    seen = _Counting(pair)
    events = pair.client.receive(frame)
    assert [type(e) for e in events] == [_h2.Failed]
    assert seen.calls == [frame]
    assert pair.client.send_capacity() == 0


def test_a_window_update_after_other_frames_follows_them() -> None:
    from h2.settings import SettingCodes

    pair = Pair()
    pair.respond()
    pair.server.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 0})
    settings_frame = pair.server.data_to_send()
    seen = _Counting(pair)
    # SETTINGS first: the stream's window is 0 + 10, whatever the order of the counting
    assert pair.client.receive(settings_frame + window_update(pair.sid, 10)) == []
    assert seen.calls == [settings_frame]
    assert pair.client.send_capacity() == 10
    # a reset before a WINDOW_UPDATE: nothing after the failure is counted
    pair.server.reset_stream(pair.sid, 2)
    events = pair.client.receive(pair.server.data_to_send() + window_update(0, 2**31 - 1))
    assert [type(e) for e in events] == [_h2.Failed]
    assert isinstance(events[0].error, StreamResetError)


def test_the_session_token_is_sent_never_indexed() -> None:
    """Kept out of both HPACK tables and out of hpack's debug log (as h2 does Authorization)."""
    from hpack import NeverIndexedHeaderTuple

    client = _h2.H2ClientStream(url="http://x/")
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    client.start(
        "POST", "http", "x:1", "/p", [("X-Amz-Security-Token", "tok"), ("x-amz-date", "d")]
    )
    (req,) = [
        e
        for e in server.receive_data(client.data_to_send())
        if isinstance(e, h2.events.RequestReceived)
    ]
    kinds = {bytes(name): type(field) for field in req.headers for name in [field[0]]}
    assert kinds[b"x-amz-security-token"] is NeverIndexedHeaderTuple
    assert kinds[b"x-amz-date"] is not NeverIndexedHeaderTuple


def test_write_wait_caps_a_blocked_write_at_the_total_deadline() -> None:
    """Both drivers' rule: the no-progress wait, never past ``until``, which progress does
    not move; the total deadline's error once it is reached."""
    url = "http://x/"
    assert _h2.write_wait(2.0, None, 100.0, 5, url) == (2.0, False)
    assert _h2.write_wait(None, None, 100.0, 5, url) == (None, False)
    assert _h2.write_wait(2.0, 101.5, 100.0, 5, url) == (1.5, True)  # the total comes first
    assert _h2.write_wait(None, 101.5, 100.0, 5, url) == (1.5, True)
    assert _h2.write_wait(1.0, 101.5, 100.0, 5, url) == (1.0, False)  # the idle limit first
    assert _h2.write_wait(1.5, 101.5, 100.0, 5, url) == (1.5, False)  # equal: not capped
    assert _h2.write_wait(2.0, 100.5, 100.0, 5, url) == (0.5, True)  # under a second left
    for now in (101.5, 102.0):
        with pytest.raises(WriteTimeoutError, match=r"total deadline passed .* 5 bytes wait"):
            _h2.write_wait(2.0, 101.5, now, 5, url)


def test_idle_write_error_says_how_long_and_how_much() -> None:
    error = _h2.idle_write_error(0.5, 300, "http://x/")
    assert str(error) == (
        "the server took no input for 0.5 s (HTTP/2 flow control: 300 bytes wait to be sent)"
    )
    assert (error.timeout, error.elapsed, error.url) == (0.5, 0.5, "http://x/")


def test_a_backlog_of_answers_past_the_bound_gives_the_connection_up() -> None:
    pair = Pair()
    pair.respond()
    bound = 4096
    assert pair.client.backlog(bound + _h2.ANSWER_BACKLOG, bound) == []  # at the bound: fine
    (event,) = pair.client.backlog(bound + _h2.ANSWER_BACKLOG + 1, bound)
    assert isinstance(event, _h2.Failed)
    text = str(event.error)
    assert f"{bound + _h2.ANSWER_BACKLOG + 1} bytes wait to be written" in text
    assert "ENHANCE_YOUR_CALM" in text
    assert pair.client.backlog(10**9, bound) == []  # failed already: said once
    said = pair.server.receive_data(pair.client.data_to_send())
    (bye,) = [e for e in said if isinstance(e, h2.events.ConnectionTerminated)]
    assert bye.error_code == _h2.ENHANCE_YOUR_CALM == 0xB
    assert _h2.ANSWER_BACKLOG == 1 << 20
