"""The lightest HTTP/2 echo server the duplex benchmark measures the client against.

    python bench/_h2_light.py      # prints its port, serves until stdin closes

One thread and one selector for every connection (no thread per connection, so no GIL
hand-over per part), h2c by prior knowledge. Each request stream gets a 200 with the event
stream's content type, then every signed outer message the client sends is answered by its
payload, the inner ``PayloadPart`` message as the client encoded it, which is a valid response
event; the signed empty message ends the response. Nothing is verified (neither the request's
signature nor the chain: the emulator does that) and input is acknowledged as it arrives.
Output stays within the client's flow-control windows (what does not fit waits for a
WINDOW_UPDATE).
"""

from __future__ import annotations

import selectors
import socket
import sys
import threading
from typing import Optional

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

_WINDOW = 1 << 20
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_FRAME = 1 << 18
_HEADERS = [
    (b":status", b"200"),
    (b"content-type", b"application/vnd.amazon.eventstream"),
    (b"x-amzn-invoked-production-variant", b"AllTraffic"),
]


class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        codes = h2.settings.SettingCodes
        self.h2.initiate_connection()
        self.h2.update_settings({codes.INITIAL_WINDOW_SIZE: _WINDOW, codes.MAX_FRAME_SIZE: _FRAME})
        self.h2.max_inbound_frame_size = _FRAME
        self.h2.increment_flow_control_window(_WINDOW)
        self.inbound: dict[int, bytearray] = {}  # partial outer messages, per stream
        self.outbound: dict[int, bytearray] = {}  # answers waiting for the client's window
        self.ending: set[int] = set()  # streams whose final message arrived
        self.out = bytearray()
        self.preface = len(_PREFACE)  # bytes of the client's preface h2 has still to see
        self.partial = bytearray()  # the start of a frame not yet whole

    def receive(self, data: bytes) -> None:
        """Take the bodies of DATA frames on open streams here and hand ``h2`` the rest.

        ``h2`` builds a hex dump of every DATA frame it parses, for a log line (about a
        quarter of this server's CPU per 64 KiB part): with the bodies taken out first, the
        server's CPU is spent on its own work and the rows measure the client. A DATA frame's
        flags still reach ``h2`` (as an empty DATA frame) so that it keeps the stream's state;
        the window its body used is given back here at once."""
        if self.preface:
            first, data = data[: self.preface], data[self.preface :]
            self.preface -= len(first)
            self._to_h2(first)
            if not data:
                return
        buf = self.partial
        buf += data
        held = bytearray()  # frames for h2, in their order
        at = 0
        while len(buf) - at >= 9:
            length = int.from_bytes(buf[at : at + 3], "big")
            end = at + 9 + length
            if end > len(buf):
                break
            kind, flags = buf[at + 3], buf[at + 4]
            sid = int.from_bytes(buf[at + 5 : at + 9], "big") & 0x7FFFFFFF
            direct = kind == 0 and not flags & 0x8 and sid in self.inbound
            if direct and held:
                self._to_h2(bytes(held))
                held.clear()
                direct = sid in self.inbound  # the frames before may have reset it
            if direct:
                if length:
                    grant = length.to_bytes(4, "big")
                    self.out += b"\0\0\x04\x08\0\0\0\0\0" + grant
                    self.out += b"\0\0\x04\x08\0" + sid.to_bytes(4, "big") + grant
                inbound = self.inbound[sid]
                with memoryview(buf) as view:
                    inbound += view[at + 9 : end]
                self._answer(sid, inbound)
                self.pump()
                if flags & 0x1:
                    held += b"\0\0\0\0" + bytes([flags]) + buf[at + 5 : at + 9]
            else:
                held += buf[at:end]
            at = end
        del buf[:at]
        if held:
            self._to_h2(bytes(held))

    def _to_h2(self, data: bytes) -> None:
        conn = self.h2
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                sid = event.stream_id
                if event.flow_controlled_length:
                    conn.acknowledge_received_data(event.flow_controlled_length, sid)
                buf = self.inbound.setdefault(sid, bytearray())
                buf += event.data
                self._answer(sid, buf)
            elif isinstance(event, h2.events.RequestReceived):
                conn.send_headers(event.stream_id, _HEADERS)
                self.inbound.setdefault(event.stream_id, bytearray())
            elif isinstance(event, (h2.events.StreamReset, h2.events.StreamEnded)):
                self.inbound.pop(event.stream_id, None)
                if isinstance(event, h2.events.StreamReset):
                    self.outbound.pop(event.stream_id, None)
                    self.ending.discard(event.stream_id)
        self.pump()

    def _answer(self, sid: int, buf: bytearray) -> None:
        """Queue the payload of every whole outer message in ``buf`` (prelude: total length,
        headers length, CRC; then headers, payload, CRC)."""
        while len(buf) >= 12:
            total = int.from_bytes(buf[0:4], "big")
            if len(buf) < total:
                return
            start = 12 + int.from_bytes(buf[4:8], "big")
            payload = buf[start : total - 4]
            del buf[:total]
            if payload:
                self.outbound.setdefault(sid, bytearray()).extend(payload)
            else:
                self.ending.add(sid)

    def pump(self) -> None:
        conn = self.h2
        for sid in list(self.outbound):
            buf = self.outbound[sid]
            try:
                while buf:
                    room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                    if room <= 0:
                        break
                    conn.send_data(sid, bytes(buf[:room]))
                    del buf[:room]
                if not buf:
                    del self.outbound[sid]
            except h2.exceptions.StreamClosedError:
                del self.outbound[sid]
        for sid in list(self.ending):
            if sid not in self.outbound:
                self.ending.discard(sid)
                try:
                    conn.end_stream(sid)
                except h2.exceptions.StreamClosedError:
                    pass
        self.out += conn.data_to_send()

    def flush(self) -> bool:
        """Write what fits; False if the peer is gone."""
        while self.out:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                return True
            except OSError:
                return False
            del self.out[:sent]
        return True


def serve(listener: socket.socket, stop: threading.Event) -> None:
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    writing: set[_Connection] = set()

    def drop(conn: _Connection) -> None:
        sel.unregister(conn.sock)
        writing.discard(conn)
        conn.sock.close()

    while not stop.is_set():
        for key, _mask in sel.select(timeout=0.2):
            conn: Optional[_Connection] = key.data
            if conn is None:
                try:
                    sock, _ = listener.accept()
                except BlockingIOError:
                    continue
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn = _Connection(sock)
                conn.out += conn.h2.data_to_send()
                sel.register(sock, selectors.EVENT_READ, conn)
            else:
                try:
                    data = conn.sock.recv(1 << 18)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    drop(conn)
                    continue
                if data:
                    try:
                        conn.receive(data)
                    except h2.exceptions.ProtocolError:
                        conn.out += conn.h2.data_to_send()
                        conn.flush()
                        drop(conn)
                        continue
            if not conn.flush():
                drop(conn)
                continue
            want = bool(conn.out)
            if want != (conn in writing):
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if want else 0)
                sel.modify(conn.sock, events, conn)
                (writing.add if want else writing.discard)(conn)
    sel.close()


def main() -> None:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(listener, stop), daemon=True)
    thread.start()
    sys.stdout.write(f"{listener.getsockname()[1]}\n")
    sys.stdout.flush()
    sys.stdin.read()
    stop.set()
    thread.join(2)


if __name__ == "__main__":
    main()
