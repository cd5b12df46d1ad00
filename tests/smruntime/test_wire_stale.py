"""Both HTTP/1.1 drivers against a server that closes idle keep-alive connections, and one
that closes right after reading a request on a reused connection, and name resolution held to
the connect deadline."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, Optional

import pytest

from smruntime.exceptions import ConnectionClosedError, ConnectTimeoutError
from smruntime.http import _dial
from smruntime.http._async import AsyncPool
from smruntime.http._config import Deadlines, WireConfig
from smruntime.http._sync import SyncPool
from tests.smruntime.hostile_server import HostileServer

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
HEADERS = [("content-type", "application/json")]


def closes_when_idle(sock: socket.socket, request: Optional[bytes]) -> bool:
    """Answer keep-alive (no Connection: close), then close the idle connection 50 ms later."""
    if request is None:
        return False
    sock.sendall(OK)
    time.sleep(0.05)
    return False


def sync_call(pool: SyncPool, url: str, method: str = "POST") -> bytes:
    response = pool.request(method, url, HEADERS, b"{}", deadlines=Deadlines(connect=5, total=10))
    return response.read()


async def async_call(pool: AsyncPool, url: str, method: str = "POST") -> bytes:
    response = await pool.request(
        method, url, HEADERS, b"{}", deadlines=Deadlines(connect=5, total=10)
    )
    return await response.read()


def test_sync_a_connection_closed_while_idle_is_replaced() -> None:
    with HostileServer(closes_when_idle) as srv:
        pool = SyncPool(WireConfig())
        try:
            for _ in range(3):
                assert sync_call(pool, srv.url + "/x") == b"{}"
                time.sleep(0.2)
        finally:
            pool.close()
    assert srv.connections == 3
    assert len(srv.requests) == 3


@pytest.mark.parametrize("loop_runs", [True, False])
def test_async_a_connection_closed_while_idle_is_replaced(loop_runs: bool) -> None:
    # loop_runs=False: the server's FIN sits in the kernel while the loop is blocked, so
    # the connection looks open to asyncio; the checkout sees the EOF waiting in its socket
    async def main() -> None:
        with HostileServer(closes_when_idle) as srv:
            pool = AsyncPool(WireConfig())
            try:
                for _ in range(3):
                    assert await async_call(pool, srv.url + "/x") == b"{}"
                    if loop_runs:
                        await asyncio.sleep(0.2)
                    else:
                        time.sleep(0.2)  # the loop does not run: no callback sees the close
            finally:
                pool.close()
                await asyncio.sleep(0)
            assert srv.connections == 3
            assert len(srv.requests) == 3  # each POST sent once, none on a dead connection

    asyncio.run(main())


class _Counting:
    """A handler: per connection, answer the first request, close silently on the second."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: dict[int, int] = {}

    def __call__(self, sock: socket.socket, request: Optional[bytes]) -> bool:
        if request is None:
            return False
        with self.lock:
            n = self.seen.get(id(sock), 0)
            self.seen[id(sock)] = n + 1
        if n == 0:
            sock.sendall(OK)
            return True
        return False


@pytest.mark.parametrize(("method", "resent"), [("POST", False), ("GET", True)])
def test_sync_zero_response_bytes_after_the_write_follow_may_resend(
    method: str, resent: bool
) -> None:
    with HostileServer(_Counting()) as srv:
        pool = SyncPool(WireConfig())
        try:
            assert sync_call(pool, srv.url + "/x", method) == b"{}"
            if resent:
                assert sync_call(pool, srv.url + "/x", method) == b"{}"
            else:
                with pytest.raises(ConnectionClosedError) as info:
                    sync_call(pool, srv.url + "/x", method)
                assert info.value.request_sent is True
        finally:
            pool.close()
    assert len(srv.requests) == (3 if resent else 2)


@pytest.mark.parametrize(("method", "resent"), [("POST", False), ("GET", True)])
def test_async_zero_response_bytes_after_the_write_follow_may_resend(
    method: str, resent: bool
) -> None:
    async def main() -> None:
        with HostileServer(_Counting()) as srv:
            pool = AsyncPool(WireConfig())
            try:
                assert await async_call(pool, srv.url + "/x", method) == b"{}"
                if resent:
                    assert await async_call(pool, srv.url + "/x", method) == b"{}"
                else:
                    with pytest.raises(ConnectionClosedError, match="not sent twice") as info:
                        await async_call(pool, srv.url + "/x", method)
                    assert info.value.request_sent is True
            finally:
                pool.close()
                await asyncio.sleep(0)
            assert len(srv.requests) == (3 if resent else 2)

    asyncio.run(main())


