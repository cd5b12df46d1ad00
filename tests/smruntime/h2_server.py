"""A small HTTP/2 server for the client's tests, hostile on demand (server side of ``h2``).

One thread per connection, blocking sockets, h2c (prior knowledge) or TLS with a chosen ALPN
list. What it does with a request stream (``mode``):

- ``"raw"``: echo each DATA frame's bytes back as they arrive;
- ``"events"``: unwrap the signed outer event-stream messages and echo each inner message
  (a PayloadPart with its DataType/CompletionState headers) as a response event; the empty
  final message ends the response;
- ``"status"``: answer ``status`` with ``body`` and end the stream.

``flood`` (bytes): on each request, send that much at once, as fast as the client's windows let.

Faults: ``hold`` (an Event: while set, received data is not acknowledged, so the client's send
window closes), ``goaway_after`` / ``rst_after`` (bytes received, then GOAWAY/RST_STREAM with
``fault_code``), ``first_delay`` (seconds before the response headers), ``graceful_after``
(bytes received, then a GOAWAY(``fault_code``, last stream = the request's) written by hand,
since h2's own server side stops at a GOAWAY: the stream then carries on as before).
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Any, Optional

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from eventstream import Decoder
from smruntime.http._tls import wrap_socket


class H2TestServer:
    def __init__(
        self,
        mode: str = "raw",
        *,
        tls: Optional[ssl.SSLContext] = None,
        status: int = 200,
        body: bytes = b"",
        response_headers: Optional[list[tuple[str, str]]] = None,
        goaway_after: Optional[int] = None,
        rst_after: Optional[int] = None,
        fault_code: int = 2,
        first_delay: float = 0.0,
        flood: int = 0,
        graceful_after: Optional[int] = None,
        body_ends: bool = True,
    ) -> None:
        self.mode = mode
        self.body_ends = body_ends  # "status" mode: END_STREAM after the body (else it stalls)
        self.tls = tls
        self.status = status
        self.body = body
        self.response_headers = response_headers or [
            ("content-type", "application/vnd.amazon.eventstream"),
            ("x-amzn-invoked-production-variant", "AllTraffic"),
        ]
        self.goaway_after = goaway_after
        self.rst_after = rst_after
        self.fault_code = fault_code
        self.first_delay = first_delay
        self.graceful_after = graceful_after
        self.connections = 0  # connections accepted
        self.flood = flood  # bytes sent on each request at once (as the windows allow)
        self.sent = 0  # DATA bytes handed to h2, all streams
        self.hold = threading.Event()
        self.requests: list[dict[str, str]] = []
        self.received = 0  # DATA bytes received, all streams
        self.received_messages: list[Any] = []  # outer messages, "events" mode
        self.resets: list[int] = []  # RST_STREAM codes received from the client
        self.first_data_at: Optional[float] = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._stop = False
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> H2TestServer:
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self.hold.clear()
        for step in (lambda: self._sock.shutdown(socket.SHUT_RDWR), self._sock.close):
            try:
                step()
            except OSError:
                pass
        for c in list(self._conns):
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(5)

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, raw: socket.socket) -> None:
        sock: Any = raw
        self._conns.append(raw)
        try:
            if self.tls is not None:
                try:
                    sock = wrap_socket(self.tls, raw, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                if sock.selected_alpn_protocol() != "h2":
                    time.sleep(0.2)
                    return
            _Session(self, sock).run()
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass


class _Session:
    def __init__(self, server: H2TestServer, sock: Any) -> None:
        self.server = server
        self.sock = sock
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self.decoders: dict[int, Decoder] = {}
        self.unacked: list[tuple[int, int]] = []
        self.received: dict[int, int] = {}
        self.faulted = False
        self.graced = False
        self.out: dict[int, bytearray] = {}
        self.ending: set[int] = set()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def run(self) -> None:
        self.conn.initiate_connection()
        self.flush()
        self.sock.settimeout(0.05)
        while not self.server._stop:
            self._release()
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                self.pump()
                continue
            except ssl.SSLWantReadError:
                continue
            if not data:
                return
            for event in self.conn.receive_data(data):
                self._on(event)
            self.pump()

    def _release(self) -> None:
        if self.unacked and not self.server.hold.is_set():
            for sid, n in self.unacked:
                try:
                    self.conn.acknowledge_received_data(n, sid)
                except h2.exceptions.StreamClosedError:
                    pass
            self.unacked.clear()
            self.flush()

    def _on(self, event: Any) -> None:
        srv = self.server
        if isinstance(event, h2.events.RequestReceived):
            srv.requests.append(dict(event.headers))
            if srv.first_delay:
                time.sleep(srv.first_delay)
            sid = event.stream_id
            self.decoders[sid] = Decoder()
            if srv.mode == "status":
                headers = [(":status", str(srv.status)), *srv.response_headers]
                self.conn.send_headers(sid, headers, end_stream=not srv.body)
                if srv.body:
                    self.conn.send_data(sid, srv.body, end_stream=srv.body_ends)
            else:
                self.conn.send_headers(sid, [(":status", "200"), *srv.response_headers])
                if srv.flood:
                    self._send(sid, b"f" * srv.flood)
        elif isinstance(event, h2.events.DataReceived):
            sid = event.stream_id
            if srv.first_data_at is None:
                srv.first_data_at = time.monotonic()
            srv.received += len(event.data)
            self.received[sid] = self.received.get(sid, 0) + len(event.data)
            if event.flow_controlled_length:
                if srv.hold.is_set():
                    self.unacked.append((sid, event.flow_controlled_length))
                else:
                    self.conn.acknowledge_received_data(event.flow_controlled_length, sid)
            if self._fault(sid):
                return
            if srv.mode == "raw" and event.data:
                self._send(sid, event.data)
            elif srv.mode == "events":
                for outer in self.decoders[sid].feed(event.data):
                    srv.received_messages.append(outer)
                    if outer.payload:
                        self._send(sid, bytes(outer.payload))
                    else:
                        self._end(sid)
        elif isinstance(event, h2.events.StreamEnded):
            sid = event.stream_id
            if srv.mode == "raw" and not self.faulted:
                self._end(sid)
        elif isinstance(event, h2.events.StreamReset):
            srv.resets.append(event.error_code)

    def _fault(self, sid: int) -> bool:
        srv = self.server
        if self.faulted:
            return True
        got = self.received[sid]
        if srv.rst_after is not None and got >= srv.rst_after:
            self.faulted = True
            self.conn.reset_stream(sid, srv.fault_code)
            return True
        if srv.graceful_after is not None and got >= srv.graceful_after and not self.graced:
            self.graced = True
            self.flush()
            payload = sid.to_bytes(4, "big") + srv.fault_code.to_bytes(4, "big")
            self.sock.sendall(b"\x00\x00\x08\x07\x00\x00\x00\x00\x00" + payload)
        if srv.goaway_after is not None and got >= srv.goaway_after:
            self.faulted = True
            self.conn.close_connection(srv.fault_code, last_stream_id=0)
            return True
        return False

    def _send(self, sid: int, data: bytes) -> None:
        self.out.setdefault(sid, bytearray()).extend(data)

    def _end(self, sid: int) -> None:
        self.ending.add(sid)

    def pump(self) -> None:
        """Send what is queued, within the client's windows."""
        for sid in list(self.out):
            buf = self.out[sid]
            try:
                while buf:
                    room = min(
                        self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size
                    )
                    if room <= 0:
                        break
                    self.conn.send_data(sid, bytes(buf[:room]))
                    self.server.sent += room
                    del buf[:room]
                if not buf and sid in self.ending:
                    self.ending.discard(sid)
                    self.conn.end_stream(sid)
            except h2.exceptions.StreamClosedError:
                buf.clear()
                self.ending.discard(sid)
        for sid in [sid for sid in self.ending if sid not in self.out]:  # nothing was echoed
            self.ending.discard(sid)
            try:
                self.conn.end_stream(sid)
            except h2.exceptions.StreamClosedError:
                pass
        self.flush()


def main() -> None:
    """``python -m tests.smruntime.h2_server [MODE]``: serve on a free loopback port, print it,
    stop when stdin closes (benchmarks run it in a child process)."""
    import sys

    mode = sys.argv[1] if len(sys.argv) > 1 else "events"
    with H2TestServer(mode) as srv:
        sys.stdout.write(f"{srv.port}\n")
        sys.stdout.flush()
        sys.stdin.read()


if __name__ == "__main__":
    main()
