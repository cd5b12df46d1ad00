"""The asyncio driver's parsing in ``buffer_updated`` (smruntime.http._async):
pipelined bytes, bodies larger than the read buffer, cuts, a consumer that stops reading,
cancellation, dripping servers; against raw asyncio loopback servers in the test's own loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, Callable

import pytest

from smruntime.exceptions import (
    ConnectionClosedError,
    ReadTimeoutError,
    RemoteProtocolError,
)
from smruntime.http._async import HIGH_WATER, READ_SIZE, AsyncPool, AsyncResponse
from smruntime.http._config import Deadlines, WireConfig

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
DEADLINES = Deadlines(connect=5, headers=5, between=5, total=10)


class Server:
    """An asyncio loopback server in the test's loop; counts the connections it accepted."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.server: Any = None
        self.port = 0

    async def __aenter__(self) -> Server:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/x"

    async def get(
        self, pool: AsyncPool, deadlines: Deadlines = DEADLINES, method: str = "GET"
    ) -> AsyncResponse:
        host = [("Host", f"127.0.0.1:{self.port}")]
        return await pool.request(method, self.url, host, b"", deadlines)


async def until_received(response: AsyncResponse, n: int) -> None:
    """Wait (briefly) until ``n`` response bytes arrived (the public count)."""
    for _ in range(200):
        if response.bytes_received >= n:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{response.bytes_received} of {n} bytes arrived")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


# -- a connection pooled while its reading was paused ------------------------------------------


def test_a_response_closed_unread_while_paused_leaves_a_usable_connection() -> None:
    async def main() -> None:
        step = asyncio.Event()
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % HIGH_WATER

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head)
            await step.wait()
            writer.write(b"b" * HIGH_WATER)  # the whole body after the head: reading pauses
            await reader.readuntil(b"\r\n\r\n")
            writer.write(ok(b"second"))
            await writer.drain()
            await asyncio.sleep(1)

        async with Server(handler) as srv:
            pool = AsyncPool(WireConfig())
            first = await srv.get(pool)
            step.set()
            await until_received(first, len(head) + HIGH_WATER)
            first.close()  # complete: pooled, its body never taken
            quick = Deadlines(connect=2, headers=0.5, between=0.5, total=1)
            second = await srv.get(pool, quick)
            assert await second.read() == b"second"
            assert srv.connections == 1

    run(main())


