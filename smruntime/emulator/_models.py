"""Model handlers for the emulator: the request they see, and the built-in ``echo`` and ``tokens``.

A handler is any callable ``(request: EmulatorRequest) -> bytes | Iterable[bytes]``. For
InvokeEndpointWithResponseStream each item of an iterable becomes one PayloadPart (empty items are
skipped); for InvokeEndpoint and InvokeEndpointAsync the items are joined into one body. A handler
raising :class:`ModelFailure` (or any exception) looks like a container error: a 424 ModelError
before the first byte, a ModelStreamError frame after it.

A handler may set ``content_type`` (attribute or property) to name the model's MIME type. It may
also define ``ready()`` (while it returns False the endpoint answers ``503 ServiceUnavailable``,
as for a container failing its health check) and ``emulator_start()``/``emulator_stop()``
(called when the emulator starts and stops: :class:`~smruntime.emulator.Container` runs its
health checks between them).
"""

from __future__ import annotations

import itertools
import json
import random
import re
import select
import socket
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from smruntime._http import HttpHeaders

__all__ = [
    "Chat",
    "Echo",
    "EmulatorRequest",
    "Handler",
    "HandlerResult",
    "ModelFailure",
    "Tokens",
    "recut",
]

HandlerResult = Union[bytes, Iterable[bytes]]
Handler = Callable[["EmulatorRequest"], HandlerResult]

OPERATION_INVOKE = "InvokeEndpoint"
OPERATION_ASYNC = "InvokeEndpointAsync"
OPERATION_STREAM = "InvokeEndpointWithResponseStream"


_SECRET_HEADERS = frozenset(
    {"authorization", "x-amz-security-token", "x-amzn-sagemaker-custom-attributes"}
)


class ModelFailure(Exception):
    """Raised by a handler to answer like a failing container (``status`` = its HTTP status).

    Mid-stream it becomes a ModelStreamError frame: with ``stream_error_code`` its ``ErrorCode``
    is that and its ``Message`` is *message* as given; otherwise ``StreamBroken`` and
    ``Your model primary failed while streaming: <message>``.
    """

    def __init__(
        self, message: str, status: int = 500, stream_error_code: Optional[str] = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.stream_error_code = stream_error_code


@dataclass(eq=False)
class EmulatorRequest:
    """One request the emulator received, as handlers see it and as ``Emulator.requests`` logs it.

    Fields after ``body`` are filled in while the request is served: ``status`` (HTTP status sent),
    ``error_code``, ``parts_sent`` (PayloadParts written), ``cancelled`` (the client went away or
    the emulator stopped before the answer was complete), ``client_eof`` (the client closed its
    sending side: a hint, not a cancel). A handler may set ``reply_content_type`` and
    ``reply_custom_attributes`` (before its first part) to answer with that model content type
    and ``X-Amzn-SageMaker-Custom-Attributes``, as a container's answer does.
    """

    method: str
    path: str
    headers: HttpHeaders
    body: bytes
    request_id: str
    operation: Optional[str] = None
    endpoint_name: Optional[str] = None
    access_key_id: Optional[str] = None
    received_at: float = 0.0
    status: Optional[int] = None
    error_code: Optional[str] = None
    parts_sent: int = 0
    cancelled: bool = False
    finished: bool = False
    client_eof: bool = False
    reply_content_type: Optional[str] = None
    reply_custom_attributes: Optional[str] = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _sock: Optional[socket.socket] = field(default=None, repr=False)

    def __repr__(self) -> str:
        # Signatures, tokens and bodies (sensitive in the service model) stay out of reprs.
        shown = [
            (name, "****" if name.lower() in _SECRET_HEADERS else value)
            for name, value in self.headers.items_raw()
        ]
        return (
            f"EmulatorRequest({self.method} {self.path!r}, operation={self.operation!r}, "
            f"endpoint_name={self.endpoint_name!r}, status={self.status!r}, "
            f"error_code={self.error_code!r}, parts_sent={self.parts_sent}, "
            f"cancelled={self.cancelled}, body=<{len(self.body)} bytes>, headers={shown!r})"
        )

    @property
    def streaming(self) -> bool:
        """True for InvokeEndpointWithResponseStream."""
        return self.operation == OPERATION_STREAM

    @property
    def content_type(self) -> Optional[str]:
        """The request's model content type (``X-Amzn-SageMaker-Content-Type`` for async)."""
        if self.operation == OPERATION_ASYNC:
            return self.headers.get("X-Amzn-SageMaker-Content-Type")
        return self.headers.get("Content-Type")

    @property
    def accept(self) -> Optional[str]:
        """The requested answer type (``Accept`` or ``X-Amzn-SageMaker-Accept``)."""
        if self.operation == OPERATION_INVOKE:
            return self.headers.get("Accept")
        return self.headers.get("X-Amzn-SageMaker-Accept")

    @property
    def custom_attributes(self) -> Optional[str]:
        """The ``X-Amzn-SageMaker-Custom-Attributes`` header."""
        return self.headers.get("X-Amzn-SageMaker-Custom-Attributes")

    def json(self) -> Any:
        """The body parsed as JSON (:class:`ModelFailure` 400 if it is not JSON)."""
        try:
            return json.loads(self.body.decode("utf-8")) if self.body else None
        except (UnicodeDecodeError, ValueError) as exc:
            raise ModelFailure(f"request body is not JSON: {exc}", status=400) from None

    def client_gone(self) -> bool:
        """True once the connection is broken or the emulator is stopping.

        "Gone" is decided by write failures: an answer that could not be written (the handler
        sets ``cancelled``), or a socket that reports an error or a hang-up (after data written to
        a closed peer came back as a reset: EPIPE/ECONNRESET). A read end-of-file alone is only a
        hint (``client_eof``): a client may half-close its sending side and still read the answer.
        """
        if self.cancelled or self._stop.is_set():
            return True
        sock = self._sock
        if sock is None:
            return False
        try:
            if not _readable_or_broken(sock):
                return False
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                return True
            if not self.client_eof and sock.recv(1, socket.MSG_PEEK) == b"":
                self.client_eof = True
        except (OSError, ValueError):
            return True
        return False

    def sleep(self, seconds: float) -> bool:
        """Wait *seconds* like a model computing; False (early) if the client went away."""
        deadline = time.monotonic() + seconds
        while True:
            if self.client_gone():
                self.cancelled = True
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            self._stop.wait(min(left, 0.02))


def _readable_or_broken(sock: socket.socket) -> bool:
    """Whether *sock* has something to read, an end-of-file or an error, without waiting.

    ``poll`` (no ``FD_SETSIZE`` limit, unlike ``select``) where the platform has it.
    """
    poll = getattr(select, "poll", None)
    if poll is None:  # pragma: no cover - Windows: select has no descriptor-number limit there
        readable, _, errored = select.select([sock], [], [sock], 0)
        return bool(readable or errored)
    poller = poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))


