"""AsyncClient under a gateway's load, against an asyncio floor, in one run.

    python bench/bench_async.py [--streams 200] [--events 200] [--interval 0.02]
                                [--big 1000] [--shape both|spread|lockstep] [--skip-peer]

A server in a child process answers every request with an event stream: ``--events`` events,
one every ``--interval`` seconds, each in its own HTTP chunk, each payload stamped with the
server's monotonic send time (CLOCK_MONOTONIC is system-wide, so the client can subtract it).

The shape of the load (``--shape``; both by default, each its own table):

- **spread** (the target rows): each stream's sends keep to its own phase, stream k (in the
  order the requests arrive) offset by k/N of the interval on a grid common to the run, so the
  N streams' events arrive evenly over every interval, as a gateway's streams do (they start
  at independent times). A stream's first event waits for its first slot after its request;
  a send the server makes after its slot is counted in the server's lag column, not hidden.
- **lockstep** (a burst, shown as extra): each stream's schedule starts when its request
  arrives. All streams start within a few milliseconds (``asyncio.gather``), so every
  interval their N events land at once and the last waits for the N - 1 before it: at 200
  streams even the floor's p99 (3-4 ms) is above the 2 ms target, which measures the burst
  more than the client. Issue #8's own floor figure for this load (p99 0.8 ms) was taken with
  streams not phase-locked: the spread shape is the one its targets describe. Every table
  before this change had the lockstep shape.

Every row of a table (bare, floor, smruntime, peer) runs against the same server in the same
shape. For each of ``--streams`` concurrent streams, then ``--big`` of them, it prints:

- CPU per event: this process's CPU time over the run / events delivered.
- p50 / p99 added latency: arrival in the consumer minus the server's send stamp; "p99 steady"
  leaves out each stream's first quarter (the burst of all the calls starting at once: the
  floors send a bare request, a client signs and validates each one).
- wall: the run's duration; the server's p99 lag behind its schedule and its CPU per event
  (when it lags by more than an interval, the row measured the server too).

Rows, every one starting all its streams at once (``asyncio.gather``, as the client's calls):
the **bare protocol** (an ``asyncio.Protocol`` per stream: raw request, hand-decoded chunked
framing, ``eventstream.Decoder`` fed once per ``data_received``, latency taken in the callback:
no client can use less CPU); the **floor** (the same, each message handed to a task that awaits
it: the least any ``async for`` consumer pays); **smruntime** (``AsyncClient``,
``async for event in body`` in one task per stream: signing, the HTTP/1.1 protocol, the stream
core and the task hand-off included); **aiobotocore** as the peer when it is installed.

Each row's modules are imported before the first round (the clients import theirs on first
use; the floors' code is this file's), and each table starts with one run of the bare protocol
that is not shown: the first row measured against a new server paid first-time costs (at 200
streams its CPU per event was up to twice that of the same row in later rounds), which made
the bare protocol look dearer and every ratio to it smaller (tables before this warm-up: the
200-stream "CPU x bare" of 0.8-0.94x was such a ratio). CPU is shown against both rows, wall
against the bare protocol; latency against the floor, since the latency is taken in a consumer
task and the bare protocol has none (at 1000 streams the hand-off alone multiplies the bare
protocol's p99 several times over).
Targets (issue #8), on the spread shape, against the floor (a consumer task per stream, the
floor the issue names): CPU per event <= 1.5x the floor's and p99 <= 2 ms at 200 streams; at
1000, every event delivered, wall <= 1.2x and p99 <= 2x the floor's. Each spread table ends
with a "target" line saying MET or MISSED for each.

Figures vary with the machine and its load; compare the ratios printed in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import struct
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _machine import speed  # noqa: E402
from _rows import readme_table  # noqa: E402

from eventstream import Decoder, Message, encode  # noqa: E402

HEADERS = [
    (":event-type", "PayloadPart"),
    (":content-type", "application/octet-stream"),
    (":message-type", "event"),
]
KEY, SECRET, REGION = "AKIDBENCH", "bench-secret-key", "us-east-1"
FILLER = b'data: {"token": {"text": " tok"}}\n\n'
STAMP = struct.Struct("<d")
SPREAD, LOCKSTEP = "spread", "lockstep"


def _server(port_queue: Any, events: int, interval: float, streams: int, shape: str) -> None:
    """The streaming server (child process): asyncio, no coroutine or future per event.

    ``shape`` is :data:`SPREAD` (the k-th request since the last ``/stats`` sends on the grid
    set by the first one, offset by ``k mod streams`` / ``streams`` of the interval, from its
    first slot after the request) or :data:`LOCKSTEP` (each stream's schedule starts when its
    request arrives). Each event is a plain ``loop.call_at`` callback that stamps the payload,
    finishes the frame's CRC from a precomputed prefix and writes it: about 3 us per event, so
    that 1000 streams (50,000 events/s) do not make the server the bottleneck. ``GET /stats``
    answers how late the sends ran behind their schedule since the last ``/stats`` (the check
    that the server kept up), as ``<count> <p99 lag s> <max lag s> <CPU s>``.
    """
    import math
    import zlib

    payload0 = STAMP.pack(0.0) + FILLER
    frame0 = encode(Message(HEADERS, payload0))
    prefix = frame0[: -(len(payload0) + 4)]  # prelude and headers: the same for every event
    prefix_crc = zlib.crc32(prefix)
    chunk_head = b"%x\r\n" % len(frame0) + prefix
    crc32, pack_crc = zlib.crc32, struct.Struct(">I").pack
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
        b"X-Amzn-SageMaker-Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    lags: list[float] = []
    cpu_at = [time.process_time()]
    grid: list[Any] = [0, None]  # requests since the last /stats, the first one's loop time
    monotonic = time.monotonic

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        transport = writer.transport
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                if request.startswith(b"GET /stats"):
                    ordered = sorted(lags)
                    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if lags else 0
                    cpu = time.process_time()
                    text = b"%d %.6f %.6f %.6f" % (
                        len(lags),
                        p99,
                        ordered[-1] if lags else 0,
                        cpu - cpu_at[0],
                    )
                    cpu_at[0] = cpu
                    lags.clear()
                    grid[:] = [0, None]
                    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + text)
                    break
                length = 0
                for line in request.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                writer.write(head)
                done = loop.create_future()
                start = loop.time()
                offset = start - monotonic()
                if shape == SPREAD:
                    k, origin = grid
                    if origin is None:
                        origin = grid[1] = start
                    grid[0] = k + 1
                    slot = origin + (k % streams) / streams * interval
                    if slot < start:
                        slot += math.ceil((start - slot) / interval) * interval
                    start = slot

                def send(i: int, due: float, done: Any = done, offset: float = offset) -> None:
                    if transport.is_closing():
                        if not done.done():
                            done.set_result(None)
                        return  # the client went away
                    now = monotonic()
                    lags.append(now - (due - offset))
                    payload = STAMP.pack(now) + FILLER
                    transport.write(
                        chunk_head + payload + pack_crc(crc32(payload, prefix_crc)) + b"\r\n"
                    )
                    if i + 1 < events:
                        loop.call_at(due + interval, send, i + 1, due + interval)
                    else:
                        transport.write(b"0\r\n\r\n")
                        done.set_result(None)

                if not events:
                    writer.write(b"0\r\n\r\n")
                    done.set_result(None)
                elif shape == SPREAD:
                    loop.call_at(start, send, 0, start)
                else:
                    send(0, start)
                await done
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=4096)
        port_queue.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def server_lag(port: int) -> tuple[int, float, float, float]:
    """The server's sends since the last call: count, p99 and max lateness (seconds), and
    the server's CPU time (seconds)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            more = sock.recv(4096)
            if not more:
                break
            data += more
    count, p99, worst, cpu = data.split(b"\r\n\r\n", 1)[1].split()
    return int(count), float(p99), float(worst), float(cpu)


