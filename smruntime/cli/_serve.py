"""``smruntime serve``: run the emulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Mapping
from typing import Any, Optional

from smruntime.cli._errors import EXIT_OK, PROG, CLIError, UsageError
from smruntime.cli._output import err

SERVE_ENDPOINT = "my-endpoint"
MODELS = {
    "tokens": "a TGI-style text generator streaming SSE token events ('You said: <inputs>')",
    "tokens-jsonl": "the same tokens as LMI-style JSON lines",
    "echo": "answers with the request body (streaming: in 16-byte parts)",
    "chat": "an OpenAI chat-completions model (Messages API: TGI, vLLM), SSE "
    "chat.completion.chunk events ending with [DONE], usage in the last chunk",
}
# --delay when not given: tokens appear one by one on a terminal (a few per second would be slow).
DEFAULT_DELAYS = {"tokens": 0.05, "tokens-jsonl": 0.05, "chat": 0.05, "echo": 0.0}
FAULT_EXAMPLES = (
    ("throttle(count=2)", "400 ThrottlingException for the first 2 calls"),
    ("model-error(status=418,message=teapot)", "424 ModelError, OriginalStatusCode 418"),
    ("service-unavailable", "503 ServiceUnavailable"),
    ("internal-failure", "500 InternalFailure"),
    ("model-not-ready(count=1)", "429 ModelNotReadyException (InvokeEndpoint only)"),
    ("html(status=502)", "an HTML page from 'a proxy' instead of the answer"),
    ("model-stream-error(after=3)", "ModelStreamError frame after 3 PayloadParts"),
    ("internal-stream-failure(after=1)", "InternalStreamFailure frame after 1 part"),
    ("cut(after=2)", "half of the 3rd frame (or half the body), then the socket closes"),
    ("corrupt-crc(after=1)", "the 2nd frame has a wrong CRC"),
    ("delay-headers(seconds=2)", "wait 2 s before the response headers"),
    ("delay-events(seconds=0.5)", "wait 0.5 s before each event"),
)


def _fill(text: str, indent: str = "") -> str:
    import textwrap

    return textwrap.fill(text, 79, subsequent_indent=indent, break_on_hyphens=False)


def _table(rows: Any, width: int) -> list[str]:
    return [_fill(f"  {name:{width}} {text}", " " * (width + 3)) for name, text in rows]


def serve_epilog() -> str:
    """The models, fault kinds and examples ``serve --help`` shows after the options."""
    lines = ["models (--model):", *_table(MODELS.items(), 12), ""]
    lines.append(
        _fill(
            "faults: --fault SPEC (every request), or per request the header "
            "'X-Emulator-Fault: SPEC' or the custom attribute 'emulator-fault=SPEC' "
            "(CustomAttributes). SPEC is kind[(key=value,...)], several joined by '+'; keys: "
            "after, count, code, message, seconds, status. Kinds, with an example each:"
        )
    )
    lines += _table(FAULT_EXAMPLES, 38)
    lines.append("")
    lines.append(
        _fill(
            "keys: --profile NAME, else AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and "
            "AWS_SESSION_TOKEN) from the environment, else a random pair, printed as export "
            "lines."
        )
    )
    lines.append("")
    lines.append(
        _fill(
            "container mode: --container http://127.0.0.1:8080 forwards the --endpoint names to "
            "a model server on SageMaker's container contract (GET /ping, POST /invocations, "
            "and the WebSocket /invocations-bidirectional-stream for the bidirectional call), "
            "for example one started with 'docker run -p 8080:8080 IMAGE serve'."
        )
    )
    return "\n".join(lines)


def serve_description() -> str:
    """``serve --help``'s description, wrapped (the epilog is preformatted)."""
    return _fill(
        "Run the local SageMaker Runtime emulator: InvokeEndpoint, "
        "InvokeEndpointWithResponseStream and InvokeEndpointAsync, SigV4-verified, with faults "
        "on demand; or (--container) a local endpoint in front of a real model container. "
        "Ctrl-C stops it."
    )


def part_size(text: str) -> Any:
    """``--part-size``: a positive integer or ``random``."""
    if text == "random":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'random', got {text!r}")
    return value


