"""InvokeEndpointWithBidirectionalStream benchmarks: throughput, added latency, concurrency.

    python bench/bench_duplex.py [--quick]

The server runs in a child process, so the process times below are the client's alone. For
table 2 and the last row of table 1 it is by default the emulator's HTTP/2 side
(``smruntime.emulator``, h2c on loopback, model ``echo``), which verifies the request's
signature and every chained event signature as the service would; ``--server echo`` uses the
tests' HTTP/2 server instead (it unwraps and echoes the parts without verifying anything),
``--server light`` the light one of tables 1 and 3; ``--only N`` runs one table. Prints:

1. Throughput: 64 KiB parts echoed on one stream, MB/s each way (the echo moves the same bytes
   back), each row with the client's and the server's CPU per part. Each row runs three times
   and keeps its best run, the one least disturbed by the machine's other load (the CPU rows of
   ``bench_wire`` keep their best the same way); every run's MB/s and their median are printed
   beside it, so a slow run is not hidden. Rows: the blocking
   ``Client`` and ``AsyncClient`` against the light echo server (``bench/_h2_light.py``, as in
   table 3: one thread, verifies nothing, so these rows measure the client), then the blocking
   ``Client`` against the ``--server`` (by default the emulator, verifying the request's
   signature and every chained event signature). The client's CPU is set against a floor:
   ``h2`` alone (client side of an in-memory connection pair) moving the same DATA frames both
   ways, no sockets, no signing, no event-stream codec; the blocking client's CPU is also split
   by thread (sending, reading, the driver's I/O thread). Target: >= 200 MB/s each way, read
   from the first row: the target is about the client, and that row's server costs about half
   the client's CPU per part. The emulator row is kept and printed beside it: there the server,
   pure Python too and verifying every signature, costs as much CPU per part as the client or
   more, and with both processes on 2 cores (one GIL each) the pair together bounds the MB/s,
   the server as much as the client (read its MB/s with both CPU figures). The pieces of a
   part's work are timed alone: signing and encoding its two frames, decoding the answer, one
   SHA-256 and one CRC32 of 64 KiB (a part costs each side one SHA-256 and three CRC32s), and
   the hexlify that h2 does of every DATA frame it parses, for a log line. The floor and the
   emulator pay that hexlify once a part; the client does not: it takes each response body out
   of its DATA frame before h2 sees it (``smruntime/http/_h2.py``), so its CPU can approach
   the floor's and its ratio to the floor is not a ratio to a strict lower bound.
2. Added latency: a 512-byte part every 20 ms, echoed; round trip p50/p99 for the blocking and
   the asyncio client against a floor (a bare ``h2`` connection on a blocking socket sending
   pre-signed messages to the same server). Target: p99 added <= 2 ms.
3. 100 concurrent duplex streams on one AsyncClient, each sending 512-byte parts every 20 ms:
   all complete, round trip p50/p99 (target p99 <= 5 ms), against one stream alone on the same
   server as its peer and a floor: the same calls and schedule with no client library, an
   ``asyncio.Protocol`` over a bare ``h2`` connection per call, every part signed before the
   clock starts (what any asyncio HTTP/2 client must do; ratios ours/floor printed). 100
   streams are 5,000 parts a second each way. The 100 calls are opened first (their set-up,
   signing and connecting, is reported apart: it is not a part's round trip); then every
   stream sends on a fixed schedule, its phase spread over the 20 ms period, so the offered
   load stays 5,000/s however slow a period is; a send that starts after its slot (the loop
   was busy) prints its lateness. The streams end spread too: stream n of N sends
   ``parts * (1 + n / N)`` parts (50 to 99), so one or two close in each period from the
   first end on, as a gateway's streams end at independent times (until 2026-12-04 all ended
   in the same period, whose 100 closes, each its signed end message, the server's end and
   the connection's close, made the p99 of every round trip the p99 of that one period).
   Percentiles pool every round trip, and are printed again for the steady state alone (the
   round trips before the first stream finishes, when every stream is open): after that the
   periods carry the closes, which the floor's close (it writes its pre-signed end and drops
   the connection) barely pays.
   Both verdicts are printed.

   Which server measures the client: the first row runs against ``bench/_h2_light.py``, one
   thread and one selector for every connection, answering each signed message with its inner
   message and verifying nothing (about 50 us of CPU per part on this machine). The emulator
   (second row, or ``--server``) verifies the request and every chained signature, but runs a
   thread per connection: with 100 connections its CPU per part is three to five times the
   light server's. Its checks take about 15 us of that (timed alone); the rest goes with the
   thread per connection (the tests' echo server, which checks nothing but has a thread per
   connection too, costs over twice the light server's). On 2 cores the emulator alone then
   takes most of a core at 5,000 parts/s, so its row measures the server as much as the
   client. Both rows print the CPU of both processes over the steady state: neither share is
   hidden.

Figures vary with the machine and its load; compare the ratios printed in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _machine import speed  # noqa: E402
from _rows import readme_table  # noqa: E402

from eventstream import Message, encode  # noqa: E402

PART = 64 * 1024
SMALL = 512
RUNS = 3  # throughput runs a row; the best is kept
KEY, SECRET, REGION = "AKIDBENCH", "bench-secret-key", "us-east-1"


# The emulator's HTTP/2 side with the bench's key pair, endpoint "bench" answered by the echo model.
EMULATOR = f"""
import sys
from sigv4 import Credentials
from smruntime.emulator._h2 import EchoDuplex, serve_h2c
server = serve_h2c(0, Credentials({KEY!r}, {SECRET!r}), models={{"bench": EchoDuplex()}})
print(server.port, flush=True)
sys.stdin.read()
server.close()
"""


def start_server(kind: str = "emulator") -> tuple[subprocess.Popen[str], str]:
    if kind == "emulator":
        command = [sys.executable, "-c", EMULATOR]
    elif kind == "light":
        command = [sys.executable, str(ROOT / "bench" / "_h2_light.py")]
    else:
        command = [sys.executable, "-m", "tests.smruntime.h2_server", "events"]
    proc = subprocess.Popen(
        command,
        cwd=str(ROOT),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


def stop_server(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def client(url: str) -> Any:
    from smruntime import Client

    return Client(
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        environ={},
    )


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a child process used so far; 0.0 where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- 1. throughput -------------------------------------------------------------------------------


def throughput(url: str, parts: int) -> tuple[float, float, float, float]:
    """(MB/s each way, client CPU seconds per part, of which the sending thread's and the
    reading thread's; the rest is the driver's I/O thread)."""
    payload = os.urandom(PART)
    sender_cpu: list[float] = []
    with client(url) as c:
        resp = c.invoke_endpoint_with_bidirectional_stream(EndpointName="bench")
        stream = resp["Body"]
        cpu0, t0 = time.process_time(), time.perf_counter()

        def send() -> None:
            t = time.thread_time()
            for _ in range(parts):
                stream.send(payload, DataType="BINARY")
            stream.close_input()
            sender_cpu.append(time.thread_time() - t)

        sender = threading.Thread(target=send)
        sender.start()
        received = 0
        reader0 = time.thread_time()
        for event in stream:
            received += len(event["PayloadPart"]["Bytes"])
        reader = time.thread_time() - reader0
        sender.join()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        stream.close()
    assert received == parts * PART, received
    return parts * PART / elapsed / 1e6, cpu / parts, sender_cpu[0] / parts, reader / parts


async def _throughput_async(url: str, parts: int) -> tuple[float, float]:
    from smruntime.aio import AsyncClient

    payload = os.urandom(PART)
    ac = AsyncClient.from_client(client(url))
    resp = await ac.invoke_endpoint_with_bidirectional_stream(EndpointName="bench")
    received = 0
    async with resp["Body"] as stream:
        cpu0, t0 = time.process_time(), time.perf_counter()

        async def send() -> None:
            for _ in range(parts):
                await stream.send(payload, DataType="BINARY")
            await stream.close_input()

        sender = asyncio.ensure_future(send())
        async for event in stream:
            received += len(event["PayloadPart"]["Bytes"])
        await sender
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    assert received == parts * PART, received
    return parts * PART / elapsed / 1e6, cpu / parts


def throughput_async(url: str, parts: int) -> tuple[float, float]:
    """(MB/s each way, client CPU seconds per part) of AsyncClient: one task sends, the
    caller iterates, on one event loop (one thread)."""
    return asyncio.run(_throughput_async(url, parts))


def part_costs(parts: int) -> dict[str, float]:
    """CPU seconds per 64 KiB part of the pieces of the client's work, timed alone in this
    process (one thread, no I/O): what the throughput's CPU is made of."""
    import binascii
    import datetime as dt
    import hashlib
    import zlib

    from sigv4 import Credentials, EventSigner
    from smruntime import _bidi

    payload = os.urandom(PART)
    now = dt.datetime.now(dt.timezone.utc)
    signer = EventSigner(
        "0" * 64, credentials=Credentials(KEY, SECRET), region=REGION, service="sagemaker"
    )
    outbound = _bidi._Outbound(signer, lambda: now)
    headers = [(":message-type", "event"), (":event-type", "PayloadPart"), ("DataType", "BINARY")]
    answer = encode(Message(headers, payload))

    def decode() -> None:
        inbound = _bidi._Inbound({}, None)
        inbound.feed(answer)
        inbound.events.popleft()

    pieces = {
        "sign + encode (2 frames)": lambda: outbound.part(payload, "BINARY", None, None),
        "decode the answer": decode,
        "SHA-256 of 64 KiB": lambda: hashlib.sha256(payload).digest(),
        "CRC32 of 64 KiB": lambda: zlib.crc32(payload),
        "hexlify 64 KiB (h2 repr)": lambda: binascii.hexlify(payload).decode("ascii"),
    }
    out: dict[str, float] = {}
    for name, piece in pieces.items():
        piece()
        t = time.process_time()
        for _ in range(parts):
            piece()
        out[name] = (time.process_time() - t) / parts
    return out


