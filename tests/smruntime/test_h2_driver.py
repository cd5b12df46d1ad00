"""The HTTP/2 drivers (blocking and asyncio) against the hostile test server: overlap, flow
control, GOAWAY, RST_STREAM, TLS with ALPN, a CONNECT proxy, a missing h2."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("h2")

from smruntime.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    InputClosedError,
    SMRuntimeError,
    StreamResetError,
    WriteTimeoutError,
)
from smruntime.http import _h2
from smruntime.http._config import TLSConfig, WireConfig
from smruntime.http._h2_async import open_async_stream
from smruntime.http._h2_sync import open_stream
from tests.smruntime.h2_server import H2TestServer

TLS_DIR = Path(__file__).resolve().parents[1] / "data" / "tls"
CERT = str(TLS_DIR / "cert.pem")
KEY = str(TLS_DIR / "key.pem")
HEADERS = [("content-type", "application/octet-stream")]


def server_tls(alpn: list[str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERT, KEY)
    ctx.set_alpn_protocols(alpn)
    return ctx


def read_until(stream: Any, n: int, timeout: float = 5.0) -> bytes:
    got = b""
    end = time.monotonic() + timeout
    while len(got) < n:
        ev = stream.next_event(max(0.01, end - time.monotonic()))
        assert ev is not None, f"timed out with {len(got)} of {n} bytes"
        if isinstance(ev, _h2.Data):
            got += ev.data
        elif isinstance(ev, _h2.Failed):
            raise ev.error
        elif isinstance(ev, _h2.End):
            break
    return got


def test_echo_overlaps_sending() -> None:
    with H2TestServer("raw") as srv:
        s = open_stream(srv.url + "/x", "POST", HEADERS, connect_timeout=5)
        try:
            ev = s.next_event(5)
            assert isinstance(ev, _h2.Response)
            assert ev.status == 200
            for i in range(20):
                part = bytes([i]) * 1000
                s.write(part)
                # the echo of this part arrives while the input is still open
                assert read_until(s, 1000) == part
            s.end_input()
            ev = s.next_event(5)
            assert isinstance(ev, _h2.End)
        finally:
            s.close()
        assert srv.requests[0][":path"] == "/x"
        assert srv.requests[0][":authority"] == f"127.0.0.1:{srv.port}"


def test_server_that_stops_reading_blocks_the_sender_then_it_resumes() -> None:
    with H2TestServer("raw") as srv:
        srv.hold.set()
        s = open_stream(srv.url, "POST", HEADERS, connect_timeout=5, max_send_buffer=64 * 1024)
        drained = threading.Event()
        sent = [0]

        def drain() -> None:  # read the echoes all along
            total = 0
            while not drained.is_set():
                ev = s.next_event(0.05)
                if isinstance(ev, _h2.Data):
                    total += len(ev.data)
                elif isinstance(ev, (_h2.End, _h2.Failed)):
                    break

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        chunk = b"x" * 16384

        def send() -> None:
            for _ in range(100):  # 1.6 MB, far more than the 64 KiB window and the buffer
                s.write(chunk)
                sent[0] += len(chunk)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        time.sleep(0.5)
        blocked_at = sent[0]
        assert sender.is_alive(), "the sender should be blocked by flow control"
        # bounded: the server's window (64 KiB) + our buffer (64 KiB) + one write
        assert blocked_at <= 65535 + 64 * 1024 + len(chunk)
        assert srv.received <= 65535
        assert s.pending_input() <= 64 * 1024 + len(chunk)
        srv.hold.clear()  # the server reads again
        sender.join(10)
        assert not sender.is_alive()
        assert sent[0] == 100 * len(chunk)
        s.end_input()
        drained.set()
        reader.join(5)
        s.close()


def test_write_timeout_when_the_server_never_reads() -> None:
    with H2TestServer("raw") as srv:
        srv.hold.set()
        s = open_stream(srv.url, "POST", HEADERS, connect_timeout=5, max_send_buffer=16384)
        with pytest.raises(WriteTimeoutError, match="took no input"):
            for _ in range(100):
                s.write(b"y" * 16384, timeout=0.3)
        s.close()


@pytest.mark.parametrize("fault", ["goaway", "rst"])
def test_goaway_and_rst_mid_stream(fault: str) -> None:
    kw = {"goaway_after": 3000} if fault == "goaway" else {"rst_after": 3000}
    with H2TestServer("raw", **kw) as srv:
        s = open_stream(srv.url, "POST", HEADERS, connect_timeout=5)
        assert isinstance(s.next_event(5), _h2.Response)
        s.write(b"a" * 1000)
        assert read_until(s, 1000) == b"a" * 1000
        s.write(b"b" * 2500)
        with pytest.raises(StreamResetError) as info:
            read_until(s, 100000)
        assert info.value.error_code == 2
        assert ("GOAWAY" if fault == "goaway" else "reset") in str(info.value)
        assert "INTERNAL_ERROR" in str(info.value)
        # the sender sees the same failure
        with pytest.raises(StreamResetError):
            for _ in range(10):
                s.write(b"c" * 100)
                time.sleep(0.02)
        s.close()


def test_graceful_goaway_mid_stream_lets_it_finish() -> None:
    with H2TestServer("raw", graceful_after=1000, fault_code=0) as srv:
        s = open_stream(srv.url, "POST", HEADERS, connect_timeout=5)
        assert isinstance(s.next_event(5), _h2.Response)
        s.write(b"a" * 1000)  # the server answers it with GOAWAY(NO_ERROR, our stream)
        assert read_until(s, 1000) == b"a" * 1000
        for part in (b"b" * 3000, b"c" * 70000):
            s.write(part)
            assert read_until(s, len(part)) == part
        s.end_input()
        end = s.next_event(5)
        assert isinstance(end, _h2.End), end
        s.close()
        # a new call opens a new connection
        s2 = open_stream(srv.url, "POST", HEADERS, connect_timeout=5)
        s2.write(b"again")
        assert read_until(s2, 5) == b"again"
        s2.close()
        assert srv.connections == 2


def test_goaway_with_an_error_code_mid_stream_fails_naming_it() -> None:
    with H2TestServer("raw", graceful_after=1000, fault_code=11) as srv:
        s = open_stream(srv.url, "POST", HEADERS, connect_timeout=5)
        s.write(b"a" * 1000)
        with pytest.raises(StreamResetError, match=r"GOAWAY \(ENHANCE_YOUR_CALM \(0xb\)"):
            read_until(s, 100000)
        s.close()


def test_close_early_resets_the_stream() -> None:
    with H2TestServer("raw") as srv:
        s = open_stream(srv.url, "POST", HEADERS, connect_timeout=5)
        assert isinstance(s.next_event(5), _h2.Response)
        s.write(b"a" * 10)
        read_until(s, 10)
        s.close()
        deadline = time.monotonic() + 3
        while not srv.resets and time.monotonic() < deadline:
            time.sleep(0.02)
        assert srv.resets == [8]  # CANCEL
        with pytest.raises((InputClosedError, ConnectionClosedError)):
            s.write(b"more")


def test_server_closing_the_connection_is_an_error_not_an_end() -> None:
    with H2TestServer("raw", goaway_after=1) as srv:
        srv.fault_code = 0  # GOAWAY NO_ERROR that does not cover our stream (last stream 0)
        s = open_stream(srv.url, "POST", HEADERS, connect_timeout=5)
        s.write(b"z")
        with pytest.raises(ConnectionClosedError):
            read_until(s, 10)
        s.close()


def test_tls_with_alpn_h2() -> None:
    with H2TestServer("raw", tls=server_tls(["h2"])) as srv:
        wire = WireConfig(tls=TLSConfig(verify=CERT))
        s = open_stream(srv.url, "POST", HEADERS, wire=wire, connect_timeout=5)
        assert isinstance(s.next_event(5), _h2.Response)
        s.write(b"tls!")
        assert read_until(s, 4) == b"tls!"
        s.close()


def test_tls_server_without_h2_is_refused_clearly() -> None:
    with H2TestServer("raw", tls=server_tls(["http/1.1"])) as srv:
        wire = WireConfig(tls=TLSConfig(verify=CERT))
        with pytest.raises(EndpointConnectionError, match="does not speak HTTP/2"):
            open_stream(srv.url, "POST", HEADERS, wire=wire, connect_timeout=5)


def test_tls_unverified_certificate_is_refused() -> None:
    with H2TestServer("raw", tls=server_tls(["h2"])) as srv:
        with pytest.raises(EndpointConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            open_stream(srv.url, "POST", HEADERS, connect_timeout=5)


def test_connection_refused() -> None:
    with H2TestServer("raw") as srv:
        url = srv.url
    with pytest.raises(EndpointConnectionError):
        open_stream(url, "POST", HEADERS, connect_timeout=2)


def test_import_smruntime_does_not_import_h2() -> None:
    code = (
        "import sys, smruntime, smruntime.http, smruntime.http._h2, smruntime.http._h2_sync;"
        "import smruntime.http._h2_async;"
        "assert 'h2' not in sys.modules, sorted(m for m in sys.modules if m.startswith('h2'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_h2_names_the_extra(tmp_path: Path) -> None:
    blocker = tmp_path / "h2.py"
    blocker.write_text("raise ImportError('No module named h2 (hidden by the test)')\n")
    code = (
        "from smruntime.http._h2 import H2ClientStream\n"
        "try:\n    H2ClientStream()\nexcept ImportError as e:\n    print(e)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert "pip install 'smruntime[http2]'" in out.stdout


# -- asyncio -----------------------------------------------------------------------------------


async def aread_until(stream: Any, n: int, timeout: float = 5.0) -> bytes:
    got = b""
    while len(got) < n:
        ev = await stream.next_event(timeout)
        assert ev is not None
        if isinstance(ev, _h2.Data):
            got += ev.data
        elif isinstance(ev, _h2.Failed):
            raise ev.error
        elif isinstance(ev, _h2.End):
            break
    return got


def test_async_echo_overlaps_sending() -> None:
    async def main() -> None:
        with H2TestServer("raw") as srv:
            s = await open_async_stream(srv.url, "POST", HEADERS, connect_timeout=5)
            ev = await s.next_event(5)
            assert isinstance(ev, _h2.Response)
            for i in range(10):
                await s.write(bytes([i]) * 5000)
                assert await aread_until(s, 5000) == bytes([i]) * 5000
            await s.end_input()
            assert isinstance(await s.next_event(5), _h2.End)
            await s.close()

    asyncio.run(main())


def test_async_wait_timeouts_share_one_timer_and_are_never_early_or_late() -> None:
    # The waits of a connection share one lazily moved timer: a wait ending after the armed
    # timer is woken by its re-arming (never at the old, earlier instant), a wait ending
    # before it re-arms it earlier (never waits for the old, later instant).
    async def main() -> None:
        loop = asyncio.get_running_loop()
        with H2TestServer("raw") as srv:
            s = await open_async_stream(srv.url, "POST", HEADERS, connect_timeout=5)
            assert isinstance(await s.next_event(5), _h2.Response)
            await s.write(b"a" * 10)
            assert await aread_until(s, 10, timeout=0.2) == b"a" * 10  # timer armed ~0.2 s
            t = loop.time()
            assert await s.next_event(0.6) is None  # nothing comes: times out at 0.6 s
            assert loop.time() - t >= 0.55
            await s.write(b"b" * 10)
            assert await aread_until(s, 10, timeout=30) == b"b" * 10  # armed ~30 s out
            t = loop.time()
            assert await s.next_event(0.2) is None  # earlier than the armed one
            assert 0.15 <= loop.time() - t < 5
            assert await s.next_event(0) is None  # no wait at all
            await s.close()

    asyncio.run(asyncio.wait_for(main(), 20))  # a timer never re-armed would hang


def test_async_queue_without_awaiting_while_there_is_room() -> None:
    async def main() -> None:
        with H2TestServer("raw") as srv:
            s = await open_async_stream(
                srv.url, "POST", HEADERS, connect_timeout=5, max_send_buffer=16384
            )
            assert isinstance(await s.next_event(5), _h2.Response)
            assert s.can_write_now()
            s.queue(b"q" * 100)
            assert await aread_until(s, 100) == b"q" * 100
            srv.hold.set()  # the server stops acknowledging: the windows fill, then the buffer
            while s.can_write_now():
                s.queue(b"z" * 8192)
            assert s.pending_input() >= 16384
            with pytest.raises(WriteTimeoutError):
                await s.write(b"z", timeout=0.2)
            srv.hold.clear()
            await s.end_input()
            assert not s.can_write_now()  # input closed
            await s.close()
            assert not s.can_write_now()

    asyncio.run(main())


def test_async_graceful_goaway_mid_stream_lets_it_finish() -> None:
    async def main() -> None:
        with H2TestServer("raw", graceful_after=1000, fault_code=0) as srv:
            s = await open_async_stream(srv.url, "POST", HEADERS, connect_timeout=5)
            assert isinstance(await s.next_event(5), _h2.Response)
            await s.write(b"a" * 1000)
            assert await aread_until(s, 1000) == b"a" * 1000
            for part in (b"b" * 3000, b"c" * 70000):
                await s.write(part)
                assert await aread_until(s, len(part)) == part
            await s.end_input()
            end = await s.next_event(5)
            assert isinstance(end, _h2.End), end
            await s.close()
            s2 = await open_async_stream(srv.url, "POST", HEADERS, connect_timeout=5)
            await s2.write(b"again")
            assert await aread_until(s2, 5) == b"again"
            await s2.close()
            assert srv.connections == 2
            s3 = await open_async_stream(srv.url, "POST", HEADERS, connect_timeout=5)
            srv.fault_code = 2
            srv.graceful_after = 1
            await s3.write(b"z")
            with pytest.raises(StreamResetError, match=r"INTERNAL_ERROR \(0x2\)"):
                await aread_until(s3, 100000)
            await s3.close()

    asyncio.run(main())


def test_async_flow_control_blocks_then_resumes() -> None:
    async def main() -> None:
        with H2TestServer("raw") as srv:
            srv.hold.set()
            s = await open_async_stream(
                srv.url, "POST", HEADERS, connect_timeout=5, max_send_buffer=32768
            )
            sent = 0

            async def drain() -> None:
                while True:
                    ev = await s.next_event(None)
                    if not isinstance(ev, (_h2.Data, _h2.Response)):
                        return

            reader = asyncio.ensure_future(drain())

            async def send() -> None:
                nonlocal sent
                for _ in range(60):
                    await s.write(b"q" * 16384)
                    sent += 16384

            sender = asyncio.ensure_future(send())
            await asyncio.sleep(0.5)
            assert not sender.done()
            assert sent <= 65535 + 32768 + 16384
            srv.hold.clear()
            await asyncio.wait_for(sender, 10)
            await s.end_input()
            await asyncio.wait_for(reader, 10)
            await s.close()

    asyncio.run(main())


def test_async_rst_mid_stream_and_tls_alpn_refusal() -> None:
    async def main() -> None:
        with H2TestServer("raw", rst_after=10) as srv:
            s = await open_async_stream(srv.url, "POST", HEADERS, connect_timeout=5)
            await s.write(b"0123456789abc")
            with pytest.raises(StreamResetError):
                await aread_until(s, 1000)
            await s.close()
        with H2TestServer("raw", tls=server_tls(["http/1.1"])) as srv:
            wire = WireConfig(tls=TLSConfig(verify=CERT))
            with pytest.raises(EndpointConnectionError, match="does not speak HTTP/2"):
                await open_async_stream(srv.url, "POST", HEADERS, wire=wire, connect_timeout=5)
        with H2TestServer("raw", tls=server_tls(["h2"])) as srv:
            wire = WireConfig(tls=TLSConfig(verify=CERT))
            s = await open_async_stream(srv.url, "POST", HEADERS, wire=wire, connect_timeout=5)
            await s.write(b"tls")
            assert await aread_until(s, 3) == b"tls"
            await s.close()

    asyncio.run(main())


# -- proxies -----------------------------------------------------------------------------------


def _proxied(url: str) -> WireConfig:
    from smruntime.http._config import Proxies

    return WireConfig(tls=TLSConfig(verify=CERT), proxies=Proxies({"http": url, "https": url}))


@pytest.mark.parametrize("tls", [False, True])
def test_through_a_connect_proxy(tls: bool) -> None:
    from tests.smruntime.connect_proxy import ConnectProxy

    server_ctx = server_tls(["h2"]) if tls else None
    with H2TestServer("raw", tls=server_ctx) as srv, ConnectProxy() as proxy:
        user_url = proxy.url.replace("http://", "http://user:p%40ss@")
        s = open_stream(srv.url, "POST", HEADERS, wire=_proxied(user_url), connect_timeout=5)
        s.write(b"via proxy")
        assert read_until(s, 9) == b"via proxy"
        s.close()
        assert proxy.connects == [f"127.0.0.1:{srv.port}"]
        assert proxy.auth == ["Basic dXNlcjpwQHNz"]  # user:p@ss


def test_async_through_a_connect_proxy_with_tls() -> None:
    from tests.smruntime.connect_proxy import ConnectProxy

    async def main() -> None:
        with H2TestServer("raw", tls=server_tls(["h2"])) as srv, ConnectProxy() as proxy:
            s = await open_async_stream(
                srv.url, "POST", HEADERS, wire=_proxied(proxy.url), connect_timeout=5
            )
            await s.write(b"async proxy")
            assert await aread_until(s, 11) == b"async proxy"
            await s.close()
            assert proxy.connects == [f"127.0.0.1:{srv.port}"]

    asyncio.run(main())


def test_proxy_refusing_the_tunnel() -> None:
    from tests.smruntime.connect_proxy import ConnectProxy

    with H2TestServer("raw") as srv, ConnectProxy(refuse=True) as proxy:
        with pytest.raises(EndpointConnectionError, match=r"refused CONNECT.*407"):
            open_stream(srv.url, "POST", HEADERS, wire=_proxied(proxy.url), connect_timeout=5)

        async def main() -> None:
            with pytest.raises(EndpointConnectionError, match="refused CONNECT"):
                await open_async_stream(
                    srv.url, "POST", HEADERS, wire=_proxied(proxy.url), connect_timeout=5
                )

        asyncio.run(main())


def test_a_slow_reader_holds_the_server_back() -> None:
    window = 256 * 1024
    with H2TestServer("raw", flood=4 * 1024 * 1024) as srv:
        s = open_stream(srv.url, "POST", HEADERS, connect_timeout=5, receive_window=window)
        time.sleep(0.5)  # nobody reads
        assert srv.sent <= window  # the server is held at our receive window
        got = read_until(s, 4 * 1024 * 1024, timeout=30)
        assert len(got) == 4 * 1024 * 1024
        s.close()


def test_async_slow_reader_holds_the_server_back() -> None:
    async def main() -> None:
        window = 128 * 1024
        with H2TestServer("raw", flood=2 * 1024 * 1024) as srv:
            s = await open_async_stream(
                srv.url, "POST", HEADERS, connect_timeout=5, receive_window=window
            )
            await asyncio.sleep(0.5)
            assert srv.sent <= window
            got = await aread_until(s, 2 * 1024 * 1024, timeout=30)
            assert len(got) == 2 * 1024 * 1024
            await s.close()

    asyncio.run(main())


def test_https_proxy_urls_are_refused_clearly() -> None:
    from smruntime.http._config import Proxies

    wire = WireConfig(proxies=Proxies({"http": "https://proxy.example:3128"}))
    with pytest.raises(EndpointConnectionError, match="https:// proxies are not supported"):
        open_stream("http://127.0.0.1:9/", "POST", HEADERS, wire=wire, connect_timeout=1)


@pytest.mark.parametrize("data", [b"last part", b""])
def test_a_last_write_ends_the_input(data: bytes) -> None:
    # write(..., last=True): the input ends after data (END_STREAM in the same write), as
    # end_input() after it; empty data just ends the input.
    with H2TestServer("raw") as srv:
        s = open_stream(srv.url + "/x", "POST", HEADERS, connect_timeout=5)
        try:
            assert isinstance(s.next_event(5), _h2.Response)
            s.write(data, last=True)
            assert read_until(s, len(data) + 1) == data  # (+1: read to the End)
            with pytest.raises(InputClosedError):
                s.write(b"more")
        finally:
            s.close()


@pytest.mark.parametrize("data", [b"last part", b""])
def test_async_a_last_write_ends_the_input(data: bytes) -> None:
    async def main() -> None:
        with H2TestServer("raw") as srv:
            s = await open_async_stream(srv.url, "POST", HEADERS, connect_timeout=5)
            assert isinstance(await s.next_event(5), _h2.Response)
            await s.write(data, last=True)
            assert await aread_until(s, len(data) + 1) == data
            with pytest.raises(InputClosedError):
                await s.write(b"more")
            await s.close()

    asyncio.run(main())


def test_async_a_write_blocked_when_the_stream_is_closed_locally_says_so() -> None:
    # a send waiting on flow control while another task closes the stream: the error names
    # this client's reset, not "closed by the server"
    async def main() -> None:
        with H2TestServer("raw") as srv:
            s = await open_async_stream(
                srv.url, "POST", HEADERS, connect_timeout=5, max_send_buffer=16384
            )
            assert isinstance(await s.next_event(5), _h2.Response)
            srv.hold.set()
            while s.can_write_now():
                s.queue(b"z" * 8192)
            blocked = asyncio.ensure_future(s.write(b"z" * 8192, timeout=10))
            await asyncio.sleep(0.1)
            await s.close()
            with pytest.raises(SMRuntimeError) as info:
                await asyncio.wait_for(blocked, 5)
            assert "by this client" in str(info.value)
            assert "by the server" not in str(info.value)
            srv.hold.clear()

    asyncio.run(main())
