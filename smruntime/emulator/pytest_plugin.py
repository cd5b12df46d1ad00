"""pytest fixtures for testing code that calls SageMaker Runtime, backed by the emulator.

Enable it in a ``conftest.py`` (it is not registered automatically)::

    pytest_plugins = ["smruntime.emulator.pytest_plugin"]

then ask for the fixtures::

    def test_my_streaming_code(smruntime_client, smruntime_emulator):
        body = smruntime_client.invoke_endpoint_with_response_stream(
            EndpointName="tokens", Body=b'{"inputs": "hi"}')["Body"]
        assert body.read_text()
        assert smruntime_emulator.requests[-1].endpoint_name == "tokens"

Each test gets its own emulator on a free loopback port (endpoints ``echo``, ``tokens`` and
``tokens-jsonl``, generated keys), stopped when the test ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from smruntime.emulator._server import Emulator

if TYPE_CHECKING:
    from smruntime import Client

__all__ = ["smruntime_client", "smruntime_emulator"]


@pytest.fixture
def smruntime_emulator() -> Iterator[Emulator]:
    """A running :class:`~smruntime.emulator.Emulator`, stopped after the test."""
    with Emulator() as emu:
        yield emu


@pytest.fixture
def smruntime_client(smruntime_emulator: Emulator) -> Iterator[Client]:
    """A :class:`smruntime.Client` pointed at :func:`smruntime_emulator`, with its keys."""
    from smruntime import Client, Config

    creds = smruntime_emulator.credentials
    client = Client(
        region_name=smruntime_emulator.region,
        endpoint_url=smruntime_emulator.url,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        # Hermetic: neither the AWS environment nor a proxy from HTTP_PROXY/ALL_PROXY.
        config=Config(proxies={}),
        environ={},
    )
    try:
        yield client
    finally:
        client.close()
