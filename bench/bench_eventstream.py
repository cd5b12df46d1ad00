"""Benchmark the eventstream decoder against botocore's EventStreamBuffer.

Usage: python bench/bench_eventstream.py [--quick] [--repeat N]

Cases (best of N runs each):
- small: SageMaker-like PayloadPart frames (the three usual headers, token-sized payload) fed
  in 4 KiB chunks: messages/s (target >= 5x botocore);
- large: 64 KiB frames fed in 4 KiB chunks: MB/s (target >= 1.5x botocore), with zlib.crc32
  over the same bytes as the floor no decoder can beat;
- the small frames fed one byte at a time (fragmentation worst case): messages/s;
- one 24 MiB message fed in 1 KiB pieces: seconds (ours only: botocore's buffer copies itself on
  every piece, which is quadratic and takes minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _rows import readme_row

from eventstream import Decoder, Message, encode

try:
    from botocore.eventstream import EventStreamBuffer
except ImportError:  # pragma: no cover - botocore is optional
    EventStreamBuffer = None

HEADERS = {
    ":event-type": "PayloadPart",
    ":content-type": "application/octet-stream",
    ":message-type": "event",
}


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def ours(chunks: Iterable[bytes]) -> int:
    decoder = Decoder()
    count = 0
    for chunk in chunks:
        count += len(decoder.feed(chunk))
    decoder.close()
    return count


def botocore(chunks: Iterable[bytes]) -> int:
    assert EventStreamBuffer is not None
    buffer = EventStreamBuffer()
    count = 0
    for chunk in chunks:
        buffer.add_data(chunk)
        for _ in buffer:
            count += 1
    return count


def best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times = []
    result: object = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def duel(
    a: Callable[[], object], b: Callable[[], object], repeat: int
) -> tuple[float, object, float, object]:
    """Best time of each, runs interleaved so a noisy machine hurts both alike."""
    ta, tb = [], []
    ra: object = None
    rb: object = None
    for _ in range(repeat):
        start = time.perf_counter()
        ra = a()
        ta.append(time.perf_counter() - start)
        start = time.perf_counter()
        rb = b()
        tb.append(time.perf_counter() - start)
    return min(ta), ra, min(tb), rb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="eventstream decoder benchmark")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, one run each")
    parser.add_argument("--repeat", type=int, default=None, help="runs per case (best is kept)")
    args = parser.parse_args(argv)
    repeat = args.repeat or (2 if args.quick else 9)
    n_small = 2_000 if args.quick else 20_000
    n_large = 20 if args.quick else 200
    huge_size = (4 if args.quick else 24) * 1024 * 1024

    payloads = [f'{{"token":{{"id":{i},"text":" w{i % 97}"}}}}'.encode() for i in range(n_small)]
    small_frames = [encode(Message(HEADERS, p)) for p in payloads]
    small = b"".join(small_frames)
    small_chunks = chunked(small, 4096)
    large_payload = os.urandom(64 * 1024 - 105)
    large = encode(Message(HEADERS, large_payload)) * n_large
    large_chunks = chunked(large, 4096)
    huge = encode(Message(HEADERS, os.urandom(huge_size - 200)))
    huge_pieces = chunked(huge, 1024)

    rows: list[tuple[str, str, str, str, str]] = []
    label = f"{n_small} x {len(small) // n_small} B frames, 4 KiB chunks"
    if EventStreamBuffer is not None:
        t_ours, count, t_boto, count2 = duel(
            lambda: ours(small_chunks), lambda: botocore(small_chunks), repeat
        )
        assert count == count2 == n_small
        small_ours = n_small / t_ours
        small_boto = n_small / t_boto
        readme_row(
            f"decode {n_small:,} {len(small) // n_small}-byte frames in 4 KiB chunks",
            f"{small_ours / 1e3:,.0f}k msg/s",
            f"{small_boto / 1e3:,.0f}k msg/s",
            f"{small_ours / small_boto:.1f}x",
        )
        rows.append(
            (
                label,
                f"{small_ours:,.0f} msg/s",
                f"{small_boto:,.0f} msg/s",
                f"{small_ours / small_boto:.1f}x",
                ">= 5x",
            )
        )
    else:
        t_ours, count = best(lambda: ours(small_chunks), repeat)
        assert count == n_small
        small_ours = n_small / t_ours
        rows.append((label, f"{small_ours:,.0f} msg/s", "n/a", "n/a", ">= 5x"))

    n_tiny = n_small // 10
    tiny_chunks = chunked(b"".join(small_frames[:n_tiny]), 1)
    label = f"{n_tiny} x {len(small) // n_small} B frames, 1-byte chunks"
    if EventStreamBuffer is not None:
        t_ours, count, t_boto, count2 = duel(
            lambda: ours(tiny_chunks), lambda: botocore(tiny_chunks), repeat
        )
        assert count == count2 == n_tiny
        rows.append(
            (
                label,
                f"{n_tiny / t_ours:,.0f} msg/s",
                f"{n_tiny / t_boto:,.0f} msg/s",
                f"{t_boto / t_ours:.1f}x",
                "",
            )
        )

    mb = len(large) / 1e6
    label = f"{n_large} x 64 KiB frames, 4 KiB chunks"
    if EventStreamBuffer is not None:
        t_ours, count, t_boto, count2 = duel(
            lambda: ours(large_chunks), lambda: botocore(large_chunks), repeat
        )
        assert count == count2 == n_large
        readme_row(
            "decode 64 KiB frames",
            f"{mb / t_ours / 1e3:.1f} GB/s",
            f"{mb / t_boto / 1e3:.1f} GB/s",
            f"{t_boto / t_ours:.1f}x",
        )
        rows.append(
            (
                label,
                f"{mb / t_ours:,.0f} MB/s",
                f"{mb / t_boto:,.0f} MB/s",
                f"{t_boto / t_ours:.1f}x",
                ">= 1.5x",
            )
        )
    else:
        t_ours, count = best(lambda: ours(large_chunks), repeat)
        assert count == n_large
        rows.append((label, f"{mb / t_ours:,.0f} MB/s", "n/a", "n/a", ">= 1.5x"))
    t_crc, _ = best(lambda: zlib.crc32(large), repeat)
    readme_row(
        "  floor: zlib.crc32 over the same bytes",
        f"{mb / t_crc / 1e3:.1f} GB/s",
        "",
        f"decoder at {t_crc / t_ours:.2f}x of it",
    )
    rows.append(("zlib.crc32 on the same bytes (floor)", f"{mb / t_crc:,.0f} MB/s", "", "", ""))

    t_ours, count = best(lambda: ours(huge_pieces), max(1, repeat // 2))
    assert count == 1
    rows.append(
        (
            f"one {huge_size >> 20} MiB message, 1 KiB pieces",
            f"{t_ours:.3f} s",
            "skipped (quadratic)",
            "",
            "O(n)",
        )
    )

    header = ("case", "ours", "botocore", "ratio", "target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))
    if EventStreamBuffer is None:
        print("\nbotocore is not installed: comparisons skipped (pip install botocore)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