def cmd_serve(args: argparse.Namespace) -> int:
    """``smruntime serve``: run the emulator in the foreground until Ctrl-C."""
    import signal
    import threading

    from smruntime.emulator import Emulator, FaultSpecError, parse_faults

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: expected 0-65535")
    try:
        faults = [f for spec in args.fault or [] for f in parse_faults(spec)]
    except FaultSpecError as exc:
        raise UsageError(f"--fault: {exc}") from None
    tls_cert, tls_key = getattr(args, "tls_cert", None), getattr(args, "tls_key", None)
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    creds, origin = _credentials(args, os.environ)
    endpoints = _serve_endpoints(args)
    try:
        emu = Emulator(
            endpoints=endpoints,
            host=args.host,
            port=args.port,
            credentials=creds,
            region=args.region,
            faults=faults,
            results_dir=args.results_dir,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
    except OSError as exc:  # ssl.SSLError included: a missing or bad certificate or key
        raise CLIError(f"--tls-cert {tls_cert} --tls-key {tls_key}: {exc}") from None

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def announce() -> None:
        for _ in range(500):
            try:
                url = emu.url
                break
            except RuntimeError:
                time.sleep(0.01)
        else:
            return
        _announce(args, emu, url, endpoints, origin)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        # serve_forever binds first, so the URL is known only from inside it: announce it from
        # a short-lived thread that waits for the port.
        threading.Thread(target=announce, name="smruntime-serve-announce", daemon=True).start()
        try:
            emu.serve_forever()
        except KeyboardInterrupt:
            pass  # serve_forever() closes the server on its way out
        except OSError as exc:
            if _listening(emu):
                raise
            host = f"[{args.host}]" if ":" in args.host else args.host
            raise CLIError(f"cannot listen on {host}:{args.port}: {exc.strerror or exc}") from None
        err(f"{PROG} serve: stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


def _credentials(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[Any, str]:
    """The key pair clients must sign with, and where it came from."""
    from sigv4 import Credentials

    if args.secret_access_key is not None:
        err(
            f"{PROG} serve: warning: --secret-access-key is deprecated (it shows in `ps`); "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or use --profile instead"
        )
        if not args.access_key_id:
            raise UsageError("--secret-access-key needs --access-key-id")
        return Credentials(args.access_key_id, args.secret_access_key), "option"
    if args.access_key_id:
        raise UsageError(
            "--access-key-id needs its secret: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or use --profile) instead"
        )
    if args.profile:
        return _profile_credentials(args.profile, environ), "profile"
    key = environ.get("AWS_ACCESS_KEY_ID")
    secret = environ.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        token = environ.get("AWS_SECURITY_TOKEN") or environ.get("AWS_SESSION_TOKEN") or None
        return Credentials(key, secret, token), "environment"
    if key or secret:  # as the client refuses it: a half pair is a mistake, not "no keys"
        have, missing = (
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            if key
            else ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
        )
        raise UsageError(
            f"{have} is set but {missing} is not: set both (the key pair clients sign with), "
            "or neither to have keys generated"
        )
    return None, "generated"


def _profile_credentials(name: str, environ: Mapping[str, str]) -> Any:
    from sigv4 import Credentials, ProfileProvider
    from sigv4.exceptions import CredentialsError

    try:
        loaded = ProfileProvider(name, environ=environ).load()
        if loaded is not None and not isinstance(loaded, Credentials):
            loaded = loaded.get()
    except CredentialsError as exc:
        raise CLIError(f"--profile {name}: {exc}") from None
    if loaded is None:
        raise CLIError(f"--profile {name}: the profile has no credentials")
    return Credentials(loaded.access_key_id, loaded.secret_access_key, loaded.session_token)


def _announce(
    args: argparse.Namespace, emu: Any, url: str, endpoints: Mapping[str, Any], origin: str
) -> None:
    import shlex

    name = (args.endpoint or [SERVE_ENDPOINT])[0]
    creds = emu.credentials
    where = f"container {args.container}" if args.container else f"model {args.model}"
    err(
        f"{PROG} serve: emulator listening on {url} (region {emu.region}); endpoints: "
        f"{', '.join(sorted(endpoints))} ({', '.join(args.endpoint or [SERVE_ENDPOINT])}: "
        f"{where}); Ctrl-C to stop"
    )
    kept = "" if args.results_dir else " (a temporary folder, deleted on stop; see --results-dir)"
    err(
        f"{PROG} serve: InvokeEndpointAsync results: s3://BUCKET/KEY is "
        f"{emu.results_dir}/BUCKET/KEY{kept}"
    )
    if args.model == "chat" and not args.container:
        body = '{"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 20}'
    else:
        body = '{"inputs": "Hello", "parameters": {"max_new_tokens": 20}}'
    invoke = (
        f"{PROG} invoke {shlex.quote(name)} --stream --endpoint-url {url} "
        f"--region {shlex.quote(emu.region)} --content-type application/json "
        f"--body {shlex.quote(body)}"
    )
    if origin == "generated":
        err(f"{PROG} serve: generated keys; in the client's shell:")
        err(f"  export AWS_ACCESS_KEY_ID={shlex.quote(creds.access_key_id)}")
        err(f"  export AWS_SECRET_ACCESS_KEY={shlex.quote(creds.secret_access_key)}")
        err("  unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE")
        err(f"try: {invoke}")
        _await_container(args, endpoints)
        return
    if origin == "option":
        # The emulator knows no session token: blank any the user's shell has (the credential
        # chain reads AWS_SECURITY_TOKEN first, then AWS_SESSION_TOKEN; empty means none).
        blank = "AWS_SESSION_TOKEN= " + (
            "AWS_SECURITY_TOKEN= " if os.environ.get("AWS_SECURITY_TOKEN") else ""
        )
        err(
            f"try: AWS_ACCESS_KEY_ID={shlex.quote(creds.access_key_id)} "
            f"AWS_SECRET_ACCESS_KEY=<the --secret-access-key above> {blank}{invoke}"
        )
        _await_container(args, endpoints)
        return
    _await_container(args, endpoints)
    source = f"profile {args.profile}" if origin == "profile" else "this shell's AWS_* variables"
    token = " and session token" if creds.session_token else ""
    err(f"{PROG} serve: clients must sign with the keys{token} of {source}")
    err(f"try: {invoke}" + (f" --profile {shlex.quote(args.profile)}" if args.profile else ""))


def _await_container(args: argparse.Namespace, endpoints: Mapping[str, Any]) -> None:
    """In container mode, say when the container answers GET /ping (503s until then)."""
    if not args.container:
        return
    container = endpoints[(args.endpoint or [SERVE_ENDPOINT])[0]].handler
    err(f"{PROG} serve: waiting for {args.container}/ping (requests get 503 until it answers 200)")
    while not container.wait_healthy(30.0):
        err(f"{PROG} serve: container not healthy yet: {container.last_ping}")
    err(f"{PROG} serve: container healthy")


def _listening(emu: Any) -> bool:
    """Whether the emulator got as far as binding its port."""
    try:
        return int(emu.port) >= 0
    except RuntimeError:
        return False


def _serve_endpoints(args: argparse.Namespace) -> dict[str, Any]:
    from smruntime.emulator import Chat, Container, Echo, EmulatorEndpoint, Tokens

    delay: Optional[float] = args.delay
    if delay is None:
        delay = DEFAULT_DELAYS[args.model]

    def model() -> Any:
        if args.container:
            try:
                return Container(args.container, timeout=args.container_timeout)
            except ValueError as exc:
                raise UsageError(f"--container: {exc}") from None
        if args.model == "echo":
            return Echo(delay=delay)
        if args.model == "chat":
            return Chat(delay=delay)
        fmt = "jsonl" if args.model == "tokens-jsonl" else "sse"
        return Tokens(format=fmt, delay=delay)

    endpoints: dict[str, Any] = {"echo": Echo(), "tokens": Tokens()}
    for name in args.endpoint or [SERVE_ENDPOINT]:
        if not _endpoint_name_ok(name):
            # The service (and so the emulator) answers ValidationError for such a name.
            raise UsageError(
                f"--endpoint {name!r}: an endpoint name is 1-63 letters, digits and inner "
                "hyphens (no clients could call it)"
            )
        duplex = None if args.container else args.duplex_model
        endpoints[name] = EmulatorEndpoint(model(), part_size=args.part_size, duplex=duplex)
    return endpoints


def _endpoint_name_ok(name: str) -> bool:
    """The service's EndpointName rule: ``^[a-zA-Z0-9](-*[a-zA-Z0-9])*$``, at most 63 long."""
    if not 0 < len(name) <= 63 or not name.isascii():
        return False
    if not (name[0].isalnum() and name[-1].isalnum()):
        return False
    return all(c.isalnum() or c == "-" for c in name)
