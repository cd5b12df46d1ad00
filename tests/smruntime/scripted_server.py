"""A loopback HTTP/1.1 server whose every response is a script, for fault tests.

Unlike the emulator, it does not understand the service: a test hands it a function from the
received request to a :class:`Reply`, and the server writes exactly those bytes, with exactly
those chunk boundaries, pauses and cuts. Requests are recorded for assertions.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

from tests.smruntime.loopback import LoopbackServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Pause:
    """Sleep before the next piece (or wait for an event)."""

    def __init__(self, seconds: float = 0.0, until: Optional[threading.Event] = None) -> None:
        self.seconds = seconds
        self.until = until


class Cut:
    """Close the connection abruptly here (RST when ``reset`` is true)."""

    def __init__(self, reset: bool = False) -> None:
        self.reset = reset


Piece = Union[bytes, Pause, Cut]


@dataclass
class Reply:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: Iterable[Piece] = ()
    chunked: bool = True
    content_length: Optional[int] = None  # for chunked=False; default = sum of byte pieces
    before_headers: float = 0.0


Handler = Callable[[Received], Reply]


class ScriptedServer(LoopbackServer):
    """``with ScriptedServer(handler) as srv: srv.url``. Thread per connection, keep-alive."""

    def __init__(self, handler: Handler) -> None:
        super().__init__()
        self.handler = handler
        self.requests: list[Received] = []
        self.disconnects = threading.Event()
        self.url = f"http://127.0.0.1:{self.port}"

    def accepted(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            while not self._stop.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                self.requests.append(request)
                reply = self.handler(request)
                if not self._write(conn, reply):
                    return
        finally:
            self.disconnects.set()

    def _write(self, conn: socket.socket, reply: Reply) -> bool:
        if reply.before_headers and self._stop.wait(reply.before_headers):
            return False
        pieces: Iterable[Piece] = reply.body
        head = [f"HTTP/1.1 {reply.status} X".encode()]
        names = {k.lower() for k, _ in reply.headers}
        for name, value in reply.headers:
            head.append(f"{name}: {value}".encode())
        if reply.chunked:
            head.append(b"Transfer-Encoding: chunked")
        elif "content-length" not in names:
            length = reply.content_length
            if length is None:
                pieces = list(pieces)
                length = sum(len(p) for p in pieces if isinstance(p, bytes))
            head.append(f"Content-Length: {length}".encode())
        conn.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        for piece in pieces:
            if isinstance(piece, Pause):
                if not self._pause(piece):
                    return False
            elif isinstance(piece, Cut):
                if piece.reset:
                    conn.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                conn.close()
                return False
            elif reply.chunked:
                if piece:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                conn.sendall(piece)
        if reply.chunked:
            conn.sendall(b"0\r\n\r\n")
        return True

    def _pause(self, pause: Pause) -> bool:
        """Wait as ``pause`` says; False if the server is stopped meanwhile."""
        if pause.until is not None:
            deadline = time.monotonic() + 10
            while not pause.until.wait(0.02):
                if self._stop.is_set() or time.monotonic() > deadline:
                    break
        if pause.seconds:
            self._stop.wait(pause.seconds)
        return not self._stop.is_set()


def _read_request(reader: object) -> Optional[Received]:
    line = reader.readline()  # type: ignore[attr-defined]
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        raw = reader.readline()  # type: ignore[attr-defined]
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if "content-length" in headers:
        body = reader.read(int(headers["content-length"]))  # type: ignore[attr-defined]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int(reader.readline().split(b";")[0], 16)  # type: ignore[attr-defined]
            if size == 0:
                reader.readline()  # type: ignore[attr-defined]
                break
            parts.append(reader.read(size))  # type: ignore[attr-defined]
            reader.readline()  # type: ignore[attr-defined]
        body = b"".join(parts)
    return Received(method, path, headers, body)
