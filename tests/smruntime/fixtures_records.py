"""Sample model response bodies, as serving containers stream them (USER-NEEDS §2).

Each :class:`StreamSample` holds the container's body bytes, the model content type that comes
with it (``X-Amzn-SageMaker-Content-Type``), a realistic cut into PayloadParts (records split
mid-object, several records in one part, a UTF-8 character split), and what a reader must get
out: the record format, the number of records, the generated text and whether the stream carries
an error record. Reusable by the emulator and stream tests::

    from .fixtures_records import CUT_CASES, SAMPLES
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = ["CUT_CASES", "SAMPLES", "CutCase", "StreamSample", "cut", "sample"]


def cut(body: bytes, *sizes: int) -> tuple[bytes, ...]:
    """Cut ``body`` into parts of the given sizes, cycling through them (deterministic)."""
    parts = []
    pos = 0
    i = 0
    while pos < len(body):
        size = sizes[i % len(sizes)]
        parts.append(body[pos : pos + size])
        pos += size
        i += 1
    return tuple(parts)


@dataclass(frozen=True)
class StreamSample:
    """One container's streamed body and what must be read from it."""

    name: str
    content_type: str
    body: bytes
    fmt: str  # the format decoder_for() picks ("sse", "jsonl", "json", ...)
    records: int  # records the decoder yields for the whole body
    text: str  # "".join of extract_text over the records
    error: Optional[str] = None  # a substring of find_error() for the error record, if any
    sizes: tuple[int, ...] = (37, 5, 101, 1, 64)  # the PayloadPart cut used by `parts`
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def parts(self) -> tuple[bytes, ...]:
        """The body cut into PayloadParts (records split, several records per part)."""
        return cut(self.body, *self.sizes)


def _sse(objs: list[Any], *, space: bool, done: bool = False, eol: str = "\n") -> bytes:
    prefix = "data: " if space else "data:"
    out = [
        f"{prefix}{json.dumps(o, separators=(',', ':'), ensure_ascii=False)}{eol}{eol}"
        for o in objs
    ]
    if done:
        out.append(f"{prefix}[DONE]{eol}{eol}")
    return "".join(out).encode("utf-8")


def _jsonl(objs: list[Any]) -> bytes:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs).encode("utf-8")


def _tgi_token(i: int, tid: int, text: str, *, special: bool = False, final: str = "") -> Any:
    rec: dict[str, Any] = {
        "index": i,
        "token": {"id": tid, "text": text, "logprob": -0.42, "special": special},
        "generated_text": None,
        "details": None,
    }
    if final:
        rec["generated_text"] = final
        rec["details"] = {
            "finish_reason": "eos_token",
            "generated_tokens": i,
            "input_length": 7,
            "seed": None,
        }
    return rec


# --- §2.2 TGI generate: `data:` without a space, keep-alive comment, special final token
_TGI_TOKENS = [" Hello", ",", " world", "!"]
TGI_GENERATE = StreamSample(
    name="tgi-generate",
    content_type="text/event-stream",
    body=(
        b":\n\n"  # axum keep-alive during prefill
        + _sse(
            [_tgi_token(i + 1, 22557 + i, t) for i, t in enumerate(_TGI_TOKENS)]
            + [_tgi_token(5, 2, "</s>", special=True, final=" Hello, world!")],
            space=False,
        )
    ),
    fmt="sse",
    records=5,
    text=" Hello, world!",
    notes="one event per token; generated_text and details only on the last (special) token",
)

# --- TGI generate with multibyte text: CJK, emoji, accents split across parts
_UTF8_TOKENS = ["caf", "é", " 深度", "学习", " 🚀", "🎉", " naïve"]
TGI_UTF8 = StreamSample(
    name="tgi-utf8",
    content_type="text/event-stream; charset=utf-8",
    body=_sse(
        [_tgi_token(i + 1, 100 + i, t) for i, t in enumerate(_UTF8_TOKENS)]
        + [_tgi_token(8, 2, "</s>", special=True, final="".join(_UTF8_TOKENS))],
        space=False,
    ),
    fmt="sse",
    records=8,
    text="".join(_UTF8_TOKENS),
    sizes=(3, 7, 2, 11, 1, 5),
)


def _choice(delta: dict[str, Any], finish: Optional[str] = None, **extra: Any) -> Any:
    """One streamed OpenAI-style chat choice (``choices[0]`` of a chunk)."""
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish, **extra}


def _chat_chunk(content: Optional[str], *, finish: Optional[str] = None, role: bool = True) -> Any:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    return {
        "object": "chat.completion.chunk",
        "id": "",
        "created": 1735000000,
        "model": "tgi",
        "system_fingerprint": "2.4.0-sha-0000000",
        "choices": [_choice(delta, finish)],
        "usage": None,
    }