def start_server(
    events: int, interval: float, streams: int = 1, shape: str = LOCKSTEP
) -> tuple[multiprocessing.Process, int]:
    queue: Any = multiprocessing.Queue()
    proc = multiprocessing.Process(
        target=_server, args=(queue, events, interval, streams, shape), daemon=True
    )
    proc.start()
    return proc, queue.get(timeout=30)


_OPENED: list[float] = [0]  # [streams expected, then (wall, CPU) when the last head arrived]


def _opened() -> None:
    """A stream's response head arrived (the clocks are read at the last one only)."""
    _OPENED[0] -= 1
    if not _OPENED[0]:
        _OPENED[1:] = [time.perf_counter(), time.process_time()]


# -- the floor -------------------------------------------------------------------------------


class _FloorProtocol(asyncio.Protocol):
    """Raw request, chunked framing by hand, one Decoder feed per data_received."""

    def __init__(self, latencies: list[list[float]], done: asyncio.Future[int]) -> None:
        self.latencies: list[float] = []
        latencies.append(self.latencies)
        self.done = done
        self.decoder = Decoder()
        self.buf = b""
        self.in_head = True
        self.left = 0  # bytes of the current chunk still to come (+2 for its CRLF)
        self.count = 0
        self.ended = False

    def connection_made(self, transport: Any) -> None:
        transport.write(
            b"POST /endpoints/e/invocations-response-stream HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 2\r\n\r\n{}"
        )
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos = 0
        if self.in_head:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            self.in_head = False
            _opened()
            pos = end + 4
        body = []
        n = len(buf)
        while pos < n:
            if self.left:
                take = min(self.left, n - pos)
                body.append(buf[pos : pos + take])
                self.left -= take
                pos += take
                continue
            if buf.startswith(b"\r\n", pos):
                pos += 2
                continue
            end = buf.find(b"\r\n", pos)
            if end < 0:
                break
            size = int(buf[pos:end], 16)
            pos = end + 2
            if size == 0:
                self.ended = True
                break
            self.left = size
        self.buf = buf[pos:]
        if body:
            self.deliver(self.decoder.feed(b"".join(body)))
        if self.ended:
            self.finished()

    def deliver(self, messages: list[Any]) -> None:
        now = time.monotonic()
        for message in messages:
            self.latencies.append(now - STAMP.unpack_from(message.payload)[0])
            self.count += 1

    def finished(self) -> None:
        self.transport.close()
        if not self.done.done():
            self.done.set_result(self.count)

    def connection_lost(self, exc: Any) -> None:
        if not self.done.done():
            self.done.set_result(self.count)


