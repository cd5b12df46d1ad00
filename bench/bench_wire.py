"""The wire (issue #8): smruntime's own HTTP/1.1 client against its floors and peers, in one run.

    python bench/bench_wire.py [--quick] [--skip-boto3] [--sections 2,4]

The server runs in a child process; CPU is this process's time (all its threads). Tables:

1. A sync stream of 20,000 PayloadPart events, (a) each event in its own HTTP chunk (how models
   stream tokens) and (b) all in one chunk. Floor: a plain socket, the chunked framing decoded
   by hand, ``eventstream.Decoder`` fed once per socket read. Peers: the requests transport and
   boto3. Targets: each-chunk <= 1.3x the floor and <= 1/4 of boto3; one chunk <= 1.2x the floor.
2. Warm 1 KiB InvokeEndpoint on a keep-alive connection: CPU per call. Floors: a plain socket
   with a prepared request and a hand-parsed Content-Length answer, and the same plus a SigV4
   signature (a real client must sign). Target: <= 2x the floor.
3. 200 streams at once in 200 threads on one client (each 100 events): total CPU vs boto3 in
   threads. Target: <= boto3.
4. Memory per open stream: 200 streams opened (headers and a first event read) and held;
   traced Python allocations per stream. Target: <= 16 KiB.

Figures vary with the machine and its load; read the ratios printed in one run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import multiprocessing
import socket
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _rows import readme_table  # noqa: E402

from eventstream import Decoder, Message, encode  # noqa: E402
from sigv4 import Credentials, sign  # noqa: E402

HEADERS = [
    (":event-type", "PayloadPart"),
    (":content-type", "application/octet-stream"),
    (":message-type", "event"),
]
KEY, SECRET, REGION = "AKIDBENCH", "bench-secret-key", "us-east-1"
TOKEN = encode(Message(HEADERS, b'data: {"token": {"text": " tok"}}\n\n'))
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
    b"X-Amzn-SageMaker-Content-Type: text/event-stream\r\n"
    b"x-amzn-RequestId: r\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def _bodies(events: int) -> dict[bytes, bytes]:
    each = b"".join(b"%x\r\n%s\r\n" % (len(TOKEN), TOKEN) for _ in range(events)) + b"0\r\n\r\n"
    bulk = TOKEN * events
    one = b"%x\r\n%s\r\n0\r\n\r\n" % (len(bulk), bulk)
    small_stream = TOKEN * 100
    json_1k = b'{"generated_text": "' + b"x" * 1000 + b'"}'
    return {
        b"each": STREAM_HEAD + each,
        b"one": STREAM_HEAD + one,
        b"hundred": STREAM_HEAD + b"%x\r\n%s\r\n0\r\n\r\n" % (len(small_stream), small_stream),
        b"small": (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nx-amzn-RequestId: r\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(json_1k), json_1k)
        ),
    }


def _serve_conn(conn: socket.socket, bodies: dict[bytes, bytes], hold: threading.Event) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = conn.makefile("rb")
    try:
        while True:
            line = reader.readline()
            if not line:
                return
            length = 0
            while True:
                header = reader.readline()
                if header in (b"\r\n", b""):
                    break
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            reader.read(length)
            name = line.split(b"/")[2] if line.count(b"/") > 2 else b"small"
            if name == b"held":  # headers and one event, then wait (memory per open stream)
                conn.sendall(STREAM_HEAD + b"%x\r\n%s\r\n" % (len(TOKEN), TOKEN))
                hold.wait(120)
                conn.sendall(b"0\r\n\r\n")
                continue
            conn.sendall(bodies.get(name, bodies[b"small"]))
    except OSError:
        pass
    finally:
        conn.close()


def _server(port_queue: Any, events: int) -> None:
    bodies = _bodies(events)
    hold = threading.Event()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    port_queue.put(listener.getsockname()[1])
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_serve_conn, args=(conn, bodies, hold), daemon=True).start()


def start_server(events: int) -> tuple[Any, int]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_server, args=(queue, events), daemon=True)
    proc.start()
    return proc, int(queue.get(timeout=30))


def smruntime_client(port: int, transport: str | None = None, **config: Any) -> Any:
    import smruntime

    return smruntime.Client(
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        transport=transport,
        config=smruntime.Config(max_attempts=1, **config),
        environ={},
    )


def boto3_client(port: int, pool: int = 10) -> Any:
    import boto3
    import botocore.config

    return boto3.client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=botocore.config.Config(max_pool_connections=pool, retries={"max_attempts": 1}),
    )


# -- floors -----------------------------------------------------------------------------------


def _request(path: str, body: bytes = b"{}", extra: bytes = b"") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


def floor_stream(port: int, name: str) -> int:
    """Plain socket; chunked framing by hand; the decoder fed once per socket read."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(_request(f"/endpoints/{name}/invocations-response-stream"))
    decoder = Decoder()
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    buf = buf[buf.index(b"\r\n\r\n") + 4 :]
    count = 0
    left = 0  # bytes of the current chunk still to come
    crlf = 0  # bytes of the CRLF after a chunk still to skip
    done = False
    while not done:
        out = []
        pos = 0
        while True:
            if crlf:
                skip = min(crlf, len(buf) - pos)
                pos += skip
                crlf -= skip
                if crlf:
                    break
                continue
            if left:
                take = min(left, len(buf) - pos)
                if not take:
                    break
                out.append(buf[pos : pos + take])
                pos += take
                left -= take
                if left:
                    break
                crlf = 2
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(buf[pos:eol], 16)
            pos = eol + 2
            if size == 0:
                done = True
                break
            left = size
        if out:
            count += len(decoder.feed(b"".join(out)))
        buf = buf[pos:]
        if not done:
            data = sock.recv(65536)
            if not data:
                break
            buf += data
    sock.close()
    return count


