"""An ``https://`` URL for a plain-HTTP server (the emulator): every driver fails at once with
``SSLError`` (an ``EndpointConnectionError``) whose message says the answer was not TLS."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from smruntime import Client, Config
from smruntime.aio import AsyncClient
from smruntime.emulator import Emulator
from smruntime.exceptions import EndpointConnectionError, SSLError

HINT = "the server's answer is not TLS: is the endpoint plain http://?"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


def _kwargs(emu: Emulator) -> dict[str, object]:
    creds = emu.credentials
    return {
        "region_name": emu.region,
        "endpoint_url": emu.url.replace("http://", "https://"),
        "aws_access_key_id": creds.access_key_id,
        "aws_secret_access_key": creds.secret_access_key,
        "environ": {},
        "config": Config(proxies={}, max_attempts=1),
    }


@pytest.mark.parametrize("transport", [None, "requests"])
def test_blocking(emu: Emulator, transport: str | None) -> None:
    client = Client(**_kwargs(emu), transport=transport)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(SSLError, match=r"WRONG_VERSION_NUMBER|record layer") as caught:
        client.invoke_endpoint(EndpointName="echo", Body=b"{}")
    assert time.monotonic() - started < 10  # the emulator answers a ClientHello at once
    assert HINT in str(caught.value)
    assert isinstance(caught.value, EndpointConnectionError)
    client.close()


def test_async(emu: Emulator) -> None:
    async def main() -> None:
        async with AsyncClient(**_kwargs(emu)) as client:  # type: ignore[arg-type]
            with pytest.raises(SSLError, match="not TLS"):
                await client.invoke_endpoint(EndpointName="echo", Body=b"{}")

    asyncio.run(main())


def test_bidirectional(emu: Emulator) -> None:
    pytest.importorskip("h2")
    client = Client(**_kwargs(emu))  # type: ignore[arg-type]
    with pytest.raises(SSLError, match="not TLS"):
        client.invoke_endpoint_with_bidirectional_stream(EndpointName="echo")
    client.close()
