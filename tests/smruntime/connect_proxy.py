"""A minimal HTTP CONNECT proxy for the HTTP/2 tests (loopback only): it records each CONNECT
target and Proxy-Authorization, then relays bytes both ways."""

from __future__ import annotations

import socket
import threading
from typing import Optional


class ConnectProxy:
    def __init__(self, *, refuse: bool = False) -> None:
        self.refuse = refuse
        self.connects: list[str] = []
        self.auth: list[Optional[str]] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> ConnectProxy:
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        for step in (lambda: self._sock.shutdown(socket.SHUT_RDWR), self._sock.close):
            try:
                step()
            except OSError:
                pass

    def _spawn(self, target: object, *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self._spawn(self._handle, conn)

    def _handle(self, conn: socket.socket) -> None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            buf += chunk
        head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        auth = next(
            (
                h.split(":", 1)[1].strip()
                for h in head[1:]
                if h.lower().startswith("proxy-authorization:")
            ),
            None,
        )
        self.connects.append(target)
        self.auth.append(auth)
        if method != "CONNECT" or self.refuse:
            conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host.strip("[]"), int(port)))
        conn.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        self._spawn(self._pipe, conn, upstream)
        self._pipe(upstream, conn)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
