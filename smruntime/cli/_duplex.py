"""``smruntime duplex``: InvokeEndpointWithBidirectionalStream from the command line, sending
the input in parts while the model's answers are printed as they arrive."""

from __future__ import annotations

import argparse
import io
import os
import queue
import stat
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO, Any, Callable, Optional

from smruntime.cli._errors import EXIT_OK, CLIError, UsageError
from smruntime.cli._format import fmt_bytes, fmt_seconds, preview
from smruntime.cli._output import err, out_json

DEFAULT_PART_SIZE = 8192
MAX_PART_SIZE = 16 * 1024 * 1024


def part_size(text: str) -> int:
    """``--part-size``: bytes per part, 1 to 16 MiB."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bytes, got {text!r}") from None
    if not 1 <= value <= MAX_PART_SIZE:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_PART_SIZE} bytes, got {value}")
    return value


def rate(text: str) -> float:
    """``--rate``: bytes per second, more than 0 (finite)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected bytes per second, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected more than 0 bytes per second, got {text!r}")
    return value


def _open_input(spec: str) -> IO[bytes]:
    if spec == "-":
        if sys.stdin is None:  # started with stdin closed (<&-)
            raise CLIError("cannot read the input from stdin: it is closed")
        stdin = getattr(sys.stdin, "buffer", None)
        if stdin is None:
            raise CLIError("stdin is not readable as bytes")
        return stdin  # type: ignore[no-any-return]
    try:
        return open(spec, "rb")
    except OSError as exc:
        raise CLIError(f"cannot read input file {spec!r}: {exc.strerror or exc}") from None


#: How long a part read from a pipe or terminal waits to learn whether the input ends after it
#: (then it is sent COMPLETE) before it is sent PARTIAL.
LIVE_GRACE = 0.005


def is_live(source: IO[bytes]) -> bool:
    """Whether ``source`` is a pipe, terminal or socket rather than a regular file."""
    try:
        mode = os.fstat(source.fileno()).st_mode
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False
    return not stat.S_ISREG(mode)


def _file_chunks(source: IO[bytes], size: int) -> Iterator[tuple[bytes, bool]]:
    # a file is read one part ahead, so that its last part is known when it is sent
    ahead = source.read(size)
    while ahead:
        chunk, ahead = ahead, source.read(size)
        yield chunk, not ahead


def _live_chunks(
    source: IO[bytes], size: int, grace: float = LIVE_GRACE
) -> Iterator[tuple[bytes, bool]]:
    """Parts of a pipe or terminal as soon as their bytes arrive (what one read returns, at
    most ``size``). Reading one part ahead would hold each part until the next
    one's bytes come, so a part that the input does not follow within ``grace`` is sent
    PARTIAL; when the input then ends, an empty COMPLETE part says so."""
    chunks: queue.Queue[Any] = queue.Queue(maxsize=4)  # bounded: a fast pipe waits for sends
    read = getattr(source, "read1", None) or source.read
    try:
        fd = source.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    else:
        # os.read, not the buffered reader's read1: a daemon thread blocked in that holds its
        # lock, and the interpreter, closing stdin at exit, would abort on it (a Ctrl-C, an
        # error before the input ended)
        def read(size: int) -> bytes:
            return os.read(fd, size)

    def pump() -> None:
        try:
            while True:
                chunk = read(size)
                chunks.put(chunk)
                if not chunk:
                    return
        except BaseException as exc:  # noqa: BLE001 - raised where the parts are taken
            chunks.put(exc)

    def take(timeout: Optional[float] = None) -> bytes:
        item = chunks.get(timeout=timeout)
        if isinstance(item, BaseException):
            raise CLIError(f"cannot read the input: {item}") from item
        return item  # type: ignore[no-any-return]

    threading.Thread(target=pump, name="smruntime-duplex-input", daemon=True).start()
    held = take()
    while held:
        try:
            ahead = take(grace)
        except queue.Empty:
            yield held, False
            ahead = take()
            if not ahead:
                yield b"", True
                return
        else:
            yield held, not ahead
        held = ahead


def input_parts(
    source: IO[bytes],
    size: int,
    data_type: Optional[str],
    bytes_per_second: Optional[float],
    sleep: Callable[[float], None] = time.sleep,
    live: Optional[bool] = None,
) -> Any:
    """The input as PayloadPart events, the last one COMPLETE and the others PARTIAL, paced to
    ``bytes_per_second`` when given. A file is cut into parts of ``size`` bytes; a pipe or a
    terminal (``live``, found from ``source`` when not given) is sent as it arrives, in parts
    of at most ``size`` (see ``_live_chunks``). An empty input sends no part."""
    if live is None:
        live = is_live(source)
    started = time.monotonic()
    sent = 0
    chunks = _live_chunks(source, size) if live else _file_chunks(source, size)
    for chunk, last in chunks:
        if bytes_per_second is not None:
            due = started + sent / bytes_per_second
            wait = due - time.monotonic()
            if wait > 0:
                sleep(wait)
        part: dict[str, Any] = {
            "Bytes": chunk,
            "CompletionState": "COMPLETE" if last else "PARTIAL",
        }
        if data_type is not None:
            part["DataType"] = data_type
        sent += len(chunk)
        yield {"PayloadPart": part}


