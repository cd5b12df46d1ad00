"""The socket loop the tests' loopback servers share: a listener on 127.0.0.1 (ephemeral port)
and a thread per accepted connection; ``stop()`` closes the listener and every connection, so
no server thread outlives its test.

A server subclasses :class:`LoopbackServer` and writes ``handle(conn)``, its side of one
connection; ``with Server(...) as srv`` starts accepting and stops at the end.
"""

from __future__ import annotations

import socket
import threading
from typing import Any


class LoopbackServer:
    def __init__(self, *, backlog: int = 64) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(backlog)
        self.port: int = self._sock.getsockname()[1]
        self.connections = 0  # accepted so far
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Any:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds``, less if the server stops meanwhile; False if it did."""
        return not self._stop.wait(seconds)

    def track(self, conn: socket.socket) -> None:
        """Have ``stop()`` shut ``conn`` down too (a TLS socket wrapped around an accepted one,
        which takes over its descriptor)."""
        with self._lock:
            self._conns.append(conn)

    def accepting(self) -> bool:
        """Whether to accept now (False: connections wait in the backlog)."""
        return True

    def accepted(self, conn: socket.socket) -> None:
        """Called for each connection before its thread starts."""

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
        except OSError:
            pass
        self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        if self._acceptor.is_alive():
            self._acceptor.join(5)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            if not self.accepting():
                self._stop.wait(0.05)
                continue
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted(conn)
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
                self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass
