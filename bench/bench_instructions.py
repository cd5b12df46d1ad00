"""The wire's CPU targets (issue #8) by instruction counts, which a shared VM's load does not move.

    python bench/bench_instructions.py [--quick]

``bench_wire.py`` times the client against its floors in CPU seconds; on this project's VMs the
same code moves by a fifth from one run to the next, and a target near its line flips. This
counts the instructions instead: each row runs in its own ``valgrind --tool=callgrind``
process (user-space instructions only: system calls and the kernel's TCP work are not counted)
against ``bench_wire``'s server in a child process, twice, with ``n`` and ``n + N`` operations,
and the difference divided by ``N`` is its cost per operation (start-up, imports and warm-up
cancel out). Rows and floors are ``bench_wire``'s:

1. A warm 1 KiB InvokeEndpoint on a keep-alive connection, per call, against the signed floor
   (a plain socket, a prepared request, a hand-parsed answer, and a SigV4 signature).
   Target: <= 2x.
2. A sync stream of events, per event, (a) each in its own HTTP chunk and (b) all in one chunk,
   against the floor (a plain socket, chunked framing decoded by hand, ``eventstream.Decoder``
   fed once per socket read). Targets: <= 1.3x and <= 1.2x.

Instructions are not time: a cache miss or a system call costs more than its count says, so
the ratios here sit below the timed ones when the client makes more system calls than its
floor (the client makes 4 a warm call, the floor 2). Needs ``valgrind`` (skipped without it);
takes about a minute (``--quick``: fewer operations, a few seconds less).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_wire  # noqa: E402

_CHILD = """
import sys
sys.path.insert(0, {here!r})
import bench_wire as bw
port, row, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if row == "invoke":
    c = bw.smruntime_client(port)
    op = lambda: c.invoke_endpoint(EndpointName="small", Body=b"{{}}")["Body"].read()
elif row == "invoke-floor":
    op = bw.FloorInvoke(port, True).call
elif row.startswith("stream-floor-"):
    op = lambda: bw.floor_stream(port, row[len("stream-floor-"):])
else:
    c = bw.smruntime_client(port)
    op = lambda: bw.stream_count(c, row[len("stream-"):])
for _ in range(count):
    op()
"""

_COLLECTED = re.compile(rb"Collected : (\d+)")


def instructions(port: int, row: str, count: int) -> int:
    """User-space instructions of a child process that runs ``row`` ``count`` times."""
    child = _CHILD.format(here=str(HERE))
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            "-c",
            child,
            str(port),
            row,
            str(count),
        ],
        capture_output=True,
        check=True,
    )
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind for {row}: {done.stderr[-500:]!r}")
    return int(found.group(1))


def per_op(port: int, row: str, base: int, extra: int) -> float:
    """Instructions per operation: the difference of two runs, ``base`` and ``base + extra``."""
    return (instructions(port, row, base + extra) - instructions(port, row, base)) / extra


def verdict(ratio: float, target: float) -> str:
    return f"target <= {target}x -> {'MET' if ratio <= target else 'MISSED'} ({ratio:.2f}x)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("bench_instructions: valgrind is not installed; skipped")
        return
    events = 2000 if args.quick else 20000
    calls = 300 if args.quick else 1000
    proc, port = bench_wire.start_server(events)
    try:
        print(f"python {sys.version.split()[0]}; instructions counted by callgrind")
        print(f"\n1. warm 1 KiB InvokeEndpoint, keep-alive: instructions per call ({calls} calls)")
        floor = per_op(port, "invoke-floor", 50, calls)
        ours = per_op(port, "invoke", 50, calls)
        print(f"   floor (socket + SigV4)        {floor:>10,.0f}   1.00x")
        print(f"   smruntime (default)           {ours:>10,.0f}   {ours / floor:.2f}x")
        print(f"   {verdict(ours / floor, 2.0)}")
        print(f"\n2. sync stream of {events:,} events: instructions per event (2 streams)")
        for name, label, target in (
            ("each", "each in its own chunk", 1.3),
            ("one", "in one chunk", 1.2),
        ):
            floor = per_op(port, f"stream-floor-{name}", 1, 2) / events
            ours = per_op(port, f"stream-{name}", 1, 2) / events
            print(f"   {label}:")
            print(f"     floor (socket + hand chunks)  {floor:>8,.0f}   1.00x")
            print(f"     smruntime (default)           {ours:>8,.0f}   {ours / floor:.2f}x")
            print(f"     {verdict(ours / floor, target)}")
    finally:
        proc.terminate()
        proc.join(5)


if __name__ == "__main__":
    main()