def _mask(name: str, value: Any) -> str:
    import datetime as _dt

    if name == ":chunk-signature":
        return "****"
    if isinstance(value, bytes):
        return "b:" + preview(value, 32)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return str(value)


def describe_message(message: Any, *, show_payload: bool = True) -> str:
    headers = " ".join(f"{k}={_mask(k, v)}" for k, v in message.headers.items())
    shown = f" {preview(bytes(message.payload))}" if show_payload else ""
    return f"[{headers}] payload {len(message.payload)} B{shown}"


class DuplexTracer:
    """``--trace``: each message sent (outer, then the inner one it signs) and received, with
    the chunk signatures masked."""

    def __init__(self, started: float, write: Callable[[str], None] = err) -> None:
        self._started = started
        self._write = write
        self._lock = threading.Lock()
        self._counts = {"send": 0, "recv": 0}

    def __call__(self, direction: str, outer: bytes, inner: bytes) -> None:
        from eventstream import decode

        at = time.monotonic() - self._started
        arrow = ">" if direction == "send" else "<"
        with self._lock:
            index = self._counts[direction]
            self._counts[direction] += 1
            (message,) = decode(outer)
            head = f"[+{at:8.3f}s] {arrow} {direction} {index}: {len(outer)} B"
            self._write(f"{head} {describe_message(message, show_payload=direction != 'send')}")
            if direction == "send":
                if inner:
                    (inner_message,) = decode(inner)
                    self._write(f"             {arrow}   inner: {describe_message(inner_message)}")
                else:
                    self._write(f"             {arrow}   inner: (empty: end of input)")


def part_output(part: dict[str, Any], raw: bool) -> bytes:
    """What stdout shows of a received part: its bytes as received, and for a UTF8 part (unless
    ``raw``) a newline after them when they do not end with one, so each text part (a JSON
    result, a transcript, a sentence) reads as its own line; BINARY parts stay byte-exact."""
    data: bytes = part.get("Bytes", b"")
    if not raw and part.get("DataType") == "UTF8" and not data.endswith(b"\n"):
        return data + b"\n"
    return data


def _write_event(event: dict[str, Any], jsonl: bool, raw: bool = False) -> None:
    out = sys.stdout
    if jsonl:
        out_json(event)  # (escaped when stdout's encoding cannot hold a character)
        return
    part = event.get("PayloadPart")
    if part is None:
        return
    data = part_output(part, raw)
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        out.flush()
        buffer.write(data)
        buffer.flush()
    else:
        out.write(data.decode("utf-8", "replace"))
        out.flush()


def cmd_duplex(args: argparse.Namespace) -> int:
    """``smruntime duplex``: send --input in parts and print the answers live."""
    from smruntime import _bidi
    from smruntime.cli._invoke import _make_client

    if args.transport is not None:
        raise UsageError(
            f"--transport {args.transport} applies to HTTP/1.1 calls; duplex always uses HTTP/2"
        )
    if args.max_attempts is not None:
        raise UsageError(
            "--max-attempts does not apply to duplex: a bidirectional stream is never retried "
            "(its input cannot be replayed)"
        )
    source = _open_input(args.input)
    params: dict[str, Any] = {"EndpointName": args.endpoint}
    for option, name in (
        ("invocation_path", "ModelInvocationPath"),
        ("query_string", "ModelQueryString"),
        ("target_variant", "TargetVariant"),
    ):
        value = getattr(args, option)
        if value is not None:
            params[name] = value
    params["Body"] = input_parts(source, args.part_size, args.data_type, args.rate)
    started = time.monotonic()
    tracer = DuplexTracer(started) if args.trace else None
    client = _make_client(args)
    try:
        response = _bidi.invoke(client, params, trace=tracer)
        if not args.quiet:
            meta = response.get("ResponseMetadata") or {}
            variant = response.get("InvokedProductionVariant")
            line = f"HTTP {meta.get('HTTPStatusCode')}"
            if variant:
                line += f" InvokedProductionVariant={variant}"
            if meta.get("RequestId"):
                line += f" RequestId={meta['RequestId']}"
            err(line)
        events = 0
        received = 0
        first: Optional[float] = None
        with response["Body"] as stream:
            for event in stream:
                if first is None:
                    first = time.monotonic() - started
                events += 1
                received += len((event.get("PayloadPart") or {}).get("Bytes", b""))
                _write_event(event, args.jsonl, args.raw)
            sent_parts = stream.parts_sent
    finally:
        if source is not sys.stdin and hasattr(source, "close") and args.input != "-":
            source.close()
        client.close()
    if not args.quiet:
        total = time.monotonic() - started
        err(
            f"--- sent {sent_parts} parts, received {events} events ({fmt_bytes(received)}); "
            f"first event {fmt_seconds(first)}, total {fmt_seconds(total)}"
        )
    return EXIT_OK