def test_an_async_body_closed_after_a_partial_read_leaves_a_usable_connection() -> None:
    from smruntime import Config
    from smruntime.aio import AsyncClient

    async def main() -> None:
        step = asyncio.Event()
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (100 + HIGH_WATER)
        replies = [head + b"q" * 100, ok(b'"second"')]

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while replies:
                request = await reader.readuntil(b"\r\n\r\n")
                length = int(request.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(replies.pop(0))
                if len(replies) == 1:
                    await step.wait()
                    writer.write(b"q" * HIGH_WATER)  # the rest: reading pauses at its end
                await writer.drain()
            await asyncio.sleep(1)

        async with Server(handler) as srv:
            client = AsyncClient(
                region_name="us-west-2",
                endpoint_url=srv.url.rsplit("/", 1)[0],
                aws_access_key_id="AKIDEXAMPLE",
                aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                config=Config(proxies={}, max_attempts=1, read_timeout=0.5),
                environ={},
            )
            first = await client.invoke_endpoint(EndpointName="e", Body=b"{}")
            assert await first["Body"].read(10) == b"q" * 10
            step.set()
            for _ in range(20):  # the rest of the body arrives
                await asyncio.sleep(0.005)
            first["Body"].close()
            second = await client.invoke_endpoint(EndpointName="e", Body=b"{}")
            assert await second["Body"].read() == b'"second"'
            await client.close()

    run(main())


def test_a_response_read_to_the_end_after_a_pause_pools_a_usable_connection() -> None:
    async def main() -> None:
        body = b"p" * (3 * HIGH_WATER)

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for reply in (ok(body), ok(b"again")):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(reply)
                await writer.drain()
            await asyncio.sleep(1)

        async with Server(handler) as srv:
            pool = AsyncPool(WireConfig())
            first = await srv.get(pool)
            await asyncio.sleep(0.05)  # the reader lags: reading paused at HIGH_WATER
            assert await first.read() == body
            second = await srv.get(pool)
            assert await second.read() == b"again"
            assert srv.connections == 1

    run(main())


# -- pipelined bytes, bodies larger than the read buffer -------------------------------------


def test_bytes_after_the_response_in_the_same_write_make_it_unreusable() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            # the response, then a whole unasked-for response, in one write
            writer.write(ok(b"one") + ok(b"unasked"))
            await writer.drain()
            try:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(ok(b"reused!"))
                await writer.drain()
            except asyncio.IncompleteReadError:
                pass
            await asyncio.sleep(0.5)

        async with Server(handler) as srv:
            pool = AsyncPool(WireConfig())
            first = await srv.get(pool)
            assert await first.read() == b"one"
            first.close()
            second = await srv.get(pool)
            assert await second.read() == b"one"  # a fresh connection's first answer
            assert srv.connections == 2  # the first connection was not pooled

    run(main())


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_many_read_buffers_long_arrives_whole(chunked: bool) -> None:
    body = bytes(range(256)) * (4 * READ_SIZE // 256 + 3)

    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            if chunked:
                wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                for i in range(0, len(body), 5000):
                    piece = body[i : i + 5000]
                    wire += b"%x\r\n%s\r\n" % (len(piece), piece)
                wire += b"0\r\n\r\n"
            else:
                wire = ok(body)
            writer.write(wire)  # one write: many reads of READ_SIZE
            await writer.drain()
            await asyncio.sleep(0.5)

        async with Server(handler) as srv:
            response = await srv.get(AsyncPool(WireConfig()))
            assert await response.read() == body

    run(main())


# -- cuts: an error, never a quiet end -------------------------------------------------------


def test_a_cut_inside_the_head_says_the_head() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Ty")
            await writer.drain()

        async with Server(handler) as srv:
            with pytest.raises(ConnectionClosedError) as info:
                await srv.get(AsyncPool(WireConfig()))
            assert "before the end of the body" not in str(info.value)
            assert "head" in str(info.value)

    run(main())


@pytest.mark.parametrize(
    "wire",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly-part",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    ],
)
@pytest.mark.parametrize("mode", ["read", "sink"])
def test_a_cut_inside_the_body_is_an_error(wire: bytes, mode: str) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(wire)
            await writer.drain()
            # then close (the Server's finally)

        async with Server(handler) as srv:
            response = await srv.get(AsyncPool(WireConfig()))
            # as the blocking driver says it (the parser's error, with its offset, as the cause)
            cut = "the connection closed before the end of the body"
            if mode == "read":
                with pytest.raises(ConnectionClosedError, match=cut) as info:
                    await response.read()
                assert isinstance(info.value.__cause__, RemoteProtocolError)
                return
            got: list[bytes] = []
            response.deliver_to(got.append)
            with pytest.raises(ConnectionClosedError, match=cut):
                while True:
                    waiter = response.read_nowait(time.monotonic() + 5)
                    if type(waiter) is bytes:
                        assert waiter != b"", "a quiet end after a cut"
                        continue
                    await waiter

    run(main())


# -- a consumer that stops reading ------------------------------------------------------------


@pytest.mark.parametrize("mode", ["read", "sink"])
def test_a_consumer_that_stops_reading_holds_a_bounded_amount(mode: str) -> None:
    async def main() -> None:
        sent = [0]

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            piece = b"%x\r\n%s\r\n" % (4096, b"z" * 4096)
            for _ in range(4096):  # 16 MiB offered; the kernel buffers only some
                writer.write(piece)
                sent[0] += len(piece)
                await writer.drain()

        async with Server(handler) as srv:
            response = await srv.get(AsyncPool(WireConfig()))
            got: list[bytes] = []
            if mode == "sink":
                response.deliver_to(got.append)
            await response.read_some() if mode == "read" else None
            for _ in range(10):
                await asyncio.sleep(0.02)
            held = response.bytes_received
            assert held <= 4 * HIGH_WATER + 2 * READ_SIZE, held
            assert sent[0] > held  # the server was held back, by TCP
            # what was queued before deliver_to, then under HIGH_WATER and one read past it
            assert sum(map(len, got)) < HIGH_WATER + 2 * READ_SIZE
            response.abort()

    run(main())


# -- cancellation -----------------------------------------------------------------------------


def test_a_read_cancelled_midway_closes_the_connection_and_never_pools_it() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                await writer.drain()
                await asyncio.sleep(0.3)
                writer.write(b"defghij")
                await writer.drain()

        async with Server(handler) as srv:
            pool = AsyncPool(WireConfig())
            response = await srv.get(pool)
            task = asyncio.ensure_future(response.read())
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            response.close()
            second = await srv.get(pool)
            await asyncio.sleep(0.4)
            assert await second.read() == b"abcdefghij"
            assert srv.connections == 2

    run(main())


# -- deadlines with a dripping server -------------------------------------------------------


@pytest.mark.parametrize("mode", ["read", "sink"])
def test_a_dripping_server_meets_the_total_deadline(mode: str) -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            while True:
                writer.write(b"1\r\nd\r\n")
                await writer.drain()
                await asyncio.sleep(0.02)

        async with Server(handler) as srv:
            deadlines = Deadlines(connect=2, headers=2, between=0.2, total=0.5)
            started = time.monotonic()
            response = await srv.get(AsyncPool(WireConfig()), deadlines)
            with pytest.raises(ReadTimeoutError) as info:
                if mode == "read":
                    await response.read()
                else:
                    response.deliver_to(lambda data: None)
                    while True:  # the stream core's way: its own deadline (none), the total
                        waiter = response.read_nowait(None)
                        if type(waiter) is bytes:
                            continue
                        await waiter
            elapsed = time.monotonic() - started
            assert 0.45 <= elapsed <= 1.5, elapsed
            assert "total" in str(info.value)

    run(main())


# -- a sink that raises -----------------------------------------------------------------------


def test_after_the_sink_raised_no_later_bytes_are_handed_out() -> None:
    async def main() -> None:
        step = asyncio.Event()
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        first, second = b"4\r\nAAAA\r\n", b"4\r\nBBBB\r\n"

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head)
            await step.wait()
            writer.write(first)
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(second)
            await writer.drain()
            await asyncio.sleep(1)

        async with Server(handler) as srv:
            response = await srv.get(AsyncPool(WireConfig()))
            given: list[bytes] = []

            def sink(data: bytes) -> None:
                given.append(data)
                if len(given) == 1:
                    raise RuntimeError("the sink refused its first piece")

            response.deliver_to(sink)
            step.set()
            await until_received(response, len(head) + len(first) + len(second))
            with pytest.raises(RuntimeError, match="refused"):
                got = response.read_nowait(None)
                assert got != b"BBBB", "bytes after the refused piece handed out"

    run(main())


def test_a_head_dripped_byte_by_byte_meets_the_headers_deadline() -> None:
    async def main() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            head = b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"p" * 5000
            for byte in head:
                writer.write(bytes((byte,)))
                await writer.drain()
                await asyncio.sleep(0.005)

        async with Server(handler) as srv:
            deadlines = Deadlines(connect=2, headers=0.3, between=5, total=5)
            started = time.monotonic()
            with pytest.raises(ReadTimeoutError, match="response head"):
                await srv.get(AsyncPool(WireConfig()), deadlines)
            assert 0.25 <= time.monotonic() - started <= 1.3

    run(main())


# -- a close-delimited body cut by a reset ----------------------------------------------------


def test_a_close_delimited_body_cut_by_a_reset_is_an_error() -> None:
    import socket
    import struct
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    body_arrived = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npartial body")
            body_arrived.wait(5)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            conn.close()  # a reset (linger 0), not a FIN

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def main() -> None:
        pool = AsyncPool(WireConfig())
        url = f"http://127.0.0.1:{port}/x"
        response = await pool.request("GET", url, [("Host", "x")], b"", DEADLINES)
        await until_received(response, 38 + len(b"partial body"))
        assert await response.read_some() == b"partial body"
        body_arrived.set()
        with pytest.raises(ConnectionClosedError):
            await response.read_some()

    try:
        run(main())
    finally:
        body_arrived.set()
        thread.join(5)
        listener.close()
