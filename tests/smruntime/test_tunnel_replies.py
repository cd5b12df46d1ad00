"""A proxy's answer to CONNECT whose head has a line ending in a bare LF (``HTTP/1.1 200 OK\\n\\n``)
is refused at once, naming the proxy and the line ending, by every driver that opens a tunnel:
the blocking and asyncio HTTP/1.1 pools and both HTTP/2 drivers (the wire's one rule,
``tunnel_reply_complete`` / ``tunnel_reply_error``; the HTTP/1.1 parser refuses a bare LF too).
Before, the drivers waited for a CRLF CRLF that never came, until the connect deadline."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smruntime import Client, Config
from smruntime.aio import AsyncClient
from smruntime.exceptions import EndpointConnectionError
from smruntime.http._config import (
    MAX_TUNNEL_REPLY,
    Proxies,
    Proxy,
    WireConfig,
    origin_of,
    tunnel_reply_complete,
    tunnel_reply_error,
)
from smruntime.http._tunnel import parse_connect_reply, proxy_closed
from tests.smruntime.hostile_server import HostileServer

DEADLINE = 3.0  # the connect deadline the old code waited out
FAST = 1.5  # the refusal comes well before it

# (the proxy's answer, the line that ends in a bare LF)
REPLIES = [
    (b"HTTP/1.1 200 OK\n\n", 1),
    (b"HTTP/1.1 200 Connection established\r\nProxy-Agent: x\n\n", 2),
    (b"HTTP/1.1 200 OK\r\nX: y\n\r\n", 2),
    (b"HTTP/1.1 200 OK\nX: y\r\n\r\n", 1),  # with a CRLF CRLF later: refused too
    (b"HTTP/1.1 407 Auth\n\n", 1),
]


@pytest.fixture(params=REPLIES, ids=lambda r: repr(r[0])[2:-1])
def bare_lf_proxy(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    """A proxy answering CONNECT with a bare-LF head, then holding the connection open."""
    reply, line = request.param

    def handler(sock: socket.socket, connect: Optional[bytes]) -> bool:
        if connect is not None:
            sock.sendall(reply)
            srv.pause(DEADLINE + 5)  # ends when the test stops the server
        return False

    with HostileServer(handler) as srv:
        yield srv.url, line


def _expect(line: int) -> str:
    return rf"the proxy 127\.0\.0\.1:\d+ answered CONNECT .* bare LF, not CRLF \(line {line} "


def _config(proxy: str) -> Config:
    return Config(proxies={"http": proxy, "https": proxy}, max_attempts=1, connect_timeout=DEADLINE)


def _kwargs(proxy: str) -> dict[str, object]:
    return {
        "region_name": "us-east-1",
        "endpoint_url": "https://runtime.example.invalid",
        "aws_access_key_id": "AKID",
        "aws_secret_access_key": "secret",
        "environ": {},
        "config": _config(proxy),
    }


def test_the_blocking_pool_refuses_it_at_once(bare_lf_proxy: tuple[str, int]) -> None:
    url, line = bare_lf_proxy
    started = time.monotonic()
    with Client(**_kwargs(url)) as client:  # type: ignore[arg-type]
        with pytest.raises(EndpointConnectionError, match=_expect(line)):
            client.invoke_endpoint(EndpointName="e", Body=b"{}")
    assert time.monotonic() - started < FAST


def test_the_async_pool_refuses_it_at_once(bare_lf_proxy: tuple[str, int]) -> None:
    url, line = bare_lf_proxy

    async def main() -> None:
        async with AsyncClient(**_kwargs(url)) as client:  # type: ignore[arg-type]
            with pytest.raises(EndpointConnectionError, match=_expect(line)):
                await client.invoke_endpoint(EndpointName="e", Body=b"{}")

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < FAST


@pytest.mark.parametrize("scheme", ["http", "https"])  # h2c goes through CONNECT too
def test_the_h2_drivers_refuse_it_at_once(bare_lf_proxy: tuple[str, int], scheme: str) -> None:
    pytest.importorskip("h2")
    from smruntime.http._h2_async import open_async_stream
    from smruntime.http._h2_sync import open_stream

    url, line = bare_lf_proxy
    wire = WireConfig(proxies=Proxies({"http": url, "https": url}))
    target = f"{scheme}://127.0.0.1:9/x"
    headers = [("content-type", "application/octet-stream")]
    started = time.monotonic()
    with pytest.raises(EndpointConnectionError, match=_expect(line)):
        open_stream(target, "POST", headers, wire=wire, connect_timeout=DEADLINE)
    assert time.monotonic() - started < FAST

    async def main() -> None:
        with pytest.raises(EndpointConnectionError, match=_expect(line)):
            await open_async_stream(target, "POST", headers, wire=wire, connect_timeout=DEADLINE)

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < FAST


def test_the_rule_itself() -> None:
    from smruntime.http._config import tunnel_reply_complete

    origin = origin_of("https://h:8443/")
    proxy = Proxy("http://u:p@proxy:3128")
    # complete: the head ended, a bare LF is in it, or it is over the limit without an end
    assert not tunnel_reply_complete(b"")
    assert not tunnel_reply_complete(b"HTTP/1.1 200 OK\r")
    assert not tunnel_reply_complete(b"HTTP/1.1 200 OK\r\n")
    assert not tunnel_reply_complete(b"HTTP/1.1 200 OK\r\nX: y\r\n\r")
    assert not tunnel_reply_complete(bytearray(b"a" * MAX_TUNNEL_REPLY))
    assert tunnel_reply_complete(b"a" * (MAX_TUNNEL_REPLY + 1))
    assert tunnel_reply_complete(b"HTTP/1.1 200 OK\r\n\r\n")
    assert tunnel_reply_complete(bytearray(b"HTTP/1.1 200 OK\r\n\r\n"))
    assert tunnel_reply_complete(b"HTTP/1.1 200 OK\n")
    assert tunnel_reply_complete(b"\n")
    assert tunnel_reply_complete(b"HTTP/1.1 200 OK\r\nX: y\n")

    def error(reply: bytes) -> str:
        return str(tunnel_reply_error(reply, origin, proxy))

    assert error(b"HTTP/1.1 200 OK\n\n") == (
        "the proxy proxy:3128 answered CONNECT h:8443 with a line ending in a bare LF, not "
        "CRLF (line 1 of its answer): not an HTTP/1.1 answer"
    )
    assert "(line 1 " in error(b"\n")
    assert "(line 1 " in error(b"HTTP/1.1 200 OK\nX: y\r\n\r\n")
    assert "(line 2 " in error(b"HTTP/1.1 200 OK\r\nX: y\n\r\n")
    assert "(line 3 " in error(b"HTTP/1.1 200 OK\r\nX: y\r\nZ: w\n")
    assert error(b"HTTP/1.1 200 OK\r\n\r\n") == "None"
    # what follows the head (h2c: the server's first bytes) is not searched for bare LFs
    assert "2 bytes after" in error(b"HTTP/1.1 200 OK\r\n\r\n\n\n")
    assert "is over 65536 bytes" in error(b"HTTP/1.1 200 OK\r\nX: " + b"x" * MAX_TUNNEL_REPLY)
    assert "proxy:3128's answer to CONNECT h:8443" in error(b"x" * (MAX_TUNNEL_REPLY + 1))
    assert "closed the connection during CONNECT" in error(b"HTTP/1.1 200 OK\r\n")


def test_the_h2_reply_reader() -> None:
    origin = origin_of("http://h:8443/")
    proxy = Proxy("http://proxy:3128")
    url = "http://h:8443/x"
    assert parse_connect_reply(b"HTTP/1.1 200 OK\r\n", origin, proxy, url) is None
    # the server's first bytes (here with LFs in them) after the head are the caller's
    reply = b"HTTP/1.1 200 OK\r\n\r\n\n\x00\n"
    assert parse_connect_reply(reply, origin, proxy, url) == len(reply) - 3
    for bad in (b"HTTP/1.1 200 OK\n\n", b"HTTP/1.1 200 OK\n", b"HTTP/1.1 200 OK\nX: y\r\n\r\n"):
        with pytest.raises(EndpointConnectionError, match="bare LF, not CRLF"):
            parse_connect_reply(bad, origin, proxy, url)
    with pytest.raises(EndpointConnectionError, match="is over 65536 bytes"):
        parse_connect_reply(b"x" * (MAX_TUNNEL_REPLY + 1), origin, proxy, url)
    assert "bare LF" in str(proxy_closed(b"HTTP/1.1 200 OK\n", origin, proxy, url))
    assert "closed the connection" in str(proxy_closed(b"HTTP/1.1 2", origin, proxy, url))


_PIECES = st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b"x", b"HTTP/1.1 200 OK", b": "]), max_size=40
).map(b"".join)


@settings(deadline=None)
@given(_PIECES, st.data())
def test_scanning_only_the_new_bytes_decides_as_scanning_all(raw: bytes, data: Any) -> None:
    # The drivers pass how many bytes just arrived; the verdict after each piece is the one
    # a scan of the whole answer gives, until the first piece that completes it.
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12)))
    received = bytearray()
    prev = 0
    for cut in [*cuts, len(raw)]:
        piece = raw[prev:cut]
        prev = cut
        received += piece
        verdict = tunnel_reply_complete(received, len(piece))
        assert verdict == tunnel_reply_complete(bytes(received))
        if verdict:
            break
