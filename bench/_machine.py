"""How fast this machine is today, in three figures a benchmark prints beside its own.

Machines of one kind differ: on 2026-12-03 bench_async's bare protocol took 19.2 us an event
on one VM of this project's kind (13:02 UTC) and 42 us on another (16:40 UTC), whose system
calls took 410 ns each (this line's figure). Ratios printed in one run stay comparable;
absolute figures, and targets in milliseconds or MB/s, should be read with these beside them.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Callable


def _best(run: Callable[[], None], rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
    return best


def speed() -> str:
    """One line: a Python loop step, a system call and a loopback TCP round of 100 bytes,
    each the best of five short runs (about 0.3 s in all)."""
    steps = 200_000

    def loop() -> None:
        total = 0
        for i in range(steps):
            total += i

    calls = 20_000
    getppid = getattr(os, "getppid", os.getpid)

    def syscalls() -> None:
        for _ in range(calls):
            getppid()

    rounds = 2_000
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        peer, _ = server.accept()
        with client, peer:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            data = b"x" * 100

            def tcp() -> None:
                for _ in range(rounds):
                    client.sendall(data)
                    peer.recv(4096)

            tcp_s = _best(tcp)
    return (
        f"machine speed: a Python loop step {_best(loop) / steps * 1e9:.0f} ns, "
        f"a system call {_best(syscalls) / calls * 1e9:.0f} ns, "
        f"a loopback TCP send + recv of 100 bytes {tcp_s / rounds * 1e6:.1f} us"
    )


if __name__ == "__main__":
    print(speed())
