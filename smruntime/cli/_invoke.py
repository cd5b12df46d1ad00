"""``smruntime invoke``: one call of any of the three operations."""

from __future__ import annotations

import argparse
import time
from typing import Any, Optional

from smruntime.cli._errors import EXIT_OK, UsageError
from smruntime.cli._format import fmt_bytes, fmt_seconds, stat, summary
from smruntime.cli._input import read_body
from smruntime.cli._output import err, out_bytes, out_json
from smruntime.cli._params import OP_ASYNC, OP_INVOKE, OP_STREAM, PARAMS, option_name
from smruntime.cli._trace import CaptureFile, FrameTracer, Tee
from smruntime.cli._views import write_view

_TIMEOUTS = (
    "read_timeout",
    "connect_timeout",
    "first_event_timeout",
    "event_timeout",
    "total_timeout",
)

_METADATA_KEYS = (
    "ContentType",
    "InvokedProductionVariant",
    "CustomAttributes",
    "NewSessionId",
    "ClosedSessionId",
    "InferenceId",
    "OutputLocation",
    "FailureLocation",
)


def cmd_invoke(args: argparse.Namespace) -> int:
    """``smruntime invoke``: one call of any of the three operations."""
    op = _operation(args)
    params = _invoke_params(args, op)
    with _make_client(args) as client:  # its connections closed however the call ends
        return _call(args, client, op, params)


def _call(args: argparse.Namespace, client: Any, op: str, params: dict[str, Any]) -> int:
    if op == OP_ASYNC:
        response = client.invoke_endpoint_async(**params)
        out = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        if args.json:
            out["ResponseMetadata"] = response.get("ResponseMetadata")
        out_json(out, indent=2)
        if not args.quiet and not args.json:
            err(_metadata_line({"ResponseMetadata": response.get("ResponseMetadata")}))
        return EXIT_OK
    if op == OP_INVOKE:
        response = client.invoke_endpoint(**params)
        body = response["Body"]
        data = body.read() if hasattr(body, "read") else bytes(body)
        if args.json:
            whole = dict(response)
            whole["Body"] = data
            out_json(whole, indent=2)
        else:
            out_bytes(data)
            if not args.quiet:
                err(_metadata_line(response))
        return EXIT_OK
    return _invoke_stream(args, client, params)


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
    for param in PARAMS:
        value = getattr(args, param.dest)
        if value is None:
            continue
        if op not in param.ops:
            raise UsageError(f"{option_name(param.dest)} is not a parameter of {op}")
        params[param.name] = value
    if op == OP_ASYNC:
        if args.body is not None and args.input_location is not None:
            raise UsageError("give either --body or --input-location, not both")
        if args.body is not None:
            params["Body"] = read_body(args.body)[0]
        elif args.input_location is None:
            raise UsageError("--async needs --input-location (or --body)")
    else:
        params["Body"] = read_body(args.body)[0]
    return params


def _client_config(args: argparse.Namespace) -> Any:
    from smruntime import Config

    kwargs: dict[str, Any] = {}
    for name in _TIMEOUTS:
        value = getattr(args, name, None)
        if value is not None:  # finite and positive: see the option types in _numbers
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
        transport=getattr(args, "transport", None),  # (duplex has none: always HTTP/2)
    )


def _metadata_line(response: dict[str, Any]) -> str:
    meta = response.get("ResponseMetadata") or {}
    parts = []
    status = meta.get("HTTPStatusCode")
    if status is not None:
        parts.append(f"HTTP {status}")
    for key in _METADATA_KEYS:
        value = response.get(key)
        if value is not None:
            parts.append(f"{key}={value}")
    request_id = meta.get("RequestId")
    if request_id:
        parts.append(f"RequestId={request_id}")
    return " ".join(parts)


def _invoke_stream(args: argparse.Namespace, client: Any, params: dict[str, Any]) -> int:
    started = time.monotonic()
    capture = CaptureFile(args.save) if args.save is not None else None
    tracer: Optional[FrameTracer] = None
    try:
        response = client.invoke_endpoint_with_response_stream(**params)
        if not args.quiet:
            err(_metadata_line(response))
        stream = response["Body"]
        if args.trace:
            tracer = FrameTracer(started)
        with stream:
            if capture is not None or tracer is not None:
                stream.capture(Tee(capture, tracer))
            try:
                write_view(stream, args.view or "text")
            finally:
                if tracer is not None:
                    tracer.close()
            total = time.monotonic() - started
            stats = getattr(stream, "stats", None)
        if capture is not None:
            capture.close()
        if not args.quiet:
            err(_stream_summary(stats, total, capture))
    except BaseException:
        if capture is not None:
            capture.close()
            if capture.bytes and not args.quiet:
                size = fmt_bytes(capture.bytes)
                err(f"--- {size} received before the failure saved to {capture.path}")
        raise
    return EXIT_OK


def _stream_summary(stats: Any, total: float, capture: Optional[CaptureFile]) -> str:
    head = [
        f"{label} {fmt_seconds(value)}"
        for label, value in (
            ("first byte", stat(stats, "time_to_first_byte")),
            ("first event", stat(stats, "time_to_first_event")),
        )
        if value is not None
    ]
    tail = []
    if capture is not None:
        tail.append(f"saved to {capture.path}" if capture.bytes else "no bytes to save")
    return summary(head, stats, ("frames", "events"), total, tail)
