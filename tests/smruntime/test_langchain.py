"""LangChain's ``SagemakerEndpoint`` (langchain-aws) with ``client=smruntime.Client(...)``:
the way LangChain users take smruntime in, streaming and not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

import smruntime
from smruntime.emulator import Emulator


@pytest.fixture(scope="module")
def sagemaker_endpoint() -> ModuleType:
    # Imported here, not at collection: langchain-aws takes a second to import in every worker.
    return pytest.importorskip("langchain_aws.llms.sagemaker_endpoint")


@pytest.fixture(scope="module")
def handler(sagemaker_endpoint: ModuleType) -> Any:
    class Handler(sagemaker_endpoint.LLMContentHandler):  # type: ignore[name-defined,misc]
        content_type = "application/json"
        accepts = "application/json"

        def transform_input(self, prompt: str, model_kwargs: dict[str, Any]) -> bytes:
            return json.dumps({"inputs": prompt, **model_kwargs}).encode()

        def transform_output(self, output: Any) -> str:
            if isinstance(output, bytes):  # a streamed line (JSON lines)
                return str(json.loads(output)["token"]["text"])
            return str(json.loads(output.read())["inputs"])  # the echo endpoint's answer

    return Handler()


@pytest.fixture
def client() -> Iterator[smruntime.Client]:
    with Emulator() as emu:
        creds = emu.credentials
        with smruntime.Client(
            region_name=emu.region,
            endpoint_url=emu.url,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
        ) as c:
            yield c


def test_invoke(client: smruntime.Client, sagemaker_endpoint: ModuleType, handler: Any) -> None:
    llm = sagemaker_endpoint.SagemakerEndpoint(
        endpoint_name="echo", client=client, content_handler=handler
    )
    assert llm.invoke("Hello there") == "Hello there"


def test_stream(client: smruntime.Client, sagemaker_endpoint: ModuleType, handler: Any) -> None:
    llm = sagemaker_endpoint.SagemakerEndpoint(
        endpoint_name="tokens-jsonl", client=client, content_handler=handler, streaming=True
    )
    chunks = list(llm.stream("Tell me"))
    assert len(chunks) > 3
    text = "".join(chunks)
    assert text.strip()
    # the same text as the stream's own records
    body = client.invoke_endpoint_with_response_stream(
        EndpointName="tokens-jsonl", Body=json.dumps({"inputs": "Tell me"}).encode()
    )["Body"]
    assert text == "".join(r["token"]["text"] for r in body.iter_json())