async def run_floor(port: int, streams: int) -> tuple[int, list[list[float]]]:
    loop = asyncio.get_running_loop()
    latencies: list[list[float]] = []

    async def one() -> int:  # all streams start at once, as the client's calls do
        done: asyncio.Future[int] = loop.create_future()
        await loop.create_connection(lambda: _FloorProtocol(latencies, done), "127.0.0.1", port)
        return await done

    counts = await asyncio.gather(*(one() for _ in range(streams)))
    return sum(counts), latencies


class _HandOffProtocol(_FloorProtocol):
    """The floor, but each message goes to a consumer task (what ``async for`` needs)."""

    def __init__(self, latencies: list[list[float]], done: asyncio.Future[int]) -> None:
        super().__init__(latencies, done)
        self.queue: list[Any] = []
        self.waiter: Any = None

    def deliver(self, messages: list[Any]) -> None:
        self.queue.extend(messages)
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def finished(self) -> None:
        self.transport.close()
        self.deliver([])

    def connection_lost(self, exc: Any) -> None:
        self.ended = True
        self.deliver([])

    async def consume(self) -> int:
        loop = asyncio.get_running_loop()
        count = 0
        while True:
            while self.queue:
                message = self.queue.pop(0)
                self.latencies.append(time.monotonic() - STAMP.unpack_from(message.payload)[0])
                count += 1
            if self.ended:
                return count
            self.waiter = loop.create_future()
            await self.waiter


async def run_hand_off(port: int, streams: int) -> tuple[int, list[list[float]]]:
    loop = asyncio.get_running_loop()
    latencies: list[list[float]] = []

    async def one() -> int:
        done: asyncio.Future[int] = loop.create_future()
        _, proto = await loop.create_connection(
            lambda: _HandOffProtocol(latencies, done), "127.0.0.1", port
        )
        return await proto.consume()

    counts = await asyncio.gather(*(one() for _ in range(streams)))
    return sum(counts), latencies