def _content_type_of(handler: object, request: EmulatorRequest) -> Optional[str]:
    value = getattr(handler, "content_type", None)
    if callable(value):
        result = value(request)
        return str(result) if result is not None else None
    return str(value) if value is not None else None


class Echo:
    """Answers with the request body; streaming, in parts of ``part_size`` bytes."""

    def __init__(self, part_size: int = 16, delay: float = 0.0) -> None:
        if part_size < 1:
            raise ValueError(f"part_size must be >= 1, got {part_size}")
        self.part_size = part_size
        self.delay = delay

    def content_type(self, request: EmulatorRequest) -> str:
        """The request's own content type (``application/octet-stream`` if none)."""
        return request.content_type or "application/octet-stream"

    def __call__(self, request: EmulatorRequest) -> HandlerResult:
        if not request.streaming:
            return request.body
        return self._parts(request)

    def _parts(self, request: EmulatorRequest) -> Iterator[bytes]:
        body = request.body
        for start in range(0, len(body), self.part_size):
            if start and self.delay and not request.sleep(self.delay):
                return
            yield body[start : start + self.part_size]

    def __repr__(self) -> str:
        return f"Echo(part_size={self.part_size}, delay={self.delay})"


_WORD = re.compile(r"\s*\S+")
_FORMATS = {"sse": "text/event-stream", "jsonl": "application/jsonlines"}


