"""A minimal RFC 6455 WebSocket client (standard library only), for container mode's bidi calls.

Pure framing first (:func:`encode_frame`, :class:`FrameParser`, :func:`handshake_request`,
:func:`check_handshake`): bytes in, events out, no sockets or clocks. :class:`WebSocket` is the
blocking driver on one socket: handshake, masked sends under a lock (so a reader thread can
answer pings while another thread sends), and receives with monotonic deadlines.
"""

from __future__ import annotations

import base64
import hashlib
import os
import select
import socket
import struct
import threading
import time
from typing import Optional, Union

__all__ = [
    "BINARY",
    "CLOSE",
    "PING",
    "PONG",
    "TEXT",
    "Close",
    "FrameParser",
    "Message",
    "Ping",
    "WebSocket",
    "WebSocketError",
    "check_handshake",
    "encode_frame",
    "handshake_request",
]

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_DATA = (TEXT, BINARY)
_CONTROL = (CLOSE, PING, PONG)
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 16 * 1024 * 1024
_MAX_HEAD = 16384
_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


class WebSocketError(Exception):
    """A WebSocket protocol violation or failure; ``close_code`` is what to tell the peer."""

    def __init__(self, message: str, close_code: int = 1002) -> None:
        super().__init__(message)
        self.close_code = close_code


class Message:
    """A complete data message: ``text`` (str) for a text message, else ``data`` (bytes)."""

    def __init__(self, opcode: int, data: bytes) -> None:
        self.opcode = opcode
        self.data = data

    @property
    def is_text(self) -> bool:
        return self.opcode == TEXT

    def __repr__(self) -> str:
        kind = "text" if self.is_text else "binary"
        return f"Message({kind}, {len(self.data)} bytes)"


class Ping:
    """A ping (answer it with a pong carrying ``data``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data


class Close:
    """The peer's close frame: ``code`` (1005 when it gave none) and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"Close({self.code}, {self.reason!r})"


Event = Union[Message, Ping, Close]


