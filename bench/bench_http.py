"""Benchmark the HTTP/1.1 response reader (smruntime.http) against h11 and a bare floor.

Usage: python bench/bench_http.py [--quick] [--repeat N]

Cases (best of N runs each, runs interleaved so a loaded machine hurts all alike):
- chunked: a response of 20,000 small chunks (one token-sized event-stream frame each, as a
  model streams) fed in 4 KiB reads: microseconds per chunk. The floor is a bare loop that
  splits the same chunked framing with ``find``/``int``/slices and no checks at all;
- length: the same body bytes with Content-Length, 4 KiB reads: microseconds per read;
- head: a SageMaker-like response head (9 fields) parsed alone: microseconds per response;
- linear time: 28 and 56 KiB heads fed in one read and one byte at a time: nanoseconds per
  byte (ratios against the 28 KiB drip: the 56 KiB drip stays near 1.0x).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smruntime.http import NEED_DATA, ClientConnection, Data, EndOfMessage, Limits

try:
    import h11
except ImportError:  # pragma: no cover - h11 is a test-only dependency
    h11 = None

HEAD_FIELDS = (
    b"Date: Tue, 01 Dec 2026 21:00:00 GMT\r\n"
    b"Content-Type: application/vnd.amazon.eventstream\r\n"
    b"x-amzn-RequestId: 2a7f5d4c-1b7e-4b1e-9d5c-0123456789ab\r\n"
    b"X-Amzn-Invoked-Production-Variant: AllTraffic\r\n"
    b"x-amzn-SageMaker-Content-Type: application/jsonlines\r\n"
    b"Connection: keep-alive\r\n"
    b"Server: bench\r\n"
    b"X-Custom: 1\r\n"
)


def frames(n: int) -> list[bytes]:
    """Token-sized stand-ins for event-stream frames (about 110 bytes each)."""
    return [
        (b"\x00\x00\x00\x6e" + f'{{"token":{{"id":{i},"text":" w{i % 97}"}}}}'.encode()).ljust(
            110, b"."
        )
        for i in range(n)
    ]


def reads(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def ours(chunks: list[bytes], limits: Limits | None = None) -> int:
    conn = ClientConnection(limits)
    conn.send_request("POST", "/invocations-response-stream", [("Host", "h")], b"{}")
    total = 0
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            ev = conn.next_event()
            if ev is NEED_DATA:
                break
            if type(ev) is Data:
                total += len(ev.data)
            elif type(ev) is EndOfMessage:
                return total
    raise AssertionError("no EndOfMessage")


def with_h11(chunks: list[bytes]) -> int:
    assert h11 is not None
    conn = h11.Connection(h11.CLIENT)
    conn.send(
        h11.Request(method="POST", target="/", headers=[("Host", "h"), ("Content-Length", "2")])
    )
    conn.send(h11.Data(data=b"{}"))
    conn.send(h11.EndOfMessage())
    total = 0
    for chunk in chunks:
        conn.receive_data(chunk)
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                break
            if type(ev) is h11.Data:
                total += len(ev.data)
            elif type(ev) is h11.EndOfMessage:
                return total
    raise AssertionError("no EndOfMessage")


def floor(chunks: list[bytes]) -> int:
    """Chunked framing split by hand, no checks: what no parser in Python can beat by much."""
    it = iter(chunks)
    buf = next(it)
    pos = buf.index(b"\r\n\r\n") + 4
    left = skip = total = 0
    while True:
        end = len(buf)
        parts = []
        while True:
            if left:
                if end - pos < left:
                    parts.append(buf[pos:end])
                    left -= end - pos
                    pos = end
                    break
                parts.append(buf[pos : pos + left])
                pos += left
                left = 0
                skip = 2
            if skip:
                if end - pos < skip:
                    skip -= end - pos
                    pos = end
                    break
                pos += skip
                skip = 0
            i = buf.find(b"\r\n", pos)
            if i < 0:
                break
            left = int(buf[pos:i], 16)
            pos = i + 2
            if not left:
                return total + len(b"".join(parts))
        total += len(b"".join(parts))
        rest = buf[pos:]
        buf = rest + next(it) if rest else next(it)
        pos = 0


def chunked_response(n: int) -> tuple[bytes, int]:
    parts = [b"HTTP/1.1 200 OK\r\n", HEAD_FIELDS, b"Transfer-Encoding: chunked\r\n\r\n"]
    body = 0
    for frame in frames(n):
        parts += (b"%x\r\n" % len(frame), frame, b"\r\n")
        body += len(frame)
    parts.append(b"0\r\n\r\n")
    return b"".join(parts), body


def timed(fns: list[Callable[[], object]], repeat: int) -> list[tuple[float, object]]:
    best = [float("inf")] * len(fns)
    results: list[object] = [None] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            results[k] = fn()
            best[k] = min(best[k], time.perf_counter() - start)
    return list(zip(best, results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="HTTP/1.1 response reader benchmark")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer runs")
    parser.add_argument("--repeat", type=int, default=None, help="runs per case (best is kept)")
    args = parser.parse_args(argv)
    repeat = args.repeat or (2 if args.quick else 7)
    n = 2_000 if args.quick else 20_000

    raw, body = chunked_response(n)
    chunks = reads(raw, 4096)
    names = ["ours", "floor (bare split loop)"]
    fns: list[Callable[[], object]] = [lambda: ours(chunks), lambda: floor(chunks)]
    if h11 is not None:
        names.append("h11")
        fns.append(lambda: with_h11(chunks))
    rows = []
    results = timed(fns, repeat)
    t_floor = results[1][0]
    for name, (t, total) in zip(names, results):
        assert total == body, (name, total, body)
        rows.append(
            (f"{n} chunks, 4 KiB reads: {name}", f"{t / n * 1e6:.3f} us/chunk", t / t_floor)
        )

    flat = b"".join(frames(n))
    length_raw = b"HTTP/1.1 200 OK\r\n" + HEAD_FIELDS + b"Content-Length: %d\r\n\r\n" % len(flat)
    lchunks = reads(length_raw + flat, 4096)
    fns = [lambda: ours(lchunks), lambda: sum(len(c) for c in lchunks)]
    lnames = ["ours", "floor (len of each read)"]
    if h11 is not None:
        fns.append(lambda: with_h11(lchunks))
        lnames.append("h11")
    results = timed(fns, repeat)
    t_floor = results[1][0]
    for name, (t, _total) in zip(lnames, results):
        rows.append(
            (
                f"Content-Length, {len(lchunks)} reads: {name}",
                f"{t / len(lchunks) * 1e6:.3f} us/read",
                t / t_floor,
            )
        )

    head = [b"HTTP/1.1 200 OK\r\n" + HEAD_FIELDS + b"Content-Length: 0\r\n\r\n"]
    m = 2_000 if args.quick else 20_000
    fns = [lambda: [ours(head) for _ in range(m)]]
    hnames = ["ours"]
    if h11 is not None:
        fns.append(lambda: [with_h11(head) for _ in range(m)])
        hnames.append("h11")
    results = timed(fns, repeat)
    t_ref = results[0][0]
    for name, (t, _) in zip(hnames, results):
        rows.append(
            (f"response head + request: {name}", f"{t / m * 1e6:.2f} us/response", t / t_ref)
        )

    # Linear time: a head fed one byte at a time costs the same per byte at 28 and 56 KiB (the
    # search for a line end never rescans; the unread tail grows in place).
    def head_of(fields: int) -> bytes:
        lines = b"".join(b"X-Field-%04d: %s\r\n" % (i, b"v" * 100) for i in range(fields))
        return b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: 0\r\n\r\n"

    limits_big = Limits(max_headers=1000)
    k = 1 if args.quick else 5
    heads = [head_of(250), head_of(500)]
    fns = []
    for big in heads:
        fns.append(lambda big=big: [ours([big], limits_big) for _ in range(k)])
        drip = [big[i : i + 1] for i in range(len(big))]
        fns.append(lambda drip=drip: [ours(drip, limits_big) for _ in range(k)])
    results = timed(fns, max(1, repeat // 2))
    labels = []
    for big in heads:
        labels += [(big, "one read"), (big, "1-byte reads")]
    t_ref = results[1][0] / len(heads[0])
    for (big, name), (t, _) in zip(labels, results):
        per_byte = t / len(big)
        rows.append(
            (
                f"{len(big) >> 10} KiB head, {name}",
                f"{per_byte / k * 1e9:.1f} ns/byte",
                per_byte / t_ref,
            )
        )

    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'time':>18}  ratio (to the case's first floor/ours row)")
    for label, figure, ratio in rows:
        print(f"{label:<{width}}  {figure:>18}  {ratio:.2f}x")
    if h11 is None:
        print("\nh11 is not installed: comparisons skipped (pip install h11)")
    print("(figures from one run; on a loaded machine they are noisy, the ratios less so)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
