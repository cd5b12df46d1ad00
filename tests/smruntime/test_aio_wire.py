"""The asyncio driver over TLS, through a real proxy (proxy.py) and with a connect deadline.

Reuses the blocking driver's loopback TLS server and certificate, and the proxy fixture
(``proxy_url``, in conftest.py).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from typing import Any

import pytest

from smruntime import Config
from smruntime.aio import AsyncClient
from smruntime.exceptions import ConnectTimeoutError, EndpointConnectionError
from tests.smruntime.hostile_server import CERT, KEY, HostileServer, echo


def make_client(url: str, **config: Any) -> AsyncClient:
    return AsyncClient(
        region_name="us-west-2",
        endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        config=Config(max_attempts=1, **config),
        environ={},
    )


async def call(client: AsyncClient, body: bytes) -> bytes:
    result = await client.invoke_endpoint(
        EndpointName="e", Body=body, ContentType="application/json"
    )
    return bytes(await result["Body"].read())


def tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(CERT, KEY)
    return ctx


def test_https_direct_with_the_test_certificate_and_untrusted() -> None:
    async def main(url: str) -> None:
        async with make_client(url, proxies={}, verify=CERT) as client:
            assert await call(client, b'"tls"') == b'"tls"'
            assert await call(client, b'"again"') == b'"again"'
        async with make_client(url, proxies={}) as client:
            with pytest.raises(EndpointConnectionError, match="TLS handshake"):
                await call(client, b'"x"')

    with HostileServer(echo, tls=tls_context()) as srv:
        asyncio.run(main(srv.url))
        assert srv.connections == 2  # keep-alive over TLS, then the refused one


def test_plain_http_through_a_real_proxy(proxy_url: str) -> None:
    async def main(url: str) -> None:
        async with make_client(url, proxies={"http": proxy_url}) as client:
            assert await call(client, b'"via proxy"') == b'"via proxy"'

    with HostileServer(echo) as srv:
        asyncio.run(main(srv.url))
        first_line = srv.requests[0].split(b"\r\n", 1)[0]
        assert first_line.startswith(b"POST /endpoints/e/invocations ")


def test_https_through_connect_on_a_real_proxy(proxy_url: str) -> None:
    async def main(url: str) -> None:
        async with make_client(url, proxies={"https": proxy_url}, verify=CERT) as client:
            assert await call(client, b'"tunnelled"') == b'"tunnelled"'
            assert await call(client, b'"again"') == b'"again"'

    with HostileServer(echo, tls=tls_context()) as srv:
        asyncio.run(main(srv.url))
        assert len(srv.requests) == 2


def test_a_tls_handshake_that_never_comes_hits_the_connect_deadline() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never speaks TLS
    port = listener.getsockname()[1]

    async def main() -> float:
        start = time.monotonic()
        async with make_client(f"https://127.0.0.1:{port}", proxies={}, connect_timeout=0.5) as c:
            with pytest.raises(ConnectTimeoutError):
                await call(c, b"{}")
        return time.monotonic() - start

    try:
        took = asyncio.run(main())
    finally:
        listener.close()
    assert took < 0.5 + 1.0