class FloorInvoke:
    """Keep-alive plain socket: a prepared request, the answer parsed by hand.

    Signed, it holds its credentials as any client does, so the signing key is derived once
    a day, not once a call (until 2026-12-04 a new ``Credentials`` per call re-derived it: four
    HMACs and the object, about 40,000 instructions a call, which flattered the ratio)."""

    def __init__(self, port: int, signed: bool) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.signed = signed
        self.credentials = Credentials(KEY, SECRET)
        self.url = f"http://127.0.0.1:{port}/endpoints/small/invocations"

    def call(self) -> bytes:
        extra = b""
        if self.signed:
            signed = sign(
                "POST",
                self.url,
                [("Content-Type", "application/json")],
                b"{}",
                credentials=self.credentials,
                region=REGION,
                service="sagemaker",
                now=dt.datetime.now(dt.timezone.utc),
            )
            extra = "".join(f"{k}: {v}\r\n" for k, v in signed.headers).encode()
        self.sock.sendall(_request("/endpoints/small/invocations", extra=extra))
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self.sock.recv(65536)
        head, _, body = buf.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            body += self.sock.recv(65536)
        return body


# -- measurements -----------------------------------------------------------------------------


def cpu(fn: Callable[[], Any], rounds: int) -> float:
    """The smallest process time of ``rounds`` runs (the least disturbed by the load)."""
    return cpu_rows({"": fn}, rounds)[""]