def h2_floor(parts: int) -> float:
    """Client CPU per part of h2 alone moving the same frames both ways (in memory), with the
    frame size the client and the emulator agree on (one DATA frame per part)."""
    import h2.config
    import h2.connection
    import h2.settings

    from smruntime.http._h2 import MAX_FRAME_SIZE

    frame = encode(Message([(":date", 0), (":chunk-signature", b"\0" * 32)], b"x" * (PART + 120)))
    big = 2**31 - 1
    cli = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    srv = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    codes = h2.settings.SettingCodes
    settings = {codes.INITIAL_WINDOW_SIZE: big, codes.MAX_FRAME_SIZE: MAX_FRAME_SIZE}
    cli.initiate_connection()
    cli.update_settings(settings)
    srv.initiate_connection()
    srv.update_settings(settings)
    cli.increment_flow_control_window(big - 65535)
    srv.increment_flow_control_window(big - 65535)
    sid = cli.get_next_available_stream_id()
    cli.send_headers(
        sid, [(":method", "POST"), (":scheme", "http"), (":authority", "x"), (":path", "/")]
    )
    srv.receive_data(cli.data_to_send())
    cli.receive_data(srv.data_to_send())
    srv.send_headers(sid, [(":status", "200")])
    srv.receive_data(cli.data_to_send())
    cli.receive_data(srv.data_to_send())
    spent = 0.0
    for _ in range(parts):
        t = time.process_time()
        size = cli.max_outbound_frame_size
        for i in range(0, len(frame), size):
            cli.send_data(sid, frame[i : i + size])
        wire = cli.data_to_send()
        spent += time.process_time() - t
        for ev in srv.receive_data(wire):
            if hasattr(ev, "flow_controlled_length") and ev.data:
                srv.acknowledge_received_data(ev.flow_controlled_length, sid)
                s = srv.max_outbound_frame_size
                for i in range(0, len(ev.data), s):
                    srv.send_data(sid, ev.data[i : i + s])
        back = srv.data_to_send()
        t = time.process_time()
        for ev in cli.receive_data(back):
            if hasattr(ev, "flow_controlled_length") and ev.data:
                cli.acknowledge_received_data(ev.flow_controlled_length, sid)
        srv.receive_data(cli.data_to_send())
        spent += time.process_time() - t
    return spent / parts


