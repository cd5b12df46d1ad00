"""Atheris fuzz target for the HTTP/1.1 response reader (``smruntime.http``).

Input layout (so that seeds are plain responses behind a few option bytes): byte 0 holds flags
(bit 0: the request was HEAD; bit 1: small limits; bit 2: no EOF at the end), byte 1 the number
of read sizes ``n`` (1 to 8), then ``n`` bytes of read sizes (1 to 256), then the response.

Properties checked on every input:
- only ``RemoteProtocolError`` escapes ``receive_data``/``next_event``, and its offset lies
  within the bytes received;
- the chunking does not change the result: the response, the body, the trailers, the error
  message and offset, and ``reusable`` match a one-shot run;
- the body never holds more bytes than were received, and a Content-Length body is exactly
  that long.

Run: ``python fuzz/fuzz_http.py fuzz/corpus/fuzz_http -max_total_time=60`` or use
``fuzz/run_all.py``.
"""

from __future__ import annotations

import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    from smruntime.exceptions import RemoteProtocolError
    from smruntime.http import NEED_DATA, ClientConnection, Data, EndOfMessage, Limits, Response

SMALL = Limits(
    max_line_bytes=64, max_headers=4, max_header_bytes=160, max_chunk_line_bytes=16,
    max_chunk_size=4096,
)  # fmt: skip


def _run(chunks: list[bytes], head: bool, limits: Limits | None, eof: bool) -> tuple[Any, ...]:
    conn = ClientConnection(limits)
    conn.send_request("HEAD" if head else "GET", "/", [("Host", "fuzz")])
    summary: list[Any] = []
    body = []
    received = 0
    end: EndOfMessage | None = None
    try:
        for chunk in chunks:
            conn.receive_data(chunk)
            received += len(chunk)
            while end is None:
                ev = conn.next_event()
                if ev is NEED_DATA:
                    break
                if isinstance(ev, Response):
                    summary.append((ev.status, ev.reason, ev.headers, ev.http_version))
                elif isinstance(ev, Data):
                    assert ev.data, "empty Data event"
                    body.append(ev.data)
                else:
                    assert isinstance(ev, EndOfMessage)
                    end = ev
            # after the end, later bytes only count as extra (compared below)
        if eof and end is None:
            conn.receive_data(b"")
            while end is None:
                ev = conn.next_event()
                assert ev is not NEED_DATA, "NEED_DATA after the EOF"
                if isinstance(ev, Response):
                    summary.append((ev.status, ev.reason, ev.headers, ev.http_version))
                elif isinstance(ev, Data):
                    body.append(ev.data)
                else:
                    assert isinstance(ev, EndOfMessage)
                    end = ev
        if end is not None:
            data = b"".join(body)
            assert len(data) <= received
            return ("end", summary, data, end.trailers, conn.reusable, conn.extra_bytes)
    except RemoteProtocolError as exc:
        if exc.offset is None or not 0 <= exc.offset <= received:
            raise AssertionError(f"offset {exc.offset} outside the {received} bytes") from exc
        return ("error", str(exc), exc.offset)
    return ("open", summary, b"".join(body))


def TestOneInput(data: bytes) -> None:
    if len(data) < 2:
        return
    flags = data[0]
    n = data[1] % 8 + 1
    sizes = [b + 1 for b in data[2 : 2 + n]] or [1]
    stream = data[2 + n :]
    head, limits, eof = bool(flags & 1), SMALL if flags & 2 else None, not flags & 4

    chunks, pos, i = [], 0, 0
    while pos < len(stream):
        size = sizes[i % len(sizes)]
        chunks.append(stream[pos : pos + size])
        pos += size
        i += 1
    got = _run(chunks, head, limits, eof)
    whole = _run([stream] if stream else [], head, limits, eof)
    if got != whole:
        raise AssertionError(f"chunking changed the result:\n{got!r}\n{whole!r}")
    if got[0] == "end" and not head:
        for name, value in got[1][-1][2]:
            if name.lower() == "content-length" and got[1][-1][0] not in (204, 304):
                assert len(got[2]) == int(value.split(",")[0]), "body length != Content-Length"


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