def encode_frame(
    opcode: int, payload: bytes, mask: Optional[bytes] = None, fin: bool = True
) -> bytes:
    """One frame; *mask* (4 bytes) masks it, as a client must (``None``: unmasked)."""
    if opcode in _CONTROL and (len(payload) > 125 or not fin):
        raise ValueError("a control frame carries at most 125 bytes and is never fragmented")
    head = bytearray([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask is not None else 0
    size = len(payload)
    if size < 126:
        head.append(bit | size)
    elif size < 65536:
        head.append(bit | 126)
        head += struct.pack("!H", size)
    else:
        head.append(bit | 127)
        head += struct.pack("!Q", size)
    if mask is None:
        return bytes(head) + payload
    if len(mask) != 4:
        raise ValueError("a mask is 4 bytes")
    return bytes(head) + mask + _xor(payload, mask)


def _xor(data: bytes, mask: bytes) -> bytes:
    if not data:
        return b""
    key = int.from_bytes((mask * (len(data) // 4 + 1))[: len(data)], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(len(data), "big")


def close_payload(code: int, reason: str = "") -> bytes:
    """A close frame's payload: the code, then the reason (UTF-8, cut to fit 125 bytes)."""
    return struct.pack("!H", code) + reason.encode("utf-8")[:123]


class FrameParser:
    """Frames from a server, fed as bytes arrive; :meth:`feed` returns the complete events.

    Server frames must be unmasked with no reserved bits; fragments are reassembled; a message
    (or a frame) over *max_message* bytes, an unknown opcode, a bad control frame, text that is
    not UTF-8 or a bad close code raises :class:`WebSocketError` (the stream offset included).
    """

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        self.max_message = max_message
        self._buffer = bytearray()
        self._offset = 0  # stream offset of self._buffer[0]
        self._fragments: list[bytes] = []
        self._fragment_size = 0
        self._fragment_opcode: Optional[int] = None
        self.closed = False

    def _error(self, message: str, code: int = 1002) -> WebSocketError:
        return WebSocketError(f"{message} (frame at byte {self._offset})", code)

    def feed(self, data: bytes) -> list[Event]:
        if self.closed and data:
            raise self._error("data after the close frame")
        self._buffer += data
        events: list[Event] = []
        while not self.closed:
            event = self._next()
            if event is None:
                break
            if not isinstance(event, bool):
                events.append(event)
        return events

    def _next(self) -> Union[Event, bool, None]:
        buf = self._buffer
        if len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        fin, opcode = bool(first & 0x80), first & 0x0F
        if first & 0x70:
            raise self._error("reserved bits set (no extension was negotiated)")
        if second & 0x80:
            raise self._error("a server frame must not be masked")
        size, at = second & 0x7F, 2
        if size == 126:
            if len(buf) < 4:
                return None
            size, at = struct.unpack_from("!H", buf, 2)[0], 4
        elif size == 127:
            if len(buf) < 10:
                return None
            size, at = struct.unpack_from("!Q", buf, 2)[0], 10
            if size >> 63:
                raise self._error("frame length has its top bit set")
        if opcode in _CONTROL:
            if size > 125:
                raise self._error(f"control frame of {size} bytes (at most 125)")
            if not fin:
                raise self._error("fragmented control frame")
        elif opcode in _DATA:
            if self._fragment_opcode is not None:
                raise self._error("a new message began inside a fragmented one")
        elif opcode == CONTINUATION:
            if self._fragment_opcode is None:
                raise self._error("continuation frame with no message to continue")
        else:
            raise self._error(f"unknown opcode {opcode:#x}")
        if opcode not in _CONTROL and self._fragment_size + size > self.max_message:
            raise self._error(f"message over {self.max_message} bytes", 1009)
        if len(buf) < at + size:
            return None
        payload = bytes(buf[at : at + size])
        del buf[: at + size]
        where = self._offset
        self._offset += at + size
        if opcode == PING:
            return Ping(payload)
        if opcode == PONG:
            return True
        if opcode == CLOSE:
            self.closed = True
            return self._close(payload, where)
        if opcode != CONTINUATION:
            self._fragment_opcode = opcode
        self._fragments.append(payload)
        self._fragment_size += size
        if not fin:
            return True
        kind = self._fragment_opcode
        assert kind is not None
        data = b"".join(self._fragments)
        self._fragments, self._fragment_size, self._fragment_opcode = [], 0, None
        if kind == TEXT:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise WebSocketError(
                    f"text message is not UTF-8 at byte {exc.start} (message ending at {where})",
                    1007,
                ) from None
        return Message(kind, data)

    def _close(self, payload: bytes, where: int) -> Close:
        if not payload:
            return Close(1005, "")
        if len(payload) == 1:
            raise WebSocketError(f"close frame with a 1-byte payload (frame at byte {where})")
        code = struct.unpack_from("!H", payload)[0]
        if code < 1000 or code in (1004, 1005, 1006, 1015) or 1016 <= code < 3000 or code > 4999:
            raise WebSocketError(f"invalid close code {code} (frame at byte {where})")
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise WebSocketError(
                f"close reason is not UTF-8 (frame at byte {where})", 1007
            ) from None
        return Close(code, reason)


def handshake_request(
    host: str, path: str, key: str, headers: tuple[tuple[str, str], ...] = ()
) -> bytes:
    """The opening handshake's HTTP/1.1 GET (*key*: base64 of 16 random bytes)."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def accept_value(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def check_handshake(head: bytes, key: str) -> None:
    """Check the server's answer head (through the blank line) to a handshake with *key*."""
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise WebSocketError(f"not an HTTP answer to the WebSocket handshake: {status_line[:80]!r}")
    if parts[1] != "101":
        raise WebSocketError(
            f"the WebSocket handshake was refused: HTTP {' '.join(parts[1:])[:80]}", 1006
        )
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
    if fields.get("upgrade", "").lower() != "websocket":
        raise WebSocketError("handshake answer lacks Upgrade: websocket")
    if "upgrade" not in [t.strip().lower() for t in fields.get("connection", "").split(",")]:
        raise WebSocketError("handshake answer lacks Connection: Upgrade")
    expected, found = accept_value(key), fields.get("sec-websocket-accept")
    if found != expected:
        raise WebSocketError(f"Sec-WebSocket-Accept is {found!r}, expected {expected!r}")
    if fields.get("sec-websocket-extensions"):
        raise WebSocketError("the server chose an extension none was offered")


class WebSocket:
    """A blocking WebSocket client connection (see :meth:`connect`)."""

    def __init__(self, sock: socket.socket, max_message: int = MAX_MESSAGE) -> None:
        self.sock = sock
        self.parser = FrameParser(max_message)
        self._pending: list[Event] = []
        self._send_lock = threading.Lock()
        self.close_sent = False

    @classmethod
    def connect(
        cls,
        host: str,
        port: int,
        path: str,
        *,
        timeout: float,
        headers: tuple[tuple[str, str], ...] = (),
        max_message: int = MAX_MESSAGE,
    ) -> WebSocket:
        """Connect and handshake, all within *timeout* seconds."""
        deadline = time.monotonic() + timeout
        sock = socket.create_connection((host, port), timeout=timeout)
        try:
            key = base64.b64encode(os.urandom(16)).decode("ascii")
            sock.sendall(handshake_request(f"{host}:{port}", path, key, headers))
            head = bytearray()
            while b"\r\n\r\n" not in head:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WebSocketError("no answer to the WebSocket handshake in time", 1006)
                sock.settimeout(remaining)
                try:
                    chunk = sock.recv(4096)
                except socket.timeout:
                    raise WebSocketError(
                        "no answer to the WebSocket handshake in time", 1006
                    ) from None
                if not chunk:
                    raise WebSocketError("connection closed during the WebSocket handshake", 1006)
                head += chunk
                if len(head) > _MAX_HEAD:
                    raise WebSocketError(f"handshake answer head over {_MAX_HEAD} bytes")
            end = head.index(b"\r\n\r\n") + 4
            check_handshake(bytes(head[:end]), key)
            sock.settimeout(None)  # deadlines from here on come from select()
            ws = cls(sock, max_message)
            ws._pending = ws.parser.feed(bytes(head[end:]))
            return ws
        except BaseException:
            sock.close()
            raise

    def send(self, opcode: int, payload: bytes, timeout: float = 30.0) -> None:
        """Send one masked frame; a peer that takes none of it for *timeout* seconds raises."""
        frame = memoryview(encode_frame(opcode, payload, os.urandom(4)))
        with self._send_lock:
            if self.close_sent:
                return
            if opcode == CLOSE:
                self.close_sent = True
            deadline = time.monotonic() + timeout
            while frame:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([], [self.sock], [], remaining)[1]:
                    raise WebSocketError("the peer took no data in time", 1006)
                try:
                    frame = frame[self.sock.send(frame, _DONTWAIT) :]
                except BlockingIOError:
                    continue
                deadline = time.monotonic() + timeout

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start (or answer) the closing handshake; errors sending it are ignored."""
        try:
            self.send(CLOSE, close_payload(code, reason), timeout=2.0)
        except (OSError, ValueError, WebSocketError):  # ValueError: the socket is closed
            pass

    def receive(self, timeout: Optional[float]) -> Optional[Event]:
        """The next message or close (pings are answered here); None if *timeout* passed
        first (``None``: wait forever). A connection closed without a close frame raises."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            while self._pending:
                event = self._pending.pop(0)
                if isinstance(event, Ping):
                    self.send(PONG, event.data)
                    continue
                return event
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            if not select.select([self.sock], [], [], remaining)[0]:
                return None
            try:
                data = self.sock.recv(65536, _DONTWAIT)
            except BlockingIOError:
                continue
            if not data:
                raise WebSocketError("the connection closed without a close frame", 1006)
            self._pending = self.parser.feed(data)