# -- 2. latency ----------------------------------------------------------------------------------


def latency_sync(url: str, parts: int) -> list[float]:
    rtts: list[float] = []
    with client(url) as c:
        resp = c.invoke_endpoint_with_bidirectional_stream(EndpointName="bench")
        with resp["Body"] as stream:
            for _ in range(parts):
                t = time.perf_counter()
                stream.send(os.urandom(SMALL))
                next(stream)
                rtts.append(time.perf_counter() - t)
                time.sleep(0.02)
            stream.close_input()
    return rtts


async def _latency_async(url: str, parts: int) -> list[float]:
    from smruntime.aio import AsyncClient

    ac = AsyncClient.from_client(client(url))
    rtts: list[float] = []
    resp = await ac.invoke_endpoint_with_bidirectional_stream(EndpointName="bench")
    async with resp["Body"] as stream:
        for _ in range(parts):
            t = time.perf_counter()
            await stream.send(os.urandom(SMALL))
            await stream.__anext__()
            rtts.append(time.perf_counter() - t)
            await asyncio.sleep(0.02)
        await stream.close_input()
    return rtts


def latency_floor(url: str, parts: int) -> list[float]:
    """A bare h2 connection on a blocking socket sending messages signed before the clock
    starts (the client's own request signing, then the chained event signatures), same server."""
    import datetime as dt
    from urllib.parse import urlsplit

    import h2.config
    import h2.connection
    import h2.events

    from smruntime import _bidi

    def now() -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    prepared = _bidi._prepare(client(url), {"EndpointName": "bench"}, now)
    messages = [
        prepared.outbound.message({"PayloadPart": {"Bytes": b"x" * SMALL}}) for _ in range(parts)
    ]
    target = urlsplit(prepared.url)
    sock = socket.create_connection((target.hostname, target.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    skip = {"host", "content-length", "connection"}
    conn.send_headers(
        sid,
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", target.netloc),
            (":path", target.path + (f"?{target.query}" if target.query else "")),
            *((k.lower(), v) for k, v in prepared.headers if k.lower() not in skip),
        ],
    )
    sock.sendall(conn.data_to_send())
    rtts: list[float] = []
    for outer in messages:
        t = time.perf_counter()
        conn.send_data(sid, outer)
        sock.sendall(conn.data_to_send())
        got = False
        while not got:
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("the server closed the floor's connection")
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.DataReceived) and ev.data:
                    conn.acknowledge_received_data(ev.flow_controlled_length, sid)
                    got = True
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    raise RuntimeError(f"the server ended the floor's stream: {ev}")
            pending = conn.data_to_send()
            if pending:
                sock.sendall(pending)
        rtts.append(time.perf_counter() - t)
        time.sleep(0.02)
    sock.close()
    return rtts


