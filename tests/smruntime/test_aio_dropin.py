"""smruntime.aio.AsyncClient as a drop-in: boto3.client's signature, ``meta`` and its event
hooks, ``MaxAttemptsReached`` — the blocking client's CallPlan, awaited."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from smruntime import Client, Config
from smruntime.aio import AsyncClient
from smruntime.exceptions import ClientError, UnknownServiceError

from .scripted_server import Received, Reply, ScriptedServer

KEYS = {
    "aws_access_key_id": "AKIDEXAMPLE",
    "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
}
OK = Reply(200, [("Content-Type", "application/json")], [b"{}"], chunked=False)
BUSY = Reply(
    503,
    [("Content-Type", "application/x-amz-json-1.1")],
    [b'{"__type": "ServiceUnavailable", "message": "busy"}'],
    chunked=False,
)


def make(url: str, *args: Any, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("config", Config(proxies={}, retries={"max_attempts": 1}))
    return AsyncClient(
        *args, region_name="us-west-2", endpoint_url=url, environ={}, **KEYS, **kwargs
    )


def test_boto3_signature_and_service_name() -> None:
    client = AsyncClient("sagemaker-runtime", "eu-west-1", environ={}, **KEYS)
    assert client.region_name == "eu-west-1"
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "https://runtime.sagemaker.eu-west-1.amazonaws.com"
    assert client.meta.service_model.service_name == "sagemaker-runtime"
    assert type(client.meta) is type(Client("sagemaker-runtime", "eu-west-1", environ={}).meta)
    plain = AsyncClient("sagemaker-runtime", "eu-west-1", use_ssl=False, environ={}, **KEYS)
    assert plain.endpoint_url.startswith("http://")
    with pytest.raises(UnknownServiceError, match="did you mean region_name"):
        AsyncClient("us-east-1-x", environ={}, **KEYS)
    with pytest.raises(UnknownServiceError):
        AsyncClient("s3", "us-east-1", environ={})
    with pytest.raises(KeyError):
        client.can_paginate("nope")
    assert client.can_paginate("invoke_endpoint") is False
    with pytest.raises(ValueError, match="Waiter does not exist"):
        client.get_waiter("w")
    assert client.waiter_names == []


def test_hooks_run_in_the_call_plan() -> None:
    seen: list[str] = []

    def params(params: dict[str, Any], **kwargs: Any) -> None:
        seen.append("before-parameter-build")
        params["CustomAttributes"] = "from-hook"

    def sign(request: Any, **kwargs: Any) -> None:
        seen.append("before-sign")
        request.headers["X-Signed"] = "yes"

    def send(request: Any, **kwargs: Any) -> None:
        seen.append("before-send")
        request.headers["X-Unsigned"] = "yes"

    async def main() -> None:
        async with make(srv.url) as client:
            events = client.meta.events
            events.register("before-parameter-build.sagemaker-runtime.InvokeEndpoint", params)
            events.register("before-sign.sagemaker-runtime", sign)
            events.register("before-send.*", send)
            result = await client.invoke_endpoint(EndpointName="e", Body=b"x")
            assert await result["Body"].read() == b"{}"

    with ScriptedServer(lambda r: OK) as srv:
        asyncio.run(main())
    assert seen == ["before-parameter-build", "before-sign", "before-send"]
    (request,) = srv.requests
    assert request.headers["x-amzn-sagemaker-custom-attributes"] == "from-hook"
    assert request.headers["x-signed"] == "yes"
    assert request.headers["x-unsigned"] == "yes"
    signed = request.headers["authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert "x-signed" in signed.split(";")
    assert "x-unsigned" not in signed.split(";")


def test_max_attempts_reached_after_retries_run_out() -> None:
    def handler(r: Received) -> Reply:
        return BUSY

    async def main() -> ClientError:
        cfg = Config(proxies={}, retries={"total_max_attempts": 2, "mode": "standard"})
        async with make(srv.url, config=cfg) as client:
            with pytest.raises(ClientError) as info:
                await client.invoke_endpoint(EndpointName="e", Body=b"x")
            return info.value

    with ScriptedServer(handler) as srv:
        error = asyncio.run(main())
    assert len(srv.requests) == 2
    assert error.response["ResponseMetadata"]["MaxAttemptsReached"] is True
    assert error.response["ResponseMetadata"]["RetryAttempts"] == 1


def test_the_answer_of_the_last_attempt_says_max_attempts_reached() -> None:
    replies = iter([BUSY, OK])

    async def main() -> dict[str, Any]:
        cfg = Config(proxies={}, retries={"total_max_attempts": 2, "mode": "standard"})
        async with make(srv.url, config=cfg) as client:
            result = await client.invoke_endpoint(EndpointName="e", Body=b"x")
            await result["Body"].read()
            return result

    with ScriptedServer(lambda r: next(replies)) as srv:
        result = asyncio.run(main())
    assert result["ResponseMetadata"]["MaxAttemptsReached"] is True


def test_the_pool_config_is_the_clients_wire_config() -> None:
    cfg = Config(max_pool_connections=7, proxies={"https": "http://p:3128"}, verify=False)
    client = AsyncClient("sagemaker-runtime", "us-east-1", config=cfg, environ={}, **KEYS)
    wire = client._pool.config
    assert wire is client.sync_client._wire_config()  # built once per client
    assert wire.tls.verify is False
    assert wire.max_pool_connections == 7
    assert wire.proxies.for_origin("https", "example.com", 443) is not None
