"""Atheris fuzz target for the event-stream decoder.

Properties checked on every input:
- only ``EventStreamError`` escapes ``Decoder.feed``/``close`` (and ``describe`` never raises);
- the chunking does not change the result (one-shot decode vs. the fuzzer's chunking);
- every decoded message re-encodes to exactly the bytes it came from.

Run: ``python fuzz/fuzz_decoder.py fuzz/corpus/fuzz_decoder -max_total_time=60`` or use
``fuzz/run_all.py``.
"""

from __future__ import annotations

import struct
import sys
import zlib

import atheris

with atheris.instrument_imports():
    from eventstream import Decoder, EventStreamError, Message, describe, encode


def _with_valid_crcs(block: bytes, payload: bytes) -> bytes:
    # Reach the header parser: garbage headers behind correct checksums.
    prelude = struct.pack(">II", 16 + len(block) + len(payload), len(block))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + block + payload
    return body + struct.pack(">I", zlib.crc32(body))


def _run(chunks: list[bytes]) -> tuple[list[Message], int, type[EventStreamError] | None]:
    decoder = Decoder()
    out: list[Message] = []
    try:
        for chunk in chunks:
            out += decoder.feed(chunk)
        decoder.close()
    except EventStreamError as exc:
        return out, decoder.bytes_consumed, type(exc)
    return out, decoder.bytes_consumed, None


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    wrap = fdp.ConsumeBool()
    sizes = [fdp.ConsumeIntInRange(1, 4096) for _ in range(fdp.ConsumeIntInRange(1, 8))]
    stream = fdp.ConsumeBytes(fdp.remaining_bytes())
    if wrap:
        split = len(stream) // 2
        stream = _with_valid_crcs(stream[:split], stream[split:])

    chunks = []
    pos = 0
    i = 0
    while pos < len(stream):
        size = sizes[i % len(sizes)]
        chunks.append(stream[pos : pos + size])
        pos += size
        i += 1

    messages, consumed, error = _run(chunks)
    whole, whole_consumed, whole_error = _run([stream])
    if messages != whole or consumed != whole_consumed or error is not whole_error:
        raise AssertionError(
            f"chunking changed the result: {len(messages)} msgs/{consumed}/{error} vs "
            f"{len(whole)} msgs/{whole_consumed}/{whole_error}"
        )
    if b"".join(encode(m) for m in messages) != stream[:consumed]:
        raise AssertionError("decoded messages do not re-encode to their bytes")
    if error is None and consumed != len(stream):
        raise AssertionError("clean close but not all bytes consumed")

    infos = describe(stream)
    for info in infos:
        info.format()
        info.to_dict()


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