# -- 3. concurrency ------------------------------------------------------------------------------


class Concurrent:
    """What table 3 measured: round trips, send lateness, and the CPU of both processes
    over the steady state (every stream open) and over the set-up (the calls opening)."""

    def __init__(self) -> None:
        self.ok = 0
        self.streams = 0
        self.rtts: list[float] = []
        self.late: list[float] = []  # actual send time minus its slot in the schedule
        self.setup_wall = self.setup_client = self.setup_server = 0.0
        self.wall = self.client = self.server = 0.0
        self.parts = 0  # round trips inside the steady window

    async def wait_slot(self, loop: asyncio.AbstractEventLoop, slot: float) -> float:
        """Sleep until the send's *slot* (loop time), note how late it is; the start stamp."""
        delay = slot - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        t = time.perf_counter()
        self.late.append(max(0.0, loop.time() - slot))
        return t

    def spans(self, marks: dict[str, tuple[float, float, float, int]]) -> None:
        """Set-up and steady-state figures from the (wall, client, server, round trips)
        readings taken at ``start``, ``open`` and ``done``."""
        (w0, c0, s0, _), (w1, c1, s1, _), (w2, c2, s2, n2) = (
            marks["start"],
            marks["open"],
            marks["done"],
        )
        self.setup_wall, self.setup_client, self.setup_server = w1 - w0, c1 - c0, s1 - s0
        self.wall, self.client, self.server, self.parts = w2 - w1, c2 - c1, s2 - s1, n2

    @property
    def steady(self) -> list[float]:
        """The round trips that ended before the first stream finished (every stream open);
        the later periods also carry the streams' closes (each its signed end message and the
        wait for the server's end), one or two a period."""
        return self.rtts[: self.parts] or [float("nan")]


def stream_parts(n: int, streams: int, parts: int) -> int:
    """How many parts stream ``n`` of ``streams`` sends: ``parts`` to about twice that, so the
    streams end spread over as many periods as they last, as their starts are spread over the
    period (a gateway's streams end at independent times). Until 2026-12-04 every stream sent
    ``parts`` and all 100 ended in the same 20 ms: that period carried 100 closes (about
    130 us of client CPU each) on top of its 100 parts, 2% of the round trips, so the p99 of
    every round trip was the p99 of that one period."""
    return parts + n * parts // streams


