"""Atheris fuzz target for the record layer (lines, JSON lines, SSE, JSON documents, auto).

Properties checked on every input:
- only ``RecordError`` subclasses escape ``feed``/``close`` of every decoder;
- the chunking does not change the records or the error (one-shot vs. the fuzzer's chunking);
- ``extract_text`` and ``find_error`` never raise on any record.

Run: ``python fuzz/fuzz_records.py fuzz/corpus/fuzz_records -max_total_time=60`` or use
``fuzz/run_all.py``.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import atheris

with atheris.instrument_imports():
    from smruntime import records
    from smruntime.exceptions import RecordError

FACTORIES: list[Callable[[], Any]] = [
    lambda: records.LineDecoder(max_record_bytes=4096),
    lambda: records.JsonLinesDecoder(max_record_bytes=4096),
    lambda: records.SSEDecoder(max_record_bytes=4096),
    lambda: records.JsonDocumentDecoder(max_record_bytes=4096),
    lambda: records.JsonAutoDecoder(max_record_bytes=4096),
    # Text comes out in pieces that follow the chunking: compared joined (see _run).
    lambda: records.TextDecoder(),
]


def _run(factory: Callable[[], Any], chunks: list[bytes]) -> tuple[list[Any], str | None]:
    decoder = factory()
    out: list[Any] = []
    try:
        for chunk in chunks:
            out += decoder.feed(chunk)
        out += decoder.close()
    except RecordError as exc:
        return _joined(decoder, out), type(exc).__name__
    return _joined(decoder, out), None


def _joined(decoder: Any, out: list[Any]) -> list[Any]:
    return ["".join(out)] if isinstance(decoder, records.TextDecoder) else out


def _key(record: Any) -> Any:
    if isinstance(record, records.SSEEvent):
        return ("sse", record.data, record.event, record.id, record.retry)
    return repr(record)


def TestOneInput(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    factory = FACTORIES[fdp.ConsumeIntInRange(0, len(FACTORIES) - 1)]
    sizes = [fdp.ConsumeIntInRange(1, 64) for _ in range(fdp.ConsumeIntInRange(1, 6))]
    stream = fdp.ConsumeBytes(fdp.remaining_bytes())
    chunks, pos, i = [], 0, 0
    while pos < len(stream):
        size = sizes[i % len(sizes)]
        chunks.append(stream[pos : pos + size])
        pos += size
        i += 1
    got, error = _run(factory, chunks)
    whole, whole_error = _run(factory, [stream])
    if [_key(r) for r in got] != [_key(r) for r in whole] or error != whole_error:
        raise AssertionError(f"chunking changed the result: {error} vs {whole_error}")
    for record in got:
        records.extract_text(record)
        records.find_error(record)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