# --- §2.3 TGI Messages API: OpenAI chat chunks, `data:` without a space, [DONE]
TGI_MESSAGES = StreamSample(
    name="tgi-messages",
    content_type="text/event-stream",
    body=_sse(
        [
            _chat_chunk("Deep"),
            _chat_chunk(" learning"),
            _chat_chunk(" is"),
            _chat_chunk("", finish="length"),
        ],
        space=False,
        done=True,
    ),
    fmt="sse",
    records=5,
    text="Deep learning is",
)

# --- §2.4 LMI rolling batch, default jsonlines (`log_prob`)
LMI_JSONLINES = StreamSample(
    name="lmi-jsonlines",
    content_type="application/jsonlines",
    body=_jsonl(
        [
            {"token": {"id": 304, "text": "Deep ", "log_prob": -0.0524}},
            {"token": {"id": 11157, "text": " Learning", "log_prob": -1.2865}},
            {"token": {"id": 338, "text": " is", "log_prob": -0.31}},
            {
                "token": {"id": 5972, "text": " field.", "log_prob": -0.6950},
                "generated_text": "Deep  Learning is field.",
                "details": {
                    "finish_reason": "length",
                    "generated_tokens": 4,
                    "inputs": "What is Deep Learning?",
                },
            },
        ]
    ),
    fmt="jsonl",
    records=4,
    text="Deep  Learning is field.",
)

# --- §2.4 LMI with option.output_formatter=sse: same objects, `data:` without a space
LMI_SSE = StreamSample(
    name="lmi-sse",
    content_type="text/event-stream",
    body=_sse(
        [
            {"token": {"id": 304, "text": "Deep", "log_prob": -0.05}},
            {"token": {"id": 11157, "text": " Learning", "log_prob": -1.28}},
        ],
        space=False,
    ),
    fmt="sse",
    records=2,
    text="Deep Learning",
)

# --- §2.4 LMI legacy dynamic batching: {"outputs": [...]} per token, content type application/json
LMI_LEGACY = StreamSample(
    name="lmi-legacy-outputs",
    content_type="application/json",
    body=_jsonl(
        [
            {"outputs": ["This"]},
            {"outputs": [" is"]},
            {"outputs": [" a"]},
            {"outputs": [" problem"]},
        ]
    ),
    fmt="json",
    records=4,
    text="This is a problem",
    sizes=(11, 19, 3),
)

# --- §2.4 LMI chat completions schema: OpenAI chunks as JSON lines
LMI_CHAT = StreamSample(
    name="lmi-chat-jsonlines",
    content_type="application/jsonlines",
    body=_jsonl(
        [
            {
                "id": "chatcmpl-0",
                "object": "chat.completion.chunk",
                "created": 1712792433,
                "choices": [_choice({"content": " Oh", "role": "assistant"})],
            },
            {
                "id": "chatcmpl-0",
                "object": "chat.completion.chunk",
                "created": 1712792433,
                "choices": [_choice({"content": " hi"}, "stop")],
            },
        ]
    ),
    fmt="jsonl",
    records=2,
    text=" Oh hi",
)


def _vllm(choices: list[Any], **extra: Any) -> Any:
    return {
        "id": "chatcmpl-8f3",
        "object": "chat.completion.chunk",
        "created": 1735000000,
        "model": "/opt/ml/model",
        "choices": choices,
        **extra,
    }


# --- §2.5 vLLM OpenAI server: `data: ` with a space, role-only first chunk, usage-only chunk
VLLM_CHAT = StreamSample(
    name="vllm-chat",
    content_type="text/event-stream; charset=utf-8",
    body=_sse(
        [
            _vllm([_choice({"role": "assistant", "content": ""})]),
            _vllm([_choice({"content": "Hello"})]),
            _vllm([_choice({"content": " there"})]),
            _vllm([_choice({}, "stop", stop_reason=None)]),
            _vllm([], usage={"prompt_tokens": 21, "completion_tokens": 14, "total_tokens": 35}),
        ],
        space=True,
        done=True,
    ),
    fmt="sse",
    records=6,
    text="Hello there",
)


def _completion(text: str, finish: Optional[str] = None) -> Any:
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "choices": [{"index": 0, "text": text, "finish_reason": finish}],
    }


# --- §2.5 vLLM completions endpoint: choices[0].text, CRLF line ends
VLLM_COMPLETION = StreamSample(
    name="vllm-completion-crlf",
    content_type="text/event-stream",
    body=_sse(
        [_completion("Once"), _completion(" upon"), _completion("", "length")],
        space=True,
        done=True,
        eol="\r\n",
    ),
    fmt="sse",
    records=4,
    text="Once upon",
    sizes=(13, 1, 29),
)