async def _concurrent(url: str, streams: int, parts: int, server_pid: int) -> Concurrent:
    """``streams`` calls opened at once; once all are open, each sends its
    :func:`stream_parts` on a fixed 20 ms schedule (its phase spread over the period: 5,000
    parts a second each way in all), waiting for each echo before its next slot. A round trip
    is timed from the send call to the echo's arrival, as in table 2; a send that starts after
    its slot (the loop was busy) counts its lateness apart, so a slow period lowers neither the
    offered load nor hides it."""
    from smruntime.aio import AsyncClient

    ac = AsyncClient.from_client(client(url))
    out = Concurrent()
    out.streams = streams
    loop = asyncio.get_running_loop()
    opened = 0
    all_open = loop.create_future()
    marks: dict[str, tuple[float, float, float, int]] = {}

    def mark(name: str) -> None:
        if name not in marks:
            now = (time.perf_counter(), time.process_time(), process_cpu(server_pid))
            marks[name] = (*now, len(out.rtts))

    async def one(n: int) -> bool:
        nonlocal opened
        try:
            resp = await ac.invoke_endpoint_with_bidirectional_stream(EndpointName="bench")
        finally:
            opened += 1
            if opened == streams:
                mark("open")
                all_open.set_result(loop.time())
        start = await all_open
        async with resp["Body"] as stream:
            for k in range(stream_parts(n, streams, parts)):
                t = await out.wait_slot(loop, start + 0.02 * (k + n / streams))
                await stream.send(os.urandom(SMALL))
                await stream.__anext__()
                out.rtts.append(time.perf_counter() - t)
            mark("done")  # the first stream through: every stream was still sending
            await stream.close_input()
            rest = [e async for e in stream]
        return rest == []

    mark("start")
    done = await asyncio.gather(*(one(n) for n in range(streams)), return_exceptions=True)
    out.ok = sum(1 for d in done if d is True)
    errors = [d for d in done if isinstance(d, BaseException)]
    if errors:
        print(f"  first failure: {errors[0]!r}")
    if "open" in marks and "done" in marks:
        out.spans(marks)
    return out


async def _concurrent_floor(url: str, streams: int, parts: int, server_pid: int) -> Concurrent:
    """Table 3's floor: the same calls, schedule and timing with no client library, each an
    ``asyncio.Protocol`` over a bare ``h2`` connection, its request and every part signed
    before the clock starts (the work left is what any asyncio HTTP/2 client must do)."""
    import datetime as dt
    from urllib.parse import urlsplit

    import h2.config
    import h2.connection
    import h2.events

    from smruntime import _bidi

    def now() -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    loop = asyncio.get_running_loop()
    out = Concurrent()
    out.streams = streams
    marks: dict[str, tuple[float, float, float, int]] = {}

    def mark(name: str) -> None:
        if name not in marks:
            t = (time.perf_counter(), time.process_time(), process_cpu(server_pid))
            marks[name] = (*t, len(out.rtts))

    class Floor(asyncio.Protocol):
        def __init__(self) -> None:
            self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
            self.sid = 0
            self.transport: Any = None
            self.waiter: asyncio.Future[None] = loop.create_future()

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            conn = self.conn
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, self.sid)
                    if ev.data and not self.waiter.done():
                        self.waiter.set_result(None)
                elif isinstance(ev, h2.events.ResponseReceived) and not self.waiter.done():
                    self.waiter.set_result(None)
            pending = conn.data_to_send()
            if pending:
                self.transport.write(pending)

        def send(self, data: bytes) -> None:
            self.waiter = loop.create_future()
            self.conn.send_data(self.sid, data)
            self.transport.write(self.conn.data_to_send())

    c = client(url)
    target = urlsplit(url)
    skip = {"host", "content-length", "connection"}

    async def open_one() -> tuple[Floor, list[bytes]]:
        prepared = _bidi._prepare(c, {"EndpointName": "bench"}, now)
        messages = [
            prepared.outbound.part(b"x" * SMALL, None, None, None)
            for _ in range(stream_parts(streams - 1, streams, parts))
        ]
        final = prepared.outbound.final()
        _, proto = await loop.create_connection(Floor, target.hostname, target.port)
        sock = proto.transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = proto.conn
        conn.initiate_connection()
        proto.sid = conn.get_next_available_stream_id()
        path = urlsplit(prepared.url)
        conn.send_headers(
            proto.sid,
            [
                (":method", "POST"),
                (":scheme", "http"),
                (":authority", target.netloc),
                (":path", path.path),
                *((k.lower(), v) for k, v in prepared.headers if k.lower() not in skip),
            ],
        )
        proto.transport.write(conn.data_to_send())
        await proto.waiter  # the response headers
        return proto, [*messages, final]

    mark("start")
    opened = await asyncio.gather(*(open_one() for _ in range(streams)))
    mark("open")
    start = loop.time()

    async def one(n: int, proto: Floor, messages: list[bytes]) -> bool:
        for k in range(stream_parts(n, streams, parts)):
            t = await out.wait_slot(loop, start + 0.02 * (k + n / streams))
            proto.send(messages[k])
            await proto.waiter
            out.rtts.append(time.perf_counter() - t)
        mark("done")
        proto.conn.send_data(proto.sid, messages[-1], end_stream=True)
        proto.transport.write(proto.conn.data_to_send())
        proto.transport.close()
        return True

    done = await asyncio.gather(
        *(one(n, proto, msgs) for n, (proto, msgs) in enumerate(opened)), return_exceptions=True
    )
    out.ok = sum(1 for d in done if d is True)
    out.spans(marks)
    return out


