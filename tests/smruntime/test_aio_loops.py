"""One AsyncClient over several event loops: a loop that ended keeps no socket, no loop alive;
``close()`` closes the idle connections of a loop running in another thread in that loop; a
client dropped without ``close()`` closes its idle connections while its loop runs."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from tests.smruntime.hostile_server import HostileServer, echo
from tests.smruntime.test_aio_wire import call, make_client

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture(autouse=True)
def _transports_collected_here() -> Iterator[None]:
    """The transports of loops that ended (what these tests make) warn when collected: they
    are collected before the test ends, with that warning silenced, not in a later test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield
        gc.collect()


def sockets_to(port: int) -> int:
    """This process's TCP sockets connected to 127.0.0.1:``port`` (open file descriptors)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    with open("/proc/net/tcp") as table:
        for line in table.read().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].split(":")[1], 16) == port and fields[9] in inodes:
                count += 1
    return count


def emulator_client_kwargs(emu: Any) -> dict[str, object]:
    """A client's arguments for ``emu`` (an ``Emulator``): its URL, region and key pair."""
    from smruntime import Config

    creds = emu.credentials
    return {
        "region_name": emu.region,
        "endpoint_url": emu.url,
        "aws_access_key_id": creds.access_key_id,
        "aws_secret_access_key": creds.secret_access_key,
        "environ": {},
        "config": Config(proxies={}),
    }


def settled(port: int, most: int) -> int:
    for _ in range(100):
        gc.collect()
        if sockets_to(port) <= most:
            break
        time.sleep(0.02)
    return sockets_to(port)


def test_a_client_over_many_asyncio_runs_keeps_no_ended_loop() -> None:
    with HostileServer(echo) as srv, warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # (collected transports say so)
        client = make_client(srv.url)
        for i in range(20):
            assert asyncio.run(call(client, b'{"n": %d}' % i)) == b'{"n": %d}' % i
        # each run's connection went when the next run's first call found its loop closed
        assert settled(srv.port, 1) <= 1
        gc.collect()
        ended = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]
        assert sum(loop.is_closed() for loop in ended) <= 1

        async def close() -> None:
            await client.close()

        asyncio.run(close())  # and close() lets go of the last one
        assert settled(srv.port, 0) == 0


def test_close_from_one_loop_closes_another_threads_idle_connections() -> None:
    with HostileServer(echo) as srv:
        client = make_client(srv.url)
        other = asyncio.new_event_loop()
        thread = threading.Thread(target=other.run_forever, daemon=True)
        thread.start()
        try:
            done = asyncio.run_coroutine_threadsafe(call(client, b"{}"), other)
            assert done.result(10) == b"{}"
            assert sockets_to(srv.port) == 1  # idle in the other loop's pool

            async def close() -> None:
                other.set_debug(True)  # a call from this thread into it would raise
                await client.close()

            asyncio.run(close())
            assert settled(srv.port, 0) == 0
        finally:
            other.call_soon_threadsafe(other.stop)
            thread.join(10)
            other.close()


def test_a_client_dropped_without_close_lets_its_connections_go() -> None:
    with HostileServer(echo) as srv:

        async def main() -> int:
            for _ in range(5):
                client = make_client(srv.url)
                assert await call(client, b"{}") == b"{}"
                del client
            gc.collect()
            for _ in range(50):
                await asyncio.sleep(0.01)  # the aborts run in the loop
                if sockets_to(srv.port) == 0:
                    break
            return sockets_to(srv.port)

        assert asyncio.run(main()) == 0


def test_a_dropped_duplex_stream_whose_body_waits_on_a_live_queue_lets_go() -> None:
    pytest.importorskip("h2")
    from smruntime.aio import AsyncClient
    from smruntime.emulator import Emulator

    async def audio(queue: asyncio.Queue[bytes]) -> Any:
        while True:
            yield await queue.get()

    async def main(emu: Emulator, port: int) -> int:
        client = AsyncClient(**emulator_client_kwargs(emu))  # type: ignore[arg-type]
        held = []  # the app keeps its queues (a producer elsewhere)
        for _ in range(3):
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            response = await client.invoke_endpoint_with_bidirectional_stream(
                EndpointName="echo", Body=audio(queue)
            )
            stream = response["Body"]
            queue.put_nowait(b"x")
            async for _event in stream:
                break
            held.append(queue)
            del response, stream
        for _ in range(100):
            gc.collect()
            await asyncio.sleep(0.01)
            if sockets_to(port) == 0:
                break
        left = sockets_to(port)
        await client.close()
        return left

    with Emulator() as emu, warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        port = int(emu.url.rsplit(":", 1)[1])
        assert asyncio.run(main(emu, port)) == 0


def test_a_dropped_blocking_duplex_stream_whose_body_blocks_on_a_live_queue_lets_go() -> None:
    pytest.importorskip("h2")
    import queue as queue_mod

    from smruntime import Client
    from smruntime.emulator import Emulator

    def audio(source: queue_mod.Queue[bytes]) -> Any:
        while True:
            yield source.get()

    with Emulator() as emu, warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        port = int(emu.url.rsplit(":", 1)[1])
        client = Client(**emulator_client_kwargs(emu))  # type: ignore[arg-type]
        held = []
        for _ in range(3):
            source: queue_mod.Queue[bytes] = queue_mod.Queue()
            response = client.invoke_endpoint_with_bidirectional_stream(
                EndpointName="echo", Body=audio(source)
            )
            stream = response["Body"]
            source.put(b"x")
            for _event in stream:
                break
            held.append(source)
            del response, stream
        assert settled(port, 0) == 0
        client.close()


def test_threads_each_running_their_own_loops_share_one_client() -> None:
    # every new loop drops the ended ones: done by two threads at once, it raised KeyError
    with HostileServer(echo) as srv, warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        client = make_client(srv.url)
        errors: list[BaseException] = []
        old = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)  # (thread switches inside the pool's bookkeeping)

        def worker(n: int) -> None:
            for i in range(25):
                try:
                    body = b'{"t": %d, "i": %d}' % (n, i)
                    assert asyncio.run(call(client, body)) == body
                except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                    errors.append(exc)

        try:
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        finally:
            sys.setswitchinterval(old)
        assert errors == []