# -- smruntime -------------------------------------------------------------------------------


async def run_ours(port: int, streams: int) -> tuple[int, list[list[float]]]:
    from smruntime import Config
    from smruntime.aio import AsyncClient

    latencies: list[list[float]] = []
    client = AsyncClient(
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(proxies={}, max_pool_connections=streams, read_timeout=120),
        environ={},
    )
    unpack = STAMP.unpack_from
    monotonic = time.monotonic

    async def one() -> int:
        mine: list[float] = []
        latencies.append(mine)
        response = await client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}")
        _opened()
        count = 0
        async for event in response["Body"]:
            mine.append(monotonic() - unpack(event["PayloadPart"]["Bytes"])[0])
            count += 1
        return count

    async with client:
        counts = await asyncio.gather(*(one() for _ in range(streams)))
    return sum(counts), latencies


# -- aiobotocore (peer, optional) ------------------------------------------------------------


async def run_aiobotocore(port: int, streams: int) -> tuple[int, list[list[float]]]:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    latencies: list[list[float]] = []
    session = get_session()
    config = AioConfig(max_pool_connections=streams, read_timeout=120, retries={"max_attempts": 0})
    async with session.create_client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=config,
    ) as client:

        async def one() -> int:
            mine: list[float] = []
            latencies.append(mine)
            response = await client.invoke_endpoint_with_response_stream(
                EndpointName="e", Body=b"{}"
            )
            _opened()
            count = 0
            async for event in response["Body"]:
                payload = event["PayloadPart"]["Bytes"]
                mine.append(time.monotonic() - STAMP.unpack_from(payload)[0])
                count += 1
            return count

        counts = await asyncio.gather(*(one() for _ in range(streams)))
    return sum(counts), latencies


# -- the table -------------------------------------------------------------------------------