def report_concurrent(label: str, r: Concurrent, peer: list[float]) -> None:
    rtts = r.rtts or [float("nan")]
    every, steady = pct(rtts, 0.99), pct(r.steady, 0.99)
    print(
        f"  {label}: completed {r.ok}/{r.streams}; round trip p50 {ms(pct(rtts, 0.5))} "
        f"p99 {ms(every)}, steady (every stream open) p99 {ms(steady)} (one-stream peer p99 "
        f"{ms(pct(peer, 0.99))}, ratio {every / pct(peer, 0.99):.1f}x); "
        f"sends late p99 {ms(pct(r.late or [0.0], 0.99))}"
    )
    print(
        f"    target p99 <= 5 ms: every round trip {every * 1e3:.2f} ms "
        f"{'MET' if every <= 0.005 else 'MISSED'}; steady {steady * 1e3:.2f} ms "
        f"{'MET' if steady <= 0.005 else 'MISSED'} (after the steady state, the streams close)"
    )
    if r.parts:
        print(
            f"    steady state ({r.parts} round trips in {r.wall:.2f} s, every stream open): "
            f"client CPU {r.client / r.parts * 1e6:.0f} us/part ({r.client / r.wall * 100:.0f}% "
            f"of a core), server CPU {r.server / r.parts * 1e6:.0f} us/part "
            f"({r.server / r.wall * 100:.0f}% of a core)"
        )
        print(
            f"    set-up ({r.streams} calls opened at once, before the first part): "
            f"{r.setup_wall * 1000:.0f} ms wall, client CPU "
            f"{r.setup_client / r.streams * 1000:.2f} ms/call, server CPU "
            f"{r.setup_server / r.streams * 1000:.2f} ms/call"
        )


