"""Atheris fuzz target for the HTTP/2 client stream (``smruntime.http._h2``).

After a valid server preface, the input is fed to ``H2ClientStream.receive`` in fuzzer-chosen
chunks. Properties:
- nothing escapes ``receive`` (every h2 error is mapped into smruntime's tree as a ``Failed``
  event);
- at most one ``Failed`` event, always the last, and an EOF after it yields nothing more;
- an EOF before the response ended yields exactly one ``Failed`` (never a quiet end);
- received ``Data`` never exceeds the receive window while nothing is acknowledged.

Run: ``python fuzz/fuzz_h2_client.py fuzz/corpus/fuzz_h2_client -max_total_time=60`` or use
``fuzz/run_all.py``. Needs the http2 extra (h2).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    import h2.config
    import h2.connection

    from smruntime.http import _h2

WINDOW = 65535


def _server_preface() -> bytes:
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    return server.data_to_send()


PREFACE = _server_preface()


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    chunk = fdp.ConsumeIntInRange(1, 512)
    body = fdp.ConsumeBytes(fdp.remaining_bytes())
    client = _h2.H2ClientStream(receive_window=WINDOW)
    client.start("POST", "http", "x", "/", [])
    client.data_to_send()
    stream = PREFACE + body
    events: list[_h2.H2Event] = []
    for i in range(0, len(stream), chunk):
        events.extend(client.receive(stream[i : i + chunk]))
    received = sum(len(e.data) for e in events if isinstance(e, _h2.Data))
    assert received <= WINDOW, received
    end = client.receive(b"")
    failed = [e for e in events if isinstance(e, _h2.Failed)]
    assert len(failed) <= 1
    if failed:
        assert events[-1] is failed[0]
        assert end == []
    elif not (client.ended and client.input_closed):
        assert len(end) == 1, end
        assert isinstance(end[0], _h2.Failed)
    client.data_to_send()


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
