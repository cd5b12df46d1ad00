"""The emulator's WebSocket client: pure framing (fed whole and byte by byte) and the handshake."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from smruntime.emulator import _websocket as ws


def feed_bytewise(parser: ws.FrameParser, data: bytes) -> list[ws.Event]:
    events: list[ws.Event] = []
    for i in range(len(data)):
        events += parser.feed(data[i : i + 1])
    return events


def test_frame_lengths_round_trip_whole_and_byte_by_byte() -> None:
    for size in (0, 1, 125, 126, 65535, 65536, 70000):
        payload = bytes(i % 251 for i in range(size))
        frame = ws.encode_frame(ws.BINARY, payload)
        (message,) = ws.FrameParser().feed(frame)
        assert isinstance(message, ws.Message)
        assert message.data == payload
        if size <= 65536:
            (again,) = feed_bytewise(ws.FrameParser(), frame)
            assert isinstance(again, ws.Message)
            assert again.data == payload


def test_client_frames_are_masked() -> None:
    frame = ws.encode_frame(ws.TEXT, b"hello", b"\x01\x02\x03\x04")
    assert frame[1] == 0x80 | 5
    assert frame[2:6] == b"\x01\x02\x03\x04"
    assert bytes(b ^ frame[2 + i % 4] for i, b in enumerate(frame[6:])) == b"hello"
    payload = bytes(range(256)) * 3
    long = ws.encode_frame(ws.BINARY, payload, b"\x9a\x0b\xc3\x04")
    mask, body = long[4:8], long[8:]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(body)) == payload


def test_fragments_reassembled_with_a_ping_between() -> None:
    data = (
        ws.encode_frame(ws.TEXT, "hé".encode(), fin=False)
        + ws.encode_frame(ws.PING, b"p")
        + ws.encode_frame(ws.CONTINUATION, b"ll", fin=False)
        + ws.encode_frame(ws.CONTINUATION, b"o")
        + ws.encode_frame(ws.PONG, b"ignored")
        + ws.encode_frame(ws.CLOSE, ws.close_payload(1000, "done"))
    )
    events = feed_bytewise(ws.FrameParser(), data)
    assert [type(e).__name__ for e in events] == ["Ping", "Message", "Close"]
    ping, message, close = events
    assert isinstance(ping, ws.Ping)
    assert ping.data == b"p"
    assert isinstance(message, ws.Message)
    assert message.is_text
    assert message.data == "héllo".encode()
    assert isinstance(close, ws.Close)
    assert (close.code, close.reason) == (1000, "done")


@pytest.mark.parametrize(
    ("frame", "complaint"),
    [
        (b"\x83\x00", "unknown opcode 0x3"),
        (b"\x8b\x00", "unknown opcode 0xb"),
        (b"\xc2\x00", "reserved bits"),
        (b"\x82\x81abcd\x00", "must not be masked"),
        (b"\x80\x00", "continuation frame with no message"),
        (b"\x09\x00", "fragmented control frame"),
        (b"\x89\x7e\x00\x7e" + b"x" * 126, "control frame of 126 bytes"),
        (b"\x82\x7f\x80" + b"\x00" * 7, "top bit"),
        (b"\x88\x01\x03", "1-byte payload"),
        (b"\x88\x02\x03\xed", "invalid close code 1005"),
        (b"\x81\x02\xc3\x28", "not UTF-8"),
    ],
)
def test_bad_frames_are_clear_errors(frame: bytes, complaint: str) -> None:
    with pytest.raises(ws.WebSocketError, match=complaint):
        ws.FrameParser().feed(frame)
    with pytest.raises(ws.WebSocketError, match=complaint):
        feed_bytewise(ws.FrameParser(), frame)


def test_new_message_inside_a_fragmented_one() -> None:
    data = ws.encode_frame(ws.TEXT, b"a", fin=False) + ws.encode_frame(ws.BINARY, b"b")
    with pytest.raises(ws.WebSocketError, match="inside a fragmented one") as info:
        feed_bytewise(ws.FrameParser(), data)
    assert "byte 3" in str(info.value)


def test_oversized_lengths_refused_before_the_payload_arrives() -> None:
    parser = ws.FrameParser(max_message=1000)
    with pytest.raises(ws.WebSocketError, match="over 1000 bytes") as info:
        parser.feed(b"\x82\x7f" + struct.pack("!Q", 2**40))  # the head alone: no allocation
    assert info.value.close_code == 1009
    fragmented = ws.encode_frame(ws.BINARY, b"x" * 600, fin=False) + ws.encode_frame(
        ws.CONTINUATION, b"x" * 600
    )
    with pytest.raises(ws.WebSocketError, match="over 1000 bytes"):
        ws.FrameParser(max_message=1000).feed(fragmented)


def test_data_after_close_is_an_error() -> None:
    parser = ws.FrameParser()
    (close,) = parser.feed(ws.encode_frame(ws.CLOSE, b""))
    assert isinstance(close, ws.Close)
    assert close.code == 1005
    with pytest.raises(ws.WebSocketError, match="after the close frame"):
        parser.feed(b"\x81\x00")


def test_encode_refuses_big_control_frames() -> None:
    with pytest.raises(ValueError, match="125"):
        ws.encode_frame(ws.PING, b"x" * 126)


def _head(status: str, key: str, **fields: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k.replace('_', '-')}: {v}" for k, v in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_handshake_accept_checked() -> None:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    assert ws.accept_value(key) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 section 1.3
    ok = {"Upgrade": "websocket", "Connection": "Upgrade"}
    ws.check_handshake(
        _head("101 Switching Protocols", key, **ok, Sec_WebSocket_Accept=ws.accept_value(key)), key
    )
    with pytest.raises(ws.WebSocketError, match="expected"):
        ws.check_handshake(
            _head("101 Switching Protocols", key, **ok, Sec_WebSocket_Accept="x"), key
        )
    with pytest.raises(ws.WebSocketError, match="refused: HTTP 404 Not Found"):
        ws.check_handshake(_head("404 Not Found", key), key)
    with pytest.raises(ws.WebSocketError, match="Upgrade: websocket"):
        ws.check_handshake(_head("101 Switching Protocols", key), key)
    request = ws.handshake_request("h:1", "/p", key).decode()
    assert "Sec-WebSocket-Key: " + key in request
    assert request.startswith("GET /p HTTP/1.1\r\n")


@pytest.fixture
def fake_server() -> Iterator[tuple[int, list[bytes], threading.Event, list[bytes]]]:
    """A one-shot server: answers the handshake, then sends the frames queued in the list."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    to_send: list[bytes] = []
    go = threading.Event()
    got: list[bytes] = []

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            accept = base64.b64encode(hashlib.sha1(key + ws._GUID).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            go.wait(10)
            for data in to_send:
                conn.sendall(data)
            got.append(conn.recv(4096))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield listener.getsockname()[1], to_send, go, got
    go.set()
    thread.join(10)
    listener.close()


def test_client_answers_pings_and_honours_deadlines(
    fake_server: tuple[int, list[bytes], threading.Event, list[bytes]],
) -> None:
    port, to_send, go, got = fake_server
    conn = ws.WebSocket.connect("127.0.0.1", port, "/x", timeout=5.0)
    try:
        assert conn.receive(0.05) is None  # nothing yet: the deadline, not a hang
        to_send += [ws.encode_frame(ws.PING, b"hi"), ws.encode_frame(ws.BINARY, b"data")]
        go.set()
        message = conn.receive(5.0)
        assert isinstance(message, ws.Message)
        assert message.data == b"data"
        for _ in range(500):
            if got:
                break
            time.sleep(0.01)
        pong = got[0]
        assert pong[:2] == bytes([0x80 | ws.PONG, 0x80 | 2])  # masked, final, 2 bytes
        assert bytes(b ^ pong[2 + i % 4] for i, b in enumerate(pong[6:8])) == b"hi"
    finally:
        conn.sock.close()


def test_handshake_deadline_holds_against_a_silent_server() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        with pytest.raises(ws.WebSocketError, match="in time"):
            ws.WebSocket.connect("127.0.0.1", listener.getsockname()[1], "/", timeout=0.2)
    finally:
        listener.close()


def test_limits_at_their_bounds() -> None:
    ws.encode_frame(ws.PING, b"x" * 125)  # the largest control frame
    parser = ws.FrameParser()
    assert parser.feed(b"\x82\x7f" + struct.pack("!Q", 16 * 1024 * 1024)) == []  # 16 MiB: waits
    with pytest.raises(ws.WebSocketError, match=f"over {16 * 1024 * 1024} bytes"):
        ws.FrameParser().feed(b"\x82\x7f" + struct.pack("!Q", 16 * 1024 * 1024 + 1))


def _serve_head(head: bytes) -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            with contextlib.suppress(OSError):
                conn.sendall(head)
                conn.recv(1)

    threading.Thread(target=run, daemon=True).start()
    return listener


def test_handshake_head_size_bounded() -> None:
    start = b"HTTP/1.1 404 Not Found\r\nX: "
    for size, expected in ((16384, "refused: HTTP 404"), (16385, "over 16384 bytes")):
        head = start + b"z" * (size - len(start) - 4) + b"\r\n\r\n"
        assert len(head) == size
        listener = _serve_head(head)
        try:
            with pytest.raises(ws.WebSocketError, match=expected):
                ws.WebSocket.connect("127.0.0.1", listener.getsockname()[1], "/", timeout=5.0)
        finally:
            listener.close()


def test_bad_length_refused_as_soon_as_the_extended_length_is_in() -> None:
    with pytest.raises(ws.WebSocketError, match="control frame of 126 bytes"):
        ws.FrameParser().feed(b"\x89\x7e\x00\x7e")  # no payload yet: the head is enough