def ms(x: float) -> str:
    return f"{x * 1000:7.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--server",
        choices=("emulator", "echo", "light"),
        default="emulator",
        help="the server of tables 1-2 and the second row of table 3: the emulator, verifying "
        "every signature (default), the tests' echo server, or the light echo server (which "
        "table 3's first row always uses)",
    )
    ap.add_argument(
        "--only", type=int, choices=(1, 2, 3), help="run one table (3 then has no one-stream peer)"
    )
    args = ap.parse_args()
    parts = 300 if args.quick else 1500
    small = 50 if args.quick else 200
    streams, per_stream = 100, (10 if args.quick else 50)
    os.environ.setdefault("NO_PROXY", "127.0.0.1")
    proc, url = start_server(args.server)
    table: list[list[str]] = []  # the README's rows (bench/report.py prints them)
    try:
        what = {
            "emulator": "the emulator, signatures verified",
            "echo": "the tests' echo server",
            "light": "the light echo server",
        }[args.server]
        print(
            f"server (child process, h2c, {what}): {url}; "
            f"load average at the start: {os.getloadavg()[0]:.2f}\n{speed()}"
        )
        if args.only in (None, 1):
            print("\n1. throughput, 64 KiB parts echoed on one stream")
            floor = h2_floor(parts)
            light, light_url = (proc, url) if args.server == "light" else start_server("light")
            rows: list[tuple[str, Any, Any, str]] = [
                ("Client, light server", light, light_url, "sync"),
                ("AsyncClient, light server", light, light_url, "async"),
            ]
            if args.server != "light":
                rows.append((f"Client, {args.server}", proc, url, "sync"))
            first_cpu, emulator_part = "", 0.0
            try:
                for label, server, where, kind in rows:
                    # Best of RUNS: the run the least disturbed by the machine's other load
                    # (bench_wire's CPU rows keep their best the same way); every run is printed.
                    runs: list[tuple[float, float, float, float, float]] = []
                    for _ in range(RUNS):
                        server0 = process_cpu(server.pid)
                        if kind == "sync":
                            run = throughput(where, parts)
                        else:
                            run = (*throughput_async(where, parts), 0.0, 0.0)
                        runs.append((*run, (process_cpu(server.pid) - server0) / parts))
                    mbps, cpu_part, sender_part, reader_part, server_part = max(runs)
                    every = sorted(r[0] for r in runs)
                    spread = f"best of {RUNS}: " + ", ".join(f"{m:.0f}" for m in every)
                    where_row = (
                        "throughput, 64 KiB parts echoed on one stream, Client, light server "
                        "(the target's row)"
                    )
                    if label != "Client, light server":
                        where_row = "same, " + label.replace(args.server, what)
                    verdict = ""
                    if not table:
                        verdict = "target 200 MB/s: " + ("MET" if mbps >= 200 else "MISSED")
                    table.append([where_row, f"{mbps:.0f} MB/s each way ({spread})", verdict])
                    print(
                        f"  {label:27}: {mbps:7.1f} MB/s each way ({spread}; median "
                        f"{statistics.median(every):.0f})   client CPU "
                        f"{cpu_part * 1e6:6.1f} us/part ({cpu_part / floor:.2f}x floor)   server "
                        f"CPU {server_part * 1e6:6.1f} us/part   "
                        f"(both {(cpu_part + server_part) * 1e6:.0f})"
                    )
                    if label == "Client, light server":
                        io_part = cpu_part - sender_part - reader_part
                        first_cpu = (
                            f"{cpu_part * 1e6:.0f} µs (sending thread {sender_part * 1e6:.0f}, "
                            f"reading {reader_part * 1e6:.0f}, I/O thread {io_part * 1e6:.0f})"
                        )
                    elif server is proc and args.server == "emulator":
                        emulator_part = server_part
                    if kind == "sync":
                        io_part = cpu_part - sender_part - reader_part
                        print(
                            f"  {'':29}client threads: sending {sender_part * 1e6:.1f}, reading "
                            f"{reader_part * 1e6:.1f}, the driver's I/O thread {io_part * 1e6:.1f}"
                        )
            finally:
                if light is not proc:
                    stop_server(light)
            table.append(
                [
                    "client CPU per 64 KiB part (Client, light server)",
                    first_cpu,
                    f"`h2` alone moving the same frames: {floor * 1e6:.0f} µs "
                    f"({float(first_cpu.split()[0] or 'nan') / (floor * 1e6):.2f}x)",
                ]
            )
            if args.server == "emulator":
                table.append(
                    ["server (emulator) CPU per 64 KiB part", f"{emulator_part * 1e6:.0f} µs", ""]
                )
            costs = part_costs(min(parts, 500))
            print(f"  h2 floor{'':20}: {'':37}client CPU {floor * 1e6:6.1f} us/part")
            print(
                "  target: >= 200 MB/s each way, read from the first row (the client measured: "
                "the light server verifies nothing); the emulator row is bound by both "
                "processes on 2 cores"
            )
            print(
                "  a part's pieces, timed alone (us): "
                + ", ".join(f"{name} {cost * 1e6:.1f}" for name, cost in costs.items())
            )
            print(
                "  (h2 hexlifies every DATA frame it parses for a log line it then drops: the "
                "floor and the emulator pay one a part; the client hands h2 its frames without "
                "their bodies)"
            )

        if args.only in (None, 2):
            print("\n2. added latency, a 512-byte part every 20 ms, echoed (round trip)")
            base = latency_floor(url, small)
            sync = latency_sync(url, small)
            asy = asyncio.run(_latency_async(url, small))
            print(f"  floor (bare h2) : p50 {ms(pct(base, 0.5))}  p99 {ms(pct(base, 0.99))}")
            table.append(
                [
                    "added latency, a 512-byte part every 20 ms, p99",
                    f"blocking {pct(sync, 0.99) * 1e3:.2f} ms, "
                    f"asyncio {pct(asy, 0.99) * 1e3:.2f} ms",
                    f"bare `h2` round trip p99 {pct(base, 0.99) * 1e3:.2f} ms",
                ]
            )
            for name, xs in (("blocking Client", sync), ("AsyncClient    ", asy)):
                added50 = pct(xs, 0.5) - pct(base, 0.5)
                added99 = pct(xs, 0.99) - pct(base, 0.99)
                print(
                    f"  {name} : p50 {ms(pct(xs, 0.5))}  p99 {ms(pct(xs, 0.99))}   "
                    f"added p50 {ms(added50)}  p99 {ms(added99)}  (target p99 added <= 2 ms)"
                )

        if args.only in (None, 3):
            print(
                f"\n3. {streams} concurrent duplex streams on one AsyncClient, {per_stream} to "
                f"{stream_parts(streams - 1, streams, per_stream)} parts each (the ends spread), "
                "a 512-byte part every 20 ms per stream; peer: one stream alone on the same server"
            )
            light, light_url = (proc, url) if args.server == "light" else start_server("light")
            try:
                peer = asyncio.run(_latency_async(light_url, small))
                f = asyncio.run(_concurrent_floor(light_url, streams, per_stream, light.pid))
                r = asyncio.run(_concurrent(light_url, streams, per_stream, light.pid))
            finally:
                if light is not proc:
                    stop_server(light)
            report_concurrent("floor: bare h2 on asyncio, parts signed beforehand", f, peer)
            report_concurrent("smruntime, light echo server (measures the client)", r, peer)
            table.append(
                [
                    f"{streams} streams on one AsyncClient, light server: round trip p99 "
                    "(steady: every stream open)",
                    f"{pct(r.rtts or [float('nan')], 0.99) * 1e3:.2f} ms "
                    f"(steady {pct(r.steady, 0.99) * 1e3:.2f}), {r.ok} of {r.streams} complete",
                    "floor (bare `h2`, same schedule) "
                    f"{pct(f.rtts or [float('nan')], 0.99) * 1e3:.2f} ms "
                    f"(steady {pct(f.steady, 0.99) * 1e3:.2f})",
                ]
            )
            if f.parts and r.parts:
                cpu_ratio = (r.client / r.parts) / (f.client / f.parts)
                table.append(
                    [
                        "same, client CPU per part",
                        f"{r.client / r.parts * 1e6:.0f} µs ({cpu_ratio:.2f}x)",
                        f"floor {f.client / f.parts * 1e6:.0f} µs",
                    ]
                )
                print(
                    f"  ratio ours/floor: client CPU per part {cpu_ratio:.2f}x, "
                    f"round trip p99 {pct(r.rtts, 0.99) / pct(f.rtts, 0.99):.2f}x"
                )
            if args.server != "light":
                peer = asyncio.run(_latency_async(url, small))
                r = asyncio.run(_concurrent(url, streams, per_stream, proc.pid))
                report_concurrent(what, r, peer)
                table.append(
                    [
                        f"{streams} streams on one AsyncClient, {what}: round trip p99",
                        f"{pct(r.rtts or [float('nan')], 0.99) * 1e3:.2f} ms "
                        f"(steady {pct(r.steady, 0.99) * 1e3:.2f}), {r.ok} of {r.streams} "
                        "complete",
                        f"the server at {r.server / r.wall * 100:.0f} % of a core "
                        f"({r.server / r.parts * 1e6:.0f} µs/part)"
                        if r.parts
                        else "",
                    ]
                )
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f} (figures vary with the load)")
        readme_table(
            "HTTP/2 bidirectional streaming (bench/bench_duplex.py)",
            ("what", "figure", "against"),
            table,
        )
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
