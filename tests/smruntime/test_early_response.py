"""A server that answers before it has read the whole request (a 413 for a body over its limit)
and closes: the caller gets that answer, not the broken pipe of the rest of its upload. Every
transport, the blocking and the asyncio client."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from smruntime import Client, Config
from smruntime.aio import AsyncClient
from smruntime.exceptions import ClientError

BODY = b"x" * (12 * 1024 * 1024)  # far more than the socket buffers hold
REPLY = (
    b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
    b"x-amzn-ErrorType: ValidationError\r\nConnection: close\r\nContent-Length: 35\r\n\r\n"
    b'{"message": "payload is too large"}'
)


@pytest.fixture
def server() -> Iterator[tuple[str, list[int]]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    stop = threading.Event()
    served: list[int] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                head = b""
                while b"\r\n\r\n" not in head:
                    more = conn.recv(4096)
                    if not more:
                        break
                    head += more
                conn.sendall(REPLY)  # the head only was read: the rest of the body is refused
                served.append(len(head))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", served
    stop.set()
    thread.join(5)
    sock.close()


def kwargs(url: str) -> dict[str, object]:
    return {
        "region_name": "us-east-1",
        "endpoint_url": url,
        "aws_access_key_id": "AKID",
        "aws_secret_access_key": "secret",
        "environ": {},
        "config": Config(proxies={}, max_attempts=1),
    }


@pytest.mark.parametrize("transport", [None, "requests"])
def test_blocking(server: tuple[str, list[int]], transport: str | None) -> None:
    url, served = server
    with Client(**kwargs(url), transport=transport) as client:  # type: ignore[arg-type]
        with pytest.raises(ClientError, match="payload is too large") as info:
            client.invoke_endpoint(EndpointName="e", Body=BODY)
    assert info.value.status_code == 413
    assert len(served) == 1


def test_async(server: tuple[str, list[int]]) -> None:
    url, _served = server

    async def main() -> None:
        async with AsyncClient(**kwargs(url)) as client:  # type: ignore[arg-type]
            with pytest.raises(ClientError, match="payload is too large") as info:
                await client.invoke_endpoint(EndpointName="e", Body=BODY)
            assert info.value.status_code == 413

    asyncio.run(main())
