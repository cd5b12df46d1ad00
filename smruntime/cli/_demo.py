"""``smruntime demo``: stream from an in-process emulator through the real client."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Optional

from smruntime.cli._errors import EXIT_OK, PROG, UsageError
from smruntime.cli._format import fmt_seconds, summary
from smruntime.cli._output import err
from smruntime.cli._views import write_text

DEMO_ENDPOINT = "demo"
DEMO_PROMPT = "What is an event stream?"

DEMO_ANSWER = (
    "Here is how this answer reached you. The emulator streamed it as an "
    "application/vnd.amazon.eventstream body: a run of binary frames, each with a prelude (total "
    "and header lengths), a CRC32 of that prelude, typed headers such as :event-type PayloadPart, "
    "the payload bytes, and a CRC32 of the whole frame. The client signed the request with "
    "Signature Version 4, checked both checksums of every frame, put the server-sent events of a "
    "TGI-style container back together across parts, and handed over the generated text token "
    "by token, timing the first one on a monotonic clock."
)


def cmd_demo(args: argparse.Namespace) -> int:
    """``smruntime demo``: stream from an in-process emulator through the real client."""
    if getattr(args, "duplex", False):
        from smruntime.cli._duplex import cmd_demo_duplex

        return cmd_demo_duplex(args)
    if args.tokens is None:
        args.tokens = len(_demo_text(args.prompt, 1).split())
    if args.tokens < 1:
        raise UsageError(f"--tokens must be at least 1, got {args.tokens}")
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
            err(
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
            first: Optional[float] = None
            with stream:
                for _ in write_text(stream.iter_text()):
                    if first is None:
                        first = time.monotonic() - started
                    tokens += 1
                total = time.monotonic() - started
                stats = stream.stats
    err(_demo_summary(tokens, first, total, stats))
    return EXIT_OK


def _demo_text(prompt: str, tokens: int) -> str:
    text = f"You said: {prompt.strip()}\n\n{DEMO_ANSWER}"
    words = len(text.split())
    if words < tokens:
        repeats = -(-(tokens - words) // len(DEMO_ANSWER.split()))
        text += ("\n\n" + DEMO_ANSWER) * repeats
    return text


def _bypass_proxy_for_loopback() -> None:
    # A proxy configured in the environment must not capture our own loopback emulator.
    for key in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(key, "")
        extra = "127.0.0.1,localhost,::1"
        os.environ[key] = f"{current},{extra}" if current else extra


def _demo_summary(tokens: int, first: Optional[float], total: float, stats: Any) -> str:
    if tokens > 1 and first is not None and total > first:
        rate = (tokens - 1) / (total - first)
    else:
        rate = tokens / total if total > 0 else 0.0
    head = [
        f"{tokens} tokens",
        f"time to first token {fmt_seconds(first)}",
        f"{rate:.1f} tokens/s",
    ]
    return summary(head, stats, ("frames",), total)