def add_duplex(sub: Any, add_client_options: Callable[[Any], None], add_debug: Any) -> None:
    p = sub.add_parser(
        "duplex",
        help="stream input to an endpoint while printing its answers (HTTP/2, bidirectional)",
        description="Call InvokeEndpointWithBidirectionalStream on ENDPOINT: send --input in "
        "parts (PayloadPart events, signed in a chain) while the model's answers are printed "
        "live on stdout as they arrive: a BINARY part (or one without DataType) as its raw "
        "bytes, a UTF8 part as its text followed by a newline unless it ends with one (one line "
        "per text part: a JSON result, a transcript); --raw: every part's bytes exactly as "
        "received, no separators; --jsonl: one JSON object per event. Needs the http2 extra: "
        "pip install 'smruntime[http2]'.",
    )
    p.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name")
    p.add_argument(
        "--input",
        required=True,
        metavar="FILE|-",
        help="what to send: a file, cut into parts of --part-size; - for stdin, sent as it "
        "arrives (a pipe or terminal: each read, at most --part-size, is a part)",
    )
    p.add_argument(
        "--part-size",
        type=part_size,
        default=DEFAULT_PART_SIZE,
        metavar="N",
        help=f"bytes per part (default {DEFAULT_PART_SIZE})",
    )
    p.add_argument("--data-type", choices=["BINARY", "UTF8"], help="DataType of every part")
    p.add_argument("--invocation-path", metavar="P", help="ModelInvocationPath (e.g. v1/listen)")
    p.add_argument("--query-string", metavar="Q", help="ModelQueryString (key=value&...)")
    p.add_argument("--target-variant", metavar="V", help="TargetVariant")
    p.add_argument(
        "--rate", type=rate, metavar="BYTES/S", help="pace the input (e.g. real-time audio)"
    )
    p.add_argument(
        "--jsonl", action="store_true", help="one JSON object per received event on stdout"
    )
    p.add_argument(
        "--raw",
        action="store_true",
        help="write every part's bytes exactly as received (no newline after UTF8 parts)",
    )
    p.add_argument(
        "--trace",
        action="store_true",
        help="show each message sent (outer and inner) and received on stderr, signatures masked",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no metadata or summary on stderr")
    add_client_options(p)
    add_debug(p)
    p.set_defaults(func=cmd_duplex)


DEMO_PARTS = 10
DEMO_PART_BYTES = 3200  # 100 ms of 16 kHz 16-bit mono audio
DEMO_INTERVAL = 0.1


def cmd_demo_duplex(args: argparse.Namespace) -> int:
    """``smruntime demo --duplex``: a speech-to-text-like exchange with the embedded emulator
    (HTTP/2 h2c on its port), through the real client: audio-sized parts go out every
    ``--delay`` seconds while the partial transcripts come back, each line stamped."""
    import json

    from smruntime import Client
    from smruntime.cli._demo import _bypass_proxy_for_loopback
    from smruntime.cli._errors import PROG
    from smruntime.emulator import Emulator

    _bypass_proxy_for_loopback()
    interval = DEMO_INTERVAL if args.delay is None else args.delay  # --delay: between parts
    started = time.monotonic()

    def stamp() -> str:
        return f"[+{time.monotonic() - started:6.3f}s]"

    def audio() -> Any:
        for i in range(DEMO_PARTS):
            if i:
                time.sleep(interval)
            err(f"{stamp()} > part {i + 1}/{DEMO_PARTS}: {DEMO_PART_BYTES} B of audio (BINARY)")
            yield {"PayloadPart": {"Bytes": bytes(DEMO_PART_BYTES), "DataType": "BINARY"}}
        err(f"{stamp()} > end of input (the signed empty message, then END_STREAM)")

    with Emulator(http2=True) as emu:
        creds = emu.credentials
        client = Client(
            region_name=emu.region,
            endpoint_url=emu.url,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            environ={},
        )
        err(
            f"{PROG} demo --duplex: emulator at {emu.url} (HTTP/2 h2c on the same port, model "
            "'transcribe'); every part is signed in a chain and checked by the emulator"
        )
        response = client.invoke_endpoint_with_bidirectional_stream(
            EndpointName="transcribe",
            ModelInvocationPath="v1/listen",
            ModelQueryString="model=demo",
            Body=audio(),
        )
        events = 0
        with response["Body"] as stream:
            for event in stream:
                events += 1
                part = event.get("PayloadPart") or {}
                try:
                    doc = json.loads(part.get("Bytes", b""))
                    text = doc.get("text", "") if isinstance(doc, dict) else ""
                    final = bool(isinstance(doc, dict) and doc.get("is_final"))
                except ValueError:
                    text, final = part.get("Bytes", b"").decode("utf-8", "replace"), False
                kind = "final" if final else "partial"
                sys.stdout.write(f"{stamp()} < {kind:7} {text}\n")
                sys.stdout.flush()
        client.close()
    err(f"--- {events} results while sending; total {fmt_seconds(time.monotonic() - started)}")
    return EXIT_OK
