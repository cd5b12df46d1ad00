"""A server that floods frames needing answers (PING) and reads none of them: both HTTP/2
drivers give the connection up with a clear error once their answers pile past a bound, instead
of buffering them for ever."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("h2")

import hpack

from smruntime.exceptions import ConnectionClosedError
from smruntime.http import _h2_async, _h2_sync


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    head = len(payload).to_bytes(3, "big") + bytes((kind, flags)) + stream.to_bytes(4, "big")
    return head + payload


HEADERS_200 = frame(
    0x1, 0x4, 1, hpack.Encoder().encode([(":status", "200"), ("content-type", "a/b")])
)
PINGS = frame(0x6, 0, 0, b"12345678") * 4096


@pytest.fixture
def flooding() -> Iterator[str]:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # reads nothing, holds little
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            try:
                conn.sendall(frame(0x4, 0, 0))  # SETTINGS, then the answer's head
                time.sleep(0.1)
                conn.sendall(HEADERS_200)
                while not stop.is_set():
                    conn.sendall(PINGS)  # never reading the PING ACKs
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/x"
    stop.set()
    listener.close()
    thread.join(10)


def test_blocking(flooding: str) -> None:
    stream = _h2_sync.open_stream(flooding, "POST", [])
    try:
        deadline = time.monotonic() + 90  # (a bound for a slow or loaded machine)
        with pytest.raises(ConnectionClosedError, match="ENHANCE_YOUR_CALM"):
            while time.monotonic() < deadline:
                event = stream.next_event(1.0)
                error = getattr(event, "error", None)
                if error is not None:
                    raise error
    finally:
        stream.close()


def test_async(flooding: str) -> None:
    async def main() -> None:
        stream = await _h2_async.open_async_stream(flooding, "POST", [])
        try:
            deadline = time.monotonic() + 90  # (a bound for a slow or loaded machine)
            with pytest.raises(ConnectionClosedError, match="ENHANCE_YOUR_CALM"):
                while time.monotonic() < deadline:
                    event = await stream.next_event(1.0)
                    error = getattr(event, "error", None)
                    if error is not None:
                        raise error
        finally:
            await stream.close()

    asyncio.run(main())