class Tokens:
    """A text-generation model that streams its answer token by token.

    The prompt is ``inputs`` of a JSON body ``{"inputs": ..., "parameters": {...}}`` (or the raw
    body as text). The answer is *text* if given, else ``"You said: <prompt>"``; tokens are its
    words with their leading whitespace (``parameters.max_new_tokens`` cuts it short).

    ``format="sse"`` emits TGI's ``data:{"index":..,"token":{..},"generated_text":..,"details":..}``
    events separated by a blank line; ``format="jsonl"`` emits LMI-style JSON lines
    (``{"token": {"id", "text", "log_prob"}}``). The last record carries ``generated_text`` and
    ``details`` (an ``</s>`` special token ends a complete answer, ``finish_reason`` =
    ``eos_token``; a cut one ends with ``length``). ``delay`` is the wait before each token;
    ``part_size`` re-cuts the bytes into parts of that size (records split across parts, as
    real endpoints do); otherwise one record per part. Non-streaming calls get
    ``[{"generated_text": ...}]``.
    """

    def __init__(
        self,
        format: str = "sse",
        delay: float = 0.0,
        text: Optional[str] = None,
        part_size: Optional[int] = None,
    ) -> None:
        if format not in _FORMATS:
            raise ValueError(f"format must be one of {', '.join(_FORMATS)}, got {format!r}")
        if part_size is not None and part_size < 1:
            raise ValueError(f"part_size must be >= 1, got {part_size}")
        self.format = format
        self.delay = delay
        self.text = text
        self.part_size = part_size

    def content_type(self, request: EmulatorRequest) -> str:
        """``text/event-stream`` (sse), ``application/jsonlines`` or ``application/json``."""
        return _FORMATS[self.format] if request.streaming else "application/json"

    def prompt_and_limit(self, request: EmulatorRequest) -> tuple[str, Optional[int]]:
        """The prompt text and ``max_new_tokens`` of a request."""
        document = request.json() if request.body.lstrip()[:1] in (b"{", b"[", b'"') else None
        if isinstance(document, dict):
            inputs = document.get("inputs", "")
            prompt = inputs if isinstance(inputs, str) else json.dumps(inputs)
            parameters = document.get("parameters")
            limit = parameters.get("max_new_tokens") if isinstance(parameters, dict) else None
            if limit is not None and (not isinstance(limit, int) or limit < 1):
                raise ModelFailure(
                    f"parameters.max_new_tokens must be a positive integer, got {limit!r}",
                    status=422,
                )
            return prompt, limit
        if isinstance(document, str):
            return document, None
        try:
            return request.body.decode("utf-8"), None
        except UnicodeDecodeError:
            raise ModelFailure("request body is not UTF-8 text", status=400) from None

    def answer(self, prompt: str) -> str:
        """The full answer for *prompt*."""
        return self.text if self.text is not None else f"You said: {prompt}"

    def __call__(self, request: EmulatorRequest) -> HandlerResult:
        prompt, limit = self.prompt_and_limit(request)
        words = _WORD.findall(self.answer(prompt))
        if not request.streaming:
            kept = words if limit is None else words[:limit]
            return json.dumps([{"generated_text": "".join(kept)}]).encode()
        records = self._records(words, limit, len(_WORD.findall(prompt)))
        if self.part_size is None:
            return self._paced(request, records)
        return self._recut(request, records, self.part_size)

    def _records(self, words: list[str], limit: Optional[int], input_length: int) -> list[bytes]:
        cut = limit is not None and len(words) > limit
        kept = words[:limit] if cut else words
        tokens: list[tuple[str, bool]] = [(word, False) for word in kept]
        if not cut:
            tokens.append(("</s>", True))
        text = "".join(kept)
        records = []
        for index, (token_text, special) in enumerate(tokens, start=1):
            last = index == len(tokens)
            token_id = 2 if special else 3 + zlib.crc32(token_text.encode()) % 32000
            logprob = -round((zlib.crc32(token_text.encode()) % 1000) / 1000, 3)
            details: Optional[dict[str, Any]] = None
            if last:
                details = {
                    "finish_reason": "length" if cut else "eos_token",
                    "generated_tokens": len(tokens),
                    "input_length": input_length,
                    "seed": None,
                }
            if self.format == "sse":
                record: dict[str, Any] = {
                    "index": index,
                    "token": {
                        "id": token_id,
                        "text": token_text,
                        "logprob": logprob,
                        "special": special,
                    },
                    "generated_text": text if last else None,
                    "details": details,
                }
                line = "data:" + json.dumps(record, ensure_ascii=False, separators=(",", ":"))
                records.append((line + "\n\n").encode("utf-8"))
            else:
                record = {"token": {"id": token_id, "text": token_text, "log_prob": logprob}}
                if special:
                    record["token"]["special_token"] = True
                if last:
                    record["generated_text"] = text
                    record["details"] = details
                records.append((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        return records

    def _paced(self, request: EmulatorRequest, records: list[bytes]) -> Iterator[bytes]:
        for record in records:
            if self.delay and not request.sleep(self.delay):
                return
            yield record

    def _recut(self, request: EmulatorRequest, records: list[bytes], size: int) -> Iterator[bytes]:
        pending = b""
        for record in self._paced(request, records):
            pending += record
            while len(pending) >= size:
                yield pending[:size]
                pending = pending[size:]
        if pending:
            yield pending

    def __repr__(self) -> str:
        return (
            f"Tokens(format={self.format!r}, delay={self.delay}, text={self.text!r}, "
            f"part_size={self.part_size})"
        )


class Chat:
    """An OpenAI chat-completions model, as TGI's and vLLM's Messages API containers serve it.

    The request is ``{"model", "messages": [{"role", "content"}...], "max_tokens" (or
    ``max_completion_tokens``), ...}``; the prompt is the last user message's text (a string or
    ``[{"type": "text", "text": ...}]`` parts); the answer is *text* if given, else
    ``"You said: <prompt>"``, one token per word. InvokeEndpoint answers a ``chat.completion``;
    InvokeEndpointWithResponseStream streams SSE ``data: {"object": "chat.completion.chunk",
    ...}`` events: the assistant role first, one ``delta.content`` per token, then a chunk with
    ``finish_reason`` (``stop``, or ``length`` when ``max_tokens`` cut it) and ``usage``, then
    ``data: [DONE]``. ``delay`` is the wait before each token. A request without messages is a
    422 (as TGI answers).
    """

    def __init__(self, delay: float = 0.0, text: Optional[str] = None) -> None:
        self.delay = delay
        self.text = text
        self._ids = itertools.count(1)

    def content_type(self, request: EmulatorRequest) -> str:
        """``text/event-stream`` when streaming, else ``application/json``."""
        return "text/event-stream" if request.streaming else "application/json"

    def _request(self, request: EmulatorRequest) -> tuple[str, Optional[int], str]:
        document = request.json()
        if not isinstance(document, dict):
            raise ModelFailure("the request must be a JSON object with messages", status=422)
        messages = document.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ModelFailure("messages must be a non-empty list", status=422)
        prompt = ""
        for message in messages:
            if not isinstance(message, dict) or "role" not in message:
                raise ModelFailure("each message must be an object with a role", status=422)
            if message.get("role") == "user":
                prompt = _message_text(message.get("content"))
        limit = document.get("max_completion_tokens", document.get("max_tokens"))
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ModelFailure(f"max_tokens must be a positive integer, got {limit!r}", status=422)
        model = document.get("model")
        return prompt, limit, model if isinstance(model, str) else "tgi"

    def __call__(self, request: EmulatorRequest) -> HandlerResult:
        prompt, limit, model = self._request(request)
        words = _WORD.findall(self.text if self.text is not None else f"You said: {prompt}")
        cut = limit is not None and len(words) > limit
        kept = words[:limit] if cut else words
        usage = {
            "prompt_tokens": len(_WORD.findall(prompt)),
            "completion_tokens": len(kept),
            "total_tokens": len(_WORD.findall(prompt)) + len(kept),
        }
        ident = f"chatcmpl-{next(self._ids):08d}"
        created = int(time.time())
        finish = "length" if cut else "stop"
        if not request.streaming:
            return _compact(
                {
                    "id": ident,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "system_fingerprint": "emulator",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "".join(kept)},
                            "logprobs": None,
                            "finish_reason": finish,
                        }
                    ],
                    "usage": usage,
                }
            )
        return self._stream(request, ident, created, model, kept, finish, usage)

    def _stream(
        self,
        request: EmulatorRequest,
        ident: str,
        created: int,
        model: str,
        words: list[str],
        finish: str,
        usage: dict[str, int],
    ) -> Iterator[bytes]:
        def chunk(delta: dict[str, Any], reason: Optional[str], **extra: Any) -> bytes:
            record = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "emulator",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
                ],
                **extra,
            }
            return b"data: " + _compact(record) + b"\n\n"

        yield chunk({"role": "assistant", "content": ""}, None)
        for word in words:
            if self.delay and not request.sleep(self.delay):
                return
            yield chunk({"content": word}, None)
        yield chunk({}, finish, usage=usage)
        yield b"data: [DONE]\n\n"

    def __repr__(self) -> str:
        return f"Chat(delay={self.delay}, text={self.text!r})"


def _compact(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    raise ModelFailure("message content must be a string or a list of parts", status=422)


PartSize = Union[int, str, None]


def recut(parts: Iterable[bytes], size: PartSize, seed: Optional[int] = None) -> Iterator[bytes]:
    """Re-cut a stream of parts so that PayloadParts end at arbitrary bytes, as real endpoints'
    do: every *size* bytes of the answer, or (``"random"``) after 1 to 32 bytes at random
    (*seed* for a repeatable cut). The bytes past the last cut wait for the next part (and the
    end of the answer).
    """
    if size is None:
        yield from parts
        return
    rng = random.Random(seed)
    if size == "random":

        def next_size() -> int:
            return rng.randint(1, 32)

    elif isinstance(size, int) and size >= 1:

        def next_size() -> int:
            return size

    else:
        raise ValueError(f"part size must be a positive integer or 'random', got {size!r}")
    pending = b""
    want = next_size()
    for part in parts:
        pending += part
        while len(pending) >= want:
            yield pending[:want]
            pending = pending[want:]
            want = next_size()
    if pending:
        yield pending


def handler_content_type(handler: object, request: EmulatorRequest) -> Optional[str]:
    """The content type a handler declares for *request*, if any."""
    return _content_type_of(handler, request)