# -- name resolution within the connect deadline ------------------------------------------------


_DNS_ANSWERS = threading.Event()  # set: the slow resolver answers at once


@pytest.fixture
def slow_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """getaddrinfo takes 3 s for 'slow.invalid' (as a resolver with an unreachable server), or
    until ``_DNS_ANSWERS`` is set: by the test once the deadline was met, else at teardown."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        if host == "slow.invalid":
            asked.append(host)
            _DNS_ANSWERS.wait(3)
            return real("127.0.0.1", *args, **kw)
        return real(host, *args, **kw)

    _DNS_ANSWERS.clear()
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield asked
    _DNS_ANSWERS.set()


def test_sync_name_resolution_is_held_to_the_connect_deadline(slow_dns: list[str]) -> None:
    pool = SyncPool(WireConfig())
    started = time.monotonic()
    with pytest.raises(ConnectTimeoutError) as info:
        pool.request(
            "POST", "http://slow.invalid:9/x", HEADERS, b"{}", deadlines=Deadlines(connect=0.3)
        )
    assert time.monotonic() - started < 1.5
    assert slow_dns == ["slow.invalid"]
    assert info.value.request_sent is False
    assert "did not finish within the connect deadline" in str(info.value.__cause__)
    pool.close()


def test_async_name_resolution_is_held_to_the_connect_deadline(slow_dns: list[str]) -> None:
    async def main() -> None:
        pool = AsyncPool(WireConfig())
        started = time.monotonic()
        with pytest.raises(ConnectTimeoutError):
            await pool.request(
                "POST", "http://slow.invalid:9/x", HEADERS, b"{}", deadlines=Deadlines(connect=0.3)
            )
        assert time.monotonic() - started < 1.5
        assert slow_dns == ["slow.invalid"]
        pool.close()
        _DNS_ANSWERS.set()  # asyncio.run waits for the resolver's thread before it returns

    asyncio.run(main())


def test_h2_sync_name_resolution_is_held_to_the_connect_deadline(slow_dns: list[str]) -> None:
    pytest.importorskip("h2")
    from smruntime.http._h2_sync import open_stream

    started = time.monotonic()
    with pytest.raises(ConnectTimeoutError):
        open_stream("http://slow.invalid:9/x", "POST", HEADERS, connect_timeout=0.3)
    assert time.monotonic() - started < 1.5


def test_open_tcp_numeric_hosts_skip_the_resolver_thread_and_errors_pass_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_thread = _dial.threading.Thread

    def no_thread(*args: Any, **kw: Any) -> Any:
        raise AssertionError("a numeric host needs no resolver thread")

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        monkeypatch.setattr(_dial.threading, "Thread", no_thread)
        _dial.open_tcp("127.0.0.1", port, time.monotonic() + 5).close()
        _dial.open_tcp("localhost", port, None).close()  # no deadline: resolved in place
        monkeypatch.setattr(_dial.threading, "Thread", real_thread)
        # a name, within a deadline: through the thread (and every address tried in turn)
        _dial.open_tcp("localhost", port, time.monotonic() + 5).close()
    with pytest.raises(ConnectionRefusedError):
        _dial.open_tcp("127.0.0.1", port, time.monotonic() + 5)  # nobody listens now
    with pytest.raises(socket.timeout):
        _dial.open_tcp("localhost", port, time.monotonic() - 1)

    def fails(*args: Any, **kw: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fails)
    with pytest.raises(socket.gaierror):
        _dial.resolve("no-such-host.invalid", 80, time.monotonic() + 5)  # raised in the caller
    assert _dial.readable_now(-1) is True  # a closed descriptor counts as dropped


def test_a_connect_cut_short_by_the_total_deadline_names_it() -> None:
    """Both drivers name the limit that passed (here the total deadline, shorter than the
    connect timeout), during a TLS handshake that never comes."""
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never speaks TLS
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/x"
    limits = Deadlines(connect=5.0, total=0.4)
    try:
        pool = SyncPool(WireConfig())
        with pytest.raises(ConnectTimeoutError, match=r"after 0\.4 s \(the total deadline\)"):
            pool.request("POST", url, HEADERS, b"{}", deadlines=limits)
        pool.close()

        async def main() -> None:
            apool = AsyncPool(WireConfig())
            with pytest.raises(ConnectTimeoutError, match=r"after 0\.4 s \(the total deadline\)"):
                await apool.request("POST", url, HEADERS, b"{}", deadlines=limits)
            apool.close()

        asyncio.run(main())
    finally:
        listener.close()