def cpu_rows(fns: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """:func:`cpu` of each row, the rows taking turns round by round: a shared VM's speed
    drifts over seconds, and a floor measured a minute before the client it is held against
    turns that drift into the ratio."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for label, fn in fns.items():
            gc.collect()
            start = time.process_time()
            fn()
            best[label] = min(best[label], time.process_time() - start)
    return best


def stream_count(client: Any, name: str) -> int:
    body = client.invoke_endpoint_with_response_stream(EndpointName=name, Body=b"{}")["Body"]
    return sum(1 for _ in body)


def bench_stream(
    port: int, events: int, rounds: int, with_boto3: bool
) -> dict[str, dict[str, float]]:
    """Per shape ("each", "one"): seconds of CPU per row."""
    shapes: dict[str, dict[str, float]] = {}
    print(
        f"\n1. sync stream of {events:,} events: CPU µs per event (best of {rounds}, "
        "the rows taking turns)"
    )
    ours = smruntime_client(port)
    req = smruntime_client(port, "requests")
    b3 = boto3_client(port) if with_boto3 else None
    for name, label, target in (
        ("each", "each in its own chunk", 1.3),
        ("one", "in one chunk", 1.2),
    ):
        assert floor_stream(port, name) == events
        assert stream_count(ours, name) == events
        fns: dict[str, Callable[[], Any]] = {
            "floor (socket + hand chunks)": lambda n=name: floor_stream(port, n),
            "smruntime (default)": lambda n=name: stream_count(ours, n),
            "smruntime (requests)": lambda n=name: stream_count(req, n),
        }
        if b3 is not None:
            fns["boto3"] = lambda n=name: stream_count(b3, n)
        rows = cpu_rows(fns, rounds)
        shapes[name] = rows
        floor = rows["floor (socket + hand chunks)"]
        print(f"   {label}:")
        print(f"     {'':<30}{'µs/event':>10}{'vs floor':>10}{'vs boto3':>10}")
        for row, seconds in rows.items():
            vs_b3 = f"{seconds / rows['boto3']:.2f}x" if "boto3" in rows else "-"
            print(
                f"     {row:<30}{seconds / events * 1e6:>10.2f}{seconds / floor:>9.2f}x{vs_b3:>10}"
            )
        ratio = rows["smruntime (default)"] / floor
        verdict = "MET" if ratio <= target else "MISSED"
        print(f"     target: default <= {target}x the floor -> {verdict} ({ratio:.2f}x)")
        if name == "each" and "boto3" in rows:
            quarter = rows["smruntime (default)"] <= rows["boto3"] / 4
            print(f"     target: default <= 1/4 of boto3 -> {'MET' if quarter else 'MISSED'}")
    ours.close()
    req.close()
    return shapes


def bench_invoke(port: int, calls: int, rounds: int, with_boto3: bool) -> dict[str, float]:
    """Seconds of CPU per call, per row."""
    print(
        f"\n2. warm 1 KiB InvokeEndpoint, keep-alive: CPU µs per call ({calls} calls, "
        f"best of {rounds}, the rows taking turns)"
    )
    ours = smruntime_client(port)
    req = smruntime_client(port, "requests")
    b3 = boto3_client(port) if with_boto3 else None

    def ours_call(client: Any) -> None:
        client.invoke_endpoint(EndpointName="small", Body=b"{}")["Body"].read()

    floors = {
        "floor (socket)": FloorInvoke(port, False),
        "floor (socket + SigV4)": FloorInvoke(port, True),
    }
    fns: dict[str, Callable[[], Any]] = {}
    for label, floor in floors.items():
        floor.call()
        fns[label] = lambda f=floor: [f.call() for _ in range(calls)]
    for label, client in (
        ("smruntime (default)", ours),
        ("smruntime (requests)", req),
        ("boto3", b3),
    ):
        if client is None:
            continue
        ours_call(client)
        fns[label] = lambda c=client: [ours_call(c) for _ in range(calls)]
    rows = {label: seconds / calls for label, seconds in cpu_rows(fns, rounds).items()}
    base = rows["floor (socket + SigV4)"]
    print(f"   {'':<30}{'µs/call':>10}{'vs signed floor':>17}")
    for label, seconds in rows.items():
        print(f"   {label:<30}{seconds * 1e6:>10.1f}{seconds / base:>16.2f}x")
    ratio = rows["smruntime (default)"] / base
    print(f"   target: default <= 2x the signed floor -> {'MET' if ratio <= 2 else 'MISSED'}")
    ours.close()
    req.close()
    return rows


def _threads(n: int, fn: Callable[[int], Any]) -> None:
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def bench_threads(port: int, streams: int, with_boto3: bool) -> dict[str, float]:
    """Seconds of CPU for all the streams, per row."""
    print(f"\n3. {streams} streams x 100 events in {streams} threads on one client: CPU")
    rows = {}
    ours = smruntime_client(port, max_pool_connections=streams)
    rows["smruntime (default)"] = cpu(
        lambda: _threads(streams, lambda i: stream_count(ours, "hundred")), 3
    )
    if with_boto3:
        b3 = boto3_client(port, pool=streams)
        rows["boto3"] = cpu(lambda: _threads(streams, lambda i: stream_count(b3, "hundred")), 3)
    print(f"   {'':<30}{'CPU ms':>10}{'vs boto3':>10}")
    for label, seconds in rows.items():
        vs = f"{seconds / rows['boto3']:.2f}x" if "boto3" in rows else "-"
        print(f"   {label:<30}{seconds * 1e3:>10.1f}{vs:>10}")
    if "boto3" in rows:
        met = rows["smruntime (default)"] <= rows["boto3"]
        print(f"   target: CPU <= boto3's -> {'MET' if met else 'MISSED'}")
    ours.close()
    return rows


def bench_memory(port: int, streams: int) -> float:
    """Traced bytes per open stream."""
    print(f"\n4. memory per open stream ({streams} streams open, headers and one event read)")
    client = smruntime_client(port, max_pool_connections=streams)
    stream_count(client, "hundred")  # warm: imports, first connection
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    held = []
    for _ in range(streams):
        body = client.invoke_endpoint_with_response_stream(EndpointName="held", Body=b"{}")["Body"]
        it = iter(body)
        next(it)
        held.append((body, it))
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    per = grown / streams
    print(f"   traced Python memory per open stream: {per / 1024:.1f} KiB")
    print(f"   target: <= 16 KiB -> {'MET' if per <= 16 * 1024 else 'MISSED'}")
    for body, _ in held:
        body.close()
    client.close()
    return per


def readme(
    events: int,
    shapes: dict[str, dict[str, float]],
    invoke: dict[str, float],
    threads: dict[str, float],
    streams: int,
    memory: float,
) -> None:
    """The README's table of the wire (printed by bench/report.py)."""

    def cells(cpu_s: dict[str, float], per: float, digits: int, floor: float, x: str) -> list[str]:
        out = []
        for label in ("smruntime (default)", "smruntime (requests)", "boto3"):
            seconds = cpu_s.get(label)
            out.append(
                "" if seconds is None else f"{seconds * per:.{digits}f} ({seconds / floor:.2f}x{x})"
            )
        return out

    rows: list[list[str]] = []
    for name, what in (
        ("each", f"stream {events:,} events, each in its own HTTP chunk (µs/event)"),
        ("one", f"stream {events:,} events in one chunk (µs/event)"),
    ):
        floor = shapes[name]["floor (socket + hand chunks)"]
        per_event = 1e6 / events
        rows.append(
            [what, f"{floor * per_event:.2f}", *cells(shapes[name], per_event, 2, floor, "")]
        )
    signed = invoke["floor (socket + SigV4)"]
    rows.append(
        [
            "warm 1 KiB InvokeEndpoint, keep-alive (µs CPU/call)",
            f"{invoke['floor (socket)'] * 1e6:.1f} ({signed * 1e6:.1f} signed)",
            *cells(invoke, 1e6, 1, signed, " signed"),
        ]
    )
    ours = threads["smruntime (default)"]
    b3 = threads.get("boto3")
    vs = f" ({ours / b3:.2f}x boto3)" if b3 else ""
    rows.append(
        [
            f"{streams} streams x 100 events in {streams} threads (ms CPU)",
            "",
            f"{ours * 1e3:.1f}{vs}",
            "",
            f"{b3 * 1e3:.1f}" if b3 else "",
        ]
    )
    rows.append(["memory per open stream (traced)", "", f"{memory / 1024:.1f} KiB", "", ""])
    readme_table(
        "The wire (bench/bench_wire.py)",
        ("what", "floor", "smruntime", "requests transport", "boto3"),
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and events")
    parser.add_argument("--skip-boto3", action="store_true")
    parser.add_argument(
        "--sections", default="1,2,3,4", help="the tables to run, comma-separated (default: all)"
    )
    args = parser.parse_args()
    events = 2000 if args.quick else 20000
    rounds = 2 if args.quick else 7
    with_boto3 = not args.skip_boto3
    sections = {int(s) for s in args.sections.split(",")}
    if with_boto3:
        try:
            import boto3  # noqa: F401
        except ImportError:
            with_boto3 = False
    proc, port = start_server(events)
    try:
        print(
            f"python {sys.version.split()[0]}; figures from one run (a loaded machine skews them)"
        )
        streams = 50 if args.quick else 200
        if sections != {1, 2, 3, 4}:  # a part only: its tables, no README table
            if 1 in sections:
                bench_stream(port, events, rounds, with_boto3)
            if 2 in sections:
                bench_invoke(port, 200 if args.quick else 1000, rounds, with_boto3)
            if 3 in sections:
                bench_threads(port, streams, with_boto3)
            if 4 in sections:
                bench_memory(port, streams)
            return
        shapes = bench_stream(port, events, rounds, with_boto3)
        invoke = bench_invoke(port, 200 if args.quick else 1000, rounds, with_boto3)
        threads = bench_threads(port, streams, with_boto3)
        memory = bench_memory(port, streams)
        readme(events, shapes, invoke, threads, streams, memory)
    finally:
        proc.terminate()
        proc.join(5)


if __name__ == "__main__":
    main()
