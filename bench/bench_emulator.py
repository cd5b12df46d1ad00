"""Emulator benchmarks: latency of a warm InvokeEndpoint and streaming throughput, with floors.

    python bench/bench_emulator.py [--calls N] [--events N]

The emulator runs in a child process (SigV4 verified, as always); so does the floor, a bare
socket server that answers every request with the same bytes in one ``sendall`` (no parsing
beyond finding the end of the request, no signature check). The client runs here.

1. Warm 1 KiB InvokeEndpoint on one kept-alive connection with :class:`smruntime.Client`: median
   and p99 per call (target: median <= 1 ms), against the same client and the floor server.
2. One InvokeEndpointWithResponseStream of N events (default 20,000; 60-byte payloads) read by a
   raw socket reader (so the client's decoding does not count): events per second from sending
   the request to the last chunk (target >= 200,000/s), against the floor streaming the same
   bytes.

Figures vary with the machine and its load; compare the ratios printed in one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import socket
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY, SECRET, REGION = "AKIDBENCH", "bench-secret-key", "us-east-1"
PAYLOAD = b'data:{"token":{"text":" tok","id":1},"generated_text":null}\n\n'[:60]
BODY = b"x" * 1024


def _parts(events: int) -> Any:
    def handler(request: Any) -> Iterator[bytes]:
        for _ in range(events):
            yield PAYLOAD

    return handler


def _emulator(port_queue: Any, events: int) -> None:
    from sigv4 import Credentials
    from smruntime.emulator import Echo, Emulator

    emu = Emulator(
        {"echo": Echo(), "stream": _parts(events)},
        credentials=Credentials(KEY, SECRET),
        region=REGION,
    )
    emu.start()
    port_queue.put(emu.port)
    time.sleep(3600)


def _floor(port_queue: Any, events: int) -> None:
    from smruntime.emulator._protocol import payload_frame

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port_queue.put(listener.getsockname()[1])
    frame = payload_frame(PAYLOAD)
    chunk = b"%X\r\n%s\r\n" % (len(frame), frame)
    stream = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + chunk * events + b"0\r\n\r\n"
    )
    plain = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        b"x-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\n"
        b"x-Amzn-Invoked-Production-Variant: AllTraffic\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
    )
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    got = conn.recv(65536)
                    if not got:
                        raise ConnectionError
                    buffer += got
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    got = conn.recv(65536)
                    if not got:
                        raise ConnectionError
                    buffer += got
                buffer = buffer[length:]
                conn.sendall(stream if b"response-stream" in head else plain)
        except (ConnectionError, OSError):
            conn.close()


def _start(target: Any, events: int) -> tuple[Any, int]:
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(queue, events), daemon=True)
    proc.start()
    return proc, int(queue.get(timeout=30))


def _latency(port: int, calls: int) -> tuple[float, float]:
    from smruntime import Client, Config

    client = Client(
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(proxies={}),
        environ={},
    )
    try:
        for _ in range(50):  # warm: connection, caches
            client.invoke_endpoint(EndpointName="echo", Body=BODY)
        times = []
        for _ in range(calls):
            began = time.perf_counter()
            answer = client.invoke_endpoint(EndpointName="echo", Body=BODY)
            answer["Body"].read()
            times.append(time.perf_counter() - began)
    finally:
        client.close()
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def _stream_rate(port: int, events: int) -> float:
    from sigv4 import Credentials, sign

    path = "/endpoints/stream/invocations-response-stream"
    signed = sign(
        "POST",
        f"http://127.0.0.1:{port}{path}",
        {"Content-Type": "application/json"},
        b"{}",
        credentials=Credentials(KEY, SECRET),
        region=REGION,
        service="sagemaker",
        now=dt.datetime.now(dt.timezone.utc),
    )
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Length: 2"]
    lines += [f"{name}: {value}" for name, value in signed.headers]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + b"{}"
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        began = time.perf_counter()
        sock.sendall(request)
        tail = b""
        total = 0
        while not tail.endswith(b"\r\n0\r\n\r\n"):
            got = sock.recv(1 << 20)
            if not got:
                raise RuntimeError("the server closed the stream early")
            total += len(got)
            tail = (tail + got)[-16:]
        elapsed = time.perf_counter() - began
    if total < events * len(PAYLOAD):
        raise RuntimeError(f"only {total} bytes for {events} events")
    return events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    emu_proc, emu_port = _start(_emulator, args.events)
    floor_proc, floor_port = _start(_floor, args.events)
    try:
        emu_med, emu_p99 = _latency(emu_port, args.calls)
        floor_med, floor_p99 = _latency(floor_port, args.calls)
        print(f"warm 1 KiB InvokeEndpoint, smruntime.Client, {args.calls} calls on one connection")
        print(f"  emulator : median {emu_med * 1e3:7.3f} ms   p99 {emu_p99 * 1e3:7.3f} ms")
        print(f"  floor    : median {floor_med * 1e3:7.3f} ms   p99 {floor_p99 * 1e3:7.3f} ms")
        print(
            f"  ratio emulator/floor (median): {emu_med / floor_med:.2f}   "
            f"target median <= 1 ms: {'met' if emu_med <= 1e-3 else 'NOT met'}"
        )
        rates = [_stream_rate(emu_port, args.events) for _ in range(3)]
        floor_rates = [_stream_rate(floor_port, args.events) for _ in range(3)]
        emu_rate, floor_rate = max(rates), max(floor_rates)
        print(f"stream of {args.events} PayloadPart events, raw socket reader (best of 3)")
        print(f"  emulator : {emu_rate:12,.0f} events/s")
        print(f"  floor    : {floor_rate:12,.0f} events/s")
        print(
            f"  ratio emulator/floor: {emu_rate / floor_rate:.2f}   "
            f"target >= 200,000/s: {'met' if emu_rate >= 200_000 else 'NOT met'}"
        )
    finally:
        emu_proc.terminate()
        floor_proc.terminate()


if __name__ == "__main__":
    main()
