"""The ``smruntime`` argument parser: one function per command adds its options."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from smruntime.cli._decode import cmd_decode
from smruntime.cli._demo import DEMO_PROMPT, cmd_demo
from smruntime.cli._errors import EXIT_CODES_HELP, EXIT_USAGE, PROG
from smruntime.cli._invoke import cmd_invoke
from smruntime.cli._numbers import non_negative_seconds, positive_seconds
from smruntime.cli._output import err
from smruntime.cli._params import PARAMS, option_name
from smruntime.cli._serve import (
    MODELS,
    SERVE_ENDPOINT,
    cmd_serve,
    part_size,
    serve_description,
    serve_epilog,
)
from smruntime.cli._sign import cmd_sign

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction["_Parser"]


class _Parser(argparse.ArgumentParser):
    """argparse with our one-line error format and exit code 2."""

    def error(self, message: str) -> Any:  # argparse's signature says NoReturn
        self.print_usage(sys.stderr)
        err(f"{PROG}: error: {message}")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The ``smruntime`` argument parser (exposed for documentation and tests)."""
    from smruntime import __version__

    parser = _Parser(
        prog=PROG,
        description="Amazon SageMaker Runtime from the command line: stream from an endpoint, "
        "decode captured event streams, show SigV4 signing, run a local emulator.",
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (_add_demo, _add_invoke, _add_duplex, _add_decode, _add_sign, _add_serve):
        add(sub)
    return parser


def _add_debug(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--debug",
        action="store_true",
        help="log to stderr (secrets redacted) and show tracebacks",
    )


def _add_transport(p: argparse._ActionsContainer, help_text: str) -> None:
    p.add_argument("--transport", choices=["default", "requests", "stdlib"], help=help_text)


def _add_client_options(p: argparse.ArgumentParser, *, duplex: bool = False) -> None:
    """The connection options; ``duplex``: those of the HTTP/2 call (--transport and
    --max-attempts not listed, and refused with the reason: it is always smruntime's HTTP/2,
    and never retried)."""
    g = p.add_argument_group("connection")
    g.add_argument("--region", help="AWS region (default: AWS_REGION, profile, ...)")
    g.add_argument("--profile", help="named profile from the AWS config/credentials files")
    g.add_argument("--endpoint-url", help="send requests here instead of the regional endpoint")
    _add_transport(
        g,
        # (duplex: refused with a reason, not listed)
        argparse.SUPPRESS
        if duplex
        else "HTTP transport: default (smruntime's own; stdlib is an alias of it) "
        "or requests (the requests extra)",
    )
    g.add_argument(
        "--read-timeout", type=positive_seconds, metavar="SECONDS", help="socket read timeout"
    )
    g.add_argument(
        "--connect-timeout", type=positive_seconds, metavar="SECONDS", help="connect timeout"
    )
    g.add_argument(
        "--first-event-timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="longest wait from the start of the call to the first event"
        if duplex
        else "(stream) longest wait for the response headers, then from them to the first event",
    )
    g.add_argument(
        "--event-timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="(stream) longest gap between two events",
    )
    g.add_argument(
        "--total-timeout",
        type=positive_seconds,
        metavar="SECONDS",
        help="(stream) deadline for the stream",
    )
    g.add_argument(
        "--max-attempts",
        type=int,
        metavar="N",
        help=argparse.SUPPRESS if duplex else "attempts incl. the first",
    )


def _add_demo(sub: _Subparsers) -> None:
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
        "--delay",
        type=non_negative_seconds,
        default=0.03,
        metavar="SECONDS",
        help="delay between tokens",
    )
    p.add_argument(
        "--format",
        choices=["sse", "jsonl"],
        default="sse",
        help="what the emulated container emits: TGI-style SSE or JSON lines",
    )
    p.add_argument(
        "--duplex",
        action="store_true",
        help="InvokeEndpointWithBidirectionalStream over HTTP/2 instead: audio-like parts out, "
        "partial transcripts back, at once (needs the http2 extra)",
    )
    _add_transport(p, "HTTP transport")
    _add_debug(p)
    p.set_defaults(func=cmd_demo)


