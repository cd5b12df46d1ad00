"""The chat model, part re-cutting and the PayloadPart fast path."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventstream import Message, encode
from smruntime import Client, Config
from smruntime.emulator import Chat, Emulator, EmulatorEndpoint, Tokens, recut
from smruntime.emulator._protocol import payload_frame
from smruntime.exceptions import ModelError


def client_for(emu: Emulator) -> Client:
    creds = emu.credentials
    return Client(
        region_name=emu.region,
        endpoint_url=emu.url,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=Config(proxies={}, max_attempts=1),
        environ={},
    )


@pytest.fixture
def chat() -> Iterator[Client]:
    with Emulator({"chat": "chat", "chat-cut": EmulatorEndpoint(Chat(), part_size=3)}) as emu:
        client = client_for(emu)
        try:
            yield client
        finally:
            client.close()


def chat_body(content: object = "hello world", **extra: object) -> bytes:
    document = {"model": "tgi", "messages": [{"role": "user", "content": content}], **extra}
    return json.dumps(document).encode()


def test_chat_stream_is_openai_chunks_ending_with_done(chat: Client) -> None:
    answer = chat.invoke_endpoint_with_response_stream(
        EndpointName="chat", Body=chat_body(), ContentType="application/json"
    )
    assert answer["ContentType"] == "text/event-stream"
    events = list(answer["Body"].iter_sse())
    assert events[-1].data == "[DONE]"
    chunks = [json.loads(event.data) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert text == "You said: hello world"
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
    assert all("usage" not in chunk for chunk in chunks[:-1])


def test_chat_text_view_and_records_split_across_parts(chat: Client) -> None:
    for endpoint in ("chat", "chat-cut"):
        answer = chat.invoke_endpoint_with_response_stream(
            EndpointName=endpoint, Body=chat_body([{"type": "text", "text": "parts work"}])
        )
        assert "".join(answer["Body"].iter_text()) == "You said: parts work"


def test_chat_max_tokens_cuts_with_finish_reason_length(chat: Client) -> None:
    answer = chat.invoke_endpoint_with_response_stream(
        EndpointName="chat", Body=chat_body("a b c", max_tokens=2)
    )
    events = [e.data for e in answer["Body"].iter_sse()]
    last = json.loads(events[-2])
    assert last["choices"][0]["finish_reason"] == "length"
    assert last["usage"]["completion_tokens"] == 2


def test_chat_completion_without_streaming(chat: Client) -> None:
    answer = chat.invoke_endpoint(EndpointName="chat", Body=chat_body("hi"))
    assert answer["ContentType"] == "application/json"
    document = json.loads(answer["Body"].read())
    assert document["object"] == "chat.completion"
    assert document["choices"][0]["message"] == {"role": "assistant", "content": "You said: hi"}
    assert document["choices"][0]["finish_reason"] == "stop"
    assert document["usage"]["total_tokens"] == 4


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"messages": []}',
        b'{"messages": [{"content": "no role"}]}',
        b'{"messages": [{"role": "user", "content": 5}]}',
        json.dumps({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}).encode(),
    ],
)
def test_chat_rejects_bad_requests_like_tgi(chat: Client, body: bytes) -> None:
    with pytest.raises(ModelError) as caught:
        chat.invoke_endpoint(EndpointName="chat", Body=body)
    assert caught.value.original_status_code == 422


def test_part_size_on_an_endpoint_recuts_any_model() -> None:
    tokens = EmulatorEndpoint(Tokens(), part_size="random")
    with Emulator({"t": tokens, "fixed": EmulatorEndpoint("tokens", part_size=4)}) as emu:
        client = client_for(emu)
        try:
            for name in ("t", "fixed"):
                answer = client.invoke_endpoint_with_response_stream(
                    EndpointName=name, Body=b'{"inputs": "split me up"}'
                )
                parts = [bytes(p) for p in answer["Body"].iter_bytes()]
                assert max(len(p) for p in parts) <= (32 if name == "t" else 4)
                text = b"".join(parts).decode()
                assert text.count("data:") == 6  # five words and </s>
        finally:
            client.close()
    with pytest.raises(ValueError, match="part_size"):
        EmulatorEndpoint("tokens", part_size=0)


@given(st.lists(st.binary(max_size=50), max_size=20), st.integers(1, 40))
def test_recut_keeps_every_byte_in_order(parts: list[bytes], size: int) -> None:
    out = list(recut(parts, size))
    assert b"".join(out) == b"".join(parts)
    assert all(len(p) == size for p in out[:-1])
    randomly = list(recut(parts, "random", seed=size))
    assert b"".join(randomly) == b"".join(parts)
    assert all(1 <= len(p) <= 32 for p in randomly)


@given(st.binary(max_size=5000))
def test_payload_frame_is_what_the_codec_encodes(data: bytes) -> None:
    headers = [
        (":event-type", "PayloadPart"),
        (":content-type", "application/octet-stream"),
        (":message-type", "event"),
    ]
    assert payload_frame(data) == encode(Message(headers, data))
