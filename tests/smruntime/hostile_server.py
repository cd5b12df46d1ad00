"""A loopback server whose handler writes raw bytes, for the wire's hostile-peer tests.

``with HostileServer(handler) as srv``: every connection runs ``handler(sock, request)`` in its
own thread, ``request`` being the raw request head and body bytes (``None`` if the client sent
nothing before closing). The handler returns True to serve the next request on the same
connection. Every socket is closed by ``stop()``.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from pathlib import Path
from typing import Callable, Optional

from smruntime.http._tls import wrap_socket
from tests.smruntime.loopback import LoopbackServer

Handler = Callable[[socket.socket, Optional[bytes]], bool]

TLS_DIR = Path(__file__).resolve().parent.parent / "data" / "tls"
CERT = str(TLS_DIR / "cert.pem")  # the repository's test certificate (for tls=) and its key
KEY = str(TLS_DIR / "key.pem")


def read_request(sock: socket.socket, *, timeout: float = 10.0) -> Optional[bytes]:
    """The next request (head and Content-Length body) from ``sock``, or None at EOF."""
    sock.settimeout(timeout)
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                return None
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            data = sock.recv(65536)
            if not data:
                return None
            rest += data
        return head + b"\r\n\r\n" + rest
    except OSError:
        return None


class HostileServer(LoopbackServer):
    def __init__(
        self, handler: Handler, *, accept: bool = True, tls: Optional[ssl.SSLContext] = None
    ) -> None:
        super().__init__()
        self.handler = handler
        self._tls = tls
        self.requests: list[bytes] = []
        self.url = f"https://localhost:{self.port}" if tls else f"http://127.0.0.1:{self.port}"
        self._accept_enabled = accept

    def accepting(self) -> bool:
        return self._accept_enabled

    def handle(self, conn: socket.socket) -> None:
        if self._tls is not None:
            conn.settimeout(10)
            conn = wrap_socket(self._tls, conn, server_side=True)
            self.track(conn)
        try:
            while not self._stop.is_set():
                request = read_request(conn)
                if request is not None:
                    self.requests.append(request)
                conn.settimeout(30)
                if not self.handler(conn, request) or request is None:
                    return
        finally:
            conn.close()

    def drip(self, conn: socket.socket, data: bytes, every: float = 0.25) -> None:
        """Send ``data`` one byte every ``every`` seconds, until done or the peer goes."""
        for i in range(len(data)):
            if self._stop.is_set():
                return
            conn.sendall(data[i : i + 1])
            self._stop.wait(every)

    def endless(self, conn: socket.socket, head: bytes, filler: bytes, limit: int) -> int:
        """Send ``head`` then ``filler`` over and over up to ``limit`` bytes; the bytes sent."""
        sent = 0
        try:
            conn.sendall(head)
            block = filler * max(1, 65536 // len(filler))
            while sent < limit and not self._stop.is_set():
                conn.sendall(block)
                sent += len(block)
        except OSError:
            pass
        return sent


def echo(sock: socket.socket, request: Optional[bytes]) -> bool:
    """A handler that answers with the request's body, after a short pause that differs from
    process to process (to interleave forked callers)."""
    if request is None:
        return False
    body = request.partition(b"\r\n\r\n")[2]
    time.sleep(0.001 * (os.getpid() % 3))
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    sock.sendall(head % len(body) + body)
    return True