# --- §2.6 JumpStart Llama chat: one JSON document over several lines, final `]` without newline
JUMPSTART_LLAMA_CHAT = StreamSample(
    name="jumpstart-llama-chat-document",
    content_type="application/json",
    body=(
        b'[\n  {\n    "generation": {\n      "role": "assistant",\n'
        b'      "content": " Sure! Paris is the capital of France."\n    }\n  }\n]'
    ),
    fmt="json",
    records=1,
    text=" Sure! Paris is the capital of France.",
    sizes=(9, 30),
)

# --- §2.6 JumpStart generated_text deltas as JSON lines (litellm#8889)
JUMPSTART_GENERATED_TEXT = StreamSample(
    name="jumpstart-generated-text",
    content_type="application/jsonlines",
    body=_jsonl(
        [{"generated_text": "The"}, {"generated_text": " sky"}, {"generated_text": " is blue"}]
    ),
    fmt="jsonl",
    records=3,
    text="The sky is blue",
)

# --- §2.2 TGI mid-stream error after HTTP 200
TGI_ERROR = StreamSample(
    name="tgi-error",
    content_type="text/event-stream",
    body=_sse(
        [
            _tgi_token(1, 22557, " Hello"),
            {
                "error": "Request failed during generation: Server error: CUDA out of memory",
                "error_type": "generation",
            },
        ],
        space=False,
    ),
    fmt="sse",
    records=2,
    text=" Hello",
    error="CUDA out of memory",
)

# --- §2.5 vLLM mid-stream error
VLLM_ERROR = StreamSample(
    name="vllm-error",
    content_type="text/event-stream",
    body=_sse(
        [
            _vllm([_choice({"content": "Hi"})]),
            {
                "error": {
                    "message": "context length exceeded",
                    "type": "BadRequestError",
                    "param": None,
                    "code": 400,
                }
            },
        ],
        space=True,
    ),
    fmt="sse",
    records=2,
    text="Hi",
    error="context length exceeded",
)

# --- §2.4 LMI rolling batch mid-stream error: a final record with finish_reason "error"
LMI_ERROR = StreamSample(
    name="lmi-error",
    content_type="application/jsonlines",
    body=_jsonl(
        [
            {"token": {"id": 304, "text": "Deep", "log_prob": -0.05}},
            {
                "token": {"id": -1, "text": "", "log_prob": -1, "special_token": True},
                "generated_text": "",
                "details": {"finish_reason": "error", "generated_tokens": None, "inputs": None},
            },
        ]
    ),
    fmt="jsonl",
    records=2,
    text="Deep",
    error="finish_reason=error",
)

SAMPLES: tuple[StreamSample, ...] = (
    TGI_GENERATE,
    TGI_UTF8,
    TGI_MESSAGES,
    LMI_JSONLINES,
    LMI_SSE,
    LMI_LEGACY,
    LMI_CHAT,
    VLLM_CHAT,
    VLLM_COMPLETION,
    JUMPSTART_LLAMA_CHAT,
    JUMPSTART_GENERATED_TEXT,
    TGI_ERROR,
    VLLM_ERROR,
    LMI_ERROR,
)


def sample(name: str) -> StreamSample:
    """The sample called ``name``."""
    for s in SAMPLES:
        if s.name == name:
            return s
    raise KeyError(name)


@dataclass(frozen=True)
class CutCase:
    """A USER-NEEDS §2.7 row: parts as cut by SageMaker and the records they must give."""

    name: str
    fmt: str
    parts: tuple[bytes, ...]
    records: tuple[Any, ...]


CUT_CASES: tuple[CutCase, ...] = (
    CutCase(
        "json split mid-object",
        "jsonl",
        (b'{"outputs": ', b'[" problem"]}\n'),
        ({"outputs": [" problem"]},),
    ),
    CutCase(
        "two sse events in one part",
        "sse",
        (b'data:{"a":1}\n\ndata:{"a":2}\n\n',),
        ('{"a":1}', '{"a":2}'),
    ),
    CutCase(
        "event + start of next",
        "sse",
        (b'data: {"a":1}\n\ndata: {"a"', b":2}\n\n"),
        ('{"a":1}', '{"a":2}'),
    ),
    CutCase(
        "multibyte utf-8 split",
        "sse",
        (b'data:{"token":{"text":"caf\xc3', b'\xa9"}}\n\n'),
        ('{"token":{"text":"café"}}',),
    ),
    CutCase("crlf split", "sse", (b'data: {"a":1}\r', b"\n\r\n"), ('{"a":1}',)),
    CutCase(
        "no trailing newline at eof",
        "jsonl",
        (b'{"outputs": [" a"]}\n{"outputs": [" b"]}',),
        ({"outputs": [" a"]}, {"outputs": [" b"]}),
    ),
    CutCase("keep-alive comment", "sse", (b":\n\n",), ()),
    CutCase("empty part", "sse", (b"",), ()),
    CutCase("empty part jsonl", "jsonl", (b"", b'{"a":1}', b"", b"\n", b""), ({"a": 1},)),
)
