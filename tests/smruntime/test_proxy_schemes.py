"""A proxy URL whose scheme the wire does not speak (``https://``, ``socks5://``) is refused by
every driver (HTTP/1.1 and HTTP/2, blocking and asyncio: one rule, one message) before anything
is sent: never spoken to in plain text, credentials
included. A proxy password never shows in a ``Config`` repr, scheme or not."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from smruntime import Client, Config
from smruntime.aio import AsyncClient
from smruntime.exceptions import EndpointConnectionError


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A plain TCP listener posing as the proxy: it records every byte a client sends it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    got: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            conn.settimeout(1)
            try:
                got.append(conn.recv(65536))
            except OSError:
                pass
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1], got
    stop.set()
    thread.join(5)
    sock.close()


def kwargs(port: int, scheme: str) -> dict[str, object]:
    proxy = f"{scheme}://proxyuser:s3cr3tPW@127.0.0.1:{port}"
    return {
        "region_name": "us-east-1",
        "endpoint_url": "http://origin.invalid:9",
        "aws_access_key_id": "AKID",
        "aws_secret_access_key": "secret",
        "environ": {},
        "config": Config(proxies={"http": proxy, "https": proxy}, max_attempts=1),
    }


@pytest.mark.parametrize("scheme", ["https"])
def test_the_blocking_client_refuses_it(listener: tuple[int, list[bytes]], scheme: str) -> None:
    port, got = listener
    with Client(**kwargs(port, scheme)) as client:  # type: ignore[arg-type]
        with pytest.raises(EndpointConnectionError, match=f"{scheme}:// proxies are not") as e:
            client.invoke_endpoint(EndpointName="e", Body=b"{}")
    assert "s3cr3tPW" not in str(e.value)
    assert got == []


@pytest.mark.parametrize("scheme", ["https"])
def test_the_async_client_refuses_it(listener: tuple[int, list[bytes]], scheme: str) -> None:
    port, got = listener

    async def main() -> None:
        async with AsyncClient(**kwargs(port, scheme)) as client:  # type: ignore[arg-type]
            with pytest.raises(EndpointConnectionError, match=f"{scheme}:// proxies are not"):
                await client.invoke_endpoint(EndpointName="e", Body=b"{}")

    asyncio.run(main())
    assert got == []  # before: CONNECT and Proxy-Authorization went out in plain text


def test_other_schemes_are_refused_when_the_client_is_made(
    listener: tuple[int, list[bytes]],
) -> None:
    port, got = listener
    for make in (Client, AsyncClient):
        with pytest.raises(ValueError, match="only http:// proxies are supported") as e:
            make(**kwargs(port, "socks5"))  # type: ignore[arg-type]
        assert "s3cr3tPW" not in str(e.value)
    assert got == []


def test_a_config_repr_masks_proxy_passwords_with_or_without_a_scheme() -> None:
    shown = repr(
        Config(proxies={"https": "proxyuser:s3cr3tPW@corp:3128", "http": "http://u:pw2@h:1"})
    )
    assert "s3cr3tPW" not in shown
    assert "pw2" not in shown
    assert "'proxyuser:****@corp:3128'" in shown


def test_every_driver_refuses_it_with_the_one_message(listener: tuple[int, list[bytes]]) -> None:
    pytest.importorskip("h2")
    from smruntime.http._config import Proxies, WireConfig
    from smruntime.http._h2_async import open_async_stream
    from smruntime.http._h2_sync import open_stream

    port, got = listener
    proxy = f"https://proxyuser:s3cr3tPW@127.0.0.1:{port}"
    expected = (
        f"could not connect to origin.invalid:9 through proxy 127.0.0.1:{port}: https:// "
        "proxies are not supported (use an http:// proxy URL: HTTPS still goes through it "
        "encrypted end to end, with CONNECT; transport='requests' speaks to https:// proxies, "
        "for the HTTP/1.1 operations)"
    )
    messages: list[str] = []
    with Client(**kwargs(port, "https")) as client:  # type: ignore[arg-type]
        with pytest.raises(EndpointConnectionError) as e:
            client.invoke_endpoint(EndpointName="e", Body=b"{}")
        messages.append(str(e.value))

    async def call() -> None:
        async with AsyncClient(**kwargs(port, "https")) as client:  # type: ignore[arg-type]
            await client.invoke_endpoint(EndpointName="e", Body=b"{}")

    with pytest.raises(EndpointConnectionError) as e:
        asyncio.run(call())
    messages.append(str(e.value))
    wire = WireConfig(proxies=Proxies({"http": proxy, "https": proxy}))
    headers = [("content-type", "application/octet-stream")]
    with pytest.raises(EndpointConnectionError) as e:
        open_stream("http://origin.invalid:9/x", "POST", headers, wire=wire, connect_timeout=1)
    messages.append(str(e.value))

    async def open_async() -> None:
        await open_async_stream(
            "http://origin.invalid:9/x", "POST", headers, wire=wire, connect_timeout=1
        )

    with pytest.raises(EndpointConnectionError) as e:
        asyncio.run(open_async())
    messages.append(str(e.value))
    # the blocking client's error is botocore-shaped around the wire's message
    assert [expected in m for m in messages] == [True] * 4, messages
    assert all("s3cr3tPW" not in m for m in messages)
    assert got == []