def measure(runner: Any, port: int, streams: int) -> dict[str, float]:
    server_lag(port)  # reset the server's lag record
    _OPENED[:] = [streams]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    count, per_stream = asyncio.run(runner(port, streams))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    # The start-up burst: until the last stream's head; its CPU (with the few events
    # delivered meanwhile) per stream.
    open_wall, open_cpu = _OPENED[1:] if len(_OPENED) == 3 else (wall0, cpu0)
    sent, lag_p99, _, server_cpu = server_lag(port)
    latencies = sorted(x for stream in per_stream for x in stream)
    # steady: without each stream's first quarter (the start-up burst of all the calls)
    steady = sorted(x for stream in per_stream for x in stream[len(stream) // 4 :])
    return {
        "events": count,
        "cpu_us": cpu / max(count, 1) * 1e6,
        "p50_ms": statistics.median(latencies) * 1e3 if latencies else 0.0,
        "p99_ms": _p99(latencies) * 1e3,
        "p99s_ms": _p99(steady) * 1e3,
        "wall_s": wall,
        "lag_ms": lag_p99 * 1e3,
        "server_us": server_cpu / max(sent, 1) * 1e6,
        "open_ms": (open_wall - wall0) * 1e3,
        "setup_us": (open_cpu - cpu0) / max(streams, 1) * 1e6,
    }


def _p99(values: list[float]) -> float:
    return values[min(len(values) - 1, int(len(values) * 0.99))] if values else 0.0


def table(
    streams: int,
    events: int,
    interval: float,
    with_peer: bool,
    repeat: int = 1,
    shape: str = SPREAD,
) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = streams * 2 + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    rows = [
        ("bare protocol (no consumer task)", run_floor),
        ("floor (+ a consumer task per stream)", run_hand_off),
        ("smruntime AsyncClient", run_ours),
    ]
    if with_peer:
        try:
            import aiobotocore  # noqa: F401

            rows.append(("aiobotocore (peer)", run_aiobotocore))
        except ImportError:
            print("(aiobotocore not installed: no peer row)")
    ratios: dict[str, list[tuple[float, ...]]] = {}
    _import_rows(rows)
    proc, port = start_server(events, interval, streams, shape)
    results: list[tuple[str, dict[str, float]]] = []
    try:
        measure(run_floor, port, streams)  # a warm-up, not shown (see the module docstring)
        for round_ in range(repeat):
            results = []
            for name, runner in rows:
                try:
                    results.append((name, measure(runner, port, streams)))
                except Exception as exc:
                    if runner is not run_aiobotocore:
                        raise
                    print(f"(aiobotocore failed: {type(exc).__name__}: {exc})")
            _print_table(results, streams, events, interval, round_, repeat, shape)
            _print_targets(results, streams, events, shape)
            bare, floor = results[0][1], results[1][1]
            for name, r in results:
                ratios.setdefault(name, []).append(
                    (
                        r["cpu_us"] / bare["cpu_us"],
                        r["cpu_us"] / floor["cpu_us"],
                        r["p99_ms"] / max(floor["p99_ms"], 1e-6),
                        r["p99s_ms"] / max(floor["p99s_ms"], 1e-6),
                        r["wall_s"] / bare["wall_s"],
                    )
                )
    finally:
        proc.kill()
        proc.join()
    _readme_rows(results, streams, events, interval, shape)
    if repeat > 1:
        print(f"\nratios over {repeat} rounds: best / median / worst")
        print(
            f"{'':36} {'CPU x bare':>18} {'CPU x floor':>18} {'p99 x floor':>18}"
            f" {'p99 steady x floor':>18} {'wall x bare':>18}"
        )
        for name, values in ratios.items():
            cells = []
            for column in zip(*values):
                ordered = sorted(column)
                cells.append(f"{ordered[0]:.2f}/{statistics.median(ordered):.2f}/{ordered[-1]:.2f}")
            print(f"{name:36} " + " ".join(f"{cell:>18}" for cell in cells))


CPU_TARGET = 1.5  # x the floor, at 200 streams
P99_TARGET_MS = 2.0  # at 200 streams
BIG_WALL_TARGET = 1.2  # x the floor, at 1000 streams
BIG_P99_TARGET = 2.0  # x the floor's p99, at 1000 streams
BIG_STREAMS = 1000  # from this many streams on, the 1000-stream targets apply


def _verdict(met: bool) -> str:
    return "MET" if met else "MISSED"


def _print_targets(
    results: list[tuple[str, dict[str, float]]], streams: int, events: int, shape: str
) -> None:
    """Issue #8's targets for this table (spread shape only), held against the floor with a
    consumer task per stream (the floor the issue names; the bare protocol has no task)."""
    if shape != SPREAD or len(results) < 3:
        return
    floor, ours = results[1][1], results[2][1]
    if streams < BIG_STREAMS:
        cpu = ours["cpu_us"] / floor["cpu_us"]
        print(
            f"target (issue #8, {streams} streams, spread): CPU/event <= {CPU_TARGET}x floor: "
            f"{cpu:.2f}x {_verdict(cpu <= CPU_TARGET)}; p99 <= {P99_TARGET_MS:.0f} ms: "
            f"{ours['p99_ms']:.2f} ms {_verdict(ours['p99_ms'] <= P99_TARGET_MS)} "
            f"(steady {ours['p99s_ms']:.2f} ms {_verdict(ours['p99s_ms'] <= P99_TARGET_MS)})"
        )
    else:
        wall = ours["wall_s"] / floor["wall_s"]
        p99 = ours["p99_ms"] / max(floor["p99_ms"], 1e-6)
        delivered = int(ours["events"]) == streams * events
        print(
            f"target (issue #8, {streams} streams, spread): every event delivered: "
            f"{_verdict(delivered)}; wall <= {BIG_WALL_TARGET}x floor: {wall:.2f}x "
            f"{_verdict(wall <= BIG_WALL_TARGET)}; p99 <= {BIG_P99_TARGET:.0f}x floor: "
            f"{p99:.2f}x {_verdict(p99 <= BIG_P99_TARGET)}"
        )
    print(
        "  p99: every event, the start included (all the calls opened at once: each signs, "
        "connects and reads its head\n  while the others do, so a stream's first events wait "
        "behind that burst); p99 steady: each stream's first quarter left out"
    )
    print(
        f"  the start: every head in {ours['open_ms']:.0f} ms, {ours['setup_us']:.0f} us CPU "
        f"per call (floor {floor['open_ms']:.0f} ms, {floor['setup_us']:.0f} us per stream: "
        "a bare request, no signing, no head parsed)"
    )


def _import_rows(rows: list[tuple[str, Any]]) -> None:
    """Import what each row's code imports on first use, before any row is measured: the
    floors' code is this file's, imported already; the clients import their modules lazily
    (cold start), which a first round would otherwise count as that row's CPU."""
    for _, runner in rows:
        if runner is run_ours:
            from smruntime.aio import AsyncClient

            AsyncClient(
                region_name=REGION,
                endpoint_url="http://127.0.0.1:9",
                aws_access_key_id=KEY,
                aws_secret_access_key=SECRET,
                environ={},
            )
        elif runner is run_aiobotocore:
            import aiobotocore.config
            import aiobotocore.session  # noqa: F401


def _shape_label(shape: str) -> str:
    if shape == SPREAD:
        return "phases spread over the interval (the target shape)"
    return "lockstep: every stream's event at once (a burst; extra, not the target shape)"


_README: list[list[str]] = []  # the README's AsyncClient table, printed by bench/report.py


def _readme_rows(
    results: list[tuple[str, dict[str, float]]],
    streams: int,
    events: int,
    interval: float,
    shape: str,
) -> None:
    """The last round's rows of the README's AsyncClient table: the spread shape's figures, and
    the lockstep burst's p99 beside them (labelled)."""
    if len(results) < 3:
        return
    bare, floor, ours = results[0][1], results[1][1], results[2][1]
    what = f"{streams} streams x {events} events at {interval * 1e3:.0f} ms"
    latency = "same: p50 / p99 added latency (p99 steady)"
    if shape == LOCKSTEP:
        latency = f"{streams} streams, lockstep burst (extra): p50 / p99 added latency (p99 steady)"
    else:
        _README.append(
            [
                f"{what}, phases spread: CPU/event",
                f"floor {floor['cpu_us']:.1f} µs (bare protocol {bare['cpu_us']:.1f} µs)",
                f"{ours['cpu_us']:.1f} µs ({ours['cpu_us'] / floor['cpu_us']:.2f}x floor, "
                f"{ours['cpu_us'] / bare['cpu_us']:.2f}x bare)",
            ]
        )
        _README.append(
            [
                "same: wall, events delivered",
                f"bare protocol {bare['wall_s']:.2f} s",
                f"{ours['wall_s']:.2f} s ({ours['wall_s'] / bare['wall_s']:.2f}x), "
                f"{int(ours['events'])} of {streams * events}",
            ]
        )
    _README.append(
        [
            latency,
            f"{floor['p50_ms']:.2f} / {floor['p99_ms']:.2f} ms ({floor['p99s_ms']:.2f})",
            f"{ours['p50_ms']:.2f} / {ours['p99_ms']:.2f} ms ({ours['p99s_ms']:.2f}), "
            f"{ours['p99_ms'] / max(floor['p99_ms'], 1e-6):.2f}x "
            f"({ours['p99s_ms'] / max(floor['p99s_ms'], 1e-6):.2f}x)",
        ]
    )


def _print_table(
    results: list[tuple[str, dict[str, float]]],
    streams: int,
    events: int,
    interval: float,
    round_: int,
    repeat: int,
    shape: str,
) -> None:
    bare, floor = results[0][1], results[1][1]
    expected = streams * events
    which = f" (round {round_ + 1} of {repeat})" if repeat > 1 else ""
    print(
        f"\n{streams} streams x {events} events, one every {interval * 1e3:.0f} ms{which}; "
        f"{_shape_label(shape)}"
    )
    print(
        f"{'':36} {'events':>7} {'CPU/event':>10} {'x bare':>7} {'x floor':>7} {'p50':>8}"
        f" {'p99':>9} {'x floor':>7} {'p99 steady':>10} {'x floor':>7} {'wall':>7} {'x bare':>7}"
        f" {'server: lag p99':>15} {'CPU/event':>9}"
    )
    for name, r in results:
        print(
            f"{name:36} {int(r['events']):>7} {r['cpu_us']:>8.1f}us "
            f"{r['cpu_us'] / bare['cpu_us']:>7.2f} {r['cpu_us'] / floor['cpu_us']:>7.2f} "
            f"{r['p50_ms']:>6.2f}ms {r['p99_ms']:>7.2f}ms "
            f"{r['p99_ms'] / max(floor['p99_ms'], 1e-6):>7.2f} {r['p99s_ms']:>8.2f}ms "
            f"{r['p99s_ms'] / max(floor['p99s_ms'], 1e-6):>7.2f} {r['wall_s']:>6.2f}s "
            f"{r['wall_s'] / bare['wall_s']:>7.2f} {r['lag_ms']:>13.2f}ms {r['server_us']:>7.1f}us"
        )
        if r["events"] != expected:
            print(f"   !! {name}: {int(r['events'])} of {expected} events delivered")
        if r["lag_ms"] > interval * 1e3:
            print(
                f"   !! the server ran {r['lag_ms']:.0f} ms behind its schedule (p99): this row "
                "measured the machine's CPU as much as the client"
            )


def memory_per_stream(streams: int = 200) -> None:
    """Python heap per open stream (tracemalloc): each stream open, its first event taken, the
    next one 10 s away (a consumer that keeps up). A consumer that lags holds at most
    HIGH_WATER + READ_SIZE body bytes more per stream (reading pauses)."""
    import gc
    import tracemalloc

    from smruntime import Config
    from smruntime.aio import AsyncClient

    proc, port = start_server(2, 10.0)

    async def run() -> float:
        client = AsyncClient(
            region_name=REGION,
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            config=Config(proxies={}, max_pool_connections=streams),
            environ={},
        )
        warm = (await client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}"))[
            "Body"
        ]
        await warm.__aiter__().__anext__()
        await warm.close()
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        bodies = []
        for _ in range(streams):
            response = await client.invoke_endpoint_with_response_stream(
                EndpointName="e", Body=b"{}"
            )
            await response["Body"].__aiter__().__anext__()
            bodies.append(response["Body"])
            del response
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
        if os.environ.get("BENCH_TOP"):
            for stat in tracemalloc.take_snapshot().statistics("lineno")[:15]:
                print(stat)
        tracemalloc.stop()
        for body in bodies:
            await body.close()
        await client.close()
        return used / streams

    try:
        per = asyncio.run(run())
    finally:
        proc.kill()
        proc.join()
    from smruntime.http._async import HIGH_WATER, READ_SIZE

    _README.append(["memory per open stream (Python heap)", "", f"{per / 1024:.1f} KiB"])
    print(
        f"\nmemory per open stream (Python heap, {streams} streams, after the first event): "
        f"{per / 1024:.1f} KiB (target <= 16 KiB; kernel socket buffers not counted); a lagging "
        f"consumer adds at most {(HIGH_WATER + READ_SIZE) // 1024} KiB of queued body"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--big", type=int, default=1000, help="the second run's streams (0: none)")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument(
        "--shape",
        choices=("both", SPREAD, LOCKSTEP),
        default="both",
        help="the load's shape (see above): spread phases (the target), the lockstep burst, "
        "or both (the default)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of every row (a loaded machine: 3 or more)"
    )
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    shapes = (SPREAD, LOCKSTEP) if args.shape == "both" else (args.shape,)
    print(speed())
    for shape in shapes:
        for streams in (args.streams, args.big) if args.big else (args.streams,):
            table(streams, args.events, args.interval, not args.skip_peer, args.repeat, shape)
    if not args.skip_memory:
        memory_per_stream()
    if _README:
        readme_table(
            "AsyncClient under a gateway's load (bench/bench_async.py)",
            ["what", "floor", "smruntime"],
            _README,
        )


if __name__ == "__main__":
    main()