def _add_invoke(sub: _Subparsers) -> None:
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
    for name, help_text in (
        ("text", "(stream) print the generated text live; the default view"),
        ("lines", "(stream) one line each"),
        (
            "jsonl",
            "(stream) one JSON value per line: each record of the container's format (from "
            "its content type: SSE data, JSON lines, JSON); in a text format (text/plain, "
            "application/octet-stream) each line as its JSON value when it is one, else as a "
            "JSON string",
        ),
        ("raw", "(stream) the payload bytes exactly as received"),
    ):
        view.add_argument(
            f"--{name}", dest="view", action="store_const", const=name, help=help_text
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
    for param in PARAMS:
        params.add_argument(option_name(param.dest), help=param.help, **(param.extra or {}))
    _add_client_options(p)
    _add_debug(p)
    p.set_defaults(func=cmd_invoke, view=None)


def _add_duplex(sub: _Subparsers) -> None:
    from smruntime.cli._duplex import add_duplex

    add_duplex(sub, lambda p: _add_client_options(p, duplex=True), _add_debug)


def _add_decode(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "decode",
        help="dump a captured event stream frame by frame",
        description="Read an event stream captured with `invoke --save` (or any "
        "application/vnd.amazon.eventstream bytes) and show every frame: offsets, lengths, "
        "headers, payload preview and CRCs. Exit code 0 if every frame checks out, 5 if a frame is "
        "corrupt or cut or the input is empty (no frames at all), 1 if the file cannot be read.",
    )
    p.add_argument("file", metavar="FILE", help="the capture, or - for stdin")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per frame and line")
    out.add_argument("--json-list", action="store_true", help="one JSON list of all frames")
    _add_debug(p)
    p.set_defaults(func=cmd_decode)


def _add_sign(sub: _Subparsers) -> None:
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


def _add_serve(sub: _Subparsers) -> None:
    p = sub.add_parser(
        "serve",
        help="run the endpoint emulator until interrupted",
        description=serve_description(),
        epilog=serve_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--port", type=int, default=8080, help="port to listen on, 0 for a free one (default 8080)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--region", default="us-east-1", help="region clients must sign for (default us-east-1)"
    )
    p.add_argument(
        "--profile",
        metavar="NAME",
        help="take the keys clients must use from this AWS profile (default: AWS_ACCESS_KEY_ID/"
        "AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN from the environment, else a random pair)",
    )
    p.add_argument(
        "--access-key-id", help="access key id clients must use (only with --secret-access-key)"
    )
    p.add_argument(
        "--secret-access-key",
        help="deprecated (visible in ps): set AWS_SECRET_ACCESS_KEY or use --profile",
    )
    p.add_argument(
        "--model",
        choices=list(MODELS),
        default="tokens",
        help="what the --endpoint names serve (default tokens; see below)",
    )
    p.add_argument(
        "--endpoint",
        action="append",
        metavar="NAME",
        help=f"endpoint name to serve with --model or --container (repeatable; default "
        f"{SERVE_ENDPOINT}); 'echo' and 'tokens' are always served too",
    )
    p.add_argument(
        "--duplex-model",
        choices=["echo", "transcribe"],
        default="echo",
        help="what the --endpoint names answer to the bidirectional call (HTTP/2; default "
        "echo: each part back as it arrives; transcribe: binary parts in, UTF8 JSON "
        "results out); with --container, the container's WebSocket answers",
    )
    p.add_argument(
        "--delay",
        type=non_negative_seconds,
        default=None,
        metavar="SECONDS",
        help="wait before each token or part (default 0.05 for tokens, tokens-jsonl and chat, "
        "so that streaming shows; 0 for echo)",
    )
    p.add_argument(
        "--part-size",
        type=part_size,
        default=None,
        metavar="N|random",
        help="re-cut streamed answers into PayloadParts of N bytes, or 1-32 bytes at random, "
        "splitting records across parts as real endpoints do (default: one record or "
        "container chunk per part)",
    )
    p.add_argument(
        "--fault",
        action="append",
        metavar="SPEC",
        help="inject this fault into every request (repeatable; default none; see below)",
    )
    p.add_argument(
        "--container",
        metavar="URL",
        help="forward the --endpoint names to the model server at URL (http://host:port) "
        "instead of --model (default: no container)",
    )
    p.add_argument(
        "--container-timeout",
        type=positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="how long the container may take to answer, or between streamed chunks "
        "(default 60, as SageMaker)",
    )
    p.add_argument(
        "--results-dir",
        metavar="DIR",
        help="folder for InvokeEndpointAsync results: s3://BUCKET/KEY is the file DIR/BUCKET/KEY "
        "(default: a temporary folder, deleted when serve stops)",
    )
    p.add_argument(
        "--tls-cert",
        metavar="CERT",
        help="serve TLS (https://) with this PEM certificate (chain), with --tls-key; ALPN "
        "chooses h2 (the bidirectional call) or http/1.1 on the same port (default: plain "
        "http://, h2c by prior knowledge)",
    )
    p.add_argument(
        "--tls-key", metavar="KEY", help="the PEM private key of --tls-cert (default: none)"
    )
    _add_debug(p)
    p.set_defaults(func=cmd_serve)
