"""InvokeEndpointWithBidirectionalStream benchmarks: throughput, added latency, concurrency.

    python bench/bench_duplex.py [--quick]

The server runs in a child process, so the process times below are the client's alone. By
default it is the emulator's HTTP/2 side (``smruntime.emulator``, h2c on loopback, model
``echo``), which verifies the request's signature and every chained event signature as the
service would; ``--server echo`` uses the tests' lighter HTTP/2 server instead (it unwraps and
echoes the parts without verifying anything). Prints:

1. Throughput: 64 KiB parts echoed on one stream, MB/s each way (the echo moves the same bytes
   back), and the client's CPU per part against a floor: ``h2`` alone (client side of an
   in-memory connection pair) moving the same DATA frames both ways, no sockets, no signing,
   no event-stream codec. Target: >= 200 MB/s each way. The server is pure Python too, and
   on a loaded 2-core machine it is usually the bottleneck: read MB/s with the CPU figures.
2. Added latency: a 512-byte part every 20 ms, echoed; round trip p50/p99 for the blocking and
   the asyncio client against a floor (a bare ``h2`` connection on a blocking socket sending
   pre-signed messages to the same server). Target: p99 added <= 2 ms.
3. 100 concurrent duplex streams on one AsyncClient, each sending 512-byte parts every 20 ms
   (their starts spread over the period): all complete, round trip p50/p99 (target p99 <= 5 ms),
   against the single-stream asyncio figure of table 2 as its peer. 100 streams are 5,000
   parts a second each way through a pure-Python server sharing the same 2 cores.

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

from eventstream import Message, encode  # noqa: E402

PART = 64 * 1024
SMALL = 512
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


def throughput(url: str, parts: int) -> tuple[float, float]:
    """(MB/s each way, client CPU seconds per part)."""
    payload = os.urandom(PART)
    with client(url) as c:
        resp = c.invoke_endpoint_with_bidirectional_stream(EndpointName="bench")
        stream = resp["Body"]
        cpu0, t0 = time.process_time(), time.perf_counter()

        def send() -> None:
            for _ in range(parts):
                stream.send(payload, DataType="BINARY")
            stream.close_input()

        sender = threading.Thread(target=send)
        sender.start()
        received = 0
        for event in stream:
            received += len(event["PayloadPart"]["Bytes"])
        sender.join()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        stream.close()
    assert received == parts * PART, received
    return parts * PART / elapsed / 1e6, cpu / parts


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


async def _concurrent(url: str, streams: int, parts: int) -> tuple[int, list[float]]:
    from smruntime.aio import AsyncClient

    ac = AsyncClient.from_client(client(url))
    rtts: list[float] = []

    async def one(n: int) -> bool:
        # streams spread over the 20 ms period, as independent speakers would be
        await asyncio.sleep(0.02 * n / streams)
        resp = await ac.invoke_endpoint_with_bidirectional_stream(EndpointName="bench")
        async with resp["Body"] as stream:
            for _ in range(parts):
                t = time.perf_counter()
                await stream.send(os.urandom(SMALL))
                await stream.__anext__()
                rtts.append(time.perf_counter() - t)
                await asyncio.sleep(0.02)
            await stream.close_input()
            rest = [e async for e in stream]
        return rest == []

    done = await asyncio.gather(*(one(n) for n in range(streams)), return_exceptions=True)
    ok = sum(1 for d in done if d is True)
    errors = [d for d in done if isinstance(d, BaseException)]
    if errors:
        print(f"  first failure: {errors[0]!r}")
    return ok, rtts


def ms(x: float) -> str:
    return f"{x * 1000:7.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--server",
        choices=("emulator", "echo"),
        default="emulator",
        help="the emulator, verifying every signature (default), or the tests' bare echo",
    )
    args = ap.parse_args()
    parts = 300 if args.quick else 1500
    small = 50 if args.quick else 200
    streams, per_stream = 100, (10 if args.quick else 25)
    os.environ.setdefault("NO_PROXY", "127.0.0.1")
    proc, url = start_server(args.server)
    try:
        what = "the emulator, signatures verified" if args.server == "emulator" else "bare echo"
        print(f"server (child process, h2c, {what}): {url}")
        print("\n1. throughput, 64 KiB parts echoed on one stream")
        server0 = process_cpu(proc.pid)
        mbps, cpu_part = throughput(url, parts)
        server_part = (process_cpu(proc.pid) - server0) / parts
        floor = h2_floor(parts)
        print(f"  smruntime : {mbps:8.1f} MB/s each way   client CPU {cpu_part * 1e6:8.1f} us/part")
        print(f"  server    : {'':8} {'':14}     its CPU    {server_part * 1e6:8.1f} us/part")
        print(f"  h2 floor  : {'':8} {'':14}     client CPU {floor * 1e6:8.1f} us/part")
        print(f"  ratio ours/floor CPU per part: {cpu_part / floor:.2f}x  (target: >= 200 MB/s)")

        print("\n2. added latency, a 512-byte part every 20 ms, echoed (round trip)")
        base = latency_floor(url, small)
        sync = latency_sync(url, small)
        asy = asyncio.run(_latency_async(url, small))
        print(f"  floor (bare h2) : p50 {ms(pct(base, 0.5))}  p99 {ms(pct(base, 0.99))}")
        for name, xs in (("blocking Client", sync), ("AsyncClient    ", asy)):
            added50 = pct(xs, 0.5) - pct(base, 0.5)
            added99 = pct(xs, 0.99) - pct(base, 0.99)
            print(
                f"  {name} : p50 {ms(pct(xs, 0.5))}  p99 {ms(pct(xs, 0.99))}   "
                f"added p50 {ms(added50)}  p99 {ms(added99)}  (target p99 added <= 2 ms)"
            )

        print(
            f"\n3. {streams} concurrent duplex streams on one AsyncClient, {per_stream} parts each"
        )
        t0, cpu0 = time.perf_counter(), time.process_time()
        ok, rtts = asyncio.run(_concurrent(url, streams, per_stream))
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        print(
            f"  completed {ok}/{streams} in {wall:.2f} s; round trip p50 {ms(pct(rtts, 0.5))} "
            f"p99 {ms(pct(rtts, 0.99))} (target p99 <= 5 ms); "
            f"single-stream peer p99 {ms(pct(asy, 0.99))}"
        )
        print(
            f"  client CPU {cpu / max(1, len(rtts)) * 1e6:.0f} us per part round trip "
            f"({cpu / wall * 100:.0f}% of one core over the run, connection set-up included)"
        )
        print(
            f"\nmedian single-stream async rtt {ms(statistics.median(asy))}; "
            "figures taken on whatever load this machine has now"
        )
    finally:
        stop_server(proc)


if __name__ == "__main__":
    main()
