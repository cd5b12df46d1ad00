"""The ``smruntime`` command line: demo, invoke, decode, sign, serve.

Data goes to stdout, progress, metadata and summaries to stderr. Failures are one line
(``smruntime: error: ...``) with exit code 2 for usage errors, 1 for runtime errors and 130 for
Ctrl-C; a broken pipe (``| head``) ends quietly. Heavy modules are imported inside the commands so
that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from eventstream import Frame
    from sigv4 import Credentials

__all__ = ["main"]

PROG = "smruntime"

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `yes | head`

OP_INVOKE = "InvokeEndpoint"
OP_ASYNC = "InvokeEndpointAsync"
OP_STREAM = "InvokeEndpointWithResponseStream"

DEMO_ENDPOINT = "demo"
SERVE_ENDPOINT = "my-endpoint"
DEMO_PROMPT = "What is an event stream?"


class CLIError(Exception):
    """A failure reported as one line on stderr; ``code`` is the exit code."""

    def __init__(self, message: str, *, code: int = EXIT_RUNTIME) -> None:
        super().__init__(message)
        self.code = code


class UsageError(CLIError):
    """The command line itself is wrong (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code=EXIT_USAGE)


# --------------------------------------------------------------------------------------------
# small output helpers


def _err(message: str) -> None:
    """Write one line to stderr (never raises: stderr may be closed too)."""
    try:
        sys.stderr.write(message.rstrip("\n") + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _out_text(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _out_bytes(data: bytes) -> None:
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(data.decode("utf-8", "replace"))
        sys.stdout.flush()
        return
    # A write into a pipe whose reader just left can come back short instead of failing; the
    # next write then raises BrokenPipeError, which is what we want to see.
    view = memoryview(data)
    while view:
        written = buffer.write(view)
        if not written:
            raise BrokenPipeError("short write to stdout")
        view = view[written:]
    buffer.flush()


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _preview(data: bytes, limit: int = 60) -> str:
    """A printable, one-line preview of ``data`` (text if it decodes, else hex)."""
    head = data[:limit]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        more = "..." if len(data) > limit else ""
        return f"hex {head.hex()}{more}"
    more = "..." if len(data) > limit else ""
    return json.dumps(text, ensure_ascii=False) + more


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(raw).decode("ascii")}
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def _dumps(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, indent=indent)


def _fmt_bytes(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KiB"
    return f"{count / (1024 * 1024):.1f} MiB"


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


# --------------------------------------------------------------------------------------------
# redaction for --debug logging (the library already masks; this is belt and braces)

_SECRET_PATTERNS = (
    (re.compile(r"(Signature=)[0-9a-fA-F]+"), r"\1****"),
    (re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=,]\s*['\"]?)[^\s'\",}]+"), r"\1****"),
    (re.compile(r"(?i)(secret_access_key['\"]?\s*[:=]\s*['\"]?)[^\s'\",)]+"), r"\1****"),
    (re.compile(r"(?i)(session_token['\"]?\s*[:=]\s*['\"]?)[^\s'\",)]+"), r"\1****"),
    (
        re.compile(r"(?i)(authorization['\"]?\s*[:=,]\s*['\"]?AWS4-HMAC-SHA256 )[^'\"\n]+"),
        r"\1****",
    ),
)


def redact(text: str) -> str:
    """Mask signatures, session tokens, secret keys and Authorization values in ``text``."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _setup_debug_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _RedactingFormatter("%(asctime)s %(name)s %(levelname)s %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG)


# --------------------------------------------------------------------------------------------
# bodies


def _read_body(spec: str | None) -> tuple[bytes, str | None]:
    """Resolve ``--body``: ``TEXT``, ``@FILE`` or ``-`` / ``@-`` (stdin).

    Returns the bytes and the file name they came from (``None`` for literal text or stdin).
    """
    if spec is None:
        return b"", None
    if spec in ("-", "@-"):
        stdin = getattr(sys.stdin, "buffer", None)
        data = stdin.read() if stdin is not None else sys.stdin.read().encode("utf-8")
        return bytes(data), None
    if spec.startswith("@"):
        path = spec[1:]
        try:
            with open(path, "rb") as fh:
                return fh.read(), path
        except OSError as exc:
            raise CLIError(f"cannot read body file {path!r}: {exc.strerror or exc}") from None
    return spec.encode("utf-8"), None


# --------------------------------------------------------------------------------------------
# the parser


class _Parser(argparse.ArgumentParser):
    """argparse with our one-line error format and exit code 2."""

    def error(self, message: str) -> Any:  # argparse's signature says NoReturn
        self.print_usage(sys.stderr)
        _err(f"{PROG}: error: {message}")
        raise SystemExit(EXIT_USAGE)


def _add_common_client_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection")
    g.add_argument("--region", help="AWS region (default: AWS_REGION, profile, ...)")
    g.add_argument("--profile", help="named profile from the AWS config/credentials files")
    g.add_argument("--endpoint-url", help="send requests here instead of the regional endpoint")
    g.add_argument(
        "--transport",
        choices=["requests", "stdlib"],
        help="HTTP transport (default: requests if installed, else the standard library)",
    )
    g.add_argument("--read-timeout", type=float, metavar="SECONDS", help="socket read timeout")
    g.add_argument("--connect-timeout", type=float, metavar="SECONDS", help="connect timeout")
    g.add_argument(
        "--first-event-timeout",
        type=float,
        metavar="SECONDS",
        help="(stream) longest wait from the response headers to the first event",
    )
    g.add_argument(
        "--event-timeout",
        type=float,
        metavar="SECONDS",
        help="(stream) longest gap between two events",
    )
    g.add_argument(
        "--total-timeout", type=float, metavar="SECONDS", help="(stream) deadline for the stream"
    )
    g.add_argument("--max-attempts", type=int, metavar="N", help="attempts incl. the first")


def _add_debug(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--debug",
        action="store_true",
        help="log to stderr (secrets redacted) and show tracebacks",
    )


# (option dest, boto3 parameter, operations that accept it)
_PARAMS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("content_type", "ContentType", frozenset({OP_INVOKE, OP_ASYNC, OP_STREAM})),
    ("accept", "Accept", frozenset({OP_INVOKE, OP_ASYNC, OP_STREAM})),
    ("custom_attributes", "CustomAttributes", frozenset({OP_INVOKE, OP_ASYNC, OP_STREAM})),
    ("target_model", "TargetModel", frozenset({OP_INVOKE})),
    ("target_variant", "TargetVariant", frozenset({OP_INVOKE, OP_STREAM})),
    ("target_container_hostname", "TargetContainerHostname", frozenset({OP_INVOKE, OP_STREAM})),
    ("inference_id", "InferenceId", frozenset({OP_INVOKE, OP_ASYNC, OP_STREAM})),
    ("enable_explanations", "EnableExplanations", frozenset({OP_INVOKE})),
    ("inference_component_name", "InferenceComponentName", frozenset({OP_INVOKE, OP_STREAM})),
    ("session_id", "SessionId", frozenset({OP_INVOKE, OP_STREAM})),
    ("prefix_aware_id", "PrefixAwareId", frozenset({OP_INVOKE, OP_STREAM})),
    ("input_location", "InputLocation", frozenset({OP_ASYNC})),
    ("s3_output_path_extension", "S3OutputPathExtension", frozenset({OP_ASYNC})),
    ("filename", "Filename", frozenset({OP_ASYNC})),
    ("request_ttl_seconds", "RequestTTLSeconds", frozenset({OP_ASYNC})),
    ("invocation_timeout_seconds", "InvocationTimeoutSeconds", frozenset({OP_ASYNC})),
)


def _option_name(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    """The ``smruntime`` argument parser (exposed for documentation and tests)."""
    from smruntime import __version__

    parser = _Parser(
        prog=PROG,
        description="Amazon SageMaker Runtime from the command line: stream from an endpoint, "
        "decode captured event streams, show SigV4 signing, run a local emulator.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    # demo ------------------------------------------------------------------------------------
    p = sub.add_parser(
        "demo",
        help="stream a generated answer from a local emulator through the real client",
        description="Start the endpoint emulator on a free loopback port and stream an answer "
        "through the real client path (SigV4 signing, HTTP, event-stream decoding, record "
        "parsing). Needs no AWS account or configuration.",
    )
    p.add_argument("--prompt", default=DEMO_PROMPT, help="the prompt to send")
    p.add_argument(
        "--tokens",
        type=int,
        default=None,
        metavar="N",
        help="tokens to generate (default: the whole canned answer)",
    )
    p.add_argument(
        "--delay", type=float, default=0.03, metavar="SECONDS", help="delay between tokens"
    )
    p.add_argument(
        "--format",
        choices=["sse", "jsonl"],
        default="sse",
        help="what the emulated container emits: TGI-style SSE or JSON lines",
    )
    p.add_argument("--transport", choices=["requests", "stdlib"], help="HTTP transport")
    _add_debug(p)
    p.set_defaults(func=cmd_demo)

    # invoke ----------------------------------------------------------------------------------
    p = sub.add_parser(
        "invoke",
        help="call an endpoint (InvokeEndpoint, ...WithResponseStream, ...Async)",
        description="Invoke ENDPOINT. Without --stream or --async this is InvokeEndpoint: the "
        "body goes to stdout and the response metadata to stderr. --stream calls "
        "InvokeEndpointWithResponseStream and prints the output live; --async calls "
        "InvokeEndpointAsync.",
    )
    p.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name")
    p.add_argument(
        "--body",
        metavar="TEXT|@FILE|-",
        help="request body: literal text, @FILE, or - for stdin (default: empty)",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stream", action="store_true", help="use InvokeEndpointWithResponseStream")
    mode.add_argument(
        "--async", dest="use_async", action="store_true", help="use InvokeEndpointAsync"
    )
    view = p.add_mutually_exclusive_group()
    view.add_argument(
        "--text",
        dest="view",
        action="store_const",
        const="text",
        help="(stream) print the generated text live; the default view",
    )
    view.add_argument(
        "--lines", dest="view", action="store_const", const="lines", help="(stream) one line each"
    )
    view.add_argument(
        "--jsonl",
        dest="view",
        action="store_const",
        const="jsonl",
        help="(stream) one JSON record per line",
    )
    view.add_argument(
        "--raw",
        dest="view",
        action="store_const",
        const="raw",
        help="(stream) the payload bytes exactly as received",
    )
    p.add_argument(
        "--trace",
        action="store_true",
        help="show each frame (offset, sizes, headers, CRCs, arrival) on stderr; implies --stream",
    )
    p.add_argument(
        "--save", metavar="FILE", help="keep the raw event-stream bytes in FILE; implies --stream"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="(non-stream) print the whole response as one JSON object on stdout",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no metadata or summary on stderr")
    params = p.add_argument_group("operation parameters")
    params.add_argument("--content-type", help="MIME type of the body")
    params.add_argument("--accept", help="MIME type wanted back")
    params.add_argument(
        "--custom-attributes", metavar="TEXT", help="e.g. accept_eula=true (visible ASCII)"
    )
    params.add_argument("--target-model", help="(InvokeEndpoint) model of a multi-model endpoint")
    params.add_argument("--target-variant", help="production variant to call")
    params.add_argument("--target-container-hostname", help="container of a multi-container")
    params.add_argument("--inference-id", help="your id for this request")
    params.add_argument("--enable-explanations", help="(InvokeEndpoint) Clarify expression")
    params.add_argument("--inference-component-name", help="inference component to call")
    params.add_argument(
        "--session-id", help="stateful session id (NEW_SESSION opens one, InvokeEndpoint only)"
    )
    params.add_argument("--prefix-aware-id", help="routing hint for PREFIX_AWARE endpoints")
    params.add_argument("--input-location", help="(async) s3:// or https:// URI of the input")
    params.add_argument("--s3-output-path-extension", help="(async) output path suffix")
    params.add_argument("--filename", help="(async) name of the output file")
    params.add_argument("--request-ttl-seconds", type=int, metavar="N", help="(async) 60-21600")
    params.add_argument(
        "--invocation-timeout-seconds", type=int, metavar="N", help="(async) 1-3600"
    )
    _add_common_client_options(p)
    _add_debug(p)
    p.set_defaults(func=cmd_invoke, view=None)

    # decode ----------------------------------------------------------------------------------
    p = sub.add_parser(
        "decode",
        help="dump a captured event stream frame by frame",
        description="Read an event stream captured with `invoke --save` (or any "
        "application/vnd.amazon.eventstream bytes) and show every frame: offsets, lengths, "
        "headers, payload preview and CRCs. Exit code 1 if a frame is corrupt or truncated.",
    )
    p.add_argument("file", metavar="FILE", help="the capture, or - for stdin")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per frame and line")
    out.add_argument("--json-list", action="store_true", help="one JSON list of all frames")
    _add_debug(p)
    p.set_defaults(func=cmd_decode)

    # sign ------------------------------------------------------------------------------------
    p = sub.add_parser(
        "sign",
        help="show the SigV4 canonical request, string to sign and a curl command",
        description="Sign a request without sending it. The signature, the session token and "
        "most of the access key id are masked unless --show-secrets.",
    )
    p.add_argument("url", metavar="URL")
    p.add_argument("--method", default="POST", help="HTTP method (default POST)")
    p.add_argument(
        "--header",
        "-H",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="a header to sign and send (repeatable)",
    )
    p.add_argument("--body", metavar="TEXT|@FILE|-", help="request body (default: empty)")
    p.add_argument("--region", help="signing region (default: from the URL, then the config)")
    p.add_argument("--service", default="sagemaker", help="signing service (default sagemaker)")
    p.add_argument(
        "--date", metavar="YYYYMMDDTHHMMSSZ", help="sign at this UTC time instead of now"
    )
    p.add_argument("--profile", help="named profile for credentials and region")
    p.add_argument("--access-key-id", help="access key id (default: the credential chain)")
    p.add_argument("--secret-access-key", help="secret access key (with --access-key-id)")
    p.add_argument("--session-token", help="session token (with --access-key-id)")
    p.add_argument(
        "--show-secrets", action="store_true", help="print the signature and token unmasked"
    )
    _add_debug(p)
    p.set_defaults(func=cmd_sign)

    # serve -----------------------------------------------------------------------------------
    p = sub.add_parser(
        "serve",
        help="run the endpoint emulator until interrupted",
        description="Run the local SageMaker Runtime emulator. Requests must be signed with the "
        "given keys. Ctrl-C stops it.",
    )
    p.add_argument("--port", type=int, default=8080, help="port to listen on (0: pick a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--access-key-id", required=True, help="access key id clients must use")
    p.add_argument("--secret-access-key", required=True, help="secret key clients must use")
    p.add_argument("--region", default="us-east-1", help="region clients must sign for")
    p.add_argument(
        "--model",
        choices=["tokens", "tokens-jsonl", "echo"],
        default="tokens",
        help="what --endpoint does: stream generated tokens (SSE or JSON lines), or echo",
    )
    p.add_argument(
        "--endpoint",
        action="append",
        metavar="NAME",
        help=f"endpoint name to serve with --model (repeatable; default {SERVE_ENDPOINT}); "
        "'echo' and 'tokens' are always served too",
    )
    p.add_argument(
        "--delay", type=float, default=0.0, metavar="SECONDS", help="(tokens) delay per token"
    )
    _add_debug(p)
    p.set_defaults(func=cmd_serve)
    return parser


# --------------------------------------------------------------------------------------------
# client construction


def _client_config(args: argparse.Namespace) -> Any:
    from smruntime import Config

    kwargs: dict[str, Any] = {}
    for name in (
        "read_timeout",
        "connect_timeout",
        "first_event_timeout",
        "event_timeout",
        "total_timeout",
    ):
        value = getattr(args, name, None)
        if value is not None:
            if value <= 0:
                raise UsageError(f"{_option_name(name)} must be positive, got {value}")
            kwargs[name] = value
    if getattr(args, "max_attempts", None) is not None:
        if args.max_attempts < 1:
            raise UsageError(f"--max-attempts must be at least 1, got {args.max_attempts}")
        kwargs["max_attempts"] = args.max_attempts
    return Config(**kwargs)


def _make_client(args: argparse.Namespace) -> Any:
    from smruntime import Client

    return Client(
        region_name=args.region,
        endpoint_url=args.endpoint_url,
        profile_name=args.profile,
        config=_client_config(args),
        transport=args.transport,
    )


def _bypass_proxy_for_loopback() -> None:
    # A proxy configured in the environment must not capture our own loopback emulator.
    for key in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(key, "")
        extra = "127.0.0.1,localhost,::1"
        os.environ[key] = f"{current},{extra}" if current else extra


# --------------------------------------------------------------------------------------------
# streaming helpers


class _FrameTracer:
    """Follows the raw body bytes, printing each frame to stderr as it completes."""

    def __init__(self, started: float, write: Callable[[str], None] = _err) -> None:
        from eventstream import Decoder

        self._decoder = Decoder()
        self._started = started
        self._write = write
        self._index = 0
        self._failed = False

    def feed(self, chunk: bytes) -> None:
        if self._failed or not chunk:
            return
        from eventstream import EventStreamError

        at = time.monotonic() - self._started
        try:
            frames = self._decoder.feed_frames(chunk)
        except EventStreamError as exc:
            self._failed = True
            self._write(f"[+{at:8.3f}s] frame {self._index}: CORRUPT: {_one_line(str(exc))}")
            return
        for frame in frames:
            self._write(f"[+{at:8.3f}s] {_format_frame(self._index, frame)}")
            self._index += 1

    def close(self) -> None:
        if self._failed:
            return
        pending = self._decoder.pending
        if pending:
            offset = self._decoder.bytes_consumed
            self._write(
                f"frame {self._index} at offset {offset}: TRUNCATED: the body ended "
                f"{pending} bytes into it"
            )


def _header_text(value: Any) -> str:
    if isinstance(value, bytes):
        return "b:" + _preview(value, 32)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return str(value)


def _format_frame(index: int, frame: Frame) -> str:
    message = frame.message
    payload = message.payload
    headers = " ".join(f"{name}={_header_text(value)}" for name, value in message.headers.items())
    return (
        f"frame {index} @{frame.offset}: {frame.total_length} B "
        f"(headers {frame.headers_length}, payload {len(payload)}) "
        f"prelude_crc=0x{frame.prelude_crc:08x} ok message_crc=0x{frame.message_crc:08x} ok "
        f"[{headers}] payload {_preview(payload)}"
    )


class _Tee:
    """A write-only file object that copies bytes to a capture file and/or a frame tracer."""

    def __init__(self, save: IO[bytes] | None, tracer: _FrameTracer | None) -> None:
        self._save = save
        self._tracer = tracer

    def write(self, data: bytes) -> int:
        chunk = bytes(data)
        if self._save is not None:
            self._save.write(chunk)
        if self._tracer is not None:
            self._tracer.feed(chunk)
        return len(chunk)

    def flush(self) -> None:
        if self._save is not None:
            self._save.flush()


def _write_view(stream: Any, view: str) -> Iterator[int]:
    """Write the stream to stdout in ``view``; yields once per item written (for counting)."""
    if view == "raw":
        for chunk in stream.iter_bytes():
            _out_bytes(chunk)
            yield len(chunk)
    elif view == "lines":
        for line in stream.iter_lines():
            text = line.decode("utf-8", "replace") if isinstance(line, bytes) else str(line)
            _out_text(text + "\n")
            yield 1
    elif view == "jsonl":
        for record in stream.iter_json():
            _out_text(_dumps(record) + "\n")
            yield 1
    else:
        last = ""
        for delta in stream.iter_text():
            if delta:
                _out_text(delta)
                last = delta
                yield 1
        if last and not last.endswith("\n"):
            _out_text("\n")


def _stat(stats: Any, name: str) -> Any:
    return getattr(stats, name, None) if stats is not None else None


# --------------------------------------------------------------------------------------------
# commands


DEMO_ANSWER = (
    "Here is how this answer reached you. The emulator streamed it as an "
    "application/vnd.amazon.eventstream body: a run of binary frames, each with a prelude (total "
    "and header lengths), a CRC32 of that prelude, typed headers such as :event-type PayloadPart, "
    "the payload bytes, and a CRC32 of the whole frame. The client signed the request with "
    "Signature Version 4, checked both checksums of every frame, put the server-sent events of a "
    "TGI-style container back together across parts, and handed over the generated text token "
    "by token, timing the first one on a monotonic clock."
)


def _demo_text(prompt: str, tokens: int) -> str:
    text = f"You said: {prompt.strip()}\n\n{DEMO_ANSWER}"
    words = len(text.split())
    if words < tokens:
        repeats = -(-(tokens - words) // len(DEMO_ANSWER.split()))
        text += ("\n\n" + DEMO_ANSWER) * repeats
    return text


def cmd_demo(args: argparse.Namespace) -> int:
    """``smruntime demo``: stream from an in-process emulator through the real client."""
    if args.tokens is None:
        args.tokens = len(_demo_text(args.prompt, 1).split())
    if args.tokens < 1:
        raise UsageError(f"--tokens must be at least 1, got {args.tokens}")
    if args.delay < 0:
        raise UsageError(f"--delay cannot be negative, got {args.delay}")
    _bypass_proxy_for_loopback()
    from smruntime import Client
    from smruntime.emulator import Emulator, Tokens

    model = Tokens(format=args.format, delay=args.delay, text=_demo_text(args.prompt, args.tokens))
    body = json.dumps(
        {"inputs": args.prompt, "parameters": {"max_new_tokens": args.tokens}, "stream": True}
    ).encode("utf-8")
    with Emulator(endpoints={DEMO_ENDPOINT: model}) as emu:
        creds = emu.credentials
        # environ={}: the demo must not depend on (or be broken by) the user's AWS settings.
        with Client(
            region_name=emu.region,
            endpoint_url=emu.url,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            transport=args.transport,
            environ={},
        ) as client:
            _err(
                f"{PROG} demo: emulator at {emu.url} (endpoint {DEMO_ENDPOINT!r}, region "
                f"{emu.region}, {args.format} records); streaming through the real client: "
                "SigV4 -> HTTP -> event stream -> records -> text"
            )
            started = time.monotonic()
            response = client.invoke_endpoint_with_response_stream(
                EndpointName=DEMO_ENDPOINT, Body=body, ContentType="application/json"
            )
            stream = response["Body"]
            tokens = 0
            first: float | None = None
            last_text = ""
            with stream:
                for delta in stream.iter_text():
                    if not delta:
                        continue
                    if first is None:
                        first = time.monotonic() - started
                    tokens += 1
                    last_text = delta
                    _out_text(delta)
                if last_text and not last_text.endswith("\n"):
                    _out_text("\n")
                total = time.monotonic() - started
                stats = stream.stats
    _err(_demo_summary(tokens, first, total, stats))
    return EXIT_OK


def _demo_summary(tokens: int, first: float | None, total: float, stats: Any) -> str:
    if tokens > 1 and first is not None and total > first:
        rate = (tokens - 1) / (total - first)
    else:
        rate = tokens / total if total > 0 else 0.0
    parts = [
        f"{tokens} tokens",
        f"time to first token {_fmt_seconds(first)}",
        f"{rate:.1f} tokens/s",
    ]
    frames = _stat(stats, "frames")
    if frames is not None:
        parts.append(f"{frames} frames")
    nbytes = _stat(stats, "bytes")
    if nbytes is not None:
        parts.append(_fmt_bytes(int(nbytes)))
    parts.append(f"total {_fmt_seconds(total)}")
    return "--- " + ", ".join(parts)


def _operation(args: argparse.Namespace) -> str:
    streaming_flags = [
        flag
        for flag, on in (
            ("--trace", args.trace),
            ("--save", args.save is not None),
            ("--" + str(args.view), args.view is not None),
        )
        if on
    ]
    if args.use_async:
        if streaming_flags:
            raise UsageError(f"{streaming_flags[0]} needs --stream, not --async")
        return OP_ASYNC
    if args.stream or streaming_flags:
        if args.json:
            raise UsageError("--json applies to non-streaming calls; use --jsonl with --stream")
        return OP_STREAM
    return OP_INVOKE


def _invoke_params(args: argparse.Namespace, op: str) -> dict[str, Any]:
    params: dict[str, Any] = {"EndpointName": args.endpoint}
    for dest, name, ops in _PARAMS:
        value = getattr(args, dest)
        if value is None:
            continue
        if op not in ops:
            raise UsageError(f"{_option_name(dest)} is not a parameter of {op}")
        params[name] = value
    if op == OP_ASYNC:
        if args.body is not None and args.input_location is not None:
            raise UsageError("give either --body or --input-location, not both")
        if args.body is not None:
            params["Body"] = _read_body(args.body)[0]
        elif args.input_location is None:
            raise UsageError("--async needs --input-location (or --body)")
    else:
        params["Body"] = _read_body(args.body)[0]
    return params


def _metadata_line(response: dict[str, Any]) -> str:
    meta = response.get("ResponseMetadata") or {}
    parts = []
    status = meta.get("HTTPStatusCode")
    if status is not None:
        parts.append(f"HTTP {status}")
    for key in (
        "ContentType",
        "InvokedProductionVariant",
        "CustomAttributes",
        "NewSessionId",
        "ClosedSessionId",
        "InferenceId",
        "OutputLocation",
        "FailureLocation",
    ):
        value = response.get(key)
        if value is not None:
            parts.append(f"{key}={value}")
    request_id = meta.get("RequestId")
    if request_id:
        parts.append(f"RequestId={request_id}")
    return " ".join(parts)


def cmd_invoke(args: argparse.Namespace) -> int:
    """``smruntime invoke``: one call of any of the three operations."""
    op = _operation(args)
    params = _invoke_params(args, op)
    client = _make_client(args)
    if op == OP_ASYNC:
        response = client.invoke_endpoint_async(**params)
        out = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        if args.json:
            out["ResponseMetadata"] = response.get("ResponseMetadata")
        _out_text(_dumps(out, indent=2) + "\n")
        if not args.quiet and not args.json:
            _err(_metadata_line({"ResponseMetadata": response.get("ResponseMetadata")}))
        return EXIT_OK
    if op == OP_INVOKE:
        response = client.invoke_endpoint(**params)
        body = response["Body"]
        data = body.read() if hasattr(body, "read") else bytes(body)
        if args.json:
            whole = dict(response)
            whole["Body"] = data
            _out_text(_dumps(whole, indent=2) + "\n")
        else:
            _out_bytes(data)
            if not args.quiet:
                _err(_metadata_line(response))
        return EXIT_OK
    return _invoke_stream(args, client, params)


def _invoke_stream(args: argparse.Namespace, client: Any, params: dict[str, Any]) -> int:
    started = time.monotonic()
    save: IO[bytes] | None = None
    tracer: _FrameTracer | None = None
    if args.save is not None:
        try:
            save = open(args.save, "wb")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            raise CLIError(f"cannot write {args.save!r}: {exc.strerror or exc}") from None
    try:
        response = client.invoke_endpoint_with_response_stream(**params)
        if not args.quiet:
            _err(_metadata_line(response))
        stream = response["Body"]
        if args.trace:
            tracer = _FrameTracer(started)
        with stream:
            if save is not None or tracer is not None:
                stream.capture(_Tee(save, tracer))
            items = 0
            try:
                for _ in _write_view(stream, args.view or "text"):
                    items += 1
            finally:
                if tracer is not None:
                    tracer.close()
            total = time.monotonic() - started
            stats = getattr(stream, "stats", None)
        if not args.quiet:
            _err(_stream_summary(stats, total, args.save))
    finally:
        if save is not None:
            save.close()
    return EXIT_OK


def _stream_summary(stats: Any, total: float, saved: str | None) -> str:
    parts = []
    ttfb = _stat(stats, "time_to_first_byte")
    if ttfb is not None:
        parts.append(f"first byte {_fmt_seconds(ttfb)}")
    ttfe = _stat(stats, "time_to_first_event")
    if ttfe is not None:
        parts.append(f"first event {_fmt_seconds(ttfe)}")
    for name in ("frames", "events"):
        value = _stat(stats, name)
        if value is not None:
            parts.append(f"{value} {name}")
    nbytes = _stat(stats, "bytes")
    if nbytes is not None:
        parts.append(_fmt_bytes(int(nbytes)))
    parts.append(f"total {_fmt_seconds(total)}")
    if saved is not None:
        parts.append(f"saved to {saved}")
    return "--- " + ", ".join(parts)


def cmd_decode(args: argparse.Namespace) -> int:
    """``smruntime decode``: describe every frame of a captured stream."""
    from eventstream import describe

    if args.file == "-":
        data, _ = _read_body("-")
        name = "<stdin>"
    else:
        name = args.file
        try:
            with open(args.file, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise CLIError(f"cannot read {args.file!r}: {exc.strerror or exc}") from None
    infos = describe(data)
    dicts = [info.to_dict() for info in infos]
    if args.json_list:
        _out_text(_dumps(dicts, indent=2) + "\n")
    for info, as_dict in zip(infos, dicts):
        if args.json:
            _out_text(_dumps(as_dict) + "\n")
        elif not args.json_list:
            _out_text(info.format().rstrip("\n") + "\n")
    bad = [(index, info) for index, info in enumerate(infos) if info.error]
    if bad:
        index, info = bad[0]
        offset = getattr(info, "offset", None)
        where = f" at offset {offset}" if offset is not None else ""
        raise CLIError(f"{name}: frame {index}{where}: {_one_line(str(info.error))}")
    if not (args.json or args.json_list):
        _err(f"--- {len(infos)} frames, {_fmt_bytes(len(data))}, all checks passed")
    return EXIT_OK


def _parse_date(text: str) -> _dt.datetime:
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S"):
        try:
            return _dt.datetime.strptime(text, fmt).replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            continue
    raise UsageError(f"--date {text!r}: expected YYYYMMDDTHHMMSSZ, e.g. 20150830T123600Z")


def _parse_headers(raw: Sequence[str]) -> list[tuple[str, str]]:
    headers = []
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"--header {item!r}: expected NAME:VALUE")
        headers.append((name.strip(), value.strip()))
    return headers


_REGION_IN_HOST = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$")


def _region_from_url(url: str) -> str | None:
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    match = _REGION_IN_HOST.search(host)
    return match.group(1) if match else None


def _sign_credentials(args: argparse.Namespace) -> Credentials:
    from sigv4 import Credentials
    from sigv4._providers import default_chain
    from sigv4.exceptions import NoCredentialsError

    if args.access_key_id or args.secret_access_key:
        if not (args.access_key_id and args.secret_access_key):
            raise UsageError("--access-key-id and --secret-access-key go together")
        return Credentials(args.access_key_id, args.secret_access_key, args.session_token)
    loaded = default_chain(profile=args.profile).load()
    if loaded is None:
        raise NoCredentialsError()
    creds: Credentials = loaded.get()
    return creds


def _mask_key(value: str) -> str:
    return value[:4] + "****" if len(value) > 4 else "****"


def cmd_sign(args: argparse.Namespace) -> int:
    """``smruntime sign``: show how a request is signed, and a curl command that sends it."""
    import shlex

    from sigv4 import sign

    headers = _parse_headers(args.header)
    body, body_file = _read_body(args.body)
    now = _parse_date(args.date) if args.date else _dt.datetime.now(_dt.timezone.utc)
    region = args.region or _region_from_url(args.url)
    if region is None:
        from sigv4._region import resolve_region

        region = resolve_region(None, profile=args.profile)
    creds = _sign_credentials(args)
    method = args.method.upper()
    signed = sign(
        method,
        args.url,
        headers,
        body,
        credentials=creds,
        region=region,
        service=args.service,
        now=now,
    )
    show = args.show_secrets

    def hide(text: str) -> str:
        if show:
            return text
        text = text.replace(signed.signature, "****")
        if creds.session_token:
            text = text.replace(creds.session_token, "****")
        return text.replace(creds.access_key_id, _mask_key(creds.access_key_id))

    authorization = next(
        (value for name, value in signed.headers if name.lower() == "authorization"), ""
    )
    _out_text("# Canonical request\n" + hide(signed.canonical_request) + "\n\n")
    _out_text("# String to sign\n" + signed.string_to_sign + "\n\n")
    _out_text("# Authorization\n" + hide(authorization) + "\n\n")
    curl = ["curl", "-sS", "-X", method]
    if args.url.rstrip("/").endswith("invocations-response-stream"):
        curl.append("--no-buffer")
    for name, value in signed.headers:
        curl += ["-H", f"{name}: {hide(value)}"]
    if body_file is not None:
        curl += ["--data-binary", "@" + body_file]
    elif body:
        try:
            curl += ["--data-binary", body.decode("utf-8")]
        except UnicodeDecodeError:
            curl += ["--data-binary", "@BODY_FILE"]
    curl.append(args.url)
    _out_text("# curl\n" + " ".join(shlex.quote(part) for part in curl) + "\n")
    if not show:
        _err("(signature, session token and access key id masked: --show-secrets to print them)")
    return EXIT_OK


def _serve_endpoints(args: argparse.Namespace) -> dict[str, Any]:
    from smruntime.emulator import Echo, Tokens

    def model() -> Any:
        if args.model == "echo":
            return Echo(delay=args.delay)
        fmt = "jsonl" if args.model == "tokens-jsonl" else "sse"
        return Tokens(format=fmt, delay=args.delay)

    endpoints: dict[str, Any] = {"echo": Echo(), "tokens": Tokens()}
    for name in args.endpoint or [SERVE_ENDPOINT]:
        endpoints[name] = model()
    return endpoints


def cmd_serve(args: argparse.Namespace) -> int:
    """``smruntime serve``: run the emulator in the foreground until Ctrl-C."""
    import shlex
    import signal

    from sigv4 import Credentials
    from smruntime.emulator import Emulator

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected 0-65535")
    if args.delay < 0:
        raise UsageError(f"--delay cannot be negative, got {args.delay}")
    creds = Credentials(args.access_key_id, args.secret_access_key)
    endpoints = _serve_endpoints(args)
    emu = Emulator(
        endpoints=endpoints, host=args.host, port=args.port, credentials=creds, region=args.region
    )

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        # serve_forever binds first, so the URL is known only from inside it: announce it from
        # a short-lived thread that waits for the port.
        import threading

        def announce() -> None:
            for _ in range(500):
                try:
                    url = emu.url
                    break
                except RuntimeError:
                    time.sleep(0.01)
            else:
                return
            name = (args.endpoint or [SERVE_ENDPOINT])[0]
            body = '{"inputs": "Hello", "parameters": {"max_new_tokens": 20}}'
            _err(
                f"{PROG} serve: emulator listening on {url} (region {emu.region}); endpoints: "
                f"{', '.join(sorted(endpoints))}; Ctrl-C to stop"
            )
            _err(
                f"try: AWS_ACCESS_KEY_ID={shlex.quote(args.access_key_id)} "
                "AWS_SECRET_ACCESS_KEY=<the --secret-access-key above> "
                f"{PROG} invoke {shlex.quote(name)} --stream --endpoint-url {url} "
                f"--region {shlex.quote(emu.region)} --content-type application/json "
                f"--body {shlex.quote(body)}"
            )

        threading.Thread(target=announce, name="smruntime-serve-announce", daemon=True).start()
        try:
            emu.serve_forever()
        except KeyboardInterrupt:
            pass  # serve_forever() closes the server on its way out
        _err(f"{PROG} serve: stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# errors and the entry point


def _describe_error(exc: BaseException) -> tuple[int, str]:
    """Exit code and one-line message for an exception raised by a command."""
    from eventstream.exceptions import EventStreamError
    from sigv4.exceptions import SigV4Error
    from smruntime.exceptions import ClientError, ParamValidationError, SMRuntimeError

    if isinstance(exc, CLIError):
        return exc.code, _one_line(str(exc))
    if isinstance(exc, ParamValidationError):
        return EXIT_USAGE, _one_line(str(exc))
    if isinstance(exc, ClientError):
        message = _one_line(str(exc))
        if exc.hint and "Hint:" not in message:
            message += f" Hint: {exc.hint}"
        return EXIT_RUNTIME, message
    if isinstance(exc, (SMRuntimeError, SigV4Error, EventStreamError)):
        return EXIT_RUNTIME, _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, OSError):
        detail = exc.strerror or str(exc)
        where = f": {exc.filename}" if exc.filename else ""
        return EXIT_RUNTIME, f"{detail}{where}"
    return (
        EXIT_RUNTIME,
        f"unexpected {type(exc).__name__}: {_one_line(str(exc))} (--debug shows the traceback)",
    )


def _silence_stdout() -> None:
    # After EPIPE, point stdout at /dev/null so the interpreter's final flush stays quiet.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _run(args: argparse.Namespace) -> int:
    func: Callable[[argparse.Namespace], int] = args.func
    code = func(args)
    sys.stdout.flush()
    return code


def main(argv: Optional[list[str]] = None) -> int:
    """Run the ``smruntime`` command line with ``argv`` (default ``sys.argv[1:]``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    if debug:
        _setup_debug_logging()
    try:
        return _run(args)
    except KeyboardInterrupt:
        _err(f"{PROG}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - the CLI's contract: one line, never a traceback
        if debug:
            import traceback

            traceback.print_exc()
        code, message = _describe_error(exc)
        _err(f"{PROG}: error: {message}")
        return code
